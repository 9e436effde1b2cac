"""Classification and counting metrics, one definition each, and their pictures.

Kept free of any model code so the video classifier, the keypoint classifiers, both rep counters
and the app share them.

* **Classification** (``classification_metrics``): accuracy, top-k, per-class precision/recall/F1,
  the confusion matrix, and per-class mean ± std of the probability given to the true class (the
  original report's Table 3.2).
* **Counting** (``count_metrics``), the RepCount/TransRAC metrics as TransRAC's evaluation computes
  them, predictions rounded to whole reps first (what a user is shown):

  - **MAE** = mean of |round(pred) - true| / true over the items whose true count is above 0. A
    true 0 has no relative error: such items are left out of MAE (``mae_items`` says how many
    were in). TransRAC's code divides by ``true + 0.1`` instead: within 10 % of the paper's
    formula (ours) when every true count is at least 1.
  - **OBO** (off-by-one accuracy) = share of *all* items with |round(pred) - true| <= 1.

  ``Rep`` is one counted repetition, the unit both counters report.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from movinet_crossfit.core.fileio import save_figure


def classification_metrics(labels: Sequence[int], probabilities: np.ndarray, classes: Sequence[str],
                           top_k: Sequence[int] = (1, 3)) -> dict:
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n, num_classes = probabilities.shape
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} predictions")
    if num_classes != len(classes):
        raise ValueError(f"{num_classes} probability columns for {len(classes)} classes")
    predicted = probabilities.argmax(axis=1)
    ranked = np.argsort(-probabilities, axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    true_probability = probabilities[np.arange(n), labels] if n else np.zeros(0)
    for index, name in enumerate(classes):
        tp = int(confusion[index, index])
        support = int(confusion[index].sum())
        predicted_as = int(confusion[:, index].sum())
        precision = tp / predicted_as if predicted_as else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        own = true_probability[labels == index]
        per_class[name] = {
            "support": support, "precision": precision, "recall": recall, "f1": f1,
            "true_class_probability_mean": float(own.mean()) if len(own) else None,
            "true_class_probability_std": float(own.std(ddof=1)) if len(own) > 1 else None,
        }
    supported = [m for m in per_class.values() if m["support"]]
    return {
        "clips": int(n),
        "accuracy": float((predicted == labels).mean()) if n else 0.0,
        **{f"top{k}_accuracy": float((ranked[:, :k] == labels[:, None]).any(axis=1).mean()) if n else 0.0
           for k in top_k if k <= num_classes},
        "macro_f1": float(np.mean([m["f1"] for m in supported])) if supported else 0.0,
        "per_class": per_class,
        "classes": list(classes),
        "confusion_matrix": confusion.tolist(),
    }


def plot_confusion_matrix(confusion: Sequence[Sequence[int]], classes: Sequence[str],
                          path: str | os.PathLike, title: str = "confusion matrix") -> Path:
    """Row-normalised colours with raw counts written in each cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(confusion)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    size = 1.2 + 0.55 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center",
                        color="white" if share[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_true_class_probabilities(labels: Sequence[int], probabilities: np.ndarray, classes: Sequence[str],
                                  path: str | os.PathLike) -> Path:
    """One strip per true class: the probability the model gave that class (report's Figure A.1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(classes) + 1.5))
    rng = np.random.default_rng(0)
    for index in range(len(classes)):
        own = probabilities[labels == index, index]
        ax.scatter(own, index + rng.uniform(-0.15, 0.15, len(own)), s=12, alpha=0.7)
    ax.set_yticks(range(len(classes)), classes)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("predicted probability of the true class")
    fig.tight_layout()
    return save_figure(fig, path)


# --------------------------------------------------------------------------- counting

@dataclass(frozen=True)
class Rep:
    """One completed repetition: frames ``[start_frame, end_frame]`` (inclusive)."""

    index: int
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float


def count_metrics(predicted: Sequence[float], true: Sequence[float], round_predictions: bool = True) -> dict:
    """MAE and OBO as defined in the module docstring, plus the plain mean absolute error.

    ``round_predictions=False`` scores the raw fractional counts instead (RepNet's output before
    it is shown). ``mae`` is ``None`` when no item has a true count above 0; ``obo`` and
    ``mean_absolute_error`` are ``None`` when there are no items.
    """
    pred = np.asarray(predicted, dtype=np.float64)
    truth = np.asarray(true, dtype=np.float64)
    if pred.shape != truth.shape:
        raise ValueError(f"{pred.shape[0]} predictions for {truth.shape[0]} true counts")
    if round_predictions:
        pred = np.round(pred)
    error = np.abs(pred - truth)
    positive = truth > 0
    return {"items": int(len(truth)),
            "mae": float((error[positive] / truth[positive]).mean()) if positive.any() else None,
            "mae_items": int(positive.sum()),
            "obo": float((error <= 1).mean()) if len(truth) else None,
            "mean_absolute_error": float(error.mean()) if len(truth) else None,
            "rounded": bool(round_predictions)}
