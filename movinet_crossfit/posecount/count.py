"""A class-agnostic repetition counter on pose keypoints: no training; the movement only when named.

``count_repetitions(keypoints, fps, layout)`` takes ``(T, K, C)`` keypoints (x, y[, z or a score];
NaN where nothing was detected) in pixels, image-normalised coordinates or per-frame min-max
normalised shapes (the RepCount pose files), and:

1. **Body.** Keeps the 13 joints every layout shares (nose, shoulders, elbows, wrists, hips, knees,
   ankles) that are seen in at least half the frames where someone is; a frame where fewer than
   half of them are seen (or under ``min_confidence``) has nobody. Each joint's gaps are filled
   linearly in time; a run of empty frames longer than ``max_gap_s`` is a *missing* gap where
   nothing is counted.
2. **Shape.** Each frame's x and y are min-max scaled over all its joints seen often enough
   (``signal.per_frame_minmax``, as the RepCount files are), so position, size and units are
   gone; the 13 body joints' x and y are the features, then cleaned by a running median (``spike_s``) and a
   Savitzky-Golay smoother (``smooth_s``). If no joint moves more than ``min_motion`` of the
   body's extent the video is static: 0 reps.
3. **Period.** The first autocorrelation peak (lags ``min_period_s`` to ``max_period_s``, at most
   ``max_period_frac`` of the video) within ``harmonic_ratio`` of the best one, so half and double
   periods are not taken. If the joints' mean autocorrelation there is under
   ``min_body_periodicity``, the joints do not repeat together (independent tracking jitter
   does that): no period.
4. **Signal.** The features are band-passed around the period (``band_low``..``band_high`` x 1/period)
   and the first ``candidates`` principal directions are tried. Each is scored by the
   autocorrelation peak of the features only high-passed and projected on it (a band-pass would
   make any noise look periodic); the most periodic one is counted, at its own period. With
   ``skip_harmonics`` (the live counter's re-counts of a short window) a direction other than the
   main one that repeats at under ``HARMONIC_SHARE`` of the body's period is not a candidate: a
   joint that moves twice per rep would otherwise be counted at half the period; unless the named
   movement's look (step 5) follows it better than every other direction (a bar-facing burpee
   faces the other way every rep: its shape repeats every two reps, its height every rep). With
   the movement named, the directions that follow its look (|correlation| >=
   ``MID_REP_MIN_CORRELATION``) are the candidates when one is at least ``LOOK_PERIODIC_SHARE`` as
   periodic as the best: the direction that moves as the rep does, not a sway at its rhythm.
   When the direction counted repeats at under ``REBAND_SHARE`` of the body's period (the body's
   autocorrelation took a pause or a cut between two sets for its cycle, five reps long, and the
   band-pass around that blurs the reps), the directions are tried again around the direction's
   own period, and that count is kept when it is at least as periodic.
5. **Reps.** On the side away from the rest position, extremes at least
   ``min_sep`` periods apart that stand out by ``prominence`` of the typical swing (90th
   percentile of the swing over 1.5 periods) are reps, counted only where the local swing is at
   least ``active_share`` of the typical one. A rep runs from the rest-side extreme before its
   peak to the one after it; reps more than a period apart start a new set, and the time between
   sets is a *rest* gap. The rest position is the side the signal dwells on (its skewness); when the
   movement is given (``movement=``) and ``MID_REP`` knows how its body looks mid-rep (a squat's
   hips down to the knees), the side where the body looks so is the rep's middle and the other the
   rest, if the signal follows that look (|correlation| >= ``MID_REP_MIN_CORRELATION``); with
   ``flip_rest`` the look's side is the rest instead (a sit-up counted sat-up to sat-up). A signal
   that dwells near neither side (skewness near zero) otherwise picks one by chance.
6. **Nothing periodic** (score under ``min_score``): the large, deliberate swings of the main
   movement are counted instead, at least ``fallback_sep_s`` apart and standing out by
   ``fallback_prominence`` of the whole range (a few slow reps in a short clip land here), if
   that movement is large (``fallback_min_span`` body extents) or coordinated (carries
   ``fallback_min_share`` of all the movement).
7. **Another pace.** The period and the typical swing are the whole video's, so a stretch done at
   another pace (12 fast kipping pull-ups before slow strict ones) can hold no rep at all. Each
   stretch of ``stretch_min_s`` or more that no rep covers is counted on its own; its reps are kept
   when it is clearly periodic (``stretch_min_score``), and the note says so.
8. **A faster pace inside.** The reverse: a stretch done at a faster pace than the whole video's
   (fast kipping pull-ups before slow strict ones, when the slow ones set the period) is covered,
   but by reps that each span two or more of its own. Windows of ``PACE_WINDOW_PERIODS`` periods
   (half overlapping) are counted on their own (harmonics skipped, as the live re-counts do); where
   one finds a period under ``PACE_RATIO`` of the video's at a periodicity of ``pace_min_score`` or
   more, the window is at a faster pace; a run of such windows of ``stretch_min_s`` or more is
   counted on its own and its reps replace the ones there when it is periodic at that pace, holds
   ``PACE_MIN_REPS`` reps or more, and ``PACE_MORE`` times the reps it replaces; the note says so.
   A video counted at a periodicity of ``PACE_BELOW_SCORE`` or more is at one pace: skipped (the
   windows cost about as much again as the count itself: 1.87 times the time over RepCount's 80).

The defaults were validated on 80 real RepCount-A videos (docs/counting.md, benchmarks/
bench_repcount.py); ``TUNED`` names the four that were picked there. Poses files are read by
``pose.sequence.read_poses``; the evaluations are in ``evaluate``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.metrics import Rep
from movinet_crossfit.posecount.looks import mid_rep_of, mid_rep_signal
from movinet_crossfit.posecount.signal import (autocorrelation, band_pass, find_period, interpolate_gaps,
                                               local_swing, low_pass, odd_window, per_frame_minmax, true_runs)

# Joint order used inside: name -> index in each layout.
JOINTS = ("nose", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
          "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")
LAYOUTS = {
    "coco17": (0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
    "mediapipe33": (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28),
}
LAYOUT_SIZES = {"coco17": 17, "mediapipe33": 33}


@dataclass(frozen=True)
class PoseCountConfig:
    """The counter's settings (see the module docstring for where each acts). Times in seconds,
    shares of the typical swing or of the period."""

    default_fps: float = 30.0        # when the frame rate is unknown
    min_visible: float = 0.5         # a joint seen in fewer of the frames with someone is left out
    min_confidence: float = 0.5      # frames under this confidence (when given) have nobody
    max_gap_s: float = 1.0           # longer runs without anyone are missing gaps, not counted
    spike_s: float = 0.1             # running median against one-frame glitches
    smooth_s: float = 0.2            # Savitzky-Golay window
    min_motion: float = 0.05         # no joint moves more than this share of the body: static
    min_period_s: float = 0.3
    max_period_s: float = 8.0
    max_period_frac: float = 0.5     # the period is at most this share of the video
    harmonic_ratio: float = 0.95     # tuned: the period is the first peak within this share of the best
    candidates: int = 4              # principal directions tried as the counted signal
    band_low: float = 0.4            # band-pass around 1/period, in multiples of it
    band_high: float = 3.0
    min_sep: float = 0.5             # tuned: counted extremes at least this many periods apart
    prominence: float = 0.4          # tuned: an extreme stands out by this share of the typical swing
    active_share: float = 0.25       # local swing / typical swing above which a frame is active
    min_body_periodicity: float = 0.05  # all joints' mean autocorrelation at the period: under it, no period
    min_score: float = 0.2           # tuned: periodicity under this: count large swings instead
    skip_harmonics: bool = False     # True: a direction other than the main one that repeats at a harmonic
                                     # of the body's period (under HARMONIC_SHARE of it: a joint moving
                                     # twice per rep) is not counted (the live counter's short windows)
    fallback_sep_s: float = 1.0
    fallback_prominence: float = 0.5  # share of the whole range
    fallback_min_span: float = 1.0    # swings are counted when the main movement spans this many
    fallback_min_share: float = 0.8   # body extents (p95 - p5) or carries this share of all movement
    fallback_lowpass_s: float = 0.5   # shortest movement the fallback keeps
    stretch_min_s: float = 5.0        # a stretch at least this long that no rep covers is counted on its own
    stretch_min_score: float = 0.7    # ... and its reps kept when it is this periodic (0 turns it off)
    pace_min_score: float = 0.5       # a window at a faster pace is this periodic (step 8; 0 turns it off)
    flip_rest: bool = False           # the named movement's look marks the rest, not the middle (step 5)


# A direction repeating faster than this share of the body's period repeats at a harmonic of it.
HARMONIC_SHARE = 0.7
REBAND_SHARE = 0.5  # a direction counted at under this share of the body's period: band-passed again there
# Step 8: windows this many of the video's periods long (at least 3 s, half overlapping) find a
# faster pace when their own period is under PACE_RATIO of the video's; the stretch's reps replace
# the video's there when there are PACE_MIN_REPS of them or more, and PACE_MORE times as many.
PACE_WINDOW_PERIODS = 4.0
PACE_RATIO = 0.65
PACE_MIN_REPS = 4
PACE_MORE = 1.3
PACE_BELOW_SCORE = 0.7  # a video counted at this periodicity or more is at one pace: no step 8


MID_REP_MIN_CORRELATION = 0.3  # the signal follows the mid-rep look at least this much, or skewness decides
LOOK_PERIODIC_SHARE = 0.7  # with a look, a direction that follows it is counted if this periodic (of the best)


# The settings picked on the RepCount dev videos (a small grid, re-picked per fold in the benchmark).
TUNED = ("prominence", "min_sep", "harmonic_ratio", "min_score")


@dataclass
class RepSet:
    """Consecutive reps with less than a period between them."""

    index: int
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    count: int
    period_seconds: float  # median rep length


@dataclass
class Gap:
    """Frames ``[start_frame, end_frame]`` between sets (``rest``) or with nobody seen (``missing``)."""

    kind: str
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float


@dataclass
class PoseCount:
    """What ``count_repetitions`` found. Per-frame arrays have one value per input frame."""

    count: int
    score: float  # periodicity of the counted signal: 0 = nothing repeats, 1 = exact repetition
    period: float  # frames per rep: the period found (the median rep when large swings were counted)
    fps: float
    num_frames: int
    periodicity: np.ndarray  # 0..1: the local swing as a share of the typical rep's (0 where nobody)
    signal: np.ndarray  # the 1-D movement signal that was counted
    reps: list = field(default_factory=list)  # [Rep]
    sets: list = field(default_factory=list)  # [RepSet]
    gaps: list = field(default_factory=list)  # [Gap], in time order
    joints_used: list = field(default_factory=list)
    note: str = ""
    # What placed the rest side (step 5): "skewness" (where the signal dwells), "movement" (the
    # named movement's MID_REP look), "" when nothing was counted.
    rest: str = ""
    # How the reps were found: "period" (the periodic count), "swings" (large swings counted
    # instead: no believable period), "" when nothing was counted.
    method: str = ""

    def to_dict(self, per_frame: bool = True) -> dict:
        out = {"count": self.count, "score": round(self.score, 4), "period_frames": round(self.period, 2),
               "period_seconds": round(self.period / self.fps, 3) if self.fps else None, "fps": self.fps,
               "num_frames": self.num_frames, "joints_used": self.joints_used, "note": self.note, "rest": self.rest,
               "method": self.method,
               "reps": [vars(rep) for rep in self.reps], "sets": [vars(s) for s in self.sets],
               "gaps": [vars(g) for g in self.gaps]}
        if per_frame:
            out["per_frame"] = {"periodicity": np.round(self.periodicity, 3).tolist(),
                                "signal": np.round(self.signal, 4).tolist()}
        return out


def _check(keypoints: np.ndarray, layout: str) -> np.ndarray:
    """``(T, K, 2)`` x, y of every joint of ``layout``."""
    if layout not in LAYOUTS:
        raise UserError(f"unknown keypoint layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    points = np.asarray(keypoints, dtype=np.float64)
    if points.ndim != 3 or points.shape[1] != LAYOUT_SIZES[layout] or points.shape[2] < 2:
        raise UserError(f"keypoints of shape {points.shape}: expected (frames, {LAYOUT_SIZES[layout]}, 2 or 3) "
                        f"for layout {layout}")
    return points[..., :2]


def pose_features(keypoints: np.ndarray, layout: str = "mediapipe33", fps: float = 30.0,
                  config: PoseCountConfig | None = None,
                  confidence: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray, list[str]]:
    """``(features (T, 2J) or None when nobody is seen, present (T,) bool, the J body joints used)``:
    steps 1 and 2 of the module docstring. The shape is normalised over every joint of the layout
    that is seen often enough (face, hands and feet too: the 33 points of the RepCount files)."""
    cfg = config or PoseCountConfig()
    points = _check(keypoints, layout)
    seen = np.isfinite(points).all(-1)
    if confidence is not None:
        confidence = np.asarray(confidence, np.float64).reshape(-1)
        if len(confidence) != len(points):
            raise UserError(f"confidence has {len(confidence)} values for {len(points)} frames")
        seen &= (confidence >= cfg.min_confidence)[:, None]
    anyone = seen.any(1)
    share = seen[anyone].mean(0) if anyone.any() else np.zeros(points.shape[1])
    keep = np.flatnonzero((share >= cfg.min_visible) & (share > 0))
    body = [i for i, j in enumerate(keep) if j in LAYOUTS[layout]]
    names = [JOINTS[LAYOUTS[layout].index(keep[i])] for i in body]
    present = seen[:, keep[body]].mean(1) >= 0.5 if len(body) >= 2 else np.zeros(len(points), bool)
    if present.sum() < 2:
        return None, present, names
    # Each joint filled from the frames where it is seen with a body around it (a lone joint in an
    # empty frame is more likely a false detection).
    filled = np.empty((len(points), len(keep), 2))
    for i, j in enumerate(keep):
        known = seen[:, j] & present
        filled[:, i] = interpolate_gaps(points[:, j], known if known.any() else seen[:, j])
    x = per_frame_minmax(filled)[:, body].reshape(len(points), -1)
    present &= np.isfinite(x).all(1)  # a frame whose joints all coincide has no shape
    if present.sum() < 2:
        return None, present, names
    x = interpolate_gaps(x, present)
    from scipy.ndimage import median_filter
    from scipy.signal import savgol_filter

    window = odd_window(cfg.spike_s * fps)
    if len(x) > window:
        x = median_filter(x, size=(window, 1), mode="nearest")
    window = odd_window(cfg.smooth_s * fps, 5)
    if len(x) > window:
        x = savgol_filter(x, window, 2, axis=0)
    return x, present, names


def count_repetitions(keypoints: np.ndarray, fps: float | None, layout: str = "mediapipe33", *,
                      confidence: np.ndarray | None = None, config: PoseCountConfig | None = None,
                      movement: str | None = None, **options) -> PoseCount:
    """Count repetitions in a keypoint sequence ``(T, K, C)``; see the module docstring.

    ``fps`` None: ``config.default_fps`` is assumed (and said in the note). ``confidence``: an
    optional per-frame pose score. ``movement``: the movement's name, when known; ``MID_REP``'s
    look of its middle then places the rest side (step 5; a name it does not know changes
    nothing). ``options`` override single ``PoseCountConfig`` fields.
    """
    cfg = replace(config or PoseCountConfig(), **options)
    notes = []
    if fps is None:
        fps = cfg.default_fps
        notes.append(f"frame rate unknown: {fps:g} fps assumed")
    elif not math.isfinite(fps) or fps <= 0:
        raise UserError(f"fps must be positive, got {fps}")
    fps = float(fps)
    features, present, names = pose_features(keypoints, layout, fps, cfg, confidence)
    n = len(present)
    missing = [(a, b - 1) for a, b in true_runs(~present) if b - a > cfg.max_gap_s * fps]
    counted = np.ones(n, bool)
    for a, b in missing:
        counted[a:b + 1] = False

    def finish(why: str, bounds=(), score=0.0, period=0.0, signal=None, strength=None, split=None,
               rest: str = "", method: str = "period") -> PoseCount:
        zeros = np.zeros(n)
        reps = [Rep(k, int(a), int(b), round(a / fps, 3), round(b / fps, 3)) for k, (a, b) in enumerate(bounds, 1)]
        sets = _sets(bounds, split if split is not None else period, fps)
        rests = [(s.end_frame + 1, t.start_frame - 1) for s, t in zip(sets, sets[1:])
                 if t.start_frame - s.end_frame > 1]
        gaps = sorted([("missing", a, b) for a, b in missing] + [("rest", a, b) for a, b in rests],
                      key=lambda g: g[1])
        return PoseCount(len(reps), float(score), float(period), fps, n,
                         zeros if strength is None else strength, zeros if signal is None else signal, reps, sets,
                         [Gap(kind, int(a), int(b), round(a / fps, 3), round(b / fps, 3)) for kind, a, b in gaps],
                         names, "; ".join(notes + ([why] if why else [])), rest if bounds else "",
                         method if bounds else "")

    if features is None:
        return finish("nobody found")
    if n < 8:
        return finish(f"{n} frames: too short to see a repetition")
    motion = np.percentile(features[present], 95, 0) - np.percentile(features[present], 5, 0)
    if motion.max() < cfg.min_motion:
        return finish(f"static: the largest joint movement is {motion.max():.3f} < {cfg.min_motion} of the body")
    mid = mid_rep_of(movement)
    look = mid_rep_signal(features, names, mid) if mid is not None else None
    shortest = max(2, int(cfg.min_period_s * fps))
    longest = int(min(cfg.max_period_s * fps, cfg.max_period_frac * n))
    period, body_score = find_period(autocorrelation(features), shortest, longest, cfg.harmonic_ratio)
    score, why = body_score, ""
    if period > 0:
        body_period = period
        signal, score, period = _most_periodic(features, period, shortest, longest, cfg, look)
        if period < REBAND_SHARE * body_period:
            again = _most_periodic(features, period, shortest, longest, cfg, look)
            if again[1] >= score:
                signal, score, period = again
        # Joints jittering independently show chance rhythms in some direction: a rhythm the
        # body as a whole does not share is not believed.
        if body_score < cfg.min_body_periodicity:
            period, why = 0.0, f"a rhythm the body does not share ({body_score:.2f} < {cfg.min_body_periodicity})"
    if period <= 0 or score < cfg.min_score:
        why = why or ("no periodicity" if period <= 0 else f"periodicity {score:.2f} < {cfg.min_score}")
        signal, share = _main_movement(features, fps, cfg)
        if not counted.any():
            return finish(why + "; nothing visible", score=score, signal=signal)
        span = np.percentile(signal[counted], 95) - np.percentile(signal[counted], 5)
        # Independent jitter of the joints makes small swings in every direction; a deliberate
        # movement is large or moves the joints together.
        if span < cfg.fallback_min_span and share < cfg.fallback_min_share:
            return finish(why + f"; no large or coordinated swing (range {span:.2f} body extents, "
                          f"{share:.0%} of the movement)", score=score, signal=signal)
        spacing = cfg.fallback_sep_s * fps / cfg.min_sep
        bounds, strength, rest = _count_extremes(signal, spacing, counted, cfg.min_sep, cfg.fallback_prominence,
                                                 0.0, reference=span, look=look, flip=cfg.flip_rest)
        typical = float(np.median([b - a for a, b in bounds])) if bounds else 0.0
        return finish(why + "; counted large swings", bounds, score, typical, signal, strength, split=spacing,
                      rest=rest, method="swings")
    bounds, strength, rest = _count_extremes(signal, period, counted, cfg.min_sep, cfg.prominence,
                                             cfg.active_share, look=look, flip=cfg.flip_rest)
    if bounds and cfg.stretch_min_s > 0 and cfg.stretch_min_score > 0:
        bounds, strength, more = _count_stretches(keypoints, fps, layout, confidence, cfg, movement, bounds,
                                                  counted, strength)
        notes.extend(more)
    if bounds and cfg.pace_min_score > 0 and score < PACE_BELOW_SCORE:
        bounds, strength, more = _count_faster_pace(keypoints, fps, layout, confidence, cfg, movement, bounds,
                                                    period, strength)
        notes.extend(more)
    return finish("" if bounds else "no swing stands out", bounds, score, period, signal, strength, rest=rest)


def _count_part(keypoints, fps: float, layout: str, confidence, config: PoseCountConfig, movement: str | None,
                a: int, b: int) -> PoseCount:
    """Frames ``a`` .. ``b - 1`` counted on their own with ``config`` (steps 7 and 8)."""
    return count_repetitions(keypoints[a:b], fps, layout, config=config, movement=movement,
                             confidence=None if confidence is None else np.asarray(confidence).reshape(-1)[a:b])


def _count_stretches(keypoints, fps: float, layout: str, confidence, cfg: PoseCountConfig, movement: str | None,
                     bounds: list, counted: np.ndarray, strength: np.ndarray) -> tuple[list, np.ndarray, list[str]]:
    """Step 7: each stretch of ``stretch_min_s`` or more that no rep covers (a set at another pace,
    whose reps the whole video's period and typical swing pass over) counted on its own; its reps are
    kept when it is clearly periodic (``stretch_min_score``). Returns the bounds, the strength and
    the notes saying what was added."""
    free = counted.copy()
    for a, b in bounds:
        free[a:b + 1] = False
    own = replace(cfg, stretch_min_s=0.0, pace_min_score=0.0)
    bounds, strength, notes = list(bounds), strength.copy(), []
    for a, b in true_runs(free):
        if b - a < cfg.stretch_min_s * fps:
            continue
        part = _count_part(keypoints, fps, layout, confidence, own, movement, a, b)
        if part.count >= 2 and part.method == "period" and part.score >= cfg.stretch_min_score:
            bounds += [(r.start_frame + a, r.end_frame + a) for r in part.reps]
            strength[a:b] = np.maximum(strength[a:b], part.periodicity)
            notes.append(f"{part.count} reps at another pace counted on their own ({a / fps:.1f}-{b / fps:.1f} s, "
                         f"{part.period / fps:.2f} s per rep)")
    return sorted(bounds), strength, notes


def _count_faster_pace(keypoints, fps: float, layout: str, confidence, cfg: PoseCountConfig,
                       movement: str | None, bounds: list, period: float,
                       strength: np.ndarray) -> tuple[list, np.ndarray, list[str]]:
    """Step 8: the stretches done at a faster pace than ``period`` counted on their own (see the
    module docstring). Returns the bounds, the strength and the notes saying what was replaced."""
    n = len(keypoints)
    own = replace(cfg, stretch_min_s=0.0, pace_min_score=0.0, skip_harmonics=True)

    def part(a: int, b: int) -> PoseCount:
        return _count_part(keypoints, fps, layout, confidence, own, movement, a, b)

    def faster(count: PoseCount) -> bool:
        return count.method == "period" and 0 < count.period < PACE_RATIO * period and count.score >= cfg.pace_min_score

    length = int(max(PACE_WINDOW_PERIODS * period, 3.0 * fps))
    fast = np.zeros(n, bool)
    for a in range(0, max(1, n - length + 1), max(1, length // 2)):
        if faster(part(a, a + length)):
            fast[a:a + length] = True
    bounds, strength, notes = list(bounds), strength.copy(), []
    for a, b in true_runs(fast):
        if b - a < cfg.stretch_min_s * fps:
            continue
        stretch = part(a, b)
        inside = [r for r in bounds if a <= (r[0] + r[1]) / 2 < b]
        if not faster(stretch) or stretch.count < max(PACE_MIN_REPS, PACE_MORE * len(inside)):
            continue
        new = [(r.start_frame + a, r.end_frame + a) for r in stretch.reps]
        first, last = new[0][0], new[-1][1]
        # the video's reps outside the stretch, unless the new ones cover most of one
        kept = [r for r in bounds if r not in inside and min(r[1], last) - max(r[0], first) < 0.5 * (r[1] - r[0])]
        bounds = sorted(kept + new)
        strength[a:b] = np.maximum(strength[a:b], stretch.periodicity)
        notes.append(f"{stretch.count} reps at a faster pace counted on their own instead of {len(inside)} "
                     f"({a / fps:.1f}-{b / fps:.1f} s, {stretch.period / fps:.2f} s per rep)")
    return bounds, strength, notes


def _look_correlation(signal: np.ndarray, look: np.ndarray | None, frames: np.ndarray | None = None) -> float:
    """The correlation of ``signal`` with the mid-rep ``look`` over ``frames`` (a mask; default all)
    where the look is seen; 0 without a look, on 8 frames or fewer, or when either is flat."""
    if look is None:
        return 0.0
    seen = np.isfinite(look) if frames is None else frames & np.isfinite(look)
    if seen.sum() <= 8 or np.std(look[seen]) <= 0 or np.std(signal[seen]) <= 0:
        return 0.0
    return float(np.corrcoef(signal[seen], look[seen])[0, 1])


def _most_periodic(features: np.ndarray, period: float, shortest: int, longest: int,
                   cfg: PoseCountConfig, look: np.ndarray | None = None) -> tuple[np.ndarray, float, float]:
    """(signal, periodicity score, period) of the most periodic principal direction (step 4).
    ``look``: the named movement's mid-rep look per frame; the directions that follow it are
    preferred (see the module docstring, step 4)."""
    banded = band_pass(features, period, cfg.band_low, cfg.band_high)
    banded = banded - banded.mean(0)
    _, values, directions = np.linalg.svd(banded, full_matrices=False)
    high = band_pass(features, period, cfg.band_low, None)
    high = high - high.mean(0)
    k_max = min(cfg.candidates, len(values))
    signals = [banded @ directions[k] for k in range(k_max)]
    found = [find_period(autocorrelation((high @ directions[k])[:, None]), shortest, longest, cfg.harmonic_ratio)
             for k in range(k_max)]
    follows = [abs(_look_correlation(s, look)) for s in signals]
    # A direction other than the main one repeating at a harmonic of the body's period (a joint
    # moving twice per rep): counting it halves the period. Skipped when asked (the live re-counts),
    # unless it follows the named movement's look better than every other direction (a bar-facing
    # burpee: mirrored every other rep, the body repeats every two reps and the look every rep).
    harmonic = [k > 0 and 0 < own < HARMONIC_SHARE * period for k, (own, _) in enumerate(found)]
    plain = max((f for f, h in zip(follows, harmonic) if not h), default=0.0)
    allowed = [not (cfg.skip_harmonics and harmonic[k])
               or (follows[k] >= MID_REP_MIN_CORRELATION and follows[k] > plain) for k in range(k_max)]
    # With a look, count a direction that shows it, when one is nearly as periodic as the best.
    top = max((score for (_, score), ok in zip(found, allowed) if ok), default=0.0)
    shows = [ok and f >= MID_REP_MIN_CORRELATION and score >= LOOK_PERIODIC_SHARE * top
             for ok, f, (_, score) in zip(allowed, follows, found)]
    if any(shows):
        allowed = shows
    best = None
    for k, (own, own_score) in enumerate(found):
        if allowed[k] and (best is None or own_score > best[1]):
            best = (signals[k], own_score, own if own > 0 else period)
    return best


def _main_movement(features: np.ndarray, fps: float, cfg: PoseCountConfig) -> tuple[np.ndarray, float]:
    """The first principal component of the low-passed features (the fallback's signal) and the
    share of the movement's variance it carries."""
    x = features - features.mean(0)
    if cfg.fallback_lowpass_s > 0:
        x = low_pass(x, cfg.fallback_lowpass_s * fps)
    _, values, directions = np.linalg.svd(x, full_matrices=False)
    return x @ directions[0], float(values[0] ** 2 / max((values ** 2).sum(), 1e-18))


def _count_extremes(signal: np.ndarray, period: float, counted: np.ndarray, min_sep: float, prominence: float,
                    active_share: float, reference: float | None = None,
                    look: np.ndarray | None = None, flip: bool = False) -> tuple[list, np.ndarray, str]:
    """Rep bounds ``[(start, end)]``, the per-frame swing strength and what placed the rest side
    (``PoseCount.rest``) (step 5). ``reference``: the swing an extreme is measured against
    (default: the typical local swing). ``look``: per frame, how much the body looks as in the
    middle of a rep (``_mid_rep_signal``); ``flip``: the look marks the rest instead."""
    from scipy.signal import find_peaks

    n = len(signal)
    swing = local_swing(signal, max(3, int(round(1.5 * period))))
    typical = np.percentile(swing[counted], 90) if counted.any() else 0.0
    reference = typical if reference is None else reference
    if reference <= 0 or typical <= 0:
        return [], np.zeros(n), ""
    strength = np.clip(swing / typical, 0.0, 1.0) * counted
    active = (swing >= active_share * reference) & counted
    # The signal dwells at the rest position: count the extremes on the other side.
    centred = signal[active] - np.median(signal[active]) if active.any() else signal
    up, rest = np.mean(centred ** 3) >= 0, "skewness"
    # The rep's middle is where the body looks as mid-rep: count the extremes on that side.
    follows = _look_correlation(signal, look, active)
    if abs(follows) >= MID_REP_MIN_CORRELATION:
        up, rest = (follows > 0) != flip, "movement"
    y = signal if up else -signal
    peaks, _ = find_peaks(y, distance=max(1, int(min_sep * period)), prominence=prominence * reference)
    peaks = peaks[active[peaks]]
    bounds = []
    half = int(round(0.75 * period))
    for i, peak in enumerate(peaks):
        before = peaks[i - 1] if i > 0 and peak - peaks[i - 1] < 2 * period else max(0, peak - half)
        after = peaks[i + 1] if i + 1 < len(peaks) and peaks[i + 1] - peak < 2 * period else min(n - 1, peak + half)
        bounds.append((int(before + np.argmin(y[before:peak + 1])), int(peak + np.argmin(y[peak:after + 1]))))
    return bounds, strength, rest


def _sets(bounds, period: float, fps: float) -> list[RepSet]:
    """Consecutive reps whose gap is under one period form a set."""
    groups = []
    for rep in bounds:
        if groups and rep[0] - groups[-1][-1][1] <= period:
            groups[-1].append(rep)
        else:
            groups.append([rep])
    return [RepSet(k, g[0][0], g[-1][1], round(g[0][0] / fps, 3), round(g[-1][1] / fps, 3), len(g),
                   round(float(np.median([b - a for a, b in g])) / fps, 3)) for k, g in enumerate(groups, 1)]


def plot_pose_count(result: PoseCount, png: str | os.PathLike, title: str = "") -> Path:
    """The counted movement signal with each rep shaded and the sets and gaps marked, over the
    per-frame swing strength."""
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
    for gap in result.gaps:
        top.axvspan(gap.start_time, gap.end_time, color="tab:red" if gap.kind == "missing" else "0.8", alpha=0.2)
    top.set_ylabel("movement")
    top.set_title((title + ": " if title else "") + f"{result.count} reps in {len(result.sets)} set(s), "
                  f"period {result.period / result.fps:.2f} s, periodicity {result.score:.2f}"
                  + (f" - {result.note}" if result.note else ""), fontsize=10)
    bottom.plot(t, result.periodicity, color="tab:blue")
    bottom.set_ylim(0, 1.05)
    bottom.set_ylabel("swing strength")
    bottom.set_xlabel("time (s)")
    return save_figure(fig, png)


def count_poses_file(path: str | os.PathLike, *, fps: float | None = None, layout: str | None = None,
                     config: PoseCountConfig | None = None, movement: str | None = None) -> PoseCount:
    """``count_repetitions`` on a poses file (``pose.sequence.read_poses``: our ``.npz``, ViTPose
    exports, the generated corpus's keypoints, RepCount ``.npy``); ``fps`` and ``layout`` override
    what the file holds (a file without a frame rate needs ``fps``)."""
    from movinet_crossfit.pose.sequence import read_poses

    poses = read_poses(path)
    rate = fps if fps is not None else poses.fps
    if not rate or not math.isfinite(rate) or rate <= 0:
        if fps is not None:
            raise UserError(f"--fps {rate!r}: need a positive, finite frame rate, e.g. --fps 30")
        raise UserError(f"{path}: its frame rate is {rate!r}: need a positive, finite frame rate "
                        "(pass --fps)")
    result = count_repetitions(poses.keypoints, float(rate), layout or poses.layout, config=config,
                               movement=movement)
    said = poses.extra.get("note") if fps is None else None
    if said:
        result.note = "; ".join(filter(None, [said, result.note]))
    return result
