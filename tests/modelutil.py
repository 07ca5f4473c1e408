"""A seeded, model-based run of the whole product against the emulators: "the board stays true".

The harness drives the real code paths in process — ``jenkins_trello.cli.run``
(notify, reconcile), ``jenkins_trello.notify.notify`` for concurrent post steps,
the real ``BridgeApp`` through WSGI (two replicas for the races), and
``grafana_bridge.archive.run`` — against the Trello and Jenkins emulators over
real sockets, with a random sequence of builds, alert notifications, people
editing the board, faults, reconcile and archive runs.

The model keeps two views and checks both after every step:

* ``expect`` — the exact board the contract predicts: for every subject (job
  or alert group) that should have an open card, which card (by id, once it
  exists), and its marker state (the build that opened it; the firing set).
  The open marked cards on the emulator must be exactly these: one per key,
  the same card id across renames and moves, the same state.
* the truth — a job is failing when its newest completed build whose result
  counts is FAILURE or UNSTABLE; an alert group fires when its last delivered
  notification said so. ``expect`` may differ from the truth only for a reason
  the model recorded (``excuses``): a person (or ``archive``) archived the
  card, a post step was lost, a truncated list hid a change, a person restored
  a card, or a fix the notifier by design does not see (success after success,
  a late build) — and that last kind must be gone after every ``reconcile``.

Every failure is retried the way the senders do (a post step that exited 1 is
run again, a webhook answered 503 is delivered again) and checked to be
reported properly: exit 1 with one ``error:`` line and no traceback, or HTTP
503; never exit 0 / HTTP 200 with the board not updated (the next check would
see it), never a 4xx for a Trello problem.

Reproduce a run: ``MODEL_SEED=<seed> MODEL_STEPS=<n> python -m pytest tests/test_model.py``
or ``python benchmarks/soak.py --seed <seed> --steps <n>``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

from grafana_bridge import archive as bridge_archive
from grafana_bridge.app import BridgeApp, Options
from grafana_bridge.auth import AuthConfig
from grafana_bridge.payloads import decode_state
from jenkins_trello import cli
from jenkins_trello.cards import alert_key, job_key, read_marker
from jenkins_trello.config import TrelloConfig
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator
from jenkins_trello.jenkins import JenkinsError, JenkinsReader
from jenkins_trello.notify import notify
from jenkins_trello.trello import Pacer, TrelloClient, TrelloError

FIXTURES = Path(__file__).parent / "fixtures"
UTC = timezone.utc

KEY = "modelkey" + "5" * 24
TOKEN = "modeltoken" + "6" * 54
JUSER, JTOKEN = "ci-bot", "model-jenkins-token-77"
BEARER = "model-bridge-bearer-88"

JOBS = ("team/app", "org/repo/feature%2Fx", "lib")
FAILING = frozenset({"FAILURE", "UNSTABLE"})
INERT = frozenset({"ABORTED", "NOT_BUILT"})
RESULTS = ("SUCCESS",) * 8 + ("FAILURE",) * 5 + ("UNSTABLE",) * 2 + ("ABORTED",) * 2 + ("NOT_BUILT",)
ARCHIVE_DAYS = 1.0
TIMEOUT, RETRY_SECONDS = 0.3, 1.5
MAX_ATTEMPTS = 12  # a retried post step / redelivery; faults are cleared after half of them


class ModelFailure(AssertionError):
    pass


# --------------------------------------------------------------------------- the model's own encodings


def canon(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def fingerprint(labels: dict[str, str]) -> str:
    """Our fingerprint of an alert: its sorted labels, hashed (never the sender's fingerprint)."""
    return hashlib.sha256(canon([[k, v] for k, v in sorted(labels.items())]).encode()).hexdigest()[:16]


def legacy_fp(identity: str, state: str) -> str:
    return hashlib.sha256(f"{identity}\n{state}".encode()).hexdigest()[:16]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- subjects


@dataclass
class MBuild:
    number: int
    result: str
    building: bool = True
    posted: bool = False  # a post step finished with exit 0 (or lost: see ``lost``)
    lost: bool = False
    shows_result: bool = False  # Jenkins already shows its (failing) result while it is still building


@dataclass
class MJob:
    name: str
    exists: bool = True
    builds: dict[int, MBuild] = field(default_factory=dict)

    def counted(self) -> list[MBuild]:
        return [b for b in self.builds.values() if not b.building and b.result not in INERT]

    def last_counted(self) -> MBuild | None:
        done = self.counted()
        return max(done, key=lambda b: b.number) if done else None

    def failing(self) -> bool:
        last = self.last_counted()
        return self.exists and last is not None and last.result in FAILING

    def running_newer(self) -> bool:
        """A build newer than the last completed one is still running (reconcile leaves the job to it)."""
        last = self.last_counted()
        return any(b.building and (last is None or b.number > last.number) for b in self.builds.values())

    def in_flight(self) -> bool:
        """A post step already ran for a build that has not completed: the board is ahead of the truth."""
        return any(b.building and b.posted for b in self.builds.values())

    def verdict(self, n: int, result: str) -> str:
        """The README's board rules, written again from the docs: noop / failing / passing."""
        if result in INERT:
            return "noop"
        if any(b.number > n for b in self.counted()):
            return "noop"  # the newer result stands
        prev = [b for b in self.counted() if b.number < n]
        prev_failing = bool(prev) and max(prev, key=lambda b: b.number).result in FAILING
        if result == "SUCCESS":
            # a newer build still running that already shows a failing result (its post step ran: Jenkins
            # shows the failing stage's result while building, and results only get worse) will stand
            doomed = any(b.number > n and b.building and b.shows_result and b.result in FAILING
                         for b in self.builds.values())
            return "passing" if prev_failing and not doomed else "noop"
        return "failing"


@dataclass
class MGroup:
    name: str
    source: str  # alertmanager | grafana | grafana-legacy
    receiver: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)
    pool: list[dict[str, str]] = field(default_factory=list)
    template: dict[str, Any] = field(default_factory=dict)
    truncates: bool = False
    rule_id: int = 0
    org_id: int | None = None
    # sender-side truth
    firing: set[int] = field(default_factory=set)
    recently_resolved: set[int] = field(default_factory=set)
    legacy_state: str = "ok"
    last_status: str | None = None  # last delivered: firing / resolved
    delivered_fps: frozenset[str] = frozenset()
    truncated_last: bool = False

    @property
    def identity(self) -> str:
        if self.source == "grafana-legacy":
            return canon({"source": "grafana-legacy", "orgId": self.org_id or 1, "ruleId": self.rule_id})
        return canon({"source": self.source, "receiver": self.receiver, "groupLabels": self.group_labels})

    @property
    def key(self) -> str:
        return alert_key(self.identity)


