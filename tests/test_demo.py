"""``jenkins-trello demo`` tells the story's facts (not byte for byte): card text, comments, fix, alerts, archival."""

from __future__ import annotations

import io
import re

from jenkins_trello.demo import run_demo


def _demo(verbose: bool) -> str:
    out = io.StringIO()
    assert run_demo(out, verbose=verbose) == 0
    return out.getvalue()


def test_the_transcript_tells_the_whole_story():
    text = _demo(False)
    # the failing card's text: the failing tests, the change, its author
    assert "* team/app #2 failed" in text
    assert "**Failing tests: 2**" in text and "ParserTest.test\\_unicode" in text
    assert "Refactor the parser (Ann Lee" in text and "Authors since the last success: Ann Lee" in text
    # the comments, the fix and the archive, under the card's fixed title, at the documented cost
    assert "team/app #3: still failing: commented card http://127.0.0.1:" in text
    assert "card 'team/app #2 fixed in #4' (archived), comments:" in text
    assert "> Still failing: build" in text and "> Fixed: build" in text
    assert text.count("requests: Jenkins 1, Trello 0") == 2 and "requests: Jenkins 2, Trello 3" in text
    # the alert group firing, changing, resolving
    assert "one alert fires (firing)\n    200 created" in text and "* [FIRING:1] HighErrorRate" in text
    assert "card '[FIRING:2] HighErrorRate', comments:" in text and "2 firing now (was 1)" in text
    assert "card '[RESOLVED] HighErrorRate' (archived)" in text and "> Resolved: **HighErrorRate**" in text
    # one Done-list archival, the fresh card kept
    assert "archived 1, kept 1, failed 0" in text and "(20 days in Done) archived" in text
    assert "        * Upgrade the runners" in text and "- Rotate the TLS certificate" in text
    # links point at the emulator, never trello.com; no request lines without --verbose
    assert "trello.com" not in text and " -> 200" not in text
    assert not re.search(r"\.\.\.|…$", text, re.M)  # nothing cut off


def test_verbose_adds_each_request_without_credentials():
    text = _demo(True)
    assert re.search(r"trello POST /1/cards -> 200", text) and re.search(r"jenkins GET /job/team/job/app/.* -> 200",
                                                                      text)
    assert "PUT /1/cards/" in text and "key=" not in text and "token=" not in text
