"""The Jenkins side: vars/trelloNotify.groovy and Jenkinsfile.example.

Both are run for real by Debian's Groovy 2.4 (the line Jenkins pipelines run)
against stubbed pipeline steps: tests/groovy/harness.groovy runs every
scenario in a single JVM and prints one ``SCENARIO {json}`` line each; the
tests below assert on those records. The shell scripts the steps would hand to
``sh`` are then run by a real /bin/sh with a fake notifier on PATH, to prove
that hostile job, board and result values reach the CLI as plain arguments.

``groovy`` is a test requirement (apt-get install groovy): when it is missing
the tests fail, they do not skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STEP = ROOT / "vars" / "trelloNotify.groovy"
STEP_HELP = ROOT / "vars" / "trelloNotify.txt"
JENKINSFILE = ROOT / "Jenkinsfile.example"
HARNESS_DIR = Path(__file__).resolve().parent / "groovy"

SECRET_VARIABLES = ("TRELLO_API_KEY", "TRELLO_TOKEN", "JENKINS_API_TOKEN", "JENKINS_USER")
HOSTILE_RESULT = 'FAILURE"; touch pwned-by-result; echo "'


# --------------------------------------------------------------------------- running the harness


def _java_home() -> str:
    java = shutil.which("java")
    if java is None:
        pytest.fail("`java` is not on PATH: install a JDK (apt-get install default-jdk-headless groovy)")
    # JAVA_HOME is the JDK that `java` resolves to: <home>/bin/java.
    return str(Path(os.path.realpath(java)).parent.parent)


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    groovy = shutil.which("groovy")
    if groovy is None:
        pytest.fail(
            "`groovy` is not installed: the Jenkins shared-library step is tested with Debian's "
            "Groovy 2.4 (apt-get install groovy); refusing to skip"
        )
    env = dict(os.environ, JAVA_HOME=_java_home())
    proc = subprocess.run(
        [groovy, "-cp", str(HARNESS_DIR / "stubs"), str(HARNESS_DIR / "harness.groovy"), str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"groovy harness failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    records: dict[str, dict] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("SCENARIO "):
            record = json.loads(line[len("SCENARIO ") :])
            records[record["scenario"]] = record
    assert "_meta" in records, f"harness printed no scenarios:\n{proc.stdout}\n{proc.stderr}"
    return records


def run_of(runs: dict[str, dict], name: str) -> dict:
    assert name in runs, f"scenario {name!r} missing from the harness output"
    record = runs[name]
    assert "harnessError" not in record, f"{name}: {record.get('stack') or record['harnessError']}"
    return record


@pytest.fixture(scope="module")
def secrets(runs) -> list[str]:
    values = list(runs["_meta"]["secrets"].values())
    assert set(runs["_meta"]["secrets"]) == set(SECRET_VARIABLES)
    return values


def only_sh(record: dict) -> dict:
    assert len(record["shCalls"]) == 1, record["shCalls"]
    return record["shCalls"][0]


def assert_result_untouched(record: dict) -> None:
    assert record["resultSetAttempts"] == [], "the build result must never be changed"
    assert record["errors"] == [], "`error` must never be called"


STEP_SCENARIOS = [
    "default",
    "default_empty_map",
    "unstable",
    "success_raw_null",
    "options",
    "anonymous_null",
    "anonymous_empty",
    "no_trello_bindings",
    "dry_run_false",
    "dry_run_string_false",
    "dry_run_string_true",
    "hostile_values",
    "unknown_option",
    "config_relative",
    "config_absolute",
    "config_empty",
    "config_hostile",
    "exit_1",
    "exit_2",
    "exit_127",
    "exit_3",
    "sh_abort_exception",
    "sh_runtime_exception",
    "missing_credentials",
    "flow_interrupted",
    "interrupted",
]
JENKINSFILE_SCENARIOS = [
    "jenkinsfile_exit_1",
    "jenkinsfile_exit_0",
    "jenkinsfile_missing_credentials",
    "jenkinsfile_sh_throws",
    "jenkinsfile_flow_interrupted",
]


def test_harness_runs_every_scenario_on_groovy_2_4(runs):
    assert runs["_meta"]["groovyVersion"].startswith("2.4."), runs["_meta"]["groovyVersion"]
    for name in STEP_SCENARIOS + JENKINSFILE_SCENARIOS:
        run_of(runs, name)
    assert set(runs) == {"_meta", *STEP_SCENARIOS, *JENKINSFILE_SCENARIOS}


# --------------------------------------------------------------------------- 1. the default call


@pytest.mark.parametrize("name", ["default", "default_empty_map"])
def test_default_call_runs_one_constant_sh(runs, secrets, name):
    record = run_of(runs, name)
    assert record.get("thrown") is None
    assert record["returned"] == 0 and record["returnedClass"] == "java.lang.Integer"
    call = only_sh(record)
    script = call["script"]
    assert call["returnStatus"] is True
    assert call["scriptIsGString"] is False, "the sh script must be a plain (single-quoted) string"
    assert re.search(r'\bnotify --result "\$TRELLO_NOTIFY_RESULT"', script), script
    assert "--dry-run" not in script
    for secret in secrets:
        assert secret not in script
    # Nothing user-supplied or build-specific is in the command line: it all comes via env.
    for value in ("FAILURE", "team/app", "rm -rf", "feature%2Fx", "42", "jenkins-trello"):
        assert value not in script, value
    assert record["echoes"] == []
    assert_result_untouched(record)


def test_default_call_binds_the_default_credentials(runs):
    record = run_of(runs, "default")
    assert record["credentialRequests"] == [
        {"type": "string", "credentialsId": "trello-api-key", "variable": "TRELLO_API_KEY"},
        {"type": "string", "credentialsId": "trello-token", "variable": "TRELLO_TOKEN"},
        {
            "type": "usernamePassword",
            "credentialsId": "jenkins-api-token",
            "usernameVariable": "JENKINS_USER",
            "passwordVariable": "JENKINS_API_TOKEN",
        },
    ]
    env = only_sh(record)["env"]
    meta_secrets = runs["_meta"]["secrets"]
    for variable in SECRET_VARIABLES:
        assert env[variable] == meta_secrets[variable]
    assert env["TRELLO_NOTIFY_CMD"] == "jenkins-trello"
    assert env["TRELLO_NOTIFY_RESULT"] == "FAILURE"
    # Jenkins' own variables pass through untouched, for the CLI's --job/--build/--build-url defaults.
    for name, value in runs["_meta"]["baseEnv"].items():
        assert env[name] == value
    # Settings that were not given are not set, so the agent's own TRELLO_BOARD etc. apply.
    for name in ("TRELLO_BOARD", "TRELLO_LIST", "TRELLO_DONE_LIST", "TRELLO_API_URL"):
        assert name not in env
    # The secrets are bound only while the notifier runs.
    for variable in SECRET_VARIABLES:
        assert variable not in record["envAfter"]
    assert record["events"] == ["withCredentials", "withEnv", "sh"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("default", "FAILURE"), ("unstable", "UNSTABLE"), ("success_raw_null", "SUCCESS")],
)
def test_result_is_current_result_never_result(runs, name, expected):
    # currentBuild.result is null in these scenarios; currentResult is what must be passed.
    record = run_of(runs, name)
    assert only_sh(record)["env"]["TRELLO_NOTIFY_RESULT"] == expected
    assert record["resultReads"] == 0, "currentBuild.result may be null: read currentResult"
    assert_result_untouched(record)


# --------------------------------------------------------------------------- 2. options


def test_options_reach_the_environment_and_flags(runs, secrets):
    record = run_of(runs, "options")
    call = only_sh(record)
    env = call["env"]
    assert env["TRELLO_BOARD"] == "AbCdEf12"
    assert env["TRELLO_LIST"] == "Broken builds"
    assert env["TRELLO_DONE_LIST"] == "Shipped"
    assert env["TRELLO_API_URL"] == "http://127.0.0.1:9999/1"
    assert env["JENKINS_URL"] == "http://jenkins.internal:8080/"
    assert env["TRELLO_NOTIFY_CMD"] == ".venv/bin/jenkins-trello"
    assert call["script"].endswith(" --dry-run")
    for value in ("AbCdEf12", "Broken builds", "Shipped", ".venv", *secrets):
        assert value not in call["script"]
    assert [(r["credentialsId"], r["type"]) for r in record["credentialRequests"]] == [
        ("team-trello-key", "string"),
        ("team-trello-token", "string"),
        ("team-jenkins", "usernamePassword"),
    ]
    assert record["echoes"] == []
    assert_result_untouched(record)


@pytest.mark.parametrize("name", ["dry_run_false", "dry_run_string_false"])
def test_dry_run_false_adds_no_flag(runs, name):
    assert "--dry-run" not in only_sh(run_of(runs, name))["script"]


def test_dry_run_string_true_adds_the_flag(runs):
    assert only_sh(run_of(runs, "dry_run_string_true"))["script"].endswith(" --dry-run")


@pytest.mark.parametrize("name", ["anonymous_null", "anonymous_empty"])
def test_jenkins_credentials_can_be_switched_off(runs, name):
    record = run_of(runs, name)
    assert [r["type"] for r in record["credentialRequests"]] == ["string", "string"]
    env = only_sh(record)["env"]
    assert "JENKINS_USER" not in env and "JENKINS_API_TOKEN" not in env
    assert env["TRELLO_API_KEY"] and env["TRELLO_TOKEN"]
    assert record["returned"] == 0


def test_trello_credentials_can_come_from_the_agent(runs):
    record = run_of(runs, "no_trello_bindings")
    assert [r["credentialsId"] for r in record["credentialRequests"]] == ["jenkins-api-token"]
    env = only_sh(record)["env"]
    assert "TRELLO_API_KEY" not in env and "TRELLO_TOKEN" not in env
    assert record["returned"] == 0


def test_unknown_option_is_named_not_fatal(runs):
    record = run_of(runs, "unknown_option")
    assert record["echoes"] == ["trelloNotify: ignoring unknown option(s): borad"]
    assert record["returned"] == 0
    assert len(record["shCalls"]) == 1


# --------------------------------------------------------------------------- the scripts in a real shell


FAKE_NOTIFIER = """#!{python}
import json, os, sys
with open(os.environ["FAKE_OUT"], "w") as out:
    json.dump({{"argv0": os.path.basename(sys.argv[0]), "args": sys.argv[1:],
               "env": {{k: os.environ.get(k) for k in {names!r}}}}}, out)
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


