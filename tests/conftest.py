"""Shared test settings: deterministic hypothesis runs in CI, no per-example deadline on a loaded 2-core box."""

import os

import pytest
from hypothesis import HealthCheck, settings

from .bridgeutil import bridge, trello

settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def t():
    """An emulated Trello with the board the bridge tests use."""
    with trello() as tr:
        yield tr


@pytest.fixture
def b(t):
    """A bridge on a real socket in front of ``t``, with the set-up requests forgotten."""
    with bridge(t) as br:
        t.emu.reset_log()
        yield br
