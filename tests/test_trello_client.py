"""The Trello client's HTTP layer, unit-level with requests-mock: auth, retries, errors, secrets."""

from __future__ import annotations

import time

import pytest
import requests

from jenkins_trello.trello import Pacer, TrelloAuthError, TrelloClient, TrelloError, TrelloNotFound

KEY = "k" * 32
TOKEN = "tok-" + "9" * 60
API = "https://trello.test/1"


def client(**kw) -> TrelloClient:
    kw.setdefault("retry_seconds", 5.0)
    return TrelloClient(KEY, TOKEN, API, **kw)


def test_credentials_travel_in_the_oauth_header_never_the_url(requests_mock):
    m = requests_mock.get(f"{API}/boards/b1/cards/visible", json=[])
    client().board_cards("b1")
    req = m.last_request
    assert req.headers["Authorization"] == f'OAuth oauth_consumer_key="{KEY}", oauth_token="{TOKEN}"'
    assert KEY not in req.url and TOKEN not in req.url
    assert "key=" not in req.url and "token=" not in req.url


def test_writes_send_json_bodies_and_gets_send_none(requests_mock):
    post = requests_mock.post(f"{API}/cards", json={"id": "c1"})
    get = requests_mock.get(f"{API}/boards/b1/lists", json=[{"id": "L", "name": "To Do", "cards": []}])
    c = client()
    c.create_card("L", "name", "desc " * 3000)
    assert post.last_request.json()["desc"].startswith("desc ")
    c.board_lists("b1")
    assert get.last_request.body is None
    assert get.last_request.qs["cards"] == ["open"]


def test_board_lists_falls_back_when_nested_cards_are_ignored(requests_mock):
    requests_mock.get(f"{API}/boards/b1/lists", json=[{"id": "L1", "name": "To Do"}])
    requests_mock.get(f"{API}/boards/b1/cards/visible", json=[{"id": "c", "idList": "L1"}])
    lists = client().board_lists("b1")
    assert lists[0]["cards"] == [{"id": "c", "idList": "L1"}]


def test_429_is_retried_after_retry_after(requests_mock):
    m = requests_mock.get(f"{API}/boards/b1/cards/visible", [
        {"status_code": 429, "json": {"error": "API_TOKEN_LIMIT_EXCEEDED"}, "headers": {"Retry-After": "0.2"}},
        {"status_code": 200, "json": [{"id": "a"}]},
    ])
    c = client()
    t0 = time.monotonic()
    assert c.board_cards("b1") == [{"id": "a"}]
    assert time.monotonic() - t0 >= 0.19
    assert m.call_count == 2 and c.stats.rate_limited == 1


def test_429_waits_per_rate_limit_headers(requests_mock):
    headers = {"x-rate-limit-api-token-interval-ms": "1000", "x-rate-limit-api-token-max": "100",
               "x-rate-limit-api-token-remaining": "0"}
    requests_mock.get(f"{API}/boards/b1/cards/visible", [
        {"status_code": 429, "json": {"error": "API_TOKEN_LIMIT_EXCEEDED"}, "headers": headers},
        {"status_code": 200, "json": []},
    ])
    t0 = time.monotonic()
    client().board_cards("b1")
    assert time.monotonic() - t0 >= 0.1  # waited a fraction of the window, then succeeded


def test_5xx_and_connection_errors_back_off_then_succeed(requests_mock):
    m = requests_mock.put(f"{API}/cards/c1", [
        {"status_code": 503, "text": "busy"},
        {"exc": requests.ConnectionError("reset")},
        {"exc": requests.ConnectTimeout("slow")},
        {"status_code": 200, "json": {"id": "c1", "closed": True}},
    ])
    c = client()
    assert c.archive_card("c1")["closed"] is True
    assert m.call_count == 4 and c.stats.retries == 3


def test_retries_are_bounded_in_time_and_error_names_op_and_status(requests_mock):
    requests_mock.post(f"{API}/cards/c1/actions/comments", status_code=503, text="down")
    c = client(retry_seconds=1.0)
    t0 = time.monotonic()
    with pytest.raises(TrelloError) as err:
        c.comment("c1", "hi")
    assert time.monotonic() - t0 < 3
    assert "comment" in str(err.value) and "503" in str(err.value)


