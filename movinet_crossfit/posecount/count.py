"""A class-agnostic repetition counter on pose keypoints: no training, no knowledge of the movement.

``count_repetitions(keypoints, fps, layout)`` takes a float array ``(T, K, C)`` (x, y[, z or a
score]; missing detections NaN) and:

1. keeps the 13 joints every layout shares (nose, shoulders, elbows, wrists, hips, knees, ankles)
   that are seen in at least half the frames, fills their gaps by linear interpolation;
2. turns each frame into a pose vector: joint positions relative to the body's typical centre,
   in torso lengths (so pixels, normalised coordinates and any zoom give the same numbers), plus
   the eight limb angles (elbows, shoulders, hips, knees), which do not care where the camera is
   or which side it sees;
3. finds the period: the first strong peak of the autocorrelation summed over all features,
   searched between ``min_period`` and ``max_period`` seconds;
4. band-passes every feature around that period (drift and jitter out), projects on the first
   principal component, and counts its extremes, one per rep, at least half a period apart and
   standing out by a share of the typical swing. The extreme counted is the one away from where
   the athlete starts (a squat counts its bottoms, a pull-up its tops), so the rest position at
   the start and end does not add a rep.

Pauses between reps, fatigue drift of the period, missing frames, jitter, partial visibility and
left/right views are handled by construction. Poses files are read by ``pose.sequence.load_poses``;
the evaluation on generated sequences with known counts is ``evaluate.evaluate_on_corpus`` (MAE and
off-by-one accuracy, the RepCount metrics of ``core.metrics.count_metrics``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.metrics import Rep

# Joint order used inside: name -> index in each layout.
JOINTS = ("nose", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
          "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")
LAYOUTS = {
    "coco17": (0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
    "mediapipe33": (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28),
}
LAYOUT_SIZES = {"coco17": 17, "mediapipe33": 33}
# Angles at the middle joint of each triple.
ANGLES = (("l_shoulder", "l_elbow", "l_wrist"), ("r_shoulder", "r_elbow", "r_wrist"),
          ("l_hip", "l_shoulder", "l_elbow"), ("r_hip", "r_shoulder", "r_elbow"),
          ("l_shoulder", "l_hip", "l_knee"), ("r_shoulder", "r_hip", "r_knee"),
          ("l_hip", "l_knee", "l_ankle"), ("r_hip", "r_knee", "r_ankle"))
MIN_VISIBLE = 0.5


@dataclass
class PoseCount:
    """What ``count_repetitions`` found. Per-frame arrays have one value per input frame."""

    count: int
    score: float  # autocorrelation at the period: 0 = nothing repeats, 1 = exact repetition
    period: float  # frames per rep (median of the counted reps), 0 when none
    fps: float
    num_frames: int
    periodicity: np.ndarray  # 0..1: how strongly each frame takes part in the repetition
    signal: np.ndarray  # the 1-D movement signal that was counted
    reps: list = field(default_factory=list)
    joints_used: list = field(default_factory=list)
    note: str = ""

    def to_dict(self, per_frame: bool = True) -> dict:
        out = {"count": self.count, "score": round(self.score, 4), "period_frames": round(self.period, 2),
               "period_seconds": round(self.period / self.fps, 3) if self.fps else None, "fps": self.fps,
               "num_frames": self.num_frames, "joints_used": self.joints_used, "note": self.note,
               "reps": [vars(rep) for rep in self.reps]}
        if per_frame:
            out["per_frame"] = {"periodicity": np.round(self.periodicity, 3).tolist(),
                                "signal": np.round(self.signal, 4).tolist()}
        return out


def _check(keypoints: np.ndarray, layout: str) -> np.ndarray:
    if layout not in LAYOUTS:
        raise UserError(f"unknown keypoint layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    points = np.asarray(keypoints, dtype=np.float64)
    if points.ndim != 3 or points.shape[1] != LAYOUT_SIZES[layout] or points.shape[2] < 2:
        raise UserError(f"keypoints of shape {points.shape}: expected (frames, {LAYOUT_SIZES[layout]}, 2 or 3) "
                        f"for layout {layout}")
    return points[:, LAYOUTS[layout], :2]


def _interpolate(series: np.ndarray) -> np.ndarray:
    """Fill NaNs of a 1-D series linearly (the ends take the nearest value)."""
    valid = np.isfinite(series)
    if valid.all():
        return series
    index = np.arange(len(series))
    return np.interp(index, index[valid], series[valid])


def pose_features(keypoints: np.ndarray, layout: str = "mediapipe33") -> tuple[np.ndarray, list[str]]:
    """``(T, F)`` features (positions in torso lengths + limb angles) and the joints they use."""
    points = _check(keypoints, layout)
    visible = np.isfinite(points).all(-1).mean(0)
    keep = [i for i, share in enumerate(visible) if share >= MIN_VISIBLE]
    if len(keep) < 2:
        raise UserError(f"keypoints: only {len(keep)} joint(s) are seen in at least half the frames; "
                        "counting needs a visible body")
    filled = points.copy()
    for j in keep:
        for c in range(2):
            filled[:, j, c] = _interpolate(points[:, j, c])
    names = [JOINTS[j] for j in keep]
    idx = {name: JOINTS.index(name) for name in names}
    centre_joints = [idx[n] for n in ("l_hip", "r_hip") if n in idx] or [idx[n] for n in names]
    centre = filled[:, centre_joints].mean(1)  # (T, 2)
    shoulders = [idx[n] for n in ("l_shoulder", "r_shoulder") if n in idx]
    if shoulders and len(centre_joints) and set(centre_joints) != set(shoulders):
        torso = np.linalg.norm(filled[:, shoulders].mean(1) - centre, axis=-1)
    else:  # no torso to measure: the spread of what is visible
        torso = np.linalg.norm(filled[:, keep] - centre[:, None], axis=-1).mean(1)
    scale = float(np.median(torso))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    filled = _facing_canonical(filled, idx, centre[:, 0], scale)
    # Up and down relative to where the body is on average (a jump, a burpee down to the floor are
    # the movement); sideways relative to the body itself, frame by frame: travelling (jumping over
    # the bar, lunging forward) alternates or drifts and would hide the rep's own period.
    origin = np.stack([centre[:, 0], np.full(len(centre), np.median(centre[:, 1]))], axis=-1)
    positions = (filled[:, keep] - origin[:, None]) / scale
    features = [positions.reshape(len(points), -1)]
    for a, b, c in ANGLES:
        if a in idx and b in idx and c in idx:
            u = filled[:, idx[a]] - filled[:, idx[b]]
            v = filled[:, idx[c]] - filled[:, idx[b]]
            cosine = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-9)
            features.append(np.arccos(np.clip(cosine, -1.0, 1.0))[:, None])
    return np.concatenate(features, axis=1), names


_MIRROR_PAIRS = [(JOINTS.index(f"l_{part}"), JOINTS.index(f"r_{part}"))
                 for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]


def _facing_canonical(points: np.ndarray, idx: dict, centre_x: np.ndarray, scale: float) -> np.ndarray:
    """Seen from the side, an athlete who turns round (a bar-facing burpee, a lap) looks mirrored:
    mirror those frames back about the body's centre and swap left and right, so a rep looks the
    same whichever way the athlete faces. The facing is where the nose points past the shoulders;
    frames seen from the front (nose between the shoulders) keep the last clear facing."""
    shoulders = [idx[n] for n in ("l_shoulder", "r_shoulder") if n in idx]
    if "nose" not in idx or not shoulders:
        return points
    from scipy.ndimage import median_filter

    offset = (points[:, idx["nose"], 0] - points[:, shoulders, 0].mean(1)) / scale
    facing = np.where(np.abs(offset) > 0.15, np.sign(offset), 0.0)
    clear = np.flatnonzero(facing)
    if not len(clear):
        return points
    # Forward-fill the unclear frames (the first clear facing before them, or after at the start).
    last = np.maximum.accumulate(np.where(facing != 0, np.arange(len(facing)), -1))
    facing = np.where(last >= 0, facing[np.maximum(last, 0)], facing[clear[0]])
    facing = np.sign(median_filter(facing, size=9, mode="nearest"))
    flip = facing < 0
    if not flip.any() or flip.all():
        return points
    out = points.copy()
    out[flip, :, 0] = 2 * centre_x[flip, None] - points[flip, :, 0]
    for left, right in _MIRROR_PAIRS:
        if left in idx.values() and right in idx.values():
            out[flip, left], out[flip, right] = out[flip, right].copy(), out[flip, left].copy()
    return out


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    """Mean autocorrelation of the channels of ``(T, F)``, each channel standardised first (a small
    but regular motion counts as much as a large one; a joint that hardly moves is left out), lag 0
    = 1. Biased (divided by T, not by the overlap): long lags, seen over few frames, weigh less."""
    n = len(x)
    x = x - x.mean(0)
    spread = x.std(0)
    keep = spread > 1e-3 * max(float(spread.max()), 1e-12)
    if not keep.any():
        return np.zeros(n)
    x = x[:, keep] / spread[keep]
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(x, size, axis=0)
    acf = np.fft.irfft((spectrum * spectrum.conj()).real, size, axis=0)[:n].mean(1)
    return acf / acf[0] if acf[0] > 0 else np.zeros(n)


def estimate_period(features: np.ndarray, fps: float, min_period: float, max_period: float) -> tuple[float, float]:
    """(period in frames, autocorrelation there). The smallest lag whose peak is within 85 % of the
    best one, so a rep is not mistaken for two (or two reps for one)."""
    from scipy.signal import find_peaks

    n = len(features)
    lo = max(2, int(np.floor(min_period * fps)))
    hi = min(int(np.ceil(max_period * fps)), n // 2)
    if hi <= lo + 1:
        return 0.0, 0.0
    acf = _autocorrelation(features)
    peaks, _ = find_peaks(acf[: hi + 1])
    peaks = peaks[peaks >= lo]
    if not len(peaks):
        return 0.0, 0.0
    best = acf[peaks].max()
    if best <= 0:
        return 0.0, 0.0
    chosen = int(peaks[np.flatnonzero(acf[peaks] >= 0.85 * best)[0]])
    # Parabolic refinement of the peak position.
    if 0 < chosen < n - 1:
        y0, y1, y2 = acf[chosen - 1: chosen + 2]
        denom = y0 - 2 * y1 + y2
        offset = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    else:
        offset = 0.0
    return float(chosen + offset), float(np.clip(acf[chosen], 0.0, 1.0))


def _band_pass(x: np.ndarray, period: float) -> np.ndarray:
    """Zero-phase band-pass around 1/period (0.35x to 3x): slow drift and fast jitter removed."""
    from scipy.signal import butter, sosfiltfilt

    nyquist = 0.5
    low, high = 0.35 / period, min(3.0 / period, 0.45)
    if len(x) < 16 or low >= high:
        return x - x.mean(0)
    sos = butter(2, [low / nyquist, high / nyquist], btype="bandpass", output="sos")
    pad = min(len(x) - 1, int(3 * period))
    return sosfiltfilt(sos, x, axis=0, padlen=pad)


def _principal_signal(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[0]


def count_repetitions(keypoints: np.ndarray, fps: float, layout: str = "mediapipe33", *,
                      min_period: float = 0.25, max_period: float = 8.0, min_score: float = 0.15,
                      hysteresis: float = 0.25) -> PoseCount:
    """Count repetitions in a keypoint sequence ``(T, K, C)``; see the module docstring.

    ``min_score``: the autocorrelation at the period under which nothing repeats (count 0).
    ``hysteresis``: half the dead band of the cycle counter, as a share of the swing.
    """
    if not fps or fps <= 0:
        raise UserError(f"fps must be positive, got {fps}")
    points = np.asarray(keypoints)
    n = len(points)
    features, names = pose_features(points, layout)
    empty = np.zeros(n)

    def nothing(note: str, score: float = 0.0) -> PoseCount:
        return PoseCount(0, score, 0.0, float(fps), n, empty, empty, [], names, note)

    if n < max(8, int(2 * min_period * fps)):
        return nothing(f"{n} frames: too short to see a repetition")
    if float(np.nanmax(features.std(0))) < 1e-3:
        return nothing("static: the pose does not change")
    # Positions show a slow, large movement best; velocities a small one beside a one-off change
    # (getting into a handstand). Take the clearer of the two.
    period, score = max(estimate_period(features, fps, min_period, max_period),
                        estimate_period(_velocity(features, fps), fps, min_period, max_period),
                        key=lambda found: found[1])
    if period <= 0 or score < min_score:
        return nothing(f"no repetition: periodicity {score:.2f} < {min_score:.2f}", score)
    signal = _principal_signal(_band_pass(features, period))
    swing = np.percentile(signal, 95) - np.percentile(signal, 5)
    if swing <= 0:
        return nothing("no repetition: flat signal", score)
    count, bounds = _count_cycles(signal, swing, hysteresis)
    reps = [Rep(k, int(a), int(b), round(a / fps, 3), round(b / fps, 3))
            for k, (a, b) in enumerate(bounds, start=1)]
    lengths = [b - a for a, b in bounds]
    return PoseCount(count, score, float(np.median(lengths)) if lengths else 0.0, float(fps), n,
                     _envelope(signal, period, swing), signal, reps, names,
                     "" if count else "no swing stands out")


def _count_cycles(signal: np.ndarray, swing: float, hysteresis: float):
    """Reps as full cycles of a Schmitt trigger: the signal is *high* above mid + h x swing and
    *low* below mid - h x swing, and each change of state is half a rep; wiggles inside the band
    (a burpee's intermediate positions, jitter) change nothing. A sequence that starts inside the
    band (an athlete still getting into position) counts from the first state it reaches; one that
    starts at one end (at rest, ready) counts its first move away. Returns the count and each rep's
    (first frame, last frame), the boundaries placed at the rest-side extremes."""
    n = len(signal)
    mid = 0.5 * (np.percentile(signal, 95) + np.percentile(signal, 5))
    high, low = mid + hysteresis * swing, mid - hysteresis * swing
    state = 1 if signal[0] > high else (-1 if signal[0] < low else 0)
    points = [0] if state else []
    for t in range(1, n):
        new = 1 if signal[t] > high else (-1 if signal[t] < low else state)
        if new != state:
            points.append(t)
            state = new
    if len(points) < 2:
        return 0, []
    count = len(points) // 2
    # Boundaries: each rest-side stay (every other point) moved to its extreme.
    rest = 1 if signal[points[0]] > mid else -1
    refined = []
    for k in range(0, len(points), 2):
        stop = points[k + 1] if k + 1 < len(points) else n
        stay = signal[points[k]:stop]
        refined.append(points[k] + int(np.argmax(rest * stay)))
    if len(refined) < count + 1:
        refined.append(n - 1)
    return count, [(refined[k], refined[k + 1]) for k in range(count)]


def _velocity(features: np.ndarray, fps: float) -> np.ndarray:
    """Smoothed frame-to-frame change of each feature (Savitzky-Golay over ~0.2 s). A one-off change
    of position (getting into a handstand, picking up the bar) becomes a short pulse, which leaves
    the autocorrelation at the period to the repetition."""
    from scipy.signal import savgol_filter

    window = max(5, int(round(0.2 * fps)) | 1)
    if len(features) <= window:
        return np.diff(features, axis=0)
    return savgol_filter(features, window, 2, deriv=1, axis=0)


def _envelope(signal: np.ndarray, period: float, swing: float) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import hilbert

    amplitude = np.abs(hilbert(signal))
    smoothed = uniform_filter1d(amplitude, size=max(1, int(period)), mode="nearest")
    return np.clip(smoothed / max(swing / 2.0, 1e-9), 0.0, 1.0)


def plot_pose_count(result: PoseCount, png: str | os.PathLike, title: str = "") -> Path:
    """The counted movement signal with each rep shaded, over the per-frame periodicity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from movinet_crossfit.core.fileio import save_figure

    t = np.arange(result.num_frames) / result.fps
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5), sharex=True, constrained_layout=True,
                                      gridspec_kw={"height_ratios": [2.2, 1]})
    top.plot(t, result.signal, color="tab:purple", lw=1.3)
    for rep in result.reps:
        top.axvspan(rep.start_time, rep.end_time, color="tab:green" if rep.index % 2 else "tab:olive", alpha=0.15)
        top.text(0.5 * (rep.start_time + rep.end_time), top.get_ylim()[1], str(rep.index), ha="center",
                 va="top", fontsize=8)
    top.set_ylabel("movement (1st component)")
    top.set_title((title + ": " if title else "") + f"{result.count} reps, period {result.period / result.fps:.2f} s, "
                  f"periodicity {result.score:.2f}" + (f" - {result.note}" if result.note else ""), fontsize=10)
    bottom.plot(t, result.periodicity, color="tab:blue")
    bottom.set_ylim(0, 1.05)
    bottom.set_ylabel("periodicity")
    bottom.set_xlabel("time (s)")
    return save_figure(fig, png)


def count_poses_file(path: str | os.PathLike, *, fps: float | None = None, layout: str | None = None) -> PoseCount:
    """``count_repetitions`` on a poses file; ``fps`` and ``layout`` override what the file holds
    (a file without a frame rate needs ``fps``)."""
    import math

    from movinet_crossfit.pose.sequence import load_poses

    keypoints, file_fps, file_layout = load_poses(path)
    rate = fps if fps is not None else file_fps
    if not rate or not math.isfinite(rate) or rate <= 0:
        where = "--fps" if fps is not None else f"{path}: its frame rate"
        raise UserError(f"{where} is {rate!r}: need a positive, finite frame rate (pass --fps)")
    return count_repetitions(keypoints, float(rate), layout or file_layout)

