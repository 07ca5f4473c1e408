"""``grafana-bridge replay FILE [--dry-run]``: saved bodies through the bridge's own code path.

Against the Trello emulator over a real socket. Fixtures are real payloads
(``tests/fixtures/SOURCES.md`` names where each comes from).
"""

from __future__ import annotations

import json

import pytest

from grafana_bridge import cli as bridge_cli
from grafana_bridge.replay import body_kind, report_lines
from jenkins_trello.cards import job_key
from jenkins_trello.emulator.jenkins import JenkinsEmulator

from .bridgeutil import FIXTURES, KEY, TOKEN, am_payload, bridge, trello
from .jenkinsplugin import plugin_payload

FORMATS = {"alertmanager-1.json": "alertmanager", "grafana-unified-1.json": "grafana",
           "grafana-legacy-3.json": "grafana-legacy"}
JENKINS_EVENT = {"name": "team/app", "url": "job/team/app/",
                 "build": {"full_url": "http://ci/job/team/app/7/", "number": 7, "phase": "COMPLETED",
                           "status": "FAILURE", "url": "job/team/app/7/"}}


def _env(t, **extra: str) -> dict[str, str]:
    return {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board, "TRELLO_API_URL": t.emu.url,
            "JENKINS_TRELLO_RETRY_SECONDS": "0.5", **extra}


def _replay(capsys, env, *argv: str) -> tuple[int, str, str]:
    code = bridge_cli.run(["replay", *argv], env)
    out = capsys.readouterr()
    return code, out.out, out.err


def _writes(t) -> int:
    return t.emu.write_count()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_dry_run_plans_the_create_and_writes_nothing(capsys, name):
    with trello() as t:
        code, out, err = _replay(capsys, _env(t), str(FIXTURES / name), "--dry-run")
        assert (code, err) == (0, "")
        assert _writes(t) == 0 and t.open_cards() == []
    assert f"format: {FORMATS[name]}\n" in out
    assert "route: default\n" in out and "decision: created (dry run)\n" in out
    assert "would write:\n  create card '" in out and "in list 'To Do'" in out


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_real_run_makes_the_card_and_a_second_run_changes_nothing(capsys, name):
    with trello() as t:
        code, out, _ = _replay(capsys, _env(t), str(FIXTURES / name))
        assert code == 0 and "decision: created\n" in out and "wrote:\n  create card" in out
        cards = t.bridge_cards()
        assert len(cards) == 1 and f"card: {cards[0]['shortUrl']}" in out
        made = _writes(t)
        assert made >= 1
        code, out, _ = _replay(capsys, _env(t), str(FIXTURES / name))
        assert code == 0 and "decision: unchanged\n" in out and "writes: 0" in out
        assert _writes(t) == made


def test_replay_and_the_server_are_one_code_path(capsys):
    """A card replay made is the card a posted webhook finds: same parse, same identity, same plan."""
    with trello() as t:
        assert _replay(capsys, _env(t), str(FIXTURES / "alertmanager-1.json"))[0] == 0
        with bridge(t) as b:
            answer = b.post(json.loads((FIXTURES / "alertmanager-1.json").read_text())).json()
        assert answer["action"] == "unchanged" and len(t.bridge_cards()) == 1


def test_dry_run_of_a_resolve_names_the_comment_and_the_archive(capsys, tmp_path):
    firing, resolved = tmp_path / "firing.json", tmp_path / "resolved.json"
    firing.write_text(json.dumps(am_payload("DiskFull")))
    body = am_payload("DiskFull", status="resolved")
    body["alerts"][0]["status"] = "resolved"
    resolved.write_text(json.dumps(body))
    with trello() as t:
        assert _replay(capsys, _env(t), str(firing))[0] == 0
        made = _writes(t)
        code, out, _ = _replay(capsys, _env(t), str(resolved), "--dry-run")
        assert code == 0 and _writes(t) == made and len(t.bridge_cards()) == 1
    assert "decision: archived (dry run)" in out
    lines = out.split("would write:\n", 1)[1].splitlines()
    assert lines[0].startswith("  comment on card ") and lines[1].startswith("  archive card ")


def test_a_route_that_skips_is_named(capsys, tmp_path):
    with trello() as t:
        policy = tmp_path / "policy.yml"
        policy.write_text(f"version: 1\ntrello: {{board: {t.board}}}\nalerts:\n  routes:\n"
                          "    - id: quiet\n      match: ['alertname=\"DiskFull\"']\n      skip: true\n")
        body = tmp_path / "body.json"
        body.write_text(json.dumps(am_payload("DiskFull")))
        before = len(t.emu.request_log)
        code, out, err = _replay(capsys, _env(t), str(body), "--dry-run", "--config", str(policy))
        assert len(t.emu.request_log) == before  # left alone: not a single Trello request
    assert code == 0, err
    assert "route: quiet (left alone: route quiet skips)" in out and "decision: ignored" in out


def test_legacy_paused_changes_nothing(capsys, tmp_path):
    body = json.loads((FIXTURES / "grafana-legacy-3.json").read_text())
    body["state"] = "paused"
    path = tmp_path / "paused.json"
    path.write_text(json.dumps(body))
    with trello() as t:
        code, out, _ = _replay(capsys, _env(t), str(path))
        assert code == 0 and len(t.emu.request_log) == 0
    assert "route: not looked up (this state changes nothing)" in out and "decision: ignored" in out


