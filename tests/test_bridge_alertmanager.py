"""The real Prometheus Alertmanager (Debian's 0.25) delivering to the bridge, which keeps the emulated board.

Alertmanager is the sender whose retry rules the bridge's answers are built
for: it retries 5xx and connection errors with back-off and drops every 4xx.
So: a firing alert posted to Alertmanager's API v2 becomes one card; the same
alert resolved (endsAt in the past) becomes a resolved comment and an archived
card; two groups make two cards; and while Trello fails the bridge answers 503,
Alertmanager delivers again, and the card lands once Trello is back.

CI installs Alertmanager with ``apt-get install prometheus-alertmanager``; the
test fails (it does not skip) when the binary is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from jenkins_trello.cards import read_marker

from .bridgeutil import PASSWORD, USER, bridge, free_port, metric, trello, wait_until

DEADLINE = 15.0  # seconds to wait for Alertmanager to deliver (it should take about one second)


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None and os.access("/usr/bin/prometheus-alertmanager", os.X_OK):
        found = "/usr/bin/prometheus-alertmanager"
    if found is None:
        pytest.fail("prometheus-alertmanager is not installed: CI must `apt-get install -y prometheus-alertmanager` "
                    "(Debian's 0.25) before running the tests", pytrace=False)
    return found


CONFIG = """\
global:
  resolve_timeout: 1m
route:
  receiver: trello
  group_by: [alertname]
  group_wait: 300ms
  group_interval: 1s
  repeat_interval: 1h
  routes:
    # alerts labelled repeat=fast are re-sent every few seconds, so a repeat really reaches the bridge
    - receiver: trello
      matchers: ['repeat="fast"']
      group_by: [alertname]
      group_wait: 300ms
      group_interval: 1s
      repeat_interval: 2s
receivers:
  - name: trello
    webhook_configs:
      - url: {url}/alerts
        send_resolved: true
        max_alerts: 0
        http_config:
          basic_auth:
            username: {user}
            password: {password}
