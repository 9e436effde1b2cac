"""The pose counter against known counts: every segment of a generated corpus, counted from its
true keypoints (optionally made harder by ``perturb``), scored with ``core.metrics.count_metrics``
(MAE over the items with a true count above 0, OBO over all; the counter's counts are whole).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from movinet_crossfit.core.metrics import count_metrics
from movinet_crossfit.pose.sequence import load_poses
from movinet_crossfit.posecount.count import count_repetitions


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
