"""The model-based run of tests/test_model.py as a command, for long soaks and reproducing a seed.

    python benchmarks/soak.py --steps 20000 --seed 7
    python benchmarks/soak.py --steps 2000 --seed 1 --seed 2 --seed 3   # seeds one after another

Prints one JSON line of statistics per seed; on a model failure prints the seed, the failing step and the
last 20 steps, and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.modelutil import ModelFailure, run_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps per seed (default 2000)")
    parser.add_argument("--seed", type=int, action="append", help="seed (repeatable; default 7)")
    args = parser.parse_args(argv)
    for seed in args.seed or [7]:
        started = time.monotonic()
        try:
            stats = run_model(seed, args.steps)
        except ModelFailure as exc:
            sys.stdout.flush()
            sys.stderr.write(f"{exc}\n")
            return 1
        print(json.dumps({"seed": seed, "steps": args.steps, "seconds": round(time.monotonic() - started, 1),
                          **dict(stats)}, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
