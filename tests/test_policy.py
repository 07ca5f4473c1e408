"""The policy file: schema, ${VAR}, every problem with its line, check-config, the environment-only policy."""

from __future__ import annotations

import contextlib
import io
import os
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jenkins_trello import cli
from jenkins_trello.config import ConfigError
from jenkins_trello.policy import (
    OnFix,
    Policy,
    PolicyError,
    Route,
    Sweep,
    check,
    expand,
    load_policy,
    parse_policy,
    policy_from_env,
)
from jenkins_trello.routes import Matcher

HERE = os.path.dirname(__file__)
EXAMPLE = os.path.join(HERE, "..", "docs", "example-policy.yml")
EXAMPLE_ENV = {"PLATFORM_BOARD": "PlAtFoRm", "PAYMENTS_BOARD": "PaYmEnTs", "ONCALL_BOARD": "OnCaLl12"}
ENV = {"TRELLO_BOARD": "AbCdEf12"}


def yml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def problems(text: str, env=None) -> list[str]:
    return [str(p) for p in check(yml(text), "p.yml", ENV if env is None else env)]


def one_problem(text: str, env=None) -> str:
    found = problems(text, env)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- the environment alone


def test_environment_only_is_one_catch_all_route_per_source():
    p = policy_from_env({"TRELLO_BOARD": "AbCdEf12", "TRELLO_LIST": "Inbox", "TRELLO_DONE_LIST": "Closed"})
    assert p == Policy(version=1, board="AbCdEf12", list="Inbox", done_list="Closed", people=(),
                       jenkins=(Route(name="default", kind="jenkins", board="AbCdEf12", list="Inbox",
                                      done_list="Closed"),),
                       alerts=(Route(name="default", kind="alerts", board="AbCdEf12", list="Inbox",
                                     done_list="Closed"),),
                       archive=(Sweep("AbCdEf12", "Closed", 14.0),))
    assert policy_from_env({"TRELLO_BOARD": "AbCdEf12"}).list == "To Do"
    assert policy_from_env({"TRELLO_BOARD": "AbCdEf12"}).done_list == "Done"


def test_load_policy_without_a_file_is_the_environment(tmp_path):
    assert load_policy(None, ENV) == policy_from_env(ENV)
    path = tmp_path / "p.yml"
    path.write_text("version: 1\n")
    from_env_var = load_policy(None, {**ENV, "JENKINS_TRELLO_CONFIG": str(path)})
    assert from_env_var.source == str(path)
    # a minimal file is the same set-up as the environment (defaults filled from it)
    assert from_env_var.jenkins == policy_from_env(ENV).jenkins
    assert from_env_var.archive == policy_from_env(ENV).archive
    assert load_policy(str(path), {**ENV, "JENKINS_TRELLO_CONFIG": "/nope"}).source == str(path)  # --config wins


