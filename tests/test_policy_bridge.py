"""The bridge with a policy file, end to end over real sockets (requests -> waitress -> BridgeApp -> Trello emulator).

Routes by matchers, format and source; skip and no route (no Trello request at
all); two boards; labels by name, colour and ``labels_from`` (and its swap,
keeping a person's label); members; templates; ``on_resolve`` move and the way
back; ``reopen_within`` inside and outside the window; a route moved to
another board; SIGHUP reload of a real ``grafana-bridge serve``; the Lambda
handler with the policy text in its environment; ``archive`` over the
policy's sweeps; ``doctor`` over the policy's boards. Every webhook's Trello
requests are counted.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

import grafana_bridge.lambda_handler as lh
from grafana_bridge import cli
from grafana_bridge.app import BridgeApp, Options
from grafana_bridge.edge import lambda_policy, trello_env
from jenkins_trello.cards import read_marker
from jenkins_trello.config import ConfigError
from jenkins_trello.policy import PolicyError, parse_policy

from .bridgeutil import (
    AUTH,
    BEARER,
    KEY,
    TOKEN,
    Bridge,
    Trello,
    fixture,
    free_port,
    metric,
    serve,
    trello,
    wait_healthy,
    wait_until,
)

SCRIPT = str(Path(sys.executable).parent / "grafana-bridge")


# --------------------------------------------------------------------------- helpers


def alert(name: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    fp = (name + "".join(f"{k}={v}" for k, v in sorted(labels.items()))).encode().hex()[:16].ljust(16, "0")
    return {"status": status, "labels": {"alertname": name, **labels}, "annotations": {"summary": f"{name} summary"},
            "startsAt": "2024-05-01T10:00:00Z",
            "endsAt": "2024-05-01T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.test/graph", "fingerprint": fp}


def am(name: str, alerts: list[dict[str, Any]] | None = None, **common: str) -> dict[str, Any]:
    """An Alertmanager webhook for group alertname=<name> with these common labels."""
    alerts = alerts if alerts is not None else [alert(name, **common, instance="h1")]
    firing = any(a["status"] == "firing" for a in alerts)
    return {"receiver": "trello", "status": "firing" if firing else "resolved", "alerts": alerts,
            "groupLabels": {"alertname": name}, "commonLabels": {"alertname": name, **common},
            "commonAnnotations": {}, "externalURL": "http://alertmanager.test:9093", "version": "4",
            "groupKey": f'{{}}:{{alertname="{name}"}}', "truncatedAlerts": 0}


def resolved(payload: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(payload))
    out["status"] = "resolved"
    for a in out["alerts"]:
        a["status"] = "resolved"
        a["endsAt"] = "2024-05-01T11:00:00Z"
    return out


class Counted:
    """Trello requests made by one webhook: reads, writes and the endpoints."""

    def __init__(self, t: Trello) -> None:
        self.t = t
        t.emu.reset_log()

    @property
    def reads(self) -> int:
        return self.t.reads()

    @property
    def writes(self) -> int:
        return self.t.writes()

    def endpoints(self) -> dict[str, int]:
        return self.t.emu.counts()


def post(b: Bridge, t: Trello, payload: dict[str, Any], source: str | None = None) -> tuple[dict[str, Any], Counted]:
    counted = Counted(t)
    url = b.url + "/alerts" + (f"?source={source}" if source is not None else "")
    r = b.session.post(url, data=json.dumps(payload), headers={"Authorization": f"Bearer {BEARER}",
                                                               "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json(), counted


def policy_for(t: Trello, text: str, **env: str):
    return parse_policy(text, "policy.yml", {"TRELLO_BOARD": t.board, **env})


@contextmanager
def policy_bridge(t: Trello, text: str, **env: str) -> Iterator[Bridge]:
    app = BridgeApp(t.config, AUTH, Options(), client=t.client(), policy=policy_for(t, text, **env))
    b = serve(app)
    try:
        yield b
    finally:
        b.stop()


def marker(card: dict[str, Any]) -> tuple[str, str]:
    found = read_marker(card["desc"])
    assert found is not None
    return found


def add_board(t: Trello, name: str) -> tuple[str, dict[str, str]]:
    board = t.emu.add_board(name)["id"]
    return board, {n: t.emu.add_list(board, n)["id"] for n in ("To Do", "Doing", "Done")}


def label_names(t: Trello, card: dict[str, Any]) -> set[str]:
    labels = {lab["id"]: lab for lab in t.emu.board_labels(card["idBoard"])}
    return {(labels[i]["name"] or labels[i]["color"]) for i in card["idLabels"]}


# --------------------------------------------------------------------------- routes


ROUTING = """
version: 1
alerts:
  routes:
    - id: staging
      match: ['env="staging"']
      skip: true
    - id: db
      match: ['team=~"db|infra"', 'severity!~"info|debug"']
    - id: not-payments
      match: ['team!="payments"', 'severity="critical"']
    - id: grafana-prod
      format: [grafana, grafana-legacy]
      source: "prod*"
    - id: payments-am
      format: alertmanager
      match: ['team="payments"']