def run_in_shell(tmp_path: Path, call: dict, exit_code: int = 0) -> tuple[int, dict]:
    """Run the recorded sh script with /bin/sh and the recorded env; fake notifiers on PATH."""
    names = [
        "TRELLO_API_KEY",
        "TRELLO_TOKEN",
        "JENKINS_USER",
        "JENKINS_API_TOKEN",
        "TRELLO_BOARD",
        "TRELLO_LIST",
        "JOB_NAME",
        "BUILD_NUMBER",
        "BUILD_URL",
    ]
    text = FAKE_NOTIFIER.format(python=sys.executable, names=names)
    bin_dir = tmp_path / "bin"
    for path in (bin_dir / "jenkins-trello", bin_dir / "fake-notifier", tmp_path / ".venv" / "bin" / "jenkins-trello"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "a-file-a-glob-would-find").write_text("")
    out = tmp_path / "out.json"
    env = dict(
        call["env"], PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_OUT=str(out), FAKE_EXIT=str(exit_code)
    )
    proc = subprocess.run(
        ["/bin/sh", "-c", call["script"]], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert out.exists(), f"the notifier did not run: {proc.stderr}"
    assert not list(tmp_path.glob("pwned*")), "a value was executed by the shell"
    return proc.returncode, json.loads(out.read_text())


def test_default_script_in_a_real_shell(runs, tmp_path):
    record = run_of(runs, "default")
    status, seen = run_in_shell(tmp_path, only_sh(record), exit_code=2)
    assert status == 2, "the notifier's exit status must reach sh's returnStatus"
    assert seen["argv0"] == "jenkins-trello"
    assert seen["args"] == ["notify", "--result", "FAILURE"]
    assert seen["env"]["JOB_NAME"] == runs["_meta"]["baseEnv"]["JOB_NAME"]
    for variable in SECRET_VARIABLES:
        assert seen["env"][variable] == runs["_meta"]["secrets"][variable]


def test_options_script_in_a_real_shell(runs, tmp_path):
    status, seen = run_in_shell(tmp_path, only_sh(run_of(runs, "options")))
    assert status == 0
    assert seen["args"] == ["notify", "--result", "FAILURE", "--dry-run"]
    assert seen["env"]["TRELLO_LIST"] == "Broken builds"


def test_hostile_values_are_plain_arguments(runs, tmp_path):
    record = run_of(runs, "hostile_values")
    call = only_sh(record)
    for value in (HOSTILE_RESULT, "pwned", "touch"):
        assert value not in call["script"]
    status, seen = run_in_shell(tmp_path, call)
    assert status == 0
    # A multi-word command ('python3 -m jenkins_trello') is split into words, never parsed
    # as shell code, and not globbed.
    assert seen["argv0"] == "fake-notifier"
    assert seen["args"] == ["--first", "*", "notify", "--result", HOSTILE_RESULT]
    assert seen["env"]["TRELLO_BOARD"] == "b$(touch pwned-by-board)`touch pwned-by-tick`"
    assert seen["env"]["TRELLO_LIST"] == "it's; touch pwned-by-list"


# --------------------------------------------------------------------------- 2b. the policy file


CONFIG_HOSTILE = "ci/a b;touch pwned-by-config $(touch pwned-by-subst)*.yml"


@pytest.mark.parametrize(("name", "path"), [("config_relative", "ci/trello.yml"),
                                            ("config_absolute", "/etc/jenkins-trello/team.yml"),
                                            ("config_hostile", CONFIG_HOSTILE)])
def test_config_passes_the_policy_file_through_the_environment(runs, name, path):
    record = run_of(runs, name)
    call = only_sh(record)
    assert call["scriptIsGString"] is False
    assert call["env"]["TRELLO_NOTIFY_CONFIG"] == path
    assert '--config "$TRELLO_NOTIFY_CONFIG"' in call["script"] and path not in call["script"]
    assert record["echoes"] == []  # config is a known option
    assert_result_untouched(record)


def test_config_and_dry_run_in_a_real_shell(runs, tmp_path):
    status, seen = run_in_shell(tmp_path, only_sh(run_of(runs, "config_relative")))
    assert status == 0
    assert seen["args"] == ["notify", "--result", "FAILURE", "--config", "ci/trello.yml", "--dry-run"]


def test_a_hostile_config_path_is_one_plain_argument(runs, tmp_path):
    status, seen = run_in_shell(tmp_path, only_sh(run_of(runs, "config_hostile")))
    assert status == 0
    assert seen["args"] == ["notify", "--result", "FAILURE", "--config", CONFIG_HOSTILE]


def test_an_empty_config_adds_no_flag(runs, tmp_path):
    call = only_sh(run_of(runs, "config_empty"))
    assert "--config" not in call["script"] and "TRELLO_NOTIFY_CONFIG" not in call["env"]
    status, seen = run_in_shell(tmp_path, call)
    assert seen["args"] == ["notify", "--result", "FAILURE"]


# --------------------------------------------------------------------------- 3. the notifier fails


@pytest.mark.parametrize(
    ("code", "says"),
    [(1, "exit 1"), (2, "configuration problem"), (127, "command not found"), (3, "exit 3")],
)
def test_failing_notifier_is_one_echo_and_the_status(runs, code, says):
    record = run_of(runs, f"exit_{code}")
    assert record.get("thrown") is None
    assert record["returned"] == code
    assert len(record["shCalls"]) == 1
    assert len(record["echoes"]) == 1
    line = record["echoes"][0]
    assert "\n" not in line
    assert line.startswith(f"trelloNotify: notifier failed (exit {code}")
    assert says in line
    assert line.endswith("; build result unchanged")
    assert_result_untouched(record)


# --------------------------------------------------------------------------- 4. exceptions


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("sh_abort_exception", "hudson.AbortException: Required context class hudson.FilePath is missing"),
        ("sh_runtime_exception", "java.lang.IllegalStateException: boom"),
        ("missing_credentials", "Could not find credentials entry with ID 'trello-token'"),
    ],
)
def test_exceptions_are_echoed_and_swallowed(runs, name, says):
    record = run_of(runs, name)
    assert record.get("thrown") is None, record.get("thrown")
    assert record["returned"] == -1
    assert len(record["echoes"]) == 1
    line = record["echoes"][0]
    assert "\n" not in line
    assert line.startswith("trelloNotify: could not run the notifier: ")
    assert says in line
    assert line.endswith("; build result unchanged")
    assert_result_untouched(record)


