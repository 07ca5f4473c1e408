"""End to end: POST /jenkins on a running bridge (real sockets) against the Trello and Jenkins emulators.

The Jenkins emulator plays the builds; ``tests/jenkinsplugin.py`` posts what the
Notification plugin would for each phase. Requests are counted on the wire
against the README's budget per event.
"""

from __future__ import annotations

import contextlib
import io
import logging

import pytest

from grafana_bridge.app import BridgeApp
from grafana_bridge.auth import AuthConfig
from grafana_bridge.jenkins_hook import JenkinsAccess
from jenkins_trello import cli
from jenkins_trello.cards import job_key, read_marker
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.policy import parse_policy

from .bridgeutil import BEARER, KEY, TOKEN, serve, start_trello
from .jenkinsplugin import JENKINS_TOKEN, plugin_payload, post_event

JUSER, JTOKEN = "ci-bot", "jenkins-api-secret-" + "d4" * 8
FAILED_TESTS = {"passed": 40, "skipped": 1, "failed": [("app.T", "test_a"), ("app.T", "test_b")]}
SECRETS = (KEY, TOKEN, JTOKEN, JENKINS_TOKEN, BEARER)


class World:
    """Trello + Jenkins emulators and a bridge with POST /jenkins, served on a real socket."""

    def __init__(self, *, jenkins_url: bool = True, policy_text: str | None = None) -> None:
        self.t = start_trello()
        self.jenkins = JenkinsEmulator(user=JUSER, token=JTOKEN).start()
        self.env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": self.t.board,
                    "TRELLO_API_URL": self.t.emu.url, "JENKINS_URL": self.jenkins.url, "JENKINS_USER": JUSER,
                    "JENKINS_API_TOKEN": JTOKEN, "JENKINS_TRELLO_RETRY_SECONDS": "2",
                    "JENKINS_TRELLO_TIMEOUT": "2"}
        policy = parse_policy(policy_text, "policy.yml", self.env) if policy_text else None
        access = JenkinsAccess(self.jenkins.url, JUSER, JTOKEN, timeout=2, retry_seconds=2) if jenkins_url else None
        self.app = BridgeApp(self.t.config, AuthConfig(token=BEARER, jenkins_token=JENKINS_TOKEN),
                             client=self.t.client(2.0), jenkins=access, policy=policy)
        self.bridge = serve(self.app)
        self.outputs: list[str] = []

    def stop(self) -> None:
        self.bridge.stop()
        self.jenkins.stop()
        self.t.emu.stop()

    def counts(self) -> tuple[int, int]:
        return self.jenkins.count(), self.t.emu.count()

    def reset(self) -> None:
        self.jenkins.reset_log()
        self.t.emu.reset_log()

    def post(self, job: str, number: int, phase: str, status: str | None, **kw) -> tuple[int, dict, tuple]:
        """Post one event; (HTTP status, JSON answer, (Jenkins requests, Trello requests) it cost)."""
        self.reset()
        tests = kw.pop("tests", None)
        resp = post_event(self.bridge.url, plugin_payload(job, number, phase, status, self.jenkins.url, tests=tests),
                          session=self.bridge.session, **kw)
        self.outputs.append(resp.text)
        return resp.status_code, resp.json(), self.counts()

    def build(self, job: str, result: str, *, tests=None, changes=None) -> tuple[dict, tuple, dict, tuple]:
        """A whole build as the plugin reports it: STARTED (nothing), then COMPLETED and FINALIZED."""
        number = self.jenkins.start_build(job, changes=changes)
        code, answer, counts = self.post(job, number, "STARTED", None)
        assert code == 200 and answer["action"] == "ignored" and counts == (0, 0)
        self.jenkins.finish_build(job, number, result, tests=tests)
        code, completed, c_counts = self.post(job, number, "COMPLETED", result, tests=tests)
        assert code == 200, completed
        code, finalized, f_counts = self.post(job, number, "FINALIZED", result, tests=tests)
        assert code == 200, finalized
        assert finalized["writes"] == 0  # FINALIZED after COMPLETED never writes again
        if completed["action"] != "ignored":
            assert finalized["action"] == "nothing" and f_counts == (0, 0)  # nor asks anyone: already applied
        return completed, c_counts, finalized, f_counts

    def notify(self, job: str, number: int, result: str) -> str:
        """``jenkins-trello notify`` from the build's post step (the build still running)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.run(["notify", "--result", result, "--job", job, "--build", str(number)], self.env)
        self.outputs += [out.getvalue(), err.getvalue()]
        assert code == 0, err.getvalue()
        return out.getvalue()

    def cards(self, job: str, include_closed: bool = False) -> list[dict]:
        cards = self.t.all_cards() if include_closed else self.t.open_cards()
        return [c for c in cards if (read_marker(c.get("desc")) or ("",))[0] == job_key(job)]


class Captured(logging.Handler):
    """Every record of the bridge's own loggers (and waitress'), formatted: what an operator's log would hold."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + (record.exc_text or ""))


