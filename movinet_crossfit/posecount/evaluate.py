"""The pose counter against known counts, scored with ``core.metrics.count_metrics`` (MAE over the
items with a true count above 0, OBO over all; the counter's counts are whole):

* ``evaluate_on_corpus``: every segment of a generated corpus, counted from its true keypoints
  (optionally made harder by ``perturb``);
* ``evaluate_repcount``: real videos, the RepCount pose files (``load_repcount``), with the rep
  boundaries scored too (``boundary_metrics``: rep-level F1 at a temporal IoU, median boundary
  error) and the processor time spent counting.
"""
from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.metrics import count_metrics
from movinet_crossfit.pose.sequence import REPCOUNT_FPS, load_poses
from movinet_crossfit.posecount.count import PoseCountConfig, count_repetitions


@dataclass
class PoseCountEvaluation:
    items: list            # per segment: video, label, true, predicted, note
    mae: Optional[float]   # None when no item has a true count above 0
    obo: Optional[float]   # None when there are no items

    def to_dict(self) -> dict:
        return {"mae": None if self.mae is None else round(self.mae, 4),
                "obo": None if self.obo is None else round(self.obo, 4), "items": self.items}


def perturb(keypoints: np.ndarray, rng: np.random.Generator, *, drop: float = 0.0, jitter: float = 0.0,
            pause: float = 0.0, mirror: bool = False, hide: Iterable[int] = ()) -> np.ndarray:
    """A harder copy of a keypoint sequence: NaN frames and joints (``drop``), gaussian ``jitter`` in
    torso lengths, a pause of ``pause`` x length held somewhere inside, a mirrored camera, hidden joints."""
    points = np.array(keypoints, np.float64)
    torso = np.nanmedian(np.linalg.norm(points[:, 5] - points[:, 11], axis=-1)) if points.shape[1] == 17 else 1.0
    if pause > 0:
        at = int(rng.integers(len(points) // 4, 3 * len(points) // 4))
        points = np.concatenate([points[:at], np.repeat(points[at:at + 1], int(pause * len(points)), 0), points[at:]])
    if jitter > 0:
        points = points + rng.normal(0, jitter * torso, points.shape)
    if mirror:
        points[..., 0] = 2 * np.nanmean(points[..., 0]) - points[..., 0]
    if drop > 0:
        points[rng.random(len(points)) < drop] = np.nan
        points[rng.random(points.shape[:2]) < drop / 2] = np.nan
    for joint in hide:
        points[:, joint] = np.nan
    return points


def evaluate_on_corpus(corpus_dir: str | os.PathLike, *, perturbation: dict | None = None, seed: int = 0,
                       **count_options) -> PoseCountEvaluation:
    """Count every segment of a generated corpus from its true keypoints (optionally perturbed)
    and compare with its true rep count."""
    from movinet_crossfit.synthetic.truth import GroundTruth

    truth = GroundTruth.load(corpus_dir)
    rng = np.random.default_rng(seed)
    items = []
    for name, video in sorted(truth.videos.items()):
        points, _, layout = load_poses(truth.root / video["keypoints"])
        for segment in video["segments"]:
            clip = points[segment["start_frame"]:segment["end_frame"]]
            if perturbation:
                clip = perturb(clip, rng, **perturbation)
            found = count_repetitions(clip, truth.fps, layout, **count_options)
            items.append({"video": name, "label": segment["label"], "true": segment["count"],
                          "predicted": found.count, "note": found.note})
    metrics = count_metrics([i["predicted"] for i in items], [i["true"] for i in items])
    return PoseCountEvaluation(items, metrics["mae"], metrics["obo"])


# The RepCount `type` column spells some classes two ways; used for the per-class report only.
REPCOUNT_TYPES = {"benchpressing": "bench_pressing", "frontraise": "front_raise", "jumpjacks": "jump_jack",
                  "pullups": "pull_up", "pushups": "push_up", "squant": "squat"}


@dataclass
class RepCountVideo:
    name: str
    kind: str  # the dataset's action label (for the per-class report; never given to the counter)
    count: int
    bounds: list  # [(first frame, last frame)] of each true rep
    keypoints: np.ndarray  # (T, 33, 3) per-frame min-max normalised, NaN where nobody


def load_repcount(folder: str | os.PathLike, split: str = "dev") -> list[RepCountVideo]:
    """``folder/SPLIT.csv`` (``name, type, count, rep_bounds``) and ``folder/SPLIT/<name>.npy``."""
    folder = Path(folder)
    table = folder / f"{split}.csv"
    if not table.is_file():
        raise UserError(f"{table}: no such file; point at a repcount_pose folder (with {split}.csv and {split}/)")
    videos = []
    with open(table, newline="") as handle:
        for row in csv.DictReader(handle):
            bounds = np.array(row["rep_bounds"].split(), int).reshape(-1, 2)
            keypoints, _, _ = load_poses(folder / split / f"{row['name']}.npy")
            videos.append(RepCountVideo(row["name"], REPCOUNT_TYPES.get(row["type"], row["type"]), int(row["count"]),
                                        [(int(a), int(b)) for a, b in bounds], keypoints))
    return videos


def _iou(a: float, b: float, c: float, d: float) -> float:
    inter = min(b, d) - max(a, c) + 1
    return inter / (max(b, d) - min(a, c) + 1) if inter > 0 else 0.0


def match_reps(predicted: Sequence[tuple[int, int]], true: Sequence[tuple[int, int]],
               min_iou: float = 0.5, shifts: Sequence[float] = (0,)) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching of reps (inclusive frame ranges) by temporal IoU, best first:
    ``[(predicted index, true index, iou)]`` for the pairs at ``min_iou`` or above. ``shifts``: a
    predicted rep is also tried moved back by each (frames); a pair's IoU is its best."""
    pairs = []
    for i, (a, b) in enumerate(predicted):
        for j, (c, d) in enumerate(true):
            iou = max(_iou(a - shift, b - shift, c, d) for shift in shifts)
            if iou >= min_iou:
                pairs.append((iou, i, j))
    used_predicted, used_true, matches = set(), set(), []
    for iou, i, j in sorted(pairs, reverse=True):
        if i not in used_predicted and j not in used_true:
            used_predicted.add(i)
            used_true.add(j)
            matches.append((i, j, iou))
    return matches


def same_reps(live: Sequence[tuple[int, int]], final: Sequence[tuple[int, int]],
              period: float) -> list[tuple[int, int, float]]:
    """``[(live index, final index, IoU)]``: each final rep and the live rep that is the same rep
    (``analysis.live``): the most overlapping (IoU >= 0.5) as they are, then among those left, the
    most overlapping once moved half a ``period`` either way (a window that cut it at the
    movement's other extreme). As they are first: moved, a rep can overlap its neighbour more."""
    same = match_reps(live, final, 0.5)
    if period:
        left = [i for i in range(len(live)) if i not in {i for i, _, _ in same}]
        right = [j for j in range(len(final)) if j not in {j for _, j, _ in same}]
        moved = match_reps([live[i] for i in left], [final[j] for j in right], 0.5, shifts=(period / 2, -period / 2))
        same += [(left[a], right[b], iou) for a, b, iou in moved]
    return same


def moved_reps(same: Sequence[tuple[int, int, float]], live: Sequence[tuple[int, int]],
               final: Sequence[tuple[int, int]], period: float) -> list[int]:
    """The live indices of ``same`` (``same_reps``' pairs) whose rep moved: paired only once moved
    half a period (as they are, IoU under 0.5: cut at the movement's other extreme), or ending more
    than half a ``period`` (and more than a frame) from the final rep. Not the end's distance alone:
    a rep paired half a period moved ends about half a period off, and rounding would decide."""
    return sorted(i for i, j, _ in same
                  if _iou(*live[i], *final[j]) < 0.5 or abs(live[i][1] - final[j][1]) > max(0.5 * period, 1))


def live_corrections(live: Sequence[tuple[int, int]], final: Sequence[tuple[int, int]], period: float
                     ) -> tuple[list[tuple[int, int, float]], list[int], list[int], list[int]]:
    """What a final count corrected in a running count (``analysis.live``'s ``end``): ``(same,
    moved, dropped, missed)``: ``same_reps``' pairs; the live indices whose rep moved
    (``moved_reps``); the live indices no final rep is; the final indices no live rep is that end
    before the last live rep's end (the running count went past them)."""
    same = same_reps(live, final, period)
    paired_live, paired_final = {i for i, _, _ in same}, {j for _, j, _ in same}
    last_end = max((end for _, end in live), default=-1)
    dropped = [i for i in range(len(live)) if i not in paired_live]
    missed = [j for j in range(len(final)) if j not in paired_final and final[j][1] < last_end]
    return same, moved_reps(same, live, final, period), dropped, missed


def boundary_metrics(predicted: Sequence[Sequence[tuple[int, int]]], true: Sequence[Sequence[tuple[int, int]]],
                     min_iou: float = 0.5) -> dict:
    """Rep-level precision, recall and F1 at temporal IoU >= ``min_iou`` over many videos, and
    the median error of the matched reps' start and end frames."""
    matched = n_predicted = n_true = 0
    errors = []
    for found, known in zip(predicted, true):
        matches = match_reps(found, known, min_iou)
        matched += len(matches)
        n_predicted += len(found)
        n_true += len(known)
        for i, j, _ in matches:
            errors += [abs(found[i][0] - known[j][0]), abs(found[i][1] - known[j][1])]
    precision, recall = matched / max(n_predicted, 1), matched / max(n_true, 1)
    return {"min_iou": min_iou, "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / max(precision + recall, 1e-9), "matched": matched,
            "predicted": n_predicted, "true": n_true,
            "median_error_frames": float(np.median(errors)) if errors else None}


@dataclass
class RepCountEvaluation:
    items: list  # per video: name, kind, true, predicted, note
    mae: Optional[float]
    obo: Optional[float]
    boundaries: dict  # boundary_metrics
    per_class: dict  # kind -> videos, mae, obo, predicted / true
    cpu_seconds: float  # processor time spent counting
    video_seconds: float  # at the assumed frame rate
    results: list = field(default_factory=list, repr=False)  # the PoseCount of each video

    @property
    def times_real_time(self) -> float:
        return self.video_seconds / max(self.cpu_seconds, 1e-9)


def evaluate_repcount(videos: Sequence[RepCountVideo], config: PoseCountConfig | None = None,
                      fps: float = REPCOUNT_FPS, movement_known: bool = False) -> RepCountEvaluation:
    """Count every video with one fixed ``config`` and score it. The class is not an input unless
    ``movement_known`` (each video's ``kind`` passed as ``movement=``: what a user who names the
    movement gets; it places the rest side, looks.MID_REP)."""
    results, cpu = [], 0.0
    if videos:  # the first call imports scipy's modules: not counting time
        count_repetitions(videos[0].keypoints[:64], fps, "mediapipe33", config=config)
    for video in videos:
        start = time.process_time()
        results.append(count_repetitions(video.keypoints, fps, "mediapipe33", config=config,
                                         movement=video.kind if movement_known else None))
        cpu += time.process_time() - start
    items = [{"name": v.name, "kind": v.kind, "true": v.count, "predicted": r.count, "note": r.note}
             for v, r in zip(videos, results)]
    overall = count_metrics([r.count for r in results], [v.count for v in videos])
    per_class = {}
    for kind in sorted({v.kind for v in videos}):
        mine = [i for i in items if i["kind"] == kind]
        metrics = count_metrics([i["predicted"] for i in mine], [i["true"] for i in mine])
        counted, true = sum(i["predicted"] for i in mine), sum(i["true"] for i in mine)
        per_class[kind] = {"videos": len(mine), "mae": metrics["mae"], "obo": metrics["obo"],
                           "predicted_over_true": counted / max(true, 1)}
    boundaries = boundary_metrics([[(r.start_frame, r.end_frame) for r in res.reps] for res in results],
                                  [v.bounds for v in videos])
    return RepCountEvaluation(items, overall["mae"], overall["obo"], boundaries, per_class, cpu,
                              sum(len(v.keypoints) for v in videos) / fps, results)
