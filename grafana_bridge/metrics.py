"""Prometheus text exposition for the bridge: a few counters and one histogram.

Written by hand (about forty lines) rather than pulling in prometheus_client:
the bridge exposes a fixed, small set of series and must stay a light install.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for k, v in pairs)
    return "{" + inner + "}" if inner else ""


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.hist_counts = [0] * len(BUCKETS)
        self.hist_sum = 0.0
        self.hist_n = 0

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self.counters[key] = self.counters.get(key, 0.0) + value

    def observe(self, seconds: float) -> None:
        with self._lock:
            self.hist_sum += seconds
            self.hist_n += 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.hist_counts[i] += 1

    def render(self, gauges: dict[str, float]) -> str:
        """The exposition text; ``gauges`` are read at scrape time (e.g. the Trello client's counters)."""
        with self._lock:
            lines: list[str] = []
            seen: set[str] = set()
            for (name, labels), value in sorted(self.counters.items()):
                if name not in seen:
                    lines.append(f"# TYPE {name} counter")
                    seen.add(name)
                lines.append(f"{name}{_labels(labels)} {value:g}")
            lines.append("# TYPE grafana_bridge_request_seconds histogram")
            for bound, count in zip(BUCKETS, self.hist_counts):
                lines.append(f'grafana_bridge_request_seconds_bucket{{le="{bound:g}"}} {count}')
            lines.append(f'grafana_bridge_request_seconds_bucket{{le="+Inf"}} {self.hist_n}')
            lines.append(f"grafana_bridge_request_seconds_sum {self.hist_sum:.6f}")
            lines.append(f"grafana_bridge_request_seconds_count {self.hist_n}")
        for name, value in sorted(gauges.items()):
            lines.append(f"# TYPE {name} counter")
            lines.append(f"{name} {value:g}")
        return "\n".join(lines) + "\n"