"""


@pytest.mark.parametrize("common,route", [
    ({"team": "db", "severity": "warning"}, "db"),
    ({"team": "infra", "severity": "critical"}, "db"),
    ({"severity": "critical"}, "not-payments"),  # a missing label is "": team!="payments" holds
    ({"team": "payments", "severity": "critical"}, "payments-am"),
    ({"team": "payments", "severity": "info"}, "payments-am"),
])
def test_routes_by_matchers_first_match_wins(common, route):
    with trello() as t, policy_bridge(t, ROUTING) as b:
        answer, counted = post(b, t, am("G", **common))
        assert (answer["route"], answer["action"]) == (route, "created")
        assert (counted.reads, counted.writes) == (2, 1)  # find, create, the twin check


@pytest.mark.parametrize("common,reason", [
    ({"env": "staging", "team": "db", "severity": "critical"}, "route staging skips"),
    ({"team": "db", "severity": "info"}, "no route"),  # db wants no info; not critical; not payments
])
def test_skip_and_no_route_make_no_trello_request(common, reason, caplog):
    with trello() as t, policy_bridge(t, ROUTING) as b:
        with caplog.at_level(logging.INFO, logger="grafana_bridge"):
            answer, counted = post(b, t, am("G", **common))
        assert answer["action"] == "ignored" and answer["reason"] == reason
        assert answer["route"] == ("staging" if "skips" in reason else None)
        assert len(t.emu.request_log) == 0, "no Trello request at all"
        assert t.bridge_cards() == []
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
        assert any(x.get("event") == "webhook" and x.get("reason") == reason for x in lines)


def test_routes_by_format_and_source():
    with trello() as t, policy_bridge(t, ROUTING) as b:
        # Grafana unified with commonLabels team=blue: only grafana-prod takes it, and only from a prod* source
        answer, counted = post(b, t, fixture("grafana-unified-1.json"), source="prod-eu")
        assert (answer["route"], answer["action"]) == ("grafana-prod", "created")
        answer, counted = post(b, t, fixture("grafana-unified-1.json"), source="dev")
        assert (answer["action"], answer["reason"]) == ("ignored", "no route")
        assert len(t.emu.request_log) == 0
        answer, counted = post(b, t, fixture("grafana-unified-1.json"))  # no source: ""
        assert answer["reason"] == "no route"
        # legacy: its tags are the labels; the format list names it
        answer, counted = post(b, t, fixture("grafana-legacy-1.json"), source="prod")
        assert (answer["route"], answer["action"]) == ("grafana-prod", "created")
        # an Alertmanager group from a prod source is not a Grafana one
        answer, _ = post(b, t, am("P", team="payments"), source="prod")
        assert answer["route"] == "payments-am"


# --------------------------------------------------------------------------- boards, labels, members


def test_two_boards_each_with_its_list_and_one_reader_per_board():
    with trello() as t:
        other, other_lists = add_board(t, "Payments")
        text = f"""
version: 1
alerts:
  routes:
    - id: payments
      match: ['team="payments"']
      board: {other}
      list: Doing
    - id: rest