def test_a_file_that_cannot_be_read_is_one_line(tmp_path):
    with pytest.raises(PolicyError) as exc:
        load_policy(str(tmp_path / "missing.yml"), ENV)
    assert str(exc.value) == f"{tmp_path / 'missing.yml'}: the policy file does not exist: check the path given " \
                             "to --config or JENKINS_TRELLO_CONFIG"
    assert isinstance(exc.value, ConfigError)
    with pytest.raises(PolicyError, match="is a directory"):
        load_policy(str(tmp_path), ENV)
    bad = tmp_path / "latin1.yml"
    bad.write_bytes(b"version: 1\nx: \xff\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(str(bad), ENV)


# --------------------------------------------------------------------------- a full file


FULL = """
version: 1
trello:
  board: ${BOARD}
  list: Intake
people:
  alice@example.com: alice
  Bob Dev: "@BobD"
jenkins:
  routes:
    - id: sandbox
      match: {job: "sandbox/**"}
      skip: true
    - id: payments
      match:
        job: ["payments/**", "billing/*"]
        branch: "!PR-*"
        result: [failure, UNSTABLE]
      board: PaYmEnTs
      list: Broken builds
      done_list: Shipped
      labels: [ci, red]
      labels_from: {result: {FAILURE: red, unstable: Yellow}}
      members: [culprits, alice]
      after_failures: 2
      unstable: ignore
      reopen_within: 7d
      on_fix: {move: Fixed}
      name: "{{ job }} #{{ build }}"
      desc: |
        Broken: {{ job }}
        {% for t in tests.failing %}- {{ t }}
        {% endfor %}
alerts:
  routes:
    - match: ['severity="critical"', 'team=~"db|infra"']
      format: alertmanager
      source: [prod, "eu-*"]
      labels_from: {severity: {critical: red, warning: yellow}}
      members: [bobd]
      reopen_within: 1h
      on_resolve: comment
archive:
  - {board: PaYmEnTs, list: Done, days: 30}
  - {days: 7}
"""


def test_full_file_builds_every_value():
    p = parse_policy(yml(FULL), "team.yml", {"BOARD": "AbCdEf12"})
    assert (p.board, p.list, p.done_list, p.source) == ("AbCdEf12", "Intake", "Done", "team.yml")
    assert p.people == (("alice@example.com", "alice"), ("bob dev", "bobd"))
    assert p.username_for("BOB DEV") == "bobd" and p.username_for("nobody") is None
    sandbox, payments = p.jenkins
    assert sandbox == Route(name="sandbox", kind="jenkins", skip=True, board="AbCdEf12", list="Intake",
                            match_jobs=("sandbox/**",))
    assert payments.board == "PaYmEnTs" and payments.list == "Broken builds" and payments.done_list == "Shipped"
    assert payments.match_jobs == ("payments/**", "billing/*")
    assert payments.match_branches == ("!PR-*",)
    assert payments.match_results == ("FAILURE", "UNSTABLE")
    assert payments.labels == ("ci", "red")
    assert payments.labels_from == (("result", (("FAILURE", "red"), ("UNSTABLE", "yellow"))),)
    assert payments.members == ("alice",) and payments.culprits
    assert (payments.after_failures, payments.unstable, payments.reopen_within) == (2, "ignore", 7 * 86400.0)
    assert payments.on_fix == OnFix("move", "Fixed")
    assert payments.template("name") == "{{ job }} #{{ build }}"
    assert payments.template("desc").startswith("Broken: {{ job }}\n")
    assert payments.template("comment") is None
    (alert,) = p.alerts
    assert alert.name == "alerts[0]" and alert.kind == "alerts"
    assert alert.matchers == (Matcher("severity", "=", "critical"), Matcher("team", "=~", "db|infra"))
    assert alert.formats == ("alertmanager",) and alert.sources == ("prod", "eu-*")
    assert alert.labels_from == (("severity", (("critical", "red"), ("warning", "yellow"))),)
    assert alert.members == ("bobd",) and not alert.culprits
    assert alert.on_fix == OnFix("comment") and alert.reopen_within == 3600.0
    assert p.archive == (Sweep("PaYmEnTs", "Done", 30.0), Sweep("AbCdEf12", "Done", 7.0))
    assert p.boards() == ("AbCdEf12", "PaYmEnTs")


def test_missing_sections_mean_one_default_route_and_empty_lists_mean_none():
    p = parse_policy("version: 1\n", "p.yml", ENV)
    assert [r.name for r in p.jenkins] == ["default"] and [r.name for r in p.alerts] == ["default"]
    p = parse_policy("version: 1\njenkins: {routes: []}\nalerts: {routes: []}\narchive: []\n", "p.yml", ENV)
    assert p.jenkins == () and p.alerts == () and p.archive == ()
    assert p.boards() == ("AbCdEf12",)


def test_the_env_fills_what_trello_leaves_out_and_the_file_wins():
    p = parse_policy("version: 1\n", "p.yml", {"TRELLO_BOARD": "AbCdEf12", "TRELLO_LIST": "Inbox"})
    assert (p.board, p.list, p.done_list) == ("AbCdEf12", "Inbox", "Done")
    p = parse_policy("version: 1\ntrello: {board: XyXyXyXy, list: L}\n", "p.yml", {"TRELLO_BOARD": "AbCdEf12"})
    assert (p.board, p.list, p.jenkins[0].board) == ("XyXyXyXy", "L", "XyXyXyXy")


def test_boards_are_every_board_once_in_order():
    p = parse_policy(yml("""
        version: 1
        trello: {board: AAAAAAAA}
        jenkins: {routes: [{board: BBBBBBBB}, {board: AAAAAAAA}]}
        alerts: {routes: [{board: CCCCCCCC}]}
        archive: [{board: DDDDDDDD}, {board: BBBBBBBB}]
        """), "p.yml", {})
    assert p.boards() == ("AAAAAAAA", "BBBBBBBB", "CCCCCCCC", "DDDDDDDD")


@pytest.mark.parametrize("text,seconds", [
    ("30s", 30), ("15m", 900), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("90", 90), ("0", 0),
    ("1.5h", 5400), ("'45'", 45),
])
def test_durations(text, seconds):
    p = parse_policy(f"version: 1\njenkins: {{routes: [{{reopen_within: {text}}}]}}\n", "p.yml", ENV)
    assert p.jenkins[0].reopen_within == seconds


@pytest.mark.parametrize("text", ["3 days", "-5", "7y", "1h30m", "true", "[1]", "''"])
def test_bad_durations(text):
    assert "reopen_within" in one_problem(f"version: 1\njenkins: {{routes: [{{reopen_within: {text}}}]}}\n")


def test_example_policy_is_accepted_by_check_config():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(["check-config", EXAMPLE], EXAMPLE_ENV)
    assert (code, err.getvalue()) == (0, "")
    assert out.getvalue() == f"{EXAMPLE}: ok (5 jenkins routes, 4 alert routes, 3 boards)\n"
    p = load_policy(EXAMPLE, EXAMPLE_ENV)
    assert p.boards() == ("PlAtFoRm", "PaYmEnTs", "OnCaLl12")
    assert len(p.archive) == 2


# --------------------------------------------------------------------------- ${VAR}


def test_expand():
    assert expand("${A}-${B:-b}-$${C}-$D", {"A": "a"}) == ("a-b-${C}-$D", [])
    assert expand("${B:-b}", {"B": ""}) == ("b", [])
    assert expand("${A}", {"A": ""}) == ("", [])
    text, troubles = expand("${SECRET_TOKEN}", {})
    assert text == "" and troubles and "SECRET_TOKEN" in troubles[0]
    assert "not a variable" in expand("${1x}", {})[1][0]
    assert "unclosed" in expand("x ${A", {"A": "a"})[1][0]


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).filter(lambda s: "$" not in s))
def test_text_without_dollar_is_unchanged(text):
    assert expand(text, {}) == (text, [])


