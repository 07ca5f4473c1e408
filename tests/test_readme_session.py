"""The README's "Try it by hand" block, run as it is written: real emulator processes, the real commands, bash.

Only the two ports are swapped for free ones (other test runs may hold 8901 and
8902); every command is the README's own, so the README cannot drift from what
works.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from .bridgeutil import free_port

README = Path(__file__).resolve().parent.parent / "README.md"


def session_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Try it by hand", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README's 'Try it by hand' section has no sh block"
    return match.group(1)


def test_the_readme_session_replays_a_whole_lifecycle(tmp_path):
    assert shutil.which("curl"), "the README session uses curl"
    script = session_block()
    assert "jenkins-trello notify" in script and "emulator build" in script
    trello_port, jenkins_port = free_port(), free_port()
    script = script.replace("8901", str(trello_port)).replace("8902", str(jenkins_port))
    bindir = Path(sys.executable).parent  # the venv: python and jenkins-trello
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRELLO_", "JENKINS_"))}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    # its own process group, so a session that fails half-way leaves no emulator behind
    proc = subprocess.Popen(["bash", "-e", "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    assert proc.returncode == 0, err
    # both emulators announced their settings; the build client printed the numbers
    assert f"export TRELLO_API_URL=http://127.0.0.1:{trello_port}/1" in err
    assert f"export JENKINS_URL=http://127.0.0.1:{jenkins_port}/" in err
    assert "team/app #1 finished FAILURE" in err and "team/app #3 finished SUCCESS" in err
    # notify's lines, with the card's link on the emulator
    link = re.search(rf"team/app #1: first failure: created card (http://127\.0\.0\.1:{trello_port}/c/\w+)", out)
    assert link, out
    assert f"team/app #2: still failing: commented card {link.group(1)}" in out
    assert f"team/app #3: fixed after #2 FAILURE: archived card {link.group(1)}" in out
    first, second = out.split("board 'CI'")[1:3]
    # the first look: the card and its text
    assert "[To Do]" in first and "* team/app #1 failed" in first
    assert "app.tests.ParserTest.test\\_unicode" in first and "Refactor the parser (ann" in first
    assert "Authors since the last success: ann" in first
    # the second: nothing open, the card archived under its fixed title
    assert "[To Do] (empty)" in second and "archived: 1" in second and "- team/app #1 fixed in #3" in second
    assert "demo-token" not in out  # notify never prints a secret (the emulators' exports go to stderr)