def make_groups() -> list[MGroup]:
    am1, am3 = fixture("alertmanager-1.json"), fixture("alertmanager-3.json")
    gu4, gu1 = fixture("grafana-unified-4.json"), fixture("grafana-unified-1.json")
    legacy = fixture("grafana-legacy-1.json")
    hosts = ("andromeda", "cassiopeia", "draco", "lyra")
    return [
        MGroup("am-cpu", "alertmanager", am1["receiver"], {"alertname": "High CPU Temperature"},
               [{"alertname": "High CPU Temperature", "host": h, "severity": "critical"} for h in hosts], am1),
        MGroup("am-disk", "alertmanager", "ops-trello", {"alertname": "DiskFull", "cluster": "eu"},
               [{"alertname": "DiskFull", "cluster": "eu", "instance": f"node-{i}:9100"} for i in range(5)], am3,
               truncates=True),
        MGroup("grafana-test", "grafana", gu4["receiver"], {},
               [a["labels"] for a in gu4["alerts"]] + [{"alertname": "Test alert", "instance": "fourth.example.com",
                                                        "job": "rabbitmq", "test": "true"}], gu4),
        MGroup("grafana-latency", "grafana", "trello", {"alertname": "Latency", "grafana_folder": "Infra"},
               [{"alertname": "Latency", "grafana_folder": "Infra", "service": s} for s in ("api", "web", "db")],
               gu1, truncates=True),
        MGroup("legacy-rule", "grafana-legacy", template=legacy, rule_id=1, org_id=1),
    ]


# --------------------------------------------------------------------------- the run


@dataclass
class Expect:
    card: str | None  # None: just created, id learned at the next check
    state: str


