"""Evaluate a training run on a records split: metrics.json, confusion matrix and probability plots."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from movinet_crossfit.errors import UserError
from movinet_crossfit.fileio import write_json_atomic
from movinet_crossfit.metrics import classification_metrics, plot_confusion_matrix, plot_true_class_probabilities


@dataclass
class Evaluation:
    metrics: dict
    out_dir: Path
    files: dict


def predict_records(model, records_dir: str | os.PathLike, split: str, *, batch_size: int = 8,
                    tta: str = "none") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Class probabilities for every clip of a split: ``(labels, probabilities, ids)``.

    ``tta="flip"`` averages the probabilities of each clip and its mirror image (a movement
    filmed from the other side is the same movement).
    """
    import tensorflow as tf

    from movinet_crossfit.records import load_dataset

    if tta not in ("none", "flip"):
        raise UserError(f"--tta {tta!r}: choose none or flip")
    # Eager calls of a MoViNet are ~10x slower than the traced graph.
    forward = tf.function(lambda x: tf.nn.softmax(model(x, training=False), axis=-1), reduce_retracing=True)
    labels, probabilities, ids = [], [], []
    for frames, label, meta in load_dataset(records_dir, split, batch_size, shuffle=False, with_metadata=True):
        probs = forward(frames)
        if tta == "flip":
            probs = (probs + forward(tf.reverse(frames, axis=[3]))) / 2
        probabilities.append(probs.numpy())
        labels.append(label.numpy())
        ids.extend(i.decode() for i in meta["id"].numpy())
    if not probabilities:
        raise UserError(f"{records_dir}: the '{split}' split is empty")
    return np.concatenate(labels), np.concatenate(probabilities), ids


def evaluate_run(run_dir: str | os.PathLike, *, split: str = "test", records: Optional[str] = None,
                 out_dir: Optional[str | os.PathLike] = None, tta: str = "none", batch_size: int = 8) -> Evaluation:
    from movinet_crossfit.records import read_info
    from movinet_crossfit.runs import load_trained_classifier

    run_dir = Path(run_dir)
    model, classes, config = load_trained_classifier(run_dir)
    records = records or config["records"]
    info = read_info(records)
    if list(info["classes"]) != classes:
        raise UserError(f"{records}: its classes {info['classes']} differ from the run's {classes}")
    labels, probabilities, ids = predict_records(model, records, split, batch_size=batch_size, tta=tta)
    metrics = classification_metrics(labels, probabilities, classes)
    metrics.update({"split": split, "records": str(records), "run": str(run_dir), "tta": tta})
    out_dir = Path(out_dir) if out_dir else run_dir / f"eval_{split}"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "metrics": out_dir / "metrics.json",
        "confusion_matrix": plot_confusion_matrix(metrics["confusion_matrix"], classes, out_dir / "confusion_matrix.png",
                                                  title=f"{run_dir.name} · {split} · accuracy {metrics['accuracy']:.3f}"),
        "probabilities": plot_true_class_probabilities(labels, probabilities, classes, out_dir / "probabilities.png"),
    }
    metrics["predictions"] = [{"id": i, "label": classes[int(t)], "predicted": classes[int(p.argmax())],
                               "probabilities": [round(float(x), 6) for x in p]}
                              for i, t, p in zip(ids, labels, probabilities)]
    write_json_atomic(files["metrics"], metrics)
    return Evaluation(metrics, out_dir, files)
