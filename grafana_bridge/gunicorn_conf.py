"""gunicorn settings for the bridge: the hooks that make ``/metrics`` right with several workers.

    export PROMETHEUS_MULTIPROC_DIR=/run/grafana-bridge-metrics
    gunicorn --config python:grafana_bridge.gunicorn_conf --workers 2 --threads 16 --timeout 30 \\
        'grafana_bridge.wsgi:application'

Each worker is its own process with its own counters. With
``PROMETHEUS_MULTIPROC_DIR`` set (in the shell or the unit file, before
gunicorn starts, so that every worker inherits it) prometheus_client writes
each worker's values to a file there and ``/metrics`` sums them all, whichever
worker answers. Per the library's multiprocess docs:

* the directory is emptied of the previous run's files before the first
  worker starts (``on_starting``): old counts would otherwise be added again;
* a worker that exits (``child_exit``) is marked dead, which drops its live
  gauges; its counters stay in the sums, so a restarted worker loses no count.

Without ``PROMETHEUS_MULTIPROC_DIR`` the hooks do nothing and every worker
answers ``/metrics`` with its own counts only (fine for ``--workers 1``).
Any other setting can still be given on the command line.
"""

from __future__ import annotations

import glob
import os
from typing import Any


def on_starting(server: Any) -> None:
    """Empty (or create) the multiprocess directory before any worker exists: only ``*.db`` files go."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    for name in glob.glob(os.path.join(path, "*.db")):
        os.remove(name)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone (stopped, crashed or recycled): tell prometheus_client, as its docs ask."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
