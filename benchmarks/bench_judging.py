"""Judging against movement standards, measured: no-rep precision and recall on generated sets with
faulty reps, false no-rep rate on real Games reps, and movement recognition from poses.

1. Generated sets with faults (``synthetic.faulty_set``: 6 reps, each breaking one standard with
   probability 0.4) of the 9 movements, on the generator's true keypoints, judged with the true rep
   bounds and with the reps the pose counter finds (``posecount.count_repetitions``; a counted rep
   is the true rep it overlaps most; counted reps that overlap none are counting errors, left out).
   A no-rep is ``valid is False``; an unjudged rep (``None``) is not one (it costs recall on a
   faulty rep). Then a few rendered videos (640x480) through BlazePose (``person="auto"``).
2. Real reps: the 30 cfmove clips (CrossFit Games broadcasts, one rep each, counted by the judges),
   BlazePose poses, each clip judged as one rep: the false no-rep rate (target <= 10 %); then each
   movement's clips joined into one set (``data.clips.join_clips``) and judged on the counter's reps.
3. Movement recognition (zero-shot, ``recognise_movement``): clean generated sets of the 9 classes
   (true keypoints; true and counted reps), the BlazePose videos of 1, the real clips and sets.

Poses are cached (``--cache``, default ``$TMPDIR/movinet-crossfit-bench-judging``): a second run
takes about a minute. Prints the load average at the start and the end (2 shared cores).

    python benchmarks/bench_judging.py [--sets 8] [--blazepose-sets 1] [--cache DIR] [--quick]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import movinet_crossfit  # noqa: E402,F401
from movinet_crossfit.core.metrics import Rep  # noqa: E402
from movinet_crossfit.core.movements import DEFAULT_CLASSES  # noqa: E402
from movinet_crossfit.judging import judge_reps, load_standards, recognise_movement  # noqa: E402
from movinet_crossfit.pose.sequence import PoseSequence, keypoint_errors, read_poses, save_poses  # noqa: E402
from movinet_crossfit.posecount.count import count_repetitions  # noqa: E402
from movinet_crossfit.synthetic import FAULTS, SegmentSpec, faulty_set, render_keypoints, render_video  # noqa: E402

SHARED = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
FPS = 30.0
REPS = 6
FAULT_RATE = 0.4


@dataclass
class Tally:
    """Per-rep no-rep detection: a faulty rep should be ``valid is False`` for its own fault."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    unjudged: int = 0
    wrong_reason: int = 0
    unmatched: int = 0  # counted reps that overlap no true rep

    def add(self, verdict, fault) -> None:
        called = verdict.valid is False
        self.unjudged += verdict.valid is None
        if fault is not None:
            self.tp += called
            self.fn += not called
            self.wrong_reason += called and verdict.reason_id != fault
        else:
            self.fp += called
            self.tn += not called

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)

    @property
    def reps(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def line(self) -> str:
        extra = f", counted reps matching no true rep {self.unmatched}" if self.unmatched else ""
        return (f"precision {self.precision:.3f}  recall {self.recall:.3f}  (reps {self.reps}: "
                f"{self.tp + self.fn} faulty, no-rep {self.tp}+{self.fp} false, missed {self.fn}, "
                f"unjudged {self.unjudged}, wrong reason {self.wrong_reason}{extra})")


def truth_reps(bounds) -> list[Rep]:
    return [Rep(k + 1, a, b - 1, a / FPS, (b - 1) / FPS) for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]


def counted_labels(counted: list[Rep], bounds, faults) -> list:
    """Each counted rep's true fault: the true rep it overlaps most ("unmatched" when none)."""
    out = []
    for rep in counted:
        overlap = [max(0, min(rep.end_frame, b - 1) - max(rep.start_frame, a) + 1)
                   for a, b in zip(bounds[:-1], bounds[1:])]
        out.append(faults[int(np.argmax(overlap))] if max(overlap) > 0 else "unmatched")
    return out


def judge_both(poses: PoseSequence, movement: str, bounds, faults, by_truth: Tally, by_count: Tally, standards,
               counted: list[Rep] | None = None) -> None:
    for verdict, fault in zip(judge_reps(poses, truth_reps(bounds), movement, standards), faults):
        by_truth.add(verdict, fault)
    if counted is None:
        counted = count_repetitions(poses.keypoints, poses.fps, poses.layout, confidence=poses.confidence).reps
    labels = counted_labels(counted, bounds, faults)
    for verdict, fault in zip(judge_reps(poses, counted, movement, standards), labels):
        if fault == "unmatched":
            by_count.unmatched += 1
        else:
            by_count.add(verdict, fault)


def generated_on_truth(sets: int, standards) -> tuple[dict, dict, float, int]:
    by_truth, by_count = defaultdict(Tally), defaultdict(Tally)
    seconds, reps = 0.0, 0
    for movement in FAULTS:
        for seed in range(sets):
            keypoints, truths = render_keypoints([faulty_set(movement, REPS, seed, fault_rate=FAULT_RATE)], seed=seed)
            truth = truths[0]
            poses = PoseSequence(keypoints, FPS, "coco17")
            start = time.perf_counter()
            judge_reps(poses, truth_reps(truth.rep_frames), movement, standards)
            seconds += time.perf_counter() - start
            reps += truth.count
            judge_both(poses, movement, truth.rep_frames, truth.rep_faults, by_truth[movement], by_count[movement],
                       standards)
    return by_truth, by_count, seconds, reps


def source_digest() -> str:
    """The generator's source: a cached video's poses are stale when it changes."""
    digest = hashlib.sha1()
    for path in sorted((ROOT / "movinet_crossfit" / "synthetic").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def cached_poses(cache: Path, key: str, video: Path, tracker_box: list) -> PoseSequence:
    from movinet_crossfit.pose.extract import extract_poses, make_backend

    path = cache / f"{key}.npz"
    if path.is_file():
        return read_poses(path)
    if not tracker_box:
        tracker_box.append(make_backend("blazepose", person="auto"))
    poses = extract_poses(video, tracker_box[0])
    save_poses(path, poses)
    return poses


def generated_on_blazepose(sets: int, cache: Path, standards, tracker_box: list) -> tuple[Tally, Tally, Tally, list]:
    """BlazePose poses of rendered videos: tallies with the true and the counted reps, one with the
    true reps where BlazePose found the figure on 80 % of the rep's frames, and the recognitions."""
    by_truth, by_count, seen, recognised = Tally(), Tally(), Tally(), []
    digest = source_digest()
    with tempfile.TemporaryDirectory() as tmp:
        for movement in DEFAULT_CLASSES:
            for seed in range(100, 100 + sets):
                spec = faulty_set(movement, 5, seed, fault_rate=FAULT_RATE)
                key = f"gen-{movement}-{seed}-{digest}"
                video = Path(tmp) / f"{key}.mp4"
                rendered = render_video(video, [spec], seed=seed, size=(640, 480))
                truth = rendered.segments[0]
                poses = cached_poses(cache, key, video, tracker_box)
                counted = count_repetitions(poses.keypoints, poses.fps, poses.layout, confidence=poses.confidence).reps
                judge_both(poses, movement, truth.rep_frames, truth.rep_faults, by_truth, by_count, standards, counted)
                detected = poses.detected
                reps = truth_reps(truth.rep_frames)
                for rep, verdict, fault in zip(reps, judge_reps(poses, reps, movement, standards), truth.rep_faults):
                    if detected[rep.start_frame:rep.end_frame + 1].mean() >= 0.8:
                        seen.add(verdict, fault)
                found = detected[truth.start_frame:truth.end_frame].mean()
                error = keypoint_errors(poses.keypoints, poses.layout, rendered.keypoints)["median_error"]
                guess = recognise_movement(poses, counted, standards).label
                print(f"     {movement:18s} seed {seed}: BlazePose found the figure on {found:4.0%} of the "
                      f"set's frames (median error {error or float('nan'):.2f} torso lengths); counter "
                      f"{len(counted)}/{truth.count} reps; recognised {guess}")
                recognised.append((movement, guess))
    return by_truth, by_count, seen, recognised


def real_clips(cache: Path, standards, tracker_box: list) -> dict:
    from movinet_crossfit.data.clips import join_clips

    out = {"clips": [], "sets": []}
    root = SHARED / "cfmove" / "clips"
    for label in ("thruster", "chest-to-bar"):
        paths = sorted((root / label).glob("*.mp4"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        for path in paths:
            poses = cached_poses(cache, f"real-{path.stem}-{path.stat().st_size}", path, tracker_box)
            rep = Rep(1, 0, poses.num_frames - 1, 0.0, (poses.num_frames - 1) / poses.fps)
            verdict = judge_reps(poses, [rep], label, standards)[0]
            guess = recognise_movement(poses, [rep], standards)
            out["clips"].append((label, path.stem, verdict, guess))
        with tempfile.TemporaryDirectory() as tmp:
            video, used = join_clips(paths, Path(tmp) / f"{label}.mp4")
            poses = cached_poses(cache, f"real-set-{label}-{len(used)}", video, tracker_box)
        counted = count_repetitions(poses.keypoints, poses.fps, poses.layout, confidence=poses.confidence).reps
        verdicts = judge_reps(poses, counted, label, standards)
        out["sets"].append((label, len(used), verdicts, recognise_movement(poses, counted, standards)))
    return out


def recognition_on_truth(sets: int, standards) -> dict[str, Counter]:
    results = {"true reps": Counter(), "counted reps": Counter()}
    for movement in DEFAULT_CLASSES:
        for seed in range(200, 200 + sets):
            keypoints, truths = render_keypoints([SegmentSpec(movement, 4)], seed=seed)
            poses = PoseSequence(keypoints, FPS, "coco17")
            counted = count_repetitions(keypoints, FPS, "coco17").reps
            for name, reps in (("true reps", truth_reps(truths[0].rep_frames)), ("counted reps", counted)):
                results[name][movement, recognise_movement(poses, reps, standards).label] += 1
    return results


def accuracy(pairs) -> str:
    pairs = list(pairs.elements()) if isinstance(pairs, Counter) else list(pairs)
    right = sum(truth == guess for truth, guess in pairs)
    none = sum(guess is None for _, guess in pairs)
    confused = Counter((t, g) for t, g in pairs if g is not None and g != t)
    text = f"{right}/{len(pairs)} = {right / max(1, len(pairs)):.3f} (no label {none})"
    if confused:
        text += "; confused: " + ", ".join(f"{t}->{g} x{n}" for (t, g), n in confused.most_common())
    return text


def target(ok: bool) -> str:
    return "meets target" if ok else "BELOW TARGET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=8, help="generated sets per movement (true keypoints)")
    parser.add_argument("--blazepose-sets", type=int, default=1, help="rendered videos per movement through BlazePose")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "movinet-crossfit-bench-judging")
    parser.add_argument("--quick", action="store_true", help="2 sets, no BlazePose on generated videos")
    args = parser.parse_args()
    if args.quick:
        args.sets, args.blazepose_sets = 2, 0
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.2f}  (poses cached in {args.cache})")
    standards = load_standards()
    tracker_box: list = []
    started = time.perf_counter()

    print(f"\n1. generated sets with faults: {args.sets} sets x {len(FAULTS)} movements x {REPS} reps, "
          f"fault rate {FAULT_RATE} (true keypoints)")
    by_truth, by_count, judge_s, judged = generated_on_truth(args.sets, standards)
    print(f"   {'movement':18s} {'true reps: P':>13s} {'R':>6s} {'counted: P':>11s} {'R':>6s} {'unmatched':>9s}")
    for movement in FAULTS:
        t, c = by_truth[movement], by_count[movement]
        print(f"   {movement:18s} {t.precision:13.3f} {t.recall:6.3f} {c.precision:11.3f} {c.recall:6.3f} "
              f"{c.unmatched:9d}")
    total_truth, total_count = Tally(), Tally()
    for tally, parts in ((total_truth, by_truth), (total_count, by_count)):
        for part in parts.values():
            for name in vars(tally):
                setattr(tally, name, getattr(tally, name) + getattr(part, name))
    print(f"   true rep bounds:   {total_truth.line()}  "
          f"{target(total_truth.precision >= 0.9 and total_truth.recall >= 0.9)}")
    print(f"   counted reps:      {total_count.line()}  "
          f"{target(total_count.precision >= 0.9 and total_count.recall >= 0.9)}")
    print(f"   judging speed: {judge_s / max(1, judged) * 1e3:.2f} ms per rep (true keypoints)")

    if args.blazepose_sets:
        print(f"\n   BlazePose on rendered videos (640x480, {args.blazepose_sets} set(s) of 5 reps per movement):")
        bp_truth, bp_count, bp_seen, bp_recognised = generated_on_blazepose(args.blazepose_sets, args.cache,
                                                                            standards, tracker_box)
        print(f"   true rep bounds:   {bp_truth.line()}  "
              f"{target(bp_truth.precision >= 0.9 and bp_truth.recall >= 0.9)}")
        print(f"    reps BlazePose saw (figure found on >= 80 % of the rep's frames): {bp_seen.line()}")
        print(f"   counted reps:      {bp_count.line()}  "
              f"{target(bp_count.precision >= 0.9 and bp_count.recall >= 0.9)}")

    print("\n2. real Games reps (cfmove clips, BlazePose person=auto, each clip one rep)")
    real = real_clips(args.cache, standards, tracker_box)
    clips = real["clips"]
    no_reps = [(stem, v.reason) for _, stem, v, _ in clips if v.valid is False]
    unjudged = [(stem, v.reason) for _, stem, v, _ in clips if v.valid is None]
    rate = len(no_reps) / len(clips)
    print(f"   false no-rep rate: {len(no_reps)}/{len(clips)} = {rate:.1%}  {target(rate <= 0.10)}; "
          f"valid {sum(v.valid is True for _, _, v, _ in clips)}, unjudged {len(unjudged)}")
    for stem, reason in no_reps + unjudged:
        print(f"     {stem}: {reason[:150]}")
    for label, used, verdicts, guess in real["sets"]:
        called = sum(v.valid is False for v in verdicts)
        print(f"   joined {label} set ({used} reps): counter found {len(verdicts)}, no-reps called {called}, "
              f"unjudged {sum(v.valid is None for v in verdicts)}; recognised as {guess.label} ({guess.score:.2f})")

    print("\n3. movement recognition (zero-shot from the standards' signatures)")
    recognition = recognition_on_truth(max(2, args.sets // 2), standards)
    for name, pairs in recognition.items():
        print(f"   generated 9 classes, true keypoints, {name}: {accuracy(pairs)}")
    if args.blazepose_sets:
        print(f"   generated 9 classes, BlazePose on rendered videos, counted reps: {accuracy(bp_recognised)}")
    print(f"   real clips (2 classes, 9 candidates): {accuracy((label, g.label) for label, _, _, g in clips)}")
    print(f"   real joined sets: {accuracy((label, g.label) for label, _, _, g in real['sets'])}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
