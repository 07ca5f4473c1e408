"""The one board read: parsing (pure) and the whole path over real sockets against the emulator."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jenkins_trello.cards import (
    Board,
    Card,
    Label,
    Member,
    job_key,
    newest_closed,
    snapshot,
    snapshot_board,
    to_card,
    with_marker,
)
from jenkins_trello.config import ConfigError, TrelloConfig
from jenkins_trello.emulator.trello import TrelloEmulator
from jenkins_trello.notify import first_board_read, read_board
from jenkins_trello.settings import board_not_visible

KEY = "a" * 32
TOKEN = "b" * 64
OURS = with_marker("Build failed", job_key("team/app"), "7")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def raw_card(cid: str, list_id: str, desc: str = OURS, **extra) -> dict:
    return {"id": cid, "name": f"card {cid}", "desc": desc, "idList": list_id, "closed": False,
            "shortUrl": f"https://trello.com/c/{cid}", **extra}


# --------------------------------------------------------------------------- parsing


def test_snapshot_board_reads_lists_cards_labels_members_and_the_board():
    raw = {
        "id": "5f" * 12, "name": "Team",
        "lists": [{"id": "L1", "name": "To Do", "closed": False}, {"id": "L2", "name": "Done", "closed": False}],
        "cards": [raw_card("c1", "L1", idLabels=["l1", "l2"], idMembers=["m2"],
                           dateLastActivity="2026-03-01T10:00:00.000Z"),
                  raw_card("c2", "L2")],
        "labels": [{"id": "l1", "name": "ci", "color": "red"}, {"id": "l2", "name": "", "color": None}],
        "members": [{"id": "m1", "username": "cibot", "fullName": "CI Bot"}, {"id": "m2", "username": "alice"}],
    }
    board = snapshot_board(raw)
    assert board.id == board.board_id == "5f" * 12 and board.name == "Team"
    assert board.lists == (("L1", "To Do"), ("L2", "Done"))
    assert board.labels == (Label("l1", "ci", "red"), Label("l2", "", ""))
    assert board.members == (Member("m1", "cibot", "CI Bot"), Member("m2", "alice", ""))
    c1, c2 = board.cards
    assert (c1.id, c1.list_id, c1.key, c1.state) == ("c1", "L1", job_key("team/app"), "7")
    assert c1.label_ids == ("l1", "l2") and c1.member_ids == ("m2",) and not c1.closed
    assert c1.last_activity == "2026-03-01T10:00:00.000Z"
    # a card read without idLabels: its labels are unknown (None), so no plan ever relabels it
    assert c2.label_ids is None and c2.member_ids == () and c2.last_activity == ""


def test_cards_outside_the_open_lists_and_cards_not_ours_do_not_count():
    raw = {
        "lists": [{"id": "L1", "name": "To Do"}, {"id": "Lx", "name": "Old", "closed": True}],
        "cards": [raw_card("in", "L1"), raw_card("archived-list", "Lx"), raw_card("gone", "L9"),
                  raw_card("closed", "L1", closed=True), raw_card("person", "L1", desc="my notes"), "junk"],
    }
    board = snapshot_board(raw)
    assert [c.id for c in board.cards] == ["in"]
    assert board.lists == (("L1", "To Do"),)


def test_an_answer_without_labels_or_members_means_none():
    board = snapshot_board({"lists": [{"id": "L1", "name": "To Do"}], "cards": [raw_card("c", "L1")]})
    assert board.labels == () and board.members == () and board.id == "" and len(board.cards) == 1
    junk = snapshot_board({"lists": [], "cards": [], "labels": [{"name": "no id"}, "x"], "members": [None]})
    assert junk.labels == () and junk.members == ()


def test_lists_that_carry_their_cards_still_work_and_are_not_counted_twice():
    raw = {"lists": [{"id": "L1", "name": "To Do", "cards": [raw_card("c", "L1")]}], "cards": [raw_card("c", "L1")]}
    assert [c.id for c in snapshot_board(raw).cards] == ["c"]


def test_the_older_constructors_and_snapshot_keep_working():
    board = snapshot([{"id": "L1", "name": "To Do", "cards": [raw_card("c", "L1", idLabels="l1,l2")]}])
    assert board.labels == () and board.members == () and board.cards[0].label_ids == ("l1", "l2")
    assert Board((("L1", "To Do"),), ()).id == ""
    card = Card("c", "n", "L1", "job:x", "1")
    assert (card.label_ids, card.member_ids, card.closed, card.last_activity) == (None, (), False, "")


def test_member_named_is_case_insensitive_and_ignores_a_leading_at():
    board = Board((), (), members=(Member("m1", "Alice", "A"), Member("m2", "bob")))
    assert board.member_named("@alice") == Member("m1", "Alice", "A")
    assert board.member_named("BOB").id == "m2" and board.member_named("carol") is None


def test_to_card_reads_closed_cards_only_when_asked():
    raw = raw_card("c", "L1", closed=True)
    assert to_card(raw) is None
    card = to_card(raw, closed_too=True)
    assert card is not None and card.closed


def test_newest_closed_picks_the_most_recently_active_card_of_the_key():
    other = with_marker("x", job_key("team/other"), "1")
    raws = [
        raw_card("a", "L1", closed=True, dateLastActivity="2026-03-01T10:00:00.000Z"),
        raw_card("b", "L1", closed=True, dateLastActivity="2026-03-02T10:00:00.000Z"),
        raw_card("c", "L1", closed=True, desc=other, dateLastActivity="2026-03-09T10:00:00.000Z"),
        raw_card("d", "L1", closed=False, dateLastActivity="2026-03-09T10:00:00.000Z"),
        raw_card("e", "L1", closed=True),
    ]
    found = newest_closed(raws, job_key("team/app"))
    assert found is not None and found.id == "b" and found.closed
    assert newest_closed(raws, job_key("nobody")) is None
    assert newest_closed([], job_key("team/app")) is None


# --------------------------------------------------------------------------- over sockets


@pytest.fixture
def emu():
    now = [T0]
    with TrelloEmulator(key=KEY, token=TOKEN, clock=lambda: now[0]) as emulator:
        emulator.now = now  # type: ignore[attr-defined]
        yield emulator


def config(emu: TrelloEmulator, board: str) -> TrelloConfig:
    return TrelloConfig.from_env({"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": board,
                                  "TRELLO_API_URL": emu.url, "TRELLO_LIST": "To Do"})


def test_read_board_is_one_request_with_labels_and_members(emu):
    b = emu.add_board("Team", lists=["To Do", "Done"])
    todo, done = (lst["id"] for lst in b["lists"])
    old = emu.add_list(b["id"], "Old")
    red = emu.add_label(b["id"], "ci", "red")
    alice = emu.add_member(b["id"], "alice", "Alice Dev")
    mine = emu.add_card(todo, "ours", OURS)
    emu.add_card(done, "a person's card", "notes")
    emu.add_card(old["id"], "ours in a list archived later", OURS)
    emu.set_list_closed(old["id"])
    emu.human_label(mine["id"], red["id"])
    emu.human_add_member(mine["id"], alice["id"])
    cfg = config(emu, b["shortLink"])
    emu.reset_log()
    board = read_board(cfg.client(), cfg)
    assert emu.counts() == {"GET /1/boards/{id}": 1}
    assert board.id == b["id"] and board.name == "Team"
    assert board.lists == ((todo, "To Do"), (done, "Done"))
    assert [c.id for c in board.cards] == [mine["id"]]
    assert board.cards[0].label_ids == (red["id"],) and board.cards[0].member_ids == (alice["id"],)
    assert board.labels == (Label(red["id"], "ci", "red"),)
    assert [m.username for m in board.members] == ["cibot", "alice"]
    assert board.member_named("alice").full_name == "Alice Dev"


def test_a_board_with_more_labels_than_trellos_default_limit_is_read_whole(emu):
    b = emu.add_board("Team", lists=["To Do"])
    for i in range(60):
        emu.add_label(b["id"], f"l{i}", None)
    cfg = config(emu, b["id"])
    board = read_board(cfg.client(), cfg)
    assert len(board.labels) == 60 and board.labels[-1].name == "l59"


def test_a_server_that_ignores_nested_resources_is_read_the_older_way(emu):
    b = emu.add_board("Team", lists=["To Do"])
    todo = b["lists"][0]["id"]
    card = emu.add_card(todo, "ours", OURS)
    plain = emu._h_get_board

    def no_nesting(params, board):
        return plain({"fields": params.get("fields")}, board=board)

    emu._h_get_board = no_nesting  # type: ignore[method-assign]
    cfg = config(emu, b["id"])
    emu.reset_log()
    board = read_board(cfg.client(), cfg)
    assert [c.id for c in board.cards] == [card["id"]] and board.lists == ((todo, "To Do"),)
    assert board.labels == () and board.members == ()
    assert emu.counts() == {"GET /1/boards/{id}": 1, "GET /1/boards/{id}/lists": 1, "GET /1/boards/{id}/cards": 1}


def test_labels_and_members_set_by_the_client_are_read_back(emu):
    b = emu.add_board("Team", lists=["To Do"])
    todo = b["lists"][0]["id"]
    alice = emu.add_member(b["id"], "alice")
    cfg = config(emu, b["shortLink"])
    client = cfg.client()
    ci = client.create_label(b["shortLink"], "ci", "red")
    plain = client.create_label(b["shortLink"], "", None)
    made = client.create_card(todo, "ours", OURS, label_ids=[ci["id"], plain["id"]], member_ids=[alice["id"]])
    assert made["idLabels"] == [ci["id"], plain["id"]] and made["idMembers"] == [alice["id"]]
    client.update_card(made["id"], idLabels=[plain["id"]])
    board = read_board(client, cfg)
    assert board.labels == (Label(ci["id"], "ci", "red"), Label(plain["id"], "", ""))
    assert board.cards[0].label_ids == (plain["id"],) and board.cards[0].member_ids == (alice["id"],)
    assert emu.secrets_in_url == []


def test_the_reopen_read_finds_the_newest_archived_card_and_an_unarchive_moves_it_back(emu):
    b = emu.add_board("Team", lists=["To Do", "Done"])
    todo, done = (lst["id"] for lst in b["lists"])
    cfg = config(emu, b["id"])
    client = cfg.client()
    first = client.create_card(todo, "first", OURS)
    emu.now[0] = T0 + timedelta(hours=1)
    second = client.create_card(todo, "second", OURS)
    client.archive_card(second["id"])
    emu.now[0] = T0 + timedelta(hours=2)
    client.update_card(first["id"], idList=done)
    client.archive_card(first["id"])  # archived last: the newest activity
    emu.reset_log()
    found = newest_closed(client.closed_cards(b["id"]), job_key("team/app"))
    assert found is not None and found.id == first["id"] and found.list_id == done
    assert emu.counts() == {"GET /1/boards/{id}/cards": 1}
    client.update_card(found.id, closed=False, idList=todo)
    board = read_board(client, cfg)
    assert [(c.id, c.list_id) for c in board.cards] == [(first["id"], todo)]


def test_a_board_the_token_is_not_on_fails_as_a_setting_before_any_write(emu):
    hidden = emu.add_board("Someone else's", lists=["To Do"], visible=False)
    cfg = config(emu, hidden["shortLink"])
    with pytest.raises(ConfigError) as err:
        first_board_read(cfg.client(retry_seconds=2), cfg)
    assert str(err.value) == board_not_visible(hidden["shortLink"])
    assert emu.write_count() == 0
    assert [r.path for r in emu.request_log] == [f"/1/boards/{hidden['shortLink']}", "/1/members/me"]
