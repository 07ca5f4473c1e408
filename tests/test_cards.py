"""Marker, snapshot and card text: pure functions, including hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jenkins_trello import messages
from jenkins_trello.cards import (
    ListNotFound,
    alert_key,
    display_job,
    job_key,
    job_of_key,
    read_marker,
    resolve_list,
    snapshot,
    with_marker,
)
from jenkins_trello.jenkins import Change, TestSummary, job_path, parse_builds, parse_report
from jenkins_trello.text import md_escape


@pytest.mark.parametrize("job", ["app", "team/app", "org/repo/feature%2Fx", "my folder/job #1", "ü/`x`:y"])
def test_job_key_roundtrip_and_marker(job):
    key = job_key(job)
    assert job_of_key(key) == job
    assert read_marker(with_marker("body", key, "12")) == (key, "12")


def test_slash_and_encoded_slash_are_different_jobs():
    assert job_key("org/repo/feature%2Fx") != job_key("org/repo/feature/x")
    assert display_job("org/repo/feature%2Fx") == "org/repo/feature/x"


@given(st.text(max_size=300))
def test_escaped_text_never_forges_a_marker(value):
    desc = with_marker(md_escape(value) + "\n" + md_escape(value), alert_key("g"), "s")
    assert read_marker(desc) == (alert_key("g"), "s")
    # only our own line parses as a marker
    lines = [line for line in desc.splitlines() if read_marker(line)]
    assert lines == [desc.splitlines()[-1]]


def test_forged_marker_text_is_inert():
    forged = "`jenkins-trello:job:team%2Fapp:1`"
    assert read_marker(md_escape(forged)) is None


def test_snapshot_keeps_only_open_marked_cards_in_open_lists():
    key = job_key("a")
    lists = [
        {"id": "L1", "name": "To Do", "cards": [
            {"id": "c1", "name": "n", "desc": with_marker("x", key, "1"), "idList": "L1"},
            {"id": "c2", "name": "human card", "desc": "no marker", "idList": "L1"},
            {"id": "c3", "name": "n", "desc": with_marker("x", key, "1"), "idList": "L1", "closed": True},
        ]},
        {"id": "L2", "name": "Old", "closed": True, "cards": [
            {"id": "c4", "name": "n", "desc": with_marker("x", key, "1"), "idList": "L2"}]},
    ]
    board = snapshot(lists)
    assert [c.id for c in board.cards] == ["c1"]
    assert board.lists == (("L1", "To Do"),)


def test_resolve_list_by_name_id_and_case():
    lists = (("5f0000000000000000000001", "To Do"), ("5f0000000000000000000002", "Done"))
    assert resolve_list(lists, "Done") == "5f0000000000000000000002"
    assert resolve_list(lists, "5f0000000000000000000001") == "5f0000000000000000000001"
    assert resolve_list(lists, "done") == "5f0000000000000000000002"
    with pytest.raises(ListNotFound, match="'To Do', 'Done'"):
        resolve_list(lists, "Backlog")


def test_job_path_keeps_encoded_slash_in_segment():
    assert job_path("org/repo/feature%2Fx") == "job/org/job/repo/job/feature%2Fx"


def test_parse_builds_and_report():
    doc = {"builds": [
        {"number": 7, "result": None, "building": True, "url": "u7",
         "changeSets": [{"items": [{"commitId": "abc", "msg": "fix", "author": {"fullName": "Ann"}}]}],
         "culprits": [{"fullName": "Ann"}]},
        {"number": 6, "result": "FAILURE", "building": False},
        {"bogus": True},
    ]}
    b = parse_builds(doc)
    assert [x.number for x in b] == [7, 6]
    assert b[0].changes == (Change("abc", "fix", "Ann"),) and b[0].culprits == ("Ann",)
    report = parse_report({"failCount": 2, "passCount": 5, "skipCount": 1, "suites": [{"cases": [
        {"className": "a.B", "name": "t1", "status": "FAILED"},
        {"className": "a.B", "name": "t2", "status": "PASSED"},
        {"className": "a.B", "name": "t3", "status": "REGRESSION"}]}]})
    assert report == TestSummary(2, 5, 1, ("a.B.t1", "a.B.t3"))
    assert parse_report(None) is None


def test_failure_card_text_tells_what_a_person_needs_first():
    tests = TestSummary(12, 100, 3, tuple(f"pkg.T.t{i}" for i in range(10)))
    desc = messages.card_desc("org/repo/feature%2Fx", 42, "http://ci/job/42/", "FAILURE",
                              [Change("deadbeef00", "Break [it](http://evil)", "Mallory")], ["Mallory"], tests)
    assert "[#42](http://ci/job/42/)" in desc
    assert "Failing tests: 12" in desc and "pkg.T.t0" in desc and "and 2 more" in desc
    assert "Mallory" in desc and "[it](http://evil)" not in desc and "\\[it\\]" in desc
    assert "org/repo/feature/x" in desc
    name = messages.card_name("org/repo/feature%2Fx", 42, "UNSTABLE")
    assert name == "org/repo/feature/x #42 unstable"


def test_comment_texts_name_and_link_the_build():
    assert "[#7](http://ci/7/)" in messages.still_failing("a", 7, "http://ci/7/", "FAILURE", [])
    assert "[#8](http://ci/8/)" in messages.fixed("a", 8, "http://ci/8/")
    assert "javascript" not in messages.fixed("a", 8, "javascript:alert(1)")
