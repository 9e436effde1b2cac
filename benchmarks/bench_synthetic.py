"""Generated corpus speed: 9 classes x N labelled segments, against the 120 s budget (2 cores).

    python benchmarks/bench_synthetic.py [--clips-per-class 20] [--workers N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from movinet_crossfit.synthetic import generate_corpus  # noqa: E402

BUDGET_SECONDS = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-class", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = generate_corpus(Path(tmp) / "corpus", clips_per_class=args.clips_per_class, seed=args.seed,
                                  workers=args.workers)
        seconds = time.perf_counter() - start
    segments = 9 * args.clips_per_class
    print(summary)
    print(f"{os.cpu_count()} cores: {seconds:.1f} s, {segments / seconds:.2f} labelled clips/s, "
          f"{summary.frames / seconds:.0f} frames/s rendered+encoded")
    print(f"time / budget = {seconds:.1f} / {BUDGET_SECONDS:.0f} s = {seconds / BUDGET_SECONDS:.2f}  (target < 1.0)")


if __name__ == "__main__":
    main()
