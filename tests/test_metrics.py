"""Classification and counting metrics against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from movinet_crossfit.core.metrics import (classification_metrics, count_metrics, plot_confusion_matrix,
                                           plot_true_class_probabilities)


def test_metrics_by_hand(tmp_path):
    classes = ["a", "b", "c"]
    labels = [0, 0, 1, 1, 2]
    probs = np.array([
        [0.7, 0.2, 0.1],   # a -> a
        [0.2, 0.5, 0.3],   # a -> b (a is 3rd? no: 0.2 < 0.3, so a ranks 3rd)
        [0.1, 0.8, 0.1],   # b -> b
        [0.3, 0.3, 0.4],   # b -> c (b ties a for 2nd)
        [0.1, 0.1, 0.8],   # c -> c
    ])
    m = classification_metrics(labels, probs, classes, top_k=(1, 2))
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["per_class"]["a"]["precision"] == pytest.approx(1.0)
    assert m["per_class"]["a"]["recall"] == pytest.approx(0.5)
    assert m["per_class"]["c"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.5)
    assert m["per_class"]["a"]["true_class_probability_mean"] == pytest.approx(0.45)
    assert m["per_class"]["a"]["true_class_probability_std"] == pytest.approx(np.std([0.7, 0.2], ddof=1))
    assert m["per_class"]["c"]["true_class_probability_std"] is None
    assert 3 / 5 <= m["top2_accuracy"] <= 1.0
    png = plot_confusion_matrix(m["confusion_matrix"], classes, tmp_path / "cm.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    png = plot_true_class_probabilities(labels, probs, classes, tmp_path / "p.png")
    assert png.stat().st_size > 1000


def test_mismatched_shapes_are_errors():
    with pytest.raises(ValueError, match="2 labels for 3 predictions"):
        classification_metrics([0, 1], np.eye(3), ["a", "b", "c"])
    with pytest.raises(ValueError, match="3 probability columns for 2 classes"):
        classification_metrics([0, 1, 1], np.eye(3), ["a", "b"])


def test_count_metrics_pin_the_repcount_definition():
    """MAE = mean |round(pred) - true| / true over the items with true > 0; OBO = share of all
    items with |round(pred) - true| <= 1; predictions rounded to whole reps first."""
    predicted, true = [2.4, 5.0, 9.6, 0.3, 1.6], [2, 4, 12, 0, 0]
    m = count_metrics(predicted, true)  # rounded: 2, 5, 10, 0, 2 -> errors 0, 1, 2, 0, 2
    assert m["mae"] == pytest.approx((0 / 2 + 1 / 4 + 2 / 12) / 3)  # the two true-0 items are not in MAE
    assert m["mae_items"] == 3 and m["items"] == 5 and m["rounded"] is True
    assert m["obo"] == pytest.approx(3 / 5)  # ... but are in OBO: 0 -> 0 is right, 0 -> 2 is off by two
    assert m["mean_absolute_error"] == pytest.approx(5 / 5)
    raw = count_metrics(predicted, true, round_predictions=False)  # errors 0.4, 1, 2.4, 0.3, 1.6
    assert raw["mae"] == pytest.approx((0.4 / 2 + 1 / 4 + 2.4 / 12) / 3)
    assert raw["obo"] == pytest.approx(3 / 5) and raw["rounded"] is False
    only_zero = count_metrics([1.0], [0])
    assert only_zero["mae"] is None and only_zero["mae_items"] == 0 and only_zero["obo"] == 1.0
    empty = count_metrics([], [])
    assert empty["mae"] is None and empty["obo"] is None and empty["items"] == 0
    with pytest.raises(ValueError, match="2 predictions for 1 true counts"):
        count_metrics([1, 2], [1])


def test_both_counters_use_the_one_definition():
    from movinet_crossfit.core import metrics
    from movinet_crossfit.posecount import evaluate as pose_evaluate
    from movinet_crossfit.repnet import evaluate as repnet_evaluate

    assert repnet_evaluate.count_metrics is metrics.count_metrics
    assert pose_evaluate.count_metrics is metrics.count_metrics
