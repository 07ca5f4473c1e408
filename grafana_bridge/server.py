"""waitress, hardened for the bridge: slow clients are cut off, and quick answers never queue behind Trello work.

Three things plain waitress does not do:

- A client that sends its request one header line every few seconds is never
  idle, so ``channel_timeout`` never closes it, and a hundred of them fill
  ``connection_limit``. Here a request must be complete (header and body)
  within ``REQUEST_SECONDS`` of its first byte, checked every second, and the
  connection limit is raised as far as the process' file descriptors allow
  (with ``poll``, which has no 1024-descriptor ceiling like ``select``).
- waitress hands every complete request to one FIFO pool. In an alert storm
  all its threads may sit in paced Trello work, and ``/healthz`` (or the 401
  for a webhook without credentials) would wait behind them. Here only
  webhooks that carry credentials (every webhook with ``--no-auth``) go to the
  worker pool; everything else has a small pool of its own.
- The time a request waited for a thread is handed to the app
  (``QUEUED_KEY``), so that the wait counts against the 25 s answer budget.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask

from .app import MAX_BODY, QUEUED_KEY

__all__ = ["REQUEST_SECONDS", "BridgeServer", "connection_limit", "create_server", "webhook_lane"]

REQUEST_SECONDS = 10.0
FAST_THREADS = 2
MAX_CONNECTIONS = 1000
# waitress refuses a body whose length is >= its limit (and counts chunk framing), so its limit sits a little
# above the app's: the app answers 413 for exactly "over 1 MiB", waitress only stops absurd bodies early.
BODY_SLACK = 64 * 1024


class _Task(WSGITask):
    def get_environment(self) -> dict[str, Any]:
        environ = super().get_environment()
        queued = getattr(self.request, "bridge_queued", None)
        if queued is not None:
            environ[QUEUED_KEY] = queued
        return environ


class _Channel(HTTPChannel):
    task_class = _Task
    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        if data and self.request is None:
            self.request_started = time.monotonic()  # the first byte of a new request
        return super().received(data)


class BridgeServer(TcpWSGIServer):
    """TcpWSGIServer whose maintenance also closes connections that take too long to send one request."""

    channel_class = _Channel

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - REQUEST_SECONDS
        for channel in list(self.active_channels.values()):
            request = getattr(channel, "request", None)
            started = getattr(channel, "request_started", None)
            if (request is not None and not request.completed and not channel.requests
                    and started is not None and started < cutoff):
                channel.will_close = True


def webhook_lane(no_auth: bool) -> Callable[[Any], bool]:
    """Which complete requests may do Trello work: POST /alerts and /jenkins with credentials (any, with
    ``no_auth``); for /jenkins a ``token`` in the query string counts as credentials."""

    def is_webhook(request: Any) -> bool:
        if getattr(request, "error", None) or request.command != "POST" or request.path not in ("/alerts",
                                                                                                 "/jenkins"):
            return False
        headers = request.headers
        if no_auth or "AUTHORIZATION" in headers or "X_GRAFANA_ALERTING_SIGNATURE" in headers:
            return True
        return request.path == "/jenkins" and "token=" in str(getattr(request, "query", "") or "")

    return is_webhook


class LaneDispatcher(ThreadedTaskDispatcher):
    """Webhooks to the worker pool, every other request to a small pool of its own; stamps the queue time."""

    def __init__(self, threads: int, is_webhook: Callable[[Any], bool], fast_threads: int = FAST_THREADS) -> None:
        super().__init__()
        self.is_webhook = is_webhook
        self.fast = ThreadedTaskDispatcher()
        self.set_thread_count(threads)
        self.fast.set_thread_count(fast_threads)

    def add_task(self, task: Any) -> None:
        # called by waitress with the channel's requests_lock held: requests[0] is the one to serve next
        requests = getattr(task, "requests", None)
        request = requests[0] if requests else None
        if request is not None:
            request.bridge_queued = time.monotonic()
            if not self.is_webhook(request):
                self.fast.add_task(task)
                return
        super().add_task(task)

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        fast = self.fast.shutdown(cancel_pending, timeout)
        return super().shutdown(cancel_pending, timeout) and fast


def connection_limit(threads: int, wanted: int = MAX_CONNECTIONS) -> int:
    """As many connections as the process' descriptor limit leaves room for (each takes one, plus buffers)."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        soft = 1024
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(100, min(wanted, soft - 2 * threads - 64))


def create_server(app: Any, *, host: str = "127.0.0.1", port: int = 8080, threads: int = 32,
                  no_auth: bool = False, **adj: Any) -> Any:
    """A waitress server for the bridge (``.run()`` serves, ``.close()`` stops); ``adj`` overrides settings."""
    adj.setdefault("channel_timeout", 30)
    adj.setdefault("cleanup_interval", 1)
    adj.setdefault("connection_limit", connection_limit(threads))
    adj.setdefault("asyncore_use_poll", True)
    adj.setdefault("max_request_body_size", MAX_BODY + BODY_SLACK)
    adj.setdefault("ident", "grafana-bridge")
    adj.setdefault("clear_untrusted_proxy_headers", True)
    adjustments = Adjustments(host=host, port=port, threads=threads, **adj)
    dispatcher = LaneDispatcher(threads, webhook_lane(no_auth))
    smap: dict[int, Any] = {}
    servers = [BridgeServer(app, smap, dispatcher=dispatcher, adj=adjustments, sockinfo=info)
               for info in adjustments.listen]
    if len(servers) == 1:
        return servers[0]
    listen = [(s.effective_host, s.effective_port) for s in servers]
    return MultiSocketServer(smap, adjustments, listen, dispatcher, servers[-1].log_info)
