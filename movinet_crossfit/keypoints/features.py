"""Keypoint sequences -> the classifiers' input, and the training augmentations.

``prepare_sequence`` is THE preprocessing of the keypoint classifiers (training, evaluation and
anyone calling the exported TFLite model use it):

1. joints in the model's layout (``mediapipe33`` -> ``coco17`` when the model is COCO), x and y;
2. gaps filled: each joint's NaN frames linearly interpolated over time (the ends take the
   nearest seen value); a joint never seen sits at the body centre;
3. centroid/scale normalisation: x relative to the hip centre of the same frame (travelling
   across the picture is not the movement), y relative to the hip centre's median height (going
   down to the floor and jumping up are), both in torso lengths (median shoulder-centre to
   hip-centre distance), so pixels, normalised coordinates and any zoom give the same numbers;
4. **resampled** to ``length`` frames over the sequence's own duration (linear interpolation).

Variable length is handled by resampling, not by padding or masking: the seed project padded
short squats with their last frame up to 150 frames, so a still tail became the class's
signature (and a squat filmed longer looked like something else). Resampled, every sequence
fills the input with movement; the price is that absolute tempo is not seen, only the shape of
the movement over the sequence. Masking would keep tempo but needs masked pooling in every
model and the LSTMs' masks do not survive TFLite conversion as builtin ops.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

from movinet_crossfit.pose.sequence import JOINT_NAMES, convert_layout, flip_permutation


def _index(layout: str, name: str) -> int:
    return JOINT_NAMES[layout].index(name)


def fill_gaps(points: np.ndarray) -> np.ndarray:
    """(T, K, 2) with NaNs -> every seen joint interpolated over time; never-seen joints stay NaN."""
    out = np.array(points, np.float64)
    frames = np.arange(len(out))
    for joint in range(out.shape[1]):
        seen = np.isfinite(out[:, joint]).all(-1)
        if seen.all() or not seen.any():
            continue
        for c in range(out.shape[2]):
            out[:, joint, c] = np.interp(frames, frames[seen], out[seen, joint, c])
    return out


def normalise(points: np.ndarray, layout: str) -> np.ndarray:
    """(T, K, 2) gap-filled pixels -> torso units about the hip centre (see the module docstring)."""
    hips = [_index(layout, "l_hip"), _index(layout, "r_hip")]
    shoulders = [_index(layout, "l_shoulder"), _index(layout, "r_shoulder")]
    with warnings.catch_warnings():  # all-NaN slices (a joint never seen) are expected here
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(points[:, hips], axis=1)  # (T, 2)
        body = np.nanmean(points, axis=1)
        centre = np.where(np.isfinite(centre), centre, body)
        torso = np.linalg.norm(np.nanmean(points[:, shoulders], axis=1) - centre, axis=-1)
        scale = np.nanmedian(torso)
        if not np.isfinite(scale) or scale <= 1e-6:
            spread = np.linalg.norm(points - body[:, None], axis=-1)
            scale = np.nanmedian(np.nanmean(spread, axis=1))
        if not np.isfinite(scale) or scale <= 1e-6:
            scale = 1.0
        origin = np.stack([centre[:, 0], np.full(len(centre), np.nanmedian(centre[:, 1]))], axis=-1)
    out = (points - origin[:, None]) / scale
    return np.nan_to_num(out, nan=0.0)


def resample(sequence: np.ndarray, length: int) -> np.ndarray:
    """(T, ...) -> (length, ...) by linear interpolation over [0, T-1] (a single frame is repeated)."""
    if len(sequence) == 1:
        return np.repeat(sequence, length, axis=0)
    positions = np.linspace(0, len(sequence) - 1, length)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, len(sequence) - 1)
    weight = (positions - low).reshape(-1, *([1] * (sequence.ndim - 1)))
    return sequence[low] * (1 - weight) + sequence[high] * weight


def prepare_points(keypoints: np.ndarray, layout: str, model_layout: str) -> np.ndarray:
    """Steps 1-3: (T, K, C) any estimator's keypoints -> (T, K', 2) normalised, no NaN.
    Raises ``ValueError`` when no joint is seen in any frame."""
    points = convert_layout(np.asarray(keypoints, np.float64), layout, model_layout)[..., :2]
    if not np.isfinite(points).all(-1).any():
        raise ValueError("no joint is seen in any frame")
    return normalise(fill_gaps(points), model_layout)


def prepare_sequence(keypoints: np.ndarray, layout: str, model_layout: str = "coco17", length: int = 64) -> np.ndarray:
    """THE keypoint preprocessing: (T, K, C) -> float32 (length, K' x 2), the model's input row."""
    points = prepare_points(keypoints, layout, model_layout)
    return resample(points, length).reshape(length, -1).astype(np.float32)


@dataclass
class Augmentation:
    """Random changes applied to each training sequence (probabilities and ranges)."""

    partial: float = 0.8  # probability of keeping only a random sub-span ...
    min_fraction: float = 0.6  # ... of at least this share of the frames
    speed: float = 0.5  # probability of a smooth time warp (local speed x 1/s..s) ...
    max_speed: float = 1.5  # ... with s up to this
    reverse: float = 0.0  # probability of playing the sequence backwards
    mirror: float = 0.5  # probability of a left/right mirror (the camera's other side)
    jitter: float = 0.02  # gaussian noise, torso lengths
    scale: float = 0.1  # random zoom +-10 %
    rotate: float = 10.0  # random camera roll, +- degrees

    def to_dict(self) -> dict:
        return asdict(self)


def time_warp(points: np.ndarray, rng: np.random.Generator, max_speed: float) -> np.ndarray:
    """Replay ``points`` with a smooth, monotone change of speed (a uniform change would be undone by
    resampling; a warp changes the movement's rhythm within the sequence)."""
    n = len(points)
    if n < 4:
        return points
    knots = rng.uniform(1.0 / max_speed, max_speed, size=4)
    speed = np.interp(np.linspace(0, 3, n - 1), np.arange(4), knots)
    clock = np.concatenate([[0.0], np.cumsum(speed)])
    clock *= (n - 1) / clock[-1]
    return resample_at(points, clock)


def resample_at(points: np.ndarray, positions: np.ndarray) -> np.ndarray:
    low = np.clip(np.floor(positions).astype(int), 0, len(points) - 1)
    high = np.minimum(low + 1, len(points) - 1)
    weight = (positions - low).reshape(-1, *([1] * (points.ndim - 1)))
    return points[low] * (1 - weight) + points[high] * weight


def augment_points(points: np.ndarray, layout: str, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    """A random variant of a prepared (T, K, 2) sequence (before resampling)."""
    out = points
    n = len(out)
    if n > 4 and rng.random() < aug.partial:
        keep = max(4, int(round(n * rng.uniform(aug.min_fraction, 1.0))))
        start = int(rng.integers(0, n - keep + 1))
        out = out[start:start + keep]
    if rng.random() < aug.speed:
        out = time_warp(out, rng, aug.max_speed)
    if rng.random() < aug.reverse:
        out = out[::-1]
    if rng.random() < aug.mirror:
        out = out[:, flip_permutation(layout)] * np.array([-1.0, 1.0])
    if aug.rotate or aug.scale:
        angle = np.deg2rad(rng.uniform(-aug.rotate, aug.rotate))
        zoom = rng.uniform(1 - aug.scale, 1 + aug.scale)
        c, s = np.cos(angle) * zoom, np.sin(angle) * zoom
        out = out @ np.array([[c, s], [-s, c]])
    if aug.jitter:
        out = out + rng.normal(0, aug.jitter, out.shape)
    return out


def augmented_batch(prepared: list[np.ndarray], layout: str, length: int, rng: np.random.Generator,
                    aug: Augmentation | None) -> np.ndarray:
    """(N, length, K x 2) float32: each prepared (T, K, 2) sequence augmented (or not) and resampled."""
    rows = []
    for points in prepared:
        varied = augment_points(points, layout, rng, aug) if aug is not None else points
        rows.append(resample(varied, length).reshape(length, -1))
    return np.stack(rows).astype(np.float32)