"""
        with policy_bridge(t, text) as b:
            a1, c1 = post(b, t, am("Pay", team="payments"))
            # a create on the payments board also looks for the group on the other alert board (the default)
            assert (a1["route"], a1["action"], c1.reads, c1.writes) == ("payments", "created", 3, 1)
            a2, c2 = post(b, t, am("Ops", team="ops"))
            assert (a2["route"], a2["action"], c2.reads, c2.writes) == ("rest", "created", 3, 1)
            a3, c3 = post(b, t, am("Pay", team="payments"))  # a repeat: one read, nothing else
            assert (a3["action"], c3.reads, c3.writes) == ("unchanged", 1, 0)
            pay = t.emu.cards(other)
            assert [c["name"] for c in pay] and all(c["idList"] == other_lists["Doing"] for c in pay)
            ops = t.bridge_cards()
            assert len(ops) == 1 and ops[0]["idList"] == t.lists["To Do"]
            app = b.app
            assert app.reader(other) is app.reader(other) and app.reader(other) is not app.reader(t.board)
            metrics = b.get("/metrics").text
            assert metric(metrics, "grafana_bridge_board_reads_total") == app.board_reads >= 7


LABELS = """
version: 1
people:
  carol@example.com: carol
  dave@example.com: dave
alerts:
  routes:
    - id: oncall
      labels: [oncall, blue]
      labels_from: {severity: {critical: red, warning: yellow}}
      members: [carol, dave]
"""


def test_labels_by_name_and_colour_created_once_members_in_the_create():
    with trello() as t:
        carol = t.emu.add_member(t.board, "carol", "Carol")["id"]  # dave is not on the board: skipped
        with policy_bridge(t, LABELS) as b:
            a1, c1 = post(b, t, am("Disk", severity="warning"))
            # three labels the board lacks (oncall, blue, yellow): one write each, before the create
            assert (a1["action"], c1.reads, c1.writes) == ("created", 2, 4)
            assert c1.endpoints().get("POST /1/boards/{id}/labels") == 3
            card = t.bridge_cards()[0]
            assert label_names(t, card) == {"oncall", "blue", "yellow"}
            assert card["idMembers"] == [carol]
            # another group: the labels exist now, so labels and members ride in the create itself
            a2, c2 = post(b, t, am("Cpu", severity="warning"))
            assert (a2["action"], c2.reads, c2.writes) == ("created", 2, 1)
            assert "POST /1/boards/{id}/labels" not in c2.endpoints()
            assert len(t.emu.board_labels(t.board)) == 3


def test_labels_from_follows_the_severity_and_keeps_a_persons_label_members_never_readded():
    with trello() as t:
        carol = t.emu.add_member(t.board, "carol", "Carol")["id"]
        mine = t.emu.add_label(t.board, "investigating", "purple")["id"]
        with policy_bridge(t, LABELS) as b:
            post(b, t, am("Disk", [alert("Disk", severity="warning", instance="a")], severity="warning"))
            card = t.bridge_cards()[0]
            t.emu.human_label(card["id"], mine)
            t.emu.human_remove_member(card["id"], carol)
            # the group's severity changes (a critical alert replaces the warning one)
            payload = am("Disk", [alert("Disk", "resolved", severity="warning", instance="a"),
                                  alert("Disk", severity="critical", instance="b")], severity="critical")
            answer, counted = post(b, t, payload)
            # one read; the red label is created once, then one update (text + labels) and one comment
            assert (answer["action"], counted.reads, counted.writes) == ("updated", 1, 3)
            card = t.emu.get_card(card["id"])
            assert label_names(t, card) == {"oncall", "blue", "investigating", "red"}
            assert card["idMembers"] == [], "a member a person removed is not put back"
            # back to warning: red goes, yellow comes back, the person's label stays
            payload = am("Disk", [alert("Disk", "resolved", severity="critical", instance="b"),
                                  alert("Disk", severity="warning", instance="c")], severity="warning")
            answer, counted = post(b, t, payload)
            assert (counted.reads, counted.writes) == (1, 2)
            assert label_names(t, t.emu.get_card(card["id"])) == {"oncall", "blue", "investigating", "yellow"}


# --------------------------------------------------------------------------- templates


TEMPLATES = r"""
version: 1
alerts:
  routes:
    - id: templated
      match: ['team="db"']
      name: "[{{ status | upper }}] {{ alertname }} ({{ common_labels.severity | default('?') }})"
      desc: "Runbook for {{ alertname }}: {{ link('wiki', 'https://wiki.test/db') }}"
      comment: "{{ alertname }}: {{ firing }} firing"
    - id: broken
      match: ['team="ops"']
      name: "{{ no_such_variable }}"
