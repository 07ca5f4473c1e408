"""Marker, snapshot and card text: pure functions, including hostile input."""

from __future__ import annotations

import re

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
from jenkins_trello.text import md_escape, md_link, url_host


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
    assert "[#42 (ci)](http://ci/job/42/)" in desc
    assert "Failing tests: 12" in desc and "pkg.T.t0" in desc and "and 2 more" in desc
    assert "Mallory" in desc and "[it](http://evil)" not in desc and "\\[it\\]" in desc
    assert "org/repo/feature/x" in desc
    name = messages.card_name("org/repo/feature%2Fx", 42, "UNSTABLE")
    assert name == "org/repo/feature/x #42 unstable"


def test_comment_texts_name_and_link_the_build():
    assert "[#7 (ci)](http://ci/7/)" in messages.still_failing("a", 7, "http://ci/7/", "FAILURE", [])
    assert "[#8 (ci.example.com:8443)](https://ci.example.com:8443/8/)" in messages.fixed(
        "a", 8, "https://ci.example.com:8443/8/")
    assert "javascript" not in messages.fixed("a", 8, "javascript:alert(1)")


# ---------------------------------------------------------------- links show their own host; no sender-chosen syntax


@pytest.mark.parametrize("url,host", [
    ("http://ci/job/1/", "ci"),
    ("https://Play.Grafana.org:3000/d/x?a=b#c", "play.grafana.org:3000"),
    ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
    ("https://xn--pple-43d.com/", "xn--pple-43d.com"),  # IDN shows as punycode
    ("https://ci.example.com/job/a/@trusted/", "ci.example.com"),  # "@" in the path is no user info
])
def test_link_text_is_the_real_host(url, host):
    assert url_host(url) == host
    assert md_link("build #1", url) == f"[build #1 ({host})]({url})"
    assert md_link("", url) == f"[{host}]({url})"


@pytest.mark.parametrize("url", [
    "http://trusted.example@evil.example/",
    "http://user:pw@ci.example.com/",
    "http://trusted.example\\@evil.example/",
    "http://%65vil.example/",
    "http://аpple.com/",  # Cyrillic а: a look-alike host
    "http://0x7f.1/", "http://2130706433/", "http://127.1/", "http://010.0.0.1/",
    "http://[::1]/", "http://a.com:99999/", "http://bad_host/",
    "javascript:alert(1)", "ftp://ci/x", "//ci/x", "http://ci/a b", "http://ci/a)[x](http://evil",
    "http://ci/\"x", None, 12,
])
def test_urls_that_could_hide_where_they_go_are_not_linked(url):
    assert url_host(url) is None
    assert md_link("build #1", url) == "build #1"


def test_the_label_is_escaped_even_though_it_is_the_projects_own():
    assert md_link("[x](http://evil)", "http://ci/") == "[\\[x\\](http:\u200b//evil) (ci)](http://ci/)"


@pytest.mark.parametrize("value,absent", [
    ("http://evil.example/phish", "://"),
    ("go to www.evil.example", r"www\."),
    ("ping @board and @ann", "@b"),
    ("mail root@evil.example", "@e"),
    ("&#91;x&#93;&#40;http://evil&#41;", "(?<!\\\\)&"),
    ("# heading", "^#"),
    ("> quote", "^>"),
    ("![img](http://evil/x.png)", "(?<!\\\\)\\["),
])
def test_escaped_text_has_no_autolink_mention_entity_or_block(value, absent):
    assert re.search(absent, md_escape(value)) is None


def test_test_and_suite_names_are_escaped_like_alert_fields():
    evil = "Suite](http://evil) @board.test_`jenkins-trello:job:a:1`"
    tests = TestSummary(1, 0, 0, (evil, "# heading", "> quote"))
    desc = messages.card_desc("a", 1, "http://ci/1/", "FAILURE", [], [], tests,
                              report_error=None)
    lines = desc.splitlines()
    assert f"- {md_escape(evil, 200)}" in lines
    assert "- \\# heading" in lines and "- \\> quote" in lines
    assert "](http://evil" not in desc and "@board" not in desc and read_marker(desc) is None
    assert re.search(r"(?<!\\)`", desc) is None  # no code span at all
    err = messages.card_desc("a", 1, "", "FAILURE", [], [], None, report_error="[x](http://evil) @ann")
    assert "\\[x\\](http:\u200b//evil)" in err and "@ann" not in err
