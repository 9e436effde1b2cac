"""Signal pieces of the pose counter (numpy + scipy): per-frame shape normalisation, gap filling,
autocorrelation, the period search and zero-phase filters. Frames are rows, channels columns."""
from __future__ import annotations

import warnings

import numpy as np


def per_frame_minmax(points: np.ndarray) -> np.ndarray:
    """Scale each coordinate of each frame of ``(T, K, C)`` to [0, 1] over that frame's K points
    (NaN-aware). This is the normalisation of the RepCount pose files: where the body is in the
    picture and how big it is are gone, only its shape remains, so pixels, image-normalised
    coordinates and those files all land in the same domain. Applying it twice changes nothing;
    a frame (or coordinate) with no spread becomes NaN."""
    p = np.asarray(points, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames: nobody there
        lo = np.nanmin(p, axis=1, keepdims=True)
        span = np.nanmax(p, axis=1, keepdims=True) - lo
        return (p - lo) / np.where(span > 1e-12, span, np.nan)


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end_exclusive)]`` of the runs of True in a 1-D mask."""
    edges = np.diff(np.r_[0, np.asarray(mask, np.int8), 0])
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def interpolate_gaps(series: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill the rows of ``(T, F)`` where ``valid`` is False linearly in time (the ends take the
    nearest valid row). Needs at least one valid row."""
    if valid.all():
        return series
    index = np.arange(len(series))
    known = index[valid]
    return np.stack([np.interp(index, known, series[valid, j]) for j in range(series.shape[1])], axis=1)


def odd_window(frames: float, minimum: int = 3) -> int:
    return max(minimum, int(round(frames))) | 1


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Mean autocorrelation of the channels of ``(T, F)``, each channel standardised first (a small
    but regular movement counts as much as a large one; a channel that hardly moves is left out),
    lag 0 = 1. Biased (divided by T, not by the overlap): long lags, seen over few frames, weigh less."""
    n = len(x)
    x = x - x.mean(0)
    spread = x.std(0)
    keep = spread > 1e-3 * max(float(spread.max()), 1e-12)
    if not keep.any():
        return np.zeros(n)
    x = x[:, keep] / spread[keep]
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(x, size, axis=0)
    acf = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, size, axis=0)[:n].mean(1)
    return acf / acf[0] if acf[0] > 0 else np.zeros(n)


def find_period(acf: np.ndarray, shortest: int, longest: int, harmonic_ratio: float) -> tuple[float, float]:
    """(period in frames, autocorrelation there), or (0, 0) when no peak lies in [shortest, longest].
    The period is the smallest lag whose peak is at least ``harmonic_ratio`` of the best peak, so
    two reps are not taken for one; the peak position is refined by a parabola."""
    from scipy.signal import find_peaks

    longest = min(longest, len(acf) - 2)
    if longest <= shortest + 1:
        return 0.0, 0.0
    peaks, _ = find_peaks(acf[: longest + 2])
    peaks = peaks[(peaks >= shortest) & (peaks <= longest)]
    if not len(peaks):
        return 0.0, 0.0
    best = acf[peaks].max()
    if best <= 0:
        return 0.0, 0.0
    lag = int(peaks[np.flatnonzero(acf[peaks] >= harmonic_ratio * best)[0]])
    y0, y1, y2 = acf[lag - 1: lag + 2]
    curvature = y0 - 2 * y1 + y2
    offset = 0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0
    return float(lag + offset), float(acf[lag])


def band_pass(x: np.ndarray, period: float, low: float, high: float | None) -> np.ndarray:
    """Zero-phase Butterworth band-pass of ``(T, F)`` keeping ``low``/period to ``high``/period
    cycles per frame, at most 0.45 (``high`` None: everything up to there, in effect a high-pass).
    Too short to filter: the mean is removed."""
    from scipy.signal import butter, sosfiltfilt

    lo = low / period
    hi = 0.45 if high is None else min(high / period, 0.45)
    if len(x) < 16 or lo >= hi:
        return x - x.mean(0)
    sos = butter(2, [lo / 0.5, hi / 0.5], btype="bandpass", output="sos")
    return sosfiltfilt(sos, x, axis=0, padlen=min(len(x) - 1, int(3 * period)))


def low_pass(x: np.ndarray, shortest_frames: float) -> np.ndarray:
    """Zero-phase low-pass of ``(T, F)`` keeping movements longer than ``shortest_frames``."""
    from scipy.signal import butter, sosfiltfilt

    if len(x) <= 16:
        return x
    sos = butter(2, min(0.9, 2.0 / shortest_frames), output="sos")
    return sosfiltfilt(sos, x, axis=0, padlen=min(len(x) - 1, int(3 * shortest_frames)))


def local_swing(signal: np.ndarray, window: int) -> np.ndarray:
    """Per frame, max - min of ``signal`` over a centred window: how far it moves around there."""
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    return maximum_filter1d(signal, window, mode="nearest") - minimum_filter1d(signal, window, mode="nearest")
