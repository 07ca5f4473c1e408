"""The Jenkins Notification plugin's JSON -> one plain ``BuildEvent``, or the reason it is none (pure).

What the plugin really sends (``Phase.java``, ``JobState``, ``BuildState`` in
jenkinsci/notification-plugin; Gson with lower-case-underscore field names):

- ``name`` is ``job.getName()``: the job's *own* name, not its full name. A job
  ``team/app`` sends ``"app"``; a multibranch branch ``org/repo/feature%2Fx``
  sends ``"feature%2Fx"`` (branch jobs are named by the encoded branch).
- ``url`` is ``job.getUrl()``: relative to the Jenkins root, one ``job/<seg>/``
  per level, each segment URL-encoded once more (``rawEncode``), so that branch
  is ``job/org/job/repo/job/feature%252Fx/``.
- ``build.url`` is ``run.getUrl()`` (``<job url><number>/``); ``build.full_url``
  is the root URL plus that, and only there when Jenkins knows its root URL.
- ``build.phase`` is one of QUEUED, STARTED, COMPLETED, FINALIZED (NONE exists
  as an enum value for the ``notifyEndpoints`` step, which sends the phase it is
  given); ``build.status`` is the result, absent while the build has none.

So the full name -- the one ``notify`` keys a job's card by -- comes from
``url`` (then ``build.url``) decoded once per segment; ``name`` alone is used
only when neither URL is there, and then it can only name a top-level job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from jenkins_trello.lifecycle import RESULTS

__all__ = ["ACTING_PHASES", "PHASES", "BuildEvent", "EventError", "job_from_url", "parse_event"]

#: every phase the plugin sends; only the last two carry a build's final result
PHASES = frozenset({"QUEUED", "STARTED", "COMPLETED", "FINALIZED", "NONE"})
ACTING_PHASES = frozenset({"COMPLETED", "FINALIZED"})
MAX_BUILD_NUMBER = 2**31 - 1  # Run.number is a Java int
MAX_SEGMENT = 255
MAX_DEPTH = 32


class EventError(Exception):
    """JSON that is no Notification plugin build event (HTTP 422); the message is one line, no echo of secrets."""


@dataclass(frozen=True)
class BuildEvent:
    """One build event as the bridge needs it.

    ``job`` is the Jenkins full name (``org/repo/feature%2Fx``), ``url`` the build's
    absolute URL when the payload had a usable one (else empty: ``notify`` then
    takes the URL Jenkins' API gives), ``status`` the result (None while the build
    has none), ``branch`` a ``BRANCH_NAME`` build parameter when the build had one.
    """

    job: str
    number: int
    phase: str
    status: str | None
    url: str = ""
    branch: str | None = None

    @property
    def acts(self) -> bool:
        """Whether this event can change the board: a final phase that carries a result."""
        return self.phase in ACTING_PHASES and self.status is not None


def _segment(raw: str) -> str:
    """One URL path segment -> the job name it encodes (decoded once); EventError when it cannot be one."""
    return _job_name(unquote(raw, errors="strict") if "%" in raw else raw)


def _job_name(name: str) -> str:
    """``name`` when it can be one Jenkins item name (one path level), else EventError."""
    if not name or len(name) > MAX_SEGMENT:
        raise EventError("url has an empty or overlong job name segment")
    if name in (".", "..") or "/" in name or "\\" in name:
        raise EventError(f"url segment {name[:40]!r} is no Jenkins job name")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise EventError("url has a job name with control characters")
    return name


def job_from_url(url: str, number: int | None = None) -> str:
    """The job's full name from a job URL (``job/a/job/b/``) or a build URL (``…/job/b/12/``), relative or absolute.

    Leading path parts that are not ``job/<name>`` pairs (a context path such as
    ``/jenkins/``, a ``view/<name>/`` prefix) are skipped; after the first ``job``
    pair nothing but ``job`` pairs may follow, except the build number when
    ``number`` is given. Raises EventError when no job name can be read.
    """
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0].split("#", 1)[0]
    parts = [p for p in path.split("/") if p != ""]
    if number is not None and parts and parts[-1] == str(number):
        parts = parts[:-1]
    try:
        first = parts.index("job")
    except ValueError:
        raise EventError("url names no job (no job/<name>/ part)") from None
    pairs = parts[first:]
    if len(pairs) % 2 or any(p != "job" for p in pairs[0::2]):
        raise EventError("url is not a Jenkins job URL (job/<name>/ parts only)")
    if len(pairs) // 2 > MAX_DEPTH:
        raise EventError(f"url nests jobs deeper than {MAX_DEPTH} folders")
    try:
        return "/".join(_segment(p) for p in pairs[1::2])
    except UnicodeDecodeError:
        raise EventError("url has a job name that is not UTF-8") from None


def _str(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EventError(f"{key!r} is not a string")
    return value


def _http_url(value: str | None) -> str:
    """``value`` when it is an absolute http(s) URL of sane length, else ''."""
    if not value or len(value) > 2000 or not value.startswith(("http://", "https://")):
        return ""
    return value


def parse_event(doc: object) -> BuildEvent:
    """A decoded JSON document -> BuildEvent; EventError (-> 422) with a one-line reason when it is none."""
    if not isinstance(doc, dict):
        raise EventError("body is not a JSON object (a Notification plugin event is one)")
    build = doc.get("build")
    if not isinstance(build, dict):
        raise EventError("no 'build' object: not a Jenkins Notification plugin event (set its Format to JSON)")
    number = build.get("number")
    if isinstance(number, bool) or not isinstance(number, int):
        raise EventError("'build.number' is missing or not an integer")
    if not 1 <= number <= MAX_BUILD_NUMBER:
        raise EventError(f"'build.number' {number if abs(number) < 10**12 else '(huge)'} is out of range")
    phase = _str(build, "phase")
    if phase is None:
        raise EventError("'build.phase' is missing")
    phase = phase.strip().upper()
    if phase not in PHASES:
        raise EventError(f"'build.phase' {phase[:20]!r} is not one of {', '.join(sorted(PHASES))}")
    status = _str(build, "status")
    if status is not None:
        status = status.strip().upper() or None
        if status is not None and status not in RESULTS:
            raise EventError(f"'build.status' {status[:20]!r} is not a Jenkins result")
    name, job_url, build_url = _str(doc, "name"), _str(doc, "url"), _str(build, "url")
    if job_url:
        job = job_from_url(job_url)
    elif build_url:
        job = job_from_url(build_url, number)
    elif name:
        job = _job_name(name)  # no URL at all: only a top-level job can be named by its name alone
    else:
        raise EventError("neither 'url', 'build.url' nor 'name' names the job")
    if name is not None and name != job.rsplit("/", 1)[-1]:
        raise EventError("'name' is not the last part of the job's 'url'")
    full_url = _http_url(_str(build, "full_url"))
    params = build.get("parameters")
    branch = params.get("BRANCH_NAME") if isinstance(params, dict) else None
    branch = (branch.strip()[:200] or None) if isinstance(branch, str) else None
    return BuildEvent(job=job, number=number, phase=phase, status=status, url=full_url, branch=branch)
