"""The athlete's body as judging sees it: named points on both sides, hidden where not seen.

Every point is an array ``(T, 2, 2)``: frames, side (left, right), x and y in pixels (y down),
NaN where the joint is hidden (not found, or its visibility under ``MIN_VISIBILITY``); the nose
is the same on both sides. ``weight`` ``(T, 2)`` is how far each side can be trusted (its
visibility; 1 for keypoints without one, as the generated truth). Conditions are measured on each
side and the sides that are seen are averaged, weighted: a side view judges the near side, a
front view both.
"""
from __future__ import annotations

import numpy as np

from movinet_crossfit.pose.sequence import JOINT_NAMES, PoseSequence

MIN_VISIBILITY = 0.5
SIDED = ("ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
ANGLES = {"shoulder": ("hip", "shoulder", "elbow"), "elbow": ("shoulder", "elbow", "wrist"),
          "hip": ("shoulder", "hip", "knee"), "knee": ("hip", "knee", "ankle")}
SEGMENTS = {"torso": ("hip", "shoulder"), "upper_arm": ("shoulder", "elbow"), "forearm": ("elbow", "wrist"),
            "thigh": ("hip", "knee"), "shin": ("knee", "ankle")}
WORDS = {"upper_arm": "upper arm", "ear": "head", "nose": "head"}


class Body:
    """Named points of one pose sequence (see the module docstring)."""

    def __init__(self, poses: PoseSequence, min_visibility: float = MIN_VISIBILITY):
        names = JOINT_NAMES[poses.layout]
        xy = np.asarray(poses.keypoints[..., :2], np.float64)
        seen = np.isfinite(xy).all(-1)
        if poses.visibility is not None:
            vis = np.asarray(poses.visibility, np.float64)
            vis = np.where(np.isfinite(vis), vis, 0.0)
            seen &= vis >= min_visibility
        else:
            vis = seen.astype(np.float64)
        xy = np.where(seen[..., None], xy, np.nan)
        vis = np.where(seen, vis, 0.0)
        self.frames = int(xy.shape[0])
        self.fps = float(poses.fps)
        self.points: dict[str, np.ndarray] = {}
        self.weight: dict[str, np.ndarray] = {}
        for name in SIDED:
            index = [names.index(f"l_{name}"), names.index(f"r_{name}")]
            self.points[name] = xy[:, index]
            self.weight[name] = vis[:, index]
        nose = names.index("nose")
        self.points["nose"] = np.repeat(xy[:, nose:nose + 1], 2, axis=1)
        self.weight["nose"] = np.repeat(vis[:, nose:nose + 1], 2, axis=1)
        self._full: dict[str, float] = {}
        self._torso_all = _percentile(self.segment_length("torso"), 90)

    def point(self, name: str, a: int, b: int) -> np.ndarray:
        """``(b - a + 1, 2, 2)`` the point on frames ``a..b`` (inclusive)."""
        return self.points[name][a:b + 1]

    def side_weight(self, names, a: int, b: int) -> np.ndarray:
        """``(n, 2)`` trust in each side for a measure that needs all of ``names``: the least
        visible of them (0 where one is hidden)."""
        return np.min(np.stack([self.weight[n][a:b + 1] for n in names]), axis=0)

    def segment_length(self, segment: str, a: int = 0, b: int | None = None) -> np.ndarray:
        """``(n,)`` the segment's 2-D length per frame, sides averaged (NaN where hidden)."""
        b = self.frames - 1 if b is None else b
        start, end = SEGMENTS[segment]
        length = np.linalg.norm(self.point(end, a, b) - self.point(start, a, b), axis=-1)
        return combine_sides(length, self.side_weight((start, end), a, b))

    def full_length(self, segment: str) -> float:
        """The segment's full 2-D length: its 95th percentile over the sequence (NaN if never seen)."""
        if segment not in self._full:
            self._full[segment] = _percentile(self.segment_length(segment), 95)
        return self._full[segment]

    def torso_length(self, a: int, b: int) -> float:
        """The torso's length (hip to shoulder) in pixels near frames ``a..b``: the 90th percentile,
        so a torso leaning toward the camera does not shrink the unit; the whole sequence's when
        the torso is not seen there. NaN when it is never seen."""
        local = _percentile(self.segment_length("torso", a, b), 90)
        return local if np.isfinite(local) else self._torso_all

    def hidden_names(self, names, a: int, b: int) -> list[str]:
        """Which of ``names`` are hidden on both sides on at least a quarter of frames ``a..b``."""
        out = []
        for name in dict.fromkeys(names):
            hidden = ~np.isfinite(self.points[name][a:b + 1, :, 0]).any(axis=1)
            if hidden.mean() >= 0.25:
                out.append(WORDS.get(name, name))
        return out


def combine_sides(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``(n, 2)`` per-side values -> ``(n,)``: the weighted mean of the sides seen, NaN where none."""
    w = np.where(np.isfinite(values), weight, 0.0)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.nansum(np.where(w > 0, values, 0.0) * w, axis=1) / total
    return np.where(total > 0, out, np.nan)


def inner_angle(a: np.ndarray, vertex: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Degrees between ``vertex->a`` and ``vertex->c`` (180 = straight), elementwise over ``(..., 2)``."""
    u, v = a - vertex, c - vertex
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    with np.errstate(invalid="ignore"):
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _percentile(values: np.ndarray, q: float) -> float:
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, q)) if finite.size else float("nan")
