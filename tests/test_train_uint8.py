"""train and evaluate read the records' uint8 frames and convert them inside the model step.

The model must see what the float32 path gave it, to within float rounding, on real-records clips
(the session's ``tiny_records``: 4 frames of 32 px from real cfmove clips).
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from movinet_crossfit.movinet.architectures import CLASSIC_ARCHS
from movinet_crossfit.movinet.train import Uint8Frames, compute_features, records_datasets

CLIPS = 8


@pytest.fixture(scope="module")
def both_paths(tiny_records):
    """The same first ``CLIPS`` train clips (in file order) as the float path and the uint8 path give them."""
    from movinet_crossfit.data.records import load_dataset

    def first(uint8: bool) -> np.ndarray:
        batches = load_dataset(tiny_records, "train", 4, shuffle=False, uint8=uint8).take(CLIPS // 4)
        return np.concatenate([frames.numpy() for frames, _ in batches])

    floats, ints = first(False), first(True)
    assert floats.dtype == np.float32 and ints.dtype == np.uint8 and len(ints) == CLIPS
    return floats, ints


class _Probe(tf_keras.Model):
    """Returns the input it is given: what a model behind ``Uint8Frames`` sees."""

    def call(self, frames, training=None):
        return tf.identity(frames)


def test_step_input_is_the_float_path_to_one_ulp(both_paths):
    floats, ints = both_paths
    seen = tf.function(Uint8Frames(_Probe()))(ints).numpy()
    assert seen.dtype == np.float32
    # Within 1 ulp of the float path's fused conversion (records.to_unit_float) and of x / 255 alike.
    # (Traced, TF rewrites the division by a constant into a multiply by its reciprocal, which is
    # what to_unit_float computes: on TF 2.20 they are bit-identical; the contract is 1 ulp.)
    for reference in (floats, ints.astype(np.float32) / np.float32(255.0)):
        ulps = np.abs(seen.view(np.int32).astype(np.int64) - reference.view(np.int32).astype(np.int64))
        assert ulps.max() <= 1
    assert np.abs(seen - floats).max() <= 6e-8
    assert np.array_equal(np.round(seen * 255.0).astype(np.uint8), ints)
    # Float frames (the augmented path) pass through untouched.
    assert np.array_equal(Uint8Frames(_Probe())(floats).numpy(), floats)


@pytest.fixture(scope="module")
def movinet_a0(tiny_records):
    from movinet_crossfit.data.records import read_info
    from movinet_crossfit.movinet.model import build_classifier

    info = read_info(tiny_records)
    tf_keras.utils.set_random_seed(0)
    model = build_classifier("a0", len(info["classes"]), info["num_frames"], info["size"])
    model.build([None, info["num_frames"], info["size"], info["size"], 3])
    return model


def _same_logits(model, floats, ints):
    before = tf.function(lambda x: model(x, training=False))(floats).numpy()
    now = tf.function(lambda x: Uint8Frames(model)(x, training=False))(ints).numpy()
    assert now.shape == before.shape and np.isfinite(now).all()
    np.testing.assert_allclose(now, before, rtol=1e-4, atol=1e-5)


def test_movinet_takes_uint8_frames(movinet_a0, both_paths):
    _same_logits(movinet_a0, *both_paths)


@pytest.mark.parametrize("arch", CLASSIC_ARCHS)
def test_classic_arch_takes_uint8_frames(arch, both_paths, tiny_records):
    from movinet_crossfit.data.records import read_info
    from movinet_crossfit.movinet.architectures import build_arch_classifier

    info = read_info(tiny_records)
    tf_keras.utils.set_random_seed(0)
    model = build_arch_classifier(arch, len(info["classes"]), info["num_frames"], info["size"])
    _same_logits(model, *both_paths)


def test_feature_cache_and_evaluate_read_uint8_to_the_same_numbers(movinet_a0, tiny_records):
    from movinet_crossfit.data.records import load_dataset
    from movinet_crossfit.movinet.evaluate import predict_records
    from movinet_crossfit.movinet.model import build_backbone_features

    extractor = build_backbone_features(movinet_a0)
    read = dict(split="test", batch_size=4, shuffle=False)
    cached, labels = compute_features(extractor, load_dataset(tiny_records, **read, uint8=True), "uint8")
    before, labels_before = compute_features(extractor, load_dataset(tiny_records, **read), "float32")
    assert cached.shape == before.shape and cached.shape[0] > 0
    assert np.array_equal(labels, labels_before)
    np.testing.assert_allclose(cached, before, rtol=1e-4, atol=1e-5)

    # evaluate: probabilities as the float path gave them, flip TTA included.
    forward = tf.function(lambda x: tf.nn.softmax(movinet_a0(x, training=False), axis=-1))
    expected = []
    for frames, _ in load_dataset(tiny_records, **read):
        expected.append((forward(frames) + forward(tf.reverse(frames, axis=[3]))).numpy() / 2)
    got_labels, probabilities, ids, _ = predict_records(movinet_a0, tiny_records, "test", batch_size=4, tta="flip")
    assert len(ids) == len(got_labels) == cached.shape[0]
    np.testing.assert_allclose(probabilities, np.concatenate(expected), atol=1e-5)


@pytest.mark.parametrize("augment, strategy, train_dtype, val_dtype", [
    (False, "default", tf.uint8, tf.uint8),
    (True, "default", tf.float32, tf.uint8),  # augment_clip works in float32
    (False, "tpu", tf.float32, tf.float32),  # uint8 input untried on a TPU: float32 as before
])
def test_train_reads_uint8_where_it_does_not_augment(tiny_records, tmp_path, augment, strategy, train_dtype,
                                                     val_dtype):
    from movinet_crossfit.movinet.config import TrainConfig

    config = TrainConfig(records=str(tiny_records), out=str(tmp_path / "run"), arch="c3d", batch_size=4,
                         augment=augment, validation_split="test", strategy=strategy)
    summary: dict = {}
    train_ds, val_ds = records_datasets(config, lambda x, y: (x, tf.one_hot(y, 3)), False, summary)
    assert train_ds.element_spec[0].dtype == train_dtype and val_ds.element_spec[0].dtype == val_dtype
    assert summary["frames_read"] == {"train": train_dtype.name, "validation": val_dtype.name}