@pytest.fixture
def world():
    captured = Captured()
    loggers = [logging.getLogger(n) for n in ("grafana_bridge", "jenkins_trello", "waitress")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(captured)
        lg.setLevel(logging.DEBUG)
    w = World()
    try:
        yield w
    finally:
        w.stop()
        for lg, level in zip(loggers, levels):
            lg.removeHandler(captured)
            lg.setLevel(level)
    assert w.t.emu.secrets_in_url == []
    assert any('"event": "jenkins"' in line for line in captured.lines)  # the log lines were seen
    for text in w.outputs + captured.lines + [repr(w.app.auth), repr(w.app.jenkins), w.app.metrics.render().decode()]:
        for secret in SECRETS:
            assert secret not in text


def test_a_whole_life_of_a_job(world):
    job = "team/app"
    world.jenkins.add_job(job)

    completed, c, finalized, f = world.build(job, "SUCCESS")
    assert completed["action"] == "nothing" and "success after success" in completed["reason"]
    assert c == (1, 0)  # budget: 1 Jenkins request, no Trello request

    completed, c, finalized, f = world.build(job, "FAILURE", tests=FAILED_TESTS,
                                             changes=[{"msg": "Break it", "author": "Ann", "commitId": "abc123"}])
    assert completed["action"] == "created" and completed["writes"] >= 1
    assert c[0] == 2 and c[1] <= 3  # builds + test report; find, create (+1 twin check)
    [card] = world.cards(job)
    assert card["id"] == completed["card"] and card["name"].startswith("team/app #2")
    assert "Failing tests: 2" in card["desc"] and "app.T.test\\_a" in card["desc"]
    assert "Break it" in card["desc"] and "Ann" in card["desc"]

    completed, c, finalized, f = world.build(job, "FAILURE")
    assert completed["action"] == "commented" and c == (1, 2)
    comments = world.t.emu.comments(card["id"])
    assert "#3" in comments[-1]

    # a redelivery of the same event changes nothing
    code, again, counts = world.post(job, 3, "COMPLETED", "FAILURE")
    assert code == 200 and again["writes"] == 0 and counts == (0, 0)
    assert world.t.emu.comments(card["id"]) == comments

    completed, c, finalized, f = world.build(job, "ABORTED")
    assert completed["action"] == "ignored" and "ABORTED" in completed["reason"] and c == (0, 0)

    # two builds at once: the newer one (#6) passes first and archives the card; the older (#5) fails late
    late = world.jenkins.start_build(job)
    newer = world.jenkins.start_build(job)
    world.jenkins.finish_build(job, newer, "SUCCESS")
    code, fixed, counts = world.post(job, newer, "COMPLETED", "SUCCESS")
    assert code == 200 and fixed["action"] == "archived" and counts == (1, 3)
    assert world.cards(job) == []
    world.jenkins.finish_build(job, late, "FAILURE")
    code, answer, counts = world.post(job, late, "COMPLETED", "FAILURE")
    assert code == 200 and answer["action"] == "nothing" and "newer build" in answer["reason"]
    assert counts == (1, 0) and world.cards(job) == []
    code, answer, counts = world.post(job, newer, "FINALIZED", "SUCCESS")  # the fix's FINALIZED: nothing more
    assert code == 200 and answer["writes"] == 0 and world.cards(job) == []

    completed, c, _, _ = world.build(job, "SUCCESS")
    assert completed["action"] == "nothing" and c == (1, 0)
    assert len(world.cards(job, include_closed=True)) == 1  # one card in the whole life


def test_another_replica_repeating_an_event_writes_nothing_for_a_failure_or_a_fix(world):
    # a second bridge (no memo of what the first applied) gets the same events: the marker decides
    job = "team/app"
    world.jenkins.add_job(job)
    number = world.jenkins.add_build(job, "FAILURE")
    assert world.post(job, number, "COMPLETED", "FAILURE")[1]["action"] == "created"
    world.app.applied = type(world.app.applied)()  # as if it were another replica, or after a restart
    code, answer, counts = world.post(job, number, "FINALIZED", "FAILURE")
    assert code == 200 and answer["action"] == "unchanged" and answer["writes"] == 0 and counts == (1, 1)
    number = world.jenkins.add_build(job, "SUCCESS")
    assert world.post(job, number, "COMPLETED", "SUCCESS")[1]["action"] == "archived"
    world.app.applied = type(world.app.applied)()
    code, answer, counts = world.post(job, number, "FINALIZED", "SUCCESS")
    assert code == 200 and answer["writes"] == 0 and counts == (1, 1) and world.cards(job) == []


def test_unstable_fails_and_only_finalized_is_enough(world):
    job = "team/lib"
    world.jenkins.add_job(job)
    number = world.jenkins.add_build(job, "UNSTABLE", tests=FAILED_TESTS)
    code, answer, _ = world.post(job, number, "FINALIZED", "UNSTABLE", tests=FAILED_TESTS)  # "Job Finalized" only
    assert code == 200 and answer["action"] == "created"
    [card] = world.cards(job)
    assert card["name"].endswith("unstable")


@pytest.mark.parametrize("job", ["team/app", "org/repo/feature%2Fx"])
def test_post_step_then_webhook_keep_one_card(world, job):
    world.jenkins.add_job(job)
    number = world.jenkins.start_build(job)
    assert "created" in world.notify(job, number, "FAILURE")  # from the pipeline's post block
    world.jenkins.finish_build(job, number, "FAILURE")
    [card] = world.cards(job)

    number = world.jenkins.add_build(job, "FAILURE")  # the job moved to the Notification plugin
    code, answer, _ = world.post(job, number, "COMPLETED", "FAILURE")
    assert code == 200 and answer["action"] == "commented" and answer["card"] == card["id"]
    assert [c["id"] for c in world.cards(job)] == [card["id"]]

    number = world.jenkins.add_build(job, "SUCCESS")
    code, answer, _ = world.post(job, number, "COMPLETED", "SUCCESS")
    assert answer["action"] == "archived" and answer["card"] == card["id"]
    assert world.cards(job) == []
    if "%2F" in job:
        assert card["name"].startswith("org/repo/feature/x #")  # %2F shown as /


def test_webhook_then_post_step_keep_one_card(world):
    job = "org/repo/feature%2Fx"
    world.jenkins.add_job(job)
    number = world.jenkins.add_build(job, "FAILURE")
    code, answer, _ = world.post(job, number, "COMPLETED", "FAILURE")
    assert answer["action"] == "created"
    number = world.jenkins.start_build(job)
    assert "commented" in world.notify(job, number, "FAILURE")
    assert len(world.cards(job)) == 1


def test_auth(world):
    job = "team/app"
    world.jenkins.add_job(job)
    number = world.jenkins.add_build(job, "FAILURE")
    for token, headers in ((None, None), ("wrong-token", None), (JENKINS_TOKEN + "x", None),
                           (None, {"Authorization": "Bearer wrong"})):
        code, answer, counts = world.post(job, number, "COMPLETED", "FAILURE", token=token, headers=headers)
        assert code == 401 and counts == (0, 0), answer
    # the bridge's usual credentials work on /jenkins too (a plugin URL with user info sends basic auth)
    code, answer, _ = world.post(job, number, "COMPLETED", "FAILURE", token=None,
                                 headers={"Authorization": f"Bearer {BEARER}"})
    assert code == 200 and answer["action"] == "created"
    # the query token is for /jenkins only: it cannot post alerts
    resp = world.bridge.session.post(world.bridge.url + f"/alerts?token={JENKINS_TOKEN}", json={"receiver": "x"},
                                     timeout=10)
    assert resp.status_code == 401
    world.outputs.append(resp.text)


def test_answers(world):
    s, url = world.bridge.session, world.bridge.url
    q = f"/jenkins?token={JENKINS_TOKEN}"
    world.reset()
    resp = s.post(url + q, data=b"<jobState/>", headers={"Content-Type": "application/xml"}, timeout=10)
    assert resp.status_code == 400 and "not JSON" in resp.json()["error"]
    resp = s.post(url + q, json={"receiver": "grafana", "alerts": []}, timeout=10)
    assert resp.status_code == 422 and "build" in resp.json()["error"]
    resp = s.post(url + q, data=b"{" + b" " * (1024 * 1024) + b"}", timeout=10)
    assert resp.status_code == 413
    resp = s.get(url + q, timeout=10)
    assert resp.status_code == 405
    assert world.counts() == (0, 0)
    world.outputs += [resp.text]


def test_jenkins_or_trello_down_is_503_then_delivered_again(world):
    job = "team/app"
    world.jenkins.add_job(job)
    number = world.jenkins.add_build(job, "FAILURE")
    world.jenkins.inject("503", times=None)
    code, answer, _ = world.post(job, number, "COMPLETED", "FAILURE")
    assert code == 503 and answer["error"].startswith("Jenkins unavailable") and "JENKINS_URL" in answer["error"]
    world.jenkins.clear_faults()
    world.t.emu.inject("503", method="POST", times=None)
    code, answer, _ = world.post(job, number, "COMPLETED", "FAILURE")
    assert code == 503 and answer["error"].startswith("Trello unavailable")
    assert world.cards(job) == []
    world.t.emu.clear_faults()
    code, answer, _ = world.post(job, number, "COMPLETED", "FAILURE")  # the redelivery
    assert code == 200 and len(world.cards(job)) == 1


def test_without_jenkins_url():
    w = World(jenkins_url=False)
    try:
        w.jenkins.add_job("a")
        number = w.jenkins.add_build("a", "FAILURE")
        code, answer, counts = w.post("a", number, "STARTED", None)
        assert code == 200 and answer["action"] == "ignored"
        code, answer, counts = w.post("a", number, "COMPLETED", "FAILURE")
        assert code == 503 and "JENKINS_URL is not set" in answer["error"] and counts == (0, 0)
    finally:
        w.stop()


def test_policy_routes_apply():
    text = f"""
version: 1
trello: {{board: "{'${TRELLO_BOARD}'}", list: Doing}}
jenkins:
  routes:
    - match: {{job: "sandbox/**"}}
      skip: true
    - match: {{job: "**"}}
      labels: [ci]
"""
    w = World(policy_text=text)
    try:
        for job in ("sandbox/x", "team/app"):
            w.jenkins.add_job(job)
        number = w.jenkins.add_build("sandbox/x", "FAILURE")
        code, answer, counts = w.post("sandbox/x", number, "COMPLETED", "FAILURE")
        assert code == 200 and answer["action"] == "ignored" and "skips" in answer["reason"] and counts == (0, 0)
        number = w.jenkins.add_build("team/app", "FAILURE")
        code, answer, _ = w.post("team/app", number, "COMPLETED", "FAILURE")
        assert answer["action"] == "created"
        [card] = w.cards("team/app")
        assert card["idList"] == w.t.lists["Doing"]
    finally:
        w.stop()


def test_doctor_checks_jenkins_for_the_hook(capsys):
    from grafana_bridge import cli as bridge_cli

    with JenkinsEmulator(user=JUSER, token=JTOKEN) as jenkins:
        t = start_trello()
        try:
            env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board, "TRELLO_API_URL": t.emu.url,
                   "GRAFANA_BRIDGE_JENKINS_TOKEN": JENKINS_TOKEN, "JENKINS_TRELLO_RETRY_SECONDS": "0.5"}
            assert bridge_cli.run(["doctor"], env) == 2  # the token without JENKINS_URL is a wrong setting
            out = capsys.readouterr().out
            assert "FAIL JENKINS_URL not set, but GRAFANA_BRIDGE_JENKINS_TOKEN is" in out
            assert "jenkins query token" in out
            env.update(JENKINS_URL=jenkins.url, JENKINS_USER=JUSER, JENKINS_API_TOKEN=JTOKEN)
            assert bridge_cli.run(["doctor"], env) == 0
            out = capsys.readouterr().out
            assert f"ok   JENKINS_URL {jenkins.url} is Jenkins" in out and "authenticated as" in out
            assert "JOB_NAME" not in out
            for secret in SECRETS:
                assert secret not in out
        finally:
            t.emu.stop()


