"""MoViNet classifier: the fast builtin-op graph against Model Garden's, and verified weight loading.

Building a MoViNet costs seconds and tracing Model Garden's XLA graph more, so the models are
session fixtures built once: an a0 "Kinetics" classifier (600 classes, seeded random weights,
written in the official checkpoint layout), a fresh a0 with a 9-class head to load into, and the
real-size a2 (which also serves as the wrong model for an a0 checkpoint).
"""
from __future__ import annotations

import json
import logging
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

import movinet_crossfit  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from official.vision.modeling.layers import nn_layers  # noqa: E402

from movinet_crossfit.core.errors import UserError  # noqa: E402
from movinet_crossfit.movinet import fast_ops
from movinet_crossfit.movinet import model as movinet  # noqa: E402

FRAMES, SIZE = 4, 64  # tiny a0: enough for stride-2 stages down to 2x2 and both temporal kernels


def _randomize(model: tf_keras.Model, seed: int) -> None:
    """Seeded, non-degenerate weights: ReZero scales (zero at init) and BN statistics made non-trivial,
    so every depthwise kernel, pool and skip path reaches the output."""
    rng = np.random.default_rng(seed)
    for var in model.variables:
        name, shape = var.name, var.shape
        if name.endswith("/scale:0"):
            value = rng.uniform(0.3, 1.0, shape)
        elif "moving_variance" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "gamma" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            value = rng.normal(0.0, 0.1, shape)
        else:  # kernels: He-normal like the initializer, from our own seed
            fan_in = int(np.prod(shape[:-1])) or 1
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        var.assign(value.astype(np.float32))


def _clip(seed: int, frames: int = FRAMES, size: int = SIZE, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (batch, frames, size, size, 3)).astype(np.float32)


def _run(model: tf_keras.Model, x: np.ndarray) -> np.ndarray:
    return tf.function(lambda v: model(v, training=False))(tf.constant(x)).numpy()


@pytest.fixture(scope="session")
def kinetics_a0():
    """An a0 like the official checkpoint's model: 600-class head, here with seeded random weights."""
    tf_keras.utils.set_random_seed(0)
    model = movinet.build_classifier("a0", movinet.KINETICS_600_CLASSES, FRAMES, SIZE, fast=False)
    _randomize(model, seed=1)
    return model


@pytest.fixture(scope="session")
def fresh_a0():
    tf_keras.utils.set_random_seed(2)
    return movinet.build_classifier("a0", 9, FRAMES, SIZE)


@pytest.fixture(scope="session")
def a2_real():
    return movinet.build_classifier("a2", 9, 10, 224)


@pytest.fixture(scope="session")
def kinetics_checkpoint(kinetics_a0, tmp_path_factory) -> Path:
    """The official layout: folder movinet_a0_base/ with `checkpoint`, ckpt-1.index, ckpt-1.data-*."""
    folder = tmp_path_factory.mktemp("weights") / "movinet_a0_base"
    tf.train.Checkpoint(model=kinetics_a0).save(str(folder / "ckpt"))
    return folder


@pytest.fixture(scope="session")
def kinetics_archive(kinetics_checkpoint) -> Path:
    archive = kinetics_checkpoint.parent / "movinet_a0_base.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(kinetics_checkpoint, arcname="movinet_a0_base")
    return archive


def _backbone_values(model) -> dict[str, np.ndarray]:
    return {v.name: v.numpy() for v in movinet.backbone_of(model).variables}


def _assert_backbone_equal(loaded, source) -> None:
    ours, theirs = _backbone_values(loaded), _backbone_values(source)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


# --- builder ----------------------------------------------------------------------------------


def test_unknown_model_id_lists_the_valid_ones():
    with pytest.raises(UserError, match="a0, a1, a2, a3, a4, a5"):
        movinet.build_classifier("a9")


