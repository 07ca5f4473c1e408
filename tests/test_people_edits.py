"""People's cards and people's edits are safe: markers, edit detection, twins and plans (pure, no I/O)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jenkins_trello.cards import (
    Board,
    Card,
    alert_key,
    job_key,
    marker_line,
    normalise,
    parse_marker,
    read_marker,
    snapshot,
    to_card,
    with_marker,
)
from jenkins_trello.lifecycle import (
    Archive,
    Comment,
    Create,
    Update,
    Want,
    apply,
    describe,
    duplicate_comment,
    plan,
)

KEY = alert_key("group")
NAME = "[FIRING:1] HighLatency"
BODY = "**Firing:** 1 alert"


def raw(cid: str, desc: str, name: str = NAME, **extra) -> dict:
    return {"id": cid, "name": name, "desc": desc, "idList": "L1", "shortUrl": f"https://trello.com/c/{cid}", **extra}


def project_desc(state: str = "s1", body: str = BODY, name: str = NAME) -> str:
    return with_marker(body, KEY, state, name=name)


def card_of(desc: str, cid: str = "0000000a", name: str = NAME) -> Card:
    card = to_card(raw(cid, desc, name))
    assert card is not None
    return card


# ---------------------------------------------------------------- where a marker counts


@pytest.mark.parametrize("desc", [
    project_desc(),
    project_desc() + "\n",
    project_desc() + "   \n\n",
    project_desc().replace("\n", "\r\n"),
    marker_line(KEY, "s1"),  # an older marker, without digest
    "old body\n\n" + marker_line(KEY, "s1"),
])
def test_marker_counts_as_the_last_line_with_only_trailing_whitespace_forgiven(desc):
    assert read_marker(desc) == (KEY, "s1")


@pytest.mark.parametrize("desc", [
    # a person quoting the marker in notes, a runbook or a checklist card
    "Runbook: our cards end with\n" + marker_line(KEY, "s1") + "\nand are archived automatically.",
    marker_line(KEY, "s1") + "\nnotes below the marker",
    project_desc() + "\n- [ ] follow up",
    project_desc() + " (copied)",
    "> " + marker_line(KEY, "s1"),
    "  " + marker_line(KEY, "s1"),
    "x\n" + marker_line(KEY, "s1")[1:],  # no opening backtick
    "x\n``" + marker_line(KEY, "s1")[1:-1] + "``",  # a different code-span form
    "x\n" + marker_line(KEY, "s1").replace("jenkins-trello", "Jenkins-Trello"),
    "x\n" + marker_line(KEY, "s1", "ABCDEF0123"),  # digest not in the form written (upper case)
    "x\n" + marker_line(KEY, "s1", "0123"),  # digest of the wrong length
    "",
    None,
])
def test_a_marker_anywhere_else_or_in_another_form_does_not_count(desc):
    assert read_marker(desc) is None
    assert to_card(raw("c1", desc or "")) is None


def test_a_person_quoting_a_marker_does_not_make_their_card_a_project_card():
    notes = "Ops notes.\nThe bot's cards end with " + project_desc().splitlines()[-1] + " — leave those alone.\n"
    checklist = project_desc() + "\n\n- [ ] ask Ann"
    board = snapshot([{"id": "L1", "name": "To Do", "cards": [raw("n1", notes), raw("n2", checklist)]}])
    assert board.cards == ()
    ops, keep = plan(KEY, lambda c: Want(open=False, comment="resolved"), board, "L1")
    assert ops == [] and keep is None


# ---------------------------------------------------------------- edit detection


def test_untouched_card_is_pristine_and_not_renamed():
    c = card_of(project_desc())
    assert (c.pristine, c.renamed, c.body, c.state) == (True, False, BODY, "s1")


def test_trellos_own_normalisation_keeps_a_card_pristine():
    desc = project_desc(body="line one   \nline two\t").replace("\n", "\r\n") + "  \r\n"
    assert card_of(desc).pristine is True


@pytest.mark.parametrize("edit", [
    lambda d: "Ann: looking into it\n" + d,
    lambda d: d.replace("**Firing:**", "**FIRING**"),
    lambda d: d.replace(BODY, ""),
])
def test_an_edited_description_is_not_pristine(edit):
    c = card_of(edit(project_desc()))
    assert c.pristine is False and c.state == "s1"


def test_rename_is_told_apart_from_a_description_edit():
    c = card_of(project_desc(), name="Ann is on it")
    assert c.pristine is True and c.renamed is True
    assert card_of(project_desc(), name=f"  {NAME} ").renamed is False  # whitespace alone is no rename


def test_an_older_marker_has_unknown_edit_state():
    c = card_of("body\n\n" + marker_line(KEY, "s1"))
    assert c.pristine is None and c.renamed is False and c.digest == ""


@given(st.text(max_size=200), st.text(max_size=200))
def test_any_body_change_beyond_trailing_whitespace_is_seen(body, other):
    line = with_marker(body, KEY, "s", name="n").splitlines()[-1]
    assert parse_marker(with_marker(body, KEY, "s", name="n")).pristine is True
    person = f"{other}\n\n{line}"  # a person replaced the text above the marker
    marker = parse_marker(person)
    assert marker is not None and marker.state == "s"
    assert marker.pristine is (normalise(other) == normalise(body))


# ---------------------------------------------------------------- which twin is kept


def test_a_copy_card_copy_loses_to_the_original_and_is_never_rewritten():
    original = card_of(project_desc(), "0000000a")
    copy = card_of(project_desc(), "0000000b")  # Trello's "Copy card": newer id, identical text
    want = Want(open=True, name="[FIRING:2] HighLatency", desc="two", state="s2", comment="one more", rewrite=True)
    ops, keep = plan(KEY, lambda c: want, Board((("L1", "To Do"),), (copy, original)), "L1")
    assert keep.id == "0000000a"
    assert [op for op in ops if op.card_id == "0000000b"] == [
        Comment("0000000b", duplicate_comment(original), twin=True), Archive("0000000b", twin=True)]
    assert not any(isinstance(op, Update) and op.card_id == "0000000b" for op in ops)


@pytest.mark.parametrize("older,newer,kept", [
    ("edited", "pristine", "newer"),
    ("legacy", "pristine", "newer"),
    ("edited", "legacy", "newer"),
    ("pristine", "pristine", "older"),
    ("edited", "edited", "older"),
    ("pristine", "edited", "older"),
])
def test_a_persons_card_never_wins_over_an_untouched_project_card(older, newer, kept):
    def make(kind, cid):
        return {"pristine": card_of(project_desc(), cid),
                "edited": card_of("Ann's notes\n" + project_desc(), cid),
                "legacy": card_of("b\n\n" + marker_line(KEY, "s1"), cid)}[kind]
    a, b = make(older, "0000000a"), make(newer, "0000000b")
    for order in ((a, b), (b, a)):
        ops, keep = plan(KEY, lambda c: Want(open=True, state="s1"), Board((), order), "L1")
        assert keep.id == (a.id if kept == "older" else b.id)
        loser = b if keep is a else a
        assert ops == [Comment(loser.id, duplicate_comment(keep), twin=True), Archive(loser.id, twin=True)]
        assert describe(ops) == "unchanged"


def test_duplicate_comment_links_the_kept_card_by_its_host():
    text = duplicate_comment(card_of(project_desc(), "0000000a"))
    assert "duplicate" in text and "(https://trello.com/c/0000000a)" in text and "trello.com" in text
    assert "one card per job/alert group" in text
    assert "card 0000000c" in duplicate_comment(Card("0000000c", "n", "L1", KEY, "s"))


# ---------------------------------------------------------------- plans never overwrite a person's text


WANT = Want(open=True, name="[FIRING:2] HighLatency", desc="**Firing:** 2 alerts", state="s2",
            comment="1 started", rewrite=True)


def kinds():
    return {
        "pristine": project_desc(),
        "edited": "Ann: DB failover at 10:02, see runbook.\n\n" + project_desc(),
        "legacy": "old body\n\n" + marker_line(KEY, "s1"),
    }


@pytest.mark.parametrize("kind,renamed,rewrite,same_state", list(
    itertools.product(["pristine", "edited", "legacy"], [False, True], [False, True], [False, True])))
def test_plan_for_every_kind_of_card(kind, renamed, rewrite, same_state):
    c = card_of(kinds()[kind], name="Ann's card" if renamed else NAME)
    want = Want(open=True, name=WANT.name, desc=WANT.desc, state="s1" if same_state else "s2",
                comment=WANT.comment, rewrite=rewrite)
    ops, keep = plan(KEY, lambda _c: want, Board((), (c,)), "L1")
    if same_state:
        assert ops == []
        return
    assert ops[-1] == Comment(c.id, "1 started")  # the news always reaches the card, after any update
    if not rewrite:
        assert ops == [ops[-1]]  # the Jenkins side only ever comments
        return
    [update] = ops[:-1]
    assert isinstance(update, Update)
    marker = parse_marker(update.desc)
    assert (marker.key, marker.state) == (KEY, "s2")  # the state advances, so a repeat writes nothing
    keeps_name = renamed if kind != "legacy" else True
    assert update.name == ("" if keeps_name else WANT.name)
    if kind == "pristine":
        assert update.desc == with_marker(WANT.desc, KEY, "s2", name=WANT.name)
        assert marker.pristine is True
    else:
        # the person's text is kept word for word; only the marker line changes
        assert update.desc.rsplit("\n", 1)[0].rstrip() == c.body
        assert WANT.desc not in update.desc
        assert marker.pristine is (None if kind == "legacy" else False)
    # read back as Trello would hand it: the next identical notification makes no write
    after = card_of(update.desc, name=update.name or c.name)
    assert plan(KEY, lambda _c: want, Board((), (after,)), "L1")[0] == []
    assert after.renamed == (renamed and kind != "legacy")
    # a person who renames the card back to the project's name gets name updates again
    if kind != "legacy":
        assert card_of(update.desc, name=WANT.name).renamed is False


def test_an_edited_card_whose_renewed_marker_would_not_fit_gets_the_comment_only():
    big = "x" * 16300
    c = card_of(big + "\n\n" + marker_line(KEY, "s1", "0" * 16))
    want = Want(open=True, name="n", desc="d", state="f" * 200, comment="news", rewrite=True)
    ops, _ = plan(KEY, lambda _c: want, Board((), (c,)), "L1")
    assert ops == [Comment(c.id, "news")]


def test_edited_card_is_still_archived_when_the_subject_resolves():
    c = card_of("Ann: note\n" + project_desc())
    ops, _ = plan(KEY, lambda _c: Want(open=False, comment="resolved"), Board((), (c,)), "L1")
    assert ops == [Comment(c.id, "resolved"), Archive(c.id)]


def test_create_writes_digests_of_name_and_body():
    want = Want(open=True, name="a #1 failed", desc="b", state="1")
    ops, _ = plan(job_key("a"), lambda _c: want, Board((), ()), "L1")
    [create] = ops
    assert isinstance(create, Create)
    c = card_of(create.desc, name=create.name)
    assert c.pristine is True and c.renamed is False


# ---------------------------------------------------------------- apply


class FakeClient:
    def __init__(self, created: dict) -> None:
        self.calls: list[tuple] = []
        self.created = created

    def create_card(self, list_id, name, desc):
        self.calls.append(("create", list_id))
        return self.created

    def comment(self, card_id, text):
        self.calls.append(("comment", card_id, text))

    def update_card(self, card_id, **fields):
        self.calls.append(("update", card_id, tuple(sorted(fields))))

    def archive_card(self, card_id):
        self.calls.append(("archive", card_id))


def test_twin_check_after_create_comments_then_archives_and_points_at_the_kept_card():
    older = card_of(project_desc(), "0000000a")
    mine = card_of(project_desc(), "0000000b")
    client = FakeClient({"id": "0000000b", "shortUrl": "https://trello.com/c/0000000b"})
    ops = [Create("L1", NAME, project_desc())]
    out = apply(client, KEY, ops, None, lambda: Board((), (mine, older)))
    assert client.calls == [("create", "L1"), ("comment", "0000000b", duplicate_comment(older)),
                            ("archive", "0000000b")]
    assert (out.card_id, out.card_url, out.twins_archived, out.writes) == (
        "0000000a", "https://trello.com/c/0000000a", 1, 3)


def test_update_that_keeps_a_persons_name_sends_no_name():
    client = FakeClient({})
    apply(client, KEY, [Update("c", "", "d"), Update("c", "n", "d")], None, lambda: Board((), ()))
    assert client.calls == [("update", "c", ("desc",)), ("update", "c", ("desc", "name"))]
