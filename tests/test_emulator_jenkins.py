"""The Jenkins emulator serves Jenkins' JSON API so that python-jenkins works unchanged."""

from __future__ import annotations

import jenkins
import pytest
import requests

from jenkins_trello.emulator import JenkinsEmulator
from jenkins_trello.emulator.jenkins import parse_tree

BRANCH = "org/repo/feature%2Fx"
CHANGE = {"msg": "Fix the parser", "author": "Ann Dev", "commitId": "c0ffee", "authorEmail": "ann@example.org"}


@pytest.fixture
def emu():
    with JenkinsEmulator() as emulator:
        yield emulator


@pytest.fixture
def server(emu):
    return jenkins.Jenkins(emu.url, timeout=5)


def test_url_has_trailing_slash_and_version_header(emu, server):
    assert emu.url.endswith("/") and emu.url.startswith("http://127.0.0.1:")
    assert server.get_version() == "2.462.3"
    assert requests.get(emu.url + "api/json", timeout=5).headers["X-Jenkins"] == "2.462.3"


def test_get_info_tree_with_range_on_a_multibranch_branch(emu, server):
    emu.add_job(BRANCH)
    for result in ("SUCCESS", "FAILURE", "SUCCESS"):
        emu.add_build(BRANCH, result)
    running = emu.start_build(BRANCH)
    emu.set_result_while_building(BRANCH, running, "UNSTABLE")

    info = server.get_info(item="job/org/job/repo/job/feature%2Fx", query="?tree=builds[number,result,building]{0,10}")
    assert info["_class"] == "org.jenkinsci.plugins.workflow.job.WorkflowJob"
    run = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
    assert info["builds"] == [
        {"_class": run, "number": 4, "result": "UNSTABLE", "building": True},
        {"_class": run, "number": 3, "result": "SUCCESS", "building": False},
        {"_class": run, "number": 2, "result": "FAILURE", "building": False},
        {"_class": run, "number": 1, "result": "SUCCESS", "building": False},
    ]
    # the segment went over the wire double-encoded and was decoded exactly once
    record = emu.request_log[-1]
    assert record.raw_path == "/job/org/job/repo/job/feature%252Fx/api/json"
    assert record.path == "/job/org/job/repo/job/feature%2Fx/api/json"


@pytest.mark.parametrize(
    ("rng", "numbers"),
    [("{1,3}", [4, 3]), ("{2,}", [3, 2, 1]), ("{,2}", [5, 4]), ("{0}", [5]), ("{3}", [2])],
)
def test_tree_ranges(emu, server, rng, numbers):
    for _ in range(5):
        emu.add_build("app", "SUCCESS")
    info = server.get_info(item="job/app", query=f"?tree=builds[number]{rng}")
    assert [b["number"] for b in info["builds"]] == numbers


def test_tree_nesting_unknown_properties_and_class(emu, server):
    emu.add_job("team/app")
    number = emu.start_build("team/app", changes=[CHANGE])
    emu.finish_build("team/app", number, "FAILURE", tests={"passed": 2, "skipped": 0, "failed": [("pkg.T", "test_x")]})
    tree = "number,nope,changeSets[kind,items[msg,author[fullName],authorEmail]],culprits[fullName],actions[failCount]"
    info = server.get_info(item="job/team/job/app/1", query="?tree=" + tree)
    assert info["number"] == 1 and "nope" not in info and "result" not in info
    assert info["changeSets"] == [
        {
            "_class": "hudson.plugins.git.GitChangeSetList",
            "kind": "git",
            "items": [
                {
                    "_class": "hudson.plugins.git.GitChangeSet",
                    "msg": "Fix the parser",
                    "author": {"fullName": "Ann Dev"},
                    "authorEmail": "ann@example.org",
                }
            ],
        }
    ]
    assert info["culprits"] == [{"fullName": "Ann Dev"}]
    assert {"_class": "hudson.tasks.junit.TestResultAction", "failCount": 1} in info["actions"]
    # a nested object named without sub-properties keeps only its class
    job = server.get_info(item="job/team/job/app", query="?tree=lastBuild,name")
    assert job == {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
        "lastBuild": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun"},
        "name": "app",
    }
    root = server.get_info(query="?tree=jobs[name,jobs[name]]")
    assert root["jobs"] == [
        {
            "_class": "com.cloudbees.hudson.plugins.folder.Folder",
            "name": "team",
            "jobs": [{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "app"}],
        }
    ]


def test_parse_tree_grammar():
    assert parse_tree("a,b[c,d[e]{1,2}]{0,10},f{3}") == [
        ("a", None, None),
        ("b", [("c", None, None), ("d", [("e", None, None)], (1, 2))], (0, 10)),
        ("f", None, (3, 4)),
    ]
    for bad in ("a[b", "a{x}", "a,,b", "a]"):
        with pytest.raises(ValueError):
            parse_tree(bad)


def test_bad_tree_is_a_client_error(emu):
    emu.add_job("app")
    assert requests.get(emu.url + "job/app/api/json", params={"tree": "builds[number"}, timeout=5).status_code == 400


