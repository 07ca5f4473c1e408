"""The Jenkins Notification plugin, as the tests (and the model-based test) play it.

``plugin_payload`` builds the JSON the plugin posts for one build, field for field
as its ``Phase.buildJobState`` does (jenkinsci/notification-plugin; samples in
tests/fixtures/jenkins-notification/): ``name`` is the job's own name, ``url`` its
URL relative to the root with each segment encoded once more, ``status`` only
when the build has a result. ``post_event`` sends it to a bridge the way the
plugin does: a POST with a JSON body and, since the plugin sends no header of
its own, the token in the URL's query.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import requests

JENKINS_TOKEN = "jenkins-hook-token-5f1e2d3c4b"


def job_url(job: str) -> str:
    """``Job.getUrl()``: ``job/<seg>/`` per level, each segment ``rawEncode``d (``feature%2Fx``: ``feature%252Fx``)."""
    return "".join(f"job/{quote(part, safe='')}/" for part in job.split("/"))


def plugin_payload(job: str, number: int, phase: str, status: str | None, root_url: str, *,
                   tests: dict[str, Any] | None = None, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The plugin's JSON for build ``number`` of ``job`` (full name) in ``phase``."""
    build_url = f"{job_url(job)}{number}/"
    build: dict[str, Any] = {
        "full_url": root_url.rstrip("/") + "/" + build_url,
        "number": number,
        "queue_id": 1000 + number,
        "phase": phase,
        "url": build_url,
        "timestamp": 1714557600000 + number,
        "duration": 1000,
        "scm": {"changes": [], "culprits": []},
        "log": "",
        "notes": None,
        "artifacts": {},
    }
    if status is not None:
        build["status"] = status
    if tests is not None:
        failed = [f"{cls}.{name}" for cls, name in tests.get("failed", [])]
        total = tests.get("passed", 0) + tests.get("skipped", 0) + len(failed)
        build["test_summary"] = {"total": total, "failed": len(failed), "passed": tests.get("passed", 0),
                                 "skipped": tests.get("skipped", 0), "failed_tests": failed}
    if parameters is not None:
        build["parameters"] = dict(parameters)
    return {"name": job.rsplit("/", 1)[-1], "url": job_url(job), "build": build}


def post_event(bridge_url: str, payload: dict[str, Any] | bytes, token: str | None = JENKINS_TOKEN,
               headers: dict[str, str] | None = None, session: requests.Session | None = None,
               timeout: float = 30.0) -> requests.Response:
    """POST one event to ``<bridge>/jenkins?token=…`` as the plugin does (Content-Type application/json)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    url = bridge_url + "/jenkins" + (f"?token={quote(token, safe='')}" if token is not None else "")
    sender = session or requests
    return sender.post(url, data=body, timeout=timeout,
                       headers={"Content-Type": "application/json;charset=UTF-8", **(headers or {})})
