"""``grafana-bridge archive`` end to end: the real client over real HTTP against the Trello emulator.

Histories are backdated through the emulator's clock, so every card's actions,
ids and ``dateLastActivity`` agree the way they do on trello.com.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from grafana_bridge.archive import add_arguments, command, run
from jenkins_trello.emulator.trello import TrelloEmulator
from jenkins_trello.trello import Pacer, TrelloAuthError, TrelloClient

KEY, TOKEN = "k" * 32, "t" * 64
UTC = timezone.utc


@pytest.fixture
def emu() -> Iterator[TrelloEmulator]:
    with TrelloEmulator(KEY, TOKEN) as e:
        yield e


def client(emu: TrelloEmulator, **kw) -> TrelloClient:
    kw.setdefault("retry_seconds", 5.0)
    kw.setdefault("max_attempts", 4)
    kw.setdefault("pacer", Pacer(max_requests=10_000, interval=1.0))  # rate limits off: do not slow tests
    return TrelloClient(KEY, TOKEN, emu.url, **kw)


@contextlib.contextmanager
def clock_at(emu: TrelloEmulator, when: datetime) -> Iterator[None]:
    """Everything done inside happens at ``when`` as far as the emulator's history is concerned."""
    previous = emu.clock
    emu.clock = lambda: when
    try:
        yield
    finally:
        emu.clock = previous


class Board:
    def __init__(self, emu: TrelloEmulator, now: datetime) -> None:
        self.emu, self.now = emu, now
        with clock_at(emu, now - timedelta(days=400)):
            self.id = emu.add_board("Ops")["id"]
            self.todo = emu.add_list(self.id, "To Do")["id"]
            self.doing = emu.add_list(self.id, "Doing")["id"]
            self.done = emu.add_list(self.id, "Done")["id"]

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def card(self, name: str, list_id: str, days_ago: float) -> str:
        with clock_at(self.emu, self.ago(days_ago)):
            return self.emu.add_card(list_id, name)["id"]

    def move(self, card_id: str, list_id: str, days_ago: float) -> None:
        with clock_at(self.emu, self.ago(days_ago)):
            self.emu.human_move(card_id, list_id)

    def closed_names(self) -> set[str]:
        return {c["name"] for c in self.emu.cards(self.id, include_closed=True) if c["closed"]}

    def open_names(self) -> set[str]:
        return {c["name"] for c in self.emu.cards(self.id)}


def go(emu: TrelloEmulator, board: Board, *, days: float = 14, dry_run: bool = False, list_name: str = "Done",
       cl: TrelloClient | None = None, err: io.StringIO | None = None, **kw) -> tuple[int, str, str]:
    out = io.StringIO()
    err = err if err is not None else io.StringIO()
    rc = run(cl or client(emu), board.id, list_name, days, dry_run=dry_run, now=datetime.now(UTC), out=out,
             err=err, **kw)
    return rc, out.getvalue(), err.getvalue()


def reads(emu: TrelloEmulator) -> int:
    return emu.count("GET")


def writes(emu: TrelloEmulator) -> int:
    return emu.count("PUT") + emu.count("POST") + emu.count("DELETE")


@pytest.fixture
def story(emu: TrelloEmulator) -> Board:
    """A board where every way of entering Done, and of looking active, is present once."""
    b = Board(emu, datetime.now(UTC))
    b.card("old, created in Done", b.done, 30)
    b.card("young, created in Done", b.done, 3)
    back = b.card("moved out and back yesterday", b.todo, 60)
    b.move(back, b.done, 40)
    b.move(back, b.doing, 20)
    b.move(back, b.done, 1)
    old_back = b.card("moved out and back long ago", b.todo, 60)
    b.move(old_back, b.done, 50)
    b.move(old_back, b.doing, 45)
    b.move(old_back, b.done, 20)
    commented = b.card("old, commented today", b.done, 30)
    with clock_at(emu, b.ago(0.1)):
        emu.human_comment(commented, "is this still relevant?")
    renamed = b.card("old, renamed today", b.done, 25)
    with clock_at(emu, b.ago(0.2)):
        emu.human_rename(renamed, "old, renamed today (edited)")
    source = b.card("copy source", b.todo, 90)
    with clock_at(emu, b.ago(2)):
        copy = emu.copy_card(source, b.done)["id"]
    with clock_at(emu, b.ago(2)):
        emu.human_rename(copy, "copied into Done 2 days ago")
    with clock_at(emu, b.ago(300)):
        other = emu.add_board("Other")["id"]
        other_list = emu.add_list(other, "Backlog")["id"]
        travelled = emu.add_card(other_list, "from another board 2 days ago")["id"]
    with clock_at(emu, b.ago(2)):
        emu.move_card_from_other_board(travelled, b.done)
    restored = b.card("restored in Done yesterday", b.done, 40)
    with clock_at(emu, b.ago(35)):
        emu.human_archive(restored)
    with clock_at(emu, b.ago(1)):
        emu.human_unarchive(restored)
    restored_long_ago = b.card("restored in Done 20 days ago, commented today", b.done, 40)
    with clock_at(emu, b.ago(30)):
        emu.human_archive(restored_long_ago)
    with clock_at(emu, b.ago(20)):
        emu.human_unarchive(restored_long_ago)
    with clock_at(emu, b.ago(0.1)):
        emu.human_comment(restored_long_ago, "done?")
    b.card("13.9 days", b.done, 13.9)
    b.card("14.1 days", b.done, 14.1)
    b.card("old but in To Do", b.todo, 100)
    return b


