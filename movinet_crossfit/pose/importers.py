"""Keypoints from other estimators -> ``PoseSequence`` (COCO-17 layout).

* **ViTPose / COCO-17 ``.npz``** (as the seed project saved them): a ``reconstruction`` (or
  ``keypoints``) array ``(T, 17, 2 or 3)`` in pixels; a third channel whose values all lie in
  [0, 1] is the estimator's per-joint score, anything else is a depth and is kept as z.
* **torchvision keypoint R-CNN**: the per-frame outputs of
  ``keypointrcnn_resnet50_fpn`` saved as an ``.npz`` or ``.json``: ``keypoints`` ``(T, 17, 3)``
  (x, y, the constant visibility flag) or ``(T, N, 17, 3)`` for N people per frame, with
  ``keypoints_scores`` ``(T[, N], 17)`` and person ``scores`` ``(T[, N])``; a JSON list of per-frame
  dicts with the same keys also works (an empty frame = nobody). The highest-scoring person of
  each frame is kept; a person scoring under ``min_score`` (default 0.5) is nobody, so that frame
  is NaN. Joint scores are the raw heatmap maxima (logits, not probabilities): ``visibility``
  stores their sigmoid.

* **RepCount pose ``.npy``** (the RepCount-A benchmark's BlazePose landmarks): ``(frames, 104)``,
  33 landmarks x, y, z min-max normalised per frame, an all-zero row where nobody was found (NaN
  here). Layout ``mediapipe33``; the pose counter takes these shapes as they are.

``fps`` comes from the file when it has one, else from the caller (``--fps``); RepCount files
record none, so 30 is assumed there (and said in the summary) unless ``--fps`` is given.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.pose.sequence import PoseSequence, read_repcount, split_score_channel

IMPORT_FORMATS = ("vitpose", "torchvision", "repcount")


def _fps(data, fps: float | None, path: Path) -> float:
    if fps:
        return float(fps)
    for key in ("fps", "frame_rate"):
        if key in data:
            return float(np.asarray(data[key]).reshape(()))
    raise UserError(f"{path}: holds no frame rate; pass --fps")


def import_vitpose(path: str | os.PathLike, fps: float | None = None, min_score: float = 0.0) -> PoseSequence:
    """A ViTPose/COCO-17 export: ``reconstruction`` (or ``keypoints``) ``(T, 17, 2|3)``."""
    path = Path(path)
    data = _load_npz(path)
    key = next((k for k in ("reconstruction", "keypoints") if k in data.files), None)
    if key is None:
        raise UserError(f"{path}: no 'reconstruction' or 'keypoints' array (holds {', '.join(data.files)}); "
                        "is this a ViTPose/COCO-17 export?")
    points = np.asarray(data[key], np.float64)
    if points.ndim == 4 and points.shape[0] == 1:
        points = points[0]
    if points.ndim != 3 or points.shape[1] != 17 or points.shape[2] not in (2, 3):
        raise UserError(f"{path}: {key} has shape {points.shape}; expected (frames, 17, 2 or 3) COCO-17 keypoints")
    visibility = None
    if points.shape[2] == 3:
        points, visibility = split_score_channel(points, path)
    if visibility is not None and min_score > 0:
        points = points.copy()
        points[visibility < min_score] = np.nan
    confidence = np.nanmean(visibility, axis=1) if visibility is not None else None
    return PoseSequence(points, _fps(data, fps, path), "coco17", confidence=_nan_to_zero(confidence),
                        visibility=visibility, source=str(path), backend="vitpose")


def import_torchvision(path: str | os.PathLike, fps: float | None = None, min_score: float = 0.5) -> PoseSequence:
    """torchvision keypoint R-CNN outputs saved per frame (``.npz`` arrays or a ``.json`` list)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        frames, meta = _torchvision_json(path)
    else:
        data = _load_npz(path)
        if "keypoints" not in data.files:
            raise UserError(f"{path}: no 'keypoints' array (holds {', '.join(data.files)}); "
                            "expected torchvision keypoint R-CNN outputs")
        frames, meta = _torchvision_arrays(data, path), data
    keypoints = np.full((len(frames), 17, 2), np.nan)
    visibility = np.full((len(frames), 17), np.nan)
    confidence = np.zeros(len(frames))
    for t, (points, joint_scores, person_scores) in enumerate(frames):
        if not len(points):
            continue
        best = int(np.argmax(person_scores)) if person_scores is not None else 0
        score = float(person_scores[best]) if person_scores is not None else 1.0
        confidence[t] = score
        if score < min_score:
            continue
        keypoints[t] = points[best, :, :2]
        if joint_scores is not None:
            # keypoint R-CNN's joint scores are logits (heatmap maxima), not probabilities
            visibility[t] = 1.0 / (1.0 + np.exp(-np.asarray(joint_scores[best], np.float64)))
        else:
            visibility[t] = 1.0
    return PoseSequence(keypoints, _fps(meta, fps, path), "coco17", confidence=confidence, visibility=visibility,
                        source=str(path), backend="torchvision")


