"""The bridge's Prometheus metrics: every metric object is defined here, on prometheus_client.

Why prometheus_client rather than our own text: under gunicorn each worker is
its own process, and only the library's multiprocess mode (one memory-mapped
file per worker, summed at scrape time) gives totals that do not depend on
which worker answers the scrape.

* One registry per ``Metrics`` (per app), so tests that build several apps in
  one process never collide on a name (a registry refuses a name twice).
* Single process (``serve``, one gunicorn worker without the set-up): the
  app's registry, with the library's process, platform and GC collectors.
* Multiprocess (``PROMETHEUS_MULTIPROC_DIR`` set before start, see
  ``grafana_bridge.gunicorn_conf``): values go to the directory's files, and a
  scrape builds a fresh registry with a ``MultiProcessCollector`` over it, so
  any worker answers with the sum of all. The library has no process metrics in
  that mode. The bridge has no gauges, so no ``multiprocess_mode`` to choose.
* Labels take values from fixed sets only (``bounded``): never a job, a group,
  a board or a ``?source=`` name, so the number of series cannot grow with
  traffic.

prometheus_client is imported when a ``Metrics`` is built, not with this
module: AWS Lambda has no ``/metrics`` and uses ``NoMetrics``, so it neither
pays for the import nor needs a multiprocess directory.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

#: Latency buckets (seconds) up to the answer budget (22 s) and past it.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0)

#: The values each label may take; anything else is counted as ``other``.
PATHS = ("/alerts", "/jenkins", "/deliveries", "/healthz", "/metrics")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")
#: ``source`` of a webhook: the payload format (never the ``?source=`` sender name), ``unknown`` before parsing.
WEBHOOK_SOURCES = ("alertmanager", "grafana", "grafana-legacy", "jenkins", "unknown")
WEBHOOK_OUTCOMES = (
    # what the card underwent (jenkins_trello.lifecycle.describe), or ignored (no route, legacy paused)
    "created", "updated", "moved", "commented", "archived", "reopened", "unchanged", "ignored",
    # a Jenkins event that changed nothing (the verdict, or already applied by this bridge)
    "nothing",
    # answered without a change
    "rejected_400", "rejected_401", "rejected_413", "rejected_422", "busy", "trello_unavailable", "jenkins_unavailable",
    "error",
)
#: jenkins_trello.trello.REQUEST_OUTCOMES, repeated so that this list of label values is whole in one place.
TRELLO_OUTCOMES = ("ok", "rate_limited", "server_error", "client_error", "timeout", "connection_error")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def bounded(value: str, allowed: Collection[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``other`` (pure): a label never takes a value from outside."""
    return value if value in allowed else "other"


def multiprocess_dir(env: Mapping[str, str] = os.environ) -> str | None:
    """The directory prometheus_client's multiprocess mode uses, or None (single process).

    The same variables the library reads when it is imported (the lower-case one is its older spelling).
    """
    return env.get("PROMETHEUS_MULTIPROC_DIR") or env.get("prometheus_multiproc_dir") or None


class NoMetrics:
    """Counts nothing: for AWS Lambda, where each instance would count alone and no scraper can reach it."""

    def http_request(self, path: str, method: str, code: int, seconds: float) -> None:
        pass

    def webhook(self, source: str, outcome: str) -> None:
        pass

    def trello_request(self, method: str, outcome: str, seconds: float) -> None:
        pass

    def board_read(self) -> None:
        pass


class Metrics(NoMetrics):
    """The bridge's metric objects on their own registry; ``render`` is the ``/metrics`` answer.

    Raises ValueError when ``PROMETHEUS_MULTIPROC_DIR`` names no directory
    (the library would fail on the first count otherwise, inside a request).
    """

    def __init__(self, env: Mapping[str, str] = os.environ) -> None:
        import prometheus_client as pc

        pc.disable_created_metrics()  # no *_created series: the same output in single- and multiprocess mode
        self.multiprocess = multiprocess_dir(env)
        if self.multiprocess and not os.path.isdir(self.multiprocess):
            raise ValueError(f"PROMETHEUS_MULTIPROC_DIR={self.multiprocess[:200]!r} is not a directory: create it "
                             "(empty) before starting the bridge, or unset it")
        self.registry = reg = pc.CollectorRegistry()
        if not self.multiprocess:
            pc.ProcessCollector(registry=reg)
            pc.PlatformCollector(registry=reg)
            pc.GCCollector(registry=reg)
        self._http = pc.Counter("grafana_bridge_http_requests", "HTTP requests answered, by route and status code",
                                ("path", "method", "code"), registry=reg)
        self._http_seconds = pc.Histogram("grafana_bridge_request_duration_seconds",
                                          "Time to answer an HTTP request, by route", ("path",), buckets=BUCKETS,
                                          registry=reg)
        self._webhooks = pc.Counter("grafana_bridge_webhooks", "Webhooks received, by payload format and outcome",
                                    ("source", "outcome"), registry=reg)
        self._trello = pc.Counter("grafana_bridge_trello_requests",
                                  "Requests sent to Trello (each retry counts), by HTTP method and outcome",
                                  ("method", "outcome"), registry=reg)
        self._trello_seconds = pc.Histogram("grafana_bridge_trello_request_duration_seconds",
                                            "Time of one request to Trello, by HTTP method", ("method",),
                                            buckets=BUCKETS, registry=reg)
        self._board_reads = pc.Counter("grafana_bridge_board_reads",
                                       "Board reads (concurrent webhooks share one read)", registry=reg)

    def http_request(self, path: str, method: str, code: int, seconds: float) -> None:
        path = bounded(path, PATHS)
        self._http.labels(path, bounded(method, HTTP_METHODS), str(code) if 100 <= code <= 599 else "other").inc()
        self._http_seconds.labels(path).observe(seconds)

    def webhook(self, source: str, outcome: str) -> None:
        self._webhooks.labels(bounded(source, WEBHOOK_SOURCES), bounded(outcome, WEBHOOK_OUTCOMES)).inc()

    def trello_request(self, method: str, outcome: str, seconds: float) -> None:
        method = bounded(method.upper(), HTTP_METHODS)
        self._trello.labels(method, bounded(outcome, TRELLO_OUTCOMES)).inc()
        self._trello_seconds.labels(method).observe(seconds)

    def board_read(self) -> None:
        self._board_reads.inc()

    def render(self) -> bytes:
        """The exposition text: this app's registry, or (multiprocess) every worker's files summed."""
        import prometheus_client as pc

        registry: Any = self.registry
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = pc.CollectorRegistry()  # fresh per scrape, as the library's multiprocess docs ask
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess)
        return pc.generate_latest(registry)


