"""The archival age rule as pure functions over action histories shaped like Trello's.

Age in Done is the time since a card last *entered* the Done list; the board
history is read only for recently active cards. These tests pin the rule and,
with hypothesis, check that the request-saving shortcut (last activity, then
entries since the cutoff) never archives a card earlier than the exact rule.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grafana_bridge.archive import (
    BASIS_ACTIONS,
    BASIS_ACTIVITY,
    BASIS_UNAVAILABLE,
    Decision,
    created_at,
    decide,
    describe,
    entered_done_at,
    parse_time,
)

UTC = timezone.utc
NOW = datetime(2026, 11, 29, 6, 0, 0, tzinfo=UTC)
DONE, TODO, DOING = "d" * 24, "a" * 24, "b" * 24
_seq = itertools.count(1)


def oid(when: datetime) -> str:
    """A Trello-like ObjectId whose first 8 hex digits are ``when`` in Unix seconds."""
    return f"{int(when.timestamp()):08x}{'0' * 10}{next(_seq) & 0xFFFFFF:06x}"


def iso(when: datetime) -> str:
    when = when.astimezone(UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def card(card_id: str, list_id: str = DONE, last_activity: datetime | None = None, name: str = "card") -> dict:
    return {"id": card_id, "name": name, "idList": list_id, "closed": False,
            "dateLastActivity": iso(last_activity) if last_activity else None}


def action(type_: str, card_id: str, when: datetime, **data: object) -> dict:
    payload = {"card": {"id": card_id, "name": "card"}, "board": {"id": "f" * 24}}
    payload.update(data)
    return {"id": oid(when), "type": type_, "date": iso(when), "data": payload}


def created(card_id: str, list_id: str, when: datetime, type_: str = "createCard") -> dict:
    return action(type_, card_id, when, list={"id": list_id, "name": list_id[:1]})


def moved(card_id: str, before: str, after: str, when: datetime) -> dict:
    return action("updateCard", card_id, when, old={"idList": before}, listBefore={"id": before},
                  listAfter={"id": after})


def closed(card_id: str, value: bool, when: datetime, list_id: str | None = None) -> dict:
    extra: dict = {"old": {"closed": not value}}
    if list_id is not None:
        extra["list"] = {"id": list_id}
    return action("updateCard", card_id, when, **extra)


def comment(card_id: str, list_id: str, when: datetime, text: str = "still here?") -> dict:
    return action("commentCard", card_id, when, text=text, list={"id": list_id})


# --------------------------------------------------------------------------- entered_done_at


def test_moved_out_and_back_counts_from_the_last_entry():
    cid = oid(ago(40))
    history = [
        created(cid, TODO, ago(40)),
        moved(cid, TODO, DONE, ago(30)),
        moved(cid, DONE, DOING, ago(20)),
        moved(cid, DOING, DONE, ago(1)),
    ]
    assert entered_done_at(card(cid), history, DONE) == ago(1)
    assert entered_done_at(card(cid), list(reversed(history)), DONE) == ago(1)  # order does not matter


def test_created_in_done():
    cid = oid(ago(20))
    assert entered_done_at(card(cid), [created(cid, DONE, ago(20))], DONE) == ago(20)


def test_created_elsewhere_is_not_an_entry():
    cid = oid(ago(20))
    assert entered_done_at(card(cid, TODO), [created(cid, TODO, ago(20))], DONE) is None


def test_copied_into_done_counts_for_the_copy_only():
    source, copy = oid(ago(50)), oid(ago(3))
    history = [created(source, DONE, ago(50)), created(copy, DONE, ago(3), type_="copyCard")]
    history[1]["data"]["cardSource"] = {"id": source}
    assert entered_done_at(card(copy), history, DONE) == ago(3)
    assert entered_done_at(card(source), history, DONE) == ago(50)


def test_converted_from_checklist_item_or_emailed_into_done():
    a, b = oid(ago(5)), oid(ago(6))
    history = [created(a, DONE, ago(5), "convertToCardFromCheckItem"), created(b, DONE, ago(6), "emailCard")]
    assert entered_done_at(card(a), history, DONE) == ago(5)
    assert entered_done_at(card(b), history, DONE) == ago(6)


def test_moved_from_another_board_into_done():
    cid = oid(ago(100))  # created long ago on the other board
    history = [created(cid, DONE, ago(2), "moveCardToBoard")]
    history[0]["data"]["boardSource"] = {"id": "e" * 24}
    assert entered_done_at(card(cid), history, DONE) == ago(2)
    elsewhere = [created(cid, TODO, ago(2), "moveCardToBoard")]
    assert entered_done_at(card(cid), elsewhere, DONE) is None


def test_restored_from_archive_while_in_done_counts():
    cid = oid(ago(60))
    history = [created(cid, DONE, ago(60)), closed(cid, True, ago(50), DONE), closed(cid, False, ago(4), DONE)]
    assert entered_done_at(card(cid), history, DONE) == ago(4)


def test_restored_in_another_list_is_not_an_entry():
    cid = oid(ago(60))
    history = [
        created(cid, TODO, ago(60)),
        closed(cid, True, ago(50), TODO),
        closed(cid, False, ago(20), TODO),  # restored while in To Do: not an entry
        moved(cid, TODO, DONE, ago(10)),
    ]
    assert entered_done_at(card(cid), history, DONE) == ago(10)


def test_restore_without_list_is_placed_by_the_next_move_or_the_current_list():
    cid = oid(ago(60))
    restore = closed(cid, False, ago(8))  # no data.list
    # The next move took it out of To Do: the restore happened in To Do, not an entry.
    history = [created(cid, TODO, ago(60)), closed(cid, True, ago(50)), restore, moved(cid, TODO, DONE, ago(7))]
    assert entered_done_at(card(cid), history, DONE) == ago(7)
    # The next move took it out of Done: the restore was an entry (it left again since).
    history = [created(cid, DONE, ago(60)), closed(cid, True, ago(50)), restore, moved(cid, DONE, TODO, ago(7))]
    assert entered_done_at(card(cid, TODO), history, DONE) == ago(8)
    # No later move: it was where it is now.
    history = [created(cid, DONE, ago(60)), closed(cid, True, ago(50)), restore]
    assert entered_done_at(card(cid, DONE), history, DONE) == ago(8)
    assert entered_done_at(card(cid, TODO), history, DONE) == ago(60)


def test_an_entry_action_that_does_not_say_its_list_counts_as_an_entry():
    """Counting an entry whose list cannot be told only makes a card younger, never archives it early."""
    cid = oid(ago(60))
    for kind in ("createCard", "copyCard", "moveCardToBoard", "convertToCardFromCheckItem", "emailCard"):
        bare = action(kind, cid, ago(3))  # neither data.list nor data.card.idList
        assert entered_done_at(card(cid), [bare], DONE) == ago(3), kind
        with_card_list = action(kind, cid, ago(3), card={"id": cid, "idList": TODO})
        assert entered_done_at(card(cid), [with_card_list], DONE) is None, kind
    # a restore whose list cannot be told (the card left the board and came back after it) counts too
    history = [created(cid, TODO, ago(60)), closed(cid, True, ago(50)), closed(cid, False, ago(9)),
               action("moveCardToBoard", cid, ago(5), list={"id": TODO})]
    assert entered_done_at(card(cid, TODO), history, DONE) == ago(9)
    # ... and an old card whose only unlabelled entry is recent is kept
    assert not one([card(cid, DONE, ago(3))], [action("createCard", cid, ago(3))]).archive


def test_archiving_and_comments_are_not_entries():
    cid = oid(ago(60))
    history = [created(cid, DONE, ago(60)), comment(cid, DONE, ago(1)), closed(cid, True, ago(0.5), DONE)]
    assert entered_done_at(card(cid), history, DONE) == ago(60)


def test_other_cards_actions_are_ignored():
    mine, other = oid(ago(30)), oid(ago(1))
    history = [created(mine, DONE, ago(30)), created(other, DONE, ago(1))]
    assert entered_done_at(card(mine), history, DONE) == ago(30)


# --------------------------------------------------------------------------- decide


def one(cards, actions, days=14.0, complete=True, now=NOW) -> Decision:
    [d] = decide(cards, actions, DONE, now, days, complete)
    return d


def test_old_last_activity_needs_no_history():
    cid = oid(ago(40))
    d = one([card(cid, last_activity=ago(20))], [], complete=False)
    assert (d.archive, d.basis, round(d.age_days, 1), d.at_least) == (True, BASIS_ACTIVITY, 20.0, True)


def test_a_comment_on_an_old_done_card_does_not_keep_it():
    cid = oid(ago(40))
    # The comment made it active yesterday; the history since the cutoff holds no entry into Done.
    d = one([card(cid, last_activity=ago(1))], [comment(cid, DONE, ago(1))])
    assert d.archive and d.basis == BASIS_ACTIONS and d.at_least
    assert describe(d, "would archive").startswith(f"would archive {cid} (more than 14.0 days in Done")


def test_moved_back_into_done_yesterday_is_one_day_old():
    cid = oid(ago(40))
    d = one([card(cid, last_activity=ago(1))], [moved(cid, DOING, DONE, ago(1))])
    assert (d.archive, d.basis, round(d.age_days, 1), d.at_least) == (False, BASIS_ACTIONS, 1.0, False)


def test_more_than_n_days_is_strict():
    young, old = oid(ago(30)), oid(ago(30))
    history = [moved(young, TODO, DONE, ago(13.9)), moved(old, TODO, DONE, ago(14.1))]
    cards = [card(young, last_activity=ago(13.9)), card(old, last_activity=ago(14.1))]
    by_id = {d.card_id: d for d in decide(cards, history, DONE, NOW, 14, True)}
    assert not by_id[young].archive and round(by_id[young].age_days, 1) == 13.9
    assert by_id[old].archive and round(by_id[old].age_days, 1) == 14.1
    exactly = oid(ago(30))
    d = one([card(exactly, last_activity=ago(14))], [moved(exactly, TODO, DONE, ago(14))])
    assert not d.archive  # exactly 14 days is not more than 14


def test_time_zones_and_trello_dates():
    assert parse_time("2026-11-29T06:01:52.123Z") == datetime(2026, 11, 29, 6, 1, 52, 123000, tzinfo=UTC)
    assert parse_time("2026-11-29T08:01:52.123+02:00") == datetime(2026, 11, 29, 6, 1, 52, 123000, tzinfo=UTC)
    assert parse_time("2026-11-29T06:01:52") == datetime(2026, 11, 29, 6, 1, 52, tzinfo=UTC)  # naive = UTC
    assert parse_time("yesterday") is None and parse_time(None) is None and parse_time("") is None
    assert parse_time("2026-11-29T06:01:52Z").tzinfo is UTC
    cid = oid(ago(30))
    history = [moved(cid, TODO, DONE, ago(14.1))]
    berlin = timezone(timedelta(hours=1))
    for now in (NOW, NOW.astimezone(berlin), NOW.astimezone(timezone(timedelta(hours=-7)))):
        d = one([card(cid, last_activity=ago(14.1))], history, now=now)
        assert d.archive and round(d.age_days, 1) == 14.1


def test_no_history_falls_back_to_last_activity_and_keeps_the_card():
    cid = oid(ago(40))
    d = one([card(cid, last_activity=ago(2))], [], complete=False)
    assert (d.archive, d.basis, round(d.age_days, 1)) == (False, BASIS_UNAVAILABLE, 2.0)
    assert "history unavailable" in describe(d, "kept")
    d = one([card(cid, last_activity=None)], [], complete=False)
    assert (d.archive, d.basis, d.age_days) == (False, BASIS_UNAVAILABLE, 0.0)


def test_an_entry_found_in_partial_history_is_still_exact():
    cid = oid(ago(40))
    d = one([card(cid, last_activity=ago(2))], [moved(cid, TODO, DONE, ago(3))], complete=False)
    assert (d.archive, d.basis, round(d.age_days, 1)) == (False, BASIS_ACTIONS, 3.0)


def test_a_card_created_after_the_cutoff_without_its_entry_is_not_trusted():
    cid = oid(ago(2))  # created 2 days ago, yet the complete history has no entry: contradiction
    d = one([card(cid, last_activity=ago(2))], [], complete=True)
    assert (d.archive, d.basis) == (False, BASIS_UNAVAILABLE)


def test_decisions_keep_card_order_and_names():
    a, b = oid(ago(30)), oid(ago(30))
    ds = decide([card(a, name="first"), card(b, name="second\nline")], [], DONE, NOW, 14, False)
    assert [d.card_id for d in ds] == [a, b]
    assert describe(ds[1], "kept").endswith("second line")


# --------------------------------------------------------------------------- properties

LISTS = (TODO, DOING, DONE)
BASE = datetime(2026, 1, 1, tzinfo=UTC)

step = st.tuples(
    st.integers(min_value=1, max_value=20 * 86400),  # seconds since the previous event
    st.sampled_from(("move", "move", "comment", "archive", "restore")),
    st.sampled_from(LISTS),
)
history_spec = st.tuples(
    st.sampled_from(("createCard", "copyCard", "moveCardToBoard", "convertToCardFromCheckItem")),
    st.sampled_from(LISTS),
    st.lists(step, max_size=12),
    st.booleans(),  # whether restore actions carry data.list
)


def simulate(spec) -> tuple[str, list[dict], datetime | None, dict]:
    """Build Trello-shaped actions and, independently, the model's last entry into Done.

    The model tracks (list, closed) and notes the time of every transition
    into "open in Done" from anything else, or of creation in Done.
    """
    creation, first_list, steps, restore_has_list = spec
    when = BASE
    cid = oid(when)
    actions = [created(cid, first_list, when, creation)]
    where, is_closed, last_event = first_list, False, when
    entry = when if first_list == DONE else None
    for gap, kind, target in steps:
        when = when + timedelta(seconds=gap)
        if kind == "move" and target != where:
            actions.append(moved(cid, where, target, when))
            if target == DONE:
                entry = when
            where = target
        elif kind == "comment":
            actions.append(comment(cid, where, when))
        elif kind == "archive" and not is_closed:
            actions.append(closed(cid, True, when, where))
            is_closed = True
        elif kind == "restore" and is_closed:
            actions.append(closed(cid, False, when, where if restore_has_list else None))
            is_closed = False
            if where == DONE:
                entry = when
        else:
            continue
        last_event = when
    state = {"id": cid, "name": "card", "idList": where, "closed": is_closed, "dateLastActivity": iso(last_event)}
    return cid, actions, entry, state


@given(history_spec, st.randoms(use_true_random=False))
def test_entered_done_at_matches_an_independent_model(spec, rnd):
    cid, actions, entry, state = simulate(spec)
    rnd.shuffle(actions)
    assert entered_done_at(state, actions, DONE) == entry
    if entry is not None:
        assert entry >= created_at(cid)  # the age never exceeds the card's own age


@given(history_spec, st.floats(min_value=0.5, max_value=60), st.integers(min_value=0, max_value=30 * 86400))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_the_shortcut_never_archives_earlier_than_the_exact_rule(spec, days, extra):
    cid, actions, entry, state = simulate(spec)
    if state["idList"] != DONE or state["closed"]:
        return
    assert entry is not None
    now = parse_time(state["dateLastActivity"]) + timedelta(seconds=extra)
    exact_age = now - entry
    cutoff = now - timedelta(days=days)
    entries_since = [a for a in actions if a["type"] != "commentCard" and parse_time(a["date"]) > cutoff]
    d = one([state], entries_since, days=days, now=now)
    # Complete history since the cutoff: exactly the rule.
    assert d.archive == (exact_age > timedelta(days=days))
    assert d.age_days * 86400 <= exact_age.total_seconds() + 1e-3  # shown age is never more than the truth
    if not d.at_least:
        assert abs(d.age_days * 86400 - exact_age.total_seconds()) < 1e-3
    # Any newest-first part of it, marked incomplete: never archives a card the exact rule keeps.
    newest_first = sorted(entries_since, key=lambda a: a["date"], reverse=True)
    for cut in range(len(newest_first) + 1):
        partial = one([state], newest_first[:cut], days=days, complete=False, now=now)
        assert not partial.archive or exact_age > timedelta(days=days)


@given(history_spec, st.lists(st.integers(min_value=0, max_value=300 * 86400), max_size=5),
       st.floats(min_value=0.5, max_value=60), st.integers(min_value=0, max_value=30 * 86400))
def test_adding_a_comment_never_changes_the_decision(spec, comment_offsets, days, extra):
    cid, actions, _entry, state = simulate(spec)
    if state["idList"] != DONE or state["closed"]:
        return
    last = parse_time(state["dateLastActivity"])
    now = last + timedelta(seconds=extra)
    cutoff = now - timedelta(days=days)

    def as_run_reads(history: list[dict], card_state: dict) -> Decision:
        since = [a for a in history if parse_time(a["date"]) > cutoff]  # comments included: they must not count
        return one([card_state], since, days=days, now=now)

    before = as_run_reads(actions, state)
    comments = [comment(cid, DONE, BASE + timedelta(seconds=s)) for s in comment_offsets]
    comments = [c for c in comments if parse_time(c["date"]) <= now]
    after_state = dict(state)
    if comments:
        after_state["dateLastActivity"] = iso(max([last] + [parse_time(c["date"]) for c in comments]))
    after = as_run_reads(actions + comments, after_state)
    assert after.archive == before.archive
