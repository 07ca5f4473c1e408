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

Three seeds in four (``uses_policy_file``) also live under a random policy file
(``random_policy``: 2-3 boards, Jenkins and alert routes with their lifecycle
settings, archive sweeps), written to a file and read by the real loader; a
``policy_change`` step moves one route to another board mid-life. ``expect`` is
then keyed by (subject, board): the model picks a subject's route with the
product's pure, separately tested ``jenkins_trello.routes`` and models what the
route's settings do (after_failures, unstable, on_fix / on_resolve, reopen
windows, labels, moved-route cleanup) on its own, and the request budget of
each fault-free event is counted on the wire (one extra read for a reopen, one
write per missing label, once per board). The rest keep the environment-only
set-up. ``jenkins_trello.notify`` reads the model's clock for reopen windows.

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
import itertools
import json
import logging
import random
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from grafana_bridge import archive as bridge_archive
from grafana_bridge.app import BridgeApp, Options
from grafana_bridge.auth import AuthConfig
from grafana_bridge.cli import reload_policy
from grafana_bridge.jenkins_hook import JenkinsAccess
from grafana_bridge.payloads import decode_state
from jenkins_trello import cli
from jenkins_trello import notify as notify_module
from jenkins_trello.cards import alert_key, job_key, read_marker
from jenkins_trello.cli import policy_env
from jenkins_trello.config import TrelloConfig
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator
from jenkins_trello.jenkins import JenkinsError, JenkinsReader
from jenkins_trello.notify import notify
from jenkins_trello.policy import Policy, Route, load_policy, policy_from_env
from jenkins_trello.routes import alert_route, jenkins_route
from jenkins_trello.trello import Pacer, TrelloClient, TrelloError

from .jenkinsplugin import plugin_payload

FIXTURES = Path(__file__).parent / "fixtures"
UTC = timezone.utc

KEY = "modelkey" + "5" * 24
TOKEN = "modeltoken" + "6" * 54
JUSER, JTOKEN = "ci-bot", "model-jenkins-token-77"
BEARER = "model-bridge-bearer-88"
JHOOK = "model-jenkins-hook-99"  # the Notification plugin's ?token=
WEBHOOK_SHARE = 0.6  # of finished, unreported builds: reported by the Notification plugin instead of a post step

JOBS = ("team/app", "org/repo/feature%2Fx", "lib")
FAILING = frozenset({"FAILURE", "UNSTABLE"})
INERT = frozenset({"ABORTED", "NOT_BUILT"})
RESULTS = ("SUCCESS",) * 8 + ("FAILURE",) * 5 + ("UNSTABLE",) * 2 + ("ABORTED",) * 2 + ("NOT_BUILT",)
ARCHIVE_DAYS = 1.0
TIMEOUT, RETRY_SECONDS = 0.3, 1.5
MAX_ATTEMPTS = 12  # a retried post step / redelivery; faults are cleared after half of them


SEQ = itertools.count(1)  # orders post steps and build completions


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
    posted_at: int = 0  # the model's event counter when its post step ran / it completed
    finished_at: int = 0


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

    def failing(self, after: int = 1, unstable: str = "failing") -> bool:
        """The truth under a route's settings: the newest ``after`` counted builds all fail (UNSTABLE counts as a
        success with ``unstable: ignore``)."""
        return self.exists and self.streak(None, after, unstable) >= after

    def streak(self, before: int | None, after: int, unstable: str) -> int:
        """How many counted builds in a row fail, newest first (those before ``before`` when given)."""
        fails = frozenset({"FAILURE"}) if unstable == "ignore" else FAILING
        n = 0
        for b in sorted(self.counted(), key=lambda b: b.number, reverse=True):
            if before is not None and b.number >= before:
                continue
            if b.result not in fails:
                break
            n += 1
        return n

    def streak_unseen(self, after: int, unstable: str) -> bool:
        """The failing streak that reaches ``after`` was completed by a build that finished after the newest
        build's post step ran: no post step saw it (the notifier reads the builds Jenkins lists then)."""
        fails = frozenset({"FAILURE"}) if unstable == "ignore" else FAILING
        done = sorted(self.counted(), key=lambda b: b.number, reverse=True)
        streak = list(itertools.takewhile(lambda b: b.result in fails, done))[:after]
        return bool(streak) and any(b.finished_at > streak[0].posted_at for b in streak[1:])

    def running_newer(self) -> bool:
        """A build newer than the last completed one is still running (reconcile leaves the job to it)."""
        last = self.last_counted()
        return any(b.building and (last is None or b.number > last.number) for b in self.builds.values())

    def in_flight(self) -> bool:
        """A post step already ran for a build that has not completed: the board is ahead of the truth."""
        return any(b.building and b.posted for b in self.builds.values())

    def verdict(self, n: int, result: str, after: int = 1, unstable: str = "failing") -> str:
        """The README's board rules and docs/policy.md's route settings, written again from the docs:
        noop / hold (a failure below ``after_failures``) / failing / passing."""
        if result in INERT:
            return "noop"
        if any(b.number > n for b in self.counted()):
            return "noop"  # the newer result stands
        fails = frozenset({"FAILURE"}) if unstable == "ignore" else FAILING
        prev = [b for b in self.counted() if b.number < n]
        prev_failing = bool(prev) and max(prev, key=lambda b: b.number).result in fails
        if result not in fails:  # SUCCESS, or UNSTABLE that the route ignores
            if not prev_failing:
                return "noop"
            # a newer build still running that already shows a failing result (its post step ran: Jenkins
            # shows the failing stage's result while building, and results only get worse) will stand
            doomed = any(b.number > n and b.building and b.shows_result and b.result in fails
                         for b in self.builds.values())
            return "passing" if not (doomed and after == 1) else "noop"
        return "failing" if 1 + self.streak(n, after, unstable) >= after else "hold"


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


def job_of(key: str) -> str:
    return next(j for j in JOBS if job_key(j) == key)


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


# --------------------------------------------------------------------------- random policy files

#: every board of a policy seed has the same lists, so a route moved to another board finds its lists there
BOARD_LISTS = ("To Do", "Doing", "Fixed", "Done")
BOARD_NAMES = ("Team", "Ops", "Payments")
#: colours the boards already have (so only named labels are ever missing)
BOARD_COLOURS = ("red", "yellow", "green")
#: named labels no board has at the start: the first card that wants one creates it (+1 write, once per board)
MISSING_LABELS = ("Model bug", "Alert")
#: matcher label names whose value is the same in every notification of a group (its groupLabels) or absent
#: from all of them, so a group's route never depends on which alerts one notification lists
MATCH_NAMES = ("alertname", "cluster", "grafana_folder", "team")
ENV_ONLY_EVERY = 4  # seeds with seed % 4 == 1 keep the environment-only set-up (one board, no file)
FIXED = frozenset({"fixed", "resolved"})  # marker states of cards kept after a fix (on_fix comment / move)


