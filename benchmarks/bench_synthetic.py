"""Synthetic corpus generation speed against its budget: the default corpus (9 classes x 20
segments, 320x240 at 30 fps) must render in under 120 s on a 2-core machine.

Also measured in the same run, as the floor: encoding the same number of frames of one still
picture with the same encoder settings and workers (ffmpeg alone, no drawing). The ratio says
how much of the time drawing costs on top of encoding.

    python benchmarks/bench_synthetic.py [--clips-per-class 20] [--workers N] [--size 320x240] [--no-floor]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import movinet_crossfit  # noqa: E402,F401
from movinet_crossfit.core.movements import DEFAULT_CLASSES  # noqa: E402
from movinet_crossfit.synthetic import generate_corpus  # noqa: E402
from movinet_crossfit.synthetic.encode import write_mp4  # noqa: E402

BUDGET_S = 120.0


def encode_still(path: str, frames: int, size: tuple[int, int], fps: float) -> int:
    # A picture as compressible as the corpus's: a smooth gradient with mild sensor noise.
    rng = np.random.default_rng(0)
    gradient = np.linspace(60, 200, size[1])[:, None, None] * np.ones((1, size[0], 3))
    still = np.clip(gradient + rng.normal(0, 3, gradient.shape), 0, 255).astype(np.uint8)
    return write_mp4(path, (still for _ in range(frames)), size, fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-class", type=int, default=20)
    parser.add_argument("--classes", nargs="*", default=list(DEFAULT_CLASSES))
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT")
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-floor", action="store_true", help="skip the encode-only baseline")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    print(f"{len(args.classes)} classes x {args.clips_per_class} segments, {size[0]}x{size[1]} @ {args.fps:g} fps, "
          f"{args.workers} workers, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = generate_corpus(Path(tmp) / "corpus", classes=args.classes, clips_per_class=args.clips_per_class,
                                  seed=args.seed, size=size, fps=args.fps, workers=args.workers)
        seconds = time.perf_counter() - start
        clips = summary.total_segments
        print(summary)
        print(f"generate_corpus: {seconds:.1f} s, {clips / seconds:.2f} clips/s, {summary.frames / seconds:.0f} frames/s")
        print(f"ratio to the {BUDGET_S:.0f} s budget: {seconds / BUDGET_S:.2f} (target < 1.0)")

        if not args.no_floor:
            per_video = [summary.frames // summary.videos] * summary.videos
            start = time.perf_counter()
            with concurrent.futures.ProcessPoolExecutor(args.workers) as pool:
                list(pool.map(encode_still, [str(Path(tmp) / f"still-{i}.mp4") for i in range(len(per_video))],
                              per_video, [size] * len(per_video), [args.fps] * len(per_video)))
            floor = time.perf_counter() - start
            print(f"encode-only floor: {floor:.1f} s, {summary.frames / floor:.0f} frames/s; "
                  f"generation / floor = {seconds / floor:.2f}")


if __name__ == "__main__":
    main()
