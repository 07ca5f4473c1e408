"""Server plumbing shared by the Trello and Jenkins emulators.

Both emulators are ordinary HTTP/1.1 servers on real sockets, so that the
product's HTTP stack (requests sessions, connection pooling, timeouts,
python-jenkins) is exercised exactly as in production.  This module owns what
the two have in common: the threaded server with keep-alive, the request log
that tests and benchmarks count, and fault injection (status codes, hangs and
dropped connections) that the retry logic is tested against.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote

__all__ = [
    "FAULT_KINDS",
    "BaseEmulator",
    "Request",
    "RequestRecord",
    "Response",
]

#: Every fault kind that :meth:`BaseEmulator.inject` understands.
FAULT_KINDS = ("500", "502", "503", "429", "timeout", "drop", "drop_after")
_STATUS_FAULTS = frozenset({"500", "502", "503", "429"})

# Query parameters whose values are secrets: the request log keeps the name
# (so a test can see that credentials travelled in the URL) but never the value.
_SECRET_PARAMS = frozenset({"key", "token", "api_key", "apikey", "password"})


class _RecordBase(NamedTuple):
    method: str
    path: str
    query: dict[str, str]


class RequestRecord(_RecordBase):
    """One received request: unpacks as ``(method, path, query_dict)``.

    It also carries ``raw_path`` (as on the wire), ``fault`` (the injected
    fault kind, or None) and ``status`` (the status answered, or None when the
    connection was dropped) as attributes, so a plain 3-tuple comparison still
    works in tests while the details stay available.
    """

    raw_path: str
    fault: str | None
    status: int | None


@dataclass
class Request:
    """A parsed HTTP request handed to an emulator's ``handle`` method."""

    method: str
    raw_path: str
    path: str
    query: dict[str, str]
    headers: Any
    body: bytes
    query_string: str = ""

    def json_body(self) -> Any:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None