"""


def test_templates_per_route_and_the_built_in_text_when_one_fails(caplog):
    with trello() as t, policy_bridge(t, TEMPLATES) as b:
        answer, counted = post(b, t, am("Db *slow*", team="db", severity="warning"))
        assert (answer["route"], counted.reads, counted.writes) == ("templated", 2, 1)
        card = t.bridge_cards()[0]
        assert card["name"] == "[FIRING] Db *slow* (warning)"
        body = card["desc"].rsplit("\n", 1)[0]
        assert body.startswith("Runbook for Db \\*slow\\*: [wiki (wiki.test)](https://wiki.test/db)")
        payload = am("Db *slow*", [alert("Db *slow*", team="db", severity="warning", instance="h1"),
                                   alert("Db *slow*", team="db", severity="warning", instance="h2")],
                     team="db", severity="warning")
        answer, counted = post(b, t, payload)
        assert t.emu.comments(card["id"])[-1] == "Db \\*slow\\*: 2 firing"
        with caplog.at_level(logging.WARNING, logger="grafana_bridge"):
            answer, counted = post(b, t, am("Queue", team="ops"))
        assert answer["action"] == "created"
        queue = [c for c in t.bridge_cards() if c["id"] == answer["card"]][0]
        assert "Queue" in queue["name"], "the built-in name when the template fails"
        assert any("name template failed" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- lifecycle


MOVE = """
version: 1
alerts:
  routes:
    - id: visible
      on_resolve: {move: Done}
"""


def test_on_resolve_move_and_the_way_back_to_the_intake_list():
    with trello() as t, policy_bridge(t, MOVE) as b:
        firing = am("Api", severity="critical")
        a1, _ = post(b, t, firing)
        card_id = a1["card"]
        a2, c2 = post(b, t, resolved(firing))
        assert (a2["action"], c2.reads, c2.writes) == ("moved", 1, 2)  # update (list + marker), comment
        card = t.emu.get_card(card_id)
        assert not card["closed"] and card["idList"] == t.lists["Done"] and marker(card)[1] == "resolved"
        assert t.emu.comments(card_id)[-1].startswith("Resolved:")
        a3, c3 = post(b, t, resolved(firing))  # a repeated resolved notification: nothing to do
        assert (a3["action"], c3.reads, c3.writes) == ("unchanged", 1, 0)
        a4, c4 = post(b, t, firing)  # fires again: the same card comes back, never a second one
        assert (a4["action"], a4["card"], c4.reads, c4.writes) == ("moved", card_id, 1, 2)
        card = t.emu.get_card(card_id)
        assert card["idList"] == t.lists["To Do"] and marker(card)[1] != "resolved"
        assert t.emu.comments(card_id)[-1].startswith("Firing again.")
        assert len(t.bridge_cards(include_closed=True)) == 1


def test_on_resolve_move_to_a_missing_list_only_matters_when_a_card_moves():
    with trello() as t, policy_bridge(t, "version: 1\nalerts: {routes: [{id: m, on_resolve: {move: Nope}}]}\n") as b:
        firing = am("Api")
        answer, counted = post(b, t, resolved(firing))  # no card: nothing moves, no list needed
        assert (answer["action"], counted.reads, counted.writes) == ("unchanged", 1, 0)
        post(b, t, firing)
        r = b.post(resolved(firing))
        assert r.status_code == 503 and "Nope" in r.json()["error"]  # a setting doctor reports; retried


COMMENT_ONLY = """
version: 1
alerts:
  routes:
    - id: stays
      on_resolve: comment
"""


def test_on_resolve_comment_keeps_the_card_where_it_is():
    with trello() as t, policy_bridge(t, COMMENT_ONLY) as b:
        firing = am("Api")
        card_id = post(b, t, firing)[0]["card"]
        t.emu.human_move(card_id, t.lists["Doing"])
        answer, counted = post(b, t, resolved(firing))
        assert (answer["action"], counted.writes) == ("updated", 2)
        card = t.emu.get_card(card_id)
        assert card["idList"] == t.lists["Doing"] and marker(card)[1] == "resolved" and not card["closed"]


REOPEN = """
version: 1
alerts:
  routes:
    - id: reopens
      reopen_within: 1h
