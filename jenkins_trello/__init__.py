"""Keep one Trello card per failing Jenkins job, with Trello itself as the only state."""

__version__ = "0.1.0"
