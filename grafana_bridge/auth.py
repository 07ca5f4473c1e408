"""Who may post alerts: bearer token, HTTP basic, Grafana's HMAC signature (pure).

Each sender supports a different subset: Grafana legacy only basic auth,
Alertmanager basic or an ``Authorization`` header, Grafana unified all three
(HMAC since 12.0). A request passes when any configured method accepts it.

Rules that hold everywhere here:
- secrets are compared with ``hmac.compare_digest`` on bytes (constant time,
  and no TypeError on non-ASCII strings);
- a reason string never contains a configured secret or a received header
  value, so the HTTP layer may log it and send it back in the 401;
- hostile input (huge, non-ASCII, malformed) yields a reason, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

__all__ = [
    "AuthConfig",
    "HMAC_MAX_SKEW",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "check",
    "check_query_token",
]

SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"
HMAC_MAX_SKEW = 300  # seconds, both directions ("at most 5 minutes old"; clocks drift both ways)
# No legitimate credential header is this long; refusing early bounds the work per request.
_MAX_HEADER = 8192

# RFC 7235: credentials = auth-scheme [ 1*SP token68 ]; the scheme is case-insensitive.
_AUTH_RE = re.compile(r"([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +(\S.*)?", re.DOTALL)


@dataclass(frozen=True)
class AuthConfig:
    """The bridge's credentials. Empty strings mean "not set".

    Basic auth is enabled only when both user and password are non-empty:
    an empty password would otherwise accept anyone who knows the user name,
    and Grafana itself only sends basic auth when both are set.
    """

    token: str | None = None
    user: str | None = None
    password: str | None = None
    hmac_secret: str | None = None
    # GRAFANA_BRIDGE_HMAC_REQUIRE_TIMESTAMP=1: a signature without the signed timestamp could be replayed
    # forever, so refuse it (Grafana 12 always sends the timestamp header).
    hmac_require_timestamp: bool = False
    # GRAFANA_BRIDGE_JENKINS_TOKEN: accepted only as ``?token=`` on POST /jenkins (the Notification plugin sends
    # no auth header of its own), so a URL copied out of a job's configuration cannot post alerts
    jenkins_token: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthConfig:
        """Read GRAFANA_BRIDGE_TOKEN, _USER, _PASSWORD, _HMAC_SECRET (empty counts as unset)
        and _HMAC_REQUIRE_TIMESTAMP (``1``, ``true`` or ``yes`` turn it on)."""

        def get(name: str) -> str | None:
            val = env.get(name)
            return val if isinstance(val, str) and val != "" else None

        return cls(
            token=get("GRAFANA_BRIDGE_TOKEN"),
            user=get("GRAFANA_BRIDGE_USER"),
            password=get("GRAFANA_BRIDGE_PASSWORD"),
            hmac_secret=get("GRAFANA_BRIDGE_HMAC_SECRET"),
            hmac_require_timestamp=(get("GRAFANA_BRIDGE_HMAC_REQUIRE_TIMESTAMP") or "").strip().lower()
            in ("1", "true", "yes"),
            jenkins_token=get("GRAFANA_BRIDGE_JENKINS_TOKEN"),
        )

    @property
    def basic_enabled(self) -> bool:
        """Basic auth needs both halves."""
        return bool(self.user) and bool(self.password)

    @property
    def configured(self) -> bool:
        """True when at least one method can accept a request (serve refuses to start otherwise)."""
        return bool(self.token) or self.basic_enabled or bool(self.hmac_secret) or bool(self.jenkins_token)

    def warnings(self) -> list[str]:
        """Half-configured settings worth telling the operator about (names only, no values)."""
        out = []
        if self.user and not self.password:
            out.append("GRAFANA_BRIDGE_USER is set but GRAFANA_BRIDGE_PASSWORD is empty: basic auth is off")
        if self.password and not self.user:
            out.append("GRAFANA_BRIDGE_PASSWORD is set but GRAFANA_BRIDGE_USER is empty: basic auth is off")
        return out

    def __repr__(self) -> str:  # never print secrets, even in a traceback
        return (
            f"AuthConfig(token={'***' if self.token else None}, user={self.user!r}, "
            f"password={'***' if self.password else None}, "
            f"hmac_secret={'***' if self.hmac_secret else None}, "
            f"hmac_require_timestamp={self.hmac_require_timestamp}, "
            f"jenkins_token={'***' if self.jenkins_token else None})"
        )


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


def _received_variants(value: str) -> list[bytes]:
    """The bytes a header value may have had on the wire.

    WSGI servers decode header bytes as latin-1 (PEP 3333), other callers hand
    over real text; a non-ASCII secret should match either way.
    """
    out = [_utf8(value)]
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return out
    if raw != out[0]:
        out.append(raw)
    return out


def _equal(received: str, expected: str) -> bool:
    want = _utf8(expected)
    ok = False
    for variant in _received_variants(received):
        ok |= hmac.compare_digest(variant, want)
    return ok


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        items = list(headers.items())
    except Exception:  # noqa: BLE001 - any odd mapping is "no headers", never a crash
        return out
    for key, val in items:
        if isinstance(key, str) and isinstance(val, str):
            out[key.lower()] = val
    return out


def _check_authorization(config: AuthConfig, value: str) -> str | None:
    """None when the Authorization header carries valid bearer or basic credentials."""
    if len(value) > _MAX_HEADER:
        return "authorization header too long"
    m = _AUTH_RE.fullmatch(value.strip())
    if not m or m.group(2) is None:
        return "malformed authorization header"
    scheme, cred = m.group(1).lower(), m.group(2)
    if scheme == "bearer":
        if not config.token:
            return "bearer token not accepted here"
        return None if _equal(cred, config.token) else "invalid bearer token"
    if scheme == "basic":
        if not config.basic_enabled:
            return "basic auth not accepted here"
        try:
            decoded = base64.b64decode(cred.strip().encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return "malformed basic credentials"
        user, sep, password = decoded.partition(b":")  # RFC 7617: the user id has no ':'
        if not sep:
            return "malformed basic credentials"
        # Both comparisons always run: the time taken tells nothing about which half was wrong.
        ok_user = hmac.compare_digest(user, _utf8(config.user or ""))
        ok_password = hmac.compare_digest(password, _utf8(config.password or ""))
        return None if ok_user & ok_password else "invalid basic credentials"
    return "unsupported authorization scheme"


def _check_signature(config: AuthConfig, hdrs: dict[str, str], body: bytes, now: float) -> str | None:
    """None when Grafana's HMAC signature (and timestamp, if sent) checks out."""
    secret = config.hmac_secret
    if not secret:
        return "signature not accepted here"
    sig = hdrs.get(SIGNATURE_HEADER.lower(), "").strip()
    if not sig:
        return "missing credentials"
    if len(sig) > 256 or not re.fullmatch(r"[0-9A-Fa-f]+", sig):
        return "malformed signature"
    stamp = hdrs.get(TIMESTAMP_HEADER.lower())
    if stamp is None and config.hmac_require_timestamp:
        return ("signature without the signed timestamp refused "
                f"({TIMESTAMP_HEADER} required by GRAFANA_BRIDGE_HMAC_REQUIRE_TIMESTAMP)")
    if stamp is not None:
        stamp = stamp.strip()
        if not re.fullmatch(r"[0-9]{1,15}", stamp):
            return "malformed signature timestamp"
        if abs(now - int(stamp)) > HMAC_MAX_SKEW:
            return "signature timestamp outside the 5-minute window"
        # Grafana signs the exact string it sends in the header.
        message = stamp.encode("ascii") + b":" + body
    else:
        message = body
    expected = hmac.new(_utf8(secret), message, hashlib.sha256).hexdigest()
    if hmac.compare_digest(sig.lower().encode("ascii"), expected.encode("ascii")):
        return None
    return "invalid signature"


