"""Conditions measured on a window of frames, and clauses (conditions together) decided on it.

A condition's *margin* is how far it is met, in its own units (degrees, or torso lengths): >= 0
passes. A clause scores each frame by its tightest condition, in *steps* (``STEP``: 10 degrees or
0.1 torso length), so conditions of different units can be compared; ``when: any`` takes the best
frame (the best held for ``hold`` seconds), ``when: all`` asks ``share`` of the frames to pass and
the worst frame of that share decides. A miss with more than ``HIDDEN_SHARE`` of the frames hidden
is not believed: the clause is then undecided (None) with the hidden joints named.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movinet_crossfit.judging.body import ANGLES, SEGMENTS, WORDS, Body, combine_sides, inner_angle
from movinet_crossfit.judging.standards import Clause, Condition, ViewCheck

STEP = {"deg": 10.0, "torso": 0.1}
HIDDEN_SHARE = 0.25  # a miss with more of the rep hidden than this is not believed


def points_of(cond: Condition) -> tuple[str, ...]:
    kind = cond.kind
    if kind == "angle":
        return ANGLES[cond.angle]
    if kind == "tilt":
        return SEGMENTS["torso"]
    if kind in ("above", "below"):
        return getattr(cond, kind), cond.ref
    if kind == "past":
        return cond.past, cond.from_, cond.to
    return (getattr(cond, kind),)


def _bounds(value: np.ndarray, cond: Condition) -> np.ndarray:
    low = value - cond.min if cond.min is not None else np.inf
    high = cond.max - value if cond.max is not None else np.inf
    return np.minimum(low, high)


def margin(cond: Condition, body: Body, a: int, b: int, torso: float) -> np.ndarray:
    """``(b - a + 1,)`` the condition's margin on each frame of ``a..b`` (NaN where hidden)."""
    kind = cond.kind
    names = points_of(cond)
    p = [body.point(n, a, b) for n in names]
    with np.errstate(invalid="ignore"):
        if kind == "angle":
            per_side = _bounds(inner_angle(p[0], p[1], p[2]), cond)
        elif kind == "tilt":
            v = p[1] - p[0]  # hip -> shoulder
            upright = np.degrees(np.arccos(np.clip(-v[..., 1] / np.linalg.norm(v, axis=-1), -1.0, 1.0)))
            per_side = _bounds(upright, cond)
        elif kind == "above":
            per_side = (p[1][..., 1] - p[0][..., 1]) / torso - cond.by
        elif kind == "below":
            per_side = (p[0][..., 1] - p[1][..., 1]) / torso - cond.by
        elif kind == "past":
            line = p[2] - p[1]
            length = np.linalg.norm(line, axis=-1)
            along = ((p[0] - p[1]) * line).sum(-1) / length
            per_side = (along - length) / torso - cond.by
        elif kind == "rise":
            y = p[0][..., 1]
            per_side = np.stack([_ground(y[:, s]) for s in range(2)], axis=1) - y
            per_side = per_side / torso - cond.by
        else:  # travel: one value for the whole window, kept where the point is seen
            y = p[0][..., 1]
            span = np.array([np.nanpercentile(y[:, s], 95) - np.nanpercentile(y[:, s], 5)
                             if np.isfinite(y[:, s]).sum() >= 2 else np.nan for s in range(2)])
            per_side = np.where(np.isfinite(y), _bounds(span[None] / torso, cond), np.nan)
    weight = body.side_weight(names, a, b)
    if cond.sides == "each":  # every side seen must meet it: the worse side decides
        seen = np.isfinite(per_side) & (weight > 0)
        return np.where(seen.any(axis=1), np.min(np.where(seen, per_side, np.inf), axis=1), np.nan)
    return combine_sides(per_side, weight)


