"""Builtin-op equivalents of MoViNet's 3-D convolutions and pools, sharing the layers' variables.

MoViNet *base* (``conv_type='3d'``) runs every convolution as ``Conv3D``, and Model Garden wraps
each one in an XLA-compiled ``tf.function``. Its depthwise ``kt×k×k`` kernels are the problem: on
CPU they take a slow path (18.9 s per 10×224×224 clip on 2 cores), and TFLite's ``CONV_3D`` has no
grouped/depthwise support at all. The skip path's ``AveragePooling3D`` needs Flex in TFLite.

The identities used here are exact, not approximations:

* a depthwise ``kt×kh×kw`` 3-D convolution is the sum over its ``kt`` time offsets of depthwise
  ``kh×kw`` 2-D convolutions of time-shifted frames. Frames outside the clip are zeros (the
  padding), and a convolution of a zero frame is zero, so each 2-D convolution runs on the clip's
  own frames only and its output is shifted in time (padded with zero frames) before the sum;
* a non-grouped ``Conv3D`` is the same sum with ordinary 2-D convolutions (``kt = 1`` for the stem
  and every pointwise layer, so one ``Conv2D`` over the frames);
* a ``1×p×p`` ``AveragePooling3D`` is a per-frame ``p×p`` 2-D pool. TensorFlow's ``SAME`` average
  pool divides by the number of in-bounds cells in 2-D and 3-D alike, and so does TFLite.

Padding follows Model Garden: ``'same'`` puts ``(kt-1)//2`` zero frames before the clip and the rest
after, ``'causal'`` puts ``kt-1`` before (none when the layer reads a stream buffer that already
holds them), and the spatial padding is TensorFlow's ``SAME`` in both cases (Model Garden's causal
spatial padding is the same formula, written out).

``use_fast_ops(model)`` swaps the ``call`` of each such layer for these functions, reading the
layer's own ``kernel`` and ``bias``: the checkpoint layout, the variables and training are untouched,
and ``use_fast_ops(model, False)`` restores the original graph.
"""
from __future__ import annotations

import types
from typing import Any

import tensorflow as tf
import tf_keras

_FAST_FLAG = "_movinet_crossfit_fast_call"


def _dim(x: tf.Tensor, axis: int):
    """Static size of ``axis`` when known (keeps shapes static in graphs and TFLite), else dynamic."""
    size = x.shape[axis]
    return int(size) if size is not None else tf.shape(x)[axis]


def _to_frames(x: tf.Tensor) -> tf.Tensor:
    """``[B, T, H, W, C]`` -> ``[B*T, H, W, C]`` (a free reshape: frames are contiguous)."""
    return tf.reshape(x, [-1, _dim(x, 2), _dim(x, 3), _dim(x, 4)])


def _to_clips(frames: tf.Tensor, num_frames) -> tf.Tensor:
    """``[B*T, H, W, C]`` -> ``[B, T, H, W, C]``."""
    return tf.reshape(frames, [-1, num_frames, _dim(frames, 1), _dim(frames, 2), _dim(frames, 3)])


def temporal_padding(layer: Any) -> tuple[int, int]:
    """Zero frames Model Garden puts before and after the clip for this (stride-1-in-time) layer."""
    kt = int(layer.kernel_size[0])
    total = kt - 1
    if layer.padding == "causal":
        # A layer after a stream buffer receives the kt-1 previous frames already prepended.
        return (0, 0) if getattr(layer, "_use_buffered_input", False) else (total, 0)
    if layer.padding == "same":
        return total // 2, total - total // 2
    return 0, 0


def conv3d_supported(layer: Any) -> bool:
    """Whether ``conv3d_as_2d`` reproduces this Conv3D exactly (all of MoViNet's do)."""
    groups = int(getattr(layer, "groups", 1) or 1)
    in_channels = int(layer.kernel.shape[-2]) * groups
    depthwise = groups > 1 and groups == in_channels == int(layer.filters)
    return (layer.data_format == "channels_last"
            and int(layer.strides[0]) == 1
            and tuple(int(d) for d in layer.dilation_rate) == (1, 1, 1)
            and layer.padding in ("same", "valid", "causal")
            and (groups == 1 or depthwise))