def test_an_unset_variable_names_the_variable_never_a_value():
    text = "version: 1\ntrello:\n  board: ${MY_BOARD}\njenkins:\n  routes:\n    - {list: \"${TRELLO_TOKEN}\"}\n"
    env = {"TRELLO_TOKEN": "s3cr3t-token-value"}
    found = problems(text, env)
    assert found == ["p.yml:3: environment variable MY_BOARD is not set: set it, or write ${MY_BOARD:-default}"]
    # a bad value that came from the environment is shown as written, never expanded
    env = {"MY_BOARD": "s3cr3t-token-value", "TRELLO_TOKEN": "s3cr3t-token-value"}
    found = problems(text, env)
    assert len(found) == 1 and "${MY_BOARD}" in found[0] and "s3cr3t" not in found[0]


def test_variables_expand_in_every_string_and_never_in_keys():
    p = parse_policy(yml("""
        version: 1
        trello: {board: "${B}", list: "${L:-To Do}"}
        people: {"${WHO}": "${USER_NAME}"}
        jenkins: {routes: [{match: {job: "${FOLDER}/**"}, labels: ["${LABEL}"]}]}
        """), "p.yml", {"B": "AbCdEf12", "WHO": "x", "USER_NAME": "alice", "FOLDER": "team", "LABEL": "ci"})
    assert p.board == "AbCdEf12" and p.list == "To Do"
    assert p.people == (("${who}", "alice"),)
    assert p.jenkins[0].match_jobs == ("team/**",) and p.jenkins[0].labels == ("ci",)


