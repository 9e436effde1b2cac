"""Every architecture `train --arch` offers, through the one harness: train, evaluate, export, predict.

Kept cheap (the file runs in the full suite on 2 cores): the session's ``tiny_records`` (2 classes,
4 frames of 32 px from real cfmove clips), one epoch of one optimizer step (the batch holds the whole
train split), and only the fp32 TFLite file (the parity reference; its ops are checked to be builtin).
One weights file, written once, serves the backbone-weights tests and the early-fusion run (which
trains from it).
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY_FRAMES, TINY_SIZE
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.movinet.architectures import CLASSIC_ARCHS

# movinet-a2 has its own test below (it also checks the run's model id).
ARCHS = (*CLASSIC_ARCHS, "movinet-a0")
# The arch whose run starts from the written backbone weights (its first convolution is inflated).
WEIGHTS_ARCH = "early-fusion"
NON_BUILTIN = ("CUSTOM", "Flex")
NOT_ON_PHONES = {"CONV_3D", "CONV_3D_TRANSPOSE", "MAX_POOL_3D", "AVERAGE_POOL_3D"}


@pytest.fixture(scope="module")
def tiny_splits(tiny_records) -> dict:
    """The tiny records' clips per split (a batch of all the train clips: one optimizer step)."""
    from movinet_crossfit.data.records import read_info

    return {name: int(entry["clips"]) for name, entry in read_info(tiny_records)["splits"].items()}


@pytest.fixture(scope="module")
def real_clip(cfmove_clips):
    return sorted((cfmove_clips / "thruster").glob("*.mp4"))[0]


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory):
    """A MobileNetV3Small (no top) weights file, as Keras writes ImageNet's: ``(path, its weights)``."""
    import tf_keras

    from movinet_crossfit.movinet.architectures import build_backbone_2d

    tf_keras.utils.set_random_seed(1)
    donor = build_backbone_2d(TINY_SIZE)
    path = tmp_path_factory.mktemp("backbone") / "mobilenet_v3_small_no_top.weights.h5"
    donor.save_weights(str(path))
    return path, [w.numpy() for w in donor.weights]


def _config(records, out, arch, batch_size=4, **extra):
    from movinet_crossfit.movinet.config import TrainConfig

    if arch.startswith("movinet"):
        extra.setdefault("from_scratch", True)
    return TrainConfig(records=str(records), out=str(out), arch=arch, epochs=1, batch_size=batch_size,
                       optimizer="adam", learning_rate=1e-3, select_best=False, early_stopping_patience=0, **extra)


def _train_evaluate_export_predict(arch, records, splits, out, clip, **options) -> dict:
    """One optimizer step of training, then the harness's evaluate, fp32 export and TFLite predict on
    the run, each stage's result checked. Returns the run's train summary."""
    import json

    from movinet_crossfit.core.tflite import tflite_op_names
    from movinet_crossfit.movinet.evaluate import evaluate_run
    from movinet_crossfit.movinet.export import export_run
    from movinet_crossfit.movinet.predict import predict_video
    from movinet_crossfit.movinet.train import train

    movinet = arch.startswith("movinet")
    result = train(_config(records, out / "run", arch, splits["train"], **options))
    summary = json.loads((out / "run" / "train_summary.json").read_text())
    assert summary["arch"] == arch
    # MoViNet on a CPU: the backbone's features are cached and its head trains on them.
    losses = result.history["head" if movinet else "train"]["loss"]
    assert len(losses) == 1 and np.isfinite(losses[0])

    metrics = evaluate_run(out / "run", split="test").metrics
    assert metrics["clips"] == splits["test"] and 0.0 <= metrics["accuracy"] <= 1.0

    report = export_run(out / "run", out / "export", formats=["fp32"], records_dir=records, parity_clips=4)
    assert report.model_id == (arch.split("-")[1] if movinet else arch) and set(report.files) == {"fp32"}
    parity = report.parity["formats"]["fp32"]
    assert report.parity["clips"] == 4 and parity["passed"] and parity["max_abs_diff"] < 1e-4, report.parity
    ops = set(tflite_op_names(out / "export" / report.files["fp32"]))
    assert "CONV_2D" in ops and not [op for op in ops if op.startswith(NON_BUILTIN)], ops
    assert not ops & NOT_ON_PHONES, ops
    card = (out / "export" / "README.md").read_text()
    title = f"MoViNet-{report.model_id.upper()}" if movinet else arch
    assert f"# {title} CrossFit movement classifier" in card and summary["weights"] in card

    prediction = predict_video(clip, out / "export", backend="tflite")
    assert prediction.backend == "tflite" and prediction.label in report.classes
    assert abs(sum(prediction.probabilities.values()) - 1.0) < 1e-3
    return summary