def test_classifier_shapes_features_and_head(fresh_a0):
    x = _clip(3)
    logits = _run(fresh_a0, x)
    assert logits.shape == (2, 9)
    assert fast_ops.uses_fast_ops(fresh_a0)
    features = _run(movinet.build_backbone_features(fresh_a0), x)
    assert features.shape == (2, movinet.feature_dim(fresh_a0)) == (2, 480)
    head = movinet.build_head(fresh_a0)
    # The head alone on cached features is the classifier: same layers, same variables.
    np.testing.assert_allclose(_run(head, features), logits, atol=1e-5)
    assert {v.ref() for v in head.trainable_variables} <= {v.ref() for v in fresh_a0.trainable_variables}
    assert movinet.spec_of(fresh_a0) == movinet.MovinetSpec("a0", 9, FRAMES, SIZE, False)


# --- the fast graph ---------------------------------------------------------------------------


def _conv_layer(kernel, strides=(1, 1, 1), padding="same", depthwise=True, buffered=False,
                use_bias=False, channels=6):
    return nn_layers.Conv3D(channels if depthwise else 5, kernel, strides=strides, padding=padding,
                            groups=channels if depthwise else 1, use_bias=use_bias,
                            use_buffered_input=buffered, bias_initializer="random_normal")


@pytest.mark.parametrize("kernel,strides,padding,depthwise,buffered,use_bias,shape", [
    ((3, 3, 3), (1, 1, 1), "same", True, False, False, (2, 5, 9, 9, 6)),
    ((5, 3, 3), (1, 2, 2), "same", True, False, False, (2, 6, 10, 10, 6)),
    ((5, 3, 3), (1, 2, 2), "same", True, False, False, (1, 3, 9, 7, 6)),  # T < kt, odd sizes
    ((1, 5, 5), (1, 2, 2), "same", True, False, False, (2, 4, 8, 8, 6)),
    ((3, 3, 3), (1, 1, 1), "causal", True, False, False, (2, 5, 8, 8, 6)),
    ((5, 3, 3), (1, 2, 2), "causal", True, False, False, (2, 6, 9, 9, 6)),
    ((5, 3, 3), (1, 1, 1), "causal", True, True, False, (2, 8, 6, 6, 6)),  # after a stream buffer
    ((1, 3, 3), (1, 2, 2), "same", False, False, True, (2, 3, 11, 11, 6)),  # the stem
    ((1, 1, 1), (1, 1, 1), "same", False, False, True, (2, 3, 4, 4, 6)),  # pointwise
    ((3, 1, 1), (1, 1, 1), "causal", False, False, True, (2, 4, 4, 4, 6)),
])
def test_conv3d_as_2d_is_exact(kernel, strides, padding, depthwise, buffered, use_bias, shape):
    tf_keras.utils.set_random_seed(4)
    layer = _conv_layer(kernel, strides, padding, depthwise, buffered, use_bias, channels=shape[-1])
    x = tf.random.normal(shape, seed=5)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        original = layer(x)
        fast = fast_ops.conv3d_as_2d(layer, x)
    assert fast.shape == original.shape
    np.testing.assert_allclose(fast.numpy(), original.numpy(), atol=1e-5)
    # Training goes through the same variables: gradients agree too.
    weights = np.random.default_rng(6).normal(size=original.shape).astype(np.float32)
    for target in (x, layer.kernel):
        g_original = tape.gradient(original, target, output_gradients=weights)
        g_fast = tape.gradient(fast, target, output_gradients=weights)
        np.testing.assert_allclose(g_fast.numpy(), g_original.numpy(), atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 3, 8, 8, 5), (1, 2, 7, 9, 5)])
def test_avg_pool3d_as_2d_is_exact(shape):
    layer = tf_keras.layers.AveragePooling3D((1, 3, 3), (1, 2, 2), padding="same")
    x = tf.random.normal(shape, seed=7)
    np.testing.assert_allclose(fast_ops.avg_pool3d_as_2d(layer, x).numpy(), layer(x).numpy(), atol=1e-6)


