"""``/deliveries`` in a real headless browser (Debian's ``chromium``), over a real socket.

The bridge runs against the Trello emulator with basic auth; chromium gets the
credentials in the URL (it sends them after the page's ``WWW-Authenticate:
Basic`` challenge, as a person's browser asks for them). The DOM dump must hold
the rows in order, and the screenshot must be 1200x900, not blank, with one
red-tinted band per failed delivery. CI installs chromium (``.ci/run``); a
machine without it fails here rather than skipping.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

from .bridgeutil import PASSWORD, USER, am_payload, basic_header, bridge, trello
from .pngutil import read_png

ERR_ROW = (0xFF, 0xEC, 0xEB)  # tr.err td background in grafana_bridge/deliveries.py


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: run .ci/run (it installs Debian's chromium) or apt-get install chromium"
    return found


def _run(url: str, tmp: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp}", "--window-size=1200,900", *mode, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def _bands(rows: list[bool]) -> int:
    return sum(1 for i, on in enumerate(rows) if on and (i == 0 or not rows[i - 1]))


def test_deliveries_page_in_headless_chromium(tmp_path):
    with trello() as t, bridge(t) as b:
        assert b.post(am_payload("DiskFull"), headers=basic_header()).status_code == 200
        assert b.post({"not": "an alert"}).status_code == 422
        assert b.post(am_payload("Intruder"), headers={"Authorization": "Bearer wrong-token"}).status_code == 401
        url = b.url.replace("http://", f"http://{USER}:{PASSWORD}@") + "/deliveries"
        dom = _run(url, tmp_path / "dom", "--dump-dom")
        shot = tmp_path / "deliveries.png"
        snap = _run(url, tmp_path / "shot", f"--screenshot={shot}")
        wrong = _run(url.replace(PASSWORD, "wrong-password"), tmp_path / "wrong", "--dump-dom")
        [card_url] = [c["shortUrl"] for c in t.emu.cards(t.board) if "DiskFull" in c["name"]]
    assert dom.returncode == 0, dom.stderr[-500:]
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom.stdout))
    words = " ".join(text.split())
    assert "Deliveries" in words
    rows = re.findall(r'<tr class="(ok|err)">(.*?)</tr>', dom.stdout, re.S)
    assert [cls for cls, _ in rows] == ["err", "err", "ok"], rows  # newest first
    cells = [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for _, row in rows]
    assert cells[0][4:7] == ["401", "rejected", "invalid bearer token"]
    assert cells[1][4:6] == ["422", "rejected"] and "not an alert payload" in cells[1][6]
    assert cells[2][1:6] == ["alertmanager", "DiskFull", "default", "200", "created"]
    # the card link is the card's own url (the emulator's page for it); the delivery made 3 Trello requests
    assert f'href="{html.escape(card_url)}"' in rows[2][1] and cells[2][8] == "3"
    assert PASSWORD not in dom.stdout and "wrong-token" not in dom.stdout

    assert "DiskFull" not in wrong.stdout  # wrong credentials: the browser sees no rows

    assert snap.returncode == 0 and shot.exists(), snap.stderr[-500:]
    image = read_png(shot.read_bytes())
    assert (image.width, image.height) == (1200, 900)
    colours = set().union(*(image.colours(y) for y in range(0, image.height, 10)))
    assert len(colours) > 10, "the screenshot is blank"
    err_rows = [sum(1 for x in range(0, image.width, 8) if image.pixel(x, y) == ERR_ROW) > 50
                for y in range(image.height)]
    assert _bands(err_rows) == 2, "expected the two failed deliveries as two red-tinted rows"