ARCHIVABLE = {
    "old, created in Done",
    "moved out and back long ago",
    "old, commented today",
    "old, renamed today (edited)",
    "restored in Done 20 days ago, commented today",
    "14.1 days",
}
KEPT = {
    "young, created in Done",
    "moved out and back yesterday",
    "copied into Done 2 days ago",
    "from another board 2 days ago",
    "restored in Done yesterday",
    "13.9 days",
}


def test_archives_exactly_the_cards_that_sat_in_done_for_more_than_n_days(emu, story):
    emu.reset_log()
    rc, out, err = go(emu, story)
    assert rc == 0, err
    assert story.closed_names() == ARCHIVABLE
    assert KEPT | {"copy source", "old but in To Do"} == story.open_names()
    lines = out.splitlines()
    assert lines[-1] == f"archived {len(ARCHIVABLE)}, kept {len(KEPT)}, failed 0"
    assert all(re.match(r"^archived [0-9a-f]{24} \(.*\d+\.\d days in Done, from .+\): .+", ln) for ln in lines[:-1])
    assert reads(emu) == 2  # lists with cards, then the board's entries since the cutoff
    assert emu.count("PUT") == len(ARCHIVABLE)
    # Naturally idempotent: a second run finds nothing more to do.
    emu.reset_log()
    rc, out, _err = go(emu, story)
    assert (rc, out.splitlines()[-1]) == (0, f"archived 0, kept {len(KEPT)}, failed 0")
    assert emu.count("PUT") == 0


def test_dry_run_lists_ages_and_how_they_were_known_and_writes_nothing(emu, story):
    emu.reset_log()
    rc, out, _err = go(emu, story, dry_run=True)
    assert rc == 0
    assert emu.count("PUT") == 0 and writes(emu) == 0
    lines = out.splitlines()
    assert lines[-1] == f"would archive {len(ARCHIVABLE)}, kept {len(KEPT)}"
    by_name = {ln.rsplit("): ", 1)[1]: ln for ln in lines[:-1]}
    assert set(by_name) == ARCHIVABLE
    assert "(at least 30.0 days in Done, from last activity)" in by_name["old, created in Done"]
    assert "(more than 14.0 days in Done, from the board's history)" in by_name["old, commented today"]
    assert "(at least 14.1 days in Done, from last activity)" in by_name["14.1 days"]
    assert story.closed_names() == set()


def test_a_longer_window_keeps_more(emu, story):
    rc, out, _err = go(emu, story, days=25.5, dry_run=True)
    assert rc == 0
    names = {ln.rsplit("): ", 1)[1] for ln in out.splitlines()[:-1]}
    assert names == {"old, created in Done", "old, commented today"}


def test_reads_stay_few_for_100_done_cards_and_writes_are_one_per_card(emu):
    b = Board(emu, datetime.now(UTC))
    expected = set()
    for i in range(100):
        if i % 10 == 0:  # recently moved in: young
            cid = b.card(f"card {i}", b.todo, 40)
            b.move(cid, b.done, 2)
        elif i % 10 == 1:  # old, but active today
            cid = b.card(f"card {i}", b.done, 40)
            with clock_at(emu, b.ago(0.3)):
                emu.human_comment(cid, "ping")
            expected.add(f"card {i}")
        else:
            b.card(f"card {i}", b.done, 20 + i % 7)
            expected.add(f"card {i}")
    emu.reset_log()
    err = io.StringIO()
    rc, out, err_text = go(emu, b, err=err)
    assert rc == 0
    assert reads(emu) <= 3
    assert emu.count("PUT") == len(expected) == 90
    assert b.closed_names() == expected
    assert out.splitlines()[-1] == "archived 90, kept 10, failed 0"
    assert "archived 50/90 cards" in err_text  # plain progress lines when stderr is not a terminal


