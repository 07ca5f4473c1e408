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


def test_jenkins_500_is_retried(requests_mock):
    # python-jenkins turns a 500 into a plain JenkinsException("... [500]: ..."): it must still be retried
    requests_mock.get(URL + "job/app/api/json", [{"status_code": 500, "text": "<h1>Oops!</h1>"},
                                                 {"json": {"builds": [{"number": 1, "building": False}]}}])
    assert [b.number for b in reader().builds("app")] == [1]
    assert requests_mock.call_count == 2


@pytest.mark.parametrize("exc", [requests.ConnectionError("refused"), requests.ConnectTimeout("slow"),
                                 requests.ReadTimeout("slow")])
def test_connection_errors_and_timeouts_are_retried(requests_mock, exc):
    requests_mock.get(URL + "job/app/api/json", [{"exc": exc}, {"json": {"builds": []}}])
    assert reader().builds("app") == []
    assert requests_mock.call_count == 2


def test_retries_last_the_retry_seconds_not_a_fixed_count(requests_mock):
    import time

    requests_mock.get(URL + "job/app/api/json", status_code=500)
    started = time.monotonic()
    with pytest.raises(JenkinsError) as err:
        JenkinsReader(URL, timeout=1, retry_seconds=6).builds("app")
    assert 4 <= time.monotonic() - started <= 7  # back-off 0.3, 0.6, 1.2, 2.4 s: the next wait would pass 6 s
    assert requests_mock.call_count == 5  # more than a fixed 4 attempts
    assert "JENKINS_URL" in str(err.value) and "HTTP 500" in str(err.value)


def test_refused_connection_is_one_readable_line(requests_mock):
    import urllib3

    pool = urllib3.exceptions.MaxRetryError(None, "/job/app/api/json", urllib3.exceptions.NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"))
    requests_mock.get(URL + "job/app/api/json", exc=requests.ConnectionError(pool))
    with pytest.raises(JenkinsError) as err:
        JenkinsReader(URL, timeout=1, retry_seconds=0.2).builds("app")
    text = str(err.value)
    assert "connection refused" in text and "JENKINS_URL http://jenkins.test/" in text
    assert "MaxRetryError" not in text and "Pool" not in text and "\n" not in text


def test_server_ignoring_tree_still_reads_newer_builds(requests_mock):
    # #5 is the current build; #6 completed already, so #5 is late: its result must not change the board
    requests_mock.get(URL + "job/app/api/json", json={"builds": [{"number": n} for n in (6, 5, 4)]})
    for n, result, building in ((6, "SUCCESS", False), (5, None, True), (4, "FAILURE", False)):
        requests_mock.get(URL + f"job/app/{n}/api/json", json={"number": n, "result": result, "building": building})
    from jenkins_trello.lifecycle import job_verdict

    builds = reader().builds("app", around=5)
    assert [b.number for b in builds] == [6, 5, 4]
    assert job_verdict("FAILURE", builds, 5).kind == "noop"


def test_version_needs_the_x_jenkins_header(requests_mock):
    from jenkins_trello.jenkins import JenkinsSettingError

    requests_mock.get(URL + "api/json", headers={"X-Jenkins": "2.440.1"}, json={"mode": "NORMAL"})
    assert reader().version() == "2.440.1"
    requests_mock.get(URL + "api/json", text="<html>proxy sign-in</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(JenkinsSettingError, match="JENKINS_URL .* does not answer as a Jenkins"):
        reader().version()
    requests_mock.get(URL + "api/json", status_code=404)
    with pytest.raises(JenkinsSettingError, match="HTTP 404"):
        reader().version()
    requests_mock.get(URL + "api/json", status_code=401, text="bad s3cret-token")
    with pytest.raises(JenkinsSettingError, match="JENKINS_API_TOKEN") as err:
        reader().version()
    assert "s3cret-token" not in str(err.value)


def test_job_gone_only_when_a_readable_parent_does_not_list_it(requests_mock):
    requests_mock.get(URL + "job/team/api/json", json={"jobs": [{"name": "app"}, {"name": "lib"}]})
    assert reader().job_gone("team/app") is False  # listed: a 404 for it is not "deleted"
    assert reader().job_gone("team/old") is True
    requests_mock.get(URL + "job/gone/api/json", status_code=404)
    requests_mock.get(URL + "api/json", json={"jobs": [{"name": "team"}]})
    assert reader().job_gone("gone/app") is True  # the folder itself is gone from the root
    requests_mock.get(URL + "job/team/api/json", [{"status_code": 500}] * 20)
    with pytest.raises(JenkinsError):
        reader().job_gone("team/app")
