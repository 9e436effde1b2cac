"""Poses on real footage: speed of following one person vs choosing the athlete among everyone.

On the real cfmove clips of one movement joined into one 854x480 video (a judge and a spectator in
view), in one run: BlazePose's two models' own invoke times (detector on the 224x224 frame, landmark
model on the 256x256 crop), then `poses` frames per second with ``--person first`` (plain BlazePose:
one landmark call per frame, the detector only when the track is lost) and ``--person auto`` (every
person followed, the athlete chosen at the end), and the counts the pose counter gives on each.

    python benchmarks/bench_people.py [--movement thruster|chest-to-bar] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import movinet_crossfit  # noqa: E402,F401
from movinet_crossfit.core.video import iter_frames, probe  # noqa: E402
from movinet_crossfit.data.clips import join_clips  # noqa: E402
from movinet_crossfit.pose.blazepose import BlazePose, Roi  # noqa: E402
from movinet_crossfit.pose.extract import extract_poses, make_backend  # noqa: E402
from movinet_crossfit.posecount.count import count_repetitions  # noqa: E402

SHARED = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def joined_set(label: str, out: Path) -> tuple[Path, int]:
    paths = sorted((SHARED / "cfmove" / "clips" / label).glob("*.mp4"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    video, used = join_clips(paths, out / f"{label}.mp4")
    return video, len(used)


def invoke_ms(pose: BlazePose, frame: np.ndarray, repeats: int = 30) -> tuple[float, float]:
    height, width = frame.shape[:2]
    start = time.perf_counter()
    for _ in range(repeats):
        pose.detect(frame)
    detector = (time.perf_counter() - start) / repeats * 1e3
    roi = Roi(width / 2, height / 2, 0.6 * height, 0.0)
    start = time.perf_counter()
    for _ in range(repeats):
        pose.landmarks(frame, roi)
    return detector, (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movement", default="thruster", choices=["thruster", "chest-to-bar"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        video, reps = joined_set(args.movement, Path(tmp))
        info = probe(video)
        print(f"{args.movement}: {reps} real clips joined, {info.num_frames} frames, {info.width}x{info.height}, "
              f"{info.fps:.2f} fps")
        frame = next(iter_frames(video))
        detector, landmarks = invoke_ms(BlazePose(num_threads=args.threads), frame)
        print(f"model invoke: detector {detector:.1f} ms, landmark model {landmarks:.1f} ms "
              f"(ceiling with one landmark call per frame: {1000 / landmarks:.0f} frames/s)")
        rows = []
        for person in ("first", "auto"):
            tracker = make_backend("blazepose", person=person, num_threads=args.threads)
            start = time.perf_counter()
            poses = extract_poses(video, tracker)
            seconds = time.perf_counter() - start
            count = count_repetitions(poses.keypoints, poses.fps, poses.layout).count
            people = getattr(tracker, "summary", {}).get("people", 1)
            rows.append((person, poses.num_frames / seconds, people, count, float(poses.detected.mean())))
        print(f"{'--person':10s} {'frames/s':>9s} {'people':>7s} {'found':>6s} {'count':>6s} (true {reps})")
        for person, fps, people, count, found in rows:
            print(f"{person:10s} {fps:9.1f} {people:7d} {found:6.0%} {count:6d}")
        print(f"auto / first speed: {rows[1][1] / rows[0][1]:.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
