"""The lecture's classic video classifiers, built to MoViNet's contract so one harness trains them all.

Every model takes what ``build_classifier`` takes -- float32 clips ``[batch, T, S, S, 3]`` in [0, 1]
(``clip_sampling.to_model_input`` of the records' uint8 frames) -- and returns logits ``[batch, classes]``,
so ``train``, ``evaluate``, ``export`` (SavedModel + TFLite on builtin ops) and ``predict`` run them
unchanged. The designs (../shared/seeds/004, Karpathy et al. 2014, Tran et al. 2015, Donahue et al. 2015):

* ``single-frame``: a 2-D CNN classifies every frame on its own; the class probabilities are
  averaged over the frames. The output is ``log(mean_t p_t)``: softmax of it is that mean exactly,
  so the harness's softmax (export) and cross-entropy on logits (train) see the averaged probabilities;
* ``late-fusion-fc``: per-frame 2-D CNN features, concatenated over time -> MLP;
* ``late-fusion-pool``: per-frame features averaged over time -> dropout -> linear;
* ``early-fusion``: the T frames stacked as 3T channels -> one 2-D CNN (time is merged by its first
  convolution);
* ``c3d``: a small C3D-style stack of 3x3x3 convolutions and 2x2x2 pools (slow fusion). Each 3x3x3
  convolution runs as one 2-D convolution over three time-shifted frames stacked as channels (an
  exact identity; TFLite's CONV_3D is slow on CPU and its 3-D pools are not builtin ops);
* ``cnn-lstm``: per-frame features -> LSTM (many-to-one, unrolled over the fixed T: plain builtin
  ops in TFLite) -> linear.

The 2-D CNN is ``tf_keras.applications.MobileNetV3Small`` (no top, average-pooled 576 features),
run on every frame as one batch ``[B*T, S, S, 3]``; its ImageNet weights load from a Keras weights
file (``load_backbone_weights``), and ``early-fusion`` inflates the first convolution to 3T input
channels (the ImageNet kernel repeated over the frames, divided by T).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf
import tf_keras

from movinet_crossfit.core.errors import UserError

CLASSIC_ARCHS = ("single-frame", "late-fusion-fc", "late-fusion-pool", "early-fusion", "c3d", "cnn-lstm")
MOVINET_ALIASES = {"movinet-a0": "a0", "movinet-a2": "a2"}
# "movinet": MoViNet by the run's model_id (the default, today's behaviour).
ARCHS = ("movinet", *MOVINET_ALIASES, *CLASSIC_ARCHS)
# Archs built on the 2-D backbone (the ones --backbone-weights applies to).
BACKBONE_ARCHS = tuple(a for a in CLASSIC_ARCHS if a != "c3d")
BACKBONE_LAYER = "backbone"
BACKBONE_NAME = "MobileNetV3Small"
FEATURE_DIM = 576
LSTM_UNITS = 128
FC_UNITS = 256
C3D_FILTERS = (32, 64, 128, 128)
BACKBONE_CACHE_SUBDIR = "backbones"
BN_MOMENTUM = 0.9


@dataclass(frozen=True)
class ArchSpec:
    """What a classic classifier was built as: ``model.spec_of`` returns it (MovinetSpec's fields;
    ``model_id`` holds the arch's name)."""

    model_id: str
    num_classes: int
    num_frames: int
    size: int
    causal: bool = False
    arch: str = "single-frame"

    @property
    def input_shape(self) -> tuple:
        return (None, self.num_frames, self.size, self.size, 3)


class BackboneWeightsError(UserError):
    """A --backbone-weights file that is missing, unreadable or does not fit the backbone."""


def check_arch(arch: str) -> str:
    arch = str(arch).lower()
    if arch not in ARCHS:
        raise UserError(f"--arch {arch!r}: choose one of {', '.join(ARCHS)}")
    return arch


def is_classic(arch: Optional[str]) -> bool:
    return arch in CLASSIC_ARCHS


# --- layers ---------------------------------------------------------------------------------------


class ClipsToFrames(tf_keras.layers.Layer):
    """``[B, T, H, W, C]`` -> ``[B*T, H, W, C]`` (frames are contiguous: a free reshape)."""

    def call(self, x):
        return tf.reshape(x, [-1, x.shape[2], x.shape[3], x.shape[4]])


class FramesToClips(tf_keras.layers.Layer):
    """``[B*T, ...]`` -> ``[B, T, ...]``."""

    def __init__(self, num_frames: int, **kwargs):
        super().__init__(**kwargs)
        self.num_frames = int(num_frames)

    def call(self, x):
        return tf.reshape(x, [-1, self.num_frames, *x.shape[1:]])

    def get_config(self):
        return {**super().get_config(), "num_frames": self.num_frames}


class FramesAsChannels(tf_keras.layers.Layer):
    """``[B, T, H, W, C]`` -> ``[B, H, W, T*C]``: early fusion's input (frame t's channels at t*C)."""

    def call(self, x):
        x = tf.transpose(x, [0, 2, 3, 1, 4])
        return tf.reshape(x, [-1, x.shape[1], x.shape[2], x.shape[3] * x.shape[4]])


class MeanProbabilityLogits(tf_keras.layers.Layer):
    """Per-frame logits ``[B, T, C]`` -> ``log(mean_t softmax)``: logits whose softmax is the mean."""

    def call(self, logits):
        mean = tf.reduce_mean(tf.nn.softmax(logits, axis=-1), axis=1)
        return tf.math.log(tf.maximum(mean, 1e-12))


class Conv3x3x3(tf_keras.layers.Layer):
    """A 'same' 3x3x3 convolution ``[B, T, H, W, Cin] -> [B, T, H, W, filters]`` through ``Conv2D``.

    Frames t-1, t, t+1 (zeros beyond the clip) stacked as channels, convolved 3x3 in space: exactly
    a Conv3D whose kernel is the Conv2D kernel split in three along its input channels.
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.conv = tf_keras.layers.Conv2D(self.filters, 3, padding="same", use_bias=False, name="conv")

    def call(self, x):
        t, h, w, c = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
        padded = tf.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0], [0, 0]])
        stacked = tf.concat([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]], axis=-1)
        out = self.conv(tf.reshape(stacked, [-1, h, w, 3 * c]))
        return tf.reshape(out, [-1, t, h, w, self.filters])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


class Pool3D(tf_keras.layers.Layer):
    """Max pool 2x2 in space and ``time`` (1 or 2) in time; an odd clip repeats its last frame."""

    def __init__(self, time: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.time = int(time)

    def call(self, x):
        t, h, w, c = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
        frames = tf.nn.max_pool2d(tf.reshape(x, [-1, h, w, c]), 2, 2, "SAME")
        h2, w2 = frames.shape[1], frames.shape[2]
        x = tf.reshape(frames, [-1, t, h2, w2, c])
        if self.time == 2 and t > 1:
            if t % 2:
                x = tf.concat([x, x[:, -1:]], axis=1)
                t += 1
            x = tf.reduce_max(tf.reshape(x, [-1, t // 2, 2, h2, w2, c]), axis=2)
        return x

    def get_config(self):
        return {**super().get_config(), "time": self.time}


# --- models ---------------------------------------------------------------------------------------


def build_backbone_2d(size: int, channels: int = 3) -> tf_keras.Model:
    """MobileNetV3Small without its top: ``[N, S, S, channels]`` in [-1, 1] -> features ``[N, 576]``."""
    backbone = tf_keras.applications.MobileNetV3Small(
        input_shape=(size, size, channels), include_top=False, weights=None, pooling="avg",
        include_preprocessing=False)
    backbone._name = BACKBONE_LAYER  # one name for every arch, so the weights loader finds it
    _fast_batch_norm(backbone)
    return backbone


def _fast_batch_norm(model: tf_keras.Model) -> None:
    """BatchNorm moving averages at momentum 0.9 (Keras's MobileNetV3 uses 0.999): from random weights
    on a few hundred steps, 0.999 leaves the inference statistics near their initial values, and a
    model that fits its training clips scores at chance on every other clip."""
    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM


def build_arch_classifier(arch: str, num_classes: int, num_frames: int, size: int, *,
                          dropout_rate: float = 0.5) -> tf_keras.Model:
    """One of ``CLASSIC_ARCHS`` with random weights: float ``[B, T, S, S, 3]`` in [0, 1] -> logits."""
    if arch not in CLASSIC_ARCHS:
        raise UserError(f"--arch {arch!r}: not one of the classic architectures {', '.join(CLASSIC_ARCHS)}")
    if num_classes < 1:
        raise UserError(f"num_classes must be at least 1, got {num_classes}")
    inputs = tf_keras.Input((num_frames, size, size, 3), name="image")
    # ImageNet MobileNets take [-1, 1] (their own preprocessing is switched off above).
    x = tf_keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inputs)
    if arch == "c3d":
        x = _c3d_features(x)
        x = tf_keras.layers.Dense(FC_UNITS, activation="relu", name="fc")(x)
        logits = _classifier(x, num_classes, dropout_rate)
    elif arch == "early-fusion":
        x = FramesAsChannels(name="frames_as_channels")(x)
        x = build_backbone_2d(size, 3 * num_frames)(x)
        logits = _classifier(x, num_classes, dropout_rate)
    else:
        features = build_backbone_2d(size)(ClipsToFrames(name="frames")(x))
        if arch == "single-frame":
            per_frame = _classifier(features, num_classes, dropout_rate)
            logits = MeanProbabilityLogits(name="mean_probabilities")(
                FramesToClips(num_frames, name="clips")(per_frame))
        else:
            sequence = FramesToClips(num_frames, name="clips")(features)  # [B, T, 576]
            if arch == "late-fusion-fc":
                x = tf_keras.layers.Flatten(name="concatenate")(sequence)
                x = tf_keras.layers.Dense(FC_UNITS, activation="relu", name="mlp")(x)
            elif arch == "late-fusion-pool":
                x = tf_keras.layers.GlobalAveragePooling1D(name="pool_time")(sequence)
            else:  # cnn-lstm; unrolled over the fixed T: builtin ops in TFLite, no TensorList
                x = tf_keras.layers.LSTM(LSTM_UNITS, unroll=True, name="lstm")(sequence)
            logits = _classifier(x, num_classes, dropout_rate)
    model = tf_keras.Model(inputs, logits, name=arch.replace("-", "_"))
    spec = ArchSpec(arch, int(num_classes), int(num_frames), int(size), False, arch=arch)
    object.__setattr__(model, "_movinet_crossfit_spec", spec)  # plain attribute, not tracked
    return model


def _classifier(x, num_classes: int, dropout_rate: float):
    x = tf_keras.layers.Dropout(dropout_rate, name="dropout")(x)
    return tf_keras.layers.Dense(num_classes, name="logits")(x)


def _c3d_features(x):
    """C3D's shape in small: pool1 is 1x2x2, the others 2x2x2; BatchNorm, since it starts from random."""
    for index, filters in enumerate(C3D_FILTERS):
        x = Conv3x3x3(filters, name=f"conv{index + 1}")(x)
        x = tf_keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{index + 1}")(x)
        x = tf_keras.layers.ReLU(name=f"relu{index + 1}")(x)
        x = Pool3D(1 if index == 0 else 2, name=f"pool{index + 1}")(x)
    return tf_keras.layers.GlobalAveragePooling3D(name="pool_global")(x)


# --- ImageNet weights for the 2-D backbone --------------------------------------------------------


def backbone_of_arch(model: tf_keras.Model) -> tf_keras.Model:
    try:
        return model.get_layer(BACKBONE_LAYER)
    except ValueError as exc:
        raise UserError(f"{model.name}: has no 2-D backbone (c3d starts from random weights)") from exc


def resolve_weights_file(source: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """A local file, or a URL downloaded once into ``cache_dir``/backbones (train passes the
    project's cache, ``pretrained.cache_root()``; None: Keras's own, ~/.keras)."""
    if "://" in source:
        name = source.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "backbone.h5"
        try:
            path = tf_keras.utils.get_file(name, source, cache_dir=None if cache_dir is None else str(cache_dir),
                                           cache_subdir=BACKBONE_CACHE_SUBDIR)
        except Exception as exc:  # get_file raises plain Exception subclasses for network errors
            raise BackboneWeightsError(f"--backbone-weights {source}: download failed ({exc}); download it "
                                       f"on a connected machine and pass the file") from exc
        return Path(path)
    path = Path(source).expanduser()
    if not path.is_file():
        raise BackboneWeightsError(f"--backbone-weights {source}: no such file; pass a Keras .h5 / .weights.h5 "
                                   f"of {BACKBONE_NAME} (include_top=False), or leave the option out to start "
                                   "from random weights")
    return path


def load_backbone_weights(model: tf_keras.Model, source: str | os.PathLike,
                          cache_dir: str | os.PathLike | None = None) -> str:
    """ImageNet (or any) ``MobileNetV3Small`` no-top weights into the model's 2-D backbone.

    Returns one line saying what was loaded. Raises ``BackboneWeightsError`` when the file is
    missing, unreadable or does not fit; the model's weights are then left as they were.
    """
    path = resolve_weights_file(str(source), cache_dir)
    backbone = backbone_of_arch(model)
    channels = int(backbone.input_shape[-1])
    donor = backbone if channels == 3 else build_backbone_2d(int(backbone.input_shape[1]), 3)
    before = [w.numpy() for w in donor.weights]
    try:
        donor.load_weights(str(path))
    except Exception as exc:  # h5py / Keras raise many types for a file that does not fit
        for var, value in zip(donor.weights, before):
            var.assign(value)
        raise BackboneWeightsError(f"--backbone-weights {path}: does not fit {BACKBONE_NAME} "
                                   f"(include_top=False, alpha 1.0): {str(exc).splitlines()[0][:200]}") from exc
    if donor is not backbone:
        _inflate_into(donor, backbone, channels // 3)
    inflated = f", first convolution inflated to {channels} channels" if donor is not backbone else ""
    return f"{BACKBONE_NAME} backbone: {len(backbone.weights)} tensors loaded from {path}{inflated}"


def _inflate_into(donor: tf_keras.Model, backbone: tf_keras.Model, frames: int) -> None:
    """Copy a 3-channel backbone into a 3T-channel one; the first kernel is repeated over T, /T,
    so a clip of T equal frames gives the ImageNet features of that frame."""
    for theirs, ours in zip(donor.weights, backbone.weights):
        value = theirs.numpy()
        if tuple(value.shape) != tuple(ours.shape):
            value = np.tile(value, (1, 1, frames, 1)) / frames
        ours.assign(value)


def describe_weights(arch: str, backbone_weights: Optional[str]) -> str:
    if backbone_weights:
        return f"{BACKBONE_NAME} backbone from {backbone_weights}, the rest random"
    what = "every layer" if arch == "c3d" else f"{BACKBONE_NAME} backbone and head"
    return f"random initialisation ({what}; no --backbone-weights)"
