"""Evaluate a keypoint classifier (``evaluate-poses``): its run's own split, or other sequences.

```
RUN/eval_<split>/        (eval_external/ for --data)
  metrics.json           the video classifier's metrics, plus every sequence's prediction
  confusion_matrix.png
  probabilities.png      the true class's probability, per class
```
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_json_atomic
from movinet_crossfit.keypoints.predict import load_keypoint_run, model_inputs, prepare_items


@dataclass
class KeypointEvaluation:
    """What ``evaluate_pose_run`` wrote: the metrics, their folder, and its files by name."""

    metrics: dict
    out_dir: Path
    files: dict


def write_evaluation(out_dir: Path, labels, probabilities, classes, names) -> tuple[dict, dict]:
    """``metrics.json`` (the video classifier's metrics, plus every sequence's prediction) and the plots."""
    from movinet_crossfit.core.metrics import classification_metrics, plot_confusion_matrix, plot_true_class_probabilities

    metrics = classification_metrics(labels, probabilities, classes)
    metrics["predictions"] = [{"name": n, "label": classes[int(y)], "predicted": classes[int(p.argmax())],
                               "probability": round(float(p.max()), 4)}
                              for n, y, p in zip(names, labels, probabilities)]
    files = {"metrics": out_dir / "metrics.json",
             "confusion_matrix": plot_confusion_matrix(metrics["confusion_matrix"], classes,
                                                       out_dir / "confusion_matrix.png"),
             "probabilities": plot_true_class_probabilities(labels, probabilities, classes,
                                                            out_dir / "probabilities.png")}
    write_json_atomic(files["metrics"], metrics)
    return metrics, files


def evaluate_pose_run(run_dir: str | os.PathLike, *, data: str | os.PathLike | None = None,
                      manifest: str | os.PathLike | None = None, split: str = "test",
                      out_dir: str | os.PathLike | None = None) -> KeypointEvaluation:
    """Evaluate a run on ``split`` of its own data (the saved split), or on every sequence of other
    ``data`` (``split="all"``); sequences of classes the run does not know are reported and skipped."""
    from movinet_crossfit.keypoints.data import load_items

    run = Path(run_dir)
    model, classes, config = load_keypoint_run(run)
    own = data is None
    items, report = load_items(data or config["data"], manifest if not own else config.get("manifest"))
    if own and split != "all":
        assigned = {row["name"]: row["split"] for row in json.loads((run / "split.json").read_text())}
        items = [i for i in items if assigned.get(i.name) == split]
    known = []
    for item in items:
        if item.label in classes:
            known.append(item)
        else:
            report.fail(item.name, f"class {item.label!r} is not one the run was trained on")
    items, points = prepare_items(known, config["layout"], report)
    if not items:
        raise UserError(f"{data or config['data']}: no sequence of split {split!r} to evaluate")
    x = model_inputs(points, config["length"])
    probabilities = model.predict(x, verbose=0, batch_size=256)
    labels = np.array([classes.index(i.label) for i in items])
    target = Path(out_dir) if out_dir else run / f"eval_{split if own else 'external'}"
    metrics, files = write_evaluation(target, labels, probabilities, classes, [i.name for i in items])
    metrics["report"] = report.to_dict()
    write_json_atomic(files["metrics"], metrics)
    return KeypointEvaluation(metrics, target, files)