# --------------------------------------------------------------------------- problems, with lines


def test_every_problem_is_reported_with_its_line():
    text = """
        version: 1
        trello:
          board: AbCdEf12
        people:
          alice@example.com: alice
        jenkins:
          routes:
            - match: {job: "a/b**"}
              colour: red
            - after_failures: 0
              members: [carol]
        alerts:
          routes:
            - match: ['severity==critical']
              labels_from: {severity: {critical: crimson}}
              name: "{{ x }"
        archive:
          - {days: -1}
        """
    found = problems(text)
    assert [f.split(":")[1] for f in found] == ["8", "9", "10", "11", "14", "15", "16", "18"], found
    assert all(f.startswith("p.yml:") and f.count(": ") >= 2 for f in found)
    assert "unknown key 'colour'" in found[1] and "labels" in found[1]
    assert "unknown person 'carol' in members: add them to people: or correct the name" in found[3]
    assert "crimson" in found[5] and "green, yellow" in found[5]
    assert "template" in found[6]


def test_parse_policy_raises_all_problems_and_str_is_the_first():
    with pytest.raises(PolicyError) as exc:
        parse_policy("version: 2\nbogus: 1\n", "p.yml", ENV)
    assert len(exc.value.problems) == 2
    assert str(exc.value) == "p.yml:1: version 2 is not supported: write version: 1"