def test_folders_and_job_info(emu, server):
    emu.add_job("folder/sub/app")
    emu.add_job(BRANCH)
    root = server.get_info()
    assert root["_class"] == "hudson.model.Hudson"
    assert [(j["name"], j["_class"]) for j in root["jobs"]] == [
        ("folder", "com.cloudbees.hudson.plugins.folder.Folder"),
        ("org", "com.cloudbees.hudson.plugins.folder.Folder"),
    ]
    repo = server.get_job_info("org/repo")
    assert repo["_class"] == "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
    assert repo["jobs"][0]["name"] == "feature%2Fx"
    assert repo["jobs"][0]["url"] == f"{emu.url}job/org/job/repo/job/feature%252Fx/"
    branch = server.get_job_info(BRANCH)
    assert branch["fullName"] == BRANCH and branch["displayName"] == "feature/x"
    assert branch["color"] == "notbuilt" and branch["builds"] == [] and branch["lastBuild"] is None
    assert server.get_job_name("folder/sub/app") == "app"
    assert server.get_job_name("folder/sub/missing") is None
    with pytest.raises(jenkins.JenkinsException):
        server.get_job_info("nope")
    emu.delete_job("folder/sub/app")
    assert server.get_job_name("folder/sub/app") is None


def test_builds_newest_first_capped_at_100_and_permalinks(emu, server):
    for i in range(105):
        emu.add_build("app", "FAILURE" if i % 10 == 0 else "SUCCESS")
    running = emu.start_build("app")
    info = server.get_job_info("app")
    assert len(info["builds"]) == 100
    assert info["builds"][0] == {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
        "number": running,
        "url": f"{emu.url}job/app/{running}/",
    }
    assert info["lastBuild"]["number"] == 106 and info["lastCompletedBuild"]["number"] == 105
    assert info["lastFailedBuild"]["number"] == 101 and info["nextBuildNumber"] == 107
    assert info["color"] == "blue_anime" and info["firstBuild"]["number"] == 1
    assert "allBuilds" not in info
    assert len(server.get_info(item="job/app", query="?tree=allBuilds[number]")["allBuilds"]) == 106
    last = requests.get(emu.url + "job/app/lastCompletedBuild/api/json", timeout=5).json()
    assert last["number"] == 105 and last["building"] is False
    assert requests.get(emu.url + "job/app/lastStableBuild/api/json", timeout=5).json()["number"] == 105


def test_build_info_while_building_and_after(emu, server):
    emu.add_job(BRANCH)
    emu.add_build(BRANCH, "FAILURE", changes=[{**CHANGE, "author": "Bob", "authorEmail": "bob@example.org"}])
    number = emu.start_build(BRANCH, changes=[CHANGE])
    build = server.get_build_info(BRANCH, number)
    assert build["_class"] == "org.jenkinsci.plugins.workflow.job.WorkflowRun"
    assert (build["building"], build["inProgress"], build["result"]) == (True, True, None)
    assert build["url"] == f"{emu.url}job/org/job/repo/job/feature%252Fx/{number}/"
    assert build["fullDisplayName"] == f"org » repo » feature/x #{number}"
    emu.set_result_while_building(BRANCH, number, "FAILURE")
    assert server.get_build_info(BRANCH, number)["result"] == "FAILURE"
    emu.finish_build(BRANCH, number, "SUCCESS")
    build = server.get_build_info(BRANCH, number)
    assert (build["building"], build["result"]) == (False, "SUCCESS")
    assert isinstance(build["timestamp"], int) and build["duration"] > 0
    item = build["changeSets"][0]["items"][0]
    assert (item["commitId"], item["msg"], item["authorEmail"]) == ("c0ffee", "Fix the parser", "ann@example.org")
    assert item["author"]["fullName"] == "Ann Dev"
    # culprits carry over from a previous build that was worse than SUCCESS
    assert [c["fullName"] for c in build["culprits"]] == ["Ann Dev", "Bob"]
    assert not any(a.get("_class") == "hudson.tasks.junit.TestResultAction" for a in build["actions"])
    with pytest.raises(jenkins.JenkinsException):
        server.get_build_info(BRANCH, 99)