# --------------------------------------------------------------------------- archival: node_exporter textfile

#: The archival run's series in its ``--metrics-file``. All are gauges (values of the last run, not running totals);
#: the per-sweep ones carry ``board`` (an id from the policy file or TRELLO_BOARD) and ``list`` (its Done list),
#: bounded by the file.
ARCHIVE_LAST_RUN = "grafana_bridge_archive_last_run_timestamp_seconds"
ARCHIVE_LAST_SUCCESS = "grafana_bridge_archive_last_success_timestamp_seconds"
ARCHIVE_SUCCESS = "grafana_bridge_archive_last_run_success"


class SweepCounts(NamedTuple):
    """One sweep of an archival run, as its textfile series show it."""

    board: str
    list: str
    ok: bool
    archived: int
    kept: int
    failed: int


def archive_registry(sweeps: Sequence[SweepCounts], *, ok: bool, finished: float, seconds: float,
                     previous_success: float | None) -> Any:
    """The series of an archival run (pure): the run, its sweeps, and the last successful run's time.

    A failed run keeps ``previous_success`` (read back from the file it replaces, None: never), so an alert on
    ``time() - grafana_bridge_archive_last_success_timestamp_seconds`` fires however the runs fail.
    """
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily

    last_success = finished if ok else previous_success
    families = [
        GaugeMetricFamily(ARCHIVE_LAST_RUN, "When the last archival run ended (Unix time)", value=finished),
        GaugeMetricFamily(ARCHIVE_SUCCESS, "1 if the last archival run succeeded (exit 0), else 0",
                          value=1 if ok else 0),
        GaugeMetricFamily("grafana_bridge_archive_duration_seconds", "How long the last archival run took",
                          value=round(seconds, 3)),
    ]
    if last_success is not None:
        families.append(GaugeMetricFamily(ARCHIVE_LAST_SUCCESS, "When the last successful archival run ended "
                                                                "(Unix time)", value=last_success))
    per_sweep = [
        ("grafana_bridge_archive_sweep_success", "1 if the sweep of this list succeeded in the last run, else 0",
         lambda s: 1 if s.ok else 0),
        ("grafana_bridge_archive_cards_archived", "Cards the last run archived from this list",
         lambda s: s.archived),
        ("grafana_bridge_archive_cards_kept", "Cards the last run kept in this list (not old enough)",
         lambda s: s.kept),
        ("grafana_bridge_archive_cards_failed", "Cards the last run could not archive from this list",
         lambda s: s.failed),
    ]
    for name, doc, value in per_sweep:
        family = GaugeMetricFamily(name, doc, labels=("board", "list"))
        for s in sweeps:
            family.add_metric((s.board, s.list), value(s))
        families.append(family)
    registry = CollectorRegistry()
    registry.register(_Fixed(families))
    return registry


class _Fixed:
    """A collector of families made beforehand (what ``archive_text`` exposes)."""

    def __init__(self, families: Sequence[Any]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Any]:
        return iter(self._families)


def previous_success(path: str) -> float | None:
    """The last success's time in an earlier textfile at ``path``, or None (no file, unreadable, never)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(1 << 20)
        for family in text_string_to_metric_families(text):
            if family.name == ARCHIVE_LAST_SUCCESS and family.samples:
                return float(family.samples[0].value)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return None


def write_archive_textfile(path: str, sweeps: Sequence[SweepCounts], *, ok: bool, finished: float,
                           seconds: float) -> None:
    """Replace ``path`` atomically: prometheus_client writes a temporary file beside it, then renames it.

    That is what node_exporter's textfile collector asks for (it never reads a half-written file, and
    reads only ``*.prom``, so the temporary file is not picked up). Raises OSError when it cannot write.
    """
    from prometheus_client import write_to_textfile

    write_to_textfile(path, archive_registry(sweeps, ok=ok, finished=finished, seconds=seconds,
                                             previous_success=previous_success(path)))
