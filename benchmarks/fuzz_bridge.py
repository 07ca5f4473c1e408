"""Fuzz the webhook bridge over real sockets: mutated fixture bodies in all three formats, never a 500.

    python benchmarks/fuzz_bridge.py [--bodies 3000] [--seed 1] [--senders 8] [--large 24]

Starts the Trello emulator and the bridge (waitress as ``grafana-bridge serve`` runs it, in-process), then
posts mutated copies of the fixtures in tests/fixtures (Alertmanager, Grafana unified, Grafana legacy):
lone surrogates in every string field, huge/negative/float/bool numbers where strings belong and strings
where numbers belong, calendar-edge and unreadable dates, nested junk, deleted and duplicated keys. Every
mutated body is posted twice (a redelivery) and the second answer must make no Trello write. Then a burst
of large bodies at once, for peak memory. Prints bodies tried, answers by status code, redeliveries that
wrote, the slowest answer and the peak RSS; exits 1 on any 500, any write on a redelivery or any answer
over 25 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grafana_bridge.payloads import parse  # noqa: E402
from jenkins_trello.trello import Pacer  # noqa: E402
from tests.bridgeutil import am_alert, am_payload, bridge, fixture, fixture_names, trello  # noqa: E402

DATES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "garbage", "",
         "2024-02-30T10:00:00Z", "9999-12-31T23:59:59.999999999Z", "2024-05-01T10:00:00+99:99", "٢٠٢٤-05-01T10:00:00Z"]
NUMBERS = [10**30, -(10**30), -1, 0, 1.5, -0.0, 1e308, 5e-324, True, False, None, 2**63, float("nan")]
STRINGS = ["garbage", "", "1", "-1", "1e400", "\ud800", "\udfff\ud800", "\x00", "NaN", "true", "x" * 5000]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d"]


def _junk(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(6 if depth < 4 else 3)
    if kind == 0:
        return rng.choice(NUMBERS)
    if kind == 1:
        return rng.choice(STRINGS)
    if kind == 2:
        return None
    if kind == 3:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 4:
        return {rng.choice(STRINGS + ["status", "labels", "alertname"]): _junk(rng, depth + 1)
                for _ in range(rng.randrange(4))}
    return [[[[_junk(rng, depth + 3)]]]]


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _surrogate_everywhere(doc: Any, rng: random.Random) -> Any:
    if isinstance(doc, str):
        bad = rng.choice(SURROGATES)
        return rng.choice([doc + bad, bad + doc, doc[: len(doc) // 2] + bad + doc[len(doc) // 2:]])
    if isinstance(doc, list):
        return [_surrogate_everywhere(v, rng) for v in doc]
    if isinstance(doc, dict):
        return {(k + rng.choice(SURROGATES) if rng.random() < 0.2 else k): _surrogate_everywhere(v, rng)
                for k, v in doc.items()}
    return doc


def _dumps_with_duplicates(doc: Any, rng: random.Random) -> str:
    """JSON text where some objects repeat a key (JSON allows it; the last one wins in Python)."""
    if isinstance(doc, dict):
        items = [(k, v) for k, v in doc.items()]
        if items and rng.random() < 0.3:
            k, _ = rng.choice(items)
            items.insert(rng.randrange(len(items) + 1), (k, _junk(rng)))
        return "{" + ",".join(f"{json.dumps(k)}:{_dumps_with_duplicates(v, rng)}" for k, v in items) + "}"
    if isinstance(doc, list):
        return "[" + ",".join(_dumps_with_duplicates(v, rng) for v in doc) + "]"
    return json.dumps(doc)


def mutate(doc: Any, rng: random.Random) -> bytes:
    """One mutated body (bytes as sent: JSON escapes for surrogates, NaN allowed as Python writes it)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        paths = _paths(doc)
        path = rng.choice(paths)
        try:
            target = _get(doc, path)
        except (KeyError, IndexError, TypeError):
            continue
        if op == 0:
            doc = _surrogate_everywhere(doc, rng)
        elif op == 1 and isinstance(target, str):
            doc = _set(doc, path, rng.choice(NUMBERS))
        elif op == 2 and isinstance(target, (int, float)):
            doc = _set(doc, path, rng.choice(STRINGS))
        elif op == 3:
            date_paths = [p for p in paths if p and p[-1] in ("startsAt", "endsAt")]
            if date_paths:
                doc = _set(doc, rng.choice(date_paths), rng.choice(DATES))
        elif op == 4 and path:
            doc = _set(doc, path, _junk(rng))
        elif op == 5 and path:
            parent = _get(doc, path[:-1])
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list) and parent:
                parent.pop(path[-1])
        elif op == 6:
            return _dumps_with_duplicates(doc, rng).encode("utf-8")
        elif op == 7 and isinstance(doc, dict):
            doc[rng.choice(["orgId", "truncatedAlerts", "version", "status", "receiver", "groupLabels"])] = _junk(rng)
    return json.dumps(doc).encode("utf-8")


def _group(raw: bytes, name: str) -> str:
    """The alert group a body lands in (as the bridge will see it), or its fixture's name when it parses not."""
    try:
        return parse(json.loads(raw)).identity
    except Exception:  # noqa: BLE001 - any body the bridge will refuse
        return name


