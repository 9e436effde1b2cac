"""The lecture's classic video classifiers on the MoViNet harness: train, evaluate, export, predict.

Tiny shapes (the session's ``tiny_records``: 4 frames of 32 px from real cfmove clips); one
training of one epoch per arch. Only ``cnn-lstm`` (the most unusual graph) exports every format;
the others export fp32 (builtin ops, parity) to keep the file short.
"""
from __future__ import annotations

import numpy as np
import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.movinet.architectures import CLASSIC_ARCHS

ALL_FORMATS_ARCH = "cnn-lstm"


def _config(records, out, arch, **extra):
    from movinet_crossfit.movinet.config import TrainConfig

    return TrainConfig(records=str(records), out=str(out), arch=arch, epochs=1, batch_size=4, optimizer="adam",
                       learning_rate=1e-3, select_best=False, early_stopping_patience=0, **extra)


@pytest.mark.parametrize("arch", CLASSIC_ARCHS)
def test_arch_trains_evaluates_exports_and_predicts(arch, tiny_records, cfmove_clips, tmp_path):
    import json

    from movinet_crossfit.movinet.evaluate import evaluate_run
    from movinet_crossfit.movinet.export import FORMATS, export_run
    from movinet_crossfit.movinet.predict import predict_video
    from movinet_crossfit.movinet.train import train

    result = train(_config(tiny_records, tmp_path / "run", arch))
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["arch"] == arch and summary["weights"].startswith("random initialisation")
    assert len(result.history["train"]["loss"]) == 1 and np.isfinite(result.history["train"]["loss"][0])

    metrics = evaluate_run(tmp_path / "run", split="test").metrics
    assert metrics["clips"] > 0 and 0.0 <= metrics["accuracy"] <= 1.0

    formats = list(FORMATS) if arch == ALL_FORMATS_ARCH else ["fp32"]
    report = export_run(tmp_path / "run", tmp_path / "export", formats=formats, records_dir=tiny_records,
                        parity_clips=8)
    assert report.model_id == arch and set(report.files) == set(formats)
    assert report.parity["formats"]["fp32"]["passed"], report.parity
    assert report.parity["formats"]["fp32"]["max_abs_diff"] < 1e-4
    card = (tmp_path / "export" / "README.md").read_text()
    assert f"# {arch} CrossFit movement classifier" in card and "random initialisation" in card

    clip = sorted((cfmove_clips / "thruster").glob("*.mp4"))[0]
    prediction = predict_video(clip, tmp_path / "export", backend="tflite")
    assert prediction.label in report.classes
    assert abs(sum(p for _, p in prediction.top_k) - 1.0) < 1e-3


def test_backbone_weights_round_trip(tmp_path):
    """Weights saved from one backbone load into a fresh model's; early fusion inflates them."""
    import tf_keras

    from movinet_crossfit.movinet.architectures import backbone_of_arch, build_arch_classifier, load_backbone_weights

    tf_keras.utils.set_random_seed(1)
    donor = build_arch_classifier("late-fusion-pool", 3, 4, 32)
    path = tmp_path / "mobilenet_v3_small_no_top.weights.h5"
    backbone_of_arch(donor).save_weights(str(path))

    fresh = build_arch_classifier("single-frame", 3, 4, 32)
    before = [w.numpy() for w in backbone_of_arch(fresh).weights]
    line = load_backbone_weights(fresh, path)
    after = backbone_of_arch(fresh).weights
    assert str(path) in line
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(backbone_of_arch(donor).weights, after))
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))

    early = build_arch_classifier("early-fusion", 3, 4, 32)
    assert "inflated to 12 channels" in load_backbone_weights(early, path)
    first = backbone_of_arch(early).weights[0].numpy()
    source = backbone_of_arch(donor).weights[0].numpy()
    np.testing.assert_allclose(first[:, :, :3] * 4, source, rtol=1e-6)
    np.testing.assert_allclose(first.reshape(*first.shape[:2], 4, 3, -1).sum(axis=2), source, rtol=1e-5)


def test_missing_or_unfit_backbone_weights_are_errors(tiny_records, tmp_path):
    from movinet_crossfit.movinet.architectures import (BackboneWeightsError, build_arch_classifier,
                                                         load_backbone_weights)
    from movinet_crossfit.movinet.train import train

    with pytest.raises(UserError, match="no such file"):
        train(_config(tiny_records, tmp_path / "run", "single-frame", backbone_weights=str(tmp_path / "nope.h5")))
    assert not (tmp_path / "run").exists()  # refused before the run folder: never a silent random start

    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an h5 file")
    model = build_arch_classifier("single-frame", 3, 4, 32)
    with pytest.raises(BackboneWeightsError, match="does not fit"):
        load_backbone_weights(model, junk)


def test_options_that_do_not_apply_are_refused(tmp_path):
    from typer.testing import CliRunner

    from movinet_crossfit.cli import app
    from movinet_crossfit.movinet.config import TrainConfig

    cases = [(["--arch", "c3d", "--fine-tune", "all"], "apply only to MoViNet"),
             (["--arch", "single-frame", "--pretrained", "a0"], "apply only to MoViNet"),
             (["--arch", "c3d", "--backbone-weights", "w.h5"], "no 2-D backbone"),
             (["--arch", "movinet-a0", "--backbone-weights", "w.h5"], "classic 2-D architectures"),
             (["--arch", "resnet"], "choose one of")]
    for args, message in cases:
        result = CliRunner().invoke(app, ["train", "--records", str(tmp_path), "--out", str(tmp_path / "r"), *args])
        assert isinstance(result.exception, UserError) and message in str(result.exception), (args, result.output)
    config = TrainConfig(arch="movinet-a0", from_scratch=True)
    config.validate()
    assert config.model_id == "a0"
    with pytest.raises(UserError, match="builds MoViNet-a2"):
        TrainConfig(arch="movinet-a2", model_id="a0", from_scratch=True).validate()


def test_conv3x3x3_is_a_3d_convolution_and_single_frame_averages_probabilities():
    import tensorflow as tf

    from movinet_crossfit.movinet.architectures import Conv3x3x3, MeanProbabilityLogits

    x = tf.random.stateless_uniform([2, 5, 6, 6, 3], seed=[1, 2])
    layer = Conv3x3x3(4)
    ours = layer(x).numpy()
    kernel = layer.conv.kernel.numpy().reshape(3, 3, 3, 3, 4).transpose(2, 0, 1, 3, 4)  # [t, h, w, cin, cout]
    reference = tf.nn.conv3d(x, kernel, strides=[1] * 5, padding="SAME").numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-5)

    logits = tf.random.stateless_normal([2, 4, 3], seed=[3, 4])
    mean = tf.reduce_mean(tf.nn.softmax(logits), axis=1)
    np.testing.assert_allclose(tf.nn.softmax(MeanProbabilityLogits()(logits)).numpy(), mean.numpy(), atol=1e-6)
