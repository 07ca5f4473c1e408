"""Webhook bridge: Grafana and Alertmanager alert groups as Trello cards, plus Done-list archival."""