def test_missing_credentials_runs_nothing(runs):
    assert run_of(runs, "missing_credentials")["shCalls"] == []


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("flow_interrupted", "org.jenkinsci.plugins.workflow.steps.FlowInterruptedException"),
        ("interrupted", "java.lang.InterruptedException"),
    ],
)
def test_abort_is_rethrown(runs, name, cls):
    record = run_of(runs, name)
    assert record.get("thrown") == cls, "an abort must be rethrown"
    assert record["echoes"] == []
    assert_result_untouched(record)


# --------------------------------------------------------------------------- 5. no secret is printed


def test_no_secret_in_any_script_or_echo(runs, secrets):
    for name in STEP_SCENARIOS + JENKINSFILE_SCENARIOS:
        record = run_of(runs, name)
        printed = [call["script"] for call in record["shCalls"]] + record["echoes"]
        printed.append(str(record.get("thrownMessage")))
        for text in printed:
            for secret in secrets:
                assert secret not in text, (name, text)
        for call in record["shCalls"]:
            assert call["scriptIsGString"] is False, (name, call["script"])
            assert call["returnStatus"] is True, name


# --------------------------------------------------------------------------- 6. Jenkinsfile.example


def test_jenkinsfile_shape(runs):
    record = run_of(runs, "jenkinsfile_exit_0")
    assert record["agent"] == "any"
    assert record["stages"] == ["Test"]
    assert record["stepsLevels"] == ["stage:Test"]
    assert record["postLevels"] == {"stage:Test": ["always"], "pipeline": ["always"]}
    assert record["junitCalls"] == [{"allowEmptyResults": True, "testResults": "reports/*.xml"}]


