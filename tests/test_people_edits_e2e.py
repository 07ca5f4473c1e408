"""People's cards and edits over real sockets: the real ``notify`` path and the bridge, against the emulators."""

from __future__ import annotations

import pytest

from jenkins_trello.cards import job_key, parse_marker, read_marker
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator

from .bridgeutil import am_alert, am_payload, bridge, trello
from .test_notify_e2e import JTOKEN, JUSER, KEY, TOKEN, World

JOB = "team/app"


@pytest.fixture
def world():
    with TrelloEmulator(key=KEY, token=TOKEN) as t, JenkinsEmulator(user=JUSER, token=JTOKEN) as j:
        w = World(t, j)
        w.jenkins.add_job(JOB)
        yield w
        assert t.secrets_in_url == []


def all_cards(world: World) -> list[dict]:
    return world.trello.cards(world.board["id"], include_closed=True)


def test_a_persons_cards_that_quote_a_marker_are_left_alone(world):
    world.build(JOB, "FAILURE")
    [card] = world.open_cards(JOB)
    line = card["desc"].splitlines()[-1]
    world.trello.human_archive(card["id"])  # a person tidies up; the job still fails
    runbook = world.trello.add_card(world.lists["Doing"], "Runbook: CI cards",
                                    f"The bot's cards end with a line like\n{line}\nDo not edit that line.")
    checklist = world.trello.add_card(world.lists["Doing"], "Follow-ups", f"{card['desc']}\n\n- [ ] ask Ann")
    code, out, _, _, _ = world.build(JOB, "FAILURE")
    assert code == 0 and "created" in out  # neither person's card counts as the job's card
    [new] = world.open_cards(JOB)
    assert new["id"] not in (runbook["id"], checklist["id"])
    world.build(JOB, "SUCCESS")
    assert world.open_cards(JOB) == []
    for mine in (runbook, checklist):
        now = world.trello.get_card(mine["id"])
        assert not now["closed"] and now["desc"] == mine["desc"] and world.trello.comments(mine["id"]) == []


def test_a_copied_project_card_is_archived_as_a_duplicate_never_rewritten(world):
    world.build(JOB, "FAILURE")
    [original] = world.open_cards(JOB)
    copy = world.trello.copy_card(original["id"], world.lists["Doing"])  # Trello's "Copy card"
    assert copy["desc"] == original["desc"] and copy["id"] > original["id"]
    code, out, _, _, n = world.build(JOB, "FAILURE")
    assert code == 0 and "commented" in out and "archived 1 duplicate" in out
    [kept] = world.open_cards(JOB)
    assert kept["id"] == original["id"]
    gone = world.trello.get_card(copy["id"])
    assert gone["closed"] and gone["desc"] == copy["desc"] and gone["name"] == copy["name"]
    [note] = world.trello.comments(copy["id"])
    assert "duplicate" in note and f"({original['shortUrl']})" in note
    assert f"#{n}" in world.trello.comments(original["id"])[-1]


def test_an_edited_project_card_wins_over_nothing_but_loses_to_an_untouched_one(world):
    world.build(JOB, "FAILURE")
    [original] = world.open_cards(JOB)
    copy = world.trello.copy_card(original["id"], world.lists["Doing"])
    # the person writes their notes into the older card: the untouched copy is now the project's own
    world.trello.human_edit_desc(original["id"], "Ann: flaky DB, see INC-7\n\n" + original["desc"])
    world.build(JOB, "FAILURE")
    [kept] = world.open_cards(JOB)
    assert kept["id"] == copy["id"]
    edited = world.trello.get_card(original["id"])
    assert edited["closed"] and edited["desc"].startswith("Ann: flaky DB")
    assert f"({copy['shortUrl']})" in world.trello.comments(original["id"])[-1]


# ---------------------------------------------------------------- the bridge


def test_bridge_never_overwrites_a_persons_description_or_name():
    with trello() as t, bridge(t) as b:
        one = am_payload("DiskFull", [am_alert("DiskFull", instance="db-1")])
        assert b.post(one).json()["action"] == "created"
        [card] = t.bridge_cards()
        notes = "Ann: failing over to db-2, do not restart.\n\n"
        t.emu.human_edit_desc(card["id"], notes + card["desc"])
        t.emu.human_rename(card["id"], "DiskFull — Ann on it")

        two = am_payload("DiskFull", [am_alert("DiskFull", instance="db-1"), am_alert("DiskFull", instance="db-2")])
        answer = b.post(two).json()
        assert answer["action"] == "updated" and answer["writes"] == 2  # comment + marker line
        now = t.emu.get_card(card["id"])
        assert now["name"] == "DiskFull — Ann on it"
        assert now["desc"].startswith(notes + card["desc"].rsplit("\n", 1)[0].rstrip())  # their text, word for word
        marker = parse_marker(now["desc"])
        assert marker.state != parse_marker(card["desc"]).state and marker.pristine is False
        assert "2 firing now (was 1)" in t.emu.comments(card["id"])[-1]

        t.emu.reset_log()
        assert b.post(two).json()["writes"] == 0 and t.writes() == 0  # state advanced: a repeat is a no-op

        resolved = am_payload("DiskFull", [am_alert("DiskFull", "resolved", instance="db-1"),
                                           am_alert("DiskFull", "resolved", instance="db-2")])
        assert b.post(resolved).json()["action"] == "archived"
        assert t.emu.get_card(card["id"])["closed"]


def test_bridge_still_rewrites_its_untouched_card():
    with trello() as t, bridge(t) as b:
        b.post(am_payload("CpuHot", [am_alert("CpuHot", instance="a")]))
        [card] = t.bridge_cards()
        b.post(am_payload("CpuHot", [am_alert("CpuHot", instance="a"), am_alert("CpuHot", instance="b")]))
        now = t.emu.get_card(card["id"])
        assert now["name"] != card["name"] and "FIRING:2" in now["name"]
        assert parse_marker(now["desc"]).pristine is True and now["desc"] != card["desc"]
        assert read_marker(now["desc"])[0] == read_marker(card["desc"])[0] != job_key(JOB)