@dataclass
class Response:
    """What an emulator answers: status, body bytes and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """A JSON answer (compact, UTF-8, like both real services)."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(status, body, "application/json; charset=utf-8", list(headers))

    @classmethod
    def text(cls, status: int, text: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """A plain-text answer (Trello's error bodies are plain text)."""
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8", list(headers))

    @classmethod
    def html(cls, status: int, html: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """An HTML answer (Jenkins' and proxies' error pages are HTML)."""
        return cls(status, html.encode("utf-8"), "text/html;charset=utf-8", list(headers))


@dataclass
class _Fault:
    kind: str
    method: str | None
    path: re.Pattern[str] | None
    remaining: int | None  # None = until cleared

    def matches(self, method: str, raw_path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.search(raw_path) is not None


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    emulator: BaseEmulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: a client hanging up mid-request is routine in fault tests."""


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, lets the emulator answer, writes it in one send."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # One write per response plus NODELAY: no Nagle/delayed-ACK stalls,
        # which would otherwise add ~40 ms to keep-alive requests.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.emulator._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet: request lines can hold secrets (query credentials)."""

    def version_string(self) -> str:
        return self.server.emulator.server_header

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        emu = self.server.emulator
        body = self._read_body()
        raw_path, _, query_string = self.path.partition("?")
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        req = Request(
            method=self.command,
            raw_path=raw_path,
            path=unquote(raw_path),
            query=query,
            headers=self.headers,
            body=body,
            query_string=query_string,
        )
        record = emu._log_request(req)
        fault = emu._take_fault(req.method, raw_path)
        record.fault = fault
        if fault == "drop":
            self._drop()
            return
        if fault == "timeout":
            emu._stopping.wait(emu.timeout_delay)
            self._drop()
            return
        if fault in _STATUS_FAULTS:
            resp = emu.fault_response(fault, req)
        else:
            try:
                resp = emu.handle(req)
            except Exception as exc:  # a bug in the emulator must still answer
                resp = Response.text(500, f"emulator error: {type(exc).__name__}")
        if fault == "drop_after":
            self._drop()
            return
        record.status = resp.status
        self._write(resp, head=req.method == "HEAD")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch

    def _drop(self) -> None:
        """Close the connection without a byte of answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(self, resp: Response, head: bool = False) -> None:
        reason = _REASONS.get(resp.status, "")
        lines = [
            f"HTTP/1.1 {resp.status} {reason}",
            f"Server: {self.server.emulator.server_header}",
            f"Content-Type: {resp.content_type}",
            f"Content-Length: {len(resp.body)}",
        ]
        lines.extend(f"{k}: {v}" for k, v in resp.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head_bytes if head else head_bytes + resp.body)
        except OSError:
            self.close_connection = True


class BaseEmulator:
    """A local HTTP service on a real socket, with a request log and faults.

    Subclasses implement :meth:`handle` (and :meth:`fault_response` for the
    bodies of injected error statuses).  ``start()`` binds (port 0 picks a
    free port), serves from a daemon thread and returns ``self``; ``stop()``
    closes the listening socket and every open keep-alive connection, so a
    stopped emulator really is unreachable.
    """

    server_header = "emulator"
    #: kinds drawn by :meth:`random_faults` when none are given.
    default_random_kinds: tuple[str, ...] = ("500", "502", "503", "drop", "drop_after")

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.timeout_delay = 3.0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._log_lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._fault_lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._random: tuple[float, random.Random, tuple[str, ...], str | None, re.Pattern[str] | None] | None = None
        self.fault_log: list[tuple[str, str, str]] = []
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        #: TCP connections accepted so far (keep-alive clients reuse one).
        self.connections_accepted = 0

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> BaseEmulator:
        """Bind and serve in a daemon thread; returns self for chaining."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections (held requests wake up)."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> BaseEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """``http://host:port`` without any API prefix."""
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://{self.host}:{self.port}"

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self.connections_accepted += 1
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # -- request log -------------------------------------------------------

    def _log_request(self, req: Request) -> RequestRecord:
        query = {k: ("***" if k.lower() in _SECRET_PARAMS else v) for k, v in req.query.items()}
        record = RequestRecord(req.method, req.path, query)
        record.raw_path = req.raw_path
        record.fault = None
        record.status = None
        with self._log_lock:
            self._log.append(record)
        return record

    @property
    def request_log(self) -> list[RequestRecord]:
        """A snapshot of every request received, in arrival order."""
        with self._log_lock:
            return list(self._log)

    def reset_log(self) -> None:
        """Forget the request and fault logs (e.g. after test setup)."""
        with self._log_lock:
            self._log.clear()
        with self._fault_lock:
            self.fault_log.clear()

    def count(self, method: str | None = None, path_prefix: str | None = None, *, include_faults: bool = True) -> int:
        """How many logged requests match ``method`` and the decoded ``path_prefix``."""
        method = method.upper() if method else None
        with self._log_lock:
            records = list(self._log)
        return sum(
            1
            for r in records
            if (method is None or r.method == method)
            and (path_prefix is None or r.path.startswith(path_prefix))
            and (include_faults or r.fault is None)
        )

    # -- faults ------------------------------------------------------------

    def inject(self, kind: str, *, method: str | None = None, path: str | None = None, times: int | None = 1) -> None:
        """Make the next ``times`` matching requests fail with ``kind``.

        ``path`` is a regex searched in the raw request path (no query);
        ``times=None`` keeps the fault until :meth:`clear_faults`.  Injected
        faults are consumed in injection order, the first match wins.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        fault = _Fault(kind, method.upper() if method else None, re.compile(path) if path else None, times)
        with self._fault_lock:
            self._faults.append(fault)

    def random_faults(
        self,
        rate: float,
        seed: int,
        kinds: Iterable[str] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Fail a seeded-random share ``rate`` of matching requests.

        Injected faults take precedence.  ``rate=0`` turns random faults off.
        """
        chosen = tuple(kinds) if kinds is not None else self.default_random_kinds
        for kind in chosen:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        with self._fault_lock:
            if rate <= 0:
                self._random = None
            else:
                self._random = (
                    rate,
                    random.Random(seed),
                    chosen,
                    method.upper() if method else None,
                    re.compile(path) if path else None,
                )

    def clear_faults(self) -> None:
        """Drop every pending injected fault and turn random faults off."""
        with self._fault_lock:
            self._faults.clear()
            self._random = None

    @property
    def pending_faults(self) -> int:
        """How many injected faults have not fired yet (unlimited ones count 1)."""
        with self._fault_lock:
            return len(self._faults)

    def _take_fault(self, method: str, raw_path: str) -> str | None:
        with self._fault_lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, raw_path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            del self._faults[i]
                    self.fault_log.append((fault.kind, method, raw_path))
                    return fault.kind
            if self._random is not None:
                rate, rng, kinds, f_method, f_path = self._random
                if (f_method is None or f_method == method) and (f_path is None or f_path.search(raw_path)):
                    if rng.random() < rate:
                        kind = rng.choice(kinds)
                        self.fault_log.append((kind, method, raw_path))
                        return kind
        return None

    # -- to implement ------------------------------------------------------

    def handle(self, req: Request) -> Response:  # pragma: no cover - abstract
        """Answer one request (called from a server thread)."""
        raise NotImplementedError

    def fault_response(self, kind: str, req: Request) -> Response:
        """The answer for an injected status fault (overridden per service)."""
        return Response.text(int(kind), _REASONS.get(int(kind), "error"))