def test_fast_graph_equals_model_garden_graph(kinetics_a0):
    """Same variables, both graphs: logits and backbone features agree within 1e-4."""
    x = _clip(8)
    features_model = movinet.build_backbone_features(kinetics_a0)
    assert not fast_ops.uses_fast_ops(kinetics_a0)
    original, original_features = _run(kinetics_a0, x), _run(features_model, x)
    assert fast_ops.use_fast_ops(kinetics_a0) == 87
    try:
        fast, fast_features = _run(kinetics_a0, x), _run(features_model, x)
    finally:
        fast_ops.use_fast_ops(kinetics_a0, False)
    assert np.abs(original).max() > 0.1  # weights are non-degenerate: the test can fail
    np.testing.assert_allclose(fast, original, atol=1e-4)
    np.testing.assert_allclose(fast_features, original_features, atol=1e-4)
    # The depthwise kernels really run in the fast graph: changing one changes the output.
    kernel = next(v for v in kinetics_a0.variables if "block1_layer0/bneck/feature/conv3d/kernel" in v.name)
    saved = kernel.numpy()
    fast_ops.use_fast_ops(kinetics_a0)
    try:
        kernel.assign(saved * 3.0)
        assert np.abs(_run(kinetics_a0, x) - fast).max() > 1e-3
    finally:
        kernel.assign(saved)
        fast_ops.use_fast_ops(kinetics_a0, False)


def test_real_size_a2_runs_on_the_fast_graph(a2_real):
    """The real-size A2 (224 x 224, 10 frames) is built on the fast graph and runs it; its speed
    against Model Garden's graph is measured by ``benchmarks/bench_movinet.py`` (no timed test)."""
    x = _clip(12, frames=10, size=224, batch=1)
    logits = tf.function(lambda v: a2_real(v, training=False))(tf.constant(x)).numpy()
    assert logits.shape == (1, 9) and np.isfinite(logits).all() and fast_ops.uses_fast_ops(a2_real)


# --- pretrained weights -----------------------------------------------------------------------


def test_load_checkpoint_folder_restores_the_backbone_only(kinetics_a0, kinetics_checkpoint, fresh_a0):
    head_before = [v.numpy() for v in fresh_a0.trainable_variables if "classifier_head" in v.name]
    report = movinet.load_pretrained(fresh_a0, checkpoint=kinetics_checkpoint)
    assert report.restored == len(movinet.backbone_of(fresh_a0).variables) == 330
    assert report.kind == "checkpoint" and report.checkpoint.endswith("ckpt-1")
    assert len(report.ignored) == 4  # the Kinetics head: two 1x1x1 convs, kernel + bias each
    _assert_backbone_equal(fresh_a0, kinetics_a0)
    head_after = [v.numpy() for v in fresh_a0.trainable_variables if "classifier_head" in v.name]
    assert [h.shape[-1] for h in head_after] == [2048, 2048, 9, 9]
    for before, after in zip(head_before, head_after):
        np.testing.assert_array_equal(before, after)
    # Identical backbone outputs (the source in its original graph, the new model in the fast one).
    x = _clip(13)
    np.testing.assert_allclose(_run(movinet.build_backbone_features(fresh_a0), x),
                               _run(movinet.build_backbone_features(kinetics_a0), x), atol=1e-4)


def test_load_official_archive(kinetics_a0, kinetics_archive, fresh_a0):
    _randomize(fresh_a0, seed=14)
    report = movinet.load_pretrained(fresh_a0, archive=kinetics_archive)
    assert report.kind == "archive" and "movinet_a0_base" in report.checkpoint
    _assert_backbone_equal(fresh_a0, kinetics_a0)


def test_load_local_hub_savedmodel(kinetics_a0, fresh_a0, tmp_path):
    # A SavedModel holding the classifier's variables under their Keras names, as the hub
    # classification model does (without its traced functions, which take a minute to save).
    module = tf.Module()
    module.weights = list(kinetics_a0.variables)
    tf.saved_model.save(module, str(tmp_path / "hub"))
    _randomize(fresh_a0, seed=15)
    report = movinet.load_pretrained(fresh_a0, hub=str(tmp_path / "hub"))
    assert report.kind == "hub" and report.restored == 330
    assert any("classifier_head" in name for name in report.ignored)
    _assert_backbone_equal(fresh_a0, kinetics_a0)


