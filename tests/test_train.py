"""Training, resuming, evaluation and the weights contract, on the generated pipeline's records.

MoViNet builds cost about a minute each here, so the runs are module-scoped and few.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tf_keras
import yaml

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.movinet.train import TrainConfig, train


@pytest.fixture(scope="module")
def records_dir(generated_pipeline):
    return generated_pipeline["records"].out_dir


@pytest.fixture(scope="module")
def head_run(records_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "head"
    config = TrainConfig(records=str(records_dir), out=str(out), model_id="a0", from_scratch=True, epochs=2,
                         batch_size=4, early_stopping_patience=0)
    return train(config)


def test_run_folder_contents(head_run, records_dir):
    run = head_run.run_dir
    for name in ("config.yaml", "labels.txt", "best/checkpoint", "final/checkpoint", "history.csv",
                 "train_summary.json"):
        assert (run / name).exists(), name
    assert list((run / "logs").rglob("events.out.tfevents.*")), "TensorBoard logs missing"
    assert not (run / "backup").exists(), "backup state must be removed after a finished run"
    config = yaml.safe_load((run / "config.yaml").read_text())
    info = json.loads((records_dir / "dataset_info.json").read_text())
    assert config["num_frames"] == info["num_frames"] and config["size"] == info["size"]
    assert (run / "labels.txt").read_text().split() == info["classes"]
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["cache_features"] is True and summary["feature_cache_seconds"] > 0
    assert len(summary["history"]["head"]["loss"]) == 2


def test_evaluate_writes_metrics_and_pictures(head_run):
    from movinet_crossfit.movinet.evaluate import evaluate_run

    result = evaluate_run(head_run.run_dir, split="test", tta="flip")
    metrics = json.loads(result.files["metrics"].read_text())
    assert metrics["clips"] == sum(row["support"] for row in metrics["per_class"].values())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert np.array(metrics["confusion_matrix"]).sum() == metrics["clips"]
    assert len(metrics["predictions"]) == metrics["clips"]
    for prediction in metrics["predictions"]:
        assert abs(sum(prediction["probabilities"]) - 1.0) < 1e-3
    assert result.files["confusion_matrix"].read_bytes()[:4] == b"\x89PNG"


def test_multi_clip_tta_averages_staggered_views(head_run, records_dir, tmp_path):
    import tensorflow as tf

    from movinet_crossfit.movinet.evaluate import clip_views, evaluate_run, find_clip, view_phases
    from movinet_crossfit.data.records import load_dataset, read_info
    from movinet_crossfit.movinet.model import load_trained_classifier
    from movinet_crossfit.core.clip_sampling import to_model_input

    info = read_info(records_dir)
    frames_, size = info["num_frames"], info["size"]
    result = evaluate_run(head_run.run_dir, split="test", tta="clips", views=3, out_dir=tmp_path / "clips")
    report = result.metrics["tta_views"]
    assert report["views"] == 3 and report["single_view"] == [] and result.metrics["tta"] == "clips"

    # One clip by hand: three staggered samplings of its source file, averaged.
    first = result.metrics["predictions"][0]
    path = find_clip(Path(report["clips_dir"]), first["id"], first["label"])
    views = clip_views(path, frames_, size, view_phases(3))
    assert views.shape == (3, frames_, size, size, 3) and not np.array_equal(views[0], views[2])
    model, _, _ = load_trained_classifier(head_run.run_dir)
    expected = tf.nn.softmax(model(to_model_input(views), training=False), axis=-1).numpy().mean(axis=0)
    assert np.allclose(first["probabilities"], expected, atol=1e-4)

    # One view is the records' own sampling: the same frames as the record, up to its JPEG coding.
    record = next(f for f, _, meta in load_dataset(records_dir, "test", None, shuffle=False, with_metadata=True)
                  if meta["id"].numpy().decode() == first["id"])
    single = clip_views(path, frames_, size, view_phases(1))[0].astype(np.float32) / 255.0
    assert np.abs(single - record.numpy()).mean() < 0.03

    # Without the clip files every clip keeps its record's view, and says so.
    empty = tmp_path / "no-clips"
    empty.mkdir()
    fallback = evaluate_run(head_run.run_dir, split="test", tta="clips", clips_dir=empty, out_dir=tmp_path / "fb")
    plain = evaluate_run(head_run.run_dir, split="test", out_dir=tmp_path / "plain")
    assert len(fallback.metrics["tta_views"]["single_view"]) == plain.metrics["clips"]
    assert np.allclose([p["probabilities"] for p in fallback.metrics["predictions"]],
                       [p["probabilities"] for p in plain.metrics["predictions"]], atol=1e-5)
    with pytest.raises(UserError, match="--tta 'sideways'"):
        evaluate_run(head_run.run_dir, tta="sideways")
    with pytest.raises(UserError, match="clip folder"):
        evaluate_run(head_run.run_dir, tta="clips", clips_dir=tmp_path / "nowhere")


class _Kill(tf_keras.callbacks.Callback):
    """Stands in for a machine dying mid-epoch: raises in the middle of the second epoch."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 1:
            raise KeyboardInterrupt("simulated kill")


