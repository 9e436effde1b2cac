"""THE preprocessing without TensorFlow, for runtimes that ship only LiteRT (the Lambda image).

``clip_sampling.preprocess_frames`` is written in TensorFlow ops so that the exported SavedModel can carry
it; a container that runs only ``model_*.tflite`` should not need TensorFlow's ~1.5 GB for one
resize. ``preprocess_frames_numpy`` computes the same picture: the same centre square crop, and
the same anti-aliased bilinear weights ``tf.image.resize(..., antialias=True)`` uses (a triangle
kernel widened by the downscale factor, each output pixel's weights normalised to sum to one,
applied separably). Float summation order differs, so a pixel can round the other way: the tests
hold it to at most one grey level, on under 0.1% of the pixels of real clips.

``load_clip_numpy`` is ``clip_sampling.load_clip`` without TensorFlow, in the same bounded memory
(``clip_sampling.sample_video``: only the sampled frames are kept while decoding).
"""
from __future__ import annotations

import functools
import math
import os

import numpy as np

from movinet_crossfit.core import clip_sampling, video


@functools.lru_cache(maxsize=32)
def resize_weights(in_size: int, out_size: int) -> np.ndarray:
    """float32 ``[out_size, in_size]``: row i holds the input weights of output pixel i."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be positive, got {in_size} -> {out_size}")
    inv_scale = in_size / out_size
    # Shrinking widens the triangle kernel by the scale factor (that is the anti-aliasing);
    # enlarging keeps it at radius 1 (plain bilinear).
    kernel_scale = max(inv_scale, 1.0)
    weights = np.zeros((out_size, in_size), np.float64)
    for x in range(out_size):
        centre = (x + 0.5) * inv_scale  # output pixel centre in input coordinates
        start = max(0, math.ceil(centre - kernel_scale - 0.5))
        end = min(in_size - 1, math.floor(centre + kernel_scale - 0.5)) + 1
        source = np.arange(start, end)
        taps = np.maximum(0.0, 1.0 - np.abs((source + 0.5 - centre) / kernel_scale))
        total = taps.sum()
        if total > 0:
            weights[x, start:end] = taps / total
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=32)
def _sparse_weights(in_size: int, out_size: int):
    """``resize_weights`` as a CSR matrix: each output pixel has a handful of taps (about
    2 x in/out), so the products below cost that many multiply-adds per pixel, not ``in_size``
    (a 480-line frame to 172: 0.9 ms instead of ~10-40 ms)."""
    from scipy import sparse

    return sparse.csr_matrix(resize_weights(in_size, out_size))


def preprocess_frames_numpy(frames: np.ndarray, size: int = clip_sampling.DEFAULT_SIZE) -> np.ndarray:
    """RGB uint8 ``[..., H, W, 3]`` -> uint8 ``[..., size, size, 3]``, as ``clip_sampling.preprocess_frames``."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim < 3 or frames.shape[-1] != 3:
        raise TypeError(f"expected uint8 RGB frames [..., H, W, 3], got {frames.dtype} {list(frames.shape)}")
    side = min(frames.shape[-3], frames.shape[-2])
    lead = frames.shape[:-3]
    cropped = clip_sampling.centre_square(frames).reshape(-1, side, side, 3)
    weights = _sparse_weights(side, size)
    out = np.empty((cropped.shape[0], size, size, 3), np.float32)
    for i, frame in enumerate(cropped):
        # Rows, then columns, each as one sparse-by-dense product over all channels at once.
        rows = weights @ frame.reshape(side, side * 3).astype(np.float32)
        cols = weights @ np.ascontiguousarray(rows.reshape(size, side, 3).transpose(1, 0, 2)).reshape(side, size * 3)
        out[i] = np.asarray(cols).reshape(size, size, 3).transpose(1, 0, 2)
    return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(*lead, size, size, 3)


def load_clip_numpy(path: str | os.PathLike, num_frames: int = clip_sampling.DEFAULT_NUM_FRAMES,
                    size: int = clip_sampling.DEFAULT_SIZE) -> tuple[np.ndarray, video.VideoInfo]:
    """``(uint8 [num_frames, size, size, 3], probe info)``: ``clip_sampling.load_clip`` without TensorFlow,
    holding only the sampled frames in memory (a long video is streamed, not decoded whole). The
    very frames ``load_clip`` picks (``clip_sampling.sample_video``), also where the probe's count is not
    the decoded one."""
    info = video.probe(path)
    sampled = clip_sampling.sample_video(path, num_frames, expected_frames=info.num_frames)
    return preprocess_frames_numpy(sampled.frames[0], size), info
