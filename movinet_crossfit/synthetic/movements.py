"""Each movement as a cyclic joint-angle trajectory, plus where the body is held in space.

A movement is a list of keyframes over one repetition (phase 0..1, the pose at phase 1 being
the pose at 0 unless a keyframe says otherwise); between keyframes every value is eased
(cosine), so each rep starts and ends at rest in its start pose, as a real rep does. Each
keyframe changes only what it names; the rest carries over from the previous one.

Keyframe keys (angles in degrees, see ``figure``): ``trunk``, ``neck`` (head tilt relative
to the trunk), ``ua``/``fa`` (upper arm/forearm), ``th``/``sh``/``ft`` (thigh/shin/foot),
both sides at once or one side with an ``l_``/``r_`` prefix; ``armz`` (hands further apart
than the shoulders, metres); ``lift`` (height of the lowest body point above the floor);
``dx`` with ``xw`` (the x the feet (``xw=0``) or hands (``xw=1``) are planted at; ``dx="hold"``
keeps the planted point where the previous keyframe left it); ``turn`` (heading change).

The anchor says what holds the body: ``feet`` (the floor, at ``dx``), ``wrists`` (a bar or the
floor at ``anchor_point``) or ``pelvis`` (the GHD pad).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from movinet_crossfit.synthetic import figure

_TRACK_KEYS = tuple(figure.ANGLES) + ("armz", "lift", "dx", "xw", "turn")
K = {name: i for i, name in enumerate(_TRACK_KEYS)}

STAND = dict(trunk=180, neck=0, ua=4, fa=8, th=0, sh=0, ft=95, armz=0.0, lift=0.0, dx=0.0, xw=0.0, turn=0.0)


@dataclass(frozen=True)
class Movement:
    name: str
    period: tuple[float, float]  # seconds per rep, at 1x speed
    keyframes: tuple[tuple[float, dict], ...]
    anchor: str = "feet"  # feet | wrists | pelvis
    anchor_point: tuple[float, float] = (0.0, 0.0)
    equipment: tuple[str, ...] = ()  # barbell, pullup, rope, ghd, wall, floor_bar
    bar_in_hands: bool = False
    alternate: bool = False  # every other rep mirrored about x=0 (bar-facing burpee)
    hop: tuple[float, float] | None = None  # analytic jump height range (double-unders)
    ropes_per_rep: int = 0
    plates: tuple[int, int] = (1, 1)  # bumper plates a side: heavy lifts carry more
    yaw: tuple[float, float] | None = None
    entry: dict | None = None  # a pose between standing and the start pose (set-up, kick-up)  # degrees away from a side view, when it must differ
    resolved: np.ndarray = field(init=False, repr=False, compare=False)
    phases: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        phases, rows = _resolve(self)
        object.__setattr__(self, "phases", phases)
        object.__setattr__(self, "resolved", rows)


def _expand(pose: dict) -> np.ndarray:
    row = np.zeros(len(_TRACK_KEYS))
    for key, value in pose.items():
        row[K[key]] = value
    return row


def _apply(previous: dict, changes: dict) -> dict:
    pose = dict(previous)
    for key, value in changes.items():
        if key in ("ua", "fa", "th", "sh", "ft"):
            pose[f"l_{key}"] = pose[f"r_{key}"] = value
        else:
            pose[key] = value
    return pose


def _base_pose() -> dict:
    return _apply({}, STAND)


def track_to_params(track: np.ndarray) -> np.ndarray:
    """Track rows (angles, armz, ...) -> pose rows with the pelvis at the origin, heading 0."""
    params = np.zeros((len(track), len(figure.PARAMS)))
    for name in figure.ANGLES + ("armz",):
        params[:, figure.P[name]] = track[:, K[name]]
    return params


def _planted_x(rel: np.ndarray, xw) -> np.ndarray:
    ankles = rel[:, [figure.J["l_ankle"], figure.J["r_ankle"]], 0].mean(axis=1)
    wrists = rel[:, [figure.J["l_wrist"], figure.J["r_wrist"]], 0].mean(axis=1)
    return (1 - xw) * ankles + xw * wrists


def _resolve(movement: Movement) -> tuple[np.ndarray, np.ndarray]:
    """Keyframes -> (phases, full rows), with every ``dx="hold"`` turned into a number."""
    pose = _base_pose()
    phases, rows = [], []
    pelvis_x = None
    for phase, changes in movement.keyframes:
        pose = _apply(pose, changes)
        hold = pose.get("dx") == "hold"
        row = _expand({k: (0.0 if (k == "dx" and hold) else v) for k, v in pose.items()})
        rel = figure.body_frame(track_to_params(row[None]))
        xw = row[K["xw"]]
        if hold:
            if pelvis_x is None:
                raise ValueError(f"{movement.name}: the first keyframe cannot hold dx")
            previous_rel = figure.body_frame(track_to_params(rows[-1][None]))
            point = pelvis_x + _planted_x(previous_rel, xw)[0]
            row[K["dx"]] = point
            pose["dx"] = point
        pelvis_x = row[K["dx"]] - _planted_x(rel, xw)[0]
        phases.append(phase)
        rows.append(row)
    return np.array(phases, dtype=float), np.array(rows)


def interpolate(movement: Movement, phase: np.ndarray) -> np.ndarray:
    """Track rows ``(T, len(_TRACK_KEYS))`` at phases in ``[0, 1]``, cosine-eased between keyframes."""
    keys_phase = movement.phases
    rows = movement.resolved
    if keys_phase[-1] < 1.0:
        keys_phase = np.append(keys_phase, 1.0)
        rows = np.vstack([rows, rows[:1]])
    return interpolate_rows(keys_phase, rows, phase)


def interpolate_rows(keys_phase: np.ndarray, rows: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Rows at ``phase``, cosine-eased between keyframe ``rows`` at ``keys_phase`` (ending at 1)."""
    phase = np.clip(np.asarray(phase, dtype=float), 0.0, 1.0)
    upper = np.clip(np.searchsorted(keys_phase, phase, side="right"), 1, len(keys_phase) - 1)
    lower = upper - 1
    span = keys_phase[upper] - keys_phase[lower]
    u = np.where(span > 0, (phase - keys_phase[lower]) / np.where(span > 0, span, 1.0), 0.0)
    eased = 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))
    return rows[lower] + (rows[upper] - rows[lower]) * eased[:, None]


