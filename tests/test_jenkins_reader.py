"""The Jenkins reader at the HTTP layer (requests-mock under the real python-jenkins client)."""

from __future__ import annotations

import pytest
import requests

from jenkins_trello.jenkins import JenkinsError, JenkinsReader, JobNotFound

URL = "http://jenkins.test/"


def reader() -> JenkinsReader:
    return JenkinsReader(URL, "bot", "s3cret-token", timeout=1, retry_seconds=1)


def test_one_request_no_crumb_and_encoded_branch(requests_mock):
    m = requests_mock.get(URL + "job/org/job/repo/job/feature%252Fx/api/json",
                          json={"builds": [{"number": 2, "result": None, "building": True},
                                           {"number": 1, "result": "SUCCESS", "building": False}]})
    builds = reader().builds("org/repo/feature%2Fx")
    assert [b.number for b in builds] == [2, 1]
    assert requests_mock.call_count == 1 and "tree=" in m.last_request.url
    assert m.last_request.headers["Authorization"].startswith("Basic ")


def test_server_ignoring_tree_is_read_build_by_build(requests_mock):
    requests_mock.get(URL + "job/app/api/json", json={"builds": [{"number": 3, "url": "u3"}, {"number": 2}]})
    requests_mock.get(URL + "job/app/3/api/json", json={"number": 3, "result": None, "building": True})
    requests_mock.get(URL + "job/app/2/api/json", json={"number": 2, "result": "FAILURE", "building": False})
    builds = reader().builds("app", around=3)
    assert [(b.number, b.result, b.building) for b in builds] == [(3, None, True), (2, "FAILURE", False)]


def test_missing_job_and_server_errors(requests_mock):
    requests_mock.get(URL + "job/gone/api/json", status_code=404)
    with pytest.raises(JobNotFound):
        reader().builds("gone")
    requests_mock.get(URL + "job/flaky/api/json", [{"status_code": 502}, {"json": {"builds": []}}])
    assert reader().builds("flaky") == []
    requests_mock.get(URL + "job/down/api/json", exc=requests.ConnectionError("refused"))
    with pytest.raises(JenkinsError) as err:
        reader().builds("down")
    assert "s3cret-token" not in str(err.value) and "\n" not in str(err.value)


def test_missing_test_report_is_none(requests_mock):
    requests_mock.get(URL + "job/app/5/testReport/api/json", status_code=404)
    assert reader().test_summary("app", 5) is None
