"""Faulty repetitions on purpose: which standards a generated rep can break, and how it breaks them.

A fault is named by the id of the movement standard it breaks (the ids of ``judging/standards.yaml``:
``depth``, ``lockout``, ``chest`` ...). It is drawn as a per-rep override of some of the movement's
keyframes (``FAULT_KEYFRAMES``: movement -> fault -> {keyframe phase: changes}), applied to that
rep's frames only; an override carries over to the following keyframes of the rep as any keyframe
change does. The rep keeps its length and its rhythm, so the rep count is unchanged, and the
athlete's jitter (``timeline._jitter``) applies to faulty and clean reps alike.

Phase ``0.0`` and ``1.0`` name the poses a rep starts and ends on, which it shares with the reps
before and after it, so a standard decided there belongs to one side of the rep's turning point:

- chest-to-bar ``extension``: both ends and the kip are bent, so the faulty rep never hangs
  straight; a clean neighbour still does, in its kip. Judge at any frame of the rep.
- GHD ``reach-back`` and power-clean ``start`` change the rep's start only: judge them on the
  frames before the rep's top (the sit-up, the catch). The rep before ends short, as it may.
- SHSPU ``lockout`` changes the rep's end (and the press): judge it on the frames after the
  bottom (head to the floor), as the standard reads. The rep after starts bent, then locks out.

Every other fault changes frames inside its rep only. ``double-unders``' ``airtime`` also lowers
the jump, which is analytic (``Movement.hop``): a rep with that fault jumps only
``AIRTIME_FAULT_HOP`` metres.
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Sequence

import numpy as np

from movinet_crossfit.synthetic.movements import MOVEMENTS, Movement, interpolate_rows

# Angles as in ``movements`` (degrees, 0 down, 90 forward, 180 up). Each override leaves a wide
# margin to its standard on the 2-D truth keypoints (tests/test_faults.py measures it; run it as a
# script for the table): a shallow squat keeps the hip ~0.5 torso lengths above the knee, a bent
# elbow stays at 110-130 degrees, a bent hip at 130-135, a partial range stops ~0.3 torso lengths
# (or 30 degrees) or more short of its target.
_BENT_OVERHEAD = dict(ua=135, fa=205)  # a press that stops with the elbows bent
FAULT_KEYFRAMES: dict[str, dict[str, dict[float, dict]]] = {
    "thruster": {
        "depth": {0.30: dict(trunk=162, th=52, sh=-22), 0.40: dict(th=32, sh=-12)},  # a quarter squat
        "lockout": {0.60: dict(_BENT_OVERHEAD)},
    },
    "ohs": {
        "depth": {0.40: dict(trunk=170, th=52, sh=-22)},
        "lockout": {0.40: dict(_BENT_OVERHEAD), 0.88: dict(ua=150, fa=200)},  # elbows give way in the squat
    },
    "chest-to-bar": {
        "chest": {0.52: dict(ua=125, fa=182)},  # a half pull: the shoulders stay well below the hands
        "extension": {0.00: dict(ua=135, fa=205), 0.18: dict(ua=160, fa=228), 0.36: dict(ua=125, fa=195),
                      0.80: dict(ua=130, fa=200), 1.00: dict(ua=135, fa=205)},  # never hangs straight
    },
    "deadlift": {
        "lockout": {0.42: dict(trunk=145, th=20, sh=-4)},  # stands up with the hips still bent
    },
    "power-clean": {
        "start": {0.00: dict(trunk=150, th=22, sh=-4, ua=0, fa=0)},  # from the hang: hands above the knees
        "rack": {0.36: dict(th=40, sh=-22), 0.58: dict(trunk=165, th=45, sh=-25)},  # the catch never stands up
    },
    "shspu": {
        "depth": {0.50: dict(trunk=-2, ua=38, fa=-8, th=-188, sh=-186)},  # the head stops short of the floor
        "lockout": {0.60: dict(ua=45, fa=-20), 1.00: dict(ua=45, fa=-20)},  # presses, never locks out
    },
    "ghd": {
        # Stops ~30 degrees above horizontal; higher still and the pose counter misses the short rep.
        "reach-back": {0.00: dict(trunk=238, neck=-8, ua=285, fa=290)},
        "reach-forward": {0.45: dict(trunk=196, ua=150, fa=150), 0.55: dict(trunk=192, ua=150, fa=150)},
    },
    "bar-facing-burpee": {
        "chest": {0.30: dict(trunk=100, ua=2, fa=2, th=-80, sh=-80)},  # stays in the plank
        "jump": {0.76: dict(lift=0.0, trunk=172, ua=40, fa=60, l_th=85, l_sh=-5, r_th=-12, r_sh=-14)},  # steps over
    },
    "double-unders": {
        "airtime": {},  # the same bounce, a lower jump: AIRTIME_FAULT_HOP
    },
}
AIRTIME_FAULT_HOP = 0.015  # metres: the rope could not pass twice under such a jump
_HOP_FAULTS = {"double-unders": "airtime"}

FAULTS: dict[str, tuple[str, ...]] = {name: tuple(FAULT_KEYFRAMES[name]) for name in MOVEMENTS
                                      if name in FAULT_KEYFRAMES}


def check_faults(label: str, faults: Sequence[str | None], reps: int) -> tuple[str | None, ...]:
    """``faults`` as a tuple (empty when every rep is clean); ``ValueError`` naming a fault the
    movement cannot make (with those it can) or a length that is not ``reps``."""
    faults = tuple(faults)
    if not faults:
        return ()
    if len(faults) != reps:
        raise ValueError(f"segment {label!r}: {len(faults)} faults for {reps} reps; give one per rep "
                         "(None for a clean rep) or none at all")
    for fault in faults:
        if fault is None:
            continue
        if label not in FAULTS:
            raise ValueError(f"segment {label!r}: the generator makes no faulty reps of {label!r} "
                             f"(fault {fault!r}); movements with faults: {', '.join(FAULTS)}")
        if fault not in FAULTS[label]:
            raise ValueError(f"segment {label!r}: no fault {fault!r}; {label} can make: "
                             f"{', '.join(FAULTS[label])}")
    return faults if any(f is not None for f in faults) else ()


def _with_changes(move: Movement, changes: dict[float, dict]) -> Movement:
    keyframes = tuple((phase, {**pose, **changes.get(phase, {})}) for phase, pose in move.keyframes)
    return replace(move, keyframes=keyframes)


@lru_cache(maxsize=None)
def _fault_rows(label: str, fault: str | None) -> np.ndarray:
    """The movement's resolved keyframe rows with ``fault``'s changes (phase 1.0 left out)."""
    move = MOVEMENTS[label]
    if fault is None or fault not in FAULT_KEYFRAMES.get(label, {}):
        return move.resolved
    return _with_changes(move, FAULT_KEYFRAMES[label][fault]).resolved


@lru_cache(maxsize=None)
def _boundary_row(label: str, ending: str | None, starting: str | None) -> np.ndarray:
    """The pose between a rep with fault ``ending`` and the next one, with fault ``starting``."""
    move = MOVEMENTS[label]
    table = FAULT_KEYFRAMES.get(label, {})
    changes = {**table.get(ending, {}).get(1.0, {}), **table.get(starting, {}).get(0.0, {})}
    if not changes:
        return move.resolved[0]
    first = ((0.0, {**move.keyframes[0][1], **changes}),)
    return replace(move, keyframes=first).resolved[0]


def faulty_track(move: Movement, faults: Sequence[str | None], jitter: np.ndarray, phase: np.ndarray,
                 rep: np.ndarray) -> np.ndarray:
    """Track rows of a segment whose rep ``k`` has fault ``faults[k]``: each rep interpolated
    between its own keyframes (``jitter`` added, as to a clean rep), from the pose it shares with the
    rep before to the one it shares with the rep after."""
    label = move.name
    track = np.zeros((len(phase), len(move.resolved[0])))
    explicit_end = move.phases[-1] >= 1.0
    for k, fault in enumerate(faults):
        rows = _fault_rows(label, fault) + jitter
        rows[0] = _boundary_row(label, faults[k - 1] if k else None, fault) + jitter[0]
        phases = move.phases
        if not explicit_end:
            following = faults[k + 1] if k + 1 < len(faults) else None
            end = _boundary_row(label, fault, following) + jitter[0]
            phases, rows = np.append(phases, 1.0), np.vstack([rows, end[None]])
        mine = rep == k
        track[mine] = interpolate_rows(phases, rows, phase[mine])
    return track


def rep_hops(move: Movement, faults: Sequence[str | None], hop: float, rep: np.ndarray) -> np.ndarray | float:
    """Jump height per frame: ``hop``, or ``AIRTIME_FAULT_HOP`` on the reps with too little airtime."""
    fault = _HOP_FAULTS.get(move.name)
    if fault is None or fault not in faults:
        return hop
    low = np.array([f == fault for f in faults])
    return np.where(low[rep], AIRTIME_FAULT_HOP, hop)


def _validate_tables() -> None:
    for label, table in FAULT_KEYFRAMES.items():
        move = MOVEMENTS[label]
        for fault, changes in table.items():
            unknown = sorted(set(changes) - set(move.phases.tolist()) - {1.0})
            if unknown:
                raise ValueError(f"{label} fault {fault!r}: no keyframe at phases {unknown}")
            if move.phases[-1] >= 1.0 and ({0.0, 1.0} & set(changes)):
                raise ValueError(f"{label} fault {fault!r}: the movement ends on its own pose; "
                                 "change keyframes between its ends only")


_validate_tables()
