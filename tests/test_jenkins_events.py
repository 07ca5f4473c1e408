"""The Notification plugin's JSON -> BuildEvent (pure): real samples, the full-name rules, hostile input.

Samples: tests/fixtures/jenkins-notification/ (their sources in SOURCES.md there).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grafana_bridge.auth import AuthConfig, check_query_token
from grafana_bridge.jenkins_events import BuildEvent, EventError, job_from_url, parse_event
from grafana_bridge.jenkins_hook import skip_reason
from jenkins_trello.cards import job_key

SAMPLES = Path(__file__).parent / "fixtures" / "jenkins-notification"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name, expected", [
    ("wiki-example.json", BuildEvent("asgard", 18, "COMPLETED", "SUCCESS", "http://localhost:8080/job/asgard/18/")),
    ("websocketin-subset.json",
     BuildEvent("asgard", 18, "COMPLETED", "SUCCESS", "http://localhost:8080/job/asgard/18/")),
    ("folder-completed-failure.json",
     BuildEvent("team/app", 12, "COMPLETED", "FAILURE", "https://ci.example.com/job/team/job/app/12/")),
    ("multibranch-finalized-success.json",
     BuildEvent("org/repo/feature%2Fx", 7, "FINALIZED", "SUCCESS",
                "https://ci.example.com/jenkins/job/org/job/repo/job/feature%252Fx/7/")),
    ("started-no-status.json",
     BuildEvent("team/app", 13, "STARTED", None, "https://ci.example.com/job/team/job/app/13/")),
])
def test_real_samples(name, expected):
    assert parse_event(sample(name)) == expected


def test_the_multibranch_key_is_the_one_notify_uses():
    # notify gets JOB_NAME=org/repo/feature%2Fx from Jenkins; the webhook must land on the same card
    event = parse_event(sample("multibranch-finalized-success.json"))
    assert job_key(event.job) == job_key("org/repo/feature%2Fx") == "job:org%2Frepo%2Ffeature%252Fx"


@pytest.mark.parametrize("url, number, job", [
    ("job/a/", None, "a"),
    ("job/a", None, "a"),
    ("/job/a/job/b/", None, "a/b"),
    ("job/a/job/b/12/", 12, "a/b"),
    ("http://ci:8080/jenkins/job/a/job/b/12/", 12, "a/b"),
    ("https://ci.example.com/view/All/job/a/", None, "a"),
    ("job/org/job/repo/job/feature%252Fx/", None, "org/repo/feature%2Fx"),
    ("job/My%20Job/", None, "My Job"),
    ("job/caf%C3%A9/", None, "café"),
    ("job/a/?x=1#frag", None, "a"),
    ("job/12/", None, "12"),          # a job named like a number, no build number given
    ("job/12/12/", 12, "12"),
])
def test_job_from_url(url, number, job):
    assert job_from_url(url, number) == job


@pytest.mark.parametrize("url", [
    "", "/", "jenkins/", "job/", "job/a/builds/", "job/a/job/", "job/a/12/",  # 12 not stripped: no number given
    "job/../", "job/%2E%2E/", "job/./", "job/a%2Fb/", "job/a%5Cb/", "job/%0A/", "job/%FF/",
    "job/a/view/b/", "job/" + "x" * 300 + "/", "job/a/" * 40,
])
def test_job_from_url_refuses(url):
    with pytest.raises(EventError):
        job_from_url(url)


def test_url_beats_name_and_build_url_is_the_fallback():
    doc = sample("folder-completed-failure.json")
    del doc["url"]
    assert parse_event(doc).job == "team/app"  # from build.url, number stripped
    del doc["build"]["url"]
    doc["name"] = "app"
    assert parse_event(doc).job == "app"  # name alone can only name a top-level job
    doc["name"] = "feature%2Fx"
    assert parse_event(doc).job == "feature%2Fx"  # a name is not URL-decoded: it is the raw item name


def test_name_must_agree_with_url():
    doc = sample("folder-completed-failure.json")
    doc["name"] = "other"
    with pytest.raises(EventError, match="last part"):
        parse_event(doc)


def test_branch_parameter_and_case():
    doc = sample("folder-completed-failure.json")
    doc["build"]["parameters"] = {"BRANCH_NAME": " release/1.x "}
    doc["build"]["phase"] = "completed"
    doc["build"]["status"] = "unstable"
    event = parse_event(doc)
    assert (event.branch, event.phase, event.status) == ("release/1.x", "COMPLETED", "UNSTABLE")


def _with(path: str, value: object) -> dict:
    doc = copy.deepcopy(sample("folder-completed-failure.json"))
    node = doc
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize("doc, reason", [
    ([], "not a JSON object"),
    ("COMPLETED", "not a JSON object"),
    ({"name": "x"}, "no 'build' object"),
    ({"build": []}, "no 'build' object"),
    (_with("build.number", KeyError), "build.number"),
    (_with("build.number", "12"), "build.number"),
    (_with("build.number", 12.0), "build.number"),
    (_with("build.number", True), "build.number"),
    (_with("build.number", 0), "out of range"),
    (_with("build.number", -3), "out of range"),
    (_with("build.number", 2**31), "out of range"),
    (_with("build.number", 10**400), "(huge)"),
    (_with("build.phase", KeyError), "build.phase"),
    (_with("build.phase", "DONE"), "is not one of"),
    (_with("build.phase", 3), "not a string"),
    (_with("build.status", "GREEN"), "not a Jenkins result"),
    (_with("build.status", ["FAILURE"]), "not a string"),
    (_with("name", 5), "not a string"),
    (_with("url", {"a": 1}), "not a string"),
    (_with("url", "job/../job/x/"), "no Jenkins job name"),
    (_with("url", "https://evil.example/"), "names no job"),
    ({"build": {"number": 1, "phase": "COMPLETED"}}, "names the job"),
    ({"name": "", "build": {"number": 1, "phase": "COMPLETED"}}, "names the job"),
    ({"name": "a/b", "build": {"number": 1, "phase": "COMPLETED"}}, "no Jenkins job name"),
    ({"name": "..", "build": {"number": 1, "phase": "COMPLETED"}}, "no Jenkins job name"),
])
def test_not_a_build_event(doc, reason):
    with pytest.raises(EventError) as err:
        parse_event(doc)
    assert reason in str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


def test_odd_but_harmless_fields_are_ignored():
    doc = sample("folder-completed-failure.json")
    doc["build"].update(full_url="javascript:alert(1)", parameters=["x"], scm=None, test_summary="x", artifacts=7)
    event = parse_event(doc)
    assert event.url == "" and event.branch is None  # a non-http URL is dropped: notify then takes Jenkins' own
    doc["build"]["parameters"] = {"BRANCH_NAME": 5}
    assert parse_event(doc).branch is None


@pytest.mark.parametrize("phase, status, why", [
    ("QUEUED", None, "phase QUEUED"),
    ("STARTED", None, "phase STARTED"),
    ("STARTED", "SUCCESS", "phase STARTED"),  # STARTED may carry a previous-looking status: never acted on
    ("NONE", "FAILURE", "phase NONE"),
    ("COMPLETED", None, "without a build status"),
    ("COMPLETED", "ABORTED", "result ABORTED"),
    ("FINALIZED", "NOT_BUILT", "result NOT_BUILT"),
    ("COMPLETED", "SUCCESS", None),
    ("COMPLETED", "FAILURE", None),
    ("FINALIZED", "UNSTABLE", None),
])
def test_skip_reason(phase, status, why):
    reason = skip_reason(BuildEvent("a", 1, phase, status))
    assert (reason is None) if why is None else (why in reason)


TOKEN = "jenkins-query-token-42"


@pytest.mark.parametrize("query, ok", [
    (f"token={TOKEN}", True),
    (f"a=1&token={TOKEN}", True),
    ("token=" + TOKEN.replace("-", "%2D"), True),  # percent-encoded is the same token
    ("token=wrong", False),
    (f"token={TOKEN}x", False),
    ("token=", False),
    (f"token={TOKEN}&token={TOKEN}", False),
    ("", False),
    ("tok=" + TOKEN, False),
    ("&".join(f"k{i}=v" for i in range(30)) + f"&token={TOKEN}", False),
    ("token=" + "x" * 10000, False),
])
def test_query_token(query, ok):
    reason = check_query_token(AuthConfig(jenkins_token=TOKEN), query)
    assert (reason is None) == ok
    assert reason is None or TOKEN not in reason


def test_query_token_off_without_the_variable():
    assert "not accepted" in check_query_token(AuthConfig(token="bearer"), f"token={TOKEN}")
    assert "***" in repr(AuthConfig(jenkins_token=TOKEN)) and TOKEN not in repr(AuthConfig(jenkins_token=TOKEN))
