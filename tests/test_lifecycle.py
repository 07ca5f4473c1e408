"""The transition table and the card plan, exhaustively, as pure functions (no I/O)."""

from __future__ import annotations

import itertools

import pytest

from jenkins_trello.cards import Board, Card, job_key, parse_marker, with_marker
from jenkins_trello.lifecycle import (
    FAILING,
    INERT,
    RESULTS,
    Archive,
    Build,
    Comment,
    Create,
    Update,
    Want,
    describe,
    job_verdict,
    last_counted,
    newer_completed,
    normalize_result,
    plan,
    previous_result,
    reconcile_verdict,
)

KEY = job_key("team/app")


def board_with(*cards: Card) -> Board:
    return Board((("L1", "To Do"), ("L2", "Done")), tuple(cards))


def card(cid: str, key: str = KEY, state: str = "5") -> Card:
    return Card(id=cid, name="x", list_id="L1", key=key, state=state)


# ---------------------------------------------------------------- previous build


def test_previous_skips_running_aborted_and_not_built_and_newer():
    builds = [
        Build(12, None, True),  # newer, running
        Build(11, "SUCCESS", False),  # newer, finished
        Build(10, None, True),  # current
        Build(9, "ABORTED", False),
        Build(8, "NOT_BUILT", False),
        Build(7, "FAILURE", True),  # still running though it carries a result
        Build(6, "UNSTABLE", False),
        Build(5, "SUCCESS", False),
    ]
    assert previous_result(builds, 10).number == 6
    assert newer_completed(builds, 10).number == 11
    assert newer_completed(builds, 11) is None


def test_no_previous_build_counts_as_success():
    v = job_verdict("SUCCESS", [Build(1, None, True)], 1)
    assert v.kind == "noop" and v.previous is None
    assert job_verdict("FAILURE", [Build(1, None, True)], 1).kind == "failing"


@pytest.mark.parametrize(
    "prev,cur,kind",
    [
        (prev, cur, ("noop" if cur in INERT else
                     "failing" if cur in FAILING else
                     "passing" if prev in FAILING else "noop"))
        for prev, cur in itertools.product([None, "SUCCESS", "UNSTABLE", "FAILURE"], sorted(RESULTS))
    ],
)
def test_transition_table_exhaustive(prev, cur, kind):
    builds = [Build(3, None, True)] + ([Build(2, prev, False)] if prev else [])
    assert job_verdict(cur, builds, 3).kind == kind


def test_aborted_between_failures_is_skipped():
    builds = [Build(3, None, True), Build(2, "ABORTED", False), Build(1, "FAILURE", False)]
    v = job_verdict("SUCCESS", builds, 3)
    assert v.kind == "passing" and v.previous == "FAILURE"


def test_late_build_changes_nothing_even_when_failing():
    builds = [Build(5, "SUCCESS", False), Build(4, None, True), Build(3, "SUCCESS", False)]
    assert job_verdict("FAILURE", builds, 4).kind == "noop"
    # a newer build that was aborted does not count as "newer result"
    builds = [Build(5, "ABORTED", False), Build(4, None, True), Build(3, "SUCCESS", False)]
    assert job_verdict("FAILURE", builds, 4).kind == "failing"
    # a newer build still running does not stand yet
    builds = [Build(5, None, True), Build(4, None, True), Build(3, "SUCCESS", False)]
    assert job_verdict("FAILURE", builds, 4).kind == "failing"


@pytest.mark.parametrize("raw", ["success", "Failure", " UNSTABLE ", "aborted", "not_built"])
def test_result_any_case(raw):
    assert normalize_result(raw) == raw.strip().upper()


@pytest.mark.parametrize("raw", ["", "BROKEN", "null", "SUCCESS!"])
def test_unknown_result_rejected(raw):
    with pytest.raises(ValueError):
        normalize_result(raw)


def test_last_counted_for_reconcile():
    builds = [Build(4, None, True), Build(3, "ABORTED", False), Build(2, "SUCCESS", False), Build(1, "FAILURE", False)]
    assert last_counted(builds).number == 2
    assert last_counted([Build(1, None, True)]) is None


# ---------------------------------------------------------------- plan


def failing(state: str = "6") -> Want:
    return Want(open=True, name="team/app #6 failed", desc="body", state=state, comment="still failing")


def test_first_failure_creates_with_marker_last():
    ops, keep = plan(KEY, lambda c: failing(), board_with(), "L1")
    assert keep is None and len(ops) == 1 and isinstance(ops[0], Create)
    assert ops[0].list_id == "L1"
    assert ops[0].desc.splitlines()[-1].startswith(f"`jenkins-trello:{KEY}:6:")
    marker = parse_marker(ops[0].desc)
    assert (marker.key, marker.state, marker.pristine) == (KEY, "6", True)
    assert not marker.renamed("team/app #6 failed") and marker.renamed("Ann is on it")
    assert describe(ops) == "created"


def test_failure_with_open_card_comments_only():
    ops, keep = plan(KEY, lambda c: failing("6"), board_with(card("a", state="5")), "L1")
    assert ops == [Comment("a", "still failing")] and keep.id == "a"
    assert describe(ops) == "commented"


def test_same_build_again_is_a_noop():
    ops, _ = plan(KEY, lambda c: failing("6"), board_with(card("a", state="6")), "L1")
    assert ops == [] and describe(ops) == "unchanged"