@pytest.mark.parametrize("text,expected", [
    ("", "p.yml:1: the file is empty: start it with version: 1"),
    ("- a\n", "the file must be a mapping"),
    ("trello: {}\n", "p.yml:1: version is missing: add version: 1 as the first line"),
    ("version: '1'\n", "version '1' is not supported"),
    ("version: true\n", "version true is not supported"),
    ("version: 1\nversion: 1\n", "p.yml:2: duplicate key 'version' (first on line 1)"),
    ("version: 1\ntrelo: {}\n", "p.yml:2: unknown key 'trelo' in the file: did you mean 'trello'?"),
    ("version: 1\n  x: [\n", "p.yml:2: YAML syntax error"),
    ("version: 1\njenkins: {routes: [{match: {job: [\"a\", \"b\"]}}]\n", "p.yml:2: YAML syntax error"),
    ("version: 1\njenkins:\n  routes:\n    - match:\n        branch: !PR-*\n",
     "p.yml:5: YAML reads '!PR-*' as a tag: quote the value"),
    ("version: 1\njenkins:\n", "p.yml:2: jenkins: is empty"),
    ("version: 1\njenkins: {}\n", "p.yml:2: jenkins: has no routes:"),
    ("version: 1\njenkins: {routes: {a: 1}}\n", "jenkins.routes must be a list"),
    ("version: 1\njenkins: {routes: [x]}\n", "jenkins route jenkins[0] must be a mapping"),
    ("version: 1\njenkins: {routes: [{id: a}, {id: a}]}\n", "route id 'a' is used twice"),
    ("version: 1\njenkins: {routes: [{skip: yes please}]}\n", "skip must be true or false"),
    ("version: 1\njenkins: {routes: [{match: {job: '!x'}}]}\n", "negation is for branches only"),
    ("version: 1\njenkins: {routes: [{match: {branch: '!'}}]}\n", "nothing after '!'"),
    ("version: 1\njenkins: {routes: [{match: {branch: 'a[b'}}]}\n", "unclosed '['"),
    ("version: 1\njenkins: {routes: [{match: {result: SUCCESS}}]}\n", "'SUCCESS' is not a failing result"),
    ("version: 1\njenkins: {routes: [{match: {jobs: a}}]}\n", "unknown key 'jobs' in jenkins route jenkins[0] match"),
    ("version: 1\njenkins: {routes: [{labels: [ci, '']}]}\n", "labels entry is empty"),
    ("version: 1\njenkins: {routes: [{labels: [no]}]}\n", "labels entry must be text, got true/false (no): quote"),
    ("version: 1\njenkins: {routes: [{labels: []}]}\n", "labels is an empty list"),
    ("version: 1\njenkins: {routes: [{labels_from: {severity: {critical: red}}}]}\n", "unknown key 'severity'"),
    ("version: 1\njenkins: {routes: [{labels_from: {result: {ABORTED: red}}}]}\n", "'ABORTED' is not a failing"),
    ("version: 1\njenkins: {routes: [{after_failures: '2'}]}\n", "after_failures '2' is not a whole number"),
    ("version: 1\njenkins: {routes: [{after_failures: true}]}\n", "after_failures true is not a whole number"),
    ("version: 1\njenkins: {routes: [{unstable: warn}]}\n", "unstable 'warn' is not failing or ignore"),
    ("version: 1\njenkins: {routes: [{on_fix: move}]}\n", "on_fix 'move' is not one of archive, comment"),
    ("version: 1\njenkins: {routes: [{on_fix: {move: ''}}]}\n", "on_fix move is empty"),
    ("version: 1\njenkins: {routes: [{on_fix: {mvoe: Done}}]}\n", "did you mean 'move'?"),
    ("version: 1\njenkins: {routes: [{on_resolve: archive}]}\n", "unknown key 'on_resolve'"),
    ("version: 1\nalerts: {routes: [{on_fix: archive}]}\n", "unknown key 'on_fix'"),
    ("version: 1\nalerts: {routes: [{after_failures: 2}]}\n", "unknown key 'after_failures'"),
    ("version: 1\nalerts: {routes: [{members: culprits}]}\n", "culprits is only for jenkins routes"),
    ("version: 1\nalerts: {routes: [{match: {severity: critical}}]}\n", "a list of Alertmanager matchers"),
    ("version: 1\nalerts: {routes: [{match: ['x=~\"(\"']}]}\n", "does not compile"),
    ("version: 1\nalerts: {routes: [{format: prometheus}]}\n", "'prometheus' is not a webhook format"),
    ("version: 1\nalerts: {routes: [{source: 'a[b'}]}\n", "source glob 'a[b'"),
    ("version: 1\nalerts: {routes: [{board: my-board}]}\n", "board 'my-board' is neither a 24-character"),
    ("version: 1\nalerts: {routes: [{desc: '{% if x %}'}]}\n", "desc template"),
    ("version: 1\nalerts: {routes: [{comment: '{{ x | nosuchfilter }}'}]}\n", "nosuchfilter"),
    ("version: 1\nalerts: {routes: [{name: [a]}]}\n", "name must be a text template, got a list"),
    ("version: 1\npeople: {alice: 'not a name'}\n", "is not a Trello username"),
    ("version: 1\npeople: [alice]\n", "people must be a mapping"),
    ("version: 1\npeople: {Alice: a, ALICE: b}\n", "listed twice"),
    ("version: 1\narchive: {board: AbCdEf12}\n", "archive must be a list"),
    ("version: 1\narchive: [{days: 0}]\n", "days 0 is not a number of days > 0"),
    ("version: 1\narchive: [{dayz: 3}]\n", "did you mean 'days'?"),
    ("version: 1\ntrello: {board: AbCdEf12, list: 3}\n", "trello.list must be text, got a number (3): quote it"),
])
def test_each_problem(text, expected):
    found = one_problem(text)
    assert expected in found, found


def test_no_board_anywhere_is_an_error():
    assert "no default board" in one_problem("version: 1\n", env={})
    assert "TRELLO_BOARD is neither" in one_problem("version: 1\n", env={"TRELLO_BOARD": "bad"})


def test_template_errors_point_at_the_template_line():
    text = "version: 1\nalerts:\n  routes:\n    - desc: |\n        line one\n        {{ oops\n"
    assert one_problem(text).startswith("p.yml:6: ")


