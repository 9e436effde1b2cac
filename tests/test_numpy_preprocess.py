"""The TensorFlow-free preprocessing (Lambda) against THE preprocessing (clip_sampling.preprocess_frames)."""
from __future__ import annotations

import numpy as np
import pytest

from movinet_crossfit.core import clip_sampling, video
from movinet_crossfit.core.numpy_preprocess import load_clip_numpy, preprocess_frames_numpy, resize_weights


def _compare(frames: np.ndarray, size: int) -> np.ndarray:
    expected = clip_sampling.preprocess_frames(frames, size).numpy().astype(np.int16)
    got = preprocess_frames_numpy(frames, size)
    assert got.dtype == np.uint8 and got.shape == expected.shape
    return np.abs(got.astype(np.int16) - expected)


def test_resize_weights_rows_sum_to_one_and_stay_local():
    weights = resize_weights(480, 224)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    # Shrinking 480 -> 224 widens the triangle to ~2.1 input pixels each side: at most 5 taps.
    assert ((weights > 0).sum(axis=1) <= 5).all()
    np.testing.assert_allclose(resize_weights(50, 50), np.eye(50), atol=1e-7)  # same size: identity


@pytest.mark.parametrize("size", [224, 172, 64, 32])
def test_real_frames_match_tensorflow_within_one_grey_level(cfmove_clips, size):
    clips = sorted(cfmove_clips.glob("*/*.mp4"))[::40][:4]
    frames = np.concatenate([video.read_frames(c, [0, 7]) for c in clips])  # 854x480 real frames
    diff = _compare(frames, size)
    assert diff.max() <= 1
    assert (diff > 0).mean() < 1e-3


@pytest.mark.parametrize("shape,size", [((3, 20, 30, 3), 64), ((2, 121, 97, 3), 32), ((1, 5, 5, 3), 7),
                                        ((240, 320, 3), 224)])
def test_odd_shapes_upscaling_and_a_single_frame(shape, size):
    frames = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    diff = _compare(frames, size)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-2


def _resize_on_float_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """THE preprocessing as first written: the crop cast to float32, then tf.image.resize."""
    import tensorflow as tf

    square = clip_sampling.centre_square(frames).astype(np.float32)
    resized = tf.image.resize(square, (size, size), method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8).numpy()


@pytest.mark.parametrize("size", [224, 172, 32])
def test_preprocess_frames_on_uint8_is_the_float_resize_bit_for_bit(cfmove_clips, size):
    """preprocess_frames hands uint8 frames to the resize op, which converts each pixel as it
    reads it: the very numbers of casting the clip to float first (records stay identical)."""
    clips = sorted(cfmove_clips.glob("*/*.mp4"))[::7]
    frames = np.concatenate([video.read_frames(c, [0, 5, 11]) for c in clips])
    np.testing.assert_array_equal(clip_sampling.preprocess_frames(frames, size).numpy(),
                                  _resize_on_float_frames(frames, size))
    np.testing.assert_array_equal(clip_sampling.compiled_preprocess(size)(frames).numpy(),
                                  _resize_on_float_frames(frames, size))
    rng = np.random.default_rng(size)
    for shape in [(3, 20, 30, 3), (2, 121, 97, 3), (1, 5, 5, 3), (240, 320, 3), (size, size, 3)]:
        odd = rng.integers(0, 256, shape, dtype=np.uint8)  # downscaling, upscaling, one unbatched frame
        np.testing.assert_array_equal(clip_sampling.preprocess_frames(odd, size).numpy(),
                                      _resize_on_float_frames(odd, size), err_msg=str(shape))


def test_preprocess_frames_rejects_other_ranks():
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        clip_sampling.preprocess_frames(np.zeros((2, 2, 4, 4, 3), np.uint8), 8)


def test_rejects_non_uint8():
    with pytest.raises(TypeError, match="uint8"):
        preprocess_frames_numpy(np.zeros((4, 4, 3), np.float32), 8)


def test_load_clip_numpy_equals_load_clip(cfmove_clips):
    clip_path = sorted(cfmove_clips.glob("thruster/*.mp4"))[0]
    expected = clip_sampling.load_clip(clip_path, 10, 64).astype(np.int16)
    got, info = load_clip_numpy(clip_path, 10, 64)
    assert got.shape == (10, 64, 64, 3) and info.num_frames > 10
    assert np.abs(got.astype(np.int16) - expected).max() <= 1
