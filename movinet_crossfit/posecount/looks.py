"""How a movement looks in the middle of a rep (``MID_REP``), which tells the pose counter
(``posecount.count``, steps 4 and 5) which of its signal's extremes is a rep's middle and which its
rest: a squat's hips down to the knees, a pull-up's head up to the bar. Written from what each
movement is, not fitted, but for one bit: a pommel horse's circle has no rest, and the side of the
image where it is cut is the one RepCount's annotators take; ``mid_rep_name`` resolves the aliases
(RepCount's spellings and the default classes', ``core.movements.DEFAULT_ALIASES``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movinet_crossfit.core.movements import DEFAULT_ALIASES

__all__ = ["MID_REP", "MID_REP_ALIASES", "MidRep", "mid_rep_name", "mid_rep_of", "mid_rep_signal"]


@dataclass(frozen=True)
class MidRep:
    """How the body looks in the middle of a rep, as joint positions in the counter's normalised
    shape (image y, down): ``low`` is low and ``high`` is high (either may be None). The counter
    takes the side of its signal where ``y(low) - y(high)`` is large as the rep's middle. With
    ``axis="x"`` the same across the image: ``low`` is then to the right of ``high``."""

    low: str | None
    high: str | None
    text: str
    axis: str = "y"

    def __post_init__(self):
        if self.axis not in ("x", "y"):
            raise ValueError(f"MidRep axis {self.axis!r}: 'x' (across the image) or 'y' (up and down)")


_SQUAT = MidRep("hip", "knee", "hips down to the knees")
_PULL = MidRep(None, "nose", "head up to the bar")
_SAT_UP = MidRep("hip", "shoulder", "sat up, the shoulders over the hips")
# Movement -> its mid-rep look. Written from what each movement is (not fitted); the RepCount
# names (squat, push_up, pull_up, jump_jack, front_raise, bench_pressing) are aliases.
MID_REP = {
    "squat": _SQUAT, "air-squat": _SQUAT, "thruster": _SQUAT, "ohs": _SQUAT, "wall-ball": _SQUAT,
    "push-up": MidRep("nose", None, "chest down to the floor"),
    "pull-up": _PULL, "chest-to-bar": _PULL,
    "jumping-jack": MidRep("shoulder", "wrist", "hands over the shoulders"),
    "front-raise": MidRep("shoulder", "wrist", "hands raised to the shoulders"),
    "bench-press": MidRep("wrist", "shoulder", "bar down to the chest"),
    # CrossFit movements whose rep starts where the standards' `turn` puts it (standards.yaml):
    "deadlift": MidRep(None, "wrist", "the bar up at the hips"),  # a rep runs floor to floor
    "power-clean": MidRep(None, "wrist", "the bar up in the front rack"),  # below the knees to there
    "ghd": _SAT_UP,  # lie-back to lie-back
    "bar-facing-burpee": MidRep("nose", None, "chest down to the floor"),  # standing to standing
    "double-unders": MidRep("ankle", "hip", "in the air, the legs straight"),  # landing to landing
    "sit-up": _SAT_UP,  # lying to lying
    # A circle has no rest position: it is cut where the legs pass furthest to one side of the
    # hips, the same place in every window of the live count and in the final count. The side,
    # the image's left, is where RepCount's annotators end the reps (docs/counting.md, step 5).
    "pommel-horse": MidRep("ankle", "hip", "legs swung to the image's right of the hips", axis="x"),
}
MID_REP_ALIASES = {"squats": "squat", "squant": "squat", "air-squats": "squat", "pushups": "push-up",
                   "pushup": "push-up", "push-ups": "push-up", "pullups": "pull-up", "pullup": "pull-up",
                   "pull-ups": "pull-up", "jumpjacks": "jumping-jack", "jump-jack": "jumping-jack",
                   "jumping-jacks": "jumping-jack", "frontraise": "front-raise", "benchpressing": "bench-press",
                   "bench-pressing": "bench-press", "thrusters": "thruster", "deadlifts": "deadlift",
                   "power-cleans": "power-clean", "burpee": "bar-facing-burpee", "burpees": "bar-facing-burpee",
                   "situp": "sit-up", "situps": "sit-up", "sit-ups": "sit-up",
                   "pommelhorse": "pommel-horse", "pommel": "pommel-horse"}
# ... and the default classes' own spellings (core.movements.DEFAULT_ALIASES: c2b, du, ghd-sit-ups, ...)


def mid_rep_name(movement: str | None) -> str | None:
    """The ``MID_REP`` name of a movement (any case; spaces, underscores as hyphens; the aliases),
    None for a movement it does not know."""
    if not movement:
        return None
    name = str(movement).strip().lower().replace("_", "-").replace(" ", "-")
    name = MID_REP_ALIASES.get(name) or DEFAULT_ALIASES.get(name, name)
    return name if name in MID_REP else None


def mid_rep_of(movement: str | None) -> MidRep | None:
    """``MID_REP``'s entry for a movement name (``mid_rep_name``), None for one it does not know."""
    name = mid_rep_name(movement)
    return None if name is None else MID_REP[name]


def mid_rep_signal(features: np.ndarray, names: list[str], mid: MidRep) -> np.ndarray | None:
    """``y(low) - y(high)`` per frame from the counter's features (each joint's x, y), sides
    averaged (``x`` for ``axis="x"``); None when a joint it needs was not seen."""
    along = 0 if mid.axis == "x" else 1

    def coordinate(point):
        cols = [2 * i + along for i, name in enumerate(names) if name in (point, f"l_{point}", f"r_{point}")]
        return features[:, cols].mean(1) if cols else None

    low = coordinate(mid.low) if mid.low else 0.0
    high = coordinate(mid.high) if mid.high else 0.0
    return None if low is None or high is None else low - high