def test_only_one_read_when_no_done_card_was_active_since_the_cutoff(emu):
    b = Board(emu, datetime.now(UTC))
    for i in range(5):
        b.card(f"old {i}", b.done, 15 + i)
    emu.reset_log()
    rc, out, _err = go(emu, b)
    assert (rc, reads(emu), emu.count("PUT")) == (0, 1, 5)
    assert emu.count("GET", "/1/boards/") == 1 and emu.count("GET", f"/1/boards/{b.id}/actions") == 0


def test_progress_is_one_updating_line_on_a_terminal(emu):
    b = Board(emu, datetime.now(UTC))
    for i in range(6):
        b.card(f"old {i}", b.done, 30)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    rc, out, err = go(emu, b, err=Tty())
    assert rc == 0
    header, progress = err.split("\n", 1)
    assert header.startswith("grafana-bridge: archiving 6 of 6 card(s)")
    assert "\rarchiving: 6/6 cards" in progress and "\n" not in progress and progress.endswith("\r\x1b[K")
    assert out.splitlines()[-1] == "archived 6, kept 0, failed 0"


def test_history_is_paged_with_before(emu, story):
    rc2, out_whole, _ = go(emu, story, dry_run=True)
    emu.reset_log()
    rc, out_paged, _ = go(emu, story, dry_run=True, page_size=2)
    assert rc == rc2 == 0
    assert sorted(out_paged.splitlines()) == sorted(out_whole.splitlines())
    pages = [r for r in emu.request_log if r.path.endswith("/actions")]
    assert len(pages) >= 3 and "before" not in pages[0].query
    assert all(re.fullmatch(r"[0-9a-f]{24}", p.query["before"]) for p in pages[1:])


def test_page_cap_falls_back_to_last_activity_and_says_so(emu, story):
    rc, out, err = go(emu, story, dry_run=True, page_size=2, max_pages=1)
    assert rc == 0
    assert "history unavailable" in err and "warning" in err
    names = {ln.rsplit("): ", 1)[1] for ln in out.splitlines()[:-1]}
    assert names <= ARCHIVABLE  # never archives early; cards whose entry was not read are kept
    assert "old, created in Done" in names  # last activity alone proves it


def test_history_read_failure_keeps_recently_active_cards_and_exits_1(emu, story):
    emu.inject("503", method="GET", path=r"/actions$", times=None)
    rc, out, err = go(emu, story, cl=client(emu, max_attempts=2, retry_seconds=1.0))
    assert rc == 1
    assert "history unavailable" in err and "HTTP 503" in err
    assert "Traceback" not in err
    # Cards whose last activity is older than the cutoff are still archived, nothing else.
    assert story.closed_names() == {"old, created in Done", "moved out and back long ago", "14.1 days"}


def test_a_503_on_some_archive_writes_is_retried(emu):
    b = Board(emu, datetime.now(UTC))
    for i in range(10):
        b.card(f"old {i}", b.done, 30)
    emu.inject("503", method="PUT", path=r"^/1/cards/", times=4)
    rc, out, err = go(emu, b)
    assert rc == 0, err
    assert len(b.closed_names()) == 10
    assert out.splitlines()[-1] == "archived 10, kept 0, failed 0"
    assert emu.count("PUT") == 14


def test_a_card_that_keeps_failing_is_reported_others_go_through_and_a_rerun_finishes(emu):
    b = Board(emu, datetime.now(UTC))
    ids = [b.card(f"old {i}", b.done, 30) for i in range(8)]
    stuck = ids[3]
    emu.inject("503", method="PUT", path=rf"^/1/cards/{stuck}$", times=None)
    rc, out, err = go(emu, b, cl=client(emu, max_attempts=3, retry_seconds=2.0))
    assert rc == 1
    assert out.splitlines()[-1] == "archived 7, kept 0, failed 1"
    [line] = [ln for ln in err.splitlines() if "could not archive" in ln]
    assert stuck in line and "old 3" in line and "HTTP 503" in line
    assert TOKEN not in err and KEY not in err and "Traceback" not in err
    assert b.open_names() == {"old 3"}
    emu.clear_faults()
    emu.reset_log()
    rc, out, err = go(emu, b)
    assert (rc, out.splitlines()[-1]) == (0, "archived 1, kept 0, failed 0")
    assert emu.count("PUT") == 1 and b.open_names() == set()


