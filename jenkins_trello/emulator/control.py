"""Telling the Jenkins emulator about builds from outside its process: the ``/_emulator/`` HTTP surface.

Why: a person replaying a lifecycle by hand (README, "Try it by hand") runs the
emulator as its own process, so the Python control API (``start_build``,
``record_tests``, ``finish_build``) is out of reach. The same operations are
JSON POSTs under ``/_emulator/``, a path real Jenkins does not serve, behind
the emulator's own HTTP Basic check when it has one:

=============================  ==========================================================
``POST /_emulator/jobs``       ``{"job": "team/app"}``: create the job (and its folders)
``POST /_emulator/builds``     ``{"job", "changes"?, "tests"?, "result"?, "running"?}``:
                               start the next build, attach its changes and test report,
                               and (with ``result``, unless ``running``) finish it
``POST /_emulator/finish``     ``{"job", "number", "result", "tests"?}``: finish a build
``GET /_emulator/builds``      ``?job=team/app``: the job's builds, newest first
=============================  ==========================================================

``changes`` are ``{"msg", "author", "authorEmail"?, "commitId"?}``; ``tests`` is
``{"passed": int, "skipped": int, "failed": [["class", "name"], ...]}``. The
parsing of the command line's short forms (``--change EMAIL:MESSAGE``,
``--failing-test pkg.Class.test``) lives here too, pure, so the client command
and the tests share it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["build_request", "parse_change", "parse_failing_test", "tests_report"]


def parse_change(spec: str) -> dict[str, str]:
    """``alice@example.com:Fix the parser`` (or ``Alice Lee:Fix the parser``) as a change set entry.

    The author's name is the address's local part when an address is given;
    the commit id is a stable digest of the spec, so a replay shows the same ids.
    """
    who, sep, msg = spec.partition(":")
    who, msg = who.strip(), msg.strip()
    if not sep or not who or not msg:
        raise ValueError(f"--change {spec!r}: write AUTHOR:MESSAGE, e.g. 'alice@example.com:Fix the parser'")
    change = {"msg": msg, "commitId": hashlib.sha1(spec.encode("utf-8")).hexdigest()}
    if "@" in who:
        change["author"] = who.split("@", 1)[0]
        change["authorEmail"] = who
    else:
        change["author"] = who
    return change


def parse_failing_test(spec: str) -> list[str]:
    """``app.tests.ParserTest.test_unicode`` as ``[class, name]`` (the last dot splits them)."""
    cls, _, name = spec.strip().rpartition(".")
    if not cls or not name:
        raise ValueError(f"--failing-test {spec!r}: write CLASS.TEST, e.g. 'app.tests.ParserTest.test_unicode'")
    return [cls, name]


def tests_report(failing: Sequence[str], passed: int = 0, skipped: int = 0) -> dict[str, Any]:
    """The ``tests`` body for failing test specs and the passed / skipped counts."""
    if passed < 0 or skipped < 0:
        raise ValueError("--passed and --skipped count tests: 0 or more")
    return {"passed": passed, "skipped": skipped, "failed": [parse_failing_test(s) for s in failing]}


def _tests(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("tests must be an object {passed, skipped, failed}")
    failed = value.get("failed", [])
    if not isinstance(failed, list) or not all(
            isinstance(f, (list, tuple)) and len(f) in (2, 3) and all(isinstance(x, str) for x in f) for f in failed):
        raise ValueError("tests.failed must be a list of [class, name] pairs")
    counts = {k: value.get(k, 0) for k in ("passed", "skipped")}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
        raise ValueError("tests.passed and tests.skipped must be counts (0 or more)")
    return {**counts, "failed": [list(f) for f in failed]}


def _changes(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, Mapping) for c in value):
        raise ValueError("changes must be a list of {msg, author, authorEmail?, commitId?}")
    out = []
    for c in value:
        if not isinstance(c.get("msg"), str) or not isinstance(c.get("author"), str):
            raise ValueError("each change needs msg and author (text)")
        out.append({k: str(c[k]) for k in ("msg", "author", "authorEmail", "commitId") if c.get(k) is not None})
    return out


def build_request(body: Any, results: Sequence[str]) -> dict[str, Any]:
    """A ``/_emulator/builds`` or ``/_emulator/finish`` body checked field by field (ValueError says which)."""
    if not isinstance(body, Mapping):
        raise ValueError("the body must be a JSON object")
    job = body.get("job")
    if not isinstance(job, str) or not job.strip("/"):
        raise ValueError("job must be the job's full name, e.g. team/app")
    result = body.get("result")
    if result is not None and (not isinstance(result, str) or result.upper() not in results):
        raise ValueError(f"result must be one of {', '.join(results)}")
    number = body.get("number")
    if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 1):
        raise ValueError("number must be a build number (1 or more)")
    return {"job": job.strip("/"), "result": result.upper() if result else None, "number": number,
            "running": bool(body.get("running")), "tests": _tests(body.get("tests")),
            "changes": _changes(body.get("changes"))}
