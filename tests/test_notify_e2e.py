"""End to end: the real CLI code, the real python-jenkins client and the Trello client over real sockets.

Each test drives the emulators the way Jenkins would: a build starts, its post
step runs ``jenkins-trello notify --result …`` while the build is still
running, then the build finishes.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jenkins_trello import cli
from jenkins_trello.cards import job_key, read_marker
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator

KEY = "a1" * 16
TOKEN = "tok" + "b2" * 30
JUSER, JTOKEN = "ci-bot", "jenkins-secret-" + "c3" * 8
FAILED_TESTS = {"passed": 40, "skipped": 1, "failed": [("app.T", "test_a"), ("app.T", "test_b")]}


class World:
    def __init__(self, trello: TrelloEmulator, jenkins: JenkinsEmulator) -> None:
        self.trello, self.jenkins = trello, jenkins
        self.board = trello.add_board("Team")
        self.lists = {n: trello.add_list(self.board["id"], n)["id"] for n in ("To Do", "Doing", "Done")}
        self.env = {
            "TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": self.board["id"],
            "TRELLO_API_URL": trello.url, "JENKINS_URL": jenkins.url, "JENKINS_USER": JUSER,
            "JENKINS_API_TOKEN": JTOKEN, "JENKINS_TRELLO_RETRY_SECONDS": "3", "JENKINS_TRELLO_TIMEOUT": "2",
        }
        self.outputs: list[str] = []

    def run(self, *argv: str, env: dict | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.run(list(argv), {**self.env, **(env or {})})
        self.outputs += [out.getvalue(), err.getvalue()]
        return code, out.getvalue(), err.getvalue()

    def build(self, job: str, result: str, *, tests=None, changes=None, finish: bool = True, extra=()):
        """Start a build, run its post step, finish it. Returns (exit, stdout, stderr, jenkins_reqs, trello_reqs)."""
        number = self.jenkins.start_build(job, changes=changes)
        if tests is not None:
            self.jenkins.record_tests(job, number, tests)  # junit runs before the post block
        self.trello.reset_log()
        self.jenkins.reset_log()
        code, out, err = self.run("notify", "--result", result, "--job", job, "--build", str(number), *extra)
        counts = (self.jenkins.count(), self.trello.count())
        if finish:
            self.jenkins.finish_build(job, number, result.upper())
        return code, out, err, counts, number

    def open_cards(self, job: str | None = None) -> list[dict]:
        cards = self.trello.cards(self.board["id"])
        if job is None:
            return cards
        return [c for c in cards if (read_marker(c["desc"]) or ("",))[0] == job_key(job)]


@pytest.fixture
def world():
    with TrelloEmulator(key=KEY, token=TOKEN) as trello, JenkinsEmulator(user=JUSER, token=JTOKEN) as jenkins:
        w = World(trello, jenkins)
        yield w
        # no secret ever travels in a URL
        assert trello.secrets_in_url == []
        for text in w.outputs:
            assert KEY not in text and TOKEN not in text and JTOKEN not in text


def test_full_lifecycle_and_request_budget(world):
    job = "team/app"
    world.jenkins.add_job(job)

    code, out, _, counts, _ = world.build(job, "SUCCESS")
    assert code == 0 and "nothing to do" in out
    assert counts == (1, 0)  # DESIGN: 1 Jenkins request, 0 Trello requests

    code, out, _, counts, n = world.build(job, "FAILURE", tests=FAILED_TESTS,
                                          changes=[{"msg": "Break it", "author": "Ann", "commitId": "abc123"}])
    assert code == 0 and "created" in out
    assert counts[0] == 2 and counts[1] <= 3  # history + test report; find, create, (+1 twin check)
    [card] = world.open_cards(job)
    assert card["idList"] == world.lists["To Do"]
    assert card["name"] == f"team/app #{n} failed"
    assert "Break it" in card["desc"] and "Ann" in card["desc"] and f"/{n}/" in card["desc"]
    assert "Failing tests: 2" in card["desc"] and "app.T.test\\_a" in card["desc"]  # escaped like every sender value

    code, out, _, counts, n = world.build(job, "FAILURE")
    assert code == 0 and "commented" in out and counts == (1, 2)
    [card] = world.open_cards(job)
    assert f"#{n}" in world.trello.comments(card["id"])[-1]

    code, out, _, counts, n = world.build(job, "SUCCESS")
    assert code == 0 and "archived" in out and counts == (1, 3)
    assert world.open_cards(job) == []
    archived = [c for c in world.trello.cards(world.board["id"], include_closed=True) if c["id"] == card["id"]]
    assert archived[0]["closed"] and f"#{n}" in world.trello.comments(card["id"])[-1]

    code, out, _, counts, _ = world.build(job, "SUCCESS")
    assert code == 0 and counts == (1, 0)


def test_unstable_counts_as_failing_and_aborted_changes_nothing(world):
    job = "team/lib"
    world.jenkins.add_job(job)
    world.build(job, "UNSTABLE", tests=FAILED_TESTS)
    [card] = world.open_cards(job)
    assert card["name"].endswith("unstable")
    code, out, _, counts, _ = world.build(job, "ABORTED")
    assert code == 0 and "nothing to do" in out
    assert counts[1] == 0  # an ABORTED build never touches the board
    code, out, _, _, _ = world.build(job, "success")  # any case; ABORTED in between is skipped
    assert code == 0 and world.open_cards(job) == []


@pytest.mark.parametrize("job", ["folder/sub/app", "org/repo/feature%2Fx"])
def test_folders_and_encoded_branch_names(world, job):
    world.jenkins.add_job(job)
    world.build(job, "FAILURE")
    [card] = world.open_cards(job)
    assert card["name"].startswith(job.replace("%2F", "/") + " #")
    world.build(job, "SUCCESS")
    assert world.open_cards(job) == []


def test_encoded_slash_branch_and_real_folder_are_different_jobs(world):
    world.jenkins.add_job("org/repo/feature%2Fx")
    world.jenkins.add_job("org/repo/feature/x")
    world.build("org/repo/feature%2Fx", "FAILURE")
    world.build("org/repo/feature/x", "SUCCESS")  # its own previous is success: no card touched
    assert len(world.open_cards("org/repo/feature%2Fx")) == 1


def test_rerun_of_the_same_post_step_leaves_one_card_and_no_extra_comment(world):
    job = "team/app"
    world.jenkins.add_job(job)
    number = world.jenkins.start_build(job)
    for _ in range(2):
        code, _, _ = world.run("notify", "--result", "FAILURE", "--job", job, "--build", str(number))
        assert code == 0
    [card] = world.open_cards(job)
    assert world.trello.comments(card["id"]) == []


def test_person_renames_and_moves_the_card(world):
    job = "team/app"
    world.jenkins.add_job(job)
    world.build(job, "FAILURE")
    [card] = world.open_cards(job)
    world.trello.human_rename(card["id"], "Ann is looking at this")
    world.trello.human_move(card["id"], world.lists["Doing"])
    code, out, _, _, _ = world.build(job, "FAILURE")
    assert "commented" in out and len(world.open_cards(job)) == 1
    world.build(job, "SUCCESS")
    assert world.open_cards(job) == []


def test_card_archived_by_a_person_is_replaced_at_the_next_failure(world):
    job = "team/app"
    world.jenkins.add_job(job)
    world.build(job, "FAILURE")
    [card] = world.open_cards(job)
    world.trello.human_archive(card["id"])
    world.build(job, "FAILURE")
    [new] = world.open_cards(job)
    assert new["id"] != card["id"]


def test_late_failure_after_newer_success_changes_nothing(world):
    job = "team/app"
    world.jenkins.add_job(job)
    world.build(job, "FAILURE")
    slow = world.jenkins.start_build(job)  # #2 still running
    code, out, _, _, _ = world.build(job, "SUCCESS")  # #3 finishes first, archives the card
    assert "archived" in out and world.open_cards(job) == []
    world.trello.reset_log()
    code, out, _ = world.run("notify", "--result", "FAILURE", "--job", job, "--build", str(slow))
    world.jenkins.finish_build(job, slow, "FAILURE")
    assert code == 0 and "newer build" in out and world.trello.count() == 0
    assert world.open_cards(job) == []


def test_newer_build_still_running_does_not_count(world):
    job = "team/app"
    world.jenkins.add_job(job)
    world.build(job, "SUCCESS")
    current = world.jenkins.start_build(job)
    world.jenkins.start_build(job)  # newer, still running
    code, out, _ = world.run("notify", "--result", "FAILURE", "--job", job, "--build", str(current))
    assert code == 0 and "created" in out


def test_two_builds_failing_at_once_leave_one_card(world):
    job = "team/app"
    world.jenkins.add_job(job)
    world.build(job, "SUCCESS")
    a, b = world.jenkins.start_build(job), world.jenkins.start_build(job)
    # force the race every run: both board reads are answered only once both were asked,
    # so both notifiers see no card and both create one; the twin check must then fold them
    reads = threading.Barrier(2, timeout=10)
    handle, seen = world.trello.handle, []

    def racing_handle(req):
        if req.method == "GET" and req.path == f"/1/boards/{world.board['id']}" and len(seen) < 2:
            seen.append(req.path)
            reads.wait()
        return handle(req)

    world.trello.handle = racing_handle
    codes = []

    def post(n):
        codes.append(world.run("notify", "--result", "FAILURE", "--job", job, "--build", str(n))[0])

    threads = [threading.Thread(target=post, args=(n,)) for n in (a, b)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert codes == [0, 0] and len(seen) == 2
    every = [c for c in world.trello.cards(world.board["id"], include_closed=True)
             if (read_marker(c["desc"]) or ("",))[0] == job_key(job)]
    assert len(every) == 2, "the race made a twin"
    [kept] = world.open_cards(job)
    [twin] = [c for c in every if c["id"] != kept["id"]]
    assert twin["closed"] and kept["id"] < twin["id"]  # the oldest card is kept
    notes = world.trello.comments(twin["id"])
    assert notes and all("duplicate" in t and f"({kept['shortUrl']})" in t for t in notes)
    assert world.trello.comments(kept["id"]) == []


def test_dry_run_reads_decides_and_writes_nothing(world):
    job = "team/app"
    world.jenkins.add_job(job)
    code, out, _, _, _ = world.build(job, "FAILURE", extra=("--dry-run",))
    assert code == 0 and "would create card" in out
    assert world.trello.write_count() == 0 and world.open_cards() == []


def test_reconcile_archives_fixed_and_vanished_jobs(world):
    for job in ("team/fixed", "team/gone", "team/broken"):
        world.jenkins.add_job(job)
        world.build(job, "FAILURE")
    # the fix of team/fixed was never notified (post step skipped)
    n = world.jenkins.start_build("team/fixed")
    world.jenkins.finish_build("team/fixed", n, "SUCCESS")
    world.jenkins.delete_job("team/gone")
    code, out, _ = world.run("reconcile", "--dry-run")
    assert code == 0 and out.count("would") >= 2 and len(world.open_cards()) == 3
    code, out, err = world.run("reconcile")
    assert code == 0, err
    assert [read_marker(c["desc"])[0] for c in world.open_cards()] == [job_key("team/broken")]
    assert "no longer exists" in " ".join(
        t for c in world.trello.cards(world.board["id"], include_closed=True) for t in world.trello.comments(c["id"]))


# ---------------------------------------------------------------- faults


def test_trello_503_then_recovery(world):
    world.jenkins.add_job("a")
    world.trello.inject("503", times=2)
    code, out, err, _, _ = world.build("a", "FAILURE")
    assert code == 0 and "created" in out and len(world.open_cards("a")) == 1


def test_trello_429_with_headers_is_waited_out(world):
    world.jenkins.add_job("a")
    world.trello.inject("429", times=1)
    code, out, _, _, _ = world.build("a", "FAILURE")
    assert code == 0 and len(world.open_cards("a")) == 1


def test_create_answer_lost_leaves_one_card(world):
    world.jenkins.add_job("a")
    world.trello.inject("drop_after", method="POST", path=r"/1/cards$", times=1)
    code, out, err, _, _ = world.build("a", "FAILURE")
    assert code == 0, err
    assert len(world.open_cards("a")) == 1


def test_trello_down_exits_1_with_one_line(world):
    world.jenkins.add_job("a")
    world.trello.inject("503", times=None)
    code, out, err, _, _ = world.build("a", "FAILURE")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "503" in err and "Traceback" not in err


def test_trello_timeouts_are_bounded(world):
    world.jenkins.add_job("a")
    world.trello.timeout_delay = 3.0
    world.trello.inject("timeout", times=None)
    code, _, err, _, _ = world.build("a", "FAILURE")
    assert code == 1 and "timed out" in err


def test_jenkins_unreachable_exits_1(world):
    code, out, err = world.run("notify", "--result", "FAILURE", "--job", "a", "--build", "3",
                               env={"JENKINS_URL": "http://127.0.0.1:9/"})
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Jenkins" in err


def test_jenkins_502_is_retried(world):
    world.jenkins.add_job("a")
    world.jenkins.inject("502", times=1)
    code, out, _, _, _ = world.build("a", "FAILURE")
    assert code == 0 and "created" in out


def test_bad_credentials(world):
    world.jenkins.add_job("a")
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "a", "--build", "1",
                             env={"JENKINS_API_TOKEN": "wrong-jenkins-token"})
    assert code == 2 and "JENKINS_API_TOKEN" in err and "401" in err and "wrong-jenkins-token" not in err
    assert len(err.strip().splitlines()) == 1
    world.jenkins.start_build("a")
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "a", "--build", "1",
                             env={"TRELLO_TOKEN": "nope-" + TOKEN[::-1]})
    assert code == 2 and "TRELLO_TOKEN" in err and TOKEN[::-1] not in err
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "a", "--build", "1",
                             env={"TRELLO_API_KEY": "nope-" + KEY[::-1]})
    assert code == 2 and "TRELLO_API_KEY" in err and KEY[::-1] not in err
    assert world.trello.write_count() == 0


@pytest.mark.parametrize("drop,needle", [
    ("TRELLO_API_KEY", "TRELLO_API_KEY"), ("TRELLO_BOARD", "TRELLO_BOARD"), ("JENKINS_URL", "JENKINS_URL")])
def test_missing_configuration_exits_2_naming_it(world, drop, needle):
    env = dict(world.env)
    env.pop(drop)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(["notify", "--result", "FAILURE", "--job", "a", "--build", "1"], env)
    assert code == 2 and needle in err.getvalue() and len(err.getvalue().strip().splitlines()) == 1


def test_bad_usage_exits_2(world):
    code, _, err = world.run("notify", "--result", "BROKEN", "--job", "a", "--build", "1")
    assert code == 2 and "BROKEN" in err
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "a", "--build", "x1")
    assert code == 2 and "x1" in err
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "a", "--build", "1",
                             env={"TRELLO_LIST": "Nope"})
    assert code == 2 and "JOB_NAME" in err and "'a'" in err  # no such job on a Jenkins that answers
    world.jenkins.add_job("a")
    world.jenkins.start_build("a")
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "a", "--build", "1",
                             env={"TRELLO_LIST": "Nope"})
    assert code == 2 and "TRELLO_LIST" in err and "'To Do'" in err
    assert world.trello.write_count() == 0


def test_verbose_faults_never_print_secrets(world):
    world.jenkins.add_job("a")
    world.trello.inject("503", times=None)
    world.build("a", "FAILURE", extra=("--verbose",))
    world.trello.clear_faults()
    world.run("notify", "--verbose", "--result", "FAILURE", "--job", "a", "--build", "1",
              env={"JENKINS_API_TOKEN": JTOKEN + "x"})
    # the fixture's teardown asserts no secret in any output; also no auth header in logs
    assert not any(re.search(r"oauth_token", text) for text in world.outputs)


# ---------------------------------------------------------------- a wrong setting destroys nothing


class _Page(BaseHTTPRequestHandler):
    """Another web server: a 200 HTML page (a proxy's sign-in page) for every path."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        body = b"<html><body>Please sign in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def html_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _cards_for_reconcile(world, jobs=("team/app", "solo")):
    for job in jobs:
        world.jenkins.add_job(job)
        world.build(job, "FAILURE")
    assert len(world.open_cards()) == len(jobs)


@pytest.mark.parametrize("where", ["wrong context path", "another web server", "html for everything"])
def test_reconcile_on_a_url_that_is_no_jenkins_archives_nothing(world, html_server, where):
    _cards_for_reconcile(world)
    url = {"wrong context path": world.jenkins.url + "jenkins/", "another web server": world.trello.url + "/",
           "html for everything": html_server}[where]
    world.trello.reset_log()
    code, out, err = world.run("reconcile", env={"JENKINS_URL": url})
    assert code == 2, err
    assert err.count("\n") == 1 and "JENKINS_URL" in err and "does not answer as a Jenkins" in err
    assert len(world.open_cards()) == 2 and world.trello.write_count() == 0


def test_reconcile_with_jenkins_failing_archives_nothing_and_exits_1(world):
    _cards_for_reconcile(world)
    world.jenkins.inject("500", times=None)
    code, _, err = world.run("reconcile")
    assert code == 1 and "JENKINS_URL" in err and "HTTP 500" in err and "Traceback" not in err
    assert len(world.open_cards()) == 2


def test_reconcile_does_not_take_a_job_as_gone_when_its_folder_cannot_be_read(world):
    _cards_for_reconcile(world, ("team/app",))
    world.jenkins.delete_job("team/app")
    world.jenkins.inject("500", path=r"^/job/team/api/json$", times=None)
    code, _, err = world.run("reconcile")
    assert code == 1 and "not taken as deleted" in err
    assert len(world.open_cards("team/app")) == 1
    world.jenkins.clear_faults()
    code, out, err = world.run("reconcile")
    assert code == 0, err
    assert world.open_cards("team/app") == [] and "no longer exists" in out


def test_reconcile_a_job_whose_whole_folder_was_deleted_is_gone(world):
    _cards_for_reconcile(world, ("org/repo/main", "org/other"))
    world.jenkins.delete_job("org/repo")
    world.jenkins.reset_log()
    code, out, err = world.run("reconcile")
    assert code == 0, err
    assert world.open_cards("org/repo/main") == [] and len(world.open_cards("org/other")) == 1
    paths = [r.path for r in world.jenkins.request_log]
    assert "/job/org/job/repo/api/json" in paths and "/job/org/api/json" in paths  # walked up to a readable folder


def test_reconcile_makes_one_extra_jenkins_request_for_the_version(world):
    _cards_for_reconcile(world, ("team/app",))
    world.jenkins.reset_log()
    code, _, _ = world.run("reconcile")
    assert code == 0 and world.jenkins.count() == 2  # the root (X-Jenkins) + the job's builds


def test_notify_with_a_wrong_jenkins_url_or_job_exits_2(world):
    world.jenkins.add_job("team/app")
    n = world.jenkins.start_build("team/app")
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "team/app", "--build", str(n),
                             env={"JENKINS_URL": world.jenkins.url + "ci/"})
    assert code == 2 and "JENKINS_URL" in err and err.count("\n") == 1
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "team/ap", "--build", str(n))
    assert code == 2 and "JOB_NAME" in err and "'team/ap'" in err
    assert world.trello.write_count() == 0