"""


def test_reopen_within_the_window_brings_the_archived_card_back():
    with trello() as t, policy_bridge(t, REOPEN) as b:
        firing = am("Api")
        card_id = post(b, t, firing)[0]["card"]
        a2, c2 = post(b, t, resolved(firing))
        assert (a2["action"], c2.reads, c2.writes) == ("archived", 1, 2)
        t.emu.human_move(card_id, t.lists["Done"])  # a person filed it before it was archived: no matter
        answer, counted = post(b, t, firing)
        # find, the closed cards (the one extra read); unarchive + move, comment
        assert (answer["action"], answer["card"]) == ("reopened", card_id)
        assert (counted.reads, counted.writes) == (2, 2)
        assert [r.path for r in t.emu.request_log if r.path.endswith("/cards/closed")] == [
            f"/1/boards/{t.board}/cards/closed"]
        card = t.emu.get_card(card_id)
        assert not card["closed"] and card["idList"] == t.lists["To Do"]
        assert "card reopened" in t.emu.comments(card_id)[-1]
        assert len(t.bridge_cards(include_closed=True)) == 1
        # a repeat finds the open card: no closed-cards read
        _, counted = post(b, t, firing)
        assert (counted.reads, counted.writes) == (1, 0)


def test_reopen_outside_the_window_creates_a_new_card():
    with trello() as t, policy_bridge(t, REOPEN) as b:
        firing = am("Api")
        old = post(b, t, firing)[0]["card"]
        post(b, t, resolved(firing))
        b.app.clock = lambda: time.time() + 2 * 3600  # two hours later
        answer, counted = post(b, t, firing)
        assert answer["action"] == "created" and answer["card"] != old
        assert (counted.reads, counted.writes) == (3, 1)
        assert t.emu.get_card(old)["closed"]


def test_without_reopen_within_no_closed_cards_read():
    with trello() as t, policy_bridge(t, "version: 1\n") as b:
        firing = am("Api")
        post(b, t, firing)
        post(b, t, resolved(firing))
        answer, counted = post(b, t, firing)
        assert (answer["action"], counted.reads, counted.writes) == ("created", 2, 1)
        assert not [r for r in t.emu.request_log if r.path.endswith("/cards/closed")]


# --------------------------------------------------------------------------- a route moved to another board


def test_a_group_whose_route_moved_is_closed_on_the_old_board_with_a_link():
    with trello() as t:
        new_board, new_lists = add_board(t, "Payments")
        with policy_bridge(t, "version: 1\n") as b:
            firing = am("Pay", team="payments")
            old_card = post(b, t, firing)[0]["card"]
            b.app.set_policy(policy_for(t, f"""
version: 1
alerts:
  routes:
    - id: payments
      match: ['team="payments"']
      board: {new_board}
"""))
            more = am("Pay", [alert("Pay", team="payments", instance="h1"), alert("Pay", team="payments",
                                                                                instance="h2")], team="payments")
            answer, counted = post(b, t, more)
            assert (answer["route"], answer["action"], answer["movedArchived"]) == ("payments", "created", 1)
            # the new board: find, create, twin check; the old (default) board: one read, comment + archive
            assert (counted.reads, counted.writes, answer["writes"]) == (3, 3, 3)
            new = t.emu.cards(new_board)
            assert len(new) == 1 and new[0]["idList"] == new_lists["To Do"]
            old = t.emu.get_card(old_card)
            assert old["closed"]
            note = t.emu.comments(old_card)[-1]
            assert new[0]["shortUrl"] in note and "another board" in note
            # a repeat changes nothing and reads only the route's board
            _, counted = post(b, t, more)
            assert (counted.reads, counted.writes) == (1, 0)
            # resolved: archived on the new board; the old board is looked at once more (nothing left)
            answer, counted = post(b, t, resolved(more))
            assert (answer["action"], counted.reads, counted.writes) == ("archived", 2, 2)


def test_a_resolve_closes_the_card_left_on_the_old_board():
    with trello() as t:
        new_board, _ = add_board(t, "Payments")
        with policy_bridge(t, "version: 1\n") as b:
            firing = am("Pay", team="payments")
            old_card = post(b, t, firing)[0]["card"]
            b.app.set_policy(policy_for(t, f"""
version: 1
alerts:
  routes:
    - id: payments
      board: {new_board}