def test_auth_errors_are_not_retried_and_hide_secrets(requests_mock):
    m = requests_mock.get(f"{API}/boards/b1/cards/visible", status_code=401, text=f"invalid token {TOKEN}")
    with pytest.raises(TrelloAuthError) as err:
        client().board_cards("b1")
    assert m.call_count == 1
    assert TOKEN not in str(err.value) and KEY not in str(err.value)


def test_404_is_not_found(requests_mock):
    requests_mock.put(f"{API}/cards/zz", status_code=404, text="The requested resource was not found.")
    with pytest.raises(TrelloNotFound):
        client().archive_card("zz")


def test_deadline_bounds_a_whole_operation(requests_mock):
    requests_mock.get(f"{API}/boards/b1/cards/visible", status_code=500)
    c = client(retry_seconds=60)
    t0 = time.monotonic()
    with pytest.raises(TrelloError), c.deadline(0.8):
        c.board_cards("b1")
    assert time.monotonic() - t0 < 2.0


def test_pacer_holds_the_window():
    p = Pacer(max_requests=3, interval=0.3)
    t0 = time.monotonic()
    for _ in range(6):
        p.acquire()
    assert time.monotonic() - t0 >= 0.29


def test_non_json_answer_is_an_error_not_a_crash(requests_mock):
    requests_mock.get(f"{API}/boards/b1/cards/visible", text="<html>proxy</html>")
    with pytest.raises(TrelloError, match="not JSON"):
        client(retry_seconds=0.5).board_cards("b1")


def test_board_cards_falls_back_to_open_cards_when_visible_filter_is_unknown(requests_mock):
    requests_mock.get(f"{API}/boards/b1/cards/visible", status_code=404, text="Cannot GET")
    requests_mock.get(f"{API}/boards/b1/cards", json=[{"id": "c"}])
    assert client().board_cards("b1") == [{"id": "c"}]


# --------------------------------------------------------------------------- the board read and policy writes


BOARD_ANSWER = {
    "id": "b" * 24, "name": "Team",
    "lists": [{"id": "L1", "name": "To Do", "closed": False, "pos": 1}],
    "cards": [{"id": "c1", "idList": "L1", "desc": "x", "idLabels": ["l1"], "idMembers": []}],
    "labels": [{"id": "l1", "name": "ci", "color": "red"}],
    "members": [{"id": "m1", "username": "cibot", "fullName": "CI Bot"}],
}


def _no_secret(req) -> None:
    assert KEY not in req.url and TOKEN not in req.url and "key=" not in req.url and "token=" not in req.url
    assert req.headers["Authorization"].startswith("OAuth ")


def test_board_snapshot_is_one_get_with_every_nested_resource(requests_mock):
    m = requests_mock.get(f"{API}/boards/AbCdEf12", json=BOARD_ANSWER)
    raw = client().board_snapshot("AbCdEf12")
    assert raw is not None and raw["labels"] == BOARD_ANSWER["labels"]
    assert m.call_count == 1 and requests_mock.call_count == 1
    req = m.last_request
    _no_secret(req)
    assert req.body is None
    q = {k: v[0] for k, v in req.qs.items()}  # requests-mock lower-cases query values
    assert q == {
        "fields": "id,name", "lists": "open", "list_fields": "id,name,closed,pos", "cards": "visible",
        "card_fields": "id,name,desc,idlist,closed,datelastactivity,shorturl,idlabels,idmembers",
        "labels": "all", "label_fields": "id,name,color", "labels_limit": "1000",
        "members": "all", "member_fields": "id,username,fullname",
    }
    assert "idLabels%2CidMembers" in req.url and "fullName" in req.url  # case kept on the wire


def test_board_snapshot_falls_back_to_lists_and_cards_when_nested_resources_are_ignored(requests_mock):
    requests_mock.get(f"{API}/boards/b1", json={"id": "b" * 24, "name": "Team"})
    lists = requests_mock.get(f"{API}/boards/b1/lists", json=[{"id": "L1", "name": "To Do"}])
    cards = requests_mock.get(f"{API}/boards/b1/cards/visible", json=[{"id": "c", "idList": "L1"}])
    raw = client().board_snapshot("b1")
    assert raw["lists"] == [{"id": "L1", "name": "To Do"}] and raw["cards"] == [{"id": "c", "idList": "L1"}]
    assert "labels" not in raw and "members" not in raw
    assert lists.last_request.qs.get("cards") is None  # the cards come from the one /cards/visible read
    assert cards.call_count == 1 and requests_mock.call_count == 3


