"""Card titles follow the card: a fixed job's card and a resolved alert group's card say so, at no extra request.

The pure half checks the plan (the new name rides on the archive or the update
that marks the card fixed; a name a person chose is kept; the marker's name
digest follows, so a reopened card still counts as untouched). The wire half
counts requests against the emulators: the same budget as before.
"""

from __future__ import annotations

import pytest

from jenkins_trello.cards import Board, Card, job_key, parse_marker, with_marker
from jenkins_trello.lifecycle import Archive, Comment, Update, Want, ops_problem, plan
from jenkins_trello.messages import fixed_name

from .bridgeutil import am_alert, am_payload
from .test_notify_e2e import FAILED_TESTS, world  # noqa: F401 - the fixture

KEY = job_key("team/app")
LISTS = (("L1", "To Do"), ("L2", "Done"), ("L3", "Fixed"))


def card(name: str = "team/app #5 failed", state: str = "5", *, written: str | None = None, body: str = "body",
         list_id: str = "L1") -> Card:
    """A project card as read back; ``written`` is the name the project wrote (a person may have renamed it)."""
    m = parse_marker(with_marker(body, KEY, state, name=name if written is None else written))
    return Card(id="a", name=name, list_id=list_id, key=KEY, state=state, pristine=m.pristine,
                renamed=m.renamed(name), body=m.body, digest=m.digest)


def closed(on_fix: str = "archive", name: str = "team/app #5 fixed in #7", fix_list: str = "") -> Want:
    return Want(open=False, name=name, comment="Fixed: build #7 passed.", on_fix=on_fix, fix_list_id=fix_list)


def test_fixed_name():
    assert fixed_name("team/app", "5", 7) == "team/app #5 fixed in #7"
    assert fixed_name("org/repo/feature%2Fx", "12", 13) == "org/repo/feature/x #12 fixed in #13"
    assert fixed_name("team/app", "fixed", 9) == "team/app fixed in #9"


def test_the_archive_carries_the_new_name_and_renews_the_markers_name_digest():
    ops, _ = plan(KEY, lambda c: closed(), Board(LISTS, (card(),)), "")
    comment, archive = ops
    assert comment == Comment("a", "Fixed: build #7 passed.")
    assert isinstance(archive, Archive) and archive.name == "team/app #5 fixed in #7"
    m = parse_marker(archive.desc)
    assert m.body == "body" and m.state == "5" and m.pristine and not m.renamed("team/app #5 fixed in #7")
    assert ops_problem(ops) is None


def test_a_name_a_person_chose_is_kept_on_archive():
    renamed = card("Ann: flaky DNS, looking", written="team/app #5 failed")
    ops, _ = plan(KEY, lambda c: closed(), Board(LISTS, (renamed,)), "")
    assert ops[-1] == Archive("a")  # no name, no desc: exactly the old request


def test_an_older_marker_without_name_history_keeps_its_name():
    old = Card(id="a", name="team/app #5 failed", list_id="L1", key=KEY, state="5", pristine=None, body="body")
    ops, _ = plan(KEY, lambda c: closed(), Board(LISTS, (old,)), "")
    assert ops[-1] == Archive("a")


@pytest.mark.parametrize("on_fix,fix_list,moved", [("comment", "", ""), ("move", "L3", "L3")])
def test_a_card_kept_open_says_fixed_in_the_update_that_marks_it(on_fix, fix_list, moved):
    ops, _ = plan(KEY, lambda c: closed(on_fix, fix_list=fix_list), Board(LISTS, (card(),)), "")
    up, comment = ops
    assert isinstance(up, Update) and up.name == "team/app #5 fixed in #7" and up.list_id == moved
    m = parse_marker(up.desc)
    assert m.state == "fixed" and not m.renamed("team/app #5 fixed in #7")
    assert isinstance(comment, Comment)


def test_a_fixed_card_failing_again_gets_a_failing_name_back():
    fixed = card("team/app #5 fixed in #7", "fixed", list_id="L3")
    want = Want(open=True, name="team/app #9 failed", state="9", comment="Failing again")
    up, _comment = plan(KEY, lambda c: want, Board(LISTS, (fixed,)), "L1")[0]
    assert up.name == "team/app #9 failed" and up.list_id == "L1"
    m = parse_marker(up.desc)
    assert m.state == "9" and not m.renamed("team/app #9 failed")
    # a person's name survives coming back too
    theirs = card("Ann: fixed, keep an eye", "fixed", written="team/app #5 fixed in #7", list_id="L3")
    up, _comment = plan(KEY, lambda c: want, Board(LISTS, (theirs,)), "L1")[0]
    assert up.name == ""


# --------------------------------------------------------------------------- over the wire


def test_fixed_job_card_is_archived_with_a_fixed_title_at_the_same_request_count(world):  # noqa: F811
    job = "team/app"
    world.jenkins.add_job(job)
    _, _, _, _, first = world.build(job, "FAILURE", tests=FAILED_TESTS)
    [opened] = world.open_cards(job)
    code, out, _, counts, fixed = world.build(job, "SUCCESS")
    assert code == 0 and "archived" in out
    assert counts == (1, 3)  # find, comment, archive (with the name): the budget of before
    [after] = [c for c in world.trello.cards(world.board["id"], include_closed=True) if c["id"] == opened["id"]]
    assert after["closed"] and after["name"] == f"team/app #{first} fixed in #{fixed}"
    puts = [r for r in world.trello.request_log if r.method == "PUT"]
    assert len(puts) == 1


def test_person_renamed_job_card_keeps_their_name_into_the_archive(world):  # noqa: F811
    job = "team/app"
    world.jenkins.add_job(job)
    world.build(job, "FAILURE")
    [opened] = world.open_cards(job)
    world.trello.human_rename(opened["id"], "Ann is on it")
    world.build(job, "SUCCESS")
    [after] = [c for c in world.trello.cards(world.board["id"], include_closed=True) if c["id"] == opened["id"]]
    assert after["closed"] and after["name"] == "Ann is on it"


def test_dry_run_names_the_card_by_its_link_like_a_real_run(world):  # noqa: F811
    job = "team/app"
    world.jenkins.add_job(job)
    _, out_real, _, _, _ = world.build(job, "FAILURE")
    [opened] = world.open_cards(job)
    _, out_dry, _, _, _ = world.build(job, "FAILURE", extra=("--dry-run",))
    assert opened["shortUrl"] in out_real and opened["shortUrl"] in out_dry
    assert "would nothing" not in out_dry
    _, out_dry, _, _, _ = world.build(job, "SUCCESS", extra=("--dry-run",))
    assert f"as {fixed_name(job, '1', 3)!r}" in out_dry or "fixed in #3" in out_dry


def test_resolved_alert_card_is_archived_as_resolved_at_the_same_request_count(t, b):
    firing = am_payload("DiskFull", [am_alert("DiskFull", instance="host-1"), am_alert("DiskFull", instance="host-2")])
    assert b.post(firing).json()["action"] == "created"
    [opened] = t.bridge_cards()
    assert opened["name"].startswith("[FIRING:2] DiskFull")
    t.emu.reset_log()
    resolved = am_payload("DiskFull", [am_alert("DiskFull", "resolved", instance="host-1"),
                                       am_alert("DiskFull", "resolved", instance="host-2")])
    answer = b.post(resolved).json()
    assert answer["action"] == "archived" and answer["writes"] == 2 and t.emu.count() == 3
    [after] = [c for c in t.all_cards() if c["id"] == opened["id"]]
    assert after["closed"] and after["name"].startswith("[RESOLVED] DiskFull") and "FIRING" not in after["name"]