"""


class Alertmanager:
    def __init__(self, binary: str, bridge_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "alertmanager.yml"
        config.write_text(CONFIG.format(url=bridge_url, user=USER, password=PASSWORD))
        (workdir / "data").mkdir()
        self.log_path = workdir / "alertmanager.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=debug"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir)

    def wait_ready(self) -> None:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"alertmanager exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return requests.get(self.url + "/-/ready", timeout=1).status_code == 200
            except requests.RequestException:
                return False
        wait_until(ready, 15, interval=0.05, what="alertmanager to be ready")

    def post(self, alertname: str, *, resolved: bool = False, **labels: str) -> None:
        now = datetime.now(timezone.utc)
        alert = {
            "labels": {"alertname": alertname, **labels},
            "annotations": {"summary": f"{alertname} is burning"},
            "startsAt": (now - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
            "generatorURL": "http://prometheus.test/graph?g0.expr=up",
        }
        if resolved:
            alert["endsAt"] = (now - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
        r = requests.post(self.url + "/api/v2/alerts", json=[alert], timeout=5)
        assert r.status_code == 200, r.text

    def metric(self, name: str, **labels: str) -> float:
        text = requests.get(self.url + "/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if all(f'{k}="{v}"' in line for k, v in labels.items()):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def stack():
    binary = alertmanager_binary()
    with trello() as t, bridge(t, retry_seconds=1.0, threads=4) as b, \
            tempfile.TemporaryDirectory(prefix="alertmanager-") as tmp:
        am = Alertmanager(binary, b.url, Path(tmp))
        try:
            am.wait_ready()
            yield t, b, am
        finally:
            am.stop()


def cards_named(t, alertname: str, include_closed: bool = False) -> list[dict]:
    return [c for c in t.bridge_cards(include_closed) if alertname in c["name"]]


def test_firing_then_resolved_alert_makes_then_archives_one_card(stack):
    t, b, am = stack
    am.post("DiskFull", instance="db-1", severity="page")
    cards = wait_until(lambda: cards_named(t, "DiskFull"), DEADLINE, what=f"the card\n{am.log()}")
    assert len(cards) == 1
    card = cards[0]
    assert card["idList"] == t.lists["To Do"] and card["name"].startswith("[FIRING:1] DiskFull")
    assert "db-1" in card["desc"] and "receiver: trello" in card["desc"]
    assert read_marker(card["desc"])[0].startswith("alert:")

    am.post("DiskFull", resolved=True, instance="db-1", severity="page")
    wait_until(lambda: t.emu.get_card(card["id"])["closed"], DEADLINE, what=f"the card to be archived\n{am.log()}")
    comments = t.emu.comments(card["id"])
    assert comments and comments[-1].startswith("Resolved: **DiskFull**")
    assert cards_named(t, "DiskFull") == []
    assert len(cards_named(t, "DiskFull", include_closed=True)) == 1


def _unchanged(b) -> int:
    return int(metric(b.get("/metrics").text, "grafana_bridge_webhooks_total", outcome="unchanged"))


def test_two_groups_make_two_cards_and_repeats_add_none(stack):
    t, b, am = stack
    am.post("QueueStuck", queue="mail")
    am.post("CertExpiry", host="www", repeat="fast")
    am.post("QueueStuck", queue="billing")  # same group: one card, two alerts
    wait_until(lambda: cards_named(t, "QueueStuck") and cards_named(t, "CertExpiry"), DEADLINE,
               what=f"two cards\n{am.log()}")
    wait_until(lambda: "FIRING:2" in cards_named(t, "QueueStuck")[0]["name"], DEADLINE,
               what="both QueueStuck alerts on the card")
    cert = cards_named(t, "CertExpiry")[0]
    # Alertmanager itself re-sends the CertExpiry group every 2 s (repeat_interval): the repeats reach the
    # bridge, which answers them with no write at all
    t.emu.reset_log()
    before = _unchanged(b)
    wait_until(lambda: _unchanged(b) >= before + 2, DEADLINE, what=f"two repeats reaching the bridge\n{am.log()}")
    finds = [r for r in t.emu.request_log if r.method == "GET"]
    writes = [r for r in t.emu.request_log if r.method in ("POST", "PUT", "DELETE")]
    assert len(finds) >= 2, "each repeat read the board"
    assert writes == [], writes
    assert t.emu.get_card(cert["id"])["closed"] is False and len(t.emu.comments(cert["id"])) == 0
    assert len(cards_named(t, "QueueStuck")) == 1 and len(cards_named(t, "CertExpiry")) == 1
    assert len(cards_named(t, "QueueStuck", include_closed=True)) == 1
    # resolve it, so that its repeats stop and cannot be taken for the redeliveries of later tests
    am.post("CertExpiry", resolved=True, host="www", repeat="fast")
    wait_until(lambda: t.emu.get_card(cert["id"])["closed"], DEADLINE, what=f"CertExpiry archived\n{am.log()}")


def _bridge_503s(b) -> int:
    return int(metric(b.get("/metrics").text, "grafana_bridge_webhooks_total", outcome="trello_unavailable"))


def test_trello_failing_means_503_and_alertmanager_delivers_again(stack):
    t, b, am = stack
    before = _bridge_503s(b)
    failed_requests = am.metric("alertmanager_notification_requests_failed_total", integration="webhook")
    t.emu.inject("503", times=None)
    try:
        am.post("ApiDown", service="checkout")
        # two 503 answers: Alertmanager got the first and delivered again
        wait_until(lambda: _bridge_503s(b) >= before + 2, DEADLINE, what=f"a redelivery after a 503\n{am.log()}")
        assert cards_named(t, "ApiDown", include_closed=True) == []
    finally:
        t.emu.clear_faults()
    cards = wait_until(lambda: cards_named(t, "ApiDown"), DEADLINE, what=f"the card after recovery\n{am.log()}")
    assert len(cards) == 1
    assert am.metric("alertmanager_notification_requests_failed_total", integration="webhook") >= failed_requests + 2
    time.sleep(1.0)  # any late redelivery must not make a second card
    assert len(cards_named(t, "ApiDown", include_closed=True)) == 1


def test_a_missing_alertmanager_fails_the_suite_instead_of_skipping(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(os, "access", lambda *_a: False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install"):
        alertmanager_binary()