def test_serve_help_names_the_token():
    from grafana_bridge import cli as bridge_cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        bridge_cli.run(["serve", "--help"], {})
    assert "GRAFANA_BRIDGE_JENKINS_TOKEN" in out.getvalue() and "POST /jenkins" in out.getvalue()


def test_events_show_on_the_deliveries_page_without_the_token(world):
    job = "team/app"
    world.jenkins.add_job(job)
    number = world.jenkins.start_build(job)
    world.jenkins.finish_build(job, number, "FAILURE")
    code, answer, _ = world.post(job, number, "COMPLETED", "FAILURE")
    assert code == 200 and answer["action"] == "created"
    code, _, _ = world.post(job, number, "COMPLETED", "FAILURE", token="wrong-token-123456")
    assert code == 401
    resp = world.bridge.session.get(f"{world.bridge.url}/deliveries?format=json",
                                    headers={"Authorization": f"Bearer {BEARER}"}, timeout=10)
    rows = resp.json()["deliveries"]
    assert [(r["code"], r["action"]) for r in rows[:2]] == [(401, "rejected"), (200, "created")]
    assert rows[1]["source"] == "jenkins" and rows[1]["subject"].startswith(f"{job} #{number}")
    assert rows[1]["cardUrl"] == answer["cardUrl"] and rows[1]["trelloRequests"] >= 2
    world.outputs.append(resp.text)  # the fixture checks it holds no secret
    assert JENKINS_TOKEN not in resp.text and "wrong-token-123456" not in resp.text