"""))
            answer, counted = post(b, t, resolved(firing))
            assert (answer["action"], answer["movedArchived"], counted.reads, counted.writes) == (
                "unchanged", 1, 2, 2)
            assert t.emu.get_card(old_card)["closed"]
            assert t.emu.comments(old_card)[-1].startswith("Resolved.")


# --------------------------------------------------------------------------- reload (SIGHUP) of a real serve


def _serve_env(t: Trello) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TRELLO_", "GRAFANA_BRIDGE_", "JENKINS_TRELLO_"))}
    return {**base, "TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board,
            "TRELLO_API_URL": t.emu.url, "GRAFANA_BRIDGE_TOKEN": BEARER}


FIRST = """
version: 1
alerts:
  routes:
    - id: first
      match: ['alertname!="probe"']
"""
SECOND = """
version: 1
alerts:
  routes:
    - id: second
      list: Doing
"""


def test_serve_reloads_the_policy_on_sighup_and_keeps_it_when_the_new_file_is_bad(tmp_path):
    with trello() as t:
        path = tmp_path / "policy.yml"
        path.write_text(FIRST)
        port = free_port()
        proc = subprocess.Popen([SCRIPT, "serve", "--port", str(port), "--config", str(path)], env=_serve_env(t),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}"
        hdrs = {"Authorization": f"Bearer {BEARER}", "Content-Type": "application/json"}

        def send(payload: dict[str, Any]) -> dict[str, Any]:
            r = requests.post(url + "/alerts", data=json.dumps(payload), headers=hdrs, timeout=30)
            assert r.status_code == 200, r.text
            return r.json()

        try:
            wait_healthy(url, proc)
            assert send(am("A"))["route"] == "first"
            assert send(am("probe"))["reason"] == "no route"
            path.write_text(SECOND)
            proc.send_signal(signal.SIGHUP)
            wait_until(lambda: send(am("probe")).get("route") == "second", 10, what="the new policy")
            answer = send(am("B"))
            assert answer["route"] == "second"
            card = t.emu.get_card(answer["card"])
            assert card["idList"] == t.lists["Doing"]
            path.write_text("version: 2\n")
            proc.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            assert send(am("C"))["route"] == "second", "a bad file keeps the policy in use"
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _out, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _out, err = proc.communicate()
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    reloads = [e for e in events if e.get("event") == "policy reload"]
    assert [e["status"] for e in reloads] == ["loaded", "kept the previous policy"]
    assert "policy.yml:1" in reloads[1]["error"] and reloads[1]["level"] == "error"
    start = next(e for e in events if e.get("event") == "start")
    assert start["policy"] == str(path) and start["alertRoutes"] == ["first"]
    hooks = [e for e in events if e.get("event") == "webhook" and e.get("status") == 200]
    assert {e.get("route") for e in hooks} >= {"first", "second"}


def test_serve_with_a_bad_policy_file_exits_2_with_one_line(tmp_path):
    with trello() as t:
        path = tmp_path / "policy.yml"
        path.write_text("version: 1\nalerts:\n  routes:\n    - id: x\n      on_resolve: explode\n")
        proc = subprocess.run([SCRIPT, "serve", "--port", str(free_port()), "--config", str(path)],
                              env=_serve_env(t), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{path}:5" in lines[0] and "Traceback" not in proc.stderr
        env = {**_serve_env(t), "JENKINS_TRELLO_CONFIG": str(tmp_path / "missing.yml")}
        proc = subprocess.run([SCRIPT, "serve", "--port", str(free_port())], env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2 and "does not exist" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_reload_in_process_logs_one_json_line(tmp_path, caplog):
    with trello() as t:
        path = tmp_path / "p.yml"
        path.write_text(FIRST)
        app = BridgeApp(t.config, AUTH, Options(), client=t.client(), policy=policy_for(t, FIRST))
        before = app.policy
        path.write_text("version: 1\nalerts: {routes: [{id: a, match: ['sev=~\"(\"']}]}\n")
        log = logging.getLogger("grafana_bridge")
        with caplog.at_level(logging.INFO, logger="grafana_bridge"):
            assert cli.reload_policy(app, str(path), {"TRELLO_BOARD": t.board}, log) is False
            assert app.policy is before
            path.write_text(SECOND)
            assert cli.reload_policy(app, str(path), {"TRELLO_BOARD": t.board}, log) is True
        assert [r.name for r in app.policy.alerts] == ["second"]
        lines = [json.loads(r.getMessage()) for r in caplog.records if "policy reload" in r.getMessage()]
        assert [x["status"] for x in lines] == ["kept the previous policy", "loaded"]


# --------------------------------------------------------------------------- Lambda


def test_lambda_reads_the_policy_text_from_its_environment(monkeypatch):
    with trello() as t:
        for k, v in {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board,
                     "TRELLO_API_URL": t.emu.url, "GRAFANA_BRIDGE_TOKEN": BEARER,
                     "JENKINS_TRELLO_CONFIG_YAML": SECOND}.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("JENKINS_TRELLO_CONFIG", raising=False)
        monkeypatch.setattr(lh, "_app", None)
        event = {"version": "2.0", "rawPath": "/alerts", "rawQueryString": "",
                 "headers": {"authorization": f"Bearer {BEARER}", "content-type": "application/json"},
                 "requestContext": {"http": {"method": "POST", "path": "/alerts"}, "stage": "$default"},
                 "body": json.dumps(am("Lambda")), "isBase64Encoded": False}
        answer = lh.handler(event)
        body = json.loads(answer["body"])
        assert answer["statusCode"] == 200 and body["route"] == "second" and body["action"] == "created"
        assert t.emu.get_card(body["card"])["idList"] == t.lists["Doing"]


def test_lambda_policy_sources(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text(FIRST)
    env = {"TRELLO_BOARD": "AbCdEf12"}
    assert [r.name for r in lambda_policy({**env, "JENKINS_TRELLO_CONFIG": str(path)}).alerts] == ["first"]
    assert [r.name for r in lambda_policy({**env, "JENKINS_TRELLO_CONFIG_YAML": SECOND}).alerts] == ["second"]
    assert lambda_policy(env).source == "<environment>"
    with pytest.raises(ConfigError, match="both set"):
        lambda_policy({**env, "JENKINS_TRELLO_CONFIG": str(path), "JENKINS_TRELLO_CONFIG_YAML": SECOND})
    with pytest.raises(PolicyError, match="JENKINS_TRELLO_CONFIG_YAML:1"):
        lambda_policy({**env, "JENKINS_TRELLO_CONFIG_YAML": "version: 3\n"})


def test_a_file_may_name_the_board_instead_of_the_environment():
    policy = parse_policy("version: 1\ntrello: {board: AbCdEf12, list: Alerts}\n", "p.yml", {})
    env = trello_env({"TRELLO_API_KEY": KEY}, policy)
    assert (env["TRELLO_BOARD"], env["TRELLO_LIST"], env["TRELLO_DONE_LIST"]) == ("AbCdEf12", "Alerts", "Done")


# --------------------------------------------------------------------------- archive sweeps and doctor


def _run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.run(argv, env)
    return code, out.getvalue(), err.getvalue()


def test_archive_runs_every_sweep_of_the_policy(tmp_path):
    now = datetime.now(timezone.utc)
    with trello() as t:
        other, other_lists = add_board(t, "Payments")
        t.emu.add_card(t.lists["Done"], "old on ops", at=now - timedelta(days=20))
        t.emu.add_card(t.lists["Done"], "young on ops", at=now - timedelta(days=5))
        t.emu.add_card(other_lists["Done"], "old on payments", at=now - timedelta(days=40))
        t.emu.add_card(other_lists["Done"], "20 days on payments", at=now - timedelta(days=20))
        path = tmp_path / "p.yml"
        path.write_text(f"""
