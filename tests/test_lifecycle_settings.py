"""A route's lifecycle settings as pure decisions: after_failures, unstable, on_fix, reopen_within, labels, members."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jenkins_trello.cards import Board, Card, alert_key, job_key, parse_marker, with_marker
from jenkins_trello.lifecycle import (
    INERT,
    RESULTS,
    Archive,
    Build,
    Comment,
    Create,
    CreateLabel,
    InvalidPlan,
    Update,
    Want,
    apply,
    card_labels,
    describe,
    failure_streak,
    fixed_state,
    is_fixed,
    job_verdict,
    labels_from,
    labels_from_all,
    needs_intake_list,
    needs_reopen_read,
    ops_problem,
    plan,
    relabel,
    reopen_candidate,
    resolve_labels,
)
from jenkins_trello.people import resolve_members

KEY = job_key("team/app")
AKEY = alert_key("grafana|oncall|alertname=HighLatency")


def history(*results: str, current: int | None = None) -> tuple[list[Build], int]:
    """Completed builds 1..n (oldest first) and the current build n+1, still running."""
    builds = [Build(i + 1, r, False) for i, r in enumerate(results)]
    cur = current or len(results) + 1
    return builds + [Build(cur, None, True)], cur


# ---------------------------------------------------------------- after_failures / unstable: tables


@pytest.mark.parametrize("past,cur,n,unstable,kind,reason", [
    ((), "FAILURE", 2, "failing", "noop", "failure 1 of 2 before a card"),
    (("FAILURE",), "FAILURE", 2, "failing", "failing", "2 failures in a row"),
    (("FAILURE", "FAILURE"), "FAILURE", 2, "failing", "failing", "still failing"),
    (("FAILURE", "ABORTED", "NOT_BUILT"), "FAILURE", 2, "failing", "failing", "2 failures in a row"),
    (("FAILURE", "SUCCESS"), "FAILURE", 2, "failing", "noop", "failure 1 of 2 before a card"),
    (("UNSTABLE", "FAILURE"), "UNSTABLE", 3, "failing", "failing", "3 failures in a row"),
    (("FAILURE", "UNSTABLE"), "FAILURE", 2, "ignore", "noop", "failure 1 of 2 before a card"),
    (("FAILURE",), "UNSTABLE", 1, "ignore", "passing", "fixed after #1 FAILURE"),
    (("UNSTABLE",), "SUCCESS", 1, "ignore", "noop", "success after success"),
    (("UNSTABLE",), "FAILURE", 1, "ignore", "failing", "first failure"),
    ((), "UNSTABLE", 1, "ignore", "noop", "success after success"),
    (("FAILURE",), "SUCCESS", 3, "failing", "passing", "fixed after #1 FAILURE"),
    (("FAILURE",), "ABORTED", 2, "failing", "noop", "result ABORTED changes nothing"),
    ((), "FAILURE", 1, "failing", "failing", "first failure"),
    (("UNSTABLE",), "FAILURE", 1, "failing", "failing", "still failing"),
])
def test_verdict_table(past, cur, n, unstable, kind, reason):
    builds, current = history(*past)
    v = job_verdict(cur, builds, current, after_failures=n, unstable=unstable)
    assert (v.kind, v.reason) == (kind, reason)
    if cur not in INERT:  # an inert result is decided before the previous build is looked at
        assert v.previous == next((r for r in reversed(past) if r not in INERT), None)  # as Jenkins said it


def test_after_failures_below_one_is_a_usage_error():
    builds, current = history()
    with pytest.raises(ValueError, match="at least 1"):
        job_verdict("FAILURE", builds, current, after_failures=0)


def test_running_unstable_newer_build_does_not_block_a_success_when_unstable_is_ignored():
    builds = [Build(22, "UNSTABLE", True), Build(21, None, True), Build(20, "FAILURE", False)]
    assert job_verdict("SUCCESS", builds, 21).kind == "noop"
    assert job_verdict("SUCCESS", builds, 21, unstable="ignore").kind == "passing"
    builds[0] = Build(22, "FAILURE", True)
    assert job_verdict("SUCCESS", builds, 21, unstable="ignore").kind == "noop"
    # with a threshold the newer build starts a streak of one: it keeps no card, so the success archives
    assert job_verdict("SUCCESS", builds, 21, after_failures=2).kind == "passing"


# ---------------------------------------------------------------- after_failures / unstable: properties

results = st.sampled_from(sorted(RESULTS))
past_builds = st.lists(st.tuples(results, st.booleans()), max_size=8)


def _builds(past: list[tuple[str, bool]], extra_newer: list[tuple[str | None, bool]]) -> tuple[list[Build], int]:
    builds = [Build(i + 1, r if not running or r in ("FAILURE", "UNSTABLE") else None, running)
              for i, (r, running) in enumerate(past)]
    current = len(past) + 1
    builds.append(Build(current, None, True))
    builds += [Build(current + 1 + i, r, running) for i, (r, running) in enumerate(extra_newer)]
    return builds, current


def reference_streak(result: str, builds: list[Build], current: int, unstable: str) -> int:
    """An independent model: walk back from the current build over completed, counted results."""
    def fails(r: str | None) -> bool:
        return r == "FAILURE" or (r == "UNSTABLE" and unstable == "failing")
    if not fails(result):
        return 0
    n = 1
    for number in range(current - 1, 0, -1):
        b = next((x for x in builds if x.number == number), None)
        if b is None or b.building or b.result in (None, "ABORTED", "NOT_BUILT"):
            continue
        if not fails(b.result):
            break
        n += 1
    return n


newer_builds = st.lists(st.tuples(st.sampled_from([None, "SUCCESS", "FAILURE", "UNSTABLE", "ABORTED"]),
                                  st.booleans()), max_size=2)


@given(past_builds, results, newer_builds)
def test_defaults_keep_the_old_signature(past, cur, newer):
    builds, current = _builds(past, newer)
    assert job_verdict(cur, builds, current) == job_verdict(cur, builds, current, 1, "failing")


@given(past_builds, results, newer_builds, st.integers(1, 5), st.sampled_from(["failing", "ignore"]))
def test_a_card_exactly_when_the_streak_reaches_the_threshold(past, cur, newer, n, unstable):
    builds, current = _builds(past, newer)
    v = job_verdict(cur, builds, current, after_failures=n, unstable=unstable)
    streak = reference_streak(cur, builds, current, unstable)
    assert failure_streak(cur, builds, current, unstable) == streak
    newer_done = any(b.number > current and not b.building and b.result not in (None, "ABORTED", "NOT_BUILT")
                     for b in builds)
    if v.kind == "failing":
        assert streak >= n and not newer_done
    elif streak >= n and not newer_done:
        pytest.fail(f"streak {streak} >= {n} but verdict {v}")
    if v.kind == "noop" and streak and not newer_done:
        assert v.reason == f"failure {streak} of {n} before a card"


@given(past_builds, results, newer_builds, st.integers(1, 4))
def test_unstable_ignore_is_unstable_read_as_success(past, cur, newer, n):
    builds, current = _builds(past, newer)

    def success(r: str | None) -> str | None:
        return "SUCCESS" if r == "UNSTABLE" else r

    # a running build carrying UNSTABLE may still end a success: as a running build without a result
    mapped = [Build(b.number, None if b.building and b.result == "UNSTABLE" else success(b.result), b.building)
              for b in builds]
    assert (job_verdict(cur, builds, current, n, "ignore").kind
            == job_verdict(success(cur), mapped, current, n, "failing").kind)


@given(past_builds, results, st.integers(1, 4))
def test_a_higher_threshold_never_opens_a_card_a_lower_one_would_not(past, cur, n):
    builds, current = _builds(past, [])
    if job_verdict(cur, builds, current, after_failures=n + 1).kind == "failing":
        assert job_verdict(cur, builds, current, after_failures=n).kind == "failing"


# ---------------------------------------------------------------- on_fix / on_resolve

B = (("L1", "To Do"), ("L2", "Done"), ("L3", "Fixed"))


def board_with(*cards: Card) -> Board:
    return Board(B, tuple(cards))


def project_card(cid: str = "a", key: str = KEY, state: str = "5", list_id: str = "L1", body: str = "body",
                 name: str = "team/app #5 failed") -> Card:
    """A card as the snapshot reads it back from a description the project wrote."""
    m = parse_marker(with_marker(body, key, state, name=name))
    return Card(id=cid, name=name, list_id=list_id, key=key, state=state, pristine=m.pristine,
                renamed=m.renamed(name), body=m.body, digest=m.digest)


def closed(on_fix: str = "archive", fix_list: str = "") -> Want:
    return Want(open=False, comment="Fixed: build #6 passed.", on_fix=on_fix, fix_list_id=fix_list)


def failing_want(state: str = "7", **kw) -> Want:
    return Want(open=True, name="team/app #7 failed", desc="new body", state=state, comment="still failing", **kw)


def state_of(op: Update) -> str:
    return parse_marker(op.desc).state


def test_fixed_states():
    assert fixed_state(KEY) == "fixed" and fixed_state(AKEY) == "resolved"
    assert is_fixed("fixed") and is_fixed("resolved") and not is_fixed("5") and not is_fixed("0")


def test_on_fix_archive_is_todays_behaviour():
    ops, _ = plan(KEY, lambda c: closed(), board_with(project_card()), "")
    assert ops == [Comment("a", "Fixed: build #6 passed."), Archive("a")]


@pytest.mark.parametrize("key", [KEY, AKEY])
def test_on_fix_comment_marks_the_card_fixed_where_it_is(key):
    card = project_card(key=key)
    ops, keep = plan(key, lambda c: closed("comment"), board_with(card), "")
    assert [type(op) for op in ops] == [Update, Comment]
    up = ops[0]
    assert (up.card_id, up.name, up.list_id, up.closed) == ("a", "", "", None)
    assert state_of(up) == fixed_state(key)
    m = parse_marker(up.desc)
    assert m.body == "body" and m.pristine  # the text word for word: still the project's untouched card
    assert not m.renamed(card.name)
    assert describe(ops) == "updated" and not any(isinstance(op, Archive) for op in ops)


def test_on_fix_move_moves_and_marks_fixed():
    ops, _ = plan(KEY, lambda c: closed("move", "L3"), board_with(project_card()), "")
    assert [type(op) for op in ops] == [Update, Comment]
    assert ops[0].list_id == "L3" and state_of(ops[0]) == "fixed"
    assert describe(ops) == "moved"
    # already in the fix list: no move, only the state
    ops, _ = plan(KEY, lambda c: closed("move", "L3"), board_with(project_card(list_id="L3")), "")
    assert ops[0].list_id == "" and state_of(ops[0]) == "fixed"


@pytest.mark.parametrize("on_fix", ["comment", "move"])
def test_a_fixed_card_is_left_alone_by_another_fix(on_fix):
    card = project_card(state="fixed", list_id="L2")  # a person moved it to Done since
    assert plan(KEY, lambda c: closed(on_fix, "L3"), board_with(card), "")[0] == []


def test_an_edited_card_keeps_its_text_when_marked_fixed():
    card = project_card()
    card = Card(**{**card.__dict__, "body": "Ann: flaky disk, see runbook", "pristine": False})
    ops, _ = plan(KEY, lambda c: closed("comment"), board_with(card), "")
    m = parse_marker(ops[0].desc)
    assert m.body == "Ann: flaky disk, see runbook" and m.state == "fixed" and m.pristine is False


@pytest.mark.parametrize("where", ["L3", "L1"])
def test_failing_again_brings_the_fixed_card_back_never_a_second(where):
    card = project_card(state="fixed", list_id=where)
    want = failing_want(again="Failing again: build #7")
    ops, keep = plan(KEY, lambda c: want, board_with(card), "L1")
    assert keep.id == "a" and not any(isinstance(op, Create) for op in ops)
    up, comment = ops
    assert state_of(up) == "7" and up.list_id == ("L1" if where != "L1" else "")
    assert comment == Comment("a", "Failing again: build #7")
    assert parse_marker(up.desc).body == "body"  # a Jenkins want does not rewrite: the comment carries the news


def test_failing_again_with_rewrite_renews_the_text_and_without_again_uses_the_comment():
    card = project_card(key=AKEY, state="resolved", list_id="L3")
    want = Want(open=True, name="[FIRING:1] HighLatency", desc="firing", state="00000000000000aa", comment="1 firing",
                rewrite=True)
    ops, _ = plan(AKEY, lambda c: want, board_with(card), "L1")
    assert ops[0].name == "[FIRING:1] HighLatency" and parse_marker(ops[0].desc).body == "firing"
    assert ops[0].list_id == "L1" and ops[1] == Comment("a", "1 firing")


def test_needs_intake_list():
    assert needs_intake_list(failing_want(), [])
    assert needs_intake_list(failing_want(), [project_card(state="fixed")])
    assert not needs_intake_list(failing_want(), [project_card()])
    assert not needs_intake_list(closed(), [])


# ---------------------------------------------------------------- reopen_within

NOW = 1_700_000_000.0


def test_reopen_candidate_newest_within_the_window():
    old = project_card("0000000000000000000000a1", state="3")
    new = project_card("0000000000000000000000a2", state="5")
    other = project_card("0000000000000000000000a3", key=job_key("other"))
    cards = [(old, NOW - 100), (new, "2023-11-14T22:12:00.000Z"), (other, NOW)]
    assert reopen_candidate(cards, KEY, NOW, 3600).id == new.id
    assert reopen_candidate(cards, KEY, NOW, 60) is None  # both older than a minute
    assert reopen_candidate([(old, NOW - 100)], KEY, NOW, 99) is None
    assert reopen_candidate(cards, KEY, NOW, 0) is None  # off
    assert reopen_candidate([], KEY, NOW, 3600) is None


def test_reopen_candidate_reads_an_attribute_or_the_ids_creation_time():
    stamped = Card(**project_card(f"{int(NOW - 30):08x}" + "0" * 16).__dict__)
    assert reopen_candidate([stamped], KEY, NOW, 60) == stamped  # no activity known: its creation time
    assert reopen_candidate([stamped], KEY, NOW, 10) is None
    late = project_card("0" * 24)
    object.__setattr__(late, "last_activity", NOW - 5)
    assert reopen_candidate([late], KEY, NOW, 10) is late
    assert reopen_candidate([(late, "not a time")], KEY, NOW, 10) is None


def test_needs_reopen_read_only_on_the_transition_that_would_create():
    assert needs_reopen_read(failing_want(), [], 3600)
    assert not needs_reopen_read(failing_want(), [], 0)
    assert not needs_reopen_read(failing_want(), [project_card()], 3600)
    assert not needs_reopen_read(closed(), [], 3600)


def test_reopen_unarchives_into_the_intake_list_and_comments():
    old = project_card(state="fixed", list_id="L2")
    ops, keep = plan(KEY, lambda c: failing_want(), board_with(), "L1", reopen=old)
    assert keep is old and [type(op) for op in ops] == [Update, Comment]
    up = ops[0]
    assert (up.closed, up.list_id, up.name) == (False, "L1", "team/app #7 failed")
    assert state_of(up) == "7" and parse_marker(up.desc).body == "new body"  # untouched card: today's text
    assert describe(ops) == "reopened"


def test_reopen_is_not_used_when_a_card_is_open_or_for_another_key():
    old = project_card("z", state="3", list_id="L2")
    ops, _ = plan(KEY, lambda c: failing_want(), board_with(project_card()), "L1", reopen=old)
    assert ops == [Comment("a", "still failing")]
    ops, _ = plan(KEY, lambda c: failing_want(), board_with(), "L1", reopen=project_card(key=job_key("x")))
    assert isinstance(ops[0], Create)


def test_reopen_keeps_a_persons_text():
    old = project_card(state="3")
    old = Card(**{**old.__dict__, "body": "Bob: notes", "pristine": False})
    ops, _ = plan(KEY, lambda c: failing_want(), board_with(), "L1", reopen=old)
    # the description a person edited stays word for word; the name they did not touch is the project's
    assert parse_marker(ops[0].desc).body == "Bob: notes" and ops[0].name == "team/app #7 failed"
    renamed = Card(**{**old.__dict__, "renamed": True})
    assert plan(KEY, lambda c: failing_want(), board_with(), "L1", reopen=renamed)[0][0].name == ""


# ---------------------------------------------------------------- labels

LABELS = (("l1", "CI", "green"), ("l2", "", "red"), ("l3", "urgent", "red"), ("l4", "ops", "yellow"),
          ("l5", "", "yellow"))


@pytest.mark.parametrize("specs,ids,missing", [
    (["ci"], ("l1",), []),
    ([" CI "], ("l1",), []),
    (["red"], ("l2",), []),  # the first red label without a name
    (["yellow"], ("l5",), []),  # a nameless one wins over an earlier named one
    (["RED"], ("l2",), []),
    (["green"], (), [("", "green")]),  # no nameless green: a new one, never the named "CI" that is green
    (["purple"], (), [("", "purple")]),
    (["Flaky"], (), [("Flaky", "")]),
    (["ci", "red", "ci", "flaky", "FLAKY", ""], ("l1", "l2"), [("flaky", "")]),
    (["urgent", "red"], ("l3", "l2"), []),
])
def test_resolve_labels(specs, ids, missing):
    assert resolve_labels(specs, LABELS) == (ids, missing)


def test_a_board_label_named_like_a_colour_does_not_capture_the_colour():
    assert resolve_labels(["red"], (("x", "red", "green"),)) == ((), [("", "red")])


def test_labels_from():
    rules = (("result", (("FAILURE", "red"), ("UNSTABLE", "yellow"))),)
    assert labels_from(rules, {"result": "FAILURE"}) == ("red",)
    assert labels_from(rules, {"result": "unstable"}) == ("yellow",)
    assert labels_from(rules, {"result": "SUCCESS"}) == ()
    assert labels_from(rules, {}) == ()
    sev = (("severity", (("critical", "red"), ("warning", "yellow"))), ("team", (("db", "Database"),)))
    assert labels_from(sev, {"severity": "critical", "team": "db"}) == ("red", "Database")
    assert labels_from_all(sev) == ("red", "yellow", "Database")


@pytest.mark.parametrize("card,managed,new,out", [
    (("p", "r"), ("r", "y"), ("y",), ("p", "y")),  # a person's label stays, the managed one is swapped
    (("r",), ("r", "y"), ("r",), ("r",)),
    ((), ("r", "y"), ("y",), ("y",)),
    (("y", "p"), ("r", "y"), (), ("p",)),
])
def test_relabel(card, managed, new, out):
    assert relabel(card, managed, new) == out


def test_card_labels_and_one_label_creation_before_the_create():
    ids, new = card_labels("B1", ["ci", "flaky", "purple"], LABELS)
    assert new == (CreateLabel("B1", "flaky", ""), CreateLabel("B1", "", "purple"))
    assert ids == ("l1", new[0].ref, new[1].ref)
    want = Want(open=True, name="n", desc="d", state="7", label_ids=ids, member_ids=("m1",), new_labels=new)
    ops, _ = plan(KEY, lambda c: want, board_with(), "L1")
    assert ops[:2] == list(new) and isinstance(ops[2], Create)
    assert ops[2].label_ids == ids and ops[2].member_ids == ("m1",)
    assert describe(ops) == "created"
    # no create, no label creation: an open card does not get the route's labels again
    ops, _ = plan(KEY, lambda c: want, board_with(project_card()), "L1")
    assert not any(isinstance(op, CreateLabel) for op in ops)


def labelled(labels: tuple[str, ...], state: str = "5") -> Card:
    """A card as the new snapshot reads it, with its label ids (set on the frozen dataclass as an extra field)."""
    c = project_card(state=state)
    object.__setattr__(c, "label_ids", labels)
    return c


def test_a_changed_labels_from_value_swaps_only_the_managed_label():
    want = failing_want(managed_label_ids=("red", "yellow"), value_label_ids=("red",))
    ops, _ = plan(KEY, lambda c: want, board_with(labelled(("person", "yellow"))), "L1")
    assert ops == [Update("a", "", "", label_ids=("person", "red")), Comment("a", "still failing")]
    # the same labels already: no update; the same state: nothing at all
    ops, _ = plan(KEY, lambda c: want, board_with(labelled(("red",))), "L1")
    assert ops == [Comment("a", "still failing")]
    assert plan(KEY, lambda c: want, board_with(labelled(("yellow",), state="7")), "L1")[0] == []
    # a snapshot without labels: left alone (never dropping a person's labels by not knowing them)
    assert plan(KEY, lambda c: want, board_with(project_card()), "L1")[0] == [Comment("a", "still failing")]


def test_a_rewrite_carries_the_new_labels_in_the_same_update():
    want = Want(open=True, name="n2", desc="d2", state="s2", comment="c", rewrite=True,
                managed_label_ids=("r", "y"), value_label_ids=("r",))
    ops, _ = plan(KEY, lambda c: want, board_with(labelled(("y",))), "L1")
    assert len(ops) == 2 and ops[0].name == "n2" and ops[0].label_ids == ("r",)


def test_ops_problem_for_labels():
    assert ops_problem([CreateLabel("B", "x", "red")]) is None
    assert ops_problem([CreateLabel("B", "", "")]) == "label has neither a name nor a colour"
    assert "not one of Trello's" in ops_problem([CreateLabel("B", "x", "crimson")])
    assert ops_problem([Update("a", "", "")]) is None


# ---------------------------------------------------------------- apply


class FakeClient:
    """Records every write, answers like Trello."""

    def __init__(self, label_answer: dict | None = None) -> None:
        self.calls: list[tuple] = []
        self.label_answer = label_answer

    def create_label(self, board, name, color):
        self.calls.append(("create_label", board, name, color))
        return self.label_answer if self.label_answer is not None else {"id": f"id-{name or color}"}

    def create_card(self, list_id, name, desc, pos="top", label_ids=(), member_ids=()):
        self.calls.append(("create_card", list_id, name, tuple(label_ids), tuple(member_ids)))
        return {"id": "new", "shortUrl": "https://trello.com/c/new"}

    def update_card(self, card_id, **fields):
        self.calls.append(("update_card", card_id, fields))
        return {"id": card_id}

    def comment(self, card_id, text):
        self.calls.append(("comment", card_id, text))

    def archive_card(self, card_id):
        self.calls.append(("archive", card_id))


def test_apply_creates_the_missing_label_first_and_uses_its_id():
    ids, new = card_labels("B1", ["ci", "flaky"], LABELS)
    want = Want(open=True, name="n", desc="d", state="7", label_ids=ids, member_ids=("m1",), new_labels=new)
    ops, keep = plan(KEY, lambda c: want, board_with(), "L1")
    client = FakeClient()
    out = apply(client, KEY, ops, keep, lambda: board_with())
    assert client.calls == [("create_label", "B1", "flaky", ""),
                            ("create_card", "L1", "n", ("l1", "id-flaky"), ("m1",))]
    assert out.writes == 2 and out.action == "created" and out.card_id == "new"


def test_apply_never_sends_a_ref_when_trello_gave_no_id():
    ids, new = card_labels("B1", ["flaky"], ())
    ops, keep = plan(KEY, lambda c: Want(open=True, name="n", desc="d", state="7", label_ids=ids, new_labels=new),
                     board_with(), "L1")
    client = FakeClient(label_answer={})
    apply(client, KEY, ops, keep, lambda: board_with())
    assert client.calls[-1] == ("create_card", "L1", "n", (), ())


def test_apply_sends_only_what_an_update_changes():
    client = FakeClient()
    apply(client, KEY, [Update("a", "", "", list_id="L3", label_ids=("x",), closed=False)], None,
          lambda: board_with())
    assert client.calls[0] == ("update_card", "a", {"idList": "L3", "idLabels": "x", "closed": False})
    client = FakeClient()
    apply(client, KEY, [Update("a", "", "desc")], None, lambda: board_with())
    assert client.calls == [("update_card", "a", {"desc": "desc"})]


def test_a_reopen_makes_no_twin_check_and_the_next_plan_folds_a_twin():
    old = project_card("0000000a", state="fixed", list_id="L2")
    twin = project_card("0000000b", state="7")
    ops, keep = plan(KEY, lambda c: failing_want(), board_with(), "L1", reopen=old)
    client = FakeClient()
    out = apply(client, KEY, ops, keep, lambda: pytest.fail("a reopen must not re-read the board"))
    assert [c[0] for c in client.calls] == ["update_card", "comment"]
    assert out.card_id == "0000000a" and out.action == "reopened"
    # a twin that a concurrent writer made meanwhile goes with the next event for the key
    ops, keep = plan(KEY, lambda c: failing_want(), board_with(project_card("0000000a", state="7"), twin), "L1")
    assert keep.id == "0000000a" and any(isinstance(op, Archive) and op.card_id == "0000000b" for op in ops)


def test_apply_refuses_a_bad_label_before_any_write():
    class NoWrites:
        def __getattr__(self, name):
            raise AssertionError(f"wrote {name}")

    with pytest.raises(InvalidPlan, match="colour"):
        apply(NoWrites(), KEY, [Comment("a", "x"), CreateLabel("B", "x", "crimson")], None, lambda: board_with())


# ---------------------------------------------------------------- members

MEMBERS = (("m-alice", "alice", "Alice A"), ("m-bob", "bobd", "Bob Dev"), ("m-carol", "carol", "Carol C"))
PEOPLE = {"alice@example.com": "alice", "Bob Dev": "@BobD", "dave": "dave"}


@pytest.mark.parametrize("usernames,culprits,ids,absent", [
    ((), (), (), []),
    (("carol",), (), ("m-carol",), []),
    (("@Carol", "carol"), (), ("m-carol",), []),
    (("nobody",), (), (), []),  # a route member not on the board is doctor's news, not the card's
    ((), ("ALICE@example.com",), ("m-alice",), []),
    ((), ("bob dev", "Bob  Dev"), ("m-bob",), []),
    ((), (("Alice Smith", "alice@example.com"),), ("m-alice",), []),  # any alias of one person
    ((), ("dave",), (), ["dave"]),  # mapped, not a member of the board
    ((), ("Eve", "eve", "Alice A"), (), ["Eve", "Alice A"]),  # not in people (a Trello full name is no mapping)
    (("carol",), ("alice@example.com", "Eve"), ("m-carol", "m-alice"), ["Eve"]),
    ((), (("", " "),), (), []),
])
def test_resolve_members(usernames, culprits, ids, absent):
    assert resolve_members(usernames, culprits, PEOPLE, MEMBERS) == (ids, absent)


def test_resolve_members_takes_people_as_pairs():
    assert resolve_members((), ("bob dev",), (("bob dev", "bobd"),), MEMBERS) == (("m-bob",), [])


@given(st.lists(st.text(max_size=8), max_size=6), st.lists(st.text(max_size=8), max_size=6))
def test_resolve_members_never_fails_and_accounts_for_everyone(usernames, culprits):
    ids, absent = resolve_members(usernames, culprits, PEOPLE, MEMBERS)
    assert len(set(ids)) == len(ids) and set(ids) <= {m for m, _u, _f in MEMBERS}
    assert all(a in culprits for a in absent)
