"""A bounded run of benchmarks/fuzz_bridge.py: mutated fixture bodies over real sockets, never a 500."""

from __future__ import annotations

import importlib.util
import io
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_bridge", ROOT / "benchmarks" / "fuzz_bridge.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mutations_cover_what_they_claim():
    fz = _fuzz()
    rng = random.Random(3)
    from .bridgeutil import fixture

    bodies = [fz.mutate(fixture("alertmanager-2.json"), rng) for _ in range(400)]
    joined = b"\n".join(bodies)
    for needle in (b"\\ud8", b"\\udf", b"9999-12-31T23:59:59-23:59", b"0001-01-01T00:00:00Z", b"garbage",
                   b"1e+308", b"NaN", b"[[[["):
        assert needle in joined, needle
    assert any(b.count(b'"status"') > b.count(b'"alerts"') + 1 for b in bodies)  # duplicated keys, or more


def test_bounded_fuzz_run_finds_no_500_no_repeat_write_and_no_slow_answer():
    out = io.StringIO()
    f = _fuzz().run(bodies=150, seed=11, senders=4, large=4, out=out)
    print(out.getvalue())
    assert f["bodies"] == 150 and sum(f["answers"].values()) == 150
    assert not any(code >= 500 for code in f["answers"]), out.getvalue()
    assert f["answers"].get(200, 0) > 30 and f["answers"].get(422, 0) > 10, "mutations reach both sides"
    assert f["redelivery_writes"] == 0
    assert f["slowest_s"] < 25 and f["large_answers"] == {200: 4}