@pytest.mark.parametrize("arch", ARCHS)
def test_arch_trains_evaluates_exports_and_predicts(arch, tiny_records, tiny_splits, backbone_file, real_clip,
                                                    tmp_path):
    weights = {"backbone_weights": str(backbone_file[0])} if arch == WEIGHTS_ARCH else {}
    summary = _train_evaluate_export_predict(arch, tiny_records, tiny_splits, tmp_path, real_clip, **weights)
    if arch == "movinet-a0":
        assert summary["weights"] == "random (--from-scratch)"
    elif arch == WEIGHTS_ARCH:  # train loaded the written file and inflated the first convolution
        assert str(backbone_file[0]) in summary["weights"]
        assert f"inflated to {3 * TINY_FRAMES} channels" in summary["weights"]
    else:
        assert summary["weights"].startswith("random initialisation")


def test_movinet_a2_trains_evaluates_exports_and_predicts(tiny_records, tiny_splits, real_clip, tmp_path):
    """A2 is A0's code path with more blocks: built, trained one step, evaluated, exported and run at
    the tiny size."""
    import yaml

    summary = _train_evaluate_export_predict("movinet-a2", tiny_records, tiny_splits, tmp_path, real_clip)
    assert summary["weights"] == "random (--from-scratch)"
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["model_id"] == "a2"


def test_backbone_weights_load_inflate_and_unfit_files_are_refused(backbone_file, tmp_path):
    """The written file loads into a fresh backbone; early fusion inflates it; a junk file is refused
    and leaves the weights as they were."""
    import tf_keras

    from movinet_crossfit.movinet.architectures import (BackboneWeightsError, backbone_of_arch,
                                                         build_arch_classifier, load_backbone_weights)

    path, source = backbone_file
    tf_keras.utils.set_random_seed(2)
    fresh = build_arch_classifier("single-frame", 2, TINY_FRAMES, TINY_SIZE)
    before = [w.numpy() for w in backbone_of_arch(fresh).weights]
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an h5 file")
    with pytest.raises(BackboneWeightsError, match="does not fit"):
        load_backbone_weights(fresh, junk)
    assert all(np.array_equal(b, a.numpy()) for b, a in zip(before, backbone_of_arch(fresh).weights))

    line = load_backbone_weights(fresh, path)
    after = backbone_of_arch(fresh).weights
    assert str(path) in line and len(after) == len(source)
    assert all(np.array_equal(s, a.numpy()) for s, a in zip(source, after))
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))

    early = build_arch_classifier("early-fusion", 2, TINY_FRAMES, TINY_SIZE)
    assert f"inflated to {3 * TINY_FRAMES} channels" in load_backbone_weights(early, path)
    first = backbone_of_arch(early).weights[0].numpy()
    np.testing.assert_allclose(first[:, :, :3] * TINY_FRAMES, source[0], rtol=1e-6)
    np.testing.assert_allclose(first.reshape(*first.shape[:2], TINY_FRAMES, 3, -1).sum(axis=2), source[0],
                               rtol=1e-5)
    assert all(np.array_equal(s, a.numpy()) for s, a in zip(source[1:], backbone_of_arch(early).weights[1:]))


def test_missing_backbone_weights_file_stops_train_before_the_run_folder(tiny_records, tmp_path):
    from movinet_crossfit.movinet.train import train

    with pytest.raises(UserError, match="no such file"):
        train(_config(tiny_records, tmp_path / "run", "single-frame", backbone_weights=str(tmp_path / "nope.h5")))
    assert not (tmp_path / "run").exists()  # refused before the run folder: never a silent random start


def test_options_that_do_not_apply_are_refused(tmp_path, capsys):
    """Through the CLI's entry point: exit 2 and one line naming the mistake, no traceback."""
    from movinet_crossfit.cli import main
    from movinet_crossfit.movinet.config import TrainConfig

    cases = [(["--arch", "c3d", "--fine-tune", "all"], "apply only to MoViNet"),
             (["--arch", "single-frame", "--pretrained", "a0"], "apply only to MoViNet"),
             (["--arch", "c3d", "--backbone-weights", "w.h5"], "no 2-D backbone"),
             (["--arch", "movinet-a0", "--backbone-weights", "w.h5"], "classic 2-D architectures"),
             (["--arch", "resnet"], "choose one of")]
    for args, message in cases:
        with pytest.raises(SystemExit) as exited:
            main(["train", "--records", str(tmp_path), "--out", str(tmp_path / "r"), *args])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert exited.value.code == 2 and len(lines) == 1 and message in lines[0], (args, err)
        assert lines[0].startswith("error:") and "Traceback" not in err
    assert not (tmp_path / "r").exists()
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