def check(config: AuthConfig, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    """Authenticate one request: None when any configured method accepts it, else a short reason.

    ``headers`` is any mapping of header names to values; names are matched
    case-insensitively. ``body`` is the raw request body (the HMAC covers the
    exact bytes). ``now`` is unix time, passed in so the check stays pure.
    """
    if not config.configured:
        return "authentication is not configured"
    hdrs = _lower_headers(headers)
    if not isinstance(body, (bytes, bytearray, memoryview)):
        body = b""
    body = bytes(body)
    reasons = []
    auth = hdrs.get("authorization")
    if auth is not None and auth.strip():
        reason = _check_authorization(config, auth)
        if reason is None:
            return None
        reasons.append(reason)
    if SIGNATURE_HEADER.lower() in hdrs:
        reason = _check_signature(config, hdrs, body, now)
        if reason is None:
            return None
        reasons.append(reason)
    return reasons[0] if reasons else "missing credentials"


def check_query_token(config: AuthConfig, query: str) -> str | None:
    """``?token=`` of POST /jenkins against GRAFANA_BRIDGE_JENKINS_TOKEN: None when it matches, else a reason.

    The reason never holds the token (received or configured): the HTTP layer logs
    it and sends it back. Exactly one ``token`` parameter is accepted, compared in
    constant time; an odd query string is a reason, never an exception.
    """
    if not isinstance(query, str) or "token" not in query:
        return "missing credentials"
    if len(query) > _MAX_HEADER:
        return "query string too long"
    try:
        values = parse_qs(query, keep_blank_values=True, max_num_fields=20).get("token") or []
    except ValueError:
        return "query string has too many fields"
    if not values:
        return "missing credentials"
    if len(values) > 1:
        return "'token' given more than once"
    if not config.jenkins_token:
        return "query token not accepted here (GRAFANA_BRIDGE_JENKINS_TOKEN is not set)"
    return None if _equal(values[0], config.jenkins_token) else "invalid query token"