class Model:
    def __init__(self, seed: int, trello: TrelloEmulator, jenkins: JenkinsEmulator) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.trello, self.jenkins = trello, jenkins
        self.now = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
        trello.clock = lambda: self.now
        trello.timeout_delay = 0.5
        jenkins.timeout_delay = 0.5
        self.board = trello.add_board("Team")["id"]
        self.lists = {n: trello.add_list(self.board, n)["id"] for n in ("To Do", "Doing", "Done")}
        self.list_name = {v: k for k, v in self.lists.items()}
        self.env = {
            "TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": self.board, "TRELLO_API_URL": trello.url,
            "JENKINS_URL": jenkins.url, "JENKINS_USER": JUSER, "JENKINS_API_TOKEN": JTOKEN,
            "JENKINS_TRELLO_TIMEOUT": str(TIMEOUT), "JENKINS_TRELLO_RETRY_SECONDS": str(RETRY_SECONDS),
        }
        self.cfg = TrelloConfig.from_env(self.env)
        self.apps = [self._bridge_app(), self._bridge_app()]  # two replicas
        self.jobs = {name: MJob(name) for name in JOBS}
        for name in JOBS:
            jenkins.add_job(name)
        self.groups = make_groups()
        self.expect: dict[str, Expect] = {}
        self.excuses: dict[str, set[str]] = {}
        self.card_list: dict[str, str] = {}  # open card id -> list id
        self.entered_done: dict[str, datetime] = {}
        self.known_ids: set[str] = set()
        self.archived: list[tuple[str, str, str]] = []  # (card id, key, state) archived by anyone
        self.steps: deque[str] = deque(maxlen=20)
        self.step_no = 0
        self.stats: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()  # time spent per step kind
        self.faults_seen = 0
        self.trello_faults_on = False

    # ------------------------------------------------------------------ plumbing

    def _client(self) -> TrelloClient:
        return TrelloClient(KEY, TOKEN, self.trello.url, timeout=TIMEOUT, retry_seconds=RETRY_SECONDS,
                            pacer=Pacer(max_requests=10_000, interval=1.0))

    def _bridge_app(self) -> BridgeApp:
        return BridgeApp(self.cfg, AuthConfig(token=BEARER), Options(), client=self._client())

    def log(self, text: str) -> None:
        self.steps.append(f"{self.step_no}: {text}")

    def fail(self, what: str) -> None:
        recent = "\n  ".join(self.steps)
        raise ModelFailure(f"model seed {self.seed}, step {self.step_no}: {what}\n"
                           f"reproduce: MODEL_SEED={self.seed} MODEL_STEPS={self.step_no} "
                           f"python -m pytest tests/test_model.py -q\nlast steps:\n  {recent}")

    def check(self, cond: object, what: str) -> None:
        if not cond:
            self.fail(what)

    def _mark_log(self) -> None:
        """Start counting requests afresh (the logs would otherwise grow for the whole run)."""
        self.check(self.trello.secrets_in_url == [], "a Trello credential travelled in a URL")
        self.faults_seen += len(self.trello.fault_log) + len(self.jenkins.fault_log)
        self.trello.reset_log()
        self.jenkins.reset_log()

    def _trello_requests(self) -> list[Any]:
        return self.trello.request_log

    def _writes(self) -> int:
        return sum(1 for r in self.trello.request_log if r.method in ("POST", "PUT", "DELETE"))

    def clear_faults(self) -> None:
        self.trello.clear_faults()
        self.jenkins.clear_faults()
        self.trello_faults_on = False

    # ------------------------------------------------------------------ running the commands

    def run_cli(self, argv: list[str]) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        # unpaced like the model's own clients: its emulator enforces no limit, and the host's shared pacing
        # (jenkins_trello.pace) would otherwise hold hundreds of quick runs to 90 requests per 10 s
        unpaced = mock.patch.object(Pacer, "shared", classmethod(lambda cls, *_a: cls(10_000, 1.0)))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), unpaced:
            try:
                code = cli.run(argv, self.env)
            except SystemExit as exc:  # argparse
                code = int(exc.code or 0)
        return code, out.getvalue(), err.getvalue()

    def _check_failure_report(self, what: str, code: int, err: str) -> None:
        self.check(code == 1, f"{what}: exit {code} (expected 0, or 1 for a service failure)\nstderr: {err}")
        self.check("Traceback" not in err, f"{what}: traceback without --verbose:\n{err}")
        lines = [ln for ln in err.splitlines() if ln.strip()]
        self.check(lines and all(ln.startswith("jenkins-trello: ") for ln in lines),
                   f"{what}: failure not reported as one-line errors:\n{err}")
        self.check(any("error:" in ln for ln in lines), f"{what}: exit 1 without an error line:\n{err}")

    def cli_until_ok(self, argv: list[str], what: str) -> tuple[str, int]:
        """Run a command like a retried post step / the next cron run: until exit 0."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            code, out, err = self.run_cli(argv)
            if code == 0:
                self.check("Traceback" not in err, f"{what}: traceback on success:\n{err}")
                return out, attempt
            self._check_failure_report(what, code, err)
            self.stats["cli_retries"] += 1
            if attempt == MAX_ATTEMPTS // 2:
                self.clear_faults()
        self.fail(f"{what}: still failing after {MAX_ATTEMPTS} attempts with faults cleared")
        raise AssertionError  # unreachable

    def deliver(self, payload: dict[str, Any], app: BridgeApp | None = None) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload).encode()
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/alerts", "SCRIPT_NAME": "", "QUERY_STRING": "",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "SERVER_NAME": "model",
            "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False, "HTTP_AUTHORIZATION": f"Bearer {BEARER}",
        }
        got: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            got["status"], got["headers"] = int(status.split()[0]), dict(headers)

        data = b"".join((app or self.apps[0])(environ, start_response))
        return got["status"], {**json.loads(data.decode()), "_headers": got["headers"]}

    def deliver_until_ok(self, payload: dict[str, Any], what: str, app: BridgeApp | None = None) -> dict[str, Any]:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            status, answer = self.deliver(payload, app)
            if status == 200:
                self.check(answer.get("status") == "ok", f"{what}: 200 without status ok: {answer}")
                return answer
            self.check(status == 503, f"{what}: HTTP {status} (a Trello problem must be a 503): {answer}")
            self.check("Retry-After" in answer["_headers"] and "error" in answer, f"{what}: bare 503: {answer}")
            self.stats["redeliveries"] += 1
            if attempt == MAX_ATTEMPTS // 2:
                self.clear_faults()
        self.fail(f"{what}: still 503 after {MAX_ATTEMPTS} deliveries with faults cleared")
        raise AssertionError

    # ------------------------------------------------------------------ board bookkeeping

    def _card_archived(self, key: str, reason: str) -> None:
        exp = self.expect.pop(key)
        if exp.card is not None:
            self.archived.append((exp.card, key, exp.state))
            self.card_list.pop(exp.card, None)
            self.entered_done.pop(exp.card, None)
        if reason:
            self.excuses.setdefault(key, set()).add(reason)

    def _expect_open(self, key: str, state: str) -> None:
        if key not in self.expect:
            self.expect[key] = Expect(None, state)
        else:
            self.expect[key].state = state

    def board_cards(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for c in self.trello.cards(self.board):
            marker = read_marker(c.get("desc"))
            if marker is not None and c["idList"] in self.list_name:
                out.setdefault(marker[0], []).append({**c, "_state": marker[1]})
        return out

    def check_board(self) -> None:
        board = self.board_cards()
        self.check(set(board) == set(self.expect),
                   f"open cards' keys differ from the model: extra {sorted(set(board) - set(self.expect))}, "
                   f"missing {sorted(set(self.expect) - set(board))} ({self._names()})")
        for key, cards in board.items():
            exp = self.expect[key]
            self.check(len(cards) == 1, f"{key} ({self._name_of(key)}) has {len(cards)} open cards")
            card = cards[0]
            if exp.card is None:
                self.check(card["id"] not in self.known_ids,
                           f"{self._name_of(key)}: expected a new card, found the old {card['id']}")
                exp.card = card["id"]
                self.known_ids.add(card["id"])
                self.card_list[card["id"]] = card["idList"]
            self.check(card["id"] == exp.card, f"{self._name_of(key)}: card {card['id']} replaced {exp.card}")
            self.check(card["_state"] == exp.state,
                       f"{self._name_of(key)}: marker state {card['_state']!r}, model says {exp.state!r}")
            self.check(card["idList"] == self.card_list.get(card["id"]),
                       f"{self._name_of(key)}: card moved by the product to {self.list_name.get(card['idList'])}")

    def _names(self) -> str:
        return ", ".join(f"{self._name_of(k)}" for k in sorted(self.expect))

    def _name_of(self, key: str) -> str:
        for j in JOBS:
            if job_key(j) == key:
                return f"job {j}"
        for g in self.groups:
            if g.key == key:
                return f"group {g.name}"
        return key

    def check_truth(self, after_reconcile: bool = False) -> None:
        for job in self.jobs.values():
            key = job_key(job.name)
            if job.in_flight():
                continue
            has, truth = key in self.expect, job.failing()
            if has == truth:
                self.excuses.pop(key, None)
                continue
            if has and not truth:
                # a fix the notifier does not see by design (success after success, a late build, a lost post,
                # a deleted job, a restored card): reconcile's job, so never left after reconcile
                # (a job created again with no completed build yet keeps its old card: reconcile cannot judge it)
                exempt = job.running_newer() or (job.exists and job.last_counted() is None)
                self.check(not after_reconcile or exempt, f"job {job.name}: card left open after reconcile although "
                                                          f"its newest counted build passed (or the job is gone)")
                continue
            why = self.excuses.get(key, set()) & {"archived", "lost"}
            self.check(why, f"job {job.name} is failing (#{job.last_counted().number}) but has no open card, "
                            f"and no person, archive run or lost post step explains it")
        for g in self.groups:
            has, truth = g.key in self.expect, g.last_status == "firing"
            if has != truth:
                need = {"archived"} if truth else {"restored"}
                self.check(self.excuses.get(g.key, set()) & need,
                           f"group {g.name}: {'firing without' if truth else 'resolved but with'} an open card")
                continue
            if has and not (self.excuses.get(g.key, set()) & {"truncated", "restored"}):
                fps = decode_state(self.expect[g.key].state)
                self.check(fps == g.delivered_fps,
                           f"group {g.name}: card's firing set {sorted(fps or ())} is not what fires "
                           f"{sorted(g.delivered_fps)}")
            if has == truth:
                self.excuses.get(g.key, set()).discard("archived")

    # ------------------------------------------------------------------ Jenkins steps

    def step_start_build(self) -> None:
        job = self.jobs[self.rng.choice(JOBS)]
        if not job.exists:
            self.jenkins.add_job(job.name)
            job.exists, job.builds = True, {}
            self.log(f"job {job.name} created again")
            return
        if sum(b.building for b in job.builds.values()) >= 3:
            return self.step_finish()
        result = self.rng.choice(RESULTS)
        n = self.jenkins.start_build(job.name, changes=[{"msg": f"change {self.step_no}", "author": "Ann Lee",
                                                         "commitId": f"{self.step_no:07x}"}])
        if result in FAILING and self.rng.random() < 0.5:
            self.jenkins.record_tests(job.name, n, {"passed": 3, "skipped": 0, "failed": [("app.T", "test_x")]})
        job.builds[n] = MBuild(n, result)
        self.log(f"start {job.name} #{n} (will be {result})")

    def _pick_build(self, pred: Callable[[MBuild], bool]) -> tuple[MJob, MBuild] | None:
        cands = [(j, b) for j in self.jobs.values() if j.exists for b in j.builds.values() if pred(b)]
        if not cands:
            return None
        cands.sort(key=lambda jb: (jb[0].name, jb[1].number))
        # mostly the oldest waiting build of a job, sometimes a newer one first (out of order)
        if self.rng.random() < 0.7:
            by_job: dict[str, tuple[MJob, MBuild]] = {}
            for j, b in cands:
                by_job.setdefault(j.name, (j, b))
            return self.rng.choice(sorted(by_job.values(), key=lambda jb: jb[0].name))
        return self.rng.choice(cands)

    def _show_result(self, job: MJob, b: MBuild) -> None:
        if b.result in FAILING and not b.shows_result:
            # as in Jenkins: a failing stage (or junit's UNSTABLE) sets the result before the post block runs
            self.jenkins.set_result_while_building(job.name, b.number, b.result)
            b.shows_result = True

    def _post(self, job: MJob, b: MBuild, label: str) -> None:
        self._show_result(job, b)
        verdict = job.verdict(b.number, b.result)
        key = job_key(job.name)
        self._mark_log()
        out, attempts = self.cli_until_ok(["notify", "--result", self.rng.choice((b.result, b.result.lower())),
                                           "--job", job.name, "--build", str(b.number)], f"{label} {job.name} "
                                                                                          f"#{b.number}")
        if verdict == "noop":
            self.check(len(self._trello_requests()) == 0, f"{job.name} #{b.number} {b.result}: a no-op verdict "
                                                          f"made {len(self._trello_requests())} Trello requests")
        if verdict == "failing":
            if key not in self.expect:
                self._expect_open(key, str(b.number))
                self.excuses.get(key, set()).discard("lost")
        elif verdict == "passing" and key in self.expect:
            self._card_archived(key, "")
        b.posted = True
        self.log(f"{label} {job.name} #{b.number} {b.result} -> {verdict} (attempts {attempts}): "
                 f"{out.strip()[:100]}")

    def step_post(self) -> None:
        picked = self._pick_build(lambda b: b.building and not b.posted)
        if picked is None:
            return self.step_start_build()
        self._post(*picked, "post")

    def step_finish(self) -> None:
        picked = self._pick_build(lambda b: b.building)
        if picked is None:
            return self.step_start_build()
        job, b = picked
        if not b.posted:
            if self.rng.random() < 0.85:
                self._post(job, b, "post")
            else:  # the post step was skipped / its notification lost
                b.lost = True
                self.excuses.setdefault(job_key(job.name), set()).add("lost")
                self.log(f"post step of {job.name} #{b.number} skipped (lost notification)")
        self.jenkins.finish_build(job.name, b.number, b.result)
        b.building = False
        self.stats["builds"] += 1
        self.log(f"finish {job.name} #{b.number} {b.result}")

    def step_retry_post(self) -> None:
        picked = self._pick_build(lambda b: b.posted and not b.lost)
        if picked is None:
            return self.step_post()
        self._post(*picked, "retried post")

    def step_trello_down_post(self) -> None:
        """Trello answers 503 to everything for the whole post step: exit 1, board untouched, notification lost."""
        picked = self._pick_build(lambda b: b.building and not b.posted)
        if picked is None:
            return self.step_start_build()
        job, b = picked
        self._show_result(job, b)
        verdict = job.verdict(b.number, b.result)
        self.jenkins.clear_faults()  # only Trello is down here
        self.trello.inject("503", times=None)
        try:
            code, _out, err = self.run_cli(["notify", "--result", b.result, "--job", job.name,
                                            "--build", str(b.number)])
        finally:
            self.clear_faults()
        if verdict == "noop":
            self.check(code == 0, f"no-op post with Trello down: exit {code}: {err}")
        else:
            self._check_failure_report(f"post {job.name} #{b.number} with Trello down", code, err)
            b.lost = True
            self.excuses.setdefault(job_key(job.name), set()).add("lost")
        b.posted = True
        self.log(f"post {job.name} #{b.number} {b.result} with Trello down -> exit {code} ({verdict})")

    def step_concurrent_posts(self) -> None:
        """Two builds of one job failing at once: both post steps run together (notify in two threads)."""
        job = self.jobs[self.rng.choice(JOBS)]
        if not job.exists or any(b.building for b in job.builds.values()):
            return self.step_start_build()
        builds = []
        for _ in range(2):
            result = self.rng.choice(("FAILURE", "UNSTABLE", "FAILURE"))
            n = self.jenkins.start_build(job.name)
            job.builds[n] = b = MBuild(n, result)
            self._show_result(job, b)
            builds.append(b)
        verdicts = [job.verdict(b.number, b.result) for b in builds]
        key = job_key(job.name)
        had = key in self.expect
        errors: list[BaseException | None] = [None, None]

        def one(i: int) -> None:
            b = builds[i]
            reader = JenkinsReader(self.jenkins.url, JUSER, JTOKEN, timeout=TIMEOUT, retry_seconds=RETRY_SECONDS)
            try:
                notify(self.cfg, self._client(), reader, job=job.name, build=b.number, build_url="", result=b.result)
            except (TrelloError, JenkinsError) as exc:
                errors[i] = exc

        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i, b in enumerate(builds):
            if errors[i] is not None:  # that post step failed: run it again
                self.cli_until_ok(["notify", "--result", b.result, "--job", job.name, "--build", str(b.number)],
                                  f"retried concurrent post {job.name} #{b.number}")
            b.posted = True
        self.check(verdicts == ["failing", "failing"], f"model: unexpected verdicts {verdicts}")
        if not had:
            cards = self.board_cards().get(key, [])
            self.check(len(cards) == 1, f"{job.name}: two concurrent first failures left {len(cards)} open cards")
            self.check(cards[0]["_state"] in {str(b.number) for b in builds},
                       f"{job.name}: card state {cards[0]['_state']!r} is neither concurrent build")
            self._expect_open(key, cards[0]["_state"])
            self.excuses.get(key, set()).discard("lost")
        self.stats["concurrent_posts"] += 1
        self.log(f"concurrent posts {job.name} #{builds[0].number} {builds[0].result} and #{builds[1].number} "
                 f"{builds[1].result} (card existed: {had}; errors: {[type(e).__name__ for e in errors if e]})")

    def step_delete_job(self) -> None:
        job = self.jobs[self.rng.choice(JOBS)]
        if not job.exists or any(b.building for b in job.builds.values()):
            return self.step_start_build()
        self.jenkins.delete_job(job.name)
        job.exists = False
        self.log(f"job {job.name} deleted")

    def step_reconcile(self) -> None:
        to_archive = []
        for key in [k for k in self.expect if k.startswith("job:")]:
            job = next(j for j in self.jobs.values() if job_key(j.name) == key)
            last = job.last_counted()
            # a build newer than the last completed one still running: its post step decides, not reconcile
            if not job.exists or (last is not None and last.result == "SUCCESS" and not job.running_newer()):
                to_archive.append(key)
        self._mark_log()
        out, attempts = self.cli_until_ok(["reconcile"], "reconcile")
        for key in to_archive:
            self._card_archived(key, "")
        self.stats["reconciles"] += 1
        self.log(f"reconcile (attempts {attempts}): {' | '.join(out.strip().splitlines())[:160]}")
        self.check_board()
        self.check_truth(after_reconcile=True)  # no fix left unseen (jobs with a build in flight excepted)

    # ------------------------------------------------------------------ alert steps

    def _grouped_payload(self, g: MGroup) -> tuple[dict[str, Any], bool]:
        listed = sorted(g.firing | g.recently_resolved)
        truncated = 0
        if g.truncates and len(listed) >= 2 and self.rng.random() < 0.3:
            keep = sorted(self.rng.sample(listed, self.rng.randint(1, len(listed) - 1)))
            truncated = len(listed) - len(keep)
            listed = keep
        tmpl = g.template
        base_alert = tmpl["alerts"][0]
        alerts = []
        for i in listed:
            firing = i in g.firing
            a = copy.deepcopy(base_alert)
            a["status"] = "firing" if firing else "resolved"
            a["labels"] = dict(g.pool[i])
            a["fingerprint"] = f"{self.rng.getrandbits(64):016x}"  # senders' fingerprints are not ours
            a["endsAt"] = "0001-01-01T00:00:00Z" if firing else "2026-03-02T10:00:00Z"
            alerts.append(a)
        common = dict(set.intersection(*(set(g.pool[i].items()) for i in listed))) if listed else {}
        status = "firing" if g.firing else "resolved"
        doc = {
            "receiver": g.receiver, "status": status, "alerts": alerts, "groupLabels": dict(g.group_labels),
            "commonLabels": common, "commonAnnotations": dict(tmpl.get("commonAnnotations") or {}),
            "externalURL": tmpl.get("externalURL", ""), "version": "4" if g.source == "alertmanager" else "1",
            # groupKey changes with the routing tree and for test notifications: never an identity
            "groupKey": f"{{}}/{{route-{self.rng.randint(0, 3)}}}:{canon(g.group_labels)}",
            "truncatedAlerts": truncated,
        }
        if g.source == "grafana":
            doc.update(orgId=1, state="alerting" if g.firing else "ok", title=f"[{status.upper()}] {g.name}",
                       message="model")
        return doc, truncated > 0

    def _legacy_payload(self, g: MGroup) -> dict[str, Any]:
        doc = copy.deepcopy(g.template)
        doc["state"] = g.legacy_state
        doc["ruleId"] = g.rule_id
        if g.org_id is None:
            doc.pop("orgId", None)
        else:
            doc["orgId"] = g.org_id
        doc["title"] = f"[{g.legacy_state}] {doc.get('ruleName')}"
        return doc

    def _change_group(self, g: MGroup) -> str:
        if g.source == "grafana-legacy":
            g.legacy_state = self.rng.choice(("alerting", "alerting", "ok", "ok", "no_data", "paused", "pending"))
            return g.legacy_state
        g.recently_resolved = {i for i in g.recently_resolved if self.rng.random() < 0.5}
        move = self.rng.choice(("repeat", "add", "add", "remove", "resolve", "shuffle"))
        outside = [i for i in range(len(g.pool)) if i not in g.firing]
        if move == "add" and outside:
            g.firing.add(self.rng.choice(outside))
        elif move == "remove" and g.firing:
            i = self.rng.choice(sorted(g.firing))
            g.firing.discard(i)
            g.recently_resolved.add(i)
        elif move == "resolve":
            g.recently_resolved |= g.firing
            g.firing = set()
        elif move == "shuffle":
            new = {i for i in range(len(g.pool)) if self.rng.random() < 0.5}
            g.recently_resolved |= g.firing - new
            g.firing = new
        g.recently_resolved -= g.firing
        return f"{move} -> firing {sorted(g.firing)}"

    def _payload(self, g: MGroup) -> tuple[dict[str, Any], bool]:
        return (self._legacy_payload(g), False) if g.source == "grafana-legacy" else self._grouped_payload(g)

    def _apply_delivery(self, g: MGroup, payload: dict[str, Any], truncated: bool) -> None:
        """The model's expectation after a payload was acknowledged (200)."""
        key = g.key
        if g.source == "grafana-legacy":
            state = payload["state"]
            if state in ("paused", "pending"):
                return
            status = "resolved" if state == "ok" else "firing"
            listed_firing = {legacy_fp(g.identity, state)} if status == "firing" else set()
            listed_resolved = {legacy_fp(g.identity, state)} if status == "resolved" else set()
        else:
            status = payload["status"]
            listed_firing = {fingerprint(a["labels"]) for a in payload["alerts"] if a["status"] == "firing"}
            listed_resolved = {fingerprint(a["labels"]) for a in payload["alerts"] if a["status"] == "resolved"}
        g.last_status = status
        g.truncated_last = truncated
        if g.source == "grafana-legacy":
            g.delivered_fps = frozenset(listed_firing)
        else:
            g.delivered_fps = frozenset(fingerprint(g.pool[i]) for i in g.firing)
        excuses = self.excuses.setdefault(key, set())
        excuses.discard("restored")
        if status == "resolved":
            if key in self.expect:
                self._card_archived(key, "")
            excuses.discard("truncated")
            return
        prev = decode_state(self.expect[key].state) if key in self.expect else None
        if truncated:
            firing = ((prev or frozenset()) - listed_resolved) | listed_firing
            excuses.add("truncated")
        else:
            firing = frozenset(listed_firing)
            excuses.discard("truncated")
        from grafana_bridge.payloads import encode_state  # the marker's encoding of a set (not a decision)

        self._expect_open(key, encode_state(frozenset(firing)))
        excuses.discard("archived")

    def step_alert(self) -> None:
        g = self.rng.choice(self.groups)
        change = self._change_group(g)
        payload, truncated = self._payload(g)
        self._mark_log()
        if self.rng.random() < 0.03:  # Trello down for the whole delivery: 503 (never 2xx/4xx), nothing written
            self.trello.inject("503", times=None)
            try:
                status, down = self.deliver(payload)
            finally:
                self.clear_faults()
            ignored = g.source == "grafana-legacy" and g.legacy_state in ("paused", "pending")
            self.check(status == (200 if ignored else 503), f"{g.name} with Trello down: HTTP {status}: {down}")
            self.check(self._writes() == 0 or ignored, f"{g.name} with Trello down: wrote something")
            self.stats["trello_down_webhooks"] += 1
        answer = self.deliver_until_ok(payload, f"webhook {g.name}")
        if g.source == "grafana-legacy" and g.legacy_state in ("paused", "pending"):
            self.check(len(self._trello_requests()) == 0, f"{g.name} {g.legacy_state}: Trello was asked")
        self._apply_delivery(g, payload, truncated)
        self.log(f"alert {g.name} {change}{' (truncated)' if truncated else ''} -> {answer.get('action')}")
        if self.rng.random() < 0.3:  # redelivery of the same payload
            self.check_board()
            self._mark_log()
            again = self.deliver_until_ok(payload, f"redelivered webhook {g.name}")
            self.check(self._writes() == 0, f"{g.name}: a redelivered payload wrote to Trello: {again}")
            self.log(f"redelivered {g.name} -> {again.get('action')}")

    def step_alert_storm(self) -> None:
        """Several groups at once on one replica, or one group on both replicas at once."""
        if self.rng.random() < 0.5:
            chosen = self.rng.sample(self.groups, self.rng.randint(2, 4))
            jobs = [(g, self.apps[0]) for g in chosen]
            label = "storm " + ",".join(g.name for g in chosen)
        else:
            g = self.rng.choice(self.groups)
            jobs = [(g, self.apps[0]), (g, self.apps[1])]
            label = f"replicas {g.name}"
        payloads = {}
        for g, _app in jobs:
            if g.name not in payloads:
                change = self._change_group(g)
                payloads[g.name] = (*self._payload(g), change)
        answers: list[tuple[int, dict[str, Any]] | BaseException] = [(0, {})] * len(jobs)

        def one(i: int) -> None:
            g, app = jobs[i]
            try:
                answers[i] = self.deliver(payloads[g.name][0], app)
            except BaseException as exc:  # noqa: B036 - reported below
                answers[i] = exc

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for i, (g, app) in enumerate(jobs):
            got = answers[i]
            self.check(not isinstance(got, BaseException), f"{label}: {g.name} raised {got!r}")
            status, answer = got  # type: ignore[misc]
            self.check(status in (200, 503), f"{label}: {g.name}: HTTP {status}: {answer}")
            if status == 503:
                self.deliver_until_ok(payloads[g.name][0], f"{label}: redelivery of {g.name}", app)
        for name, (payload, truncated, _change) in payloads.items():
            g = next(x for x in self.groups if x.name == name)
            self._apply_delivery(g, payload, truncated)
        self.stats["storms"] += 1
        self.log(f"{label}: " + "; ".join(f"{n} {c}" for n, (_p, _t, c) in payloads.items()))

    # ------------------------------------------------------------------ people and time

    def _open_card(self) -> tuple[str, Expect] | None:
        cands = sorted((k, e) for k, e in self.expect.items() if e.card is not None)
        return self.rng.choice(cands) if cands else None

    def step_human(self) -> None:
        picked = self._open_card()
        what = self.rng.choice(("rename", "move", "move", "move", "archive", "restore"))
        if what == "restore":
            cands = [(cid, key, st) for cid, key, st in self.archived[-30:] if key not in self.expect]
            if not cands:
                return
            cid, key, state = self.rng.choice(cands)
            self.trello.human_unarchive(cid)
            card = self.trello.get_card(cid)
            self.expect[key] = Expect(cid, state)
            self.card_list[cid] = card["idList"]
            if card["idList"] == self.lists["Done"]:
                self.entered_done[cid] = self.now  # restored while in Done: it entered Done now
            self.excuses.setdefault(key, set()).add("restored")
            self.archived = [a for a in self.archived if a[0] != cid]
            self.log(f"person restores {self._name_of(key)}'s card {cid} (in {self.list_name[card['idList']]})")
            return
        if picked is None:
            return
        key, exp = picked
        cid = exp.card
        assert cid is not None
        if what == "rename":
            self.trello.human_rename(cid, f"renamed by a person at step {self.step_no}")
        elif what == "move":
            target = self.rng.choice([n for n, lid in self.lists.items() if lid != self.card_list[cid]])
            self.trello.human_move(cid, self.lists[target])
            self.card_list[cid] = self.lists[target]
            if target == "Done":
                self.entered_done[cid] = self.now
            else:
                self.entered_done.pop(cid, None)
            what = f"move to {target}"
        else:
            self.trello.human_archive(cid)
            self._card_archived(key, "archived")
        self.log(f"person: {what} {self._name_of(key)}'s card {cid}")

    def step_time(self) -> None:
        delta = timedelta(hours=self.rng.choice((1, 3, 8, 20, 30)), seconds=self.rng.randint(0, 3599),
                          milliseconds=self.rng.randint(0, 999))  # Trello dates have milliseconds
        self.now += delta
        self.log(f"time +{delta} -> {self.now:%Y-%m-%d %H:%M}")

    def step_archive(self) -> None:
        if self.rng.random() < 0.5:
            self.step_time()
        cutoff = self.now - timedelta(days=ARCHIVE_DAYS)
        due = {cid for cid, when in self.entered_done.items() if when < cutoff and self.card_list.get(cid)
               == self.lists["Done"]}
        before = {c["id"] for c in self.trello.cards(self.board)}
        self._mark_log()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            out, err = io.StringIO(), io.StringIO()
            code = bridge_archive.run(self._client(), self.board, "Done", ARCHIVE_DAYS, dry_run=False, now=self.now,
                                      out=out, err=err, workers=2)
            self.check(code in (0, 1), f"archive: exit {code}: {err.getvalue()}")
            self.check("Traceback" not in err.getvalue(), f"archive: traceback:\n{err.getvalue()}")
            if code == 0:
                break
            self.check("error:" in err.getvalue(), f"archive: exit 1 without an error line: {err.getvalue()}")
            self.stats["archive_retries"] += 1
            if attempt == MAX_ATTEMPTS // 2:
                self.clear_faults()
        else:
            self.fail("archive still failing with faults cleared")
        after = {c["id"] for c in self.trello.cards(self.board)}
        gone = before - after
        self.check(gone == due, f"archive at {self.now:%Y-%m-%d %H:%M}: archived {sorted(gone)}, the model says "
                                f"{sorted(due)} (entered Done: "
                                f"{ {c: str(self.entered_done.get(c)) for c in gone ^ due} })")
        for key in [k for k, e in self.expect.items() if e.card in gone]:
            self._card_archived(key, "archived")
        self.stats["archived_by_archive"] += len(gone)
        self.log(f"archive --days {ARCHIVE_DAYS:g} at {self.now:%Y-%m-%d %H:%M}: archived {len(gone)}")

    def step_faults(self) -> None:
        roll = self.rng.random()
        if roll < 0.25:
            self.clear_faults()
            self.log("faults cleared")
        elif roll < 0.6:
            kinds = self.rng.sample(["503", "429", "timeout", "drop", "drop_after"], self.rng.randint(1, 5))
            rate = self.rng.choice((0.04, 0.08, 0.15))
            self.trello.random_faults(rate, self.rng.randrange(1 << 30), kinds)
            self.trello_faults_on = True
            self.log(f"Trello random faults {rate} {kinds}")
        elif roll < 0.85:
            kind = self.rng.choice(["503", "429", "timeout", "drop", "drop_after", "drop_after"])
            method, path = self.rng.choice([("POST", r"^/1/cards$"), ("PUT", r"^/1/cards/"),
                                            ("POST", r"/actions/comments$"), ("GET", r"^/1/boards/[^/]+$"),
                                            (None, None)])
            times = self.rng.choice((1, 2, 3, 8))  # 8 outlasts the retry budget
            self.trello.inject(kind, method=method, path=path, times=times)
            self.log(f"Trello inject {kind} x{times} on {method or 'any'} {path or ''}")
        else:
            kinds = self.rng.sample(["502", "503", "drop"], self.rng.randint(1, 3))
            if self.rng.random() < 0.5:
                self.jenkins.random_faults(self.rng.choice((0.05, 0.15)), self.rng.randrange(1 << 30), kinds)
                self.log(f"Jenkins random faults {kinds}")
            else:
                self.jenkins.inject(kinds[0], times=self.rng.randint(1, 2))
                self.log(f"Jenkins inject {kinds[0]}")

    # ------------------------------------------------------------------ the loop

    STEPS: tuple[tuple[str, int], ...] = (
        ("start_build", 14), ("post", 14), ("finish", 14), ("retry_post", 4), ("trello_down_post", 1),
        ("concurrent_posts", 2), ("delete_job", 1), ("alert", 22), ("alert_storm", 3), ("human", 9),
        ("time", 5), ("reconcile", 3), ("archive", 3), ("faults", 8),
    )

    def run(self, steps: int) -> Counter[str]:
        names = [n for n, _w in self.STEPS]
        weights = [w for _n, w in self.STEPS]
        started = time.monotonic()
        for self.step_no in range(1, steps + 1):
            name = self.rng.choices(names, weights)[0]
            self.stats[name] += 1
            t0 = time.monotonic()
            try:
                getattr(self, "step_" + name)()
            except ModelFailure:
                raise
            except Exception as exc:  # an exception escaping the product is a failure too
                self.log(f"{name} raised {type(exc).__name__}: {exc}")
                self.fail(f"step {name} raised {type(exc).__name__}: {exc}")
            self.seconds[name] += time.monotonic() - t0
            self.check_board()
            self.check_truth()
        # the end: faults off, every build finished and posted, a reconcile: the board is exactly the truth
        self.clear_faults()
        self.step_no += 1
        for job in self.jobs.values():
            for b in sorted(job.builds.values(), key=lambda b: b.number):
                if b.building:
                    if not b.posted:
                        self._post(job, b, "final post")
                    self.jenkins.finish_build(job.name, b.number, b.result)
                    b.building = False
        self.step_reconcile()
        self.check_board()
        self.check_truth(after_reconcile=True)
        self.stats["seconds"] = int(time.monotonic() - started)
        self.stats["faults_injected"] = self.faults_seen + len(self.trello.fault_log) + len(self.jenkins.fault_log)
        self.stats["open_cards_at_end"] = len(self.expect)
        self.stats["cards_created"] = len(self.known_ids)
        return self.stats


@contextlib.contextmanager
def emulators() -> Iterator[tuple[TrelloEmulator, JenkinsEmulator]]:
    # interval=1.0: an injected 429 says "wait ~0.2 s", not Trello's 2 s, so faults stay cheap
    with TrelloEmulator(key=KEY, token=TOKEN, interval=1.0) as trello, \
            JenkinsEmulator(user=JUSER, token=JTOKEN) as jenkins:
        yield trello, jenkins


def run_model(seed: int, steps: int) -> Counter[str]:
    with emulators() as (trello, jenkins):
        return Model(seed, trello, jenkins).run(steps)