def test_jenkinsfile_post_notifier_failure_leaves_the_result(runs, secrets, tmp_path):
    record = run_of(runs, "jenkinsfile_exit_1")
    assert record.get("thrown") is None
    call = only_sh(record)
    assert call["script"] == 'jenkins-trello notify --result "$TRELLO_NOTIFY_RESULT"'
    assert call["returnStatus"] is True
    for secret in secrets:
        assert secret not in call["script"]
    assert call["env"]["TRELLO_NOTIFY_RESULT"] == "UNSTABLE"  # currentResult; result is null
    assert record["resultReads"] == 0
    for variable in SECRET_VARIABLES:
        assert call["env"][variable] == runs["_meta"]["secrets"][variable]
    assert [r["credentialsId"] for r in record["credentialRequests"]] == [
        "trello-api-key",
        "trello-token",
        "jenkins-api-token",
    ]
    assert record["echoes"] == ["Trello notifier failed (exit 1); build result unchanged"]
    assert_result_untouched(record)
    status, seen = run_in_shell(tmp_path, call, exit_code=1)
    assert status == 1
    assert seen["args"] == ["notify", "--result", "UNSTABLE"]


def test_jenkinsfile_post_success(runs):
    record = run_of(runs, "jenkinsfile_exit_0")
    assert record.get("thrown") is None
    assert only_sh(record)["env"]["TRELLO_NOTIFY_RESULT"] == "SUCCESS"
    assert record["echoes"] == []
    assert_result_untouched(record)


