"""Route selection: job globs, branch globs with negation, results, Alertmanager matchers, first match wins."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jenkins_trello.policy import Policy, Route, parse_policy, policy_from_env
from jenkins_trello.routes import (
    Matcher,
    MatcherError,
    alert_route,
    alert_route_matches,
    branch_of,
    branches_match,
    glob_match,
    glob_problem,
    jenkins_route,
    jenkins_route_matches,
    job_glob_match,
    parse_matcher,
)


def policy(jenkins=(), alerts=()) -> Policy:
    return Policy(version=1, board="AbCdEf12", list="To Do", done_list="Done", people=(), jenkins=tuple(jenkins),
                  alerts=tuple(alerts), archive=())


def jr(name: str, **kw) -> Route:
    return Route(name=name, kind="jenkins", board="AbCdEf12", **kw)


def ar(name: str, *matchers: str, **kw) -> Route:
    return Route(name=name, kind="alerts", board="AbCdEf12", matchers=tuple(parse_matcher(m) for m in matchers), **kw)


# --------------------------------------------------------------------------- job globs

JOB_CASES = [
    # pattern, full name, matches
    ("payments/**", "payments", True),
    ("payments/**", "payments/api", True),
    ("payments/**", "payments/api/main", True),
    ("payments/**", "paymentsx/api", False),
    ("payments/**", "other/payments/api", False),
    ("payments/*", "payments/api", True),
    ("payments/*", "payments/api/main", False),
    ("payments/*", "payments", False),
    ("*", "deploy", True),
    ("*", "team/deploy", False),
    ("**", "deploy", True),
    ("**", "a/b/c/d", True),
    ("**/main", "main", True),
    ("**/main", "org/repo/main", True),
    ("**/main", "org/repo/main2", False),
    ("org/**/main", "org/main", True),
    ("org/**/main", "org/a/b/main", True),
    ("org/**/main", "orgx/a/main", False),
    ("**/nightly-*", "team/nightly-db", True),
    ("**/nightly-*", "nightly-db", True),
    ("**/nightly-*", "team/nightly-db/x", False),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("a[bx]c", "axc", True),
    ("a[!bx]c", "abc", False),
    ("a[!bx]c", "ayc", True),
    ("a[^b]c", "a/c", False),  # a class never crosses a segment
    ("org/repo/feature%2F*", "org/repo/feature%2Fx", True),  # %2F stays inside its segment
    ("org/repo/*", "org/repo/feature%2Fx", True),
    ("org/repo/feature", "org/repo/feature%2Fx", False),
    ("Deploy", "deploy", False),  # case-sensitive, as Jenkins names are
    ("a.b", "axb", False),  # regex characters are literal
    ("a+(b)", "a+(b)", True),
]


@pytest.mark.parametrize("pattern,name,expected", JOB_CASES)
def test_job_globs(pattern, name, expected):
    assert job_glob_match(pattern, name) is expected


@pytest.mark.parametrize("pattern,why", [
    ("", "empty"), ("a/b**", "whole segment"), ("**x/a", "whole segment"), ("a//b", "empty segment"),
    ("/a", "empty segment"), ("a/", "empty segment"), ("a[bc", "unclosed"), ("a[z-a]", "character class"),
])
def test_bad_job_globs_say_why(pattern, why):
    problem = glob_problem(pattern, job=True)
    assert problem and why in problem


FLAT_CASES = [
    ("PR-*", "PR-12", True),
    ("PR-*", "pr-12", False),
    ("release/*", "release/1.2", True),
    ("release/*", "release/1.2/hotfix", True),  # flat: * crosses '/'
    ("feature/?", "feature/x", True),
    ("main", "main", True),
    ("main", "main2", False),
    ("", "", True),
    ("", "prod", False),
    ("prod*", "prod-eu", True),
    ("*", "", True),
]


@pytest.mark.parametrize("pattern,value,expected", FLAT_CASES)
def test_flat_globs(pattern, value, expected):
    assert glob_match(pattern, value) is expected


def test_branch_of_prefers_branch_name_then_unquotes_the_last_segment():
    assert branch_of("org/repo/feature%2Fx") == "feature/x"
    assert branch_of("org/repo/feature%2Fx", "feature/x-from-env") == "feature/x-from-env"
    assert branch_of("deploy") == "deploy"
    assert branch_of("org/repo/PR-7", "") == "PR-7"


BRANCH_CASES = [
    # patterns, branch, matches
    (["!PR-*"], "main", True),
    (["!PR-*"], "PR-3", False),
    (["main", "release/*"], "release/2", True),
    (["main", "release/*"], "dev", False),
    (["!PR-*", "main"], "main", True),
    (["!PR-*", "main"], "dev", False),
    (["!PR-*", "PR-*"], "PR-1", False),  # a negation always wins
    (["!PR-*", "!dependabot/*"], "dependabot/npm/x", False),
    (["!PR-*", "!dependabot/*"], "feature", True),
]


@pytest.mark.parametrize("patterns,branch,expected", BRANCH_CASES)
def test_branch_lists(patterns, branch, expected):
    assert branches_match(patterns, branch) is expected


def test_result_rules():
    failing = jr("red", match_results=("FAILURE",))
    assert jenkins_route_matches(failing, "a", None, "FAILURE")
    assert jenkins_route_matches(failing, "a", None, "failure")
    assert not jenkins_route_matches(failing, "a", None, "UNSTABLE")
    assert not jenkins_route_matches(failing, "a", None, None)
    assert not jenkins_route_matches(failing, "a", None, "SUCCESS")
    anything = jr("any")
    assert all(jenkins_route_matches(anything, "a", None, r) for r in ("FAILURE", "UNSTABLE", "SUCCESS", None))


def test_first_match_wins_and_no_match_is_left_alone():
    p = policy([jr("sandbox", match_jobs=("sandbox/**",), skip=True),
                jr("payments", match_jobs=("payments/**",), match_branches=("!PR-*",)),
                jr("payments-red", match_jobs=("payments/**",))])
    assert jenkins_route(p, "sandbox/x", None, "FAILURE").skip
    assert jenkins_route(p, "payments/api/main", None, "FAILURE").name == "payments"
    assert jenkins_route(p, "payments/api/PR-4", None, "FAILURE").name == "payments-red"
    assert jenkins_route(p, "payments/api/PR-4", "main", "FAILURE").name == "payments"  # $BRANCH_NAME wins
    assert jenkins_route(p, "other", None, "FAILURE") is None


def test_environment_policy_routes_everything_to_its_one_route():
    p = policy_from_env({"TRELLO_BOARD": "AbCdEf12"})
    assert jenkins_route(p, "any/job/at/all", None, None).name == "default"
    assert alert_route(p, {}, "grafana", "").name == "default"


# --------------------------------------------------------------------------- properties

segment = st.text(alphabet="abcxyz-_.%2F", min_size=1, max_size=5)
names = st.lists(segment, min_size=1, max_size=5).map("/".join)
simple_globs = st.lists(st.one_of(segment, st.just("*"), st.just("**"), st.just("a*")), min_size=1,
                        max_size=4).map("/".join)


@given(names, st.lists(st.sampled_from(["payments/**", "*", "a*/**", "**/b", "x/*", "**"]), max_size=5),
       st.sampled_from(["FAILURE", "UNSTABLE", "SUCCESS", None]))
def test_first_match_equals_scanning(name, patterns, result):
    routes = [jr(f"r{i}", match_jobs=(p,)) for i, p in enumerate(patterns)]
    expected = next((r for r in routes if job_glob_match(r.match_jobs[0], name)), None)
    assert jenkins_route(policy(routes), name, None, result) == expected


@given(st.lists(st.sampled_from(["main", "PR-*", "release/*", "feat*", "*x"]), min_size=1, max_size=3),
       st.text(alphabet="mainPR-12release/featx", max_size=10))
def test_negation_is_not(patterns, branch):
    for p in patterns:
        assert branches_match(["!" + p], branch) is (not glob_match(p, branch))
    # negations AND together: "not any"
    assert branches_match(["!" + p for p in patterns], branch) is (not any(glob_match(p, branch) for p in patterns))


@given(names)
def test_double_star_equivalences(name):
    assert job_glob_match("**", name)
    first = name.split("/")[0]
    assert job_glob_match(f"{first}/**", name)  # ** is zero or more segments
    assert job_glob_match(f"**/{name.split('/')[-1]}", name)
    assert job_glob_match("**/**", name) is job_glob_match("**", name)
    assert job_glob_match(name.replace("[", "[[]"), name) or "[" in name  # a name is a glob of itself
    segments = name.count("/") + 1
    assert job_glob_match("/".join(["*"] * segments), name)
    assert not job_glob_match("/".join(["*"] * (segments + 1)), name)


@given(simple_globs, names)
def test_star_never_crosses_a_segment(pattern, name):
    if "**" not in pattern.replace("a*", "") and job_glob_match(pattern, name):
        assert pattern.count("/") == name.count("/")


# --------------------------------------------------------------------------- matchers

MATCHER_CASES = [
    ('severity="critical"', Matcher("severity", "=", "critical")),
    ("severity=critical", Matcher("severity", "=", "critical")),
    ('  team  !=  "db"  ', Matcher("team", "!=", "db")),
    ('team=~"db|infra"', Matcher("team", "=~", "db|infra")),
    ('team!~"db.*"', Matcher("team", "!~", "db.*")),
    ('msg="say \\"hi\\""', Matcher("msg", "=", 'say "hi"')),
    ('path="C:\\\\x"', Matcher("path", "=", "C:\\x")),
    ('text="a\\nb"', Matcher("text", "=", "a\nb")),
    ('x=""', Matcher("x", "=", "")),
    ('"odd name"="v"', Matcher("odd name", "=", "v")),
    ('x="caf\\u00e9"', Matcher("x", "=", "café")),
    ("instance=host:9100", Matcher("instance", "=", "host:9100")),
    ('n=~"\\\\d+"', Matcher("n", "=~", "\\d+")),
    ("foo=bär", Matcher("foo", "=", "bär")),
]


@pytest.mark.parametrize("text,expected", MATCHER_CASES)
def test_parse_matcher(text, expected):
    assert parse_matcher(text) == expected


@pytest.mark.parametrize("text,why", [
    ("severity", "operator"), ("severity==critical", "label value"), ("=x", "label name"),
    ('x="unterminated', "missing closing"), ('x="a\\d"', "unknown escape"), ('x=~"("', "does not compile"),
    ('{x="a"}', "braces"), ('x="a",y="b"', "after the matcher"), ("x=a b", "after the matcher"),
    ('x=~"a', "missing closing"), ("x=", "value"), ("x~=a", "operator"), ('""="v"', "empty"),
])
def test_bad_matchers_say_why(text, why):
    with pytest.raises(MatcherError) as exc:
        parse_matcher(text)
    assert why in str(exc.value)


label_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
       st.sampled_from(["=", "!="]), label_text)
def test_matcher_round_trip(name, op, value):
    m = Matcher(name, op, value)
    assert parse_matcher(str(m)) == m


@given(st.sampled_from(["a", "a|b", ".*", "db.*", "x+", "[a-c]"]), st.sampled_from(["=~", "!~"]))
def test_regex_matcher_round_trip(value, op):
    m = Matcher("k", op, value)
    assert parse_matcher(str(m)) == m


def test_regexes_are_anchored_like_alertmanager():
    m = parse_matcher('team=~"db"')
    assert m.matches({"team": "db"})
    assert not m.matches({"team": "db2"})
    assert not m.matches({"team": "xdb"})
    assert parse_matcher('team=~"db|infra"').matches({"team": "infra"})
    assert not parse_matcher('team=~"db|infra"').matches({"team": "infrastructure"})
    assert parse_matcher('team!~"db|infra"').matches({"team": "web"})


def test_a_missing_label_is_the_empty_value():
    assert parse_matcher('team!="db"').matches({})
    assert parse_matcher('team=""').matches({})
    assert not parse_matcher('team=""').matches({"team": "db"})
    assert not parse_matcher('team="db"').matches({})
    assert parse_matcher('team=~".*"').matches({})
    assert not parse_matcher('team=~".+"').matches({})
    assert parse_matcher('team!~".+"').matches({})


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["", "x", "y"])),
       st.sampled_from(["a", "b", "c"]), st.sampled_from(["", "x", "y"]))
def test_negated_operators_are_the_complement(labels, name, value):
    for pos, neg in (("=", "!="), ("=~", "!~")):
        assert Matcher(name, pos, value).matches(labels) is not Matcher(name, neg, value).matches(labels)


def test_alert_routes_format_source_and_and():
    oncall = ar("oncall", 'severity="critical"', 'team=~"db|infra"')
    grafana = ar("grafana", formats=("grafana", "grafana-legacy"), sources=("prod*",))
    none_source = ar("unsourced", sources=("",))
    p = policy(alerts=[ar("staging", 'env="staging"', skip=True), oncall, grafana, none_source])
    crit_db = {"severity": "critical", "team": "db"}
    assert alert_route(p, {**crit_db, "env": "staging"}, "alertmanager", "").name == "staging"
    assert alert_route(p, crit_db, "alertmanager", "").name == "oncall"
    assert alert_route(p, {"severity": "critical", "team": "web"}, "grafana", "prod-eu").name == "grafana"
    assert alert_route(p, {"severity": "critical", "team": "web"}, "alertmanager", "prod-eu") is None
    assert alert_route(p, {}, "alertmanager", "").name == "unsourced"
    assert alert_route(p, {}, "grafana", "stage") is None
    assert not alert_route_matches(grafana, {}, "grafana", "")


@given(st.lists(st.sampled_from(['severity="critical"', 'team!="db"', 'team=~"d.*"', 'env=""', "x!~y"]),
                max_size=4),
       st.dictionaries(st.sampled_from(["severity", "team", "env", "x"]),
                       st.sampled_from(["critical", "db", "dev", "", "y"])))
def test_a_route_is_the_and_of_its_matchers(texts, labels):
    route = ar("r", *texts)
    assert alert_route_matches(route, labels, "alertmanager", "") is all(
        parse_matcher(t).matches(labels) for t in texts)


def test_routes_from_a_file_match_like_the_dataclasses():
    text = """
version: 1
trello: {board: AbCdEf12}
jenkins:
  routes:
    - {id: pr, match: {job: "org/**", branch: "PR-*"}, skip: true}
    - {id: red, match: {job: "org/**", result: FAILURE}}
alerts:
  routes: []
"""
    p = parse_policy(text, "t.yml", {})
    assert jenkins_route(p, "org/repo/PR-1", None, "FAILURE").name == "pr"
    assert jenkins_route(p, "org/repo/main", None, "FAILURE").name == "red"
    assert jenkins_route(p, "org/repo/main", None, "UNSTABLE") is None
    assert alert_route(p, {"a": "b"}, "grafana", "") is None  # routes: [] leaves everything alone
    assert re.fullmatch(r"\S+", p.jenkins[0].name)