def test_board_snapshot_reads_only_what_the_answer_lacks(requests_mock):
    requests_mock.get(f"{API}/boards/b1", json={"id": "b" * 24, "lists": [{"id": "L1", "name": "To Do"}]})
    requests_mock.get(f"{API}/boards/b1/cards/visible", json=[])
    raw = client().board_snapshot("b1")
    assert raw["cards"] == [] and requests_mock.call_count == 2


@pytest.mark.parametrize("answer", [[], "text", {"lists": {"a": 1}}, {"lists": [], "cards": "x"}])
def test_board_snapshot_rejects_an_answer_of_the_wrong_shape(requests_mock, answer):
    requests_mock.get(f"{API}/boards/b1", json=answer)
    with pytest.raises(TrelloError, match="unexpected answer shape"):
        client().board_snapshot("b1")


def test_create_card_sends_labels_and_members_comma_separated_in_body_and_query(requests_mock):
    post = requests_mock.post(f"{API}/cards", json={"id": "c1"})
    client().create_card("L1", "name", "desc", label_ids=("l1", "l2"), member_ids=["m1"])
    req = post.last_request
    _no_secret(req)
    assert req.json() == {"idList": "L1", "name": "name", "desc": "desc", "pos": "top",
                          "idLabels": "l1,l2", "idMembers": "m1"}
    assert req.qs["idlabels"] == ["l1,l2"] and req.qs["idmembers"] == ["m1"] and "desc" not in req.qs


def test_create_card_without_labels_or_members_is_the_request_it_always_was(requests_mock):
    post = requests_mock.post(f"{API}/cards", json={"id": "c1"})
    client().create_card("L1", "name", "desc")
    assert post.last_request.json() == {"idList": "L1", "name": "name", "desc": "desc", "pos": "top"}
    assert "idlabels" not in post.last_request.qs and "idmembers" not in post.last_request.qs


@pytest.mark.parametrize("color,body_color,query_color", [("red", "red", "red"), (None, None, "null"),
                                                          ("", None, "null")])
def test_create_label_posts_name_and_color_to_the_board(requests_mock, color, body_color, query_color):
    post = requests_mock.post(f"{API}/boards/AbCdEf12/labels", json={"id": "l9", "name": "ci", "color": body_color})
    assert client().create_label("AbCdEf12", "ci", color) == {"id": "l9", "name": "ci", "color": body_color}
    req = post.last_request
    _no_secret(req)
    assert req.json() == {"name": "ci", "color": body_color}
    assert req.qs["color"] == [query_color] and req.qs["name"] == ["ci"]


def test_create_label_answer_without_an_id_is_an_error(requests_mock):
    requests_mock.post(f"{API}/boards/b1/labels", json=[])
    with pytest.raises(TrelloError, match="create label"):
        client().create_label("b1", "ci", "red")


def test_update_card_sends_idlabels_comma_separated_and_closed_as_a_boolean(requests_mock):
    put = requests_mock.put(f"{API}/cards/c1", json={"id": "c1"})
    c = client()
    c.update_card("c1", idList="L2", idLabels=["l1", "l2"], closed=False, desc="d" * 2000)
    req = put.last_request
    _no_secret(req)
    assert req.json() == {"idList": "L2", "idLabels": "l1,l2", "closed": False, "desc": "d" * 2000}
    assert req.qs["idlist"] == ["l2"] and req.qs["idlabels"] == ["l1,l2"] and req.qs["closed"] == ["false"]
    assert "desc" not in req.qs
    c.update_card("c1", idLabels=())  # no labels left: an empty list clears them
    assert put.last_request.json() == {"idLabels": ""}
    c.update_card("c1", idLabels="l3")  # already Trello's form
    assert put.last_request.json() == {"idLabels": "l3"}


def test_closed_cards_is_one_bounded_read_of_the_archive(requests_mock):
    m = requests_mock.get(f"{API}/boards/b1/cards/closed", json=[{"id": "c", "closed": True}])
    assert client().closed_cards("b1", card_fields="id,desc,closed") == [{"id": "c", "closed": True}]
    req = m.last_request
    _no_secret(req)
    assert req.qs == {"fields": ["id,desc,closed"], "limit": ["1000"]} and req.body is None
