"""RepNet (Dwibedi et al., "Counting Out Time", CVPR 2020) in tf_keras, laid out like the official
checkpoints so that the public weights restore with ``tf.train.Checkpoint(model=model)``.

The network, for a chunk of ``num_frames`` frames at ``image_size`` (defaults 64 at 112x112):

1. a ResNet50V2 trunk up to ``conv4_block3_out`` per frame (7x7x1024 at 112 px);
2. a temporal Conv3D (512, kernel 3, dilation (3, 1, 1)) + BatchNorm + ReLU, then the maximum over
   height and width: one 512-d embedding per frame;
3. the temporal self-similarity matrix: a softmax over each row of -||a - b||^2 / temperature;
4. a 3x3 Conv2D (32, ReLU) on that matrix, each row flattened to a frame's feature;
5. two heads on those features, each Dense 512 + a learned positional encoding + one pre-norm
   transformer layer + Dropout/Dense 512 -> 512 -> out: the *period* head (logits over period
   classes) and the *periodicity* head (one logit: is this frame inside a repetition?).

Attribute names are the checkpoint's object names (``base_model``, ``temporal_conv_layers``,
``pos_encoding``, ``transformer_layers2``...): renaming one breaks loading the public weights.

Two variants, matching the two public checkpoints:

* ``ckpt-70``: 64 period classes, class index = period in frames, encodings ``[1, 64, 512]``;
* ``ckpt-88``: 32 period classes, period = class index + 1, encodings ``[1, 64, 1]``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras

from movinet_crossfit.core import runs
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.runs import SHAPE_FILE

VARIANTS = ("ckpt-70", "ckpt-88")
DEFAULT_VARIANT = "ckpt-70"
CHECKPOINT_BASE_URL = "https://storage.googleapis.com/repnet_ckpt"
CHECKPOINT_FILES = {
    "ckpt-70": ("checkpoint", "ckpt-70.data-00000-of-00001", "ckpt-70.index"),
    "ckpt-88": ("checkpoint", "ckpt-88.data-00000-of-00002", "ckpt-88.data-00001-of-00002",
                "ckpt-88.index"),
}
_POS_ENCODING_KEY = "model/pos_encoding/.ATTRIBUTES/VARIABLE_VALUE"


class RepNetWeightsError(UserError):
    """RepNet weights that are missing, unreadable or of another layout."""


@dataclass(frozen=True)
class RepNetConfig:
    """Shape of a RepNet. The defaults are the public models'; tests shrink frames and size."""

    variant: str = DEFAULT_VARIANT
    num_frames: int = 64
    image_size: int = 112
    temperature: float = 13.544
    dropout_rate: float = 0.25
    l2_weight: float = 1e-6

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise UserError(f"unknown RepNet variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.num_frames < 4 or self.image_size < 32:
            raise UserError(f"RepNet needs num_frames >= 4 and image_size >= 32 (got {self.num_frames}, "
                            f"{self.image_size})")

    @property
    def num_period_classes(self) -> int:
        return self.num_frames if self.variant == "ckpt-70" else self.num_frames // 2

    @property
    def period_offset(self) -> int:
        """Added to a period class index to get the period in frames."""
        return 0 if self.variant == "ckpt-70" else 1

    @property
    def encoding_channels(self) -> int:
        return 512 if self.variant == "ckpt-70" else 1


def _l2(weight: float):
    return tf_keras.regularizers.l2(weight)


class MultiHeadAttention(tf_keras.layers.Layer):
    """Self-attention with separate query/key/value projections named as in the checkpoint."""

    def __init__(self, d_model: int, num_heads: int, **kwargs):
        super().__init__(**kwargs)
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not divisible by {num_heads} heads")
        self.d_model, self.num_heads = d_model, num_heads
        self.wq = tf_keras.layers.Dense(d_model)
        self.wk = tf_keras.layers.Dense(d_model)
        self.wv = tf_keras.layers.Dense(d_model)
        self.dense = tf_keras.layers.Dense(d_model)

    def _heads(self, x, batch):
        x = tf.reshape(x, [batch, -1, self.num_heads, self.d_model // self.num_heads])
        return tf.transpose(x, [0, 2, 1, 3])  # (batch, heads, time, depth)

    def call(self, x):
        batch = tf.shape(x)[0]
        q, k, v = (self._heads(proj(x), batch) for proj in (self.wq, self.wk, self.wv))
        depth = tf.cast(self.d_model // self.num_heads, x.dtype)
        weights = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / tf.sqrt(depth), axis=-1)
        attended = tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])
        return self.dense(tf.reshape(attended, [batch, -1, self.d_model]))


class TransformerLayer(tf_keras.layers.Layer):
    """One pre-norm transformer encoder layer (LayerNorm before attention and before the MLP)."""

    def __init__(self, d_model: int = 512, num_heads: int = 4, dff: int = 512, dropout_rate: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.mha = MultiHeadAttention(d_model, num_heads)
        self.ffn = tf_keras.Sequential([tf_keras.layers.Dense(dff, activation="relu"),
                                        tf_keras.layers.Dense(d_model)])
        self.layernorm1 = tf_keras.layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = tf_keras.layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = tf_keras.layers.Dropout(dropout_rate)
        self.dropout2 = tf_keras.layers.Dropout(dropout_rate)

    def call(self, x, training=False):
        x = x + self.dropout1(self.mha(self.layernorm1(x)), training=training)
        return x + self.dropout2(self.ffn(self.layernorm2(x)), training=training)


def self_similarity(embeddings, temperature: float):
    """``[B, T, D]`` embeddings -> ``[B, T, T, 1]``: softmax over each row of -||a-b||^2 / temperature."""
    squared = tf.reduce_sum(tf.square(embeddings), axis=-1)
    dot = tf.matmul(embeddings, embeddings, transpose_b=True)
    distances = tf.maximum(squared[:, :, None] - 2.0 * dot + squared[:, None, :], 0.0)
    return tf.nn.softmax(-distances / temperature, axis=-1)[..., None]


def temporal_conv(conv: tf_keras.layers.Conv3D, x):
    """``conv(x)`` for a stride-1, 'same' Conv3D dilated in time only, as a sum of 2-D convolutions.

    A kt x kh x kw kernel with time dilation d is the sum over its kt time taps of kh x kw 2-D
    convolutions of the frames shifted by d steps (zero frames beyond either end). The same
    variables, the same result (within float rounding), but TFLite runs it with builtin CONV_2D,
    where TensorFlow's dilated Conv3D needs an N-d SpaceToBatch that TFLite has no kernel for.
    """
    if not conv.built:
        conv.build(x.shape)
    kernel = conv.kernel
    taps, dilation = int(kernel.shape[0]), int(conv.dilation_rate[0])
    if conv.strides != (1, 1, 1) or conv.padding != "same" or tuple(conv.dilation_rate[1:]) != (1, 1):
        raise ValueError("temporal_conv handles stride 1, 'same' padding and time-only dilation")
    shape = tf.shape(x)
    batch, frames, height, width = shape[0], shape[1], shape[2], shape[3]
    pad = dilation * (taps - 1) // 2
    padded = tf.pad(x, [[0, 0], [pad, pad], [0, 0], [0, 0], [0, 0]])
    total = None
    for tap in range(taps):
        shifted = padded[:, tap * dilation: tap * dilation + frames]
        flat = tf.reshape(shifted, [-1, height, width, x.shape[-1]])
        out = tf.nn.conv2d(flat, kernel[tap], strides=1, padding="SAME")
        total = out if total is None else total + out
    total = tf.reshape(total, [batch, frames, height, width, kernel.shape[-1]])
    return tf.nn.bias_add(total, conv.bias) if conv.use_bias else total


class RepNet(tf_keras.Model):
    """``call(frames)`` with float32 frames ``[B, T, S, S, 3]`` in [-1, 1] returns
    ``(period_logits [B, T, P], periodicity_logits [B, T, 1], embeddings [B, T, 512])``."""

    def __init__(self, config: RepNetConfig = RepNetConfig(), **kwargs):
        super().__init__(**kwargs)
        self.config = config
        l2 = config.l2_weight
        trunk = tf_keras.applications.ResNet50V2(include_top=False, weights=None, pooling="max")
        self.base_model = tf_keras.Model(trunk.input, trunk.get_layer("conv4_block3_out").output)
        self.temporal_conv_layers = [tf_keras.layers.Conv3D(
            512, 3, padding="same", dilation_rate=(3, 1, 1), kernel_regularizer=_l2(l2),
            kernel_initializer="he_normal")]
        self.temporal_bn_layers = [tf_keras.layers.BatchNormalization()]
        self.conv_3x3_layer = tf_keras.layers.Conv2D(32, 3, padding="same", activation="relu")
        self.input_projection = tf_keras.layers.Dense(512, kernel_regularizer=_l2(l2))
        self.input_projection2 = tf_keras.layers.Dense(512, kernel_regularizer=_l2(l2))
        encoding = [1, config.num_frames, config.encoding_channels]
        self.pos_encoding = self.add_weight(name="pos_encoding", shape=encoding,
                                            initializer=tf_keras.initializers.TruncatedNormal(stddev=0.02))
        self.pos_encoding2 = self.add_weight(name="pos_encoding2", shape=encoding,
                                             initializer=tf_keras.initializers.TruncatedNormal(stddev=0.02))
        self.transformer_layers = [TransformerLayer()]
        self.transformer_layers2 = [TransformerLayer()]
        self.dropout_layer = tf_keras.layers.Dropout(config.dropout_rate)
        self.fc_layers = self._mlp(config.num_period_classes)
        self.within_period_fc_layers = self._mlp(1)

    def _mlp(self, outputs: int) -> list:
        l2 = _l2(self.config.l2_weight)
        return [tf_keras.layers.Dense(512, activation="relu", kernel_regularizer=l2),
                tf_keras.layers.Dense(512, activation="relu", kernel_regularizer=l2),
                tf_keras.layers.Dense(outputs, kernel_regularizer=l2)]

    def _head(self, x, projection, encoding, transformers, fcs, training):
        x = projection(x) + encoding
        for layer in transformers:
            x = layer(x, training=training)
        for fc in fcs:
            x = fc(self.dropout_layer(x, training=training))
        return x

    def embed(self, frames, training=False):
        """Per-frame 512-d embeddings ``[B, T, 512]`` (steps 1-2)."""
        cfg = self.config
        batch = tf.shape(frames)[0]
        x = self.base_model(tf.reshape(frames, [-1, cfg.image_size, cfg.image_size, 3]), training=training)
        x = tf.reshape(x, [batch, cfg.num_frames, tf.shape(x)[1], tf.shape(x)[2], x.shape[-1]])
        for conv, bn in zip(self.temporal_conv_layers, self.temporal_bn_layers):
            x = tf.nn.relu(bn(temporal_conv(conv, x), training=training))
        return tf.reduce_max(x, axis=[2, 3])

    def heads(self, embeddings, training=False):
        """Both heads' logits from embeddings (steps 3-5)."""
        batch = tf.shape(embeddings)[0]
        x = self.conv_3x3_layer(self_similarity(embeddings, self.config.temperature))
        x = tf.reshape(x, [batch, self.config.num_frames, self.config.num_frames * 32])
        period = self._head(x, self.input_projection, self.pos_encoding, self.transformer_layers,
                            self.fc_layers, training)
        periodicity = self._head(x, self.input_projection2, self.pos_encoding2, self.transformer_layers2,
                                 self.within_period_fc_layers, training)
        return period, periodicity

    def call(self, frames, training=False):
        embeddings = self.embed(frames, training=training)
        period, periodicity = self.heads(embeddings, training=training)
        return period, periodicity, embeddings


def build_repnet(variant: str = DEFAULT_VARIANT, *, num_frames: int = 64, image_size: int = 112) -> RepNet:
    """A RepNet with its variables created (random weights; see ``load_repnet`` for the public ones)."""
    config = RepNetConfig(variant=variant, num_frames=num_frames, image_size=image_size)
    model = RepNet(config)
    model(tf.zeros([1, num_frames, image_size, image_size, 3]))
    return model


def how_to_get_weights(variant: str = DEFAULT_VARIANT) -> str:
    files = CHECKPOINT_FILES[variant]
    return (f"expected the official RepNet checkpoint files {', '.join(files)} in one folder; they are "
            f"published at {CHECKPOINT_BASE_URL}/<file> (e.g. {CHECKPOINT_BASE_URL}/{files[-1]})")


def find_checkpoint(weights: str | os.PathLike) -> str:
    """The checkpoint prefix in ``weights``: a folder (its ``checkpoint`` file, or its one
    ``*.index``), a prefix, or an ``.index`` file."""
    return runs.find_checkpoint(weights, expected="RepNet checkpoint", hint=how_to_get_weights(),
                                error=RepNetWeightsError)


def checkpoint_variant(prefix: str) -> str:
    """Which variant a checkpoint holds, from the shape of its positional encoding."""
    try:
        shapes = dict(tf.train.list_variables(prefix))
    except (tf.errors.OpError, ValueError) as exc:
        raise RepNetWeightsError(f"{prefix}: not a readable TensorFlow checkpoint ({exc}); "
                                 + how_to_get_weights()) from exc
    shape = shapes.get(_POS_ENCODING_KEY)
    if shape is None:
        raise RepNetWeightsError(f"{prefix}: not a RepNet checkpoint (no {_POS_ENCODING_KEY}); "
                                 + how_to_get_weights())
    return "ckpt-70" if shape[-1] == 512 else "ckpt-88"


def restore_weights(model: RepNet, weights: str | os.PathLike) -> str:
    """Restore every variable of ``model`` from ``weights``; returns the checkpoint prefix.

    Each of the model's variables must be matched by a value of the same shape (extra values in
    the checkpoint, such as optimizer slots, are ignored). Anything else is a ``RepNetWeightsError``.
    """
    prefix = find_checkpoint(weights)
    found = checkpoint_variant(prefix)
    if found != model.config.variant:
        raise RepNetWeightsError(f"{prefix}: holds a {found} RepNet, the model is {model.config.variant}; "
                                 f"pass --variant {found}")
    try:
        # read(), not restore(): it binds only the model, so a checkpoint written with write()
        # (no save_counter) loads as well as one written by save() or a CheckpointManager.
        status = tf.train.Checkpoint(model=model).read(prefix)
        status.assert_existing_objects_matched()
        status.expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        message = str(exc).splitlines()[0][:300]
        raise RepNetWeightsError(f"{prefix}: does not fit a {model.config.variant} RepNet with "
                                 f"{model.config.num_frames} frames ({message})") from exc
    return prefix


def recorded_image_size(weights: str | os.PathLike) -> int | None:
    """The image size in ``repnet.json`` beside a checkpoint (train-counter and export-counter write
    it: a checkpoint holds the frame count, in its encodings' shape, but not the size)."""
    import json

    path = Path(weights)
    shape = (path if path.is_dir() else path.parent) / SHAPE_FILE
    if not shape.is_file():
        return None
    try:
        return int(json.loads(shape.read_text(encoding="utf-8"))["image_size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RepNetWeightsError(f"{shape}: unreadable ({exc}); fix or remove it") from exc


def load_repnet(weights: str | os.PathLike, variant: str | None = None, *, num_frames: int | None = None,
                image_size: int | None = None) -> RepNet:
    """A RepNet with the weights in ``weights`` (the variant is read from the checkpoint unless given).

    ``num_frames`` defaults to the checkpoint's (64 for the public ones); ``image_size`` to the one
    recorded in ``repnet.json`` beside it, else 112 (the public models')."""
    prefix = find_checkpoint(weights)
    if image_size is None:
        image_size = recorded_image_size(weights) or 112
    variant = variant or checkpoint_variant(prefix)
    if num_frames is None:
        num_frames = int(dict(tf.train.list_variables(prefix))[_POS_ENCODING_KEY][1])
    model = build_repnet(variant, num_frames=num_frames, image_size=image_size)
    restore_weights(model, prefix)
    return model


def period_frames(class_index: np.ndarray, config: RepNetConfig) -> np.ndarray:
    """Period in (stride-sampled) frames of each period class index."""
    return np.asarray(class_index) + config.period_offset