def test_success_after_success_still_costs_no_trello_request_with_a_wrong_list(world):
    world.jenkins.add_job("a")
    world.jenkins.add_build("a", "SUCCESS")
    world.trello.reset_log()
    code, out, err = world.run("notify", "--result", "SUCCESS", "--job", "a", "--build", "2",
                               env={"TRELLO_LIST": "Nope"})
    assert code == 0 and world.trello.count() == 0  # format-only checks on the quiet path
    code, _, err = world.run("reconcile", env={"TRELLO_LIST": "Nope"})
    assert code == 2 and "TRELLO_LIST" in err and "'Nope'" in err


@pytest.mark.parametrize("over,setting", [
    ({"TRELLO_BOARD": "not a board"}, "TRELLO_BOARD"),
    ({"TRELLO_BOARD": "abcdef12"}, "TRELLO_BOARD"),
    ({"TRELLO_BOARD": "f" * 24}, "TRELLO_BOARD"),
    ({"TRELLO_TOKEN": "x" * 20}, "TRELLO_TOKEN"),
    ({"TRELLO_API_KEY": "y" * 20}, "TRELLO_API_KEY"),
    ({"TRELLO_API_URL": "TRELLO/2"}, "TRELLO_API_URL"),
    ({"TRELLO_LIST": "Nope"}, "TRELLO_LIST"),
])
def test_every_command_names_the_same_wrong_setting_the_same_way(world, over, setting):
    from grafana_bridge import cli as bridge_cli

    world.jenkins.add_job("a")
    n = world.jenkins.start_build("a")
    if over.get("TRELLO_API_URL") == "TRELLO/2":
        over = {"TRELLO_API_URL": world.trello.url[:-2] + "/2"}  # the same host, no Trello API there
    messages = []
    for argv in (["notify", "--result", "FAILURE", "--job", "a", "--build", str(n)], ["reconcile"]):
        code, _, err = world.run(*argv, env=over)
        assert code == 2, (argv, err)
        messages.append(err.split(": error: ", 1)[1])
    if setting != "TRELLO_LIST":  # archive checks TRELLO_DONE_LIST instead
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = bridge_cli.run(["archive"], {**world.env, **over})
        assert code == 2, err.getvalue()
        messages.append(err.getvalue().split(": error: ", 1)[1])
    assert len(set(messages)) == 1, messages
    assert messages[0].startswith(setting) and messages[0].count("\n") == 1
    assert world.trello.write_count() == 0


