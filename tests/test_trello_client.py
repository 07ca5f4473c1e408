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
