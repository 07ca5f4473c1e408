"""A local Jenkins that serves the JSON remote-access API over a real socket.

Why: the notifier's correctness hangs on Jenkins details that mocks get wrong
— folder and multibranch full names whose branch segment holds a literal
``%2F`` (``%252F`` on the wire), builds that are still ``building`` while
already carrying a result, ``builds`` capped at the 100 newest, the ``tree``
filter with nested properties and ``{M,N}`` ranges, test reports that are 404
when no ``junit`` step ran, and python-jenkins' crumb request.  The real
python-jenkins client works against this server unchanged.

The object graph is rendered the way Jenkins' exporter does it: at the
default ``depth=0`` nested objects show only their summary (a build inside a
job is ``{_class, number, url}``), while ``tree`` can reach any property of
any nested object (``builds[number,result]``).  ``_class`` is written where
Jenkins writes it.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Union
from urllib.parse import quote, unquote

from . import control
from ._http import BaseEmulator, Request, Response

__all__ = ["JenkinsEmulator", "parse_tree"]

JENKINS_VERSION = "2.462.3"

_FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
_MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
_ORGANIZATION = "jenkins.branch.OrganizationFolder"
_JOB = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
_RUN = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
_FOLDER_KINDS = {"folder": _FOLDER, "multibranch": _MULTIBRANCH, "organization": _ORGANIZATION}
_RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED")
_COLORS = {"SUCCESS": "blue", "UNSTABLE": "yellow", "FAILURE": "red", "NOT_BUILT": "notbuilt", "ABORTED": "aborted"}
_PERMALINKS = (
    "lastBuild",
    "lastCompletedBuild",
    "lastFailedBuild",
    "lastStableBuild",
    "lastSuccessfulBuild",
    "lastUnstableBuild",
    "lastUnsuccessfulBuild",
    "firstBuild",
)


# ----------------------------------------------------------------------
# the exporter: beans, default rendering, tree rendering


class _Bean:
    """An exported object: a class name, a property getter and a summary.

    ``summary`` lists the properties shown when the bean is nested at the
    default depth (None: all of them); ``hidden`` properties only appear when
    ``tree`` names them (like ``allBuilds``).
    """

    __slots__ = ("cls", "getter", "summary", "hidden", "brief")

    def __init__(
        self,
        cls: str | None,
        getter: Callable[[], dict[str, Any]],
        summary: tuple[str, ...] | None = None,
        hidden: frozenset[str] = frozenset(),
        brief: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.cls = cls
        self.getter = getter
        self.summary = summary
        self.hidden = hidden
        # cheap getter of just the summary properties (a job lists 100 builds)
        self.brief = brief


class _Lazy:
    """A property value computed only when rendered (e.g. a job's builds)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn


def _unlazy(value: Any) -> Any:
    return value.fn() if isinstance(value, _Lazy) else value


def _render_full(bean: _Bean | dict[str, Any], depth: int) -> dict[str, Any]:
    if isinstance(bean, _Bean):
        props = bean.getter()
        out: dict[str, Any] = {"_class": bean.cls} if bean.cls else {}
        for key, value in props.items():
            if key not in bean.hidden:
                out[key] = _render_child(_unlazy(value), depth)
        return out
    return {key: _render_child(_unlazy(value), depth) for key, value in bean.items()}


def _render_child(value: Any, depth: int) -> Any:
    if isinstance(value, _Bean):
        if depth > 0 or value.summary is None:
            return _render_full(value, max(depth - 1, 0))
        props = value.brief() if value.brief is not None else value.getter()
        out: dict[str, Any] = {"_class": value.cls} if value.cls else {}
        for key in value.summary:
            if key in props:
                out[key] = _render_child(_unlazy(props[key]), 0)
        return out
    if isinstance(value, dict):
        return _render_full(value, depth)
    if isinstance(value, (list, tuple)):
        return [_render_child(v, depth) for v in value]
    return value


_TreeSpec = list[tuple[str, Union["_TreeSpec", None], Union[tuple[Union[int, None], Union[int, None]], None]]]
_TREE_TOKEN = re.compile(r"\s*([^\s,\[\]{}]+)\s*")
_RANGE = re.compile(r"\{\s*(\d*)\s*(,?)\s*(\d*)\s*\}")


def parse_tree(text: str) -> _TreeSpec:
    """Parse Jenkins' ``tree`` syntax: ``a,b[c,d[e]]{0,10},f{3}``.

    Ranges follow Jenkins: ``{M,N}`` M inclusive to N exclusive, ``{M,}``,
    ``{,N}`` and ``{N}`` (just element N).  Raises ValueError when malformed.
    """
    spec, pos = _parse_tree_list(text, 0)
    if text[pos:].strip():
        raise ValueError(f"unexpected {text[pos:]!r} in tree")
    return spec


def _parse_tree_list(text: str, pos: int) -> tuple[_TreeSpec, int]:
    items: _TreeSpec = []
    while True:
        match = _TREE_TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"property name expected at {pos} in tree")
        name = match.group(1)
        pos = match.end()
        sub: _TreeSpec | None = None
        rng: tuple[int | None, int | None] | None = None
        if pos < len(text) and text[pos] == "[":
            sub, pos = _parse_tree_list(text, pos + 1)
            if pos >= len(text) or text[pos] != "]":
                raise ValueError("missing ] in tree")
            pos += 1
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == "{":
            rmatch = _RANGE.match(text, pos)
            if not rmatch or not (rmatch.group(1) or rmatch.group(3)):
                raise ValueError("bad range in tree")
            low, comma, high = rmatch.groups()
            if comma:
                rng = (int(low) if low else None, int(high) if high else None)
            else:
                rng = (int(low), int(low) + 1)
            pos = rmatch.end()
        items.append((name, sub, rng))
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return items, pos