version: 1
archive:
  - {{board: {t.board}, list: Done, days: 14}}
  - {{board: {other}, list: Done, days: 30}}
""")
        env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board, "TRELLO_API_URL": t.emu.url}
        code, out, err = _run(["archive", "--config", str(path), "--dry-run"], env)
        assert code == 0, err
        summaries = [line for line in out.splitlines() if "would archive" in line and "kept" in line]
        assert summaries == [f"board {t.board} list 'Done': would archive 1, kept 1",
                             f"board {other} list 'Done': would archive 1, kept 1"]
        t.emu.reset_log()
        code, out, err = _run(["archive", "--config", str(path)], env)
        assert code == 0, err
        closed = {c["name"] for c in t.emu.cards(include_closed=True) if c["closed"]}
        assert closed == {"old on ops", "old on payments"}
        # per sweep one board read (the young cards were active since the cutoff: + one history read) + 1 write
        assert t.emu.write_count() == 2 and t.reads() <= 4
        # explicit flags keep today's meaning: one sweep of the default board
        code, out, err = _run(["archive", "--config", str(path), "--days", "1", "--dry-run"], env)
        assert code == 0 and out.splitlines()[-1] == "would archive 1, kept 0"
        # a sweep whose list is missing: its line says so, the other sweep still runs, the worst code wins
        path.write_text(f"""