@pytest.mark.parametrize("name", ["jenkinsfile_missing_credentials", "jenkinsfile_sh_throws"])
def test_jenkinsfile_post_problems_are_echoed(runs, name):
    record = run_of(runs, name)
    assert record.get("thrown") is None
    assert len(record["echoes"]) == 1
    assert record["echoes"][0].startswith("Trello notifier not run: hudson.AbortException: ")
    assert_result_untouched(record)


def test_jenkinsfile_post_abort_is_rethrown(runs):
    record = run_of(runs, "jenkinsfile_flow_interrupted")
    assert record.get("thrown") == "org.jenkinsci.plugins.workflow.steps.FlowInterruptedException"
    assert_result_untouched(record)


# --------------------------------------------------------------------------- static checks of the sources


def groovy_tokens(source: str) -> list[tuple[str, str]]:
    """Split Groovy source into ("code", text) and (quote, string body) tokens, comments dropped.

    Enough of a lexer for these files: // and /* */ comments, '...', '''...''',
    "..." and \"\"\"...\"\"\" with backslash escapes (no slashy strings).
    """
    out: list[tuple[str, str]] = []
    i, n, start = 0, len(source), 0
    while i < n:
        if source.startswith("//", i) or source.startswith("/*", i):
            out.append(("code", source[start:i]))
            if source.startswith("//", i):
                end = source.find("\n", i)
                i = n if end < 0 else end
            else:
                end = source.find("*/", i + 2)
                i = n if end < 0 else end + 2
            start = i
        elif source[i] in "'\"":
            out.append(("code", source[start:i]))
            quote = source[i] * 3 if source.startswith(source[i] * 3, i) else source[i]
            j = i + len(quote)
            while j < n and not source.startswith(quote, j):
                j += 2 if source[j] == "\\" else 1
            out.append((quote, source[i + len(quote) : j]))
            i = start = j + len(quote)
        else:
            i += 1
    out.append(("code", source[start:]))
    return out


