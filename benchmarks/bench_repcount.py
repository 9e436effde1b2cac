"""The pose counter on real footage: the RepCount-A dev videos (BlazePose poses, min-max normalised
per frame; ../shared/data/repcount_pose, see its README), one fixed class-agnostic configuration.

One run prints: MAE and OBO (RepCount's metrics), a per-class table (the dataset's `type` column,
for the report only: the counter never sees it), rep-level F1 at temporal IoU >= 0.5 with the
median boundary error, times real time on one core (processor time; BLAS pinned to one thread),
the out-of-fold numbers of the four parameters that were tuned on these videos (``count.TUNED``:
re-picked inside each training fold from the same small grid, 5 folds grouped by video and by
subject) and the counter this one replaced (git f59fa11), measured in the same run.

    python benchmarks/bench_repcount.py [--data DIR] [--fps 30] [--per-video] [--no-cv]

The data folder: --data, else $MOVINET_CROSSFIT_SHARED_DATA/repcount_pose, else
../shared/data/repcount_pose beside the repository.
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one core: spinning BLAS threads would inflate processor time

import argparse  # noqa: E402
import itertools  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from movinet_crossfit.core.metrics import count_metrics  # noqa: E402
from movinet_crossfit.posecount.count import TUNED, PoseCountConfig, count_repetitions  # noqa: E402
from movinet_crossfit.posecount.evaluate import boundary_metrics, evaluate_repcount, load_repcount  # noqa: E402

SHARED = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
# The small grid the four tuned parameters were picked from (the defaults are one of its points).
GRID = {"prominence": (0.3, 0.4, 0.5), "min_sep": (0.5, 0.65), "harmonic_ratio": (0.85, 0.95),
        "min_score": (0.1, 0.2)}
OLD_COUNTER = "f59fa11:movinet_crossfit/posecount/count.py"  # the counter before this one


def _load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _subject(name: str) -> str:
    """RepCount's `stuN_M` videos: N is the subject; every other video is its own group."""
    return name.split("_")[0] if name.startswith("stu") else name


def folds_of(groups: list[str], k: int = 5, seed: int = 0) -> np.ndarray:
    """Whole groups into ``k`` folds of about equal size: largest first into the lightest fold,
    ties in a seeded random order."""
    names = sorted(set(groups))
    order = {g: i for i, g in enumerate(np.random.default_rng(seed).permutation(names))}
    sizes = {g: groups.count(g) for g in names}
    fold, load = {}, [0] * k
    for group in sorted(names, key=lambda g: (-sizes[g], order[g])):
        fold[group] = int(np.argmin(load))
        load[fold[group]] += sizes[group]
    return np.array([fold[g] for g in groups])


def _score(predicted, true) -> tuple[float, float]:
    metrics = count_metrics(predicted, true)
    return metrics["mae"], metrics["obo"]


def cross_validate(videos, fps: float) -> None:
    """Out-of-fold MAE/OBO/F1: the grid point with the best MAE (then OBO) on the training folds
    counts the held-out fold."""
    assert set(GRID) == set(TUNED)
    combos = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    runs = [evaluate_repcount(videos, PoseCountConfig(**combo), fps) for combo in combos]
    counts = np.array([[r.count for r in run.results] for run in runs])
    true = np.array([v.count for v in videos])
    in_sample = [_score(c, true) for c in counts]
    best = min(range(len(combos)), key=lambda i: (round(in_sample[i][0], 6), -in_sample[i][1]))
    worst = max(range(len(combos)), key=lambda i: in_sample[i][0])
    print(f"\ngrid: {len(combos)} configurations; in-sample best {combos[best]}: MAE {in_sample[best][0]:.3f} "
          f"OBO {in_sample[best][1]:.3f}; worst MAE {in_sample[worst][0]:.3f}")
    for by, groups in (("video", [v.name for v in videos]), ("subject", [_subject(v.name) for v in videos])):
        fold = folds_of(groups)
        predicted, reps, chosen = np.zeros(len(videos), int), [None] * len(videos), []
        for k in range(5):
            train = fold != k
            scores = [_score(c[train], true[train]) for c in counts]
            pick = min(range(len(combos)), key=lambda i: (round(scores[i][0], 6), -scores[i][1]))
            chosen.append(pick)
            for i in np.flatnonzero(~train):
                predicted[i] = counts[pick][i]
                reps[i] = [(r.start_frame, r.end_frame) for r in runs[pick].results[i].reps]
        mae, obo = _score(predicted, true)
        f1 = boundary_metrics(reps, [v.bounds for v in videos])["f1"]
        picked = ", ".join(" ".join(f"{k}={v}" for k, v in combos[i].items()) for i in sorted(set(chosen)))
        print(f"out-of-fold, 5 folds by {by:7s}: MAE {mae:.3f}  OBO {obo:.3f}  rep F1 {f1:.3f}  (picked: {picked})")