def test_people_and_members_are_normalised():
    p = parse_policy("version: 1\npeople: {A: '@Alice_1'}\njenkins: {routes: [{members: ['@ALICE_1', alice_1]}]}\n",
                     "p.yml", ENV)
    assert p.people == (("a", "alice_1"),) and p.jenkins[0].members == ("alice_1",)


def test_yaml_anchors_and_merge_keys_work():
    p = parse_policy(yml("""
        version: 1
        jenkins:
          routes:
            - &common {board: PaYmEnTs, labels: [ci]}
            - <<: *common
              list: Other
        """), "p.yml", ENV)
    assert p.jenkins[1].board == "PaYmEnTs" and p.jenkins[1].labels == ("ci",) and p.jenkins[1].list == "Other"


# --------------------------------------------------------------------------- check-config


def run(argv, env):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(argv, env)
    return code, out.getvalue(), err.getvalue()


def test_check_config_prints_every_problem_and_exits_2(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("version: 3\njenkins: {routes: [{members: [zed]}]}\n")
    code, out, err = run(["check-config", str(path)], ENV)
    assert code == 2 and out == ""
    assert err.splitlines() == [f"{path}:1: version 3 is not supported: write version: 1",
                                f"{path}:2: unknown person 'zed' in members: add them to people: or correct the name"]


def test_check_config_finds_the_file_from_config_or_the_environment(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("version: 1\n")
    expected = f"{path}: ok (1 jenkins route, 1 alert route, 1 board)\n"
    assert run(["check-config", "--config", str(path)], ENV) == (0, expected, "")
    assert run(["check-config"], {**ENV, "JENKINS_TRELLO_CONFIG": str(path)}) == (0, expected, "")
    code, out, err = run(["check-config"], ENV)
    assert code == 2 and "no policy file" in err and len(err.splitlines()) == 1
    code, out, err = run(["check-config", str(tmp_path / "gone.yml")], ENV)
    assert code == 2 and err == f"{tmp_path / 'gone.yml'}: the policy file does not exist: check the path given " \
                                "to --config or JENKINS_TRELLO_CONFIG\n"


def test_parser_details_never_quote_an_expanded_value():
    env = {**ENV, "V": "s3cr3t,x", "W": "x s3cr3t"}
    for text in ("alerts: {routes: [{match: ['token=${V}']}]}", "jenkins: {routes: [{match: {job: '${V}[' }}]}",
                 "alerts: {routes: [{comment: '{{ ${W} }}'}]}", "alerts: {routes: [{source: '[${V}'}]}"):
        found = one_problem("version: 1\n" + text + "\n", env)
        assert "s3cr3t" not in found and "the value is not shown" in found, found


def test_check_config_never_prints_a_secret(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("version: 1\ntrello: {board: '${TRELLO_TOKEN}'}\n")
    code, out, err = run(["check-config", str(path)], {"TRELLO_TOKEN": "0123456789abcdef-secret"})
    assert code == 2 and "secret" not in out + err and "${TRELLO_TOKEN}" in err


@pytest.mark.parametrize("argv", [["notify", "--result", "FAILURE"], ["reconcile"], ["doctor"], ["demo"],
                                  ["check-config"]])
def test_every_jenkins_command_takes_config(argv):
    args = cli.build_parser().parse_args([*argv, "--config", "team.yml"])
    assert args.config == "team.yml"
    help_text = io.StringIO()
    with contextlib.redirect_stdout(help_text), pytest.raises(SystemExit):
        cli.build_parser().parse_args([argv[0], "--help"])
    assert "--config FILE" in help_text.getvalue() and "JENKINS_TRELLO_CONFIG" in help_text.getvalue()


@pytest.mark.parametrize("argv", [["serve"], ["archive"], ["doctor"]])
def test_every_bridge_command_takes_config(argv):
    from grafana_bridge import cli as bridge_cli

    args = bridge_cli.build_parser().parse_args([*argv, "--config", "team.yml"])
    assert args.config == "team.yml"
    args = bridge_cli.build_parser().parse_args(argv)
    bridge_cli.resolve_config(args, {"JENKINS_TRELLO_CONFIG": "from-env.yml"})
    assert args.config == "from-env.yml"