def anchor_track(movement: Movement, track: np.ndarray, phase: np.ndarray, hop: float | np.ndarray = 0.0) -> np.ndarray:
    """Pose rows in the movement's own frame (facing +x, floor y=0): pelvis placed by the anchor;
    ``hop``: jump height (metres, one value or one per row) of a movement that jumps."""
    params = track_to_params(track)
    rel = figure.body_frame(params)
    lift = track[:, K["lift"]]
    if movement.hop is not None:
        lift = lift + hop * np.sin(np.pi * np.clip(phase, 0, 1)) ** 0.6
    if movement.anchor == "feet":
        params[:, figure.P["px"]] = track[:, K["dx"]] - _planted_x(rel, track[:, K["xw"]])
        params[:, figure.P["py"]] = lift - figure.lowest_contact(rel)
    elif movement.anchor == "wrists":
        wrists = rel[:, [figure.J["l_wrist"], figure.J["r_wrist"]], :2].mean(axis=1)
        params[:, figure.P["px"]] = movement.anchor_point[0] - wrists[:, 0]
        params[:, figure.P["py"]] = movement.anchor_point[1] - wrists[:, 1]
    elif movement.anchor == "pelvis":
        params[:, figure.P["px"]] = movement.anchor_point[0]
        params[:, figure.P["py"]] = movement.anchor_point[1]
    else:  # pragma: no cover - definitions below
        raise ValueError(f"{movement.name}: unknown anchor {movement.anchor!r}")
    params[:, figure.P["heading"]] = np.radians(track[:, K["turn"]])
    return params


