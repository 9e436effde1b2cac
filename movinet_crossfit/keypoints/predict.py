"""A trained keypoint classifier's inference API: load a ``train-poses`` run, turn sequences into
the model's input rows exactly as training did, classify.

``load_keypoint_run`` rebuilds the model from the run's ``config.yaml`` and best weights;
``predict_poses`` classifies one sequence; ``prepare_items`` and ``model_inputs`` are the batch form
of ``features.prepare_sequence`` that training and evaluation share.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.runs import CONFIG_FILE, LABELS_FILE, WEIGHTS_FILE, read_labels, read_run_config
from movinet_crossfit.keypoints.features import prepare_points, prepare_sequence, resample


def prepare_items(items, layout: str, report) -> tuple[list, list]:
    """``(kept items, their points in the model's layout)``; an item that cannot be prepared is
    reported to ``report`` (a ``progress.BatchReport``) and left out."""
    kept, points = [], []
    for item in items:
        try:
            points.append(prepare_points(item.keypoints, item.layout, layout))
            kept.append(item)
        except (ValueError, UserError) as exc:
            report.fail(item.name, str(exc))
    return kept, points


def model_inputs(points: list, length: int) -> np.ndarray:
    """Prepared points -> float32 ``(N, length, K x 2)``, the model's input batch."""
    return np.stack([resample(p, length).reshape(length, -1) for p in points]).astype(np.float32)


def load_keypoint_run(run_dir: str | os.PathLike):
    """``(model, classes, config dict)`` of a ``train-poses`` run, with its best weights."""
    from movinet_crossfit.keypoints.model import KeypointModelConfig, build_keypoint_model

    run = Path(run_dir)
    path = run / CONFIG_FILE
    if not path.is_file() or not (run / WEIGHTS_FILE).is_file():
        raise UserError(f"{run}: not a train-poses run (no {CONFIG_FILE} / {WEIGHTS_FILE}); train one with "
                        f"`movinet-crossfit train-poses DATA --out {run}`")
    config = read_run_config(run)
    classes = read_labels(run / LABELS_FILE)
    model = build_keypoint_model(KeypointModelConfig(**config["model"]))
    try:
        model.load_weights(str(run / WEIGHTS_FILE))
    except (OSError, ValueError) as exc:
        raise UserError(f"{run / WEIGHTS_FILE}: does not fit the {config['model']['arch']} model of "
                        f"{path} ({exc})") from exc
    return model, classes, config


def predict_poses(run_dir: str | os.PathLike, keypoints: np.ndarray, layout: str) -> dict:
    """Class probabilities for one keypoint sequence ``(T, K, C)`` with a trained run."""
    model, classes, config = load_keypoint_run(run_dir)
    x = prepare_sequence(keypoints, layout, config["layout"], config["length"])
    probabilities = model.predict(x[None], verbose=0)[0]
    return dict(sorted(zip(classes, map(float, probabilities)), key=lambda kv: -kv[1]))


def predict_poses_file(run_dir: str | os.PathLike, poses: str | os.PathLike) -> dict:
    """``predict_poses`` on a poses ``.npz`` (from ``poses``, an import, or the generated corpus)."""
    from movinet_crossfit.pose.sequence import load_poses

    keypoints, _fps, layout = load_poses(poses)
    return predict_poses(run_dir, keypoints, layout)

