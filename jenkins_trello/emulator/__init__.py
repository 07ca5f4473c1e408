"""Local Trello and Jenkins emulators that speak the real APIs over real sockets.

They ship with the package so that ``jenkins-trello demo``, the end-to-end
tests and users' own tests can run the whole lifecycle without credentials.
"""

from .jenkins import JenkinsEmulator
from .trello import TrelloEmulator

__all__ = ["JenkinsEmulator", "TrelloEmulator"]