def _render_tree(value: _Bean | dict[str, Any], spec: _TreeSpec) -> dict[str, Any]:
    if isinstance(value, _Bean):
        props = value.getter()
        out: dict[str, Any] = {"_class": value.cls} if value.cls else {}
    else:
        props = value
        out = {"_class": value["_class"]} if "_class" in value else {}
    wanted = {name: (sub, rng) for name, sub, rng in spec}
    star = wanted.get("*")
    for key, raw in props.items():
        if key == "_class":
            continue
        entry = wanted.get(key, star)
        if entry is None:
            continue
        out[key] = _tree_value(_unlazy(raw), entry[0], entry[1])
    return out


def _tree_value(value: Any, sub: _TreeSpec | None, rng: tuple[int | None, int | None] | None) -> Any:
    if isinstance(value, (list, tuple)):
        items = list(value)
        if rng is not None:
            items = items[rng[0] : rng[1]]
        return [_tree_value(v, sub, None) for v in items]
    if isinstance(value, (_Bean, dict)):
        return _render_tree(value, sub or [])
    return value


# ----------------------------------------------------------------------
# the model


@dataclass
class _Build:
    job: _Job
    number: int
    timestamp_ms: int
    changes: list[dict[str, Any]]
    building: bool = True
    result: str | None = None
    duration_ms: int = 0
    cases: list[dict[str, Any]] | None = None  # test report cases, None = no report
    culprits: list[dict[str, Any]] | None = None  # frozen when the build completes


@dataclass
class _Item:
    name: str
    parent: _Folder | None
    cls: str

    @property
    def path(self) -> list[str]:
        names: list[str] = []
        item: _Item | None = self
        while item is not None and item.parent is not None:
            names.append(item.name)
            item = item.parent
        return names[::-1]

    @property
    def full_name(self) -> str:
        return "/".join(self.path)

    @property
    def display_name(self) -> str:
        # Multibranch children are named by the encoded branch; they display the branch.
        if self.parent is not None and self.parent.cls == _MULTIBRANCH:
            return unquote(self.name)
        return self.name


@dataclass
class _Folder(_Item):
    children: dict[str, _Item] = field(default_factory=dict)


@dataclass
class _Job(_Item):
    builds: dict[int, _Build] = field(default_factory=dict)
    next_number: int = 1


def _user_id(name: str, email: str | None) -> str:
    if email and "@" in email:
        return email.split("@", 1)[0].lower()
    return re.sub(r"[^a-z0-9._-]+", "-", (name or "unknown").lower()).strip("-") or "unknown"