def test_current_build_already_completed_is_not_its_own_previous(world):
    job = "team/app"
    world.jenkins.add_job(job)
    world.build(job, "SUCCESS")
    n = world.jenkins.start_build(job)
    world.jenkins.finish_build(job, n, "FAILURE")  # the post step re-run after the build ended
    code, out, err = world.run("notify", "--result", "FAILURE", "--job", job, "--build", str(n))
    assert code == 0 and "created" in out, (out, err)
    assert len(world.open_cards(job)) == 1
    m = world.jenkins.start_build(job)
    world.jenkins.finish_build(job, m, "SUCCESS")
    code, out, _ = world.run("notify", "--result", "SUCCESS", "--job", job, "--build", str(m))
    assert code == 0 and "archived" in out and world.open_cards(job) == []


def test_jenkins_500_and_dropped_connections_are_retried(world):
    world.jenkins.add_job("a")
    world.jenkins.inject("500", times=1)
    world.jenkins.inject("drop", times=1)
    code, out, err, _, _ = world.build("a", "FAILURE")
    assert code == 0 and "created" in out, err


def test_jenkins_down_is_retried_for_the_retry_seconds_then_one_line(world):
    import time

    world.jenkins.add_job("a")
    world.jenkins.inject("500", times=None)
    started = time.monotonic()
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "a", "--build", "1",
                             env={"JENKINS_TRELLO_RETRY_SECONDS": "2.5"})
    took = time.monotonic() - started
    assert code == 1 and err.count("\n") == 1 and "JENKINS_URL" in err and "HTTP 500" in err
    assert 1.2 <= took <= 6, took
    assert world.jenkins.count() >= 4  # retried, not given up after one 500
    started = time.monotonic()
    code, _, err = world.run("notify", "--result", "FAILURE", "--job", "a", "--build", "1",
                             env={"JENKINS_URL": "http://127.0.0.1:9/", "JENKINS_TRELLO_RETRY_SECONDS": "1"})
    assert code == 1 and "connection refused" in err and "HTTPConnectionPool" not in err
    assert time.monotonic() - started < 4