def conv3d_as_2d(layer: Any, inputs: tf.Tensor) -> tf.Tensor:
    """``layer(inputs)`` for a Conv3D layer, computed with 2-D (depthwise) convolutions."""
    kernel = tf.cast(layer.kernel, inputs.dtype)  # [kt, kh, kw, in/groups, filters]
    kt = int(layer.kernel_size[0])
    strides = (1, int(layer.strides[1]), int(layer.strides[2]), 1)
    spatial = "VALID" if layer.padding == "valid" else "SAME"
    depthwise = int(getattr(layer, "groups", 1) or 1) > 1
    before, after = temporal_padding(layer)
    num_in = _dim(inputs, 1)
    frames = _to_frames(inputs)

    outputs = []
    for offset in range(kt):
        k = kernel[offset]
        if depthwise:
            # [kh, kw, 1, C] -> [kh, kw, C, 1]: the same numbers, depth multiplier 1.
            k = tf.reshape(k, [k.shape[0], k.shape[1], k.shape[3], 1])
            y = tf.nn.depthwise_conv2d(frames, k, strides, spatial)
        else:
            y = tf.nn.conv2d(frames, k, strides, spatial)
        outputs.append(_to_clips(y, num_in))

    if kt == 1 and before == after == 0:
        out = outputs[0]
    else:
        # out[t] = sum_i conv_i(x)[t + i - before], frames outside [0, T_in) being zero.
        num_out = num_in + before + after - kt + 1
        shifted = []
        for offset, y in enumerate(outputs):
            if before or after:
                y = tf.pad(y, [[0, 0], [before, after], [0, 0], [0, 0], [0, 0]])
            shifted.append(y[:, offset:offset + num_out])
        # A chain of ADDs, not ADD_N: TFLite's XNNPACK delegate and its int8 kernels have no
        # ADD_N, so it would run in float, slower, and break full-integer quantization.
        out = shifted[0]
        for term in shifted[1:]:
            out = out + term
    if layer.use_bias:
        out = tf.nn.bias_add(out, tf.cast(layer.bias, out.dtype))
    if layer.activation is not None:
        out = layer.activation(out)
    return out


def avg_pool3d_supported(layer: Any) -> bool:
    return (layer.data_format == "channels_last" and int(layer.pool_size[0]) == 1
            and int(layer.strides[0]) == 1)


def avg_pool3d_as_2d(layer: Any, inputs: tf.Tensor) -> tf.Tensor:
    """``layer(inputs)`` for a ``1×p×p`` AveragePooling3D, as a per-frame 2-D pool."""
    pooled = tf.nn.avg_pool2d(_to_frames(inputs), ksize=tuple(int(k) for k in layer.pool_size[1:]),
                              strides=tuple(int(s) for s in layer.strides[1:]),
                              padding=layer.padding.upper())
    return _to_clips(pooled, _dim(inputs, 1))


def _fast_conv_call(self, inputs):
    return conv3d_as_2d(self, inputs)


def _fast_pool_call(self, inputs):
    return avg_pool3d_as_2d(self, inputs)


def use_fast_ops(model: tf_keras.layers.Layer, enabled: bool = True) -> int:
    """Run ``model``'s Conv3D / AveragePooling3D layers through builtin 2-D ops (or back).

    The layers keep their variables; only their ``call`` changes, so a checkpoint, a training run
    or a comparison can switch freely. Returns how many layers were switched. Layers whose
    configuration the identities do not cover (none in MoViNet) keep their original call.
    Traced functions keep the graph they were traced with: call this before tracing/exporting.
    """
    switched = 0
    for layer in _layers(model):
        if isinstance(layer, tf_keras.layers.Conv3D) and conv3d_supported(layer):
            fast = _fast_conv_call
        elif isinstance(layer, tf_keras.layers.AveragePooling3D) and avg_pool3d_supported(layer):
            fast = _fast_pool_call
        else:
            continue
        if enabled and not getattr(layer, _FAST_FLAG, False):
            # An instance attribute shadows the class's `call`; Keras looks `self.call` up per call.
            layer.call = types.MethodType(fast, layer)
            object.__setattr__(layer, _FAST_FLAG, True)
            switched += 1
        elif not enabled and getattr(layer, _FAST_FLAG, False):
            del layer.call
            object.__setattr__(layer, _FAST_FLAG, False)
            switched += 1
    for item in [model, *_layers(model)]:
        if isinstance(item, tf_keras.Model):  # drop graphs traced with the other implementation
            item.predict_function = item.train_function = item.test_function = None
    return switched


def uses_fast_ops(model: tf_keras.layers.Layer) -> bool:
    """True when every Conv3D / AveragePooling3D layer of ``model`` runs the builtin-op version."""
    found = [getattr(layer, _FAST_FLAG, False) for layer in _layers(model)
             if isinstance(layer, (tf_keras.layers.Conv3D, tf_keras.layers.AveragePooling3D))]
    return bool(found) and all(found)


def _layers(model: tf_keras.layers.Layer) -> list:
    # Model Garden creates the conv layers inside `build` of subclassed layers, so walk the
    # module tree (all nested layers), not just `model.layers`.
    return [m for m in model.submodules if isinstance(m, tf_keras.layers.Layer)]