def test_a_card_archived_or_deleted_meanwhile_counts_as_done(emu):
    b = Board(emu, datetime.now(UTC))
    ids = [b.card(f"old {i}", b.done, 30) for i in range(4)]
    cl = client(emu)
    real = cl.board_lists

    def snapshot_then_people_act(*a, **kw):
        lists = real(*a, **kw)
        emu.human_delete(ids[0])
        emu.human_archive(ids[1])
        return lists

    cl.board_lists = snapshot_then_people_act  # type: ignore[method-assign]
    rc, out, err = go(emu, b, cl=cl)
    assert rc == 0, err
    assert out.splitlines()[-1] == "archived 4, kept 0, failed 0"
    assert "already archived or deleted" in out


def test_an_auth_error_while_archiving_stops_the_rest(emu):
    b = Board(emu, datetime.now(UTC))
    for i in range(6):
        b.card(f"old {i}", b.done, 30)
    cl = client(emu)
    real = cl.archive_card
    calls = []

    def revoked_after_two(card_id):
        calls.append(card_id)
        if len(calls) > 2:
            raise TrelloAuthError("archive card", 401, "invalid token")
        return real(card_id)

    cl.archive_card = revoked_after_two  # type: ignore[method-assign]
    rc, out, err = go(emu, b, cl=cl, workers=1)
    assert rc == 1
    assert out.splitlines()[-1] == "archived 2, kept 0, failed 4"
    assert len(calls) == 3 and "3 card(s) not attempted after an authorization error" in err
    assert len(b.closed_names()) == 2


def test_a_missing_list_is_a_configuration_error_naming_the_lists(emu, story):
    emu.reset_log()
    rc, out, err = go(emu, story, list_name="Shipped")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1
    assert "'Shipped'" in err and "'To Do'" in err and "'Doing'" in err and "'Done'" in err
    assert emu.count("PUT") == 0 and reads(emu) == 1


def test_the_list_can_be_given_by_id_and_a_missing_board_is_a_configuration_error(emu, story):
    rc, out, _err = go(emu, story, list_name=story.done, dry_run=True)
    assert rc == 0 and out.splitlines()[-1] == f"would archive {len(ARCHIVABLE)}, kept {len(KEPT)}"
    out_s, err_s = io.StringIO(), io.StringIO()
    rc = run(client(emu), "0" * 24, "Done", 14, dry_run=True, now=datetime.now(UTC), out=out_s, err=err_s)
    assert rc == 2 and "TRELLO_BOARD" in err_s.getvalue()


def test_rate_limits_are_respected_while_archiving_60_cards(emu):
    limited = TrelloEmulator(KEY, TOKEN, rate_limit=True, token_limit=20, key_limit=60, interval=2.0)
    with limited:
        b = Board(limited, datetime.now(UTC))
        for i in range(60):
            b.card(f"old {i}", b.done, 30)
        cl = client(limited, pacer=Pacer(max_requests=19, interval=2.0), retry_seconds=10.0, max_attempts=6)
        started = time.monotonic()
        rc, out, err = go(limited, b, cl=cl, workers=4)
        elapsed = time.monotonic() - started
        assert rc == 0, err
        assert out.splitlines()[-1] == "archived 60, kept 0, failed 0"
        assert len(b.closed_names()) == 60
        assert limited.rate_limited <= 2
        assert limited.peak_token_window <= 20
        assert elapsed >= 4.0  # 61 requests at 19 per 2 s cannot be faster