def test_checkpoint_of_another_model_id_is_refused(kinetics_checkpoint, a2_real):
    before = _backbone_values(a2_real)
    with pytest.raises(UserError) as error:
        movinet.load_pretrained(a2_real, checkpoint=kinetics_checkpoint)
    message = str(error.value)
    assert str(kinetics_checkpoint) in message
    assert "MoViNet-a2" in message and "looks like MoViNet-a0" in message
    assert "backbone variables" in message and "block" in message  # a count and some names
    assert "movinet_a2_base.tar.gz" in message
    after = _backbone_values(a2_real)  # nothing was assigned
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_missing_checkpoint_names_the_file_and_where_to_get_it(fresh_a0, tmp_path):
    missing = tmp_path / "movinet_a0_base"
    with pytest.raises(UserError, match=r"movinet_a0_base: no such checkpoint.*storage\.googleapis"
                                        r"\.com/tf_model_garden/vision/movinet/movinet_a0_base\.tar\.gz"):
        movinet.load_pretrained(fresh_a0, checkpoint=missing)
    with pytest.raises(UserError, match="no such archive"):
        movinet.load_pretrained(fresh_a0, archive=tmp_path / "movinet_a0_base.tar.gz")
    with pytest.raises(UserError, match="no such SavedModel folder.*tfhub.dev/tensorflow/movinet/a0"):
        movinet.load_pretrained(fresh_a0, hub=str(tmp_path / "hub"))
    with pytest.raises(UserError, match="exactly one"):
        movinet.load_pretrained(fresh_a0)