def test_killed_run_resumes_where_it_stopped(records_dir, tmp_path):
    config = dict(records=str(records_dir), out=str(tmp_path / "run"), model_id="a0", from_scratch=True,
                  epochs=3, batch_size=2, early_stopping_patience=0, backup_every_steps=1)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**config), extra_callbacks=(_Kill(),))
    assert (tmp_path / "run" / "backup" / "head").exists(), "no backup state was left to resume from"
    resumed = train(TrainConfig(**config))
    # Epoch 1 was interrupted after 2 steps: the rerun starts inside epoch 2 and runs 2 epochs, not 3.
    assert len(resumed.history["head"]["loss"]) == 2
    assert not (tmp_path / "run" / "backup").exists()


def test_mirrored_strategy_trains_head_and_fine_tunes(records_dir, tmp_path):
    """tf.distribute.MirroredStrategy over this machine's one CPU device: the same code path a
    multi-GPU machine takes (variables created in the strategy's scope, a distributed fit)."""
    result = train(TrainConfig(records=str(records_dir), out=str(tmp_path / "run"), model_id="a0", from_scratch=True,
                               epochs=1, fine_tune="last", fine_tune_epochs=1, batch_size=4,
                               early_stopping_patience=0, strategy="mirrored"))
    assert len(result.history["head"]["loss"]) == 1 and len(result.history["fine_tune"]["loss"]) == 1
    assert all(np.isfinite(result.history[phase]["loss"]).all() for phase in ("head", "fine_tune"))
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["strategy"] == "mirrored"


def test_weights_are_required_or_explicitly_skipped(records_dir, tmp_path):
    with pytest.raises(UserError, match="--from-scratch"):
        train(TrainConfig(records=str(records_dir), out=str(tmp_path / "x"), model_id="a0"))
    with pytest.raises(UserError, match="unknown MoViNet model id"):
        train(TrainConfig(records=str(records_dir), out=str(tmp_path / "x"), model_id="a9", from_scratch=True))
    with pytest.raises(UserError, match="records hold"):
        train(TrainConfig(records=str(records_dir), out=str(tmp_path / "x"), model_id="a0", from_scratch=True,
                          size=999))
    with pytest.raises(UserError, match="no such checkpoint.*movinet_a0_base.tar.gz"):
        train(TrainConfig(records=str(records_dir), out=str(tmp_path / "x"), model_id="a0",
                          checkpoint=str(tmp_path / "no-such-checkpoint")))


def test_train_starts_from_a_kinetics_style_checkpoint(records_dir, tmp_path):
    """A 600-class classifier's checkpoint (the official layout) seeds the backbone of the run."""
    import tensorflow as tf

    from movinet_crossfit.movinet.model import backbone_of, build_classifier
    from movinet_crossfit.movinet.model import load_trained_classifier

    info = json.loads((records_dir / "dataset_info.json").read_text())
    kinetics = build_classifier("a0", 600, info["num_frames"], info["size"])
    for variable in backbone_of(kinetics).trainable_variables:  # known, non-default weights
        variable.assign(variable + 0.01)
    tf.train.Checkpoint(model=kinetics).write(str(tmp_path / "k600" / "ckpt"))
    result = train(TrainConfig(records=str(records_dir), out=str(tmp_path / "run"), model_id="a0",
                               checkpoint=str(tmp_path / "k600" / "ckpt"), epochs=1, batch_size=4))
    assert "restored" in result.summary["weights"]
    trained, _, _ = load_trained_classifier(result.run_dir, which="final")
    source = {v.name: v.numpy() for v in backbone_of(kinetics).variables}
    for variable in backbone_of(trained).variables:  # head-only: the backbone is the checkpoint's
        np.testing.assert_array_equal(variable.numpy(), source[variable.name])


def test_config_yaml_rejects_unknown_options(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model_id: a0\nlearning_rat: 0.1\n")
    with pytest.raises(UserError, match="learning_rat"):
        TrainConfig.from_yaml(path)