def _ground(y: np.ndarray) -> np.ndarray:
    """Where a point rests, frame by frame: the line through its lowest position (largest y) in the
    first and in the last third of the window, so a camera that drifts or pans does not count as
    airtime. One third without the point: its lowest position overall."""
    n = len(y)
    third = max(1, n // 3)
    seen = np.isfinite(y)
    if not seen.any():
        return np.full(n, np.nan)
    ends = []
    for lo, hi in ((0, third), (n - third, n)):
        part = np.where(seen[lo:hi], y[lo:hi], -np.inf)
        if np.isfinite(part).any():
            ends.append((lo + int(np.argmax(part)), float(part.max())))
    if len(ends) < 2 or ends[0][0] == ends[1][0]:
        return np.full(n, float(np.nanmax(y)))
    (f0, y0), (f1, y1) = ends
    return y0 + (y1 - y0) * (np.arange(n) - f0) / (f1 - f0)


@dataclass
class Decision:
    """A clause decided on a window: ``passed`` None when it cannot be told (``detail`` why)."""

    passed: bool | None
    frame: int | None  # absolute frame index
    value: float | None  # the deciding condition's margin, in its units
    score: float  # the deciding frame's score in steps (NaN when nothing was seen)
    soft: float  # 0..1, how well the clause fits (for recognition)
    detail: str
    condition: Condition | None = None


def _words(cond: Condition, value: float) -> str:
    unit = "deg" if cond.unit == "deg" else "torso lengths"
    return f"{cond.describe()}: margin {value:+.2f} {unit}"


def decide(clause: Clause, body: Body, a: int, b: int, torso: float) -> Decision:
    """Decide ``clause`` on frames ``a..b`` (see the module docstring)."""
    names = [n for c in clause.check for n in points_of(c)]
    if not np.isfinite(torso) or torso <= 0:
        return Decision(None, None, None, float("nan"), 0.0, "the torso is never seen: nothing to measure with")
    margins = np.stack([margin(c, body, a, b, torso) for c in clause.check], axis=1)  # (n, C)
    steps = np.array([STEP[c.unit] for c in clause.check])
    scores = margins / steps
    seen = np.isfinite(scores).all(axis=1)
    hidden_share = 1.0 - seen.mean() if len(seen) else 1.0
    if not seen.any():
        hidden = body.hidden_names(names, a, b) or sorted(set(names))
        return Decision(None, None, None, float("nan"), 0.0, f"{', '.join(hidden)} hidden on every frame of the rep")
    frame_score = np.where(seen, scores.min(axis=1), np.nan)
    if clause.when == "any":
        held = _held(frame_score, max(1, int(round(clause.hold * body.fps))))
        if not np.isfinite(held).any():
            held = frame_score
        best = int(np.nanargmax(held))
        score = float(held[best])
        passed = score >= 0
        soft = _sigmoid(score)
        share_text = f"; held {clause.hold:g} s" if clause.hold else ""
    else:  # the frame that decides: the worst of the ``share`` of frames that must pass
        order = np.flatnonzero(seen)[np.argsort(frame_score[seen], kind="stable")]
        best = int(order[min(len(order) - 1, int(np.floor((1.0 - clause.share) * len(order))))])
        score = float(frame_score[best])
        passed = score >= 0
        soft = _sigmoid(score)
        share_text = (f"; held on {(frame_score[seen] >= 0).mean():.0%} of the frames seen "
                      f"(needs {clause.share:.0%})")
    limiting = int(np.argmin(scores[best]))
    cond = clause.check[limiting]
    value = float(margins[best, limiting])
    detail = _words(cond, value) + share_text
    frame = a + best
    if not passed and hidden_share > HIDDEN_SHARE:
        hidden = body.hidden_names(names, a, b) or sorted(set(names))
        return Decision(None, frame, value, score, soft,
                        f"{', '.join(hidden)} hidden on {hidden_share:.0%} of the rep; the frames that "
                        f"would decide may be among them ({detail})", cond)
    return Decision(bool(passed), frame, value, score, soft, detail, cond)


def _held(score: np.ndarray, frames: int) -> np.ndarray:
    """Each frame's score as held: the lowest over the ``frames`` frames centred on it (NaN where
    one of them is not seen), so a pose passed through in one frame does not count."""
    if frames <= 1 or len(score) < frames:
        return score
    half = frames // 2
    padded = np.pad(score, (half, frames - 1 - half), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, frames)
    return windows.min(axis=1)


def view_blocks(views: list[ViewCheck], body: Body, frame: int) -> str | None:
    """Why the camera angle hides the condition on ``frame`` (a segment seen too short), or None."""
    for view in views:
        length = body.segment_length(view.segment, frame, frame)[0]
        full = body.full_length(view.segment)
        if not np.isfinite(length) or not np.isfinite(full) or full <= 0:
            continue
        ratio = float(length / full)
        if ratio < view.min:
            name = WORDS.get(view.segment, view.segment)
            return (f"the {name} is seen at {ratio:.0%} of its length (under {view.min:.0%}): it points at the "
                    f"camera, so this cannot be told from this angle")
    return None


def _sigmoid(score: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(score, -30, 30))))
