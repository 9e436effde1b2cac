"""The demo, small: the corpus half alone, and every step end to end at a tiny size."""
from __future__ import annotations

import json

import numpy as np

from movinet_crossfit.demo import DemoConfig, run_demo


def test_demo_corpus_steps(tmp_path):
    outputs = run_demo(tmp_path / "demo", DemoConfig(clips_per_class=2, size=32, num_frames=4, train=False))
    info = json.loads((outputs["records"] / "dataset_info.json").read_text())
    assert sum(s["clips"] for s in info["splits"].values()) == 2 * 9
    assert len(info["classes"]) == 9
    assert outputs["stats"]["png"].stat().st_size > 1000
    assert len(list(outputs["clips"].glob("*/*.mp4"))) == 2 * 9
    # The demo ends by analysing a generated set with faulty reps: every rep found and judged as drawn.
    analysis = outputs["analysis"]
    assert analysis["count"] == analysis["true_count"] == 6
    assert (analysis["valid"], analysis["no_reps"], analysis["verdicts_matching_faults"]) == (4, 2, 6)
    from movinet_crossfit.core.video import probe

    assert probe(analysis["overlay"]).num_frames == probe(analysis["video"]).num_frames
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    assert summary["analysis"] == analysis and summary["seconds"]["analyze"] >= 0


def test_demo_end_to_end_small(tmp_path):
    """Every model step of the demo (train from scratch, evaluate, export, predict) at a tiny size."""
    import tensorflow as tf

    outputs = run_demo(tmp_path / "demo", DemoConfig(clips_per_class=4, size=32, num_frames=4, epochs=1))
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    for step in ("corpus", "manifest", "split", "records", "stats", "train", "evaluate", "export", "predict", "total"):
        assert summary["seconds"][step] >= 0, step
    assert summary["seconds"]["total"] >= summary["seconds"]["train"] + summary["seconds"]["export"]
    metrics = json.loads((outputs["run"] / "eval_test" / "metrics.json").read_text())
    assert summary["test_accuracy"] == metrics["accuracy"] and summary["test_clips"] == metrics["clips"] > 0
    assert summary["config"]["max_per_video"] == 1 and summary["config"]["optimizer"] == "rmsprop"

    # The test split is the validation split, so no epoch is chosen on it: best/ is the last epoch.
    best = tf.train.load_checkpoint(str(outputs["run"] / "best"))
    final = tf.train.load_checkpoint(str(outputs["run"] / "final"))
    names = [n for n in best.get_variable_to_shape_map() if "kernel" in n and "OPTIMIZER" not in n]
    assert names and all(np.array_equal(best.get_tensor(n), final.get_tensor(n)) for n in names)
    train_summary = json.loads((outputs["run"] / "train_summary.json").read_text())
    assert train_summary["select_best"] is False and train_summary["final_val_accuracy"] is not None

    assert sorted(p.name for p in outputs["export"].glob("*.tflite")) == [
        "model_dynamic.tflite", "model_fp16.tflite", "model_fp32.tflite", "model_int8.tflite"]
    predictions = outputs["predictions"]
    assert set(predictions) == {"saved_model", "tflite"}
    assert summary["predictions"] == {k: v.label for k, v in predictions.items()}
    for prediction in predictions.values():
        assert prediction.label in metrics["per_class"]