def uses_policy_file(seed: int) -> bool:
    return seed % ENV_ONLY_EVERY != 1


def _common(label_sets: list[dict[str, str]]) -> dict[str, str]:
    return dict(set.intersection(*(set(d.items()) for d in label_sets))) if label_sets else {}


def group_label_views(g: MGroup) -> list[dict[str, str]]:
    """Every label set a route's matchers may see for ``g``: groupLabels over the common labels of any subset
    of its alerts (a notification lists some of them), or a legacy rule's tags."""
    if g.source == "grafana-legacy":
        return [dict(g.template.get("tags") or {})]
    return [{**_common([g.pool[i] for i in subset]), **g.group_labels}
            for n in range(len(g.pool) + 1) for subset in itertools.combinations(range(len(g.pool)), n)]


def payload_labels(g: MGroup, payload: dict[str, Any]) -> dict[str, str]:
    if g.source == "grafana-legacy":
        return dict(payload.get("tags") or {})
    return {**payload.get("commonLabels", {}), **payload.get("groupLabels", {})}


def _lifecycle(rng: random.Random, boards: list[str], kind: str) -> dict[str, Any]:
    route: dict[str, Any] = {"board": rng.choice(boards), "list": rng.choice(("To Do", "To Do", "Doing"))}
    fix = rng.choice(("archive", "comment", "move", "move"))
    route["on_fix" if kind == "jenkins" else "on_resolve"] = {"move": "Fixed"} if fix == "move" else fix
    route["reopen_within"] = rng.choice((0, "2h", "12h", "1d", "3d"))  # the clock steps 1-30 h at a time
    labels = rng.choice(([], [], ["red"], [MISSING_LABELS[0 if kind == "jenkins" else 1]],
                         [MISSING_LABELS[0 if kind == "jenkins" else 1], "green"]))
    if labels:
        route["labels"] = labels
    if rng.random() < 0.3:
        route["labels_from"] = ({"result": {"FAILURE": "red", "UNSTABLE": "yellow"}} if kind == "jenkins"
                                else {"severity": {"critical": "red", "warning": "yellow"}})
    return route


JENKINS_MATCHES: tuple[dict[str, Any], ...] = (
    {"job": "team/**"},
    {"job": "org/**", "branch": ["!feature/*"]},  # the branch job falls through to a later route
    {"job": ["lib", "tools/*"]},
    {"job": "org/*/*"},
    {"job": "**", "branch": "feature/*"},
    {"job": "*"},
)
ALERT_MATCHES: tuple[dict[str, Any], ...] = (
    {"match": ['alertname=~"High.*|Disk.*"'], "format": "alertmanager"},
    {"match": ['cluster!="eu"', 'team!~"db|infra"']},
    {"match": 'grafana_folder="Infra"'},
    {"match": ['alertname!~"Latency"'], "format": ["grafana", "alertmanager"]},
    {"format": "grafana-legacy"},
    {"match": 'cluster="eu"'},
)


def random_policy(rng: random.Random, boards: list[str], groups: list[MGroup]) -> dict[str, Any]:
    """A policy file as data (pure): 2-3 boards, Jenkins and alert routes with random lifecycle settings.

    ``boards[0]`` is the default board. Jenkins routes: globs, a branch negation, sometimes a
    ``skip: true`` route, and a catch-all only when the seed says so (else some job is left unrouted).
    Alert routes use matchers over labels that stay put for a group (see ``MATCH_NAMES``); a draw whose
    route for some group would depend on which alerts a notification lists is drawn again.
    """
    jenkins: list[dict[str, Any]] = []
    for i, match in enumerate(rng.sample(JENKINS_MATCHES, rng.randint(2, 4))):
        route = {"id": f"j{i}", "match": dict(match), **_lifecycle(rng, boards, "jenkins")}
        route["after_failures"] = rng.choice((1, 1, 2, 3))
        if rng.random() < 0.25:
            route["unstable"] = "ignore"
        jenkins.append(route)
    if rng.random() < 0.35:
        jenkins.insert(rng.randint(0, len(jenkins)), {"id": "jskip", "match": {"job": rng.choice(("lib", "team/*"))},
                                                      "skip": True})
    if rng.random() < 0.6:
        jenkins.append({"id": "jall", **_lifecycle(rng, boards, "jenkins"), "after_failures": rng.choice((1, 2))})
    for _attempt in range(200):
        alerts: list[dict[str, Any]] = []
        for i, match in enumerate(rng.sample(ALERT_MATCHES, rng.randint(2, 4))):
            alerts.append({"id": f"a{i}", **copy.deepcopy(match), **_lifecycle(rng, boards, "alerts")})
        if rng.random() < 0.3:
            alerts.insert(rng.randint(0, len(alerts)), {"id": "askip", "match": 'alertname="DiskFull"', "skip": True})
        if rng.random() < 0.6:
            alerts.append({"id": "aall", **_lifecycle(rng, boards, "alerts")})
        doc = {"version": 1, "trello": {"board": boards[0], "list": "To Do", "done_list": "Done"},
               "jenkins": {"routes": jenkins}, "alerts": {"routes": alerts},
               "archive": [{"board": b, "list": "Done", "days": d} for b, d in zip(rng.sample(boards, 2), (1, 2))]}
        policy = policy_of(doc)
        if all(len({_route_name(alert_route(policy, v, g.source, "")) for v in group_label_views(g)}) == 1
               for g in groups):
            return doc
    raise AssertionError("no stable alert routes drawn")  # pragma: no cover - 200 draws


def _route_name(route: Route | None) -> str | None:
    return route.name if route is not None else None


def policy_of(doc: dict[str, Any]) -> Policy:
    """A policy dict through the real loader (written to a file and read back, as the commands read it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", encoding="utf-8", delete=False) as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    try:
        return load_policy(fh.name, {})
    finally:
        Path(fh.name).unlink()


class _ModelTime:
    """``time`` as jenkins_trello.notify sees it: ``time()`` is the model's clock (for reopen windows)."""

    def __init__(self, model: Model) -> None:
        self._model = model

    def time(self) -> float:
        return self._model.now.timestamp()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