def test_success_with_open_card_comments_then_archives():
    ops, _ = plan(KEY, lambda c: Want(open=False, comment="fixed"), board_with(card("a")), "L1")
    assert ops == [Comment("a", "fixed"), Archive("a")]
    assert describe(ops) == "archived"


def test_success_without_card_does_nothing():
    ops, _ = plan(KEY, lambda c: Want(open=False, comment="fixed"), board_with(card("z", key=job_key("other"))), "L1")
    assert ops == []


def test_twins_fold_to_the_oldest():
    b = board_with(card("0000000b"), card("0000000a"), card("0000000c"))
    ops, keep = plan(KEY, lambda c: failing("6"), b, "L1")
    assert keep.id == "0000000a"
    assert [(type(op), op.card_id) for op in ops[:4]] == [
        (Comment, "0000000b"), (Archive, "0000000b"), (Comment, "0000000c"), (Archive, "0000000c")]
    assert all(op.twin for op in ops[:4])
    assert ops[4] == Comment("0000000a", "still failing")
    assert describe(ops[:4]) == "unchanged"


def test_rewrite_updates_name_and_desc_when_state_changes():
    want = Want(open=True, name="n2", desc="d2", state="s2", comment="changed", rewrite=True)
    ops, _ = plan(KEY, lambda c: want, board_with(card("a", state="s1")), "L1")
    # the update first, so a delivery that fails after it is not commented again by its redelivery
    assert ops[0] == Update("a", "n2", with_marker("d2", KEY, "s2", name="n2"))
    assert ops[1] == Comment("a", "changed")


def test_a_text_trello_would_refuse_stops_the_plan_before_its_first_write():
    from jenkins_trello.lifecycle import InvalidPlan, apply, fit, ops_problem

    card_a = card("a", state="s1")
    good = Want(open=True, name="n2", desc="d2", state="s2", comment="changed", rewrite=True)
    ops, keep = plan(KEY, lambda c: good, board_with(card_a), "L1")
    assert ops_problem(ops) is None
    assert ops_problem([Update("a", "", "d")]) is None  # an empty name keeps a person's name
    assert ops_problem([Create("L1", "", "d")]) == "card name is empty"
    assert ops_problem([Comment("a", "x" * 16385)]) == "comment has 16385 characters, over Trello's 16384"
    assert ops_problem([Update("a", "n", "bad \ud800")]) == "card description is not valid Unicode"
    fitted = fit(Want(open=True, name="n\ud800", desc="d" * 20000, comment="c"))
    assert fitted.name == "n\ufffd" and len(fitted.desc) == 16384

    class NoWrites:
        def __getattr__(self, name):
            raise AssertionError(f"wrote {name} although the plan was refused")

    bad = [Comment("a", "fine"), Update("a", "n", "bad \ud800")]
    with pytest.raises(InvalidPlan, match="not valid Unicode"):
        apply(NoWrites(), KEY, bad, keep, lambda: board_with(card_a))


def test_want_sees_the_current_card():
    seen = []
    plan(KEY, lambda c: seen.append(c) or failing(), board_with(card("a", state="s")), "L1")
    assert seen[0].state == "s"


def test_marker_survives_huge_body():
    desc = with_marker("x" * 50000, KEY, "6")
    assert len(desc) <= 16384 and parse_marker(desc).state == "6" and parse_marker(desc).pristine


def test_late_success_does_not_archive_for_a_newer_build_that_is_already_failing():
    # #20 failed; #22 is still running but already FAILURE (its post step commented); #21 passes late
    builds = [Build(22, "FAILURE", True), Build(21, None, True), Build(20, "UNSTABLE", False)]
    v = job_verdict("SUCCESS", builds, 21)
    assert v.kind == "noop" and "#22" in v.reason
    # a newer build still running with no result yet, or with SUCCESS (it may still get worse), does not block
    assert job_verdict("SUCCESS", [Build(22, None, True), Build(20, "FAILURE", False)], 21).kind == "passing"
    assert job_verdict("SUCCESS", [Build(22, "SUCCESS", True), Build(20, "FAILURE", False)], 21).kind == "passing"
    # and a failing current build is not affected
    assert job_verdict("FAILURE", builds, 21).kind == "failing"


def test_reconcile_verdict():
    assert reconcile_verdict(None).kind == "gone"
    assert reconcile_verdict([Build(3, "FAILURE", False), Build(2, "SUCCESS", False)]).kind == "failing"
    assert reconcile_verdict([Build(1, None, True)]).kind == "failing"
    v = reconcile_verdict([Build(4, "ABORTED", False), Build(3, "SUCCESS", False), Build(2, "FAILURE", False)])
    assert v.kind == "passing" and v.build.number == 3
    v = reconcile_verdict([Build(4, None, True), Build(3, "SUCCESS", False)])
    assert v.kind == "running" and "#4" in v.reason


def test_reconcile_verdict_under_unstable_ignore():
    unstable_last = [Build(3, "UNSTABLE", False), Build(2, "FAILURE", False)]
    assert reconcile_verdict(unstable_last).kind == "failing"
    v = reconcile_verdict(unstable_last, unstable="ignore")
    assert v.kind == "passing" and v.build.number == 3 and "ignores" in v.reason
    assert reconcile_verdict([Build(3, "FAILURE", False)], unstable="ignore").kind == "failing"
    assert reconcile_verdict(unstable_last + [Build(4, None, True)], unstable="ignore").kind == "running"