def test_partial_checkpoint_is_refused(kinetics_checkpoint, fresh_a0, tmp_path):
    prefix = tf.train.latest_checkpoint(str(kinetics_checkpoint))
    reader = tf.train.load_checkpoint(prefix)
    # Drop every tensor of one bottleneck block (the 4th layer with weights of the backbone).
    dropped = "model/layer_with_weights-0/layer_with_weights-4/"
    keys = [k for k in reader.get_variable_to_shape_map() if not k.startswith(dropped)]
    assert len(keys) < len(reader.get_variable_to_shape_map())
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "partial"), tensor_names=keys,
                      shape_and_slices=[""] * len(keys), tensors=[reader.get_tensor(k) for k in keys])
    before = _backbone_values(fresh_a0)
    with pytest.raises(UserError, match=r"partial: does not fit the MoViNet-a0 backbone; "
                                        r"\d+ of 330 backbone variables are not in the checkpoint, e\.g\. block"):
        movinet.load_pretrained(fresh_a0, checkpoint=tmp_path / "partial")
    after = _backbone_values(fresh_a0)
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_truncated_checkpoint_and_archive_are_refused(kinetics_checkpoint, kinetics_archive, fresh_a0,
                                                      tmp_path):
    copy = tmp_path / "movinet_a0_base"
    shutil.copytree(kinetics_checkpoint, copy)
    data = next(copy.glob("*.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(UserError, match="damaged or truncated"):
        movinet.load_pretrained(fresh_a0, checkpoint=copy)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(kinetics_archive.read_bytes()[:2000])
    with pytest.raises(UserError, match="cut.tar.gz: not a readable .tar.gz"):
        movinet.load_pretrained(fresh_a0, archive=cut)


def test_checkpoint_of_something_else_is_refused(fresh_a0, tmp_path):
    prefix = tf.train.Checkpoint(step=tf.Variable(3)).save(str(tmp_path / "other" / "ckpt"))
    with pytest.raises(UserError, match="not a MoViNet checkpoint.*found a root holding .*step"):
        movinet.load_pretrained(fresh_a0, checkpoint=prefix)



# --- training conventions: the validation split, seeds, a run folder that moves -------------------


def test_a_score_on_the_split_that_chose_the_model_is_not_honest():
    from movinet_crossfit.movinet.evaluate import run_validation

    assert run_validation({}, "test") == {"split": None, "honest": None, "warning": None}  # the run does not say
    chose = {"validation_split": "test", "select_best": True, "early_stopping_patience": 5}
    report = run_validation(chose, "test")
    assert report["split"] == "test" and report["honest"] is False
    assert "optimistic" in report["warning"] and "--ratios train=0.7,val=0.1,test=0.2" in report["warning"]
    assert run_validation(chose, "val")["honest"] is True
    assert run_validation({**chose, "validation_split": "val"}, "test") == {"split": "val", "honest": True,
                                                                           "warning": None}
    assert run_validation({**chose, "validation_split": "val"}, "val")["honest"] is False
    # Watched only (best/ = last epoch, no early stop): nothing was chosen on it, the score stays honest.
    assert run_validation({**chose, "select_best": False, "early_stopping_patience": 0}, "test")["honest"] is True
    assert run_validation({**chose, "select_best": False}, "test")["honest"] is False  # early stopping chose


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def seeded_runs(tiny_records, tmp_path_factory):
    """Records without a val split (train/test, as `records` wrote them before) and two tiny runs
    on them with the same seed and --deterministic: ``(base, [result_a, result_b], log records)``."""
    from conftest import TINY_FRAMES, TINY_SIZE
    from movinet_crossfit.data.records import RecordsConfig, write_records
    from movinet_crossfit.movinet.train import TrainConfig, train

    base = tmp_path_factory.mktemp("seeded")
    write_records(base / "records", clips_dir=tiny_records.parent / "clips",
                  config=RecordsConfig(num_frames=TINY_FRAMES, size=TINY_SIZE, ratios={"train": 0.75, "test": 0.25}))
    collect = _Collect()
    logging.getLogger("movinet_crossfit").addHandler(collect)
    try:
        results = [train(TrainConfig(records=str(base / "records"), out=str(base / "runs" / name), model_id="a0",
                                     from_scratch=True, epochs=2, batch_size=4, seed=11, deterministic=True))
                   for name in ("a", "b")]
    finally:
        logging.getLogger("movinet_crossfit").removeHandler(collect)
    return base, results, collect.records


def test_the_same_seed_with_deterministic_gives_the_same_weights(seeded_runs):
    from tensorflow.python.framework import config as tf_config

    _, (a, b), _ = seeded_runs
    first = tf.train.load_checkpoint(str(a.run_dir / "final"))
    second = tf.train.load_checkpoint(str(b.run_dir / "final"))
    names = [n for n in first.get_variable_to_shape_map() if n.startswith("model/") and "OPTIMIZER" not in n]
    assert len(names) > 300 and names == [n for n in second.get_variable_to_shape_map()
                                          if n.startswith("model/") and "OPTIMIZER" not in n]
    for name in names:
        np.testing.assert_array_equal(first.get_tensor(name), second.get_tensor(name), err_msg=name)
    losses = a.history["head"]["loss"]
    assert len(losses) == 2 and losses[0] != losses[1]  # it trained: the test compares trained weights
    assert losses == b.history["head"]["loss"]
    assert a.summary["deterministic"] is True and a.summary["seed"] == 11
    assert not tf_config.is_op_determinism_enabled()  # on for the run only


def test_records_without_val_are_said_loudly(seeded_runs):
    from movinet_crossfit.movinet.train import describe

    _, (a, _), records = seeded_runs
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING
                and "the records have no 'val' clips" in r.getMessage()]
    assert len(warnings) == 2  # one per run
    assert "chosen on the clips the test score is reported on" in warnings[0]
    assert "--ratios train=0.7,val=0.1,test=0.2" in warnings[0] and "--validation-split" in warnings[0]
    saved = json.loads((a.run_dir / "train_summary.json").read_text())
    assert saved["validation"] == {"split": "test", "honest": False, "warning": warnings[0]}
    assert "optimistic" in describe(a)


def test_a_moved_run_with_its_records_still_evaluates(seeded_runs, tmp_path, caplog):
    from movinet_crossfit.core.runs import run_records
    from movinet_crossfit.movinet.evaluate import evaluate_run

    base, (a, _), _ = seeded_runs
    assert yaml.safe_load((a.run_dir / "config.yaml").read_text())["records"] == "../../records"
    shutil.copytree(base / "records", tmp_path / "moved" / "records")
    shutil.copytree(a.run_dir, tmp_path / "moved" / "runs" / "a")
    moved = tmp_path / "moved" / "runs" / "a"
    assert run_records(moved) == tmp_path / "moved" / "records"  # what export reads too
    with caplog.at_level(logging.WARNING, logger="movinet_crossfit"):
        evaluation = evaluate_run(moved, split="test")
    metrics = json.loads(evaluation.files["metrics"].read_text())
    assert metrics["records"] == str(tmp_path / "moved" / "records") and metrics["clips"] > 0
    assert metrics["validation"]["split"] == "test" and metrics["validation"]["honest"] is False
    assert any("the split this run validated on" in r.getMessage() for r in caplog.records)