def test_command_reads_the_environment(emu, story, capsys):
    parser = argparse.ArgumentParser(prog="grafana-bridge archive")
    add_arguments(parser)
    env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": story.id, "TRELLO_API_URL": emu.url}
    assert command(parser.parse_args(["--dry-run"]), env) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"would archive {len(ARCHIVABLE)}, kept {len(KEPT)}"
    assert command(parser.parse_args(["--dry-run"]), {**env, "TRELLO_DONE_LIST": "Doing"}) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "would archive 0, kept 0"
    assert command(parser.parse_args(["--days", "25.5"]), env) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"archived 2, kept {len(KEPT) + len(ARCHIVABLE) - 2}, failed 0"
    assert story.closed_names() == {"old, created in Done", "old, commented today"}
    assert command(parser.parse_args(["--list", "Nope"]), env) == 2
    assert "'Nope'" in capsys.readouterr().err


def test_command_configuration_and_usage_errors(emu, capsys):
    parser = argparse.ArgumentParser(prog="grafana-bridge archive")
    add_arguments(parser)
    args = parser.parse_args([])
    # None: not given, so the policy's sweeps decide (the environment alone: one sweep of 14 days)
    assert (args.list, args.days, args.dry_run) == (None, None, False)
    assert command(args, {"TRELLO_API_KEY": KEY}) == 2
    err = capsys.readouterr().err
    assert "TRELLO_TOKEN" in err and "TRELLO_BOARD" in err and err.count("\n") == 1
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(["--days", bad])
        assert exc.value.code == 2
    assert parser.parse_args(["--days", "0.5"]).days == 0.5
    capsys.readouterr()
    # Trello unreachable after retries: one line, exit 1, no traceback.
    env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": "b" * 24, "TRELLO_API_URL": emu.url,
           "JENKINS_TRELLO_RETRY_SECONDS": "1"}
    emu.inject("503", times=None)
    assert command(parser.parse_args([]), env) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 503" in err and "Traceback" not in err


# --------------------------------------------------------------------------- --metrics-file (node_exporter textfile)


def _textfile(path) -> dict[str, list]:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f.samples for f in text_string_to_metric_families(path.read_text())}


def test_metrics_file_after_a_run_a_failed_run_and_a_dry_run(emu, story, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="grafana-bridge archive")
    add_arguments(parser)
    env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": story.id, "TRELLO_API_URL": emu.url,
           "JENKINS_TRELLO_RETRY_SECONDS": "1"}
    path = tmp_path / "archive.prom"
    before = time.time()
    assert command(parser.parse_args(["--metrics-file", str(path)]), env) == 0
    fam = _textfile(path)
    success = fam["grafana_bridge_archive_last_success_timestamp_seconds"][0].value
    assert before <= success <= time.time()
    assert fam["grafana_bridge_archive_last_run_success"][0].value == 1
    (archived,) = fam["grafana_bridge_archive_cards_archived"]
    assert archived.labels == {"board": story.id, "list": "Done"} and archived.value == len(ARCHIVABLE)
    assert fam["grafana_bridge_archive_cards_kept"][0].value == len(KEPT)
    assert fam["grafana_bridge_archive_cards_failed"][0].value == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"archived {len(ARCHIVABLE)}, kept {len(KEPT)}, failed 0"

    # Trello down: exit 1, the file says the run failed and still holds the last success's time
    emu.inject("503", times=None)
    assert command(parser.parse_args(["--metrics-file", str(path)]), env) == 1
    emu.clear_faults()
    fam = _textfile(path)
    assert fam["grafana_bridge_archive_last_run_success"][0].value == 0
    assert fam["grafana_bridge_archive_last_run_timestamp_seconds"][0].value > success
    assert fam["grafana_bridge_archive_last_success_timestamp_seconds"][0].value == success
    assert fam["grafana_bridge_archive_sweep_success"][0].value == 0

    # a dry run writes nothing, not even this file
    stamp = path.stat().st_mtime_ns
    assert command(parser.parse_args(["--dry-run", "--metrics-file", str(path)]), env) == 0
    assert path.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.prom"]


def test_metrics_file_must_be_a_prom_file_in_a_writable_place(emu, story, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="grafana-bridge archive")
    add_arguments(parser)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--metrics-file", str(tmp_path / "archive.txt")])
    assert exc.value.code == 2 and ".prom" in capsys.readouterr().err
    env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": story.id, "TRELLO_API_URL": emu.url}
    missing = tmp_path / "no-such-dir" / "archive.prom"
    assert command(parser.parse_args(["--metrics-file", str(missing)]), env) == 2
    err = capsys.readouterr().err
    assert "--metrics-file" in err.splitlines()[-1] and "No such file" in err and "Traceback" not in err
    assert len(story.closed_names()) == len(ARCHIVABLE), "the cards were archived all the same"
