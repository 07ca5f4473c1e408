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

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import jenkins
import requests
import tenacity

from .lifecycle import Build
from .trello import scrub

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


class JenkinsSettingError(JenkinsError):
    """A setting is wrong (``JENKINS_URL`` is no Jenkins, credentials refused, job unknown): exit 2."""


_STATUS = re.compile(r"\[(\d{3})\]")


def connection_problem(exc: BaseException) -> str:
    """A short reason for a failed connection, without urllib3's connection-pool dump (pure)."""
    text = repr(exc)
    if isinstance(exc, (requests.Timeout, jenkins.TimeoutException)) or "timed out" in text.lower():
        return "timed out"
    for needle, reason in (("Name or service not known", "host does not resolve"),
                           ("nodename nor servname", "host does not resolve"),
                           ("getaddrinfo failed", "host does not resolve"),
                           ("Temporary failure in name resolution", "host does not resolve"),
                           ("Connection refused", "connection refused"),
                           ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
                           ("SSLError", "TLS handshake failed"),
                           ("RemoteDisconnected", "connection closed without an answer"),
                           ("Connection reset", "connection reset"),
                           ("Connection aborted", "connection closed without an answer")):
        if needle in text:
            return reason
    return "connection failed"


def jenkins_status(exc: BaseException) -> int | None:
    """The HTTP status inside a python-jenkins error ("... authentication failed [500]: ..."), if any."""
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return int(response.status_code)
    match = _STATUS.search(str(exc).split("\n", 1)[0])
    return int(match.group(1)) if match else None


def parent_of(job: str) -> tuple[str, str]:
    """``team/app`` -> (``job/team``, ``app``); a top-level job's parent is the root (``""``)."""
    parts = job.split("/")
    return "/".join("job/" + p for p in parts[:-1]), parts[-1]


