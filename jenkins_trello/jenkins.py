"""Jenkins side: the job's recent builds and a failing build's test report, via python-jenkins.

One request answers "what was the previous result": the job's ``builds`` with a
``tree`` that also carries each build's changes and culprits, so the failure
card needs no further request except the test report. python-jenkins would
fetch a CSRF crumb before the first request; GETs need none, so the crumb is
switched off. Its default is no timeout, so one is always passed. Its errors are
not uniform (raw ``requests`` errors for 5xx and refused connections); they are
all turned into ``JenkinsError`` with a one-line message here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jenkins
import requests
import tenacity

from .lifecycle import Build

BUILDS_TREE = (
    "builds[number,result,building,url,"
    "changeSets[items[commitId,msg,author[fullName],authorEmail]],culprits[fullName]]"
)
REPORT_TREE = "failCount,passCount,skipCount,suites[cases[className,name,status]]"


class JenkinsError(Exception):
    """Jenkins could not be read (after retries); the message is one line without secrets."""


class JobNotFound(JenkinsError):
    """The job does not exist (any more) on this Jenkins."""


@dataclass(frozen=True)
class Change:
    commit: str
    message: str
    author: str


@dataclass(frozen=True)
class BuildDetail(Build):
    changes: tuple[Change, ...] = ()
    culprits: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestSummary:
    __test__ = False  # not a pytest class
    failed: int
    passed: int
    skipped: int
    failing: tuple[str, ...]  # "pkg.Class.test" of the first failing cases


def job_path(job: str) -> str:
    """``team/app`` -> ``job/team/job/app``; a literal ``%2F`` stays inside its segment."""
    return "/".join("job/" + part for part in job.split("/"))


def parse_builds(doc: object) -> list[BuildDetail]:
    """Plain build records from a job's ``api/json?tree=builds[...]`` answer (pure)."""
    out: list[BuildDetail] = []
    raw = doc.get("builds") if isinstance(doc, dict) else None
    for b in raw if isinstance(raw, list) else ():
        if not isinstance(b, dict) or not isinstance(b.get("number"), int):
            continue
        changes: list[Change] = []
        for cs in b.get("changeSets") or ():
            for item in (cs or {}).get("items") or ():
                author = (item.get("author") or {}).get("fullName") or item.get("authorEmail") or "unknown"
                changes.append(Change(str(item.get("commitId") or ""), str(item.get("msg") or ""), str(author)))
        culprits = tuple(str(c.get("fullName")) for c in b.get("culprits") or () if isinstance(c, dict))
        out.append(BuildDetail(number=b["number"], result=b.get("result"), building=bool(b.get("building")),
                               url=str(b.get("url") or ""), changes=tuple(changes), culprits=culprits))
    return out


def parse_report(doc: object, limit: int = 10) -> TestSummary | None:
    """Failing tests from a junit test report (FAILED and REGRESSION are failing)."""
    if not isinstance(doc, dict):
        return None
    failing: list[str] = []
    for suite in doc.get("suites") or ():
        for case in (suite or {}).get("cases") or ():
            if case.get("status") in ("FAILED", "REGRESSION") and len(failing) < limit:
                cls, name = case.get("className") or "", case.get("name") or ""
                failing.append(f"{cls}.{name}" if cls else str(name))

    def num(key: str) -> int:
        v = doc.get(key)
        return v if isinstance(v, int) else 0

    return TestSummary(num("failCount"), num("passCount"), num("skipCount"), tuple(failing))


class _Transient(Exception):
    pass


class JenkinsReader:
    """The two reads the notifier needs, with timeouts and bounded retries."""

    def __init__(self, url: str, user: str | None = None, token: str | None = None, *,
                 timeout: float = 10.0, retry_seconds: float = 15.0) -> None:
        self.url = url
        self._secrets = tuple(s for s in (token,) if s)
        self.retry_seconds = retry_seconds
        self.server = jenkins.Jenkins(url, username=user, password=token, timeout=timeout)
        self.server.crumb = False  # reads need no CSRF crumb: save the extra request

    def builds(self, job: str, around: int | None = None) -> list[BuildDetail]:
        """The job's newest builds (up to Jenkins' 100), one request.

        A server that ignores ``tree`` answers with bare ``{number, url}``
        build references; then the builds near ``around`` are read one by one,
        slower but still right.
        """
        doc = self._call(f"read builds of {job!r}", lambda: self.server.get_info(
            item=job_path(job), query="?tree=" + BUILDS_TREE))
        raw = doc.get("builds") if isinstance(doc, dict) else None
        if isinstance(raw, list) and raw and all(isinstance(b, dict) and "building" not in b for b in raw):
            numbers = sorted((b["number"] for b in raw if isinstance(b.get("number"), int)), reverse=True)
            if around is not None:
                numbers = [n for n in numbers if n <= around + 20]
            full = [self._call(f"read build {job!r} #{n}", lambda n=n: self.server.get_build_info(job, n))
                    for n in numbers[:25]]
            doc = {"builds": full}
        return parse_builds(doc)

    def test_summary(self, job: str, number: int) -> TestSummary | None:
        doc = self._call(f"read test report of {job!r} #{number}", lambda: self.server.get_build_test_report(
            job, number, tree=REPORT_TREE))
        return parse_report(doc)

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        def once() -> Any:
            try:
                return fn()
            except jenkins.NotFoundException:
                raise JobNotFound(f"Jenkins: {what}: not found at {self.url}") from None
            except (jenkins.TimeoutException, requests.ConnectionError, requests.Timeout) as exc:
                raise _Transient(f"Jenkins: {what}: {self._one_line(exc)}") from None
            except jenkins.BadHTTPException as exc:
                raise _Transient(f"Jenkins: {what}: {self._one_line(exc)}") from None
            except requests.HTTPError as exc:
                code = exc.response.status_code if exc.response is not None else None
                if code is not None and code >= 500:
                    raise _Transient(f"Jenkins: {what}: HTTP {code}") from None
                raise JenkinsError(f"Jenkins: {what}: HTTP {code}") from None
            except jenkins.JenkinsException as exc:
                raise JenkinsError(f"Jenkins: {what}: {self._one_line(exc)}") from None
            except requests.RequestException as exc:
                raise _Transient(f"Jenkins: {what}: {type(exc).__name__}") from None

        try:
            return tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(_Transient),
                wait=tenacity.wait_exponential(multiplier=0.3, max=4),
                stop=tenacity.stop_after_attempt(4) | tenacity.stop_before_delay(self.retry_seconds),
                reraise=True,
            )(once)
        except _Transient as exc:
            raise JenkinsError(str(exc)) from None

    def _one_line(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split("\n", 1)[0].split())[:300] or type(exc).__name__
        for s in self._secrets:
            text = text.replace(s, "***")
        return text