# --------------------------------------------------------------------------- the run


@dataclass
class Expect:
    card: str | None  # None: just created, id learned at the next check
    state: str
    list_id: str = ""  # where a new card must appear (its route's intake list)


@dataclass
class Archived:
    card: str
    key: str
    state: str
    board: str
    at: datetime  # its last activity: when it was archived


class Model:
    def __init__(self, seed: int, trello: TrelloEmulator, jenkins: JenkinsEmulator) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.trello, self.jenkins = trello, jenkins
        self.now = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
        trello.clock = lambda: self.now
        trello.timeout_delay = 0.5
        jenkins.timeout_delay = 0.5
        self.boards: dict[str, dict[str, str]] = {}  # board id -> list name -> list id
        self.board_names: dict[str, str] = {}
        self.file = uses_policy_file(seed)
        for name in (BOARD_NAMES[:self.rng.choice((2, 3))] if self.file else ("Team",)):
            board = trello.add_board(name)["id"]
            self.board_names[board] = name
            self.boards[board] = {n: trello.add_list(board, n)["id"]
                                  for n in (BOARD_LISTS if self.file else ("To Do", "Doing", "Done"))}
            for colour in BOARD_COLOURS if self.file else ():
                trello.add_label(board, "", colour)
        self.board = next(iter(self.boards))  # the default board
        self.list_name = {lid: n for lists in self.boards.values() for n, lid in lists.items()}
        self.board_of_list = {lid: b for b, lists in self.boards.items() for lid in lists.values()}
        self.env = {
            "TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": self.board, "TRELLO_API_URL": trello.url,
            "JENKINS_URL": jenkins.url, "JENKINS_USER": JUSER, "JENKINS_API_TOKEN": JTOKEN,
            "JENKINS_TRELLO_TIMEOUT": str(TIMEOUT), "JENKINS_TRELLO_RETRY_SECONDS": str(RETRY_SECONDS),
        }
        self.groups = make_groups()
        self.policy_doc: dict[str, Any] | None = None
        self.policy_path: str | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if self.file:
            self._tmp = tempfile.TemporaryDirectory(prefix="model-policy-")
            self.policy_path = str(Path(self._tmp.name) / "policy.yml")
            self.policy_doc = random_policy(self.rng, list(self.boards), self.groups)
            self.env["JENKINS_TRELLO_CONFIG"] = self.policy_path  # notify and reconcile read it on every run
        self._load_policy()
        self.cfg = TrelloConfig.from_env(policy_env(self.env, self.policy))
        self.apps = [self._bridge_app(), self._bridge_app()]  # two replicas
        self.jobs = {name: MJob(name) for name in JOBS}
        for name in JOBS:
            jenkins.add_job(name)
        self.expect: dict[tuple[str, str], Expect] = {}  # (subject key, board id) -> its open card
        self.excuses: dict[str, set[str]] = {}
        self.card_list: dict[str, str] = {}  # open card id -> list id
        self.entered_done: dict[str, datetime] = {}
        self.known_ids: set[str] = set()
        self.archived: list[Archived] = []  # archived by anyone (the product, a person, archive)
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
        return BridgeApp(self.cfg, AuthConfig(token=BEARER, jenkins_token=JHOOK), Options(), client=self._client(),
                         clock=lambda: self.now.timestamp(), policy=self.policy,
                         jenkins=JenkinsAccess(self.jenkins.url, JUSER, JTOKEN, timeout=TIMEOUT,
                                               retry_seconds=RETRY_SECONDS))

    # ------------------------------------------------------------------ the policy and routes

    def _load_policy(self) -> None:
        """Write the policy file (policy seeds) and read it with the real loader, as every command does."""
        if self.policy_path is not None:
            Path(self.policy_path).write_text(yaml.safe_dump(self.policy_doc, sort_keys=False), encoding="utf-8")
        self.policy = load_policy(self.policy_path, self.env)
        if self.policy_path is None:
            assert self.policy == policy_from_env(self.env)
        # routes do not depend on a build's result nor on which alerts a notification lists (random_policy)
        self.job_routes = {j: jenkins_route(self.policy, j, None, "FAILURE") for j in JOBS}
        self.group_routes = {g.name: alert_route(self.policy, group_label_views(g)[0], g.source, "")
                             for g in self.groups}

    def home(self, route: Route | None) -> str | None:
        """The board a subject's card lives on under ``route``; None when the route leaves it alone."""
        if route is None or route.skip:
            return None
        return route.board or self.board

    def job_home(self, name: str) -> str | None:
        return self.home(self.job_routes[name])

    def group_home(self, g: MGroup) -> str | None:
        return self.home(self.group_routes[g.name])

    def _doc_board(self, route: dict[str, Any]) -> str:
        return route.get("board") or self.board

    def named_boards(self) -> set[str]:
        """The boards the policy names (default, routes, sweeps): the ones reconcile reads."""
        if self.policy_doc is None:
            return {self.board}
        doc = self.policy_doc
        return ({self.board} | {self._doc_board(r) for kind in ("jenkins", "alerts") for r in doc[kind]["routes"]}
                | {s["board"] for s in doc["archive"]})

    def alert_boards(self) -> set[str]:
        """The boards the bridge closes a moved group's cards on: its alert routes' and the default board."""
        if self.policy_doc is None:
            return {self.board}
        return {self.board} | {self._doc_board(r) for r in self.policy_doc["alerts"]["routes"] if not r.get("skip")}

    def sweeps(self) -> list[tuple[str, float]]:
        if self.policy_doc is None:
            return [(self.board, ARCHIVE_DAYS)]
        return [(s["board"], float(s["days"])) for s in self.policy_doc["archive"]]

    def _intake(self, route: Route, board: str) -> str:
        return self.boards[board][route.list]

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

    def deliver(self, payload: dict[str, Any], app: BridgeApp | None = None, path: str = "/alerts",
                query: str = "") -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload).encode()
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": query,
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

    def deliver_until_ok(self, payload: dict[str, Any], what: str, app: BridgeApp | None = None,
                         path: str = "/alerts", query: str = "") -> dict[str, Any]:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            status, answer = self.deliver(payload, app, path, query)
            if status == 200:
                self.check(answer.get("status") == "ok", f"{what}: 200 without status ok: {answer}")
                self.last_attempts = attempt
                return answer
            self.check(status == 503, f"{what}: HTTP {status} (a Trello problem must be a 503): {answer}")
            self.check("Retry-After" in answer["_headers"] and "error" in answer, f"{what}: bare 503: {answer}")
            self.stats["redeliveries"] += 1
            if attempt == MAX_ATTEMPTS // 2:
                self.clear_faults()
        self.fail(f"{what}: still 503 after {MAX_ATTEMPTS} deliveries with faults cleared")
        raise AssertionError

    # ------------------------------------------------------------------ board bookkeeping

    def _card_archived(self, k: tuple[str, str], reason: str) -> None:
        exp = self.expect.pop(k)
        if exp.card is not None:
            self.archived.append(Archived(exp.card, k[0], exp.state, k[1], self.now))
            self.card_list.pop(exp.card, None)
            self.entered_done.pop(exp.card, None)
        if reason:
            self.excuses.setdefault(k[0], set()).add(reason)

    def _reopen_pick(self, key: str, board: str, within: float) -> Archived | None:
        """The archived card a failure within the route's reopen window brings back (the newest), or None."""
        if within <= 0:
            return None
        cands = [a for a in self.archived if a.key == key and a.board == board
                 and (self.now - a.at).total_seconds() <= within]
        return max(cands, key=lambda a: a.at) if cands else None

    def _expect_failing(self, k: tuple[str, str], state: str, route: Route) -> str:
        """A subject fails (again) on its home board: a new card, the reopened one, or the fixed one back."""
        exp = self.expect.get(k)
        intake = self._intake(route, k[1])
        if exp is None:
            back = self._reopen_pick(k[0], k[1], route.reopen_within)
            if back is None:
                self.expect[k] = Expect(None, state, intake)
                return "create"
            self.archived.remove(back)
            self.expect[k] = Expect(back.card, state)
            self.card_list[back.card] = intake
            self.stats["reopens"] += 1
            return "reopen"
        if exp.state in FIXED:
            exp.state = state
            if exp.card is not None:
                self.card_list[exp.card] = intake
                self.entered_done.pop(exp.card, None)
            self.stats["fixed_cards_back"] += 1
            return "back"
        exp.state = state
        return "update"

    def _expect_fixed(self, k: tuple[str, str], action: str, fix_list: str) -> None:
        """``on_fix`` / ``on_resolve``: archive, or keep the card open marked fixed (moved for ``move``)."""
        exp = self.expect.get(k)
        if exp is None:
            return
        if action == "archive":
            self._card_archived(k, "")
            return
        if exp.state in FIXED:
            return
        exp.state = "resolved" if k[0].startswith("alert:") else "fixed"
        self.stats[f"on_fix_{action}"] += 1
        if action == "move" and exp.card is not None:
            self.card_list[exp.card] = self.boards[k[1]][fix_list]
            self.entered_done.pop(exp.card, None)

    def board_cards(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        out: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for board in self.boards:
            for c in self.trello.cards(board):
                marker = read_marker(c.get("desc"))
                if marker is not None and c["idList"] in self.list_name:
                    out.setdefault((marker[0], board), []).append({**c, "_state": marker[1]})
        return out

    def check_board(self) -> None:
        board = self.board_cards()
        self.check(set(board) == set(self.expect),
                   f"open cards differ from the model: extra {self._names(set(board) - set(self.expect))}, "
                   f"missing {self._names(set(self.expect) - set(board))} (model: {self._names(self.expect)})")
        for k, cards in board.items():
            exp = self.expect[k]
            name = self._name_of(k)
            self.check(len(cards) == 1, f"{name} has {len(cards)} open cards")
            card = cards[0]
            if exp.card is None:
                self.check(card["id"] not in self.known_ids,
                           f"{name}: expected a new card, found the old {card['id']}")
                self.check(not exp.list_id or card["idList"] == exp.list_id,
                           f"{name}: new card in {self.list_name.get(card['idList'])}, not its route's intake list "
                           f"{self.list_name.get(exp.list_id)}")
                exp.card = card["id"]
                self.known_ids.add(card["id"])
                self.card_list[card["id"]] = card["idList"]
            self.check(card["id"] == exp.card, f"{name}: card {card['id']} replaced {exp.card}")
            self.check(card["_state"] == exp.state,
                       f"{name}: marker state {card['_state']!r}, model says {exp.state!r}")
            self.check(card["idList"] == self.card_list.get(card["id"]),
                       f"{name}: card moved by the product to {self.list_name.get(card['idList'])}, model says "
                       f"{self.list_name.get(self.card_list.get(card['id'], ''))}")

    def _names(self, keys: Any) -> str:
        return ", ".join(self._name_of(k) for k in sorted(keys)) or "none"

    def _name_of(self, k: tuple[str, str] | str) -> str:
        key, board = k if isinstance(k, tuple) else (k, "")
        where = f" on {self.board_names[board]}" if board and len(self.boards) > 1 else ""
        for j in JOBS:
            if job_key(j) == key:
                return f"job {j}{where}"
        for g in self.groups:
            if g.key == key:
                return f"group {g.name}{where}"
        return f"{key}{where}"

    def _open(self, key: str, board: str | None) -> bool:
        """The subject has an open, failing (not fixed) card on ``board``."""
        exp = self.expect.get((key, board or ""))
        return exp is not None and exp.state not in FIXED

    def check_truth(self, after_reconcile: bool = False) -> None:
        for job in self.jobs.values():
            key = job_key(job.name)
            route, home = self.job_routes[job.name], self.job_home(job.name)
            if home is None:  # unrouted or skipped: never a card anywhere
                self.check(not any(k[0] == key for k in self.expect), f"job {job.name} is left alone by the "
                                                                      f"policy but has a card")
                continue
            assert route is not None
            if job.in_flight():
                continue
            # after_failures holds back the first card only: a card stays while the newest counted build fails
            has = self._open(key, home)
            truth = job.failing(1 if has else route.after_failures, route.unstable)
            stale = [k for k, e in self.expect.items() if k[0] == key and k[1] != home and e.state not in FIXED
                     and k[1] in self.named_boards()]
            if after_reconcile and stale:
                # reconcile closes a card on a board the route left once the route's board has one, or the job
                # passes or is gone; a fixed card it leaves alone
                # (a passing job with a newer build still running is left to that build's post step)
                failing = not self._passed(job)
                self.check(job.exists and (not has and failing or not failing and job.running_newer()),
                           f"job {job.name}: card left on a board its route left after reconcile: "
                           f"{self._names(stale)}")
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
            if job.streak_unseen(route.after_failures, route.unstable):
                continue  # after_failures: the streak grew by a build that completed late, which no post step saw
            why = self.excuses.get(key, set()) & {"archived", "lost", "moved"}
            self.check(why, f"job {job.name} is failing (#{job.last_counted().number}) but has no open card on its "
                            f"route's board, and no person, archive run, lost post step or route move explains it")
        for g in self.groups:
            home = self.group_home(g)
            if home is None:
                self.check(not any(k[0] == g.key for k in self.expect), f"group {g.name} is left alone by the "
                                                                        f"policy but has a card")
                continue
            has, truth = self._open(g.key, home), g.last_status == "firing"
            if has != truth:
                need = {"archived", "moved"} if truth else {"restored"}
                self.check(self.excuses.get(g.key, set()) & need,
                           f"group {g.name}: {'firing without' if truth else 'resolved but with'} an open card")
                continue
            # (a route moved back to a board that still holds an old card: the next notification updates it)
            if has and not (self.excuses.get(g.key, set()) & {"truncated", "restored", "moved"}):
                fps = decode_state(self.expect[(g.key, home)].state)
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

    def _route_verdict(self, job: MJob, b: MBuild) -> tuple[Route | None, str | None, str]:
        route, home = self.job_routes[job.name], self.job_home(job.name)
        if home is None:
            return route, None, "alone"
        assert route is not None
        return route, home, job.verdict(b.number, b.result, route.after_failures, route.unstable)

    def _board_label_names(self, board: str) -> set[str]:
        """The board's label names now (read from the emulator's state, not over HTTP: no request counted)."""
        with self.trello._lock:  # noqa: SLF001 - the emulator has no public label listing
            return {" ".join(str(lab["name"]).split()).casefold() for lab in self.trello._labels.values()  # noqa: SLF001
                    if lab["idBoard"] == board and lab["name"]}

    def _missing_labels(self, route: Route, board: str) -> int:
        have = self._board_label_names(board)
        return sum(1 for spec in route.labels if spec.lower() not in BOARD_COLOURS
                   and " ".join(spec.split()).casefold() not in have)

    def _check_budget(self, what: str, how: str, route: Route, missing_labels: int, *, jenkins_side: bool) -> None:
        """The request budget of one event without faults: one board read; +1 read (the closed cards) only on a
        reopen transition; +1 write per missing named label, only when a card is created (once per board)."""
        if self.trello.fault_log or self.jenkins.fault_log:
            return
        log = self._trello_requests()
        closed = sum(1 for r in log if r.method == "GET" and r.path.endswith("/cards/closed"))
        labels = sum(1 for r in log if r.method == "POST" and r.path.endswith("/labels"))
        reopen_read = how in ("create", "reopen") and route.reopen_within > 0
        self.check(closed == int(reopen_read), f"{what}: {closed} closed-card reads on a {how} "
                                               f"(reopen_within {route.reopen_within:g}s)")
        self.check(labels == (missing_labels if how == "create" else 0),
                   f"{what}: {labels} label creates on a {how} with {missing_labels} named label(s) missing")
        self.stats["label_creates"] += labels
        if jenkins_side:
            reads = sum(1 for r in log if r.method == "GET")
            self.check(reads == 1 + closed + (how == "create"), f"{what}: {reads} Trello reads on a {how}: "
                                                                f"{[(r.method, r.path) for r in log]}")
        self.stats["budgets_checked"] += 1

    def _webhook(self, job: MJob, b: MBuild, what: str) -> tuple[str, int]:
        """The build reported as the Notification plugin does, after it finished: COMPLETED to one replica
        (redelivered on 503), sometimes FINALIZED after it, which must cost no request at all."""
        app = self.rng.choice(self.apps)
        query = f"token={JHOOK}"
        answer = self.deliver_until_ok(plugin_payload(job.name, b.number, "COMPLETED", b.result, self.jenkins.url),
                                       what, app, "/jenkins", query)
        attempts = self.last_attempts
        self.stats["webhook_builds"] += 1
        if self.rng.random() < 0.5:
            before = (len(self._trello_requests()), len(self.jenkins.request_log))
            status, again = self.deliver(plugin_payload(job.name, b.number, "FINALIZED", b.result,
                                                        self.jenkins.url), app, "/jenkins", query)
            after = (len(self._trello_requests()), len(self.jenkins.request_log))
            self.check(status == 200 and again.get("writes") == 0 and after == before,
                       f"{what}: FINALIZED after COMPLETED on the same bridge: HTTP {status}, {again}, "
                       f"requests {before} -> {after}")
            self.stats["webhook_finalized"] += 1
        return json.dumps({k: answer.get(k) for k in ("action", "reason", "card")}), attempts

    def _post(self, job: MJob, b: MBuild, label: str, webhook: bool = False) -> None:
        if not webhook:
            self._show_result(job, b)
        route, home, verdict = self._route_verdict(job, b)
        key = job_key(job.name)
        missing = self._missing_labels(route, home) if home is not None and route is not None else 0
        self._mark_log()
        what = f"{label} {job.name} #{b.number}"
        if webhook:
            out, attempts = self._webhook(job, b, what)
        else:
            out, attempts = self.cli_until_ok(["notify", "--result", self.rng.choice((b.result, b.result.lower())),
                                               "--job", job.name, "--build", str(b.number)], what)
        if self.file:
            self.stats["policy_runs"] += 1
        if verdict in ("noop", "hold", "alone"):
            self.check(len(self._trello_requests()) == 0, f"{job.name} #{b.number} {b.result}: a {verdict} verdict "
                                                          f"made {len(self._trello_requests())} Trello requests")
            self.stats[{"hold": "after_failures_holds", "alone": "left_alone"}.get(verdict, "noops")] += 1
        if home is not None and route is not None:
            k = (key, home)
            how = "update"
            if verdict == "failing":
                if not self._open(key, home):
                    how = self._expect_failing(k, str(b.number), route)
                    self.excuses.get(key, set()).discard("lost")
                    self.excuses.get(key, set()).discard("moved")
                if attempts == 1:
                    self._check_budget(f"{label} {job.name} #{b.number}", how, route, missing, jenkins_side=True)
            elif verdict == "passing":
                self._expect_fixed(k, route.on_fix.action, route.on_fix.list)
        b.posted, b.posted_at = True, next(SEQ)
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
        if not b.posted and self.rng.random() < WEBHOOK_SHARE:
            # the job reports through the Notification plugin: the build finishes, then the webhook reports it
            self.jenkins.finish_build(job.name, b.number, b.result)
            b.building, b.finished_at = False, next(SEQ)
            self.stats["builds"] += 1
            self.log(f"finish {job.name} #{b.number} {b.result}")
            self._post(job, b, "webhook", webhook=True)
            return
        if not b.posted:
            if self.rng.random() < 0.85:
                self._post(job, b, "post")
            else:  # the post step was skipped / its notification lost
                b.lost = True
                self.excuses.setdefault(job_key(job.name), set()).add("lost")
                self.log(f"post step of {job.name} #{b.number} skipped (lost notification)")
        self.jenkins.finish_build(job.name, b.number, b.result)
        b.building, b.finished_at = False, next(SEQ)
        self.stats["builds"] += 1
        self.log(f"finish {job.name} #{b.number} {b.result}")

    def step_retry_post(self) -> None:
        picked = self._pick_build(lambda b: b.posted and not b.lost)
        if picked is None:
            return self.step_post()
        job, b = picked
        if not b.building and self.rng.random() < 0.4:
            # the same build reported again by the Notification plugin (a job moved to the webhook, a redelivery)
            return self._post(job, b, "webhook again", webhook=True)
        self._post(job, b, "retried post")

    def step_trello_down_post(self) -> None:
        """Trello answers 503 to everything for the whole post step: exit 1, board untouched, notification lost."""
        picked = self._pick_build(lambda b: b.building and not b.posted)
        if picked is None:
            return self.step_start_build()
        job, b = picked
        self._show_result(job, b)
        verdict = self._route_verdict(job, b)[2]
        self.jenkins.clear_faults()  # only Trello is down here
        self.trello.inject("503", times=None)
        try:
            code, _out, err = self.run_cli(["notify", "--result", b.result, "--job", job.name,
                                            "--build", str(b.number)])
        finally:
            self.clear_faults()
        if verdict in ("noop", "hold", "alone"):
            self.check(code == 0, f"{verdict} post with Trello down: exit {code}: {err}")
        else:
            self._check_failure_report(f"post {job.name} #{b.number} with Trello down", code, err)
            b.lost = True
            self.excuses.setdefault(job_key(job.name), set()).add("lost")
        b.posted, b.posted_at = True, next(SEQ)
        self.log(f"post {job.name} #{b.number} {b.result} with Trello down -> exit {code} ({verdict})")

    def step_concurrent_posts(self) -> None:
        """Two builds of one job failing at once: both post steps run together (notify in two threads)."""
        job = self.jobs[self.rng.choice(JOBS)]
        route, home = self.job_routes[job.name], self.job_home(job.name)
        if not job.exists or any(b.building for b in job.builds.values()) or home is None or route is None:
            return self.step_start_build()
        builds = []
        for _ in range(2):
            result = self.rng.choice(("FAILURE", "UNSTABLE", "FAILURE") if route.unstable != "ignore" else ("FAILURE",))
            n = self.jenkins.start_build(job.name)
            job.builds[n] = b = MBuild(n, result)
            self._show_result(job, b)
            builds.append(b)
        verdicts = [job.verdict(b.number, b.result, route.after_failures, route.unstable) for b in builds]
        key = job_key(job.name)
        k = (key, home)
        had = self._open(key, home)
        errors: list[BaseException | None] = [None, None]
        policy = load_policy(self.policy_path, self.env)  # as each post step's process reads it

        def one(i: int) -> None:
            b = builds[i]
            reader = JenkinsReader(self.jenkins.url, JUSER, JTOKEN, timeout=TIMEOUT, retry_seconds=RETRY_SECONDS)
            try:
                notify(self.cfg, self._client(), reader, job=job.name, build=b.number, build_url="", result=b.result,
                       policy=policy)
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
            b.posted, b.posted_at = True, next(SEQ)
        self.check(all(v in ("failing", "hold") for v in verdicts), f"model: unexpected verdicts {verdicts}")
        if not had and "failing" in verdicts:
            cards = self.board_cards().get(k, [])
            self.check(len(cards) == 1, f"{job.name}: two concurrent failures left {len(cards)} open cards")
            state = cards[0]["_state"]
            self.check(state in {str(b.number) for b, v in zip(builds, verdicts) if v == "failing"},
                       f"{job.name}: card state {state!r} is not a failing concurrent build")
            back = self._reopen_pick(key, home, route.reopen_within) if k not in self.expect else None
            how = self._expect_failing(k, state, route)
            if how == "create" and back is None and cards[0]["id"] in self.known_ids:
                self.fail(f"{job.name}: concurrent failures brought back {cards[0]['id']} with no reopen due")
            if how == "reopen" and cards[0]["id"] != self.expect[k].card:
                # the other post step read the closed cards after the first had unarchived one: it created a
                # card, and the twin check kept one of the two (the reopened card then archived as a twin)
                assert back is not None
                self.expect[k] = Expect(None, state, self._intake(route, home))
                self.archived.append(Archived(back.card, key, state, home, self.now))
                self.stats["reopens"] -= 1
            self.excuses.get(key, set()).discard("lost")
            self.excuses.get(key, set()).discard("moved")
        self.stats["concurrent_posts"] += 1
        self.log(f"concurrent posts {job.name} #{builds[0].number} {builds[0].result} and #{builds[1].number} "
                 f"{builds[1].result} -> {verdicts} (card existed: {had}; errors: "
                 f"{[type(e).__name__ for e in errors if e]})")

    def step_delete_job(self) -> None:
        job = self.jobs[self.rng.choice(JOBS)]
        if not job.exists or any(b.building for b in job.builds.values()):
            return self.step_start_build()
        self.jenkins.delete_job(job.name)
        job.exists = False
        self.log(f"job {job.name} deleted")

    def _passed(self, job: MJob) -> bool:
        """The newest counted build passed, as the job's route counts it (UNSTABLE with ``unstable: ignore``)."""
        last, route = job.last_counted(), self.job_routes[job.name]
        ignore = route is not None and not route.skip and route.unstable == "ignore"
        return last is not None and (last.result == "SUCCESS" or ignore and last.result == "UNSTABLE")

    def step_reconcile(self) -> None:
        """Reconcile on every board the policy names: a passing or deleted job's cards go (whatever on_fix says:
        it is the net under lost notifications), a card on a board the job's route left goes once the route's
        board has one (with a comment linking it), fixed cards and unnamed boards are left alone."""
        to_archive, moved = [], []
        named = self.named_boards()
        for k, exp in self.expect.items():
            if not k[0].startswith("job:") or exp.state in FIXED or k[1] not in named:
                continue
            job = next(j for j in self.jobs.values() if job_key(j.name) == k[0])
            passed = self._passed(job)
            # a build newer than the last completed one still running: its post step decides, not reconcile
            if not job.exists or (passed and not job.running_newer()):
                to_archive.append(k)
            elif not passed:
                home = self.job_home(job.name)
                if home is not None and home != k[1] and self._open(k[0], home):
                    moved.append(k)
        self._mark_log()
        out, attempts = self.cli_until_ok(["reconcile"], "reconcile")
        for k in moved:
            old = self.expect[k].card
            target = self.expect[(k[0], self.job_home(job_of(k[0])) or "")].card
            if old is not None and target is not None:
                url = self.trello.get_card(target)["shortUrl"]
                comments = self.trello.comments(old)
                self.check(comments and url in comments[-1], f"{self._name_of(k)}: closed after its route moved "
                                                             f"without a comment linking {url}: {comments[-1:]}")
        for k in to_archive + moved:
            self._card_archived(k, "")
        self.stats["route_move_cleanups"] += len(moved)
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

    def _apply_delivery(self, g: MGroup, payload: dict[str, Any], truncated: bool, attempts: int = 1,
                        missing: int | None = None) -> None:
        """The model's expectation after a payload was acknowledged (200).

        ``missing``: the named labels the route's board lacked before this single delivery (None: the delivery
        ran alongside others, so its requests are not told apart and its budget is not checked).
        """
        key = g.key
        route = alert_route(self.policy, payload_labels(g, payload), g.source, "")
        self.check(_route_name(route) == _route_name(self.group_routes[g.name]),
                   f"model: group {g.name} took route {_route_name(route)} for this notification, not its route")
        home = self.home(route)
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
        if home is None or route is None:
            self.check(missing is None or len(self._trello_requests()) == 0,
                       f"{g.name}: left alone by the policy, but Trello was asked")
            self.stats["left_alone"] += 1
            return
        if self.file:
            self.stats["policy_runs"] += 1
        k = (key, home)
        excuses = self.excuses.setdefault(key, set())
        excuses.discard("restored")
        if status == "resolved":
            self._expect_fixed(k, route.on_fix.action, route.on_fix.list)
            self._close_elsewhere(key, home, attempts, resolved=True)
            excuses.discard("truncated")
            return
        exp = self.expect.get(k)
        prev = None if exp is None else frozenset() if exp.state in FIXED else decode_state(exp.state)
        if truncated:
            firing = ((prev or frozenset()) - listed_resolved) | listed_firing
            excuses.add("truncated")
        else:
            firing = frozenset(listed_firing)
            excuses.discard("truncated")
        from grafana_bridge.payloads import encode_state  # the marker's encoding of a set (not a decision)

        how = self._expect_failing(k, encode_state(frozenset(firing)), route)
        if missing is not None and attempts == 1:
            self._check_budget(f"webhook {g.name}", how, route, missing, jenkins_side=False)
        if how in ("create", "reopen") or attempts > 1:
            self._close_elsewhere(key, home, attempts, resolved=False)
        excuses.discard("archived")
        excuses.discard("moved")

    def _close_elsewhere(self, key: str, home: str, attempts: int, resolved: bool) -> None:
        """The bridge closes a moved group's cards on its other alert boards on a create, reopen or resolve.

        After a retried delivery the close may have happened in an attempt that then failed, or not at all (the
        attempt that succeeded found the card it had made and updated it): the board says which.
        """
        stale = [k for k in self.expect if k[0] == key and k[1] != home and k[1] in self.alert_boards()]
        for k in stale:
            card = self.expect[k].card
            if attempts > 1 and not resolved and card is not None and not self.trello.get_card(card)["closed"]:
                continue
            if attempts == 1 and card is not None and not resolved:
                home_cards = self.board_cards().get((key, home), [])
                comments = self.trello.comments(card)
                self.check(home_cards and comments and home_cards[0]["shortUrl"] in comments[-1],
                           f"{self._name_of(k)}: closed after its route moved without a comment linking the new "
                           f"card: {comments[-1:]}")
            self._card_archived(k, "")
            self.stats["route_move_cleanups"] += 1

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
            ignored = g.source == "grafana-legacy" and g.legacy_state in ("paused", "pending") or \
                self.group_home(g) is None
            self.check(status == (200 if ignored else 503), f"{g.name} with Trello down: HTTP {status}: {down}")
            self.check(self._writes() == 0 or ignored, f"{g.name} with Trello down: wrote something")
            self.stats["trello_down_webhooks"] += 1
        route, home = self.group_routes[g.name], self.group_home(g)
        missing = self._missing_labels(route, home) if route is not None and home is not None else 0
        answer = self.deliver_until_ok(payload, f"webhook {g.name}")
        if g.source == "grafana-legacy" and g.legacy_state in ("paused", "pending"):
            self.check(len(self._trello_requests()) == 0, f"{g.name} {g.legacy_state}: Trello was asked")
        self._apply_delivery(g, payload, truncated, self.last_attempts, missing)
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
            self._apply_delivery(g, payload, truncated, 2)  # concurrent: the board says what was closed
        self.stats["storms"] += 1
        self.log(f"{label}: " + "; ".join(f"{n} {c}" for n, (_p, _t, c) in payloads.items()))

    # ------------------------------------------------------------------ people and time

    def _open_card(self) -> tuple[tuple[str, str], Expect] | None:
        cands = sorted((k, e) for k, e in self.expect.items() if e.card is not None)
        return self.rng.choice(cands) if cands else None

    def step_human(self) -> None:
        picked = self._open_card()
        what = self.rng.choice(("rename", "move", "move", "move", "archive", "restore"))
        if what == "restore":
            cands = [a for a in self.archived[-30:] if (a.key, a.board) not in self.expect]
            if not cands:
                return
            a = self.rng.choice(cands)
            self.trello.human_unarchive(a.card)
            card = self.trello.get_card(a.card)
            self.expect[(a.key, a.board)] = Expect(a.card, a.state)
            self.card_list[a.card] = card["idList"]
            if card["idList"] == self.boards[a.board]["Done"]:
                self.entered_done[a.card] = self.now  # restored while in Done: it entered Done now
            self.excuses.setdefault(a.key, set()).add("restored")
            self.archived = [x for x in self.archived if x.card != a.card]
            self.log(f"person restores {self._name_of((a.key, a.board))}'s card {a.card} "
                     f"(in {self.list_name[card['idList']]})")
            return
        if picked is None:
            return
        k, exp = picked
        cid = exp.card
        assert cid is not None
        lists = self.boards[k[1]]
        if what == "rename":
            self.trello.human_rename(cid, f"renamed by a person at step {self.step_no}")
        elif what == "move":
            target = self.rng.choice([n for n, lid in lists.items() if lid != self.card_list[cid]])
            self.trello.human_move(cid, lists[target])
            self.card_list[cid] = lists[target]
            if target == "Done":
                self.entered_done[cid] = self.now
            else:
                self.entered_done.pop(cid, None)
            what = f"move to {target}"
        else:
            self.trello.human_archive(cid)
            self._card_archived(k, "archived")
        self.log(f"person: {what} {self._name_of(k)}'s card {cid}")

    def step_time(self) -> None:
        delta = timedelta(hours=self.rng.choice((1, 3, 8, 20, 30)), seconds=self.rng.randint(0, 3599),
                          milliseconds=self.rng.randint(0, 999))  # Trello dates have milliseconds
        self.now += delta
        self.log(f"time +{delta} -> {self.now:%Y-%m-%d %H:%M}")

    def step_archive(self) -> None:
        """``grafana-bridge archive``: every sweep of the policy (one sweep of the default board without a file)."""
        if self.rng.random() < 0.5:
            self.step_time()
        for board, days in self.sweeps():
            done = self.boards[board]["Done"]
            cutoff = self.now - timedelta(days=days)
            due = {cid for cid, when in self.entered_done.items() if when < cutoff and self.card_list.get(cid) == done}
            before = {c["id"] for c in self.trello.cards(board)}
            label = f"board {board} list 'Done'" if self.file else ""
            self._mark_log()
            for attempt in range(1, MAX_ATTEMPTS + 1):
                out, err = io.StringIO(), io.StringIO()
                code = bridge_archive.run(self._client(), board, "Done", days, dry_run=False, now=self.now,
                                          out=out, err=err, workers=2, label=label)
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
            after = {c["id"] for c in self.trello.cards(board)}
            gone = before - after
            self.check(gone == due, f"archive {label} at {self.now:%Y-%m-%d %H:%M}: archived {sorted(gone)}, the "
                                    f"model says {sorted(due)} (entered Done: "
                                    f"{ {c: str(self.entered_done.get(c)) for c in gone ^ due} })")
            for k in [k for k, e in self.expect.items() if e.card in gone]:
                self._card_archived(k, "archived")
            self.stats["archived_by_archive"] += len(gone)
            self.log(f"archive {label or 'Done'} --days {days:g} at {self.now:%Y-%m-%d %H:%M}: archived {len(gone)}")

    def step_policy_change(self) -> None:
        """The team edits the policy file: one route's cards go to another board from now on.

        notify and reconcile read the file on their next run; both bridge replicas reload it the way SIGHUP
        does (``reload_policy``). The cards already out stay where they are until the product closes them (a
        job's by reconcile once its new board has one, a group's on its next create or resolve).
        """
        if self.policy_doc is None:
            return self.step_time()
        routes = [(kind, r) for kind in ("jenkins", "alerts") for r in self.policy_doc[kind]["routes"]
                  if not r.get("skip")]
        kind, route = self.rng.choice(routes)
        old = self._doc_board(route)
        route["board"] = self.rng.choice([b for b in self.boards if b != old])
        homes = {j: self.job_home(j) for j in JOBS} | {g.name: self.group_home(g) for g in self.groups}
        self._load_policy()
        for app in self.apps:
            self.check(reload_policy(app, self.policy_path, self.env, logging.getLogger("model")),
                       "the bridge did not reload the policy file")
            self.check(app.policy == self.policy, "the bridge's reloaded policy differs from the file's")
        moved = []
        for j in JOBS:
            if homes[j] != self.job_home(j):
                moved.append(f"job {j}")
                self.excuses.setdefault(job_key(j), set()).add("moved")
        for g in self.groups:
            if homes[g.name] != self.group_home(g):
                moved.append(f"group {g.name}")
                self.excuses.setdefault(g.key, set()).add("moved")
        self.stats["route_moves"] += 1
        self.stats["subjects_moved"] += len(moved)
        self.log(f"policy: {kind} route {route['id']} moves from {self.board_names[old]} to "
                 f"{self.board_names[route['board']]} ({', '.join(moved) or 'no subject'})")

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
        ("time", 5), ("reconcile", 3), ("archive", 3), ("faults", 8), ("policy_change", 1),
    )

    def run(self, steps: int) -> Counter[str]:
        names = [n for n, _w in self.STEPS]
        weights = [w for _n, w in self.STEPS]
        started = time.monotonic()
        for self.step_no in range(1, steps + 1):
            self.now += timedelta(seconds=1)  # every step happens later than the one before (reopen picks the newest)
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
                    b.building, b.finished_at = False, next(SEQ)
        self.step_reconcile()
        self.check_board()
        self.check_truth(after_reconcile=True)
        self.stats["seconds"] = int(time.monotonic() - started)
        self.stats["faults_injected"] = self.faults_seen + len(self.trello.fault_log) + len(self.jenkins.fault_log)
        self.stats["open_cards_at_end"] = len(self.expect)
        self.stats["cards_created"] = len(self.known_ids)
        self.stats["policy_file"] = int(self.file)
        self.stats["boards"] = len(self.boards)
        return self.stats


@contextlib.contextmanager
def emulators() -> Iterator[tuple[TrelloEmulator, JenkinsEmulator]]:
    # interval=1.0: an injected 429 says "wait ~0.2 s", not Trello's 2 s, so faults stay cheap
    with TrelloEmulator(key=KEY, token=TOKEN, interval=1.0) as trello, \
            JenkinsEmulator(user=JUSER, token=JTOKEN) as jenkins:
        yield trello, jenkins


def run_model(seed: int, steps: int) -> Counter[str]:
    real = notify_module.time
    with emulators() as (trello, jenkins):
        model = Model(seed, trello, jenkins)
        notify_module.time = _ModelTime(model)  # type: ignore[assignment] - reopen windows on the model's clock
        try:
            return model.run(steps)
        finally:
            notify_module.time = real
            if model._tmp is not None:
                model._tmp.cleanup()
