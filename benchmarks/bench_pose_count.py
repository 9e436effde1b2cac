"""The pose counter: speed on one core (times real time) and accuracy on generated pose sequences.

Sequences: every default movement, ``--per-class`` sequences of 4-20 reps each, true COCO-17
keypoints from the generator (no detector), then made harder: missing frames and joints, jitter,
a pause, the mirrored camera, wrists out of view, all together. Accuracy: MAE (|pred - true| / true)
and off-by-one accuracy (|pred - true| <= 1), RepCount's metrics; for reference the best published
numbers on RepCount-A real videos are PoseRAC MAE 0.236 / OBO 0.560 and ESCounts MAE 0.213 / OBO
0.563 (a different, harder test: real people, real pose estimates; ``bench_repcount.py`` measures this
counter on 80 of those videos).

    python benchmarks/bench_pose_count.py [--per-class 4] [--seed 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from movinet_crossfit.core.metrics import count_metrics  # noqa: E402
from movinet_crossfit.posecount.count import count_repetitions  # noqa: E402
from movinet_crossfit.posecount.evaluate import boundary_metrics, perturb  # noqa: E402
from movinet_crossfit.core.movements import DEFAULT_CLASSES  # noqa: E402
from movinet_crossfit.synthetic import SegmentSpec  # noqa: E402
from movinet_crossfit.synthetic.corpus import render_keypoints  # noqa: E402

FPS = 30.0
CONDITIONS = {
    "clean": {},
    "20% frames/joints missing": {"drop": 0.2},
    "jitter 5% of torso": {"jitter": 0.05},
    "pause of 30% inside": {"pause": 0.3},
    "mirrored camera": {"mirror": True},
    "wrists out of view": {"hide": (9, 10)},
    "all of the above": {"drop": 0.2, "jitter": 0.05, "pause": 0.3, "mirror": True, "hide": (9, 10)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1, help="1 and up: sequences not used while developing (0 was)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    sequences = []
    for i, label in enumerate(DEFAULT_CLASSES):
        for k in range(args.per_class):
            reps = int(rng.integers(4, 21))
            keypoints, truths = render_keypoints([SegmentSpec(label, reps)], seed=args.seed * 7919 + 100 * i + k)
            bounds = [(a, b) for t in truths for a, b in zip(t.rep_frames, t.rep_frames[1:])]
            sequences.append((label, keypoints, sum(t.count for t in truths), bounds))
    frames = sum(len(k) for _, k, _, _ in sequences)
    truth = [t for _, _, t, _ in sequences]
    print(f"{len(sequences)} sequences, {frames} frames ({frames / FPS / 60:.1f} min at {FPS:g} fps); "
          f"load average {os.getloadavg()[0]:.1f}")
    count_repetitions(sequences[0][1], FPS, "coco17")  # imports, first calls
    print("class-agnostic, then the movement named (count --poses --movement: MID_REP's look places the rest);")
    print("rep F1: the counted reps against the generator's at temporal IoU >= 0.5")
    print(f"{'condition':28s} {'MAE':>6s} {'OBO':>6s} {'rep F1':>7s} {'x real time':>12s} | "
          f"{'named MAE':>9s} {'OBO':>6s} {'rep F1':>7s}")
    clean = None  # (class-agnostic, named) counts of the unperturbed sequences, for the per-class lines
    for name, options in CONDITIONS.items():
        prepared = [perturb(k, np.random.default_rng(1), **options) if options else k for _, k, _, _ in sequences]
        start = time.process_time()
        agnostic = [count_repetitions(k, FPS, "coco17") for k in prepared]
        cpu = time.process_time() - start
        named = [count_repetitions(k, FPS, "coco17", movement=label) for k, (label, *_) in zip(prepared, sequences)]
        seconds = sum(len(k) for k in prepared) / FPS
        if not options:
            clean = agnostic, named
        row = []
        for results in (agnostic, named):
            metrics = count_metrics([r.count for r in results], truth)
            # A pause inserts frames, so the generator's rep frames no longer hold there.
            f1 = "-" if "pause" in options else "%.3f" % boundary_metrics(
                [[(r.start_frame, r.end_frame) for r in x.reps] for x in results], [b for *_, b in sequences])["f1"]
            row.append(f"{metrics['mae']:6.3f} {metrics['obo']:6.3f} {f1:>7s}")
        print(f"{name:28s} {row[0]} {seconds / cpu:12.0f} | {row[1]:>24s}")
    per_class = {}
    for (label, _, true, _), agnostic, named in zip(sequences, *clean):
        per_class.setdefault(label, []).append((true, agnostic.count, named.count))
    print("clean, per class (true, counted, counted with the movement named):")
    for label, triples in per_class.items():
        print(f"  {label:18s} {triples}")


if __name__ == "__main__":
    main()