def test_test_report_statuses_and_404(emu, server):
    emu.add_job("app")
    emu.add_build("app", "SUCCESS", tests={"passed": 3, "skipped": 0, "failed": []})
    emu.add_build("app", "FAILURE", tests={"passed": 2, "skipped": 1, "failed": [("pkg.A", "test_a")]})
    emu.add_build("app", "FAILURE", tests={"passed": 2, "skipped": 1, "failed": [("pkg.A", "test_a"), ("pkg.B", "t")]})
    emu.add_build("app", "SUCCESS", tests={"passed": 3, "skipped": 1, "failed": []})
    emu.add_build("app", "SUCCESS")

    report = server.get_build_test_report("app", 3)
    assert report["_class"] == "hudson.tasks.junit.TestResult"
    assert (report["failCount"], report["passCount"], report["skipCount"], report["empty"]) == (2, 2, 1, False)
    cases = {(c["className"], c["name"]): c for s in report["suites"] for c in s["cases"]}
    assert cases[("pkg.A", "test_a")]["status"] == "FAILED" and cases[("pkg.A", "test_a")]["age"] == 2
    assert cases[("pkg.B", "t")]["status"] == "FAILED" and cases[("pkg.B", "t")]["age"] == 1
    assert cases[("pkg.A", "test_a")]["errorDetails"]
    fixed = server.get_build_test_report("app", 4, tree="suites[cases[className,name,status]]")
    statuses = {(c["className"], c["name"]): c["status"] for s in fixed["suites"] for c in s["cases"]}
    assert statuses[("pkg.A", "test_a")] == "FIXED" and statuses[("pkg.B", "t")] == "FIXED"
    build = server.get_build_info("app", 3)
    action = next(a for a in build["actions"] if a.get("_class") == "hudson.tasks.junit.TestResultAction")
    assert action == {
        "_class": "hudson.tasks.junit.TestResultAction",
        "failCount": 2,
        "skipCount": 1,
        "totalCount": 5,
        "urlName": "testReport",
    }
    assert server.get_build_test_report("app", 5) is None


def test_regression_status_and_tests_recorded_while_building(emu, server):
    emu.add_build("app", "SUCCESS", tests={"passed": 1, "failed": [("pkg.A", "ok_before")]})
    emu.add_build("app", "SUCCESS", tests={"passed": 2})  # pkg.A.ok_before FIXED, test_pass_0 PASSED
    number = emu.start_build("app")
    emu.record_tests("app", number, {"passed": 0, "failed": [("emulator.PassingTest", "test_pass_0")]})
    report = server.get_build_test_report("app", number, tree="suites[cases[name,status]]")
    assert report["suites"][0]["cases"] == [{"name": "test_pass_0", "status": "REGRESSION"}]


def test_basic_auth(emu):
    with JenkinsEmulator(user="ci", token="s3cret") as secured:
        secured.add_job("app")
        ok = jenkins.Jenkins(secured.url, "ci", "s3cret", timeout=5)
        assert ok.get_whoami()["id"] == "ci"
        assert ok.get_job_name("app") == "app"
        with pytest.raises(jenkins.JenkinsException, match=r"\[401\]"):
            jenkins.Jenkins(secured.url, "ci", "wrong", timeout=5).get_whoami()
        with pytest.raises(jenkins.JenkinsException, match=r"\[403\]"):
            jenkins.Jenkins(secured.url, timeout=5).get_whoami()
        r = requests.get(secured.url + "api/json", timeout=5)
        assert r.status_code == 403 and r.headers["X-You-Are-Authenticated-As"] == "anonymous"
        assert "s3cret" not in repr(secured)


def test_crumb_is_requested_once_per_client_and_counted(emu, server):
    emu.add_job("app")
    server.get_job_name("app")
    server.get_job_name("app")
    assert emu.crumb_requests == 1
    crumb = requests.get(emu.url + "crumbIssuer/api/json", timeout=5).json()
    assert crumb["_class"] == "hudson.security.csrf.DefaultCrumbIssuer"
    assert crumb["crumbRequestField"] == "Jenkins-Crumb" and crumb["crumb"]
    assert emu.count("GET", "/crumbIssuer") == 2
    with JenkinsEmulator(crumbs=False) as no_crumbs:
        no_crumbs.add_job("app")
        client = jenkins.Jenkins(no_crumbs.url, timeout=5)
        assert client.get_job_name("app") == "app"
        assert no_crumbs.crumb_requests == 0 and client.crumb is False


def test_unknown_paths_are_html_404(emu):
    emu.add_job("app")
    for path in ("job/nope/api/json", "job/app/7/api/json", "job/app/lastBuild/api/json", "job/app/api/xml"):
        r = requests.get(emu.url + path, timeout=5)
        assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")


def test_depth_and_pretty(emu):
    emu.add_build("app", "SUCCESS")
    deep = requests.get(emu.url + "job/app/api/json", params={"depth": 1}, timeout=5).json()
    assert deep["builds"][0]["result"] == "SUCCESS"
    pretty = requests.get(emu.url + "job/app/api/json", params={"pretty": "true", "tree": "name"}, timeout=5)
    assert "\n" in pretty.text and pretty.json()["name"] == "app"


def test_faults_through_python_jenkins(emu, server):
    emu.add_job("app")
    emu.inject("502", path="/job/app/")
    with pytest.raises(jenkins.JenkinsException):  # get_info maps HTTP errors to BadHTTPException
        server.get_info(item="job/app", query="?tree=name")
    emu.inject("drop", path="/job/app/")
    with pytest.raises(requests.ConnectionError):
        server.get_info(item="job/app", query="?tree=name")
    emu.timeout_delay = 0.3
    emu.inject("timeout", path="/job/app/")
    with pytest.raises(jenkins.TimeoutException):
        jenkins.Jenkins(emu.url, timeout=0.1).get_info(item="job/app", query="?tree=name")
    assert server.get_info(item="job/app", query="?tree=name")["name"] == "app"
    assert [kind for kind, _, _ in emu.fault_log] == ["502", "drop", "timeout"]
