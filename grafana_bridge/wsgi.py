"""``application`` for any WSGI server, configured from the environment and the policy file.

    gunicorn --workers 2 --threads 16 --timeout 30 'grafana_bridge.wsgi:application'

The policy file is ``$JENKINS_TRELLO_CONFIG`` (none: the environment alone). Each
worker reads it when it builds the app; under gunicorn, ``kill -HUP <master>``
restarts the workers gracefully, and the new workers read the file again (a
bad file makes the new workers fail to start: check it with
``jenkins-trello check-config`` first).

Set GRAFANA_BRIDGE_NO_AUTH=1 to run without credentials (the same as ``serve --no-auth``).

With several workers, give ``/metrics`` the totals of all of them (prometheus_client's multiprocess mode):

    export PROMETHEUS_MULTIPROC_DIR=/run/grafana-bridge-metrics   # set in the shell, before gunicorn starts
    gunicorn --config python:grafana_bridge.gunicorn_conf --workers 2 'grafana_bridge.wsgi:application'
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from jenkins_trello.config import TrelloConfig
from jenkins_trello.policy import Policy, load_policy

from .app import BridgeApp, Options
from .auth import AuthConfig
from .deliveries import capacity_from_env
from .edge import trello_env
from .jenkins_hook import jenkins_access


def from_env(env: Mapping[str, str] = os.environ, policy: Policy | None = None, **overrides: bool) -> BridgeApp:
    """The app from ``env`` and ``policy`` (default: ``$JENKINS_TRELLO_CONFIG``, else the environment alone).

    Raises ConfigError (PolicyError included) for a missing setting or a bad file.
    """
    if policy is None:
        policy = load_policy(None, env)
    options = Options(
        no_auth=overrides.get("no_auth", env.get("GRAFANA_BRIDGE_NO_AUTH", "") in ("1", "true", "yes")),
        ignore_no_data=overrides.get("ignore_no_data",
                                     env.get("GRAFANA_BRIDGE_IGNORE_NO_DATA", "") in ("1", "true", "yes")),
        metrics=overrides.get("metrics", True),
    )
    return BridgeApp(TrelloConfig.from_env(trello_env(env, policy)), AuthConfig.from_env(env), options,
                     policy=policy, jenkins=jenkins_access(env), deliveries_kept=capacity_from_env(env))


def __getattr__(name: str) -> BridgeApp:
    # built on first use, so importing the module (e.g. for --help or tests) needs no configuration
    if name == "application":
        app = from_env()
        globals()["application"] = app
        return app
    raise AttributeError(name)