SECRET_INTERPOLATION = re.compile(
    r"\$(\{[^}]*\b(" + "|".join(SECRET_VARIABLES) + r")\b[^}]*\}|(env\.)?(" + "|".join(SECRET_VARIABLES) + r")\b)"
)


def interpolated_secrets(source: str) -> list[str]:
    return [body for kind, body in groovy_tokens(source) if kind.startswith('"') and SECRET_INTERPOLATION.search(body)]


def test_the_interpolation_check_catches_what_it_should():
    bad = [
        'sh "curl -u x:${TRELLO_TOKEN} https://x"',
        'sh "echo $TRELLO_API_KEY"',
        'sh """jenkins-trello --token ${env.JENKINS_API_TOKEN}"""',
        'echo "user ${ JENKINS_USER }"',
    ]
    for snippet in bad:
        assert interpolated_secrets(snippet), snippet
    good = [
        "sh 'jenkins-trello notify --token \"$TRELLO_TOKEN\"'",
        "sh '''echo \"$TRELLO_API_KEY\" | wc -c'''",
        '// sh "${TRELLO_TOKEN}" in a comment',
        'echo "result ${currentBuild.currentResult}"',
    ]
    for snippet in good:
        assert not interpolated_secrets(snippet), snippet


@pytest.mark.parametrize("path", [STEP, JENKINSFILE], ids=lambda p: p.name)
def test_no_groovy_interpolation_of_secrets(path):
    assert interpolated_secrets(path.read_text()) == []


def code_only(path: Path) -> str:
    """The source without its comments (string literals kept, with their quotes)."""
    return "".join(body if kind == "code" else kind + body + kind for kind, body in groovy_tokens(path.read_text()))


@pytest.mark.parametrize("path", [STEP, JENKINSFILE], ids=lambda p: p.name)
def test_never_touches_the_build_result(path):
    code = code_only(path)
    assert not re.search(r"currentBuild\.result\b", code)
    assert not re.search(r"\bcurrentBuild\.(setResult|currentResult\s*=[^=])", code)
    assert not re.search(r"\berror\s*[(\s'\"]", code)
    assert "catchError" not in code
    assert "unstable(" not in code


def test_step_is_groovy_2_4_and_cps_friendly():
    code = code_only(STEP)
    assert re.search(r"^def call\(Map args = \[:\]\)", code, flags=re.M)
    assert "->" not in code, "no closures with parameters handed to non-CPS methods"
    assert not re.search(r"\.(each|collect|findAll|find|any|every)\s*[({]", code)
    assert not re.search(r"^\s*var\s", code, flags=re.M)
    assert "returnStatus: true" in code


def test_jenkinsfile_documents_the_shared_library_way():
    text = JENKINSFILE.read_text()
    assert "@Library('jenkins-trello') _" in text
    assert "trelloNotify(board: 'AbCdEf12', list: 'Broken builds')" in text
    assert "withCredentials(" in text


def test_step_help_text_names_every_option():
    text = STEP_HELP.read_text()
    for option in (
        "board",
        "list",
        "doneList",
        "apiUrl",
        "jenkinsUrl",
        "trelloCredentialsId",
        "trelloTokenCredentialsId",
        "jenkinsCredentialsId",
        "result",
        "command",
        "dryRun",
        "config",
    ):
        assert f"<code>{option}</code>" in text, option


def test_the_policy_file_is_documented_for_both_ways():
    assert "trelloNotify(config: 'ci/trello.yml')" in JENKINSFILE.read_text()
    assert "JENKINS_TRELLO_CONFIG=ci/trello.yml" in JENKINSFILE.read_text()
    assert "trelloNotify(config: 'ci/trello.yml')" in STEP.read_text()
    assert "config: 'ci/trello.yml'" in STEP_HELP.read_text()