def import_repcount(path: str | os.PathLike, fps: float | None = None) -> PoseSequence:
    """A RepCount pose ``.npy`` (see the module docstring; ``pose.sequence.read_repcount``)."""
    return read_repcount(path, fps)


def _torchvision_arrays(data, path: Path) -> list:
    points = np.asarray(data["keypoints"], np.float64)
    joint_scores = np.asarray(data["keypoints_scores"], np.float64) if "keypoints_scores" in data.files else None
    person_scores = np.asarray(data["scores"], np.float64) if "scores" in data.files else None
    if points.ndim == 3:  # one person per frame
        points = points[:, None]
        joint_scores = None if joint_scores is None else joint_scores[:, None]
        person_scores = None if person_scores is None else person_scores.reshape(-1, 1)
    if points.ndim != 4 or points.shape[2] != 17 or points.shape[3] not in (2, 3):
        raise UserError(f"{path}: keypoints of shape {points.shape}; expected (frames[, people], 17, 3)")
    if person_scores is not None and person_scores.shape != points.shape[:2]:
        raise UserError(f"{path}: scores of shape {person_scores.shape} for keypoints {points.shape}")
    frames = []
    for t in range(len(points)):
        # Padded person slots (NaN keypoints or NaN score) are nobody.
        valid = np.isfinite(points[t, :, :, :2]).all(axis=(1, 2))
        if person_scores is not None:
            valid &= np.isfinite(person_scores[t])
        frames.append((points[t][valid], None if joint_scores is None else joint_scores[t][valid],
                       None if person_scores is None else person_scores[t][valid]))
    return frames


def _torchvision_json(path: Path) -> tuple[list, dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not readable JSON ({exc})") from exc
    meta = {}
    if isinstance(data, dict):
        meta = {k: v for k, v in data.items() if k in ("fps", "frame_rate")}
        data = data.get("frames")
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a list of per-frame outputs (or {{'frames': [...], 'fps': F}})")
    frames = []
    for t, item in enumerate(data):
        if not isinstance(item, dict) or "keypoints" not in item:
            raise UserError(f"{path}: frame {t} has no 'keypoints' (expected a dict per frame)")
        points = np.asarray(item["keypoints"] or np.zeros((0, 17, 3)), np.float64)
        if points.ndim == 2:
            points = points[None]
        scores = item.get("scores")
        joint = item.get("keypoints_scores")
        frames.append((points, None if joint is None else np.asarray(joint, np.float64).reshape(len(points), 17),
                       None if scores is None else np.asarray(scores, np.float64).reshape(len(points))))
    return frames, meta


def _load_npz(path: Path):
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable .npz ({exc})") from exc


def _nan_to_zero(values):
    return None if values is None else np.nan_to_num(np.asarray(values, np.float32), nan=0.0)


def import_poses(path: str | os.PathLike, fmt: str = "auto", fps: float | None = None,
                 min_score: float | None = None) -> PoseSequence:
    """Read another estimator's keypoints; ``fmt`` is ``vitpose``, ``torchvision``, ``repcount`` or
    ``auto`` (a ``reconstruction`` array -> vitpose; ``keypoints_scores``/``scores`` or JSON ->
    torchvision; ``.npy`` -> repcount)."""
    path = Path(path)
    if fmt == "auto":
        if path.suffix.lower() == ".npy":
            fmt = "repcount"
        elif path.suffix.lower() == ".json":
            fmt = "torchvision"
        else:
            files = _load_npz(path).files
            fmt = "torchvision" if ("keypoints_scores" in files or "scores" in files) else "vitpose"
    if fmt == "vitpose":
        return import_vitpose(path, fps, min_score or 0.0)
    if fmt == "torchvision":
        return import_torchvision(path, fps, 0.5 if min_score is None else min_score)
    if fmt == "repcount":
        return import_repcount(path, fps)
    raise UserError(f"--from {fmt!r}: choose one of auto, {', '.join(IMPORT_FORMATS)}")
