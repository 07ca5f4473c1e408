"""The Trello emulator behaves like Trello's documented REST API, over real sockets."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from jenkins_trello.emulator import TrelloEmulator

KEY = "a" * 32
TOKEN = "b" * 64
AUTH = f'OAuth oauth_consumer_key="{KEY}", oauth_token="{TOKEN}"'
T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def emu():
    with TrelloEmulator(key=KEY, token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def board(emu):
    b = emu.add_board("CI")
    todo = emu.add_list(b["id"], "To Do")
    done = emu.add_list(b["id"], "Done")
    return {"board": b, "todo": todo, "done": done}


@pytest.fixture
def http():
    with requests.Session() as session:
        session.headers["Authorization"] = AUTH
        yield session


def _create(http, emu, list_id, **fields):
    r = http.post(f"{emu.url}/cards", json={"idList": list_id, **fields}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


# -- auth ---------------------------------------------------------------


def test_url_has_api_version_prefix(emu):
    assert emu.url.startswith("http://127.0.0.1:") and emu.url.endswith("/1")


def test_oauth_header_is_accepted_with_extra_params_and_spaces(emu, board):
    header = f'OAuth  oauth_consumer_key = "{KEY}" ,oauth_version="1.0",  oauth_token="{TOKEN}"'
    r = requests.get(f"{emu.url}/boards/{board['board']['id']}", headers={"Authorization": header}, timeout=5)
    assert r.status_code == 200
    assert r.json()["name"] == "CI"
    assert emu.secrets_in_url == []


def test_query_credentials_work_but_are_recorded_and_never_logged(emu, board):
    r = requests.get(f"{emu.url}/boards/{board['board']['id']}", params={"key": KEY, "token": TOKEN}, timeout=5)
    assert r.status_code == 200
    assert len(emu.secrets_in_url) == 1
    method, path, query = emu.request_log[-1]
    assert (method, path) == ("GET", f"/1/boards/{board['board']['id']}")
    assert query == {"key": "***", "token": "***"}
    assert TOKEN not in repr(emu) and KEY not in repr(emu)


@pytest.mark.parametrize(
    ("headers", "params", "expected"),
    [
        ({}, {}, "invalid key"),
        ({"Authorization": f'OAuth oauth_consumer_key="{"c" * 32}", oauth_token="{TOKEN}"'}, {}, "invalid key"),
        ({"Authorization": f'OAuth oauth_consumer_key="{KEY}", oauth_token="nope"'}, {}, "invalid token"),
        ({}, {"key": KEY}, "invalid token"),
    ],
)
def test_bad_credentials_are_401_plain_text(emu, board, headers, params, expected):
    r = requests.get(f"{emu.url}/boards/{board['board']['id']}", headers=headers, params=params, timeout=5)
    assert r.status_code == 401
    assert r.text == expected
    assert r.headers["Content-Type"].startswith("text/plain")


def test_get_with_a_body_is_403_like_cloudfront(emu, board, http):
    r = http.get(f"{emu.url}/boards/{board['board']['id']}/cards", json={}, timeout=5)
    assert r.status_code == 403


def test_unknown_route_is_cannot_get(emu, http):
    r = http.get(f"{emu.url}/whatever", timeout=5)
    assert r.status_code == 404
    assert r.text == "Cannot GET /1/whatever"


# -- cards ----------------------------------------------------------------


def test_create_card_json_form_and_query_bodies(emu, board, http):
    todo = board["todo"]["id"]
    a = _create(http, emu, todo, name="json", desc="d")
    b = http.post(f"{emu.url}/cards", data={"idList": todo, "name": "form"}, timeout=5).json()
    c = http.post(f"{emu.url}/cards", params={"idList": todo, "name": "query"}, timeout=5).json()
    assert [a["name"], b["name"], c["name"]] == ["json", "form", "query"]
    for card in (a, b, c):
        assert card["idList"] == todo and card["idBoard"] == board["board"]["id"]
        assert card["closed"] is False and len(card["id"]) == 24
        for key in ("shortLink", "shortUrl", "url", "idShort", "idLabels", "labels", "idMembers", "badges", "pos"):
            assert key in card
    assert a["pos"] < b["pos"] < c["pos"]
    top = _create(http, emu, todo, name="top", pos="top")
    assert top["pos"] < a["pos"]
    assert emu.write_count() == 4


def test_create_card_validation(emu, board, http):
    r = http.post(f"{emu.url}/cards", json={"name": "x"}, timeout=5)
    assert (r.status_code, r.text) == (400, "invalid value for idList")
    r = http.post(f"{emu.url}/cards", json={"idList": "0" * 24}, timeout=5)
    assert (r.status_code, r.text) == (400, "invalid value for idList")
    r = http.post(f"{emu.url}/cards", json={"idList": board["todo"]["id"], "desc": "x" * 16385}, timeout=5)
    assert (r.status_code, r.text) == (400, "invalid value for desc")
    assert _create(http, emu, board["todo"]["id"], desc="x" * 16384)["desc"] == "x" * 16384


def test_id_is_an_objectid_carrying_the_creation_time(emu, board, http):
    emu.clock = lambda: T0
    card = _create(http, emu, board["todo"]["id"], name="x")
    assert int(card["id"][:8], 16) == int(T0.timestamp())
    assert card["dateLastActivity"] == "2026-01-05T12:00:00.000Z"
    old = emu.add_card(board["todo"]["id"], "old", at=T0 - timedelta(days=30))
    assert int(old["id"][:8], 16) == int((T0 - timedelta(days=30)).timestamp())


def test_get_card_fields_and_errors(emu, board, http):
    card = _create(http, emu, board["todo"]["id"], name="x", desc="d")
    r = http.get(f"{emu.url}/cards/{card['id']}", params={"fields": "name,desc"}, timeout=5)
    assert r.json() == {"id": card["id"], "name": "x", "desc": "d"}
    assert http.get(f"{emu.url}/cards/{card['shortLink']}", timeout=5).json()["id"] == card["id"]
    r = http.get(f"{emu.url}/cards/{'f' * 24}", timeout=5)
    assert (r.status_code, r.text) == (404, "The requested resource was not found.")
    r = http.get(f"{emu.url}/cards/not-an-id", timeout=5)
    assert (r.status_code, r.text) == (400, "invalid id")


def test_put_records_one_update_action_per_changed_field(emu, board, http):
    todo, done = board["todo"], board["done"]
    card = _create(http, emu, todo["id"], name="x", desc="d")
    r = http.put(f"{emu.url}/cards/{card['id']}", json={"idList": done["id"], "name": "y", "closed": True}, timeout=5)
    assert r.status_code == 200
    updated = r.json()
    assert (updated["idList"], updated["name"], updated["closed"]) == (done["id"], "y", True)

    acts = http.get(f"{emu.url}/boards/{board['board']['id']}/actions", params={"filter": "updateCard"}, timeout=5)
    by_field = {next(iter(a["data"]["old"])): a for a in acts.json()}
    assert set(by_field) == {"idList", "closed", "name"}
    move = by_field["idList"]["data"]
    assert move["old"] == {"idList": todo["id"]}
    assert move["card"]["idList"] == done["id"] and move["card"]["id"] == card["id"]
    assert move["listBefore"] == {"id": todo["id"], "name": "To Do"}
    assert move["listAfter"] == {"id": done["id"], "name": "Done"}
    assert move["board"]["id"] == board["board"]["id"]
    assert by_field["closed"]["data"]["old"] == {"closed": False}
    assert by_field["closed"]["data"]["card"]["closed"] is True
    assert by_field["name"]["data"]["old"] == {"name": "x"}

    # unarchive with a string boolean; a no-op change records nothing
    r = http.put(f"{emu.url}/cards/{card['id']}", data={"closed": "false"}, timeout=5)
    assert r.json()["closed"] is False
    before = len(emu.actions(board["board"]["id"]))
    http.put(f"{emu.url}/cards/{card['id']}", json={"closed": False}, timeout=5)
    assert len(emu.actions(board["board"]["id"])) == before

    r = http.put(f"{emu.url}/cards/{card['id']}", json={"closed": "maybe"}, timeout=5)
    assert r.status_code == 400
    r = http.put(f"{emu.url}/cards/{card['id']}", json={"idList": "0" * 24}, timeout=5)
    assert (r.status_code, r.text) == (400, "invalid value for idList")


def test_delete_card(emu, board, http):
    card = _create(http, emu, board["todo"]["id"], name="x")
    assert http.delete(f"{emu.url}/cards/{card['id']}", timeout=5).status_code == 200
    assert http.get(f"{emu.url}/cards/{card['id']}", timeout=5).status_code == 404
    assert emu.actions(board["board"]["id"])[0]["type"] == "deleteCard"


def test_comment_action_shape_and_activity(emu, board, http):
    emu.clock = lambda: T0
    card = _create(http, emu, board["todo"]["id"], name="x")
    emu.clock = lambda: T0 + timedelta(hours=1)
    r = http.post(f"{emu.url}/cards/{card['id']}/actions/comments", json={"text": "still failing"}, timeout=5)
    assert r.status_code == 200
    action = r.json()
    assert action["type"] == "commentCard"
    assert action["date"] == "2026-01-05T13:00:00.000Z"
    assert action["data"]["text"] == "still failing"
    assert action["data"]["card"]["id"] == card["id"]
    assert action["data"]["list"] == {"id": board["todo"]["id"], "name": "To Do"}
    assert action["data"]["board"]["id"] == board["board"]["id"]
    assert action["idMemberCreator"] == action["memberCreator"]["id"]
    got = http.get(f"{emu.url}/cards/{card['id']}", timeout=5).json()
    assert got["badges"]["comments"] == 1
    assert got["dateLastActivity"] == "2026-01-05T13:00:00.000Z"
    for bad in ("", "x" * 16385):
        r = http.post(f"{emu.url}/cards/{card['id']}/actions/comments", json={"text": bad}, timeout=5)
        assert r.status_code == 400


# -- card collections -----------------------------------------------------


def test_open_includes_cards_in_archived_lists_visible_does_not(emu, board, http):
    b = board["board"]["id"]
    old = emu.add_list(b, "Old")
    in_old = emu.add_card(old["id"], "in archived list")
    shown = emu.add_card(board["todo"]["id"], "shown")
    gone = emu.add_card(board["todo"]["id"], "archived card")
    emu.human_archive(gone["id"])
    emu.set_list_closed(old["id"])

    def names(path, **params):
        r = http.get(f"{emu.url}/boards/{b}/{path}", params=params, timeout=5)
        assert r.status_code == 200, r.text
        return {c["name"] for c in r.json()}

    assert names("cards") == {"in archived list", "shown"}
    assert names("cards/open") == {"in archived list", "shown"}
    assert names("cards/visible") == {"shown"}
    assert names("cards/closed") == {"archived card"}
    assert names("cards/all") == {"in archived list", "shown", "archived card"}
    slim = http.get(f"{emu.url}/boards/{b}/cards/visible", params={"fields": "name"}, timeout=5).json()
    assert slim == [{"id": shown["id"], "name": "shown"}]
    assert in_old["id"] not in {c["id"] for c in slim}
    lists = http.get(f"{emu.url}/boards/{b}/lists", timeout=5).json()
    assert [lst["name"] for lst in lists] == ["To Do", "Done"]
    lists = http.get(f"{emu.url}/boards/{b}/lists", params={"filter": "all"}, timeout=5).json()
    assert [lst["name"] for lst in lists] == ["To Do", "Done", "Old"]
    lcards = http.get(f"{emu.url}/lists/{board['todo']['id']}/cards", timeout=5).json()
    assert [c["name"] for c in lcards] == ["shown"]


def test_board_by_short_link_and_nested_cards(emu, board, http):
    emu.add_card(board["todo"]["id"], "x")
    short = board["board"]["shortLink"]
    r = http.get(f"{emu.url}/boards/{short}", params={"fields": "name", "cards": "visible", "lists": "open"}, timeout=5)
    got = r.json()
    assert got["id"] == board["board"]["id"] and got["name"] == "CI"
    assert [c["name"] for c in got["cards"]] == ["x"]
    assert [lst["name"] for lst in got["lists"]] == ["To Do", "Done"]


def test_board_cards_paging_with_limit_and_before(emu, board, http):
    b = board["board"]["id"]
    ids = [emu.add_card(board["todo"]["id"], f"c{i}", at=T0 + timedelta(seconds=i))["id"] for i in range(7)]
    page = http.get(f"{emu.url}/boards/{b}/cards", params={"limit": 3, "fields": "id"}, timeout=5).json()
    assert {c["id"] for c in page} == set(ids[4:])
    oldest = min(c["id"] for c in page)
    page2 = http.get(f"{emu.url}/boards/{b}/cards", params={"limit": 3, "before": oldest}, timeout=5).json()
    assert {c["id"] for c in page2} == set(ids[1:4])
    since = http.get(f"{emu.url}/boards/{b}/cards", params={"since": ids[5]}, timeout=5).json()
    assert [c["id"] for c in since] == [ids[6]]
    r = http.get(f"{emu.url}/boards/{b}/cards", params={"limit": 1001}, timeout=5)
    assert r.status_code == 400


# -- actions --------------------------------------------------------------


def test_human_history_is_recorded_as_real_actions(emu, board):
    b, todo, done = board["board"]["id"], board["todo"]["id"], board["done"]["id"]
    other = emu.add_board("Other")
    other_list = emu.add_list(other["id"], "Inbox")
    card = emu.add_card(todo, "x", at=T0)
    emu.human_move(card["id"], done, at=T0 + timedelta(days=1))
    emu.human_rename(card["id"], "y", at=T0 + timedelta(days=2))
    emu.human_comment(card["id"], "hello", at=T0 + timedelta(days=3))
    emu.human_archive(card["id"], at=T0 + timedelta(days=4))
    emu.human_unarchive(card["id"], at=T0 + timedelta(days=5))
    copy = emu.copy_card(card["id"], done, at=T0 + timedelta(days=6))
    foreign = emu.add_card(other_list["id"], "foreign", at=T0)
    emu.move_card_from_other_board(foreign["id"], done, at=T0 + timedelta(days=7))

    acts = emu.actions(b)
    assert [a["type"] for a in acts] == [
        "moveCardToBoard",
        "copyCard",
        "updateCard",
        "updateCard",
        "commentCard",
        "updateCard",
        "updateCard",
        "createCard",
    ]
    assert acts[0]["data"]["card"]["id"] == foreign["id"] and acts[0]["data"]["list"]["id"] == done
    assert acts[0]["data"]["boardSource"]["id"] == other["id"]
    assert acts[1]["data"]["card"]["id"] == copy["id"] and acts[1]["data"]["cardSource"]["id"] == card["id"]
    assert acts[2]["data"]["old"] == {"closed": True}
    assert acts[5]["data"]["old"] == {"name": "x"}
    assert acts[6]["data"]["listAfter"]["id"] == done
    assert acts[6]["date"] == "2026-01-06T12:00:00.000Z"
    assert emu.get_card(card["id"])["dateLastActivity"] == "2026-01-10T12:00:00.000Z"
    assert emu.comments(card["id"]) == ["hello"]
    assert [c["name"] for c in emu.cards(b)] == ["y", "y", "foreign"]


def test_board_actions_filters_limits_and_paging(emu, board, http):
    b, todo, done = board["board"]["id"], board["todo"]["id"], board["done"]["id"]
    for i in range(4):
        card = emu.add_card(todo, f"c{i}", at=T0 + timedelta(minutes=10 * i))
        emu.human_move(card["id"], done, at=T0 + timedelta(minutes=10 * i + 1))
        emu.human_archive(card["id"], at=T0 + timedelta(minutes=10 * i + 2))

    def get(**params):
        r = http.get(f"{emu.url}/boards/{b}/actions", params=params, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    assert len(get()) == 12
    moves = get(filter="updateCard:idList")
    assert len(moves) == 4 and all("idList" in a["data"]["old"] for a in moves)
    assert len(get(filter="updateCard")) == 8
    assert len(get(filter="updateCard:closed")) == 4
    assert len(get(filter="createCard,updateCard:idList")) == 8
    dates = [a["date"] for a in get()]
    assert dates == sorted(dates, reverse=True)

    first = get(limit=5)
    second = get(limit=5, before=first[-1]["id"])
    third = get(limit=5, before=second[-1]["id"])
    assert len(first) == 5 and len(second) == 5 and len(third) == 2
    assert len({a["id"] for a in first + second + third}) == 12
    assert [a["id"] for a in get(limit=5, page=1)] == [a["id"] for a in second]

    since = get(since="2026-01-05T12:20:00.000Z")
    assert len(since) == 5 and all(a["date"] > "2026-01-05T12:20:00.000Z" for a in since)
    before = get(before="2026-01-05T12:01:00Z")
    assert [a["type"] for a in before] == ["createCard"]
    assert get(fields="type", memberCreator="false", limit=1) == [{"id": get(limit=1)[0]["id"], "type": "updateCard"}]
    r = http.get(f"{emu.url}/boards/{b}/actions", params={"limit": 1001}, timeout=5)
    assert (r.status_code, r.text) == (400, "invalid value for limit")


def test_card_actions_default_filter_is_comments_and_moves(emu, board, http):
    card = _create(http, emu, board["todo"]["id"], name="x")
    http.put(f"{emu.url}/cards/{card['id']}", json={"idList": board["done"]["id"]}, timeout=5)
    http.put(f"{emu.url}/cards/{card['id']}", json={"name": "renamed"}, timeout=5)
    http.post(f"{emu.url}/cards/{card['id']}/actions/comments", json={"text": "hi"}, timeout=5)
    acts = http.get(f"{emu.url}/cards/{card['id']}/actions", timeout=5).json()
    assert [a["type"] for a in acts] == ["commentCard", "updateCard"]
    everything = http.get(f"{emu.url}/cards/{card['id']}/actions", params={"filter": "all"}, timeout=5).json()
    assert [a["type"] for a in everything] == ["commentCard", "updateCard", "updateCard", "createCard"]


# -- rate limits ------------------------------------------------------------


def test_token_rate_limit_with_headers_and_recovery(board, http):
    with TrelloEmulator(key=KEY, token=TOKEN, rate_limit=True, token_limit=5, key_limit=50, interval=0.5) as emu:
        b = emu.add_board("B")
        url = f"{emu.url}/boards/{b['id']}"
        remaining = []
        for _ in range(5):
            r = http.get(url, timeout=5)
            assert r.status_code == 200
            remaining.append(int(r.headers["x-rate-limit-api-token-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        assert r.headers["x-rate-limit-api-token-max"] == "5"
        assert r.headers["x-rate-limit-api-token-interval-ms"] == "500"
        assert r.headers["x-rate-limit-api-key-max"] == "50"
        r = http.get(url, timeout=5)
        assert r.status_code == 429
        assert r.json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
        assert r.headers["x-rate-limit-api-token-remaining"] == "0"
        assert emu.rate_limited == 1
        assert emu.peak_token_window == 5
        time.sleep(0.55)
        assert http.get(url, timeout=5).status_code == 200


def test_key_rate_limit_and_runtime_toggle(http):
    with TrelloEmulator(key=KEY, token=TOKEN, token_limit=10, key_limit=2, interval=5) as emu:
        b = emu.add_board("B")
        url = f"{emu.url}/boards/{b['id']}"
        for _ in range(4):  # off: never limited, headers still there with full budget
            r = http.get(url, timeout=5)
            assert r.status_code == 200
            assert r.headers["x-rate-limit-api-key-remaining"] == "2"
        emu.rate_limit = True
        r = http.get(url, timeout=5)
        assert r.status_code == 429
        assert r.json()["error"] == "API_KEY_LIMIT_EXCEEDED"
        assert emu.peak_key_window == 4


# -- faults ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_status_faults(emu, board, http, kind):
    emu.inject(kind, method="GET", path=r"/cards")
    url = f"{emu.url}/boards/{board['board']['id']}/cards"
    assert http.get(url, timeout=5).status_code == int(kind)
    assert http.get(url, timeout=5).status_code == 200
    assert emu.request_log[-2].fault == kind and emu.request_log[-1].fault is None


def test_429_fault_looks_like_trello(emu, board, http):
    emu.inject("429")
    r = http.get(f"{emu.url}/boards/{board['board']['id']}", timeout=5)
    assert r.status_code == 429
    assert r.json()["error"] == "API_TOKEN_LIMIT_EXCEEDED"
    assert r.headers["x-rate-limit-api-token-remaining"] == "0"


def test_drop_closes_without_applying(emu, board, http):
    emu.inject("drop", method="POST")
    with pytest.raises(requests.ConnectionError):
        http.post(f"{emu.url}/cards", json={"idList": board["todo"]["id"], "name": "x"}, timeout=5)
    assert emu.cards(board["board"]["id"]) == []
    assert emu.fault_log == [("drop", "POST", "/1/cards")]
    assert _create(http, emu, board["todo"]["id"], name="x")["name"] == "x"  # connection re-established


def test_drop_after_applies_the_write(emu, board, http):
    emu.inject("drop_after", method="POST", path=r"^/1/cards$")
    with pytest.raises(requests.ConnectionError):
        http.post(f"{emu.url}/cards", json={"idList": board["todo"]["id"], "name": "x"}, timeout=5)
    assert [c["name"] for c in emu.cards(board["board"]["id"])] == ["x"]


def test_timeout_holds_then_closes(emu, board, http):
    emu.timeout_delay = 0.3
    emu.inject("timeout")
    url = f"{emu.url}/boards/{board['board']['id']}"
    with pytest.raises(requests.ReadTimeout):
        http.get(url, timeout=0.1)
    start = time.monotonic()
    emu.inject("timeout")
    with pytest.raises(requests.ConnectionError):
        requests.get(url, headers={"Authorization": AUTH}, timeout=5)
    assert time.monotonic() - start >= 0.25
    assert http.get(url, timeout=5).status_code == 200


def test_faults_fire_in_injection_order_and_times(emu, board, http):
    url = f"{emu.url}/boards/{board['board']['id']}"
    emu.inject("503", times=2)
    emu.inject("500", method="GET")
    emu.inject("502", method="POST")
    codes = [http.get(url, timeout=5).status_code for _ in range(4)]
    assert codes == [503, 503, 500, 200]
    assert emu.pending_faults == 1
    emu.clear_faults()
    assert emu.pending_faults == 0


def test_random_faults_are_reproducible(emu, board, http):
    url = f"{emu.url}/boards/{board['board']['id']}"

    def run():
        emu.random_faults(0.5, seed=7, kinds=("500", "503"))
        return [http.get(url, timeout=5).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert {500, 503, 200} <= set(first)
    emu.random_faults(0, seed=0)
    assert http.get(url, timeout=5).status_code == 200


# -- server behaviour ---------------------------------------------------------


def test_keep_alive_and_request_log_helpers(emu, board, http):
    emu.reset_log()
    before = emu.connections_accepted
    b = board["board"]["id"]
    for _ in range(5):
        http.get(f"{emu.url}/boards/{b}/cards/visible", timeout=5)
    http.post(f"{emu.url}/cards", json={"idList": board["todo"]["id"]}, timeout=5)
    assert emu.connections_accepted - before == 1
    assert emu.count() == 6
    assert emu.count("GET", f"/1/boards/{b}/cards") == 5
    assert emu.count("POST") == 1
    assert emu.counts() == {"GET /1/boards/{id}/cards": 5, "POST /1/cards": 1}
    assert emu.stats()["writes"] == 1


def test_concurrent_creates_get_distinct_increasing_ids(emu, board):
    barrier = threading.Barrier(20)
    results: list[str] = []

    def worker(i: int) -> None:
        with requests.Session() as s:
            s.headers["Authorization"] = AUTH
            barrier.wait()
            r = s.post(f"{emu.url}/cards", json={"idList": board["todo"]["id"], "name": f"c{i}"}, timeout=5)
            results.append(r.json()["id"])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 20
    creations = [a["data"]["card"]["id"] for a in reversed(emu.actions(board["board"]["id"]))]
    assert creations == sorted(creations)
    assert len(emu.cards(board["board"]["id"])) == 20


def test_stop_makes_it_unreachable():
    emu = TrelloEmulator(key=KEY, token=TOKEN).start()
    url = emu.url
    with requests.Session() as s:
        s.headers["Authorization"] = AUTH
        assert s.get(f"{url}/members/me", timeout=5).status_code == 200
        emu.stop()
        with pytest.raises(requests.ConnectionError):
            s.get(f"{url}/members/me", timeout=5)


def test_add_board_with_lists_and_url_source_attachment(emu, http):
    b = emu.add_board("Ops", lists=["To Do", "Done"])
    assert [lst["name"] for lst in b["lists"]] == ["To Do", "Done"]
    todo = b["lists"][0]["id"]
    card = _create(http, emu, todo, name="x", urlSource="https://ci.example.org/job/app/")
    assert card["badges"]["attachments"] == 1
    params = {"fields": "name", "attachments": "true", "attachment_fields": "url"}
    got = http.get(f"{emu.url}/boards/{b['id']}/cards/visible", params=params, timeout=5).json()
    assert got == [
        {
            "id": card["id"],
            "name": "x",
            "attachments": [{"id": got[0]["attachments"][0]["id"], "url": "https://ci.example.org/job/app/"}],
        }
    ]


def test_standalone_entry_point_prints_the_url():
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "jenkins_trello.emulator", "trello", "--key", KEY, "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/1")
        r = requests.get(f"{url}/members/me", headers={"Authorization": AUTH}, timeout=5)
        assert r.status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    # the emulator's own throw-away key and token appear only in the export line meant to be copied
    leaking = [line for line in err.splitlines() if TOKEN in line or KEY in line]
    assert leaking == [f"export TRELLO_API_KEY={KEY} TRELLO_TOKEN={TOKEN}"]


# -- labels, members and boards the token is not on ------------------------


def test_nested_labels_default_to_fifty_and_take_labels_limit_and_label_fields(emu, board, http):
    b = board["board"]["id"]
    for i in range(55):
        emu.add_label(b, f"l{i}", "green")
    url = f"{emu.url}/boards/{b}"
    got = http.get(url, params={"labels": "all"}, timeout=5).json()
    assert len(got["labels"]) == 50 and set(got["labels"][0]) >= {"id", "idBoard", "name", "color", "uses"}
    assert "members" not in got and "lists" not in got  # nested resources default to none
    got = http.get(url, params={"labels": "all", "labels_limit": "1000", "label_fields": "name,color"}, timeout=5)
    labels = got.json()["labels"]
    assert len(labels) == 55 and labels[54] == {"id": labels[54]["id"], "name": "l54", "color": "green"}
    for bad in ("1001", "-1", "many"):
        r = http.get(url, params={"labels": "all", "labels_limit": bad}, timeout=5)
        assert (r.status_code, r.text) == (400, "invalid value for labels_limit")
    r = http.get(f"{url}/labels", timeout=5)
    assert len(r.json()) == 50
    assert len(http.get(f"{url}/labels", params={"limit": "1000"}, timeout=5).json()) == 55


def test_board_members_are_the_bot_and_the_people_added(emu, board, http):
    b = board["board"]["id"]
    alice = emu.add_member(b, "alice", "Alice Dev")
    assert emu.add_member(b, "alice", "Alice Again") == alice  # one membership per person
    url = f"{emu.url}/boards/{b}"
    got = http.get(url, params={"members": "all", "member_fields": "id,username,fullName"}, timeout=5).json()
    assert got["members"] == [{"id": "5f0c0ffee0ddba11c0ffee01", "username": "cibot", "fullName": "CI Bot"},
                              {"id": alice["id"], "username": "alice", "fullName": "Alice Dev"}]
    default = http.get(url, params={"members": "all"}, timeout=5).json()["members"][1]
    assert set(default) == {"id", "avatarHash", "fullName", "initials", "username"} and default["initials"] == "AD"
    assert [m["username"] for m in http.get(f"{url}/members", timeout=5).json()] == ["cibot", "alice"]
    r = http.get(url, params={"members": "everyone"}, timeout=5)
    assert (r.status_code, r.text) == (400, "invalid value for members")


def test_create_labels_on_the_board_either_way(emu, board, http):
    b = board["board"]
    r = http.post(f"{emu.url}/labels", json={"idBoard": b["id"], "name": "ci", "color": "red"}, timeout=5)
    assert r.status_code == 200
    ci = r.json()
    assert (ci["idBoard"], ci["name"], ci["color"], len(ci["id"])) == (b["id"], "ci", "red", 24)
    r = http.post(f"{emu.url}/boards/{b['shortLink']}/labels", json={"name": "", "color": None}, timeout=5)
    assert r.status_code == 200 and r.json()["color"] is None and r.json()["idBoard"] == b["id"]
    r = http.post(f"{emu.url}/boards/{b['id']}/labels", params={"name": "q", "color": "null"}, timeout=5)
    assert r.json()["color"] is None
    assert [lab["name"] for lab in emu.board_labels(b["id"])] == ["ci", "", "q"]
    for body, field in [({"idBoard": b["shortLink"], "name": "x", "color": "red"}, "idBoard"),
                        ({"idBoard": "0" * 24, "name": "x", "color": "red"}, "idBoard"),
                        ({"idBoard": b["id"], "color": "red"}, "name"),
                        ({"idBoard": b["id"], "name": "x"}, "color"),
                        ({"idBoard": b["id"], "name": "x", "color": "mauve"}, "color")]:
        r = http.post(f"{emu.url}/labels", json=body, timeout=5)
        assert (r.status_code, r.text) == (400, f"invalid value for {field}"), body
    assert emu.write_count() == 3


def test_create_card_with_labels_and_members_of_its_board_only(emu, board, http):
    b = board["board"]["id"]
    red, blue = emu.add_label(b, "ci", "red"), emu.add_label(b, "", "blue")
    alice = emu.add_member(b, "alice")
    card = _create(http, emu, board["todo"]["id"], name="x", idLabels=f"{red['id']},{blue['id']}",
                   idMembers=alice["id"])
    assert card["idLabels"] == [red["id"], blue["id"]] and card["idMembers"] == [alice["id"]]
    assert [lab["name"] for lab in card["labels"]] == ["ci", ""]
    as_query = http.post(f"{emu.url}/cards", params={"idList": board["todo"]["id"], "idLabels": red["id"]}, timeout=5)
    assert as_query.json()["idLabels"] == [red["id"]]
    other = emu.add_board("Other")
    foreign = emu.add_label(other["id"], "ci", "red")
    stranger = emu.add_member(other["id"], "mallory")
    for fields, name in [({"idLabels": foreign["id"]}, "idLabels"), ({"idLabels": "nope"}, "idLabels"),
                         ({"idMembers": stranger["id"]}, "idMembers"), ({"idMembers": "0" * 24}, "idMembers")]:
        r = http.post(f"{emu.url}/cards", json={"idList": board["todo"]["id"], **fields}, timeout=5)
        assert (r.status_code, r.text) == (400, f"invalid value for {name}"), fields
    assert len(emu.cards(b)) == 2


def test_put_sets_labels_and_an_unarchive_with_idlist_moves_the_card_back(emu, board, http):
    b = board["board"]["id"]
    red, blue = emu.add_label(b, "ci", "red"), emu.add_label(b, "", "blue")
    card = _create(http, emu, board["todo"]["id"], name="x", idLabels=red["id"])
    url = f"{emu.url}/cards/{card['id']}"
    assert http.put(url, json={"idLabels": f"{blue['id']},{red['id']}"}, timeout=5).json()["idLabels"] == [
        blue["id"], red["id"]]
    assert http.put(url, json={"idLabels": ""}, timeout=5).json()["idLabels"] == []
    foreign = emu.add_label(emu.add_board("Other")["id"], "x", "red")
    r = http.put(url, json={"idLabels": foreign["id"]}, timeout=5)
    assert (r.status_code, r.text) == (400, "invalid value for idLabels")
    http.put(url, json={"idList": board["done"]["id"], "closed": True}, timeout=5)
    emu.reset_log()
    back = http.put(url, json={"closed": False, "idList": board["todo"]["id"]}, timeout=5).json()
    assert (back["closed"], back["idList"]) == (False, board["todo"]["id"])
    acts = http.get(f"{emu.url}/cards/{card['id']}/actions", params={"filter": "updateCard"}, timeout=5).json()
    assert {next(iter(a["data"]["old"])) for a in acts[:2]} == {"idList", "closed"}
    visible = http.get(f"{emu.url}/boards/{b}/cards/visible", params={"fields": "id"}, timeout=5).json()
    assert [c["id"] for c in visible] == [card["id"]]


def test_closed_cards_read_with_limit(emu, board, http):
    b = board["board"]["id"]
    for i in range(3):
        emu.human_archive(emu.add_card(board["done"]["id"], f"old {i}")["id"])
    emu.add_card(board["todo"]["id"], "open")
    url = f"{emu.url}/boards/{b}/cards/closed"
    got = http.get(url, params={"fields": "name,closed,dateLastActivity", "limit": "1000"}, timeout=5).json()
    assert sorted(c["name"] for c in got) == ["old 0", "old 1", "old 2"] and all(c["closed"] for c in got)
    assert [c["name"] for c in http.get(url, params={"fields": "name", "limit": "2"}, timeout=5).json()] == [
        "old 1", "old 2"]  # the newest by creation
    r = http.get(url, params={"limit": "1001"}, timeout=5)
    assert (r.status_code, r.text) == (400, "invalid value for limit")


def test_people_edit_labels_and_members_with_real_actions(emu, board, http):
    b = board["board"]["id"]
    red = emu.add_label(b, "ci", "red")
    alice = emu.add_member(b, "alice", "Alice Dev")
    card = _create(http, emu, board["todo"]["id"], name="x", idMembers=alice["id"])
    emu.human_label(card["id"], red["id"])
    emu.human_label(card["id"], red["id"])  # already there: nothing happens
    assert emu.get_card(card["id"])["idLabels"] == [red["id"]]
    emu.human_label(card["id"], red["id"], add=False)
    emu.human_remove_member(card["id"], alice["id"])
    now = emu.get_card(card["id"])
    assert now["idLabels"] == [] and now["idMembers"] == []
    types = [a["type"] for a in emu.actions(b)][:3]
    assert types == ["removeMemberFromCard", "removeLabelFromCard", "addLabelToCard"]
    removed = emu.actions(b)[0]
    assert removed["data"]["idMember"] == alice["id"] and removed["memberCreator"]["username"] == "adahuman"
    with pytest.raises(ValueError):
        emu.human_label(card["id"], emu.add_label(emu.add_board("Other")["id"], "x")["id"])
    with pytest.raises(ValueError):
        emu.human_add_member(card["id"], "0" * 24)


def test_a_board_the_bot_is_not_on_answers_401_everywhere(emu, http):
    hidden = emu.add_board("Private", visible=False)
    todo = emu.add_list(hidden["id"], "To Do")  # the control API sees every board
    card = emu.add_card(todo["id"], "theirs")
    mine = emu.add_board("Mine", lists=["To Do"])
    assert emu.board_members(hidden["id"]) == []
    checks = [
        ("GET", f"/boards/{hidden['id']}", None), ("GET", f"/boards/{hidden['shortLink']}/lists", None),
        ("GET", f"/boards/{hidden['id']}/cards/visible", None), ("GET", f"/lists/{todo['id']}/cards", None),
        ("GET", f"/cards/{card['id']}", None), ("PUT", f"/cards/{card['id']}", {"closed": True}),
        ("POST", "/cards", {"idList": todo["id"], "name": "x"}),
        ("PUT", f"/cards/{emu.add_card(mine['lists'][0]['id'], 'ok')['id']}", {"idList": todo["id"]}),
        ("POST", f"/boards/{hidden['id']}/labels", {"name": "x", "color": "red"}),
        ("POST", "/labels", {"idBoard": hidden["id"], "name": "x", "color": "red"}),
    ]
    for method, path, body in checks:
        r = http.request(method, f"{emu.url}{path}", json=body, timeout=5)
        assert (r.status_code, r.text) == (401, "unauthorized permission requested"), (method, path)
    assert emu.write_count() == 0 and not emu.get_card(card["id"])["closed"]
    me = http.get(f"{emu.url}/members/me", params={"fields": "username,idBoards"}, timeout=5).json()
    assert me["idBoards"] == [mine["id"]]
    assert http.get(f"{emu.url}/boards/{mine['id']}", timeout=5).status_code == 200