version: 1
archive:
  - {{board: {t.board}, list: Nope, days: 14}}
  - {{board: {other}, list: Done, days: 1}}
""")
        code, out, err = _run(["archive", "--config", str(path), "--dry-run"], env)
        assert code == 2
        assert "list 'Nope'" in err and out.splitlines()[-1] == f"board {other} list 'Done': would archive 1, kept 0"


def test_archive_with_sweeps_turned_off_does_nothing(tmp_path):
    with trello() as t:
        path = tmp_path / "p.yml"
        path.write_text("version: 1\narchive: []\n")
        env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board, "TRELLO_API_URL": t.emu.url}
        t.emu.reset_log()
        code, out, err = _run(["archive", "--config", str(path)], env)
        assert (code, out) == (0, f"no archive sweeps in {path}: nothing to do\n")
        assert len(t.emu.request_log) == 0


def test_archive_from_the_environment_alone_is_one_sweep_as_before():
    now = datetime.now(timezone.utc)
    with trello() as t:
        t.emu.add_card(t.lists["Done"], "old", at=now - timedelta(days=20))
        env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board, "TRELLO_API_URL": t.emu.url}
        code, out, err = _run(["archive", "--dry-run"], env)
        assert code == 0 and out.splitlines()[-1] == "would archive 1, kept 0"


def test_doctor_checks_the_policys_alert_and_sweep_boards(tmp_path):
    with trello() as t:
        other, _ = add_board(t, "Payments")
        path = tmp_path / "p.yml"
        path.write_text(f"""
version: 1
alerts:
  routes:
    - id: pay
      board: {other}
      list: Doing
      on_resolve: {{move: Resolved}}
archive:
  - {{board: {other}, list: Done, days: 30}}
""")
        env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board, "TRELLO_API_URL": t.emu.url,
               "GRAFANA_BRIDGE_TOKEN": BEARER}
        code, out, err = _run(["doctor", "--config", str(path)], env)
        lines = out.splitlines()
        assert code == 2, out
        mine = [line for line in lines if f"board {other}" in line]
        assert mine[0].startswith("ok  ") and "'Payments'" in mine[0]
        assert any(line.startswith("ok  ") and "'Doing' is on the board" in line for line in mine)
        assert any(line.startswith("FAIL") and "on_resolve move" in line and "'Resolved'" in line for line in mine)
        assert any(line.startswith("ok  ") and "archive sweep" in line for line in mine)
        t.emu.add_list(other, "Resolved")
        code, out, err = _run(["doctor", "--config", str(path)], env)
        assert code == 0, out
        path.write_text("version: 1\nalerts: {routes: [{id: x, bogus: 1}]}\n")
        code, out, err = _run(["doctor", "--config", str(path)], env)
        assert code == 2 and out.splitlines()[0].startswith("FAIL JENKINS_TRELLO_CONFIG")


def test_concurrent_webhooks_for_one_route_board_share_its_reads():
    import threading

    with trello() as t:
        other, _ = add_board(t, "Storm")
        text = f"version: 1\ntrello: {{board: {other}}}\n"  # one board: no other board to look at
        with policy_bridge(t, text) as b:
            reader = b.app.reader(other)
            slow = reader._fetch

            def fetch():
                time.sleep(0.3)  # a slow Trello: webhooks pile up behind the read in flight
                return slow()

            reader._fetch = fetch
            t.emu.reset_log()
            results: list = []
            start = threading.Barrier(8)

            def send(i: int) -> None:
                start.wait()
                results.append(b.post(am(f"Storm{i}")))

            threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(30)
            assert [r.status_code for r in results] == [200] * 8
            assert len(t.emu.cards(other)) == 8
            reads = [r for r in t.emu.request_log if r.method == "GET"]
            # unshared: 16 (a find and a twin check each); shared: a few rounds
            assert 2 <= len(reads) <= 6, len(reads)
            assert all(r.path == f"/1/boards/{other}" for r in reads)