@pytest.mark.parametrize("content,status", [
    (b"{not json", 400), (b'{"hello": "world"}', 422), (b"[1, 2]", 422), (b"x" * (1024 * 1024 + 1), 413)])
def test_a_body_the_bridge_would_refuse_is_exit_2_with_its_answer(capsys, tmp_path, content, status):
    path = tmp_path / "body.json"
    path.write_bytes(content)
    with trello() as t:
        code, out, err = _replay(capsys, _env(t), str(path))
        assert len(t.emu.request_log) == 0
    assert (code, out) == (2, "")
    assert f"the bridge would answer {status}: " in err


def test_usage_errors_are_exit_2(capsys, tmp_path):
    with trello() as t:
        assert _replay(capsys, _env(t), str(tmp_path / "missing.json"))[0] == 2
        code, _, err = _replay(capsys, _env(t), str(FIXTURES / "alertmanager-1.json"), "--source", "no spaces")
        assert code == 2 and "--source" in err
        env = _env(t)
        del env["TRELLO_TOKEN"]
        code, _, err = _replay(capsys, env, str(FIXTURES / "alertmanager-1.json"))
        assert code == 2 and "TRELLO_TOKEN" in err


def _jenkins_replay(capsys, t, jenkins, payload, *argv: str, tmp_path, jenkins_url: bool = True):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    env = _env(t, **({"JENKINS_URL": jenkins, "JENKINS_TRELLO_RETRY_SECONDS": "0.3"} if jenkins_url else {}))
    return _replay(capsys, env, str(path), *argv)


def test_a_jenkins_notification_event_goes_the_way_of_post_jenkins(capsys, tmp_path):
    assert body_kind(JENKINS_EVENT) == "jenkins" and body_kind({"alerts": []}) == "alert"
    jenkins = JenkinsEmulator().start()
    jurl = jenkins.url
    try:
        with trello() as t:
            job = "org/repo/feature%2Fx"
            jenkins.add_job(job)
            n = jenkins.start_build(job)
            jenkins.finish_build(job, n, "FAILURE")
            event = plugin_payload(job, n, "COMPLETED", "FAILURE", jurl)
            # a phase that changes nothing makes no request at all (no JENKINS_URL needed for it)
            code, out, _ = _jenkins_replay(capsys, t, jurl, plugin_payload(job, n, "STARTED", None, jurl),
                                           tmp_path=tmp_path, jenkins_url=False)
            assert code == 0 and "phase STARTED changes nothing" in out and sum(t.emu.counts().values()) == 0
            # without JENKINS_URL an acting event is a setting to fix: exit 2 naming it
            code, _, err = _jenkins_replay(capsys, t, jurl, event, tmp_path=tmp_path, jenkins_url=False)
            assert code == 2 and "JENKINS_URL" in err
            code, out, _ = _jenkins_replay(capsys, t, jurl, event, "--dry-run", tmp_path=tmp_path)
            assert code == 0, out
            assert f"job: {job} #{n}" in out and "would create card" in out and _writes(t) == 0
            code, out, _ = _jenkins_replay(capsys, t, jurl, event, tmp_path=tmp_path)
            assert code == 0 and "created card" in out and "writes: 1" in out
            cards = [c for c in t.emu.cards(t.board) if job_key(job) in (c.get("desc") or "")]
            assert len(cards) == 1 and "org/repo/feature/x" in cards[0]["name"]
            # Jenkins failing is exit 1 (a service), with one line
            jenkins.stop()
            n2 = n + 1
            code, _, err = _jenkins_replay(capsys, t, jurl, plugin_payload(job, n2, "COMPLETED", "FAILURE",
                                                                              jurl), tmp_path=tmp_path)
            assert code == 1 and err.count("\n") == 1
    finally:
        jenkins.stop()


def test_trello_failing_is_exit_1_without_secrets(capsys):
    with trello() as t:
        t.emu.inject("503", times=None)
        code, out, err = _replay(capsys, _env(t), str(FIXTURES / "alertmanager-1.json"))
    assert code == 1 and out == "" and "HTTP 503" in err
    assert KEY not in err and TOKEN not in err


def test_source_joins_the_identity(capsys):
    with trello() as t:
        _replay(capsys, _env(t), str(FIXTURES / "alertmanager-1.json"))
        code, out, _ = _replay(capsys, _env(t), str(FIXTURES / "alertmanager-1.json"), "--source", "prod",
                               "--dry-run")
    assert code == 0 and "sender: prod" in out and "decision: created (dry run)" in out


def test_report_lines_pure():
    from grafana_bridge.payloads import parse

    group = parse(am_payload("CPU"))
    lines = report_lines(group, {"route": "oncall", "action": "commented", "writes": 2, "cardUrl": "https://x/c/1"},
                         ["comment on card 1: more"], dry_run=False)
    assert lines[0] == "format: alertmanager" and lines[1].startswith("group: CPU (status firing, 1 alerts")
    assert "route: oncall" in lines and "decision: commented" in lines and "wrote:" in lines
    assert "  comment on card 1: more" in lines and "writes: 2" in lines and "card: https://x/c/1" in lines