def old_counter():
    """The previous pose counter's ``count_repetitions``, from git (None when git or the commit is
    not there)."""
    try:
        source = subprocess.run(["git", "show", OLD_COUNTER], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("old_pose_counter")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, OLD_COUNTER, "exec"), module.__dict__)  # noqa: S102 - our own history
    return module.count_repetitions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED / "repcount_pose")
    parser.add_argument("--fps", type=float, default=30.0, help="assumed frame rate (the files record none)")
    parser.add_argument("--per-video", action="store_true")
    parser.add_argument("--no-cv", action="store_true", help="skip the out-of-fold numbers (~1 min)")
    args = parser.parse_args()
    print(f"load average at start: {_load_average()}")
    videos = load_repcount(args.data)
    frames = sum(len(v.keypoints) for v in videos)
    print(f"{len(videos)} videos, {frames} frames ({frames / args.fps / 60:.1f} min at an assumed {args.fps:g} fps) "
          f"from {args.data}")

    result = evaluate_repcount(videos, fps=args.fps)
    b = result.boundaries
    print(f"\npose counter (defaults; in-sample: {', '.join(TUNED)} were picked on these videos)")
    print(f"  MAE {result.mae:.3f}  OBO {result.obo:.3f}")
    print(f"  rep boundaries: F1 {b['f1']:.3f} at IoU >= {b['min_iou']} (precision {b['precision']:.3f}, "
          f"recall {b['recall']:.3f}), median boundary error {b['median_error_frames']:.1f} frames")
    print(f"  speed: {result.cpu_seconds:.2f} s CPU for {result.video_seconds:.0f} s of video = "
          f"{result.times_real_time:.0f}x real time on one core")
    minute = max(videos, key=lambda v: len(v.keypoints)).keypoints[:int(60 * args.fps)]
    start = time.process_time()
    for _ in range(5):
        count_repetitions(minute, args.fps)
    one = (time.process_time() - start) / 5
    print(f"  one {len(minute) / args.fps:.0f} s video: {one * 1000:.0f} ms CPU = "
          f"{len(minute) / args.fps / one:.0f}x real time (target >= 100x)")
    # The movement named (count --poses --movement, analyze/live --movement): its look mid-rep
    # (looks.MID_REP, written from what each movement is) places the rest side, not the skewness.
    named = evaluate_repcount(videos, fps=args.fps, movement_known=True)
    half = len(videos) // 2

    def halves_f1(run) -> str:  # rep F1 of the first and the last half of the videos, from run's counts
        found = [[(r.start_frame, r.end_frame) for r in res.reps] for res in run.results]
        truth = [v.bounds for v in videos]
        return " / ".join(f"{boundary_metrics(found[part], truth[part])['f1']:.3f}"
                          for part in (slice(None, half), slice(half, None)))

    print(f"  the class given as the movement: MAE {named.mae:.3f}  OBO {named.obo:.3f}  rep F1 "
          f"{named.boundaries['f1']:.3f} (first / last {half} videos: {halves_f1(named)} against "
          f"{halves_f1(result)} without)")
    print(f"\n  {'class':16s} {'videos':>6s} {'MAE':>6s} {'OBO':>5s} {'counted/true':>12s}")
    for kind, row in result.per_class.items():
        print(f"  {kind:16s} {row['videos']:6d} {row['mae']:6.3f} {row['obo']:5.2f} {row['predicted_over_true']:12.2f}")
    if args.per_video:
        print()
        for item in result.items:
            off = item["predicted"] - item["true"]
            flag = "" if abs(off) <= 1 else ("  OVER" if off > 0 else "  UNDER")
            print(f"  {item['name']:10s} {item['kind'][:14]:14s} true {item['true']:3d} counted {item['predicted']:3d}"
                  f"  {item['note']}{flag}")

    count_old = old_counter()
    if count_old is None:
        print(f"\nold counter: not measured ({OLD_COUNTER} not readable with git)")
    else:
        counts, reps = [], []
        for video in videos:
            try:
                found = count_old(video.keypoints, args.fps, "mediapipe33")
                counts.append(found.count)
                reps.append([(r.start_frame, r.end_frame) for r in found.reps])
            except Exception:  # noqa: BLE001 - the old counter refused a video with nobody in it: 0 reps
                counts.append(0)
                reps.append([])
        mae, obo = _score(counts, [v.count for v in videos])
        f1 = boundary_metrics(reps, [v.bounds for v in videos])["f1"]
        print(f"\nold counter ({OLD_COUNTER.split(':')[0]}), same run: MAE {mae:.3f}  OBO {obo:.3f}  rep F1 {f1:.3f}"
              f"  -> MAE {mae / result.mae:.1f}x the new one's")
    if not args.no_cv:
        cross_validate(videos, args.fps)
    print(f"\nload average at end: {_load_average()}")


if __name__ == "__main__":
    main()
