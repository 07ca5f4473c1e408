"""The bridge's /metrics on prometheus_client: names after Prometheus' rules, bounded labels, no secrets,
right totals under gunicorn with several workers, and the archival run's textfile for node_exporter.

Every exposition is read back with ``prometheus_client.parser.text_string_to_metric_families``, the
parser a scraper-compatible consumer uses, so a malformed line fails the test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from grafana_bridge.metrics import (
    HTTP_METHODS,
    PATHS,
    TRELLO_OUTCOMES,
    WEBHOOK_OUTCOMES,
    WEBHOOK_SOURCES,
    Metrics,
    SweepCounts,
    archive_registry,
    bounded,
    previous_success,
    write_archive_textfile,
)
from jenkins_trello.trello import REQUEST_OUTCOMES, request_outcome

from .bridgeutil import (
    BEARER,
    BEARER_HEADERS,
    HMAC_SECRET,
    KEY,
    PASSWORD,
    TOKEN,
    am_payload,
    fixture,
    free_port,
    metric,
)

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
#: every label the bridge's own series may carry (``le`` is the histogram's bucket bound)
LABELS = {"path", "method", "code", "source", "outcome", "le", "board", "list"}


def families(text: str) -> list:
    return list(text_string_to_metric_families(text))


def series(text: str, prefix: str = "grafana_bridge_") -> set[tuple[str, frozenset]]:
    return {(s.name, frozenset(s.labels.items())) for f in families(text) for s in f.samples
            if s.name.startswith(prefix)}


def check_names(text: str) -> int:
    """Prometheus' naming rules on every family of ``text`` that is the bridge's; returns how many were checked."""
    checked = 0
    for fam in families(text):
        if not fam.name.startswith("grafana_bridge_"):
            continue
        checked += 1
        assert NAME.match(fam.name), fam.name
        assert fam.type in ("counter", "gauge", "histogram"), (fam.name, fam.type)
        if fam.type == "counter":
            assert all(s.name == fam.name + "_total" for s in fam.samples), fam.name
        else:
            assert not fam.name.endswith("_total"), f"{fam.name}: only counters end in _total"
        if fam.type == "histogram" or "duration" in fam.name or "timestamp" in fam.name:
            assert fam.name.endswith("_seconds"), f"{fam.name}: times are in seconds, named as the suffix"
        for s in fam.samples:
            assert NAME.match(s.name), s.name
            assert set(s.labels) <= LABELS, (s.name, s.labels)
    return checked


# --------------------------------------------------------------------------- pure parts


def test_label_values_come_from_fixed_sets():
    assert bounded("/alerts", PATHS) == "/alerts" and bounded("/alerts/x", PATHS) == "other"
    assert {"/jenkins", "/deliveries"} <= set(PATHS)
    assert bounded("PATCH", HTTP_METHODS) == "other"
    assert set(TRELLO_OUTCOMES) == set(REQUEST_OUTCOMES)
    assert "grafana-legacy" in WEBHOOK_SOURCES and "jenkins" in WEBHOOK_SOURCES
    # every word jenkins_trello.lifecycle.describe can give is a known outcome
    assert {"unchanged", "created", "reopened", "archived", "moved", "updated", "commented"} <= set(WEBHOOK_OUTCOMES)


def test_trello_request_outcome_from_status():
    assert [request_outcome(s) for s in (200, 204, 400, 401, 404, 429, 500, 503)] == [
        "ok", "ok", "client_error", "client_error", "client_error", "rate_limited", "server_error", "server_error"]


def test_unknown_values_are_counted_as_other_and_names_follow_the_rules():
    m = Metrics(env={})
    m.http_request("/a-path-nobody-routes", "BREW", 418, 0.01)
    m.http_request("/alerts", "POST", 200, 0.2)
    m.webhook("my-own-format", "exploded")
    m.webhook("alertmanager", "created")
    m.trello_request("get", "ok", 0.05)
    m.trello_request("GET", "teapot", 0.05)
    m.board_read()
    text = m.render().decode()
    assert metric(text, "grafana_bridge_http_requests_total", path="other", method="other", code="418") == 1
    assert metric(text, "grafana_bridge_webhooks_total", source="other", outcome="other") == 1
    assert metric(text, "grafana_bridge_trello_requests_total", method="GET", outcome="ok") == 1
    assert metric(text, "grafana_bridge_trello_requests_total", method="GET", outcome="other") == 1
    assert metric(text, "grafana_bridge_board_reads_total") == 1
    assert "a-path-nobody-routes" not in text and "my-own-format" not in text
    assert check_names(text) == 6
    # the library's process and platform metrics, for free in single-process mode
    names = {f.name for f in families(text)}
    assert {"process_resident_memory_bytes", "process_cpu_seconds", "python_info"} <= names
    assert not any(n.endswith("_created") for n in names), "no *_created series"


def test_several_apps_in_one_process_keep_their_own_counts():
    a, b = Metrics(env={}), Metrics(env={})
    a.board_read()
    assert metric(a.render().decode(), "grafana_bridge_board_reads_total") == 1
    assert metric(b.render().decode(), "grafana_bridge_board_reads_total") == 0


def test_a_multiprocess_dir_that_does_not_exist_is_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")})


def test_notify_and_lambda_never_import_prometheus_client():
    """``jenkins-trello notify`` runs on every build and Lambda has no /metrics: neither pays for the import."""
    code = ("import sys, jenkins_trello.cli, jenkins_trello.notify, grafana_bridge.lambda_handler as lh\n"
            "lh._application()\n"
            "assert 'prometheus_client' not in sys.modules, 'imported'\n")
    env = {**os.environ, "TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": "b" * 24,
           "GRAFANA_BRIDGE_TOKEN": BEARER, "PROMETHEUS_MULTIPROC_DIR": "/nonexistent/prometheus"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


# --------------------------------------------------------------------------- the bridge over sockets


def test_fifty_groups_and_senders_add_no_series_and_no_names(t, b):
    """No label takes a group, receiver or ?source= name: the series stay the same however many there are."""
    def post(i: int) -> None:
        r = b.session.post(f"{b.url}/alerts?source=sender-{i}",
                           data=json.dumps(am_payload(f"GroupName{i:03d}", receiver=f"receiver-{i}")),
                           headers={"Content-Type": "application/json", **BEARER_HEADERS}, timeout=30)
        assert r.status_code == 200 and r.json()["action"] == "created", r.text

    for i in range(2):
        post(i)
    b.get("/metrics")  # a scrape is a request too: its own series exist from the first one on
    before = b.get("/metrics").text
    for i in range(2, 52):
        post(i)
    after = b.get("/metrics").text
    assert series(after) == series(before)
    assert metric(after, "grafana_bridge_webhooks_total", source="alertmanager", outcome="created") == 52
    for word in ("GroupName", "receiver-", "sender-", t.board):
        assert word not in after, word
    for secret in (KEY, TOKEN, BEARER, PASSWORD, HMAC_SECRET):
        assert secret not in after
    assert check_names(after) == 6


def test_trello_requests_are_counted_by_outcome_each_retry_included(t, b):
    t.emu.inject("429", times=1)
    assert b.post(fixture("alertmanager-1.json")).status_code == 200
    text = b.get("/metrics").text
    assert metric(text, "grafana_bridge_trello_requests_total", outcome="rate_limited") == 1
    assert metric(text, "grafana_bridge_trello_requests_total") == len(t.emu.request_log)
    assert metric(text, "grafana_bridge_trello_request_duration_seconds_count") == len(t.emu.request_log)


# --------------------------------------------------------------------------- gunicorn, several workers


def _db_pids(path: Path) -> set[int]:
    return {int(m.group(1)) for p in path.glob("*.db") if (m := re.search(r"_(\d+)\.db$", p.name))}


def _scrape(url: str) -> str:
    r = requests.get(url + "/metrics", headers={"Connection": "close"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    return r.text


def test_gunicorn_workers_sum_up_whichever_worker_answers(t, tmp_path):
    """Real gunicorn, 3 sync workers, prometheus_client's multiprocess mode set up by grafana_bridge.gunicorn_conf.

    Concurrent senders spread the webhooks over the workers; every scrape, whoever answers it, reports
    exactly what was sent, and a worker that is replaced takes none of its counts with it.
    """
    mdir = tmp_path / "prom"
    mdir.mkdir()
    (mdir / "counter_1.db").write_bytes(b"left over from the previous run")  # must be wiped before start
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TRELLO_", "GRAFANA_BRIDGE_", "JENKINS_"))},
           "TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board, "TRELLO_API_URL": t.emu.url,
           "GRAFANA_BRIDGE_TOKEN": BEARER, "PROMETHEUS_MULTIPROC_DIR": str(mdir)}
    log = open(tmp_path / "gunicorn.log", "w+b")  # noqa: SIM115 - read back on failure
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:grafana_bridge.gunicorn_conf", "--workers", "3",
         "--bind", f"127.0.0.1:{port}", "--timeout", "30", "grafana_bridge.wsgi:application"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(Path(__file__).resolve().parent.parent))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.seek(0) or log.read().decode()
            time.sleep(0.1)
        assert not (mdir / "counter_1.db").exists(), "on_starting empties the directory"
        t.emu.reset_log()

        groups = 12
        bodies = [am_payload(f"Gunicorn{i}") for i in range(groups)] * 2  # each group: created, then unchanged

        def send(body: dict) -> int:
            return requests.post(url + "/alerts", data=json.dumps(body), timeout=30,
                                 headers={"Content-Type": "application/json", "Connection": "close",
                                          **BEARER_HEADERS}).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(send, bodies[:groups])) + list(pool.map(send, bodies[groups:]))
        sent = len(bodies)
        assert codes == [200] * sent
        assert len(_db_pids(mdir)) >= 2, f"the webhooks were spread over several workers: {sorted(mdir.iterdir())}"

        def check(text: str, webhooks: int, created: int) -> None:
            assert metric(text, "grafana_bridge_webhooks_total") == webhooks
            assert metric(text, "grafana_bridge_webhooks_total", source="alertmanager", outcome="created") == created
            assert metric(text, "grafana_bridge_http_requests_total", path="/alerts", code="200") == webhooks
            assert metric(text, "grafana_bridge_request_duration_seconds_count", path="/alerts") == webhooks
            assert metric(text, "grafana_bridge_trello_requests_total") == len(t.emu.request_log)
            assert "process_resident_memory_bytes" not in text, "no process metrics in multiprocess mode"
            check_names(text)

        for _ in range(8):
            check(_scrape(url), sent, groups)

        victim = min(_db_pids(mdir))
        os.kill(victim, signal.SIGTERM)  # gunicorn's worker: replaced by the master, child_exit marks it dead
        deadline = time.monotonic() + 20
        while True:
            try:
                os.kill(victim, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "the worker did not exit"
            time.sleep(0.1)
        assert send(am_payload("AfterRestart")) == 200
        for _ in range(6):
            check(_scrape(url), sent + 1, groups + 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# --------------------------------------------------------------------------- the archival run's textfile


def test_archive_textfile_parses_and_keeps_the_last_success_through_failures(tmp_path):
    path = str(tmp_path / "grafana_bridge_archive.prom")
    sweeps = [SweepCounts("AbCdEf12", "Done", True, 3, 9, 0), SweepCounts("XyZ98765", "Shipped", True, 0, 2, 0)]
    write_archive_textfile(path, sweeps, ok=True, finished=1_700_000_000.0, seconds=1.25)
    text = Path(path).read_text()
    assert check_names(text) == 8
    assert metric(text, "grafana_bridge_archive_last_success_timestamp_seconds") == 1_700_000_000.0
    assert metric(text, "grafana_bridge_archive_last_run_success") == 1
    assert metric(text, "grafana_bridge_archive_cards_archived", board="AbCdEf12", list="Done") == 3
    assert metric(text, "grafana_bridge_archive_cards_kept", board="XyZ98765", list="Shipped") == 2
    assert metric(text, "grafana_bridge_archive_duration_seconds") == 1.25
    assert previous_success(path) == 1_700_000_000.0

    failed = [SweepCounts("AbCdEf12", "Done", False, 0, 0, 0)]
    write_archive_textfile(path, failed, ok=False, finished=1_700_086_400.0, seconds=0.5)
    text = Path(path).read_text()
    assert metric(text, "grafana_bridge_archive_last_run_timestamp_seconds") == 1_700_086_400.0
    assert metric(text, "grafana_bridge_archive_last_run_success") == 0
    assert metric(text, "grafana_bridge_archive_last_success_timestamp_seconds") == 1_700_000_000.0, "kept"
    assert metric(text, "grafana_bridge_archive_sweep_success", board="AbCdEf12") == 0
    assert sorted(os.listdir(tmp_path)) == ["grafana_bridge_archive.prom"], "no temporary file left behind"


def test_a_run_that_never_succeeded_has_no_last_success_series():
    from prometheus_client import generate_latest

    text = generate_latest(archive_registry([], ok=False, finished=5.0, seconds=0.1, previous_success=None)).decode()
    names = {f.name for f in families(text)}
    assert "grafana_bridge_archive_last_success_timestamp_seconds" not in names
    assert "grafana_bridge_archive_last_run_timestamp_seconds" in names


def test_an_unreadable_previous_file_counts_as_no_previous_success(tmp_path):
    bad = tmp_path / "x.prom"
    bad.write_bytes(b"\xff\xfe not metrics {{{")
    assert previous_success(str(bad)) is None
    assert previous_success(str(tmp_path / "none.prom")) is None
