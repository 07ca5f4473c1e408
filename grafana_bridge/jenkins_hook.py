"""``POST /jenkins``: a Notification plugin event -> the same transition as ``jenkins-trello notify``.

Nothing is decided here: the event (``jenkins_events.parse_event``) becomes one
call of ``jenkins_trello.notify.notify``, which reads the job's builds from
``JENKINS_URL``, picks the route, gives the verdict (ABORTED and NOT_BUILT
change nothing, a late build changes nothing, UNSTABLE fails) and writes. So a
job that reports through the webhook keeps the very card its post step kept.

Acting once per build: the plugin sends COMPLETED and then FINALIZED with the
same result (with its default "all events"), and a connection error makes it
send one again. The bridge remembers the builds it applied (``Applied``, in
memory, bounded), so the second costs no request at all. Where the memo does
not reach (another replica, a restart) the event goes through ``notify``
again, which writes nothing for a first failure (the marker holds the build
that opened the card) or a fix (the card is archived already); a still-failing
build is commented on once more, exactly as when a post step runs twice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jenkins_trello.config import JenkinsConfig, Limits, TrelloConfig
from jenkins_trello.jenkins import JenkinsReader
from jenkins_trello.lifecycle import INERT
from jenkins_trello.notify import notify
from jenkins_trello.policy import Policy
from jenkins_trello.trello import TrelloClient

from .jenkins_events import ACTING_PHASES, BuildEvent

__all__ = ["JENKINS_RETRY_SECONDS", "NO_JENKINS", "Applied", "JenkinsAccess", "NoJenkins", "deliver",
           "jenkins_access", "skip_reason"]

#: Jenkins reads are retried this long at most, so that Trello still has time within the answer budget
JENKINS_RETRY_SECONDS = 8.0
JENKINS_TIMEOUT = 5.0
NO_JENKINS = ("JENKINS_URL is not set on the bridge, so it cannot read the previous build: set JENKINS_URL "
              "(and JENKINS_USER / JENKINS_API_TOKEN) where grafana-bridge runs")


class Applied:
    """The builds this bridge process has already applied (bounded, thread-safe): FINALIZED and redeliveries skip.

    Not state the board depends on: a restart forgets it, and then a repeat goes
    through ``notify`` again, which writes nothing for a first failure or a fix
    (the marker and the archived card say so already). A still-failing build's
    comment is the one write a repeat would make twice, so this memo is what
    keeps FINALIZED-after-COMPLETED (the plugin's default "all events") from
    commenting twice on the same bridge.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._seen: OrderedDict[tuple[str, int, str], None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(event: BuildEvent) -> tuple[str, int, str]:
        return (event.job, event.number, event.status or "")

    def __contains__(self, event: object) -> bool:
        if not isinstance(event, BuildEvent):
            return False
        with self._lock:
            return self._key(event) in self._seen

    def add(self, event: BuildEvent) -> None:
        with self._lock:
            self._seen[self._key(event)] = None
            self._seen.move_to_end(self._key(event))
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)


class NoJenkins(LookupError):
    """An event that needs Jenkins reached a bridge without ``JENKINS_URL`` (answered 503, naming the setting)."""


def skip_reason(event: BuildEvent) -> str | None:
    """Why an event changes nothing before any request (pure), or None when ``notify`` must look.

    QUEUED, STARTED and NONE carry no final result; a COMPLETED sent by the
    ``notifyEndpoints`` step while the build runs may carry none either; an
    ABORTED or NOT_BUILT result changes nothing (notify would read Jenkins
    only to say so).
    """
    if event.phase not in ACTING_PHASES:
        return f"phase {event.phase} changes nothing (only COMPLETED and FINALIZED do)"
    if event.status is None:
        return f"phase {event.phase} without a build status changes nothing"
    if event.status in INERT:
        return f"result {event.status} changes nothing"
    return None


def deliver(event: BuildEvent, cfg: TrelloConfig, client: TrelloClient, reader: JenkinsReader | None,
            policy: Policy | None = None, applied: Applied | None = None) -> dict[str, Any]:
    """Apply one plugin event to the board; the JSON summary. The bridge's code path, callable on its own.

    ``applied`` (the bridge's memo) skips a build already applied here, at no
    request, and records one applied now. ``reader`` None (no ``JENKINS_URL``) is fine for events that change nothing;
    any other raises ``NoJenkins``. Raises ``JenkinsError``, ``TrelloError``
    or ``ConfigError`` (the bridge answers 503) when a service or a setting fails.
    """
    summary: dict[str, Any] = {"status": "ok", "source": "jenkins", "job": event.job, "build": event.number,
                               "phase": event.phase, "result": event.status, "action": "ignored",
                               "reason": None, "card": None, "cardUrl": None, "writes": 0}
    why = skip_reason(event)
    if why is not None:
        return {**summary, "reason": why}
    if applied is not None and event in applied:
        return {**summary, "action": "nothing",
                "reason": f"build #{event.number} {event.status} already applied by this bridge"}
    if reader is None:
        raise NoJenkins(NO_JENKINS)
    assert event.status is not None
    report = notify(cfg, client, reader, job=event.job, build=event.number, build_url=event.url,
                    result=event.status, branch=event.branch, policy=policy)
    if applied is not None:
        applied.add(event)
    return {**summary, "action": report.action, "reason": report.reason, "card": report.card_id,
            "cardUrl": report.card_url, "writes": report.writes}


@dataclass(frozen=True)
class JenkinsAccess:
    """How the bridge reads Jenkins: ``JENKINS_URL`` / ``JENKINS_USER`` / ``JENKINS_API_TOKEN``, checked once.

    ``reader()`` makes a new ``JenkinsReader`` per event, which keeps
    python-jenkins' session out of the threads' way; its timeout and retries
    leave Trello room within the bridge's 22 s answer.
    """

    url: str
    user: str | None = None
    token: str | None = None
    timeout: float = JENKINS_TIMEOUT
    retry_seconds: float = JENKINS_RETRY_SECONDS

    def reader(self) -> JenkinsReader:
        return JenkinsReader(self.url, self.user, self.token, timeout=self.timeout,
                             retry_seconds=self.retry_seconds)

    def __repr__(self) -> str:  # never show the API token
        return f"JenkinsAccess(url={self.url!r}, user={self.user!r})"


def jenkins_access(env: Mapping[str, str]) -> JenkinsAccess | None:
    """The bridge's Jenkins settings, or None when ``JENKINS_URL`` is not set (``/jenkins`` then answers 503).

    Raises ConfigError for a malformed setting, so ``serve`` stops at start with one line.
    """
    if not (env.get("JENKINS_URL") or "").strip():
        return None
    jcfg = JenkinsConfig.from_env(env)
    limits = Limits.from_env(env)
    return JenkinsAccess(jcfg.url, jcfg.user, jcfg.token, timeout=min(limits.timeout, JENKINS_TIMEOUT),
                         retry_seconds=min(limits.retry_seconds, JENKINS_RETRY_SECONDS))