# Angles below were worked out with forward kinematics so that the constraints hold at the
# keyframes: the bar rests on the floor at the start of a deadlift or clean, the chest reaches
# the pull-up bar, the head touches the floor at the bottom of a handstand push-up.
FRONT_RACK = dict(ua=70, fa=210)

MOVEMENTS: dict[str, Movement] = {m.name: m for m in (
    Movement("thruster", (1.6, 2.5), (
        (0.00, dict(trunk=180, armz=0.06, **FRONT_RACK)),
        (0.30, dict(trunk=150, ua=42, fa=182, th=100, sh=-38)),  # front squat, bar stays racked
        (0.40, dict(trunk=160, ua=52, fa=192, th=60, sh=-28)),
        (0.50, dict(trunk=180, ua=100, fa=192, th=0, sh=0)),  # drive flows into the press
        (0.60, dict(trunk=183, ua=174, fa=178)),  # locked out overhead
        (0.72, dict()),
        (0.88, dict(trunk=180, ua=100, fa=205)),
    ), equipment=("barbell",), bar_in_hands=True),
    Movement("chest-to-bar", (1.2, 2.0), (
        (0.00, dict(trunk=180, ua=180, fa=180, ft=150, armz=0.08)),  # dead hang
        (0.18, dict(trunk=176, ua=198, fa=198, th=-18, sh=-40)),  # arch: chest through
        (0.36, dict(trunk=194, ua=163, fa=163, th=38, sh=28)),  # hollow: feet forward
        (0.52, dict(trunk=187, ua=20, fa=177, th=22, sh=10)),  # chest at the bar
        (0.62, dict()),
        (0.80, dict(trunk=182, ua=150, fa=185, th=8, sh=0)),
    ), anchor="wrists", anchor_point=(0.0, 2.35), equipment=("pullup",)),
    Movement("double-unders", (0.8, 1.1), (
        (0.00, dict(trunk=178, ua=14, fa=78, th=12, sh=-9, ft=118, armz=0.16)),
        (0.50, dict(th=4, sh=-2, ft=135)),
    ), equipment=("rope",), hop=(0.11, 0.17), ropes_per_rep=2,
       yaw=(40, 65)),  # a rope reads as a loop from the front, as a stick from the side
    Movement("ghd", (1.5, 2.5), (
        (0.00, dict(trunk=292, neck=-12, ua=322, fa=325, th=86, sh=98, ft=190)),  # below horizontal
        (0.45, dict(trunk=172, neck=0, ua=118, fa=105)),  # sit up
        (0.55, dict(trunk=160, ua=95, fa=92)),  # reach for the feet
    ), anchor="pelvis", anchor_point=(0.0, 1.04), equipment=("ghd",)),
    Movement("power-clean", (1.8, 2.5), (
        (0.00, dict(trunk=125, ua=0, fa=0, th=88, sh=-22, armz=0.05)),  # bar on the floor
        (0.16, dict(trunk=140, th=40, sh=-6)),  # past the knees
        (0.28, dict(trunk=190, th=-4, sh=0, ft=140, ua=8, fa=8, lift=0.03)),  # extension, on toes
        (0.36, dict(trunk=178, th=25, sh=-12, ft=95, ua=85, fa=215, lift=0.05)),  # pull under
        (0.44, dict(trunk=165, th=55, sh=-30, ua=60, fa=202, lift=0.0)),  # quarter-squat catch
        (0.58, dict(trunk=180, th=0, sh=0, **FRONT_RACK)),
        (0.68, dict()),
        (0.78, dict(ua=4, fa=4)),  # down to the hips
        (0.90, dict(trunk=138, th=42, sh=-8, ua=0, fa=0)),
    ), equipment=("barbell",), bar_in_hands=True, plates=(1, 3)),
    Movement("deadlift", (1.4, 2.3), (
        (0.00, dict(trunk=122, ua=0, fa=0, th=85, sh=-20, armz=0.03)),  # bar on the floor
        (0.22, dict(trunk=140, th=40, sh=-6)),
        (0.42, dict(trunk=182, th=0, sh=0, ua=3, fa=3)),  # lockout, arms straight
        (0.55, dict()),
        (0.75, dict(trunk=140, th=38, sh=-6, ua=0, fa=0)),
    ), equipment=("barbell",), bar_in_hands=True, plates=(2, 4)),
    # Inverted by pitching forward from standing: the legs point up at -180 (not +180), so that
    # the kick-up from a forward fold swings them back and over, not through the body.
    Movement("shspu", (1.6, 2.5), (
        (0.00, dict(trunk=0, ua=0, fa=0, th=-184, sh=-182, ft=-178, armz=0.1)),  # locked out, inverted
        (0.12, dict()),
        (0.50, dict(trunk=-5, ua=74, fa=-18, th=-192, sh=-190)),  # head on the floor
        (0.60, dict()),
    ), anchor="wrists", anchor_point=(0.0, 0.02), equipment=("wall",),
       entry=dict(trunk=20, ua=8, fa=4, th=-25, sh=-35, ft=60, armz=0.1)),  # hands down, kick up
    Movement("ohs", (1.6, 2.5), (
        (0.00, dict(trunk=180, ua=178, fa=180, armz=0.3)),
        (0.40, dict(trunk=162, ua=186, fa=186, th=102, sh=-40)),  # deep squat, bar overhead
        (0.52, dict()),
        (0.88, dict(trunk=180, ua=178, fa=180, th=0, sh=0)),
    ), equipment=("barbell",), bar_in_hands=True),
    Movement("bar-facing-burpee", (2.0, 2.5), (
        (0.00, dict(dx=-0.55)),  # standing, facing the bar on the floor
        (0.10, dict(trunk=112, ua=55, fa=35, th=98, sh=-38)),  # squat, hands down
        (0.20, dict(xw=1, dx="hold", trunk=100, ua=2, fa=2, th=-80, sh=-80, ft=15)),  # plank
        (0.30, dict(dx="hold", trunk=92, ua=-125, fa=0, th=-88, sh=-88)),  # chest to the floor
        (0.40, dict(dx="hold", trunk=100, ua=2, fa=2, th=-80, sh=-80)),
        (0.50, dict(dx="hold", trunk=112, ua=55, fa=35, th=98, sh=-38, ft=95)),  # feet jump in
        (0.58, dict(xw=0, dx="hold", trunk=180, ua=4, fa=8, th=0, sh=0)),
        (0.65, dict(trunk=150, ua=-35, fa=-25, th=45, sh=-35)),  # load the jump
        (0.76, dict(dx=0.0, lift=0.5, trunk=168, ua=110, fa=125, th=75, sh=-25)),  # over the bar
        (0.86, dict(dx=0.55, lift=0.0, trunk=150, ua=40, fa=60, th=45, sh=-35)),
        (0.92, dict(trunk=180, ua=4, fa=8, th=0, sh=0)),
        (1.00, dict(turn=180)),  # turn to face the bar again
    ), equipment=("floor_bar",), alternate=True),
)}

IDLE_POSE = _apply({}, STAND)


def entry_params(move: Movement) -> np.ndarray | None:
    """The movement's set-up pose in its own frame: planted where the start pose is planted
    (hands for a wrist-anchored movement, feet otherwise), resting on the floor."""
    if move.entry is None:
        return None
    start = anchor_track(move, move.resolved[:1], np.zeros(1))
    start_rel = figure.body_frame(start)
    pose = _apply(_base_pose(), move.entry)
    row = _expand(pose)
    params = track_to_params(row[None])
    rel = figure.body_frame(params)
    xw = 1.0 if move.anchor == "wrists" else 0.0
    planted = start[0, figure.P["px"]] + _planted_x(start_rel, xw)[0]
    params[:, figure.P["px"]] = planted - _planted_x(rel, xw)
    params[:, figure.P["py"]] = -figure.lowest_contact(rel)
    return params


def movement(name: str) -> Movement:
    try:
        return MOVEMENTS[name]
    except KeyError:
        from movinet_crossfit.core.errors import UserError

        raise UserError(f"no synthetic movement for class {name!r}; "
                        f"the generator draws: {', '.join(MOVEMENTS)}") from None