class _Error(Exception):
    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class JenkinsEmulator(BaseEmulator):
    """An in-memory Jenkins controller on ``http://127.0.0.1:PORT/``.

    With ``user`` and ``token`` set, every request needs HTTP Basic with
    them (wrong ones: 401; none: 403, anonymous lacks Overall/Read).
    ``crumbs=False`` makes ``/crumbIssuer/api/json`` a 404, as on a
    controller with CSRF protection off.  ``clock`` returns Unix seconds.
    """

    server_header = "Jetty(10.0.20)"
    default_random_kinds = ("500", "502", "503", "drop")

    def __init__(
        self,
        user: str | None = None,
        token: str | None = None,
        crumbs: bool = True,
        *,
        clock: Callable[[], float] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self._user = user
        self._token = token
        self.crumbs = crumbs
        self.clock: Callable[[], float] = clock or time.time
        self._crumb = secrets.token_hex(32)
        self._lock = threading.RLock()
        self._root = _Folder("", None, "hudson.model.Hudson")
        #: how many times the crumb issuer was asked (python-jenkins asks once per client).
        self.crumb_requests = 0

    def __repr__(self) -> str:  # never show the credentials
        state = f"url={self.url!r}" if self._server else "stopped"
        return f"<JenkinsEmulator {state}>"

    @property
    def url(self) -> str:
        """Base URL with the trailing slash, like ``JENKINS_URL``."""
        return f"{self.origin}/"

    @property
    def _base(self) -> str:
        return f"http://{self.host}:{self.port}/"

    # ------------------------------------------------------------------
    # Python control API

    def _find(self, full_name: str) -> _Item:
        item: _Item = self._root
        for name in full_name.strip("/").split("/"):
            if not isinstance(item, _Folder) or name not in item.children:
                raise KeyError(f"no such item: {full_name}")
            item = item.children[name]
        return item

    def _job(self, full_name: str) -> _Job:
        item = self._find(full_name)
        if not isinstance(item, _Job):
            raise KeyError(f"not a job: {full_name}")
        return item

    def _build(self, full_name: str, number: int) -> _Build:
        job = self._job(full_name)
        if number not in job.builds:
            raise KeyError(f"no build {number} of {full_name}")
        return job.builds[number]

    def add_folder(self, full_name: str, kind: str = "folder") -> dict[str, Any]:
        """Create a folder (``folder``, ``multibranch`` or ``organization``)."""
        if kind not in _FOLDER_KINDS:
            raise ValueError(f"kind must be one of {sorted(_FOLDER_KINDS)}")
        with self._lock:
            folder = self._ensure_folders(full_name.strip("/").split("/"), leaf_kind=_FOLDER_KINDS[kind])
            return {"name": folder.name, "fullName": folder.full_name, "url": self._item_url(folder)}

    def _ensure_folders(self, names: list[str], leaf_kind: str | None = None, auto_kind: str = _FOLDER) -> _Folder:
        """Walk ``names`` from the root, creating missing folders.

        The last one is created as ``leaf_kind`` (or ``auto_kind``), the
        ones above it as plain folders.
        """
        folder = self._root
        for i, name in enumerate(names):
            child = folder.children.get(name)
            if child is None:
                kind = (leaf_kind or auto_kind) if i == len(names) - 1 else _FOLDER
                child = _Folder(name, folder, kind)
                folder.children[name] = child
            if not isinstance(child, _Folder):
                raise ValueError(f"{'/'.join(names[: i + 1])} is a job, not a folder")
            folder = child
        return folder

    def add_job(self, full_name: str) -> dict[str, Any]:
        """Create a pipeline job, and any missing parent folders.

        Parents are plain folders, except that the direct parent of a job
        whose name holds an encoded slash (``feature%2Fx``) is created as a
        multibranch project, as Jenkins' branch API would have it.
        """
        names = full_name.strip("/").split("/")
        with self._lock:
            parent_kind = _MULTIBRANCH if "%" in names[-1] and len(names) > 1 else _FOLDER
            parent = self._ensure_folders(names[:-1], auto_kind=parent_kind) if len(names) > 1 else self._root
            job = parent.children.get(names[-1])
            if job is None:
                job = _Job(names[-1], parent, _JOB)
                parent.children[names[-1]] = job
            elif not isinstance(job, _Job):
                raise ValueError(f"{full_name} is a folder")
            return {"name": job.name, "fullName": job.full_name, "url": self._item_url(job)}

    def delete_job(self, full_name: str) -> None:
        """Delete a job or folder (as a multibranch scan does for a gone branch)."""
        with self._lock:
            item = self._find(full_name)
            assert item.parent is not None
            del item.parent.children[item.name]

    def start_build(
        self, full_name: str, changes: list[dict[str, Any]] | None = None, *, timestamp: float | None = None
    ) -> int:
        """Start the next build (``building: true, result: null``); its number.

        ``changes``: dicts with ``msg``, ``author``, ``commitId``,
        ``authorEmail`` (and optionally ``timestamp`` in ms).
        """
        with self._lock:
            try:
                job = self._job(full_name)
            except KeyError:
                self.add_job(full_name)
                job = self._job(full_name)
            number = job.next_number
            job.next_number += 1
            ts = int((self.clock() if timestamp is None else timestamp) * 1000)
            job.builds[number] = _Build(job, number, ts, [dict(c) for c in (changes or [])])
            return number

    def set_result_while_building(self, full_name: str, number: int, result: str) -> None:
        """Give a running build a result (junit's UNSTABLE, post's logical result)."""
        result = self._check_result(result)
        with self._lock:
            build = self._build(full_name, number)
            build.result = result

    def record_tests(self, full_name: str, number: int, tests: dict[str, Any]) -> None:
        """Attach a test report (the ``junit`` step runs before ``post``)."""
        with self._lock:
            build = self._build(full_name, number)
            build.cases = self._make_cases(build, tests)

    def finish_build(
        self,
        full_name: str,
        number: int,
        result: str,
        tests: dict[str, Any] | None = None,
        *,
        duration_ms: int | None = None,
    ) -> None:
        """Complete a build (``building: false``) with ``result``.

        ``tests``: ``{"passed": int, "skipped": int, "failed": [(class, name), ...]}``
        produces a junit report; without it (and without ``record_tests``)
        the report is a 404.
        """
        result = self._check_result(result)
        with self._lock:
            build = self._build(full_name, number)
            if tests is not None:
                build.cases = self._make_cases(build, tests)
            build.result = result
            build.building = False
            build.duration_ms = (
                duration_ms if duration_ms is not None else max(int(self.clock() * 1000) - build.timestamp_ms, 1)
            )
            build.culprits = self._culprits(build)

    def add_build(
        self,
        full_name: str,
        result: str,
        tests: dict[str, Any] | None = None,
        changes: list[dict[str, Any]] | None = None,
    ) -> int:
        """Start and finish a build in one call; its number."""
        number = self.start_build(full_name, changes)
        self.finish_build(full_name, number, result, tests)
        return number

    def builds(self, full_name: str) -> list[dict[str, Any]]:
        """Every build of a job as its API JSON, newest first."""
        with self._lock:
            job = self._job(full_name)
            return [_render_full(self._build_bean(b), 0) for b in reversed(job.builds.values())]

    def jobs(self) -> list[str]:
        """Full names of every job (not folders)."""
        with self._lock:
            out: list[str] = []

            def walk(folder: _Folder) -> None:
                for child in folder.children.values():
                    if isinstance(child, _Folder):
                        walk(child)
                    else:
                        out.append(child.full_name)

            walk(self._root)
            return out

    @staticmethod
    def _check_result(result: str) -> str:
        value = result.upper()
        if value not in _RESULTS:
            raise ValueError(f"result must be one of {_RESULTS}")
        return value

    # ------------------------------------------------------------------
    # derived state (lock held)

    @staticmethod
    def _previous_completed(build: _Build) -> _Build | None:
        for n in sorted((n for n in build.job.builds if n < build.number), reverse=True):
            prev = build.job.builds[n]
            if not prev.building:
                return prev
        return None

    def _author(self, change: dict[str, Any]) -> dict[str, Any]:
        name = str(change.get("author") or "unknown")
        return {"absoluteUrl": f"{self._base}user/{_user_id(name, change.get('authorEmail'))}", "fullName": name}

    def _culprits(self, build: _Build) -> list[dict[str, Any]]:
        """Authors of this build's changes plus the previous completed build's
        culprits when that build was worse than SUCCESS (RunWithSCM)."""
        if build.culprits is not None:
            return build.culprits
        seen: dict[str, dict[str, Any]] = {}
        for change in build.changes:
            author = self._author(change)
            seen.setdefault(author["fullName"], author)
        prev = self._previous_completed(build)
        if prev is not None and prev.result not in (None, "SUCCESS"):
            for author in self._culprits(prev):
                seen.setdefault(author["fullName"], author)
        return list(seen.values())

    def _make_cases(self, build: _Build, tests: dict[str, Any]) -> list[dict[str, Any]]:
        prev_cases: dict[tuple[str, str], dict[str, Any]] = {}
        for n in sorted((n for n in build.job.builds if n < build.number), reverse=True):
            if build.job.builds[n].cases is not None:
                prev_cases = {(c["className"], c["name"]): c for c in build.job.builds[n].cases or []}
                break
        cases: list[dict[str, Any]] = []
        failed_keys = set()
        for entry in tests.get("failed", []):
            class_name, name = str(entry[0]), str(entry[1])
            details = str(entry[2]) if len(entry) > 2 else f"AssertionError: {name} failed"
            failed_keys.add((class_name, name))
            prev = prev_cases.get((class_name, name))
            if prev is None:
                status, age, since = "FAILED", 1, build.number
            elif prev["status"] in ("FAILED", "REGRESSION"):
                status, age, since = "FAILED", prev["age"] + 1, prev["failedSince"]
            else:
                status, age, since = "REGRESSION", 1, build.number
            cases.append(self._case(class_name, name, status, age, since, details))
        passed = int(tests.get("passed", 0))
        fixed = [k for k, c in prev_cases.items() if c["status"] in ("FAILED", "REGRESSION") and k not in failed_keys]
        for class_name, name in fixed[:passed]:
            cases.append(self._case(class_name, name, "FIXED", 0, 0, None))
        for i in range(passed - min(len(fixed), passed)):
            cases.append(self._case("emulator.PassingTest", f"test_pass_{i}", "PASSED", 0, 0, None))
        for i in range(int(tests.get("skipped", 0))):
            cases.append(self._case("emulator.SkippedTest", f"test_skip_{i}", "SKIPPED", 0, 0, None))
        return cases

    @staticmethod
    def _case(class_name: str, name: str, status: str, age: int, since: int, details: str | None) -> dict[str, Any]:
        return {
            "testActions": [],
            "age": age,
            "className": class_name,
            "duration": 0.01,
            "errorDetails": details,
            "errorStackTrace": f"{details}\n\tat {class_name}.{name}" if details else None,
            "failedSince": since,
            "name": name,
            "skipped": status == "SKIPPED",
            "skippedMessage": None,
            "status": status,
            "stderr": None,
            "stdout": None,
        }

    @staticmethod
    def _counts(cases: list[dict[str, Any]]) -> tuple[int, int, int]:
        fail = sum(1 for c in cases if c["status"] in ("FAILED", "REGRESSION"))
        skip = sum(1 for c in cases if c["status"] == "SKIPPED")
        return fail, skip, len(cases) - fail - skip

    # ------------------------------------------------------------------
    # beans (lock held while rendering)

    def _item_url(self, item: _Item) -> str:
        return self._base + "".join(f"job/{quote(name, safe='')}/" for name in item.path)

    def _full_display_name(self, item: _Item) -> str:
        names = []
        node: _Item | None = item
        while node is not None and node.parent is not None:
            names.append(node.display_name)
            node = node.parent
        return " » ".join(reversed(names))

    def _color(self, job: _Job) -> str:
        last = self._permalink(job, "lastCompletedBuild")
        color = _COLORS.get(last.result or "", "notbuilt") if last else "notbuilt"
        if any(b.building for b in job.builds.values()):
            color += "_anime"
        return color

    def _permalink(self, job: _Job, name: str) -> _Build | None:
        # builds are inserted in number order, so the dict is already sorted
        if name == "lastBuild":
            return next(reversed(job.builds.values()), None)
        if name == "firstBuild":
            return next(iter(job.builds.values()), None)
        done = (b for b in reversed(job.builds.values()) if not b.building)
        wanted: Callable[[_Build], bool] = {
            "lastCompletedBuild": lambda b: True,
            "lastSuccessfulBuild": lambda b: b.result in ("SUCCESS", "UNSTABLE"),
            "lastStableBuild": lambda b: b.result == "SUCCESS",
            "lastFailedBuild": lambda b: b.result == "FAILURE",
            "lastUnstableBuild": lambda b: b.result == "UNSTABLE",
            "lastUnsuccessfulBuild": lambda b: b.result != "SUCCESS",
        }[name]
        return next((b for b in done if wanted(b)), None)

    def _item_bean(self, item: _Item) -> _Bean:
        if isinstance(item, _Job):
            return self._job_bean(item)
        assert isinstance(item, _Folder)
        return self._folder_bean(item)

    def _folder_bean(self, folder: _Folder) -> _Bean:
        def props() -> dict[str, Any]:
            url = self._item_url(folder) if folder.parent else self._base
            jobs = _Lazy(lambda: [self._item_bean(c) for c in folder.children.values()])
            view = {"_class": "hudson.model.AllView", "name": "All", "url": url}
            if folder.parent is None:
                return {
                    "assignedLabels": [{"name": "built-in"}],
                    "mode": "NORMAL",
                    "nodeDescription": "the Jenkins controller's built-in node",
                    "nodeName": "",
                    "numExecutors": 2,
                    "description": None,
                    "jobs": jobs,
                    "overallLoad": {},
                    "primaryView": view,
                    "quietDownReason": None,
                    "quietingDown": False,
                    "slaveAgentPort": -1,
                    "unlabeledLoad": {"_class": "jenkins.model.UnlabeledLoadStatistics"},
                    "url": url,
                    "useCrumbs": self.crumbs,
                    "useSecurity": self._user is not None,
                    "views": [view],
                }
            return {
                "actions": [{}, {"_class": "com.cloudbees.plugins.credentials.ViewCredentialsAction"}],
                "description": None,
                "displayName": folder.display_name,
                "displayNameOrNull": None,
                "fullDisplayName": self._full_display_name(folder),
                "fullName": folder.full_name,
                "name": folder.name,
                "url": url,
                "healthReport": [],
                "jobs": jobs,
                "primaryView": view,
                "views": [view],
            }

        def brief() -> dict[str, Any]:
            return {"name": folder.name, "url": self._item_url(folder)}

        return _Bean(folder.cls, props, summary=("name", "url"), brief=brief)

    def _build_ref(self, build: _Build | None) -> _Bean | None:
        return self._build_bean(build) if build is not None else None

    def _job_bean(self, job: _Job) -> _Bean:
        def props() -> dict[str, Any]:
            def newest(limit: int | None) -> list[_Bean]:
                ordered = reversed(job.builds.values())  # inserted in number order
                return [self._build_bean(b) for b in itertools.islice(ordered, limit)]

            out: dict[str, Any] = {
                "actions": [{}, {"_class": "org.jenkinsci.plugins.displayurlapi.actions.JobDisplayAction"}],
                "description": None,
                "displayName": job.display_name,
                "displayNameOrNull": None,
                "fullDisplayName": self._full_display_name(job),
                "fullName": job.full_name,
                "name": job.name,
                "url": self._item_url(job),
                "buildable": True,
                "builds": _Lazy(lambda: newest(100)),
                "color": self._color(job),
                "firstBuild": _Lazy(lambda: self._build_ref(self._permalink(job, "firstBuild"))),
                "healthReport": [],
                "inQueue": False,
                "keepDependencies": False,
            }
            for name in _PERMALINKS[:-1]:
                out[name] = _Lazy(lambda name=name: self._build_ref(self._permalink(job, name)))
            out.update(
                {
                    "nextBuildNumber": job.next_number,
                    "property": [],
                    "queueItem": None,
                    "concurrentBuild": True,
                    "resumeBlocked": False,
                    "allBuilds": _Lazy(lambda: newest(None)),
                }
            )
            return out

        def brief() -> dict[str, Any]:
            return {"name": job.name, "url": self._item_url(job), "color": self._color(job)}

        return _Bean(_JOB, props, summary=("name", "url", "color"), hidden=frozenset({"allBuilds"}), brief=brief)

    def _build_bean(self, build: _Build) -> _Bean:
        def props() -> dict[str, Any]:
            actions: list[dict[str, Any]] = [
                {
                    "_class": "hudson.model.CauseAction",
                    "causes": [
                        {
                            "_class": "hudson.model.Cause$UserIdCause",
                            "shortDescription": "Started by user emulator",
                            "userId": "emulator",
                            "userName": "emulator",
                        }
                    ],
                },
                {},
            ]
            if build.cases is not None:
                fail, skip, _ = self._counts(build.cases)
                actions.append(
                    {
                        "_class": "hudson.tasks.junit.TestResultAction",
                        "failCount": fail,
                        "skipCount": skip,
                        "totalCount": len(build.cases),
                        "urlName": "testReport",
                    }
                )
            actions.append({"_class": "org.jenkinsci.plugins.displayurlapi.actions.RunDisplayAction"})
            job = build.job
            return {
                "actions": actions,
                "artifacts": [],
                "building": build.building,
                "description": None,
                "displayName": f"#{build.number}",
                "duration": 0 if build.building else build.duration_ms,
                "estimatedDuration": 60000,
                "executor": {} if build.building else None,
                "fullDisplayName": f"{self._full_display_name(job)} #{build.number}",
                "id": str(build.number),
                "keepLog": False,
                "number": build.number,
                "queueId": build.number + 1000,
                "result": build.result,
                "timestamp": build.timestamp_ms,
                "url": f"{self._item_url(job)}{build.number}/",
                "changeSets": _Lazy(lambda: self._change_sets(build)),
                "culprits": _Lazy(lambda: self._culprits(build)),
                "inProgress": build.building,
                "nextBuild": _Lazy(lambda: self._neighbour(build, +1)),
                "previousBuild": _Lazy(lambda: self._neighbour(build, -1)),
            }

        def brief() -> dict[str, Any]:
            return {"number": build.number, "url": f"{self._item_url(build.job)}{build.number}/"}

        return _Bean(_RUN, props, summary=("number", "url"), brief=brief)

    def _neighbour(self, build: _Build, step: int) -> _Bean | None:
        numbers = sorted(build.job.builds)
        i = numbers.index(build.number) + step
        if 0 <= i < len(numbers):
            return self._build_bean(build.job.builds[numbers[i]])
        return None

    def _change_sets(self, build: _Build) -> list[dict[str, Any]]:
        if not build.changes:
            return []
        items = []
        for change in build.changes:
            ts = int(change.get("timestamp") or build.timestamp_ms)
            commit = str(change.get("commitId") or "")
            msg = str(change.get("msg") or "")
            items.append(
                {
                    "_class": "hudson.plugins.git.GitChangeSet",
                    "affectedPaths": list(change.get("affectedPaths", [])),
                    "commitId": commit,
                    "timestamp": ts,
                    "author": self._author(change),
                    "authorEmail": change.get("authorEmail"),
                    "comment": msg + "\n",
                    "date": datetime.fromtimestamp(ts / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000"),
                    "id": commit,
                    "msg": msg,
                    "paths": [],
                }
            )
        return [{"_class": "hudson.plugins.git.GitChangeSetList", "items": items, "kind": "git"}]

    def _report_bean(self, build: _Build) -> _Bean:
        cases = build.cases or []

        def props() -> dict[str, Any]:
            fail, skip, passed = self._counts(cases)
            suites: dict[str, list[dict[str, Any]]] = {}
            for case in cases:
                suites.setdefault(case["className"], []).append(case)
            return {
                "testActions": [],
                "duration": round(0.01 * len(cases), 3),
                "empty": not cases,
                "failCount": fail,
                "passCount": passed,
                "skipCount": skip,
                "suites": [
                    {
                        "cases": suite_cases,
                        "duration": round(0.01 * len(suite_cases), 3),
                        "enclosingBlockNames": [],
                        "enclosingBlocks": [],
                        "id": None,
                        "name": name,
                        "nodeId": None,
                        "stderr": None,
                        "stdout": None,
                        "timestamp": None,
                    }
                    for name, suite_cases in suites.items()
                ],
            }

        return _Bean("hudson.tasks.junit.TestResult", props)

    # ------------------------------------------------------------------
    # HTTP

    def _headers(self) -> list[tuple[str, str]]:
        return [("X-Jenkins", JENKINS_VERSION), ("X-Hudson", "1.395"), ("X-Jenkins-Session", "0e1d2c3b")]

    def _page(self, status: int, title: str, body: str, extra: Iterable[tuple[str, str]] = ()) -> Response:
        doc = f"<html><head><title>{html.escape(title)}</title></head><body>{body}</body></html>"
        return Response.html(status, doc, [*self._headers(), *extra])

    def _not_found(self, req: Request) -> Response:
        uri = html.escape(req.raw_path)
        body = (
            "<h2>HTTP ERROR 404 Not Found</h2><table><tr><th>URI:</th>"
            f"<td>{uri}</td></tr><tr><th>STATUS:</th><td>404</td></tr><tr><th>MESSAGE:</th><td>Not Found</td></tr>"
            '<tr><th>SERVLET:</th><td>Stapler</td></tr></table><hr/><a href="https://eclipse.org/jetty">'
            "Powered by Jetty:// 10.0.20</a><hr/>"
        )
        return self._page(404, "Error 404 Not Found", body)

    def fault_response(self, kind: str, req: Request) -> Response:
        """Injected failures: a reverse proxy's 502/503 pages, Jenkins' 500."""
        if kind == "500":
            return self._page(500, "Jenkins", "<h1>Oops!</h1><p>A problem occurred while processing the request.</p>")
        titles = {
            "502": "502 Bad Gateway",
            "503": "503 Service Temporarily Unavailable",
            "429": "429 Too Many Requests",
        }
        title = titles[kind]
        return Response.html(
            int(kind),
            f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1>"
            "</center><hr><center>nginx</center></body></html>",
        )

    def _check_auth(self, req: Request) -> Response | None:
        if self._user is None:
            return None
        header = req.headers.get("Authorization") or ""
        if not header.lower().startswith("basic "):
            body = (
                "<p>Authentication required</p><!-- You are authenticated as: anonymous\n"
                "Groups that you are in:\n\nPermission you need to have (but didn't): hudson.model.Hudson.Read\n -->"
            )
            return self._page(
                403,
                "Authentication required",
                body,
                [
                    ("X-You-Are-Authenticated-As", "anonymous"),
                    ("X-You-Are-In-Group-Disabled", "JENKINS-39402: use -Dhudson.security.AccessDeniedException2"),
                    ("X-Required-Permission", "hudson.model.Hudson.Read"),
                    ("X-Permission-Implied-By", "hudson.security.Permission.GenericRead"),
                ],
            )
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        if user != self._user or password != self._token:
            who = html.escape(user)
            return self._page(
                401,
                "Error 401 Invalid password/token for user: " + who,
                f"<h2>HTTP ERROR 401 Invalid password/token for user: {who}</h2>",
                [("WWW-Authenticate", 'Basic realm="Jenkins"')],
            )
        return None

    def handle(self, req: Request) -> Response:
        """Authenticate, then resolve ``job/<name>/…`` segments (each decoded once)."""
        refused = self._check_auth(req)
        if refused is not None:
            return refused
        if req.path.startswith("/_emulator/"):
            return self._control(req)
        if req.method not in ("GET", "HEAD"):
            return self._page(405, "Error 405", "<h2>HTTP ERROR 405 Method Not Allowed</h2>")
        segments = [unquote(s) for s in req.raw_path.split("/") if s]
        try:
            with self._lock:
                return self._route(req, segments)
        except _Error as err:
            if err.status == 404:
                return self._not_found(req)
            return self._page(
                err.status, f"Error {err.status}", f"<h2>HTTP ERROR {err.status}</h2><p>{html.escape(err.message)}</p>"
            )

    def _control(self, req: Request) -> Response:
        """The ``/_emulator/`` surface (see ``control.py``): the Python control API as JSON over HTTP."""
        what = req.path[len("/_emulator/"):].strip("/")
        try:
            if req.method == "GET" and what == "builds":
                job = req.query.get("job", "")
                return Response.json(200, {"job": job, "builds": self.builds(job)})
            if req.method != "POST":
                return Response.json(405, {"error": "POST a JSON body (GET only for /_emulator/builds?job=...)"})
            body = req.json_body()
            if what == "jobs":
                if not isinstance(body, dict) or not isinstance(body.get("job"), str) or not body["job"].strip("/"):
                    raise ValueError("job must be the job's full name, e.g. team/app")
                return Response.json(200, self.add_job(body["job"]))
            if what not in ("builds", "finish"):
                return Response.json(404, {"error": f"no /_emulator/{what}: use jobs, builds or finish"})
            spec = control.build_request(body, _RESULTS)
            job = spec["job"]
            if what == "builds":
                number = self.start_build(job, changes=spec["changes"])
                if spec["tests"] is not None:
                    self.record_tests(job, number, spec["tests"])
                if spec["result"] and not spec["running"]:
                    self.finish_build(job, number, spec["result"])
                elif spec["result"]:
                    self.set_result_while_building(job, number, spec["result"])
            else:
                number = spec["number"]
                if number is None or not spec["result"]:
                    raise ValueError("finish needs number and result")
                self.finish_build(job, number, spec["result"], spec["tests"])
            with self._lock:
                build = self._build(job, number)
                answer = {"job": job, "number": number, "url": f"{self._item_url(build.job)}{number}/",
                          "building": build.building, "result": build.result}
            return Response.json(200, answer)
        except ValueError as exc:
            return Response.json(400, {"error": str(exc)})
        except KeyError as exc:
            return Response.json(404, {"error": str(exc.args[0]) if exc.args else "not found"})

    def _route(self, req: Request, segments: list[str]) -> Response:
        if segments[:1] == ["crumbIssuer"]:
            if segments[1:] != ["api", "json"] or not self.crumbs:
                raise _Error(404)
            self.crumb_requests += 1
            return self._json(
                req,
                {
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": self._crumb,
                    "crumbRequestField": "Jenkins-Crumb",
                },
            )
        if segments[:1] in (["me"], ["whoAmI"]):
            if segments[1:] != ["api", "json"]:
                raise _Error(404)
            user = self._user or "anonymous"
            return self._json(
                req,
                _Bean(
                    "hudson.model.User",
                    lambda: {
                        "absoluteUrl": f"{self._base}user/{user}",
                        "description": None,
                        "fullName": user,
                        "id": user,
                        "property": [],
                    },
                ),
            )
        item: _Item = self._root
        i = 0
        while i < len(segments) and segments[i] in ("job", "view"):
            if i + 1 >= len(segments):
                raise _Error(404)
            if segments[i] == "job":
                if not isinstance(item, _Folder) or segments[i + 1] not in item.children:
                    raise _Error(404)
                item = item.children[segments[i + 1]]
            i += 2
        rest = segments[i:]
        bean: _Bean
        if isinstance(item, _Job) and rest and (rest[0].isdigit() or rest[0] in _PERMALINKS):
            selector = rest[0]
            build = item.builds.get(int(selector)) if selector.isdigit() else self._permalink(item, selector)
            if build is None:
                raise _Error(404)
            rest = rest[1:]
            if rest[:1] == ["testReport"]:
                if build.cases is None:
                    raise _Error(404)
                rest = rest[1:]
                bean = self._report_bean(build)
            else:
                bean = self._build_bean(build)
        else:
            bean = self._item_bean(item)
        if not rest:
            title = "Dashboard [Jenkins]" if not segments else "Jenkins"
            return self._page(200, title, "<p>emulated Jenkins; the API is under api/json</p>")
        if rest != ["api", "json"]:
            raise _Error(404)
        return self._json(req, bean)

    def _json(self, req: Request, value: _Bean | dict[str, Any]) -> Response:
        tree = req.query.get("tree")
        if tree:
            try:
                spec = parse_tree(tree)
            except ValueError as exc:
                raise _Error(400, str(exc)) from None
            payload = _render_tree(value, spec)
        else:
            try:
                depth = int(req.query.get("depth") or 0)
            except ValueError:
                raise _Error(400, "depth must be an integer") from None
            payload = _render_full(value, max(depth, 0)) if isinstance(value, _Bean) else dict(value)
        if req.query.get("pretty", "").lower() == "true":
            body = json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8")
        else:
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return Response(200, body, "application/json;charset=utf-8", self._headers())