class JenkinsReader:
    """The reads the notifier needs, with timeouts and bounded retries; errors name ``JENKINS_URL``."""

    def __init__(self, url: str, user: str | None = None, token: str | None = None, *,
                 timeout: float = 10.0, retry_seconds: float = 30.0) -> None:
        self.url = url
        self.user = user
        self._secrets = tuple(s for s in (token,) if s)
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.attempts = 0  # requests tried by the last _call (retries included)
        self.server = jenkins.Jenkins(url, username=user, password=token, timeout=timeout)
        self.server.crumb = False  # reads need no CSRF crumb: save the extra request

    def __repr__(self) -> str:
        return f"JenkinsReader(url={self.url!r}, user={self.user!r})"

    def builds(self, job: str, around: int | None = None) -> list[BuildDetail]:
        """The job's newest builds (up to Jenkins' 100), one request.

        A server that ignores ``tree`` answers with bare ``{number, url}``
        build references; then the builds near ``around`` (newer ones
        included: they decide whether this build is late) are read one by one,
        slower but still right.
        """
        doc = self._call(f"read builds of {job!r}", lambda: self.server.get_info(
            item=job_path(job), query="?tree=" + BUILDS_TREE))
        raw = doc.get("builds") if isinstance(doc, dict) else None
        if isinstance(raw, list) and raw and all(isinstance(b, dict) and "building" not in b for b in raw):
            numbers = sorted((b["number"] for b in raw if isinstance(b.get("number"), int)), reverse=True)
            if around is not None:
                numbers = [n for n in numbers if n <= around + 20]
            full = [self._call(f"read build {job!r} #{n}", lambda n=n: self.server.get_info(
                        item=f"{job_path(job)}/{n}", query="?tree=" + BUILDS_TREE[len("builds["):-1]))
                    for n in numbers[:25]]
            doc = {"builds": full}
        return parse_builds(doc)

    def test_summary(self, job: str, number: int) -> TestSummary | None:
        doc = self._call(f"read test report of {job!r} #{number}", lambda: self.server.get_build_test_report(
            job, number, tree=REPORT_TREE))
        return parse_report(doc)

    # ------------------------------------------------------------------ setting checks

    def _get(self, path: str) -> requests.Response:
        """One authenticated GET relative to ``JENKINS_URL`` (python-jenkins' auth, no crumb)."""
        return self.server.jenkins_request(requests.Request("GET", urljoin(self.server.server, path)),
                                           add_crumb=False)

    def version(self) -> str:
        """The ``X-Jenkins`` version header of the root: proof that ``JENKINS_URL`` is a Jenkins.

        A wrong context path, a proxy's error page or another web server would
        answer 404 for every job; without this check that looks like "every job
        was deleted". Raises ``JenkinsSettingError`` when the root is no Jenkins.
        """
        def probe() -> str:
            try:
                resp = self._get("api/json?tree=mode")
            except jenkins.NotFoundException:
                raise JenkinsSettingError(self._not_jenkins("HTTP 404 at its root")) from None
            version = resp.headers.get("X-Jenkins")
            if not version:
                raise JenkinsSettingError(self._not_jenkins(f"HTTP {resp.status_code} without an X-Jenkins header"))
            return version

        return self._call("read the root", probe)

    def job_gone(self, job: str) -> bool:
        """True only when the nearest readable ancestor (a folder or the root) does not list the job.

        Called after the job answered 404. A folder that answers 404 too is
        looked up in its own parent; a parent that lists the job (or cannot be
        read) means "not known to be gone".
        """
        parts = job.split("/")
        for depth in range(len(parts) - 1, -1, -1):
            parent = "/".join("job/" + p for p in parts[:depth])
            path = (parent + "/" if parent else "") + "api/json?tree=jobs[name]"
            try:
                doc = self._call(f"read the folder of {job!r}", lambda path=path: json.loads(self._get(path).text))
            except JobNotFound:
                if depth == 0:
                    raise JenkinsSettingError(self._not_jenkins("HTTP 404 at its root")) from None
                continue
            except ValueError:
                raise JenkinsSettingError(self._not_jenkins("its folder listing is not JSON")) from None
            jobs = doc.get("jobs") if isinstance(doc, dict) else None
            if not isinstance(jobs, list):
                raise JenkinsSettingError(self._not_jenkins("its folder listing has no jobs"))
            names = {j.get("name") for j in jobs if isinstance(j, dict)}
            return parts[depth] not in names
        return False

    def whoami(self) -> str:
        """The user Jenkins sees for these credentials (``anonymous`` without any)."""
        doc = self._call("read who am I", lambda: json.loads(self._get("whoAmI/api/json").text))
        return str((doc or {}).get("id") or (doc or {}).get("name") or "anonymous")

    def job_visible(self, job: str) -> bool:
        """Does ``job`` exist and is it readable with these credentials?"""
        try:
            self._call(f"read job {job!r}", lambda: self.server.get_info(item=job_path(job), query="?tree=name"))
        except JobNotFound:
            return False
        return True

    # ------------------------------------------------------------------ plumbing

    def _not_jenkins(self, why: str) -> str:
        return (f"JENKINS_URL {self.url} does not answer as a Jenkins ({why}): set it to the Jenkins root URL as "
                "the browser shows it, context path included (e.g. https://ci.example.com/jenkins/)")

    def _refused(self, code: int) -> str:
        if code == 401:
            return (f"JENKINS_API_TOKEN: Jenkins at JENKINS_URL {self.url} refuses JENKINS_USER / "
                    "JENKINS_API_TOKEN (HTTP 401): create a new API token for that user")
        who = f"JENKINS_USER {self.user!r}" if self.user else "anonymous (JENKINS_USER not set)"
        return (f"JENKINS_USER: {who} may not read Jenkins at JENKINS_URL {self.url} (HTTP 403): "
                "give the user Overall/Read and Job/Read, or set JENKINS_USER and JENKINS_API_TOKEN")

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        where = f"Jenkins at JENKINS_URL {self.url}: {what}"
        self.attempts = 0

        def once() -> Any:
            self.attempts += 1
            try:
                return fn()
            except jenkins.NotFoundException:
                raise JobNotFound(f"{where}: not found (HTTP 404)") from None
            except (jenkins.TimeoutException, requests.Timeout):
                raise _Transient(f"{where}: timed out after {self.timeout:g} s") from None
            except requests.ConnectionError as exc:
                raise _Transient(f"{where}: {connection_problem(exc)}") from None
            except requests.HTTPError as exc:
                code = jenkins_status(exc)
                if code is not None and (code >= 500 or code == 429):
                    raise _Transient(f"{where}: HTTP {code}") from None
                raise JenkinsError(f"{where}: HTTP {code}") from None
            except jenkins.BadHTTPException:
                raise _Transient(f"{where}: bad HTTP answer") from None
            except jenkins.JenkinsException as exc:
                code = jenkins_status(exc)
                if code is not None and code >= 500:
                    raise _Transient(f"{where}: HTTP {code}") from None
                if code in (401, 403):
                    raise JenkinsSettingError(self._refused(code)) from None
                if "parse JSON" in str(exc):
                    raise JenkinsError(f"{where}: the answer was not JSON") from None
                raise JenkinsError(f"{where}: {self._one_line(exc)}") from None
            except requests.RequestException as exc:
                raise _Transient(f"{where}: {type(exc).__name__}") from None

        try:
            return tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(_Transient),
                wait=tenacity.wait_exponential(multiplier=0.3, max=4),
                stop=tenacity.stop_before_delay(self.retry_seconds),
                reraise=True,
            )(once)
        except _Transient as exc:
            tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
            raise JenkinsError(f"{exc} ({tries} in {self.retry_seconds:g} s)") from None

    def _one_line(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split("\n", 1)[0].split())[:300] or type(exc).__name__
        return scrub(text, self._secrets)