def large_body(i: int) -> bytes:
    alerts = [am_alert(f"Large{i}", instance=f"h{j}") for j in range(450)]
    for a in alerts:
        a["annotations"]["description"] = "y" * 1900
    return json.dumps(am_payload(f"Large{i}", alerts)).encode()


def run(bodies: int, seed: int, senders: int = 8, large: int = 0, out: Any = sys.stdout) -> dict[str, Any]:
    """Fuzz; returns the figures (also printed to ``out``)."""
    logging.getLogger("grafana_bridge").setLevel(logging.CRITICAL)
    logging.getLogger("waitress").setLevel(logging.CRITICAL)
    rng = random.Random(seed)
    seeds = [(name, fixture(name)) for name in fixture_names()]
    # Bodies of one alert group (mutations may move a body into another fixture's group) go in turn through one
    # sender, so a body's redelivery follows it with no other body of the
    # group in between (else a write on the redelivery would be another body's change, not a repeat).
    lanes: dict[str, list[tuple[str, bytes]]] = {}
    for _ in range(bodies):
        name, doc = rng.choice(seeds)
        raw = mutate(doc, rng)
        lanes.setdefault(_group(raw, name), []).append((name, raw))
    codes: Counter[int] = Counter()
    formats: Counter[str] = Counter()
    redelivery_writes = 0
    slowest = 0.0
    failures: list[str] = []
    with trello() as t, bridge(t, threads=senders,  # the pacer opened up: the emulator enforces no rate limit here
                               client=t.client(3.0, pacer=Pacer(max_requests=10**6, interval=10.0))) as b:
        def send(raw: bytes) -> tuple[int, int | None, float, bytes]:
            t0 = time.monotonic()
            r1 = b.post(None, raw=raw, timeout=30)
            t1 = time.monotonic() - t0
            writes = None
            if r1.status_code == 200:
                r2 = b.post(None, raw=raw, timeout=30)
                writes = r2.json().get("writes") if r2.status_code == 200 else -r2.status_code
            return r1.status_code, writes, t1, raw

        def lane(items: list[tuple[str, bytes]]) -> list[tuple[str, tuple[int, int | None, float, bytes]]]:
            return [(name, send(raw)) for name, raw in items]

        started = time.monotonic()
        with ThreadPoolExecutor(senders) as pool:
            for results in pool.map(lane, lanes.values()):
                for name, (code, writes, took, raw) in results:
                    codes[code] += 1
                    formats[f"{name.rsplit('-', 1)[0]} {code}"] += 1
                    slowest = max(slowest, took)
                    if code >= 500 and len(failures) < 5:
                        failures.append(raw[:300].decode("utf-8", "replace"))
                    if writes:
                        redelivery_writes += 1
        wall = time.monotonic() - started
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        large_codes: Counter[int] = Counter()
        large_slowest = 0.0
        if large:
            payloads = [large_body(i) for i in range(large)]

            def send_large(raw: bytes) -> tuple[int, float]:
                t0 = time.monotonic()
                r = b.post(None, raw=raw, timeout=30)
                return r.status_code, time.monotonic() - t0

            with ThreadPoolExecutor(large) as pool:
                for code, took in pool.map(send_large, payloads):
                    large_codes[code] += 1
                    large_slowest = max(large_slowest, took)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = {
        "bodies": bodies, "answers": dict(sorted(codes.items())), "by_format": dict(formats),
        "redelivery_writes": redelivery_writes,
        "slowest_s": round(slowest, 2), "wall_s": round(wall, 1), "failures": failures,
        "large": large, "large_answers": dict(sorted(large_codes.items())), "large_slowest_s": round(large_slowest, 2),
        "peak_rss_mb_before_large": round(rss_before / 1024, 1), "peak_rss_mb": round(rss_after / 1024, 1),
    }
    print(f"bodies tried: {bodies} (seed {seed}, {senders} senders, {wall:.1f} s), each delivered twice when 200",
          file=out)
    print("answers by status: " + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())), file=out)
    print("by format: " + ", ".join(f"{k}: {n}" for k, n in sorted(formats.items())), file=out)
    print(f"redeliveries that wrote to Trello: {redelivery_writes}; slowest answer {slowest:.2f} s", file=out)
    if large:
        print(f"{large} large bodies at once ({len(large_body(0)) // 1024} KiB each): "
              + ", ".join(f"{c}: {n}" for c, n in sorted(large_codes.items()))
              + f"; slowest {large_slowest:.2f} s; peak RSS {rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MB",
              file=out)
    for f in failures:
        print(f"5xx for: {f!r}", file=out)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bodies", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--large", type=int, default=24, help="large bodies posted at once at the end (0: none)")
    args = parser.parse_args()
    f = run(args.bodies, args.seed, args.senders, args.large)
    bad = (any(c >= 500 for c in f["answers"]) or any(c >= 500 and c != 503 for c in f["large_answers"])
           or f["redelivery_writes"] or max(f["slowest_s"], f["large_slowest_s"]) >= 25)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
