"""``application`` for any WSGI server, configured from the environment.

    gunicorn --workers 2 --threads 16 --timeout 30 'grafana_bridge.wsgi:application'

Set GRAFANA_BRIDGE_NO_AUTH=1 to run without credentials (the same as ``serve --no-auth``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from jenkins_trello.config import TrelloConfig

from .app import BridgeApp, Options
from .auth import AuthConfig


def from_env(env: Mapping[str, str] = os.environ, **overrides: bool) -> BridgeApp:
    options = Options(
        no_auth=overrides.get("no_auth", env.get("GRAFANA_BRIDGE_NO_AUTH", "") in ("1", "true", "yes")),
        ignore_no_data=overrides.get("ignore_no_data",
                                     env.get("GRAFANA_BRIDGE_IGNORE_NO_DATA", "") in ("1", "true", "yes")),
    )
    return BridgeApp(TrelloConfig.from_env(env), AuthConfig.from_env(env), options)


def __getattr__(name: str) -> BridgeApp:
    # built on first use, so importing the module (e.g. for --help or tests) needs no configuration
    if name == "application":
        app = from_env()
        globals()["application"] = app
        return app
    raise AttributeError(name)
