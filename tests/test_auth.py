"""Bearer, basic and Grafana HMAC authentication of webhook requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grafana_bridge.auth import AuthConfig, check

NOW = 1_700_000_000.0
TOKEN = "s3cr3t-token"
USER, PASSWORD = "grafana", "pa:ss:word"
SECRET = "hmac-secret"
BODY = b'{"alerts": []}'
ALL = AuthConfig(token=TOKEN, user=USER, password=PASSWORD, hmac_secret=SECRET)
SECRETS = (TOKEN, PASSWORD, SECRET)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def sign(body: bytes, secret: str = SECRET, ts: str | None = None) -> dict[str, str]:
    msg = body if ts is None else ts.encode() + b":" + body
    headers = {"X-Grafana-Alerting-Signature": hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()}
    if ts is not None:
        headers["X-Grafana-Alerting-Timestamp"] = ts
    return headers


def assert_rejected(config, headers, body=BODY, now=NOW):
    reason = check(config, headers, body, now)
    assert isinstance(reason, str) and reason
    for s in SECRETS:
        assert s not in reason
    for v in headers.values():
        if isinstance(v, str) and len(v) > 3:
            assert v not in reason
    return reason


# --------------------------------------------------------------------------- config


def test_from_env():
    cfg = AuthConfig.from_env({
        "GRAFANA_BRIDGE_TOKEN": "t", "GRAFANA_BRIDGE_USER": "u",
        "GRAFANA_BRIDGE_PASSWORD": "p", "GRAFANA_BRIDGE_HMAC_SECRET": "h", "OTHER": "x",
    })
    assert cfg == AuthConfig(token="t", user="u", password="p", hmac_secret="h")
    assert cfg.configured


def test_empty_env_is_unset():
    cfg = AuthConfig.from_env({"GRAFANA_BRIDGE_TOKEN": "", "GRAFANA_BRIDGE_USER": "",
                               "GRAFANA_BRIDGE_PASSWORD": "", "GRAFANA_BRIDGE_HMAC_SECRET": ""})
    assert cfg == AuthConfig()
    assert not cfg.configured
    assert not AuthConfig.from_env({}).configured


def test_half_basic_config_is_not_configured_and_warns():
    cfg = AuthConfig.from_env({"GRAFANA_BRIDGE_USER": "u"})
    assert not cfg.configured and not cfg.basic_enabled
    assert any("GRAFANA_BRIDGE_PASSWORD" in w for w in cfg.warnings())
    cfg = AuthConfig(password="p")
    assert not cfg.configured
    assert any("GRAFANA_BRIDGE_USER" in w for w in cfg.warnings())


def test_user_with_empty_password_never_lets_empty_password_in():
    cfg = AuthConfig(user="u", password="")
    assert_rejected(cfg, {"Authorization": basic("u", "")})
    cfg = AuthConfig(token="t", user="u")
    assert_rejected(cfg, {"Authorization": basic("u", "")})


def test_repr_hides_secrets():
    r = repr(ALL)
    for s in SECRETS:
        assert s not in r


def test_no_config_rejects_everything():
    assert_rejected(AuthConfig(), {"Authorization": f"Bearer {TOKEN}"})


# --------------------------------------------------------------------------- bearer


@pytest.mark.parametrize("value", [
    f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer   {TOKEN}", f"  Bearer {TOKEN}  ",
])
def test_bearer_accepted(value):
    assert check(AuthConfig(token=TOKEN), {"Authorization": value}, BODY, NOW) is None
    assert check(ALL, {"authorization": value}, BODY, NOW) is None


@pytest.mark.parametrize("value", [
    "Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer", "Bearer ", TOKEN,
    f"Token {TOKEN}", f"Bearer\t{TOKEN}", f"Bearer{TOKEN}", "Bearer ü" * 3, "Bearer " + "a" * 100_000,
])
def test_bearer_rejected(value):
    assert_rejected(AuthConfig(token=TOKEN), {"Authorization": value})


def test_bearer_not_configured():
    assert_rejected(AuthConfig(user=USER, password=PASSWORD), {"Authorization": f"Bearer {TOKEN}"})


def test_non_ascii_token():
    cfg = AuthConfig(token="tökén")
    assert check(cfg, {"Authorization": "Bearer tökén"}, BODY, NOW) is None
    # the same bytes as a WSGI server hands them over (latin-1 decoded)
    wsgi = "Bearer " + "tökén".encode().decode("latin-1")
    assert check(cfg, {"HTTP-Whatever": "x", "Authorization": wsgi}, BODY, NOW) is None
    assert_rejected(cfg, {"Authorization": "Bearer tokén"})


# --------------------------------------------------------------------------- basic


def test_basic_accepted_with_colon_in_password():
    cfg = AuthConfig(user=USER, password=PASSWORD)
    assert check(cfg, {"Authorization": basic(USER, PASSWORD)}, BODY, NOW) is None
    assert check(cfg, {"AUTHORIZATION": basic(USER, PASSWORD).replace("Basic", "basic")}, BODY, NOW) is None


def test_basic_unicode():
    cfg = AuthConfig(user="ünï", password="cödé")
    assert check(cfg, {"Authorization": basic("ünï", "cödé")}, BODY, NOW) is None


@pytest.mark.parametrize("value", [
    basic(USER, "wrong"), basic("other", PASSWORD), basic(USER, PASSWORD + "x"), basic(USER + ":", PASSWORD),
    basic(USER, ""), basic("", PASSWORD),
    "Basic " + base64.b64encode(USER.encode()).decode(),  # no colon
    "Basic !!!notbase64!!!", "Basic " + base64.b64encode(b"a:b").decode()[:-1], "Basic ☃☃☃☃",
    "Basic", "Basic " + "A" * 100_000,
])
def test_basic_rejected(value):
    assert_rejected(AuthConfig(user=USER, password=PASSWORD), {"Authorization": value})


def test_basic_not_enabled_without_password():
    assert_rejected(AuthConfig(token=TOKEN, user=USER), {"Authorization": basic(USER, "")})


# --------------------------------------------------------------------------- HMAC


def test_hmac_research_test_vectors():
    body = (Path(__file__).parent / "fixtures" / "grafana-unified-2.json").read_bytes()
    cfg = AuthConfig(hmac_secret="test-hmac-secret")
    sig = "1a3be18ca45c7eff8b5bc276b752ecb0a2f3bf124c240ef4a7d7af3a4cc4533c"
    assert check(cfg, {"X-Grafana-Alerting-Signature": sig}, body, NOW) is None
    sig_ts = "37fb71816e910f242965bc04bb41349629f8eefcdb476b67ed553062e802c5d0"
    headers = {"X-Grafana-Alerting-Signature": sig_ts, "X-Grafana-Alerting-Timestamp": "1700000000"}
    assert check(cfg, headers, body, 1_700_000_000) is None
    simple = {"x-grafana-alerting-signature": "3bcebf43c85d20bba6e3b6ba278af1d2ba3ab0d57de271b0ad30b833e851c5a6"}
    assert check(AuthConfig(hmac_secret="secret"), simple, b"test message", NOW) is None


def test_hmac_without_timestamp():
    assert check(AuthConfig(hmac_secret=SECRET), sign(BODY), BODY, NOW) is None
    assert check(ALL, sign(BODY), BODY, NOW) is None


def test_hmac_uppercase_hex_and_any_header_case():
    headers = {k.upper(): v.upper() for k, v in sign(BODY).items()}
    assert check(AuthConfig(hmac_secret=SECRET), headers, BODY, NOW) is None


def test_hmac_wrong_secret_or_body():
    cfg = AuthConfig(hmac_secret=SECRET)
    assert_rejected(cfg, sign(BODY, secret="other"))
    assert_rejected(cfg, sign(b'{"alerts": [1]}'))  # signature over a different body
    assert_rejected(cfg, sign(BODY), body=BODY + b" ")
    assert_rejected(cfg, {"X-Grafana-Alerting-Signature": "zz"})
    assert_rejected(cfg, {"X-Grafana-Alerting-Signature": ""})
    assert_rejected(cfg, {"X-Grafana-Alerting-Signature": "ä" * 64})
    assert_rejected(cfg, {"X-Grafana-Alerting-Signature": "a" * 100_000})


@pytest.mark.parametrize("age, ok", [(0, True), (299, True), (300, True), (301, False), (-299, True),
                                     (-301, False), (10**6, False)])
def test_hmac_timestamp_window(age, ok):
    ts = str(int(NOW - age))
    headers = sign(BODY, ts=ts)
    result = check(AuthConfig(hmac_secret=SECRET), headers, BODY, NOW)
    if ok:
        assert result is None
    else:
        assert result and "window" in result


def test_hmac_timestamp_is_signed():
    cfg = AuthConfig(hmac_secret=SECRET)
    headers = sign(BODY, ts=str(int(NOW)))
    headers["X-Grafana-Alerting-Timestamp"] = str(int(NOW) - 1)  # replay with a fresh-looking stamp
    assert_rejected(cfg, headers)
    # a timestamp header added to a body-only signature does not verify
    headers = sign(BODY)
    headers["X-Grafana-Alerting-Timestamp"] = str(int(NOW))
    assert_rejected(cfg, headers)


@pytest.mark.parametrize("ts", ["", "abc", "1.5", "-5", "1" * 40, "１７００"])
def test_hmac_malformed_timestamp(ts):
    headers = sign(BODY, ts=ts)
    assert_rejected(AuthConfig(hmac_secret=SECRET), headers)


def test_hmac_not_configured():
    assert_rejected(AuthConfig(token=TOKEN), sign(BODY))


# --------------------------------------------------------------------------- any method


def test_any_configured_method_suffices():
    headers = {"Authorization": "Bearer wrong", **sign(BODY)}
    assert check(ALL, headers, BODY, NOW) is None
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Grafana-Alerting-Signature": "00"}
    assert check(ALL, headers, BODY, NOW) is None


def test_missing_credentials():
    assert assert_rejected(ALL, {}) == "missing credentials"
    assert assert_rejected(ALL, {"Content-Type": "application/json"}) == "missing credentials"


def test_odd_header_mappings_never_raise():
    assert_rejected(ALL, {1: "x", "Authorization": None})  # type: ignore[dict-item]
    assert check(ALL, {"Authorization": f"Bearer {TOKEN}"}, "not bytes", NOW) is None  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["Authorization", "authorization", "X-Grafana-Alerting-Signature",
                         "X-Grafana-Alerting-Timestamp", "Other"]),
        st.text(max_size=200) | st.sampled_from(["Bearer ", "Basic ", "Basic Og==", "Bearer x"]).flatmap(
            lambda p: st.text(max_size=50).map(lambda t: p + t)),
        max_size=4,
    ),
    st.binary(max_size=100),
)
def test_hostile_headers_never_raise_nor_leak(headers, body):
    reason = check(ALL, headers, body, NOW)
    if reason is not None:
        for s in SECRETS:
            assert s not in reason


# --------------------------------------------------------------------------- the signed timestamp, required

def _signed(body: bytes, stamp: int | None, secret: str = "hs") -> dict[str, str]:
    if stamp is None:
        return {"X-Grafana-Alerting-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    sig = hmac.new(secret.encode(), f"{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Grafana-Alerting-Signature": sig, "X-Grafana-Alerting-Timestamp": str(stamp)}


def test_require_timestamp_refuses_a_signature_without_one_and_accepts_a_fresh_signed_one():
    body, now = b'{"a": 1}', 1_700_000_000
    lax = AuthConfig(hmac_secret="hs")
    strict = AuthConfig(hmac_secret="hs", hmac_require_timestamp=True)
    assert check(lax, _signed(body, None), body, now) is None
    reason = check(strict, _signed(body, None), body, now)
    assert reason and "timestamp" in reason and "hs" not in reason
    assert check(strict, _signed(body, now - 10), body, now) is None
    assert "5-minute" in check(strict, _signed(body, now - 301), body, now)
    # a replayed old body with its old timestamp is refused; stripping the timestamp does not help
    old = _signed(body, now - 3600)
    assert check(strict, old, body, now) is not None
    assert check(strict, {"X-Grafana-Alerting-Signature": old["X-Grafana-Alerting-Signature"]}, body, now)


@pytest.mark.parametrize("value,on", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False),
                                      ("no", False)])
def test_require_timestamp_setting_from_the_environment(value, on):
    cfg = AuthConfig.from_env({"GRAFANA_BRIDGE_HMAC_SECRET": "s", "GRAFANA_BRIDGE_HMAC_REQUIRE_TIMESTAMP": value})
    assert cfg.hmac_require_timestamp is on
    assert "s'" not in repr(cfg) and f"hmac_require_timestamp={on}" in repr(cfg)
