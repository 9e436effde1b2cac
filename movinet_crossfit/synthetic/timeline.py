"""A whole video as one pose per frame: labelled segments joined by unlabelled transitions.

Each segment is a movement repeated ``reps`` times; rep ``k`` lasts ``period * (1 + drift * k /
(reps - 1))`` seconds (fatigue) rounded to whole frames, so rep boundaries are exact frames.
Between segments the athlete lets go, stands, sways, walks to the next station and sets up:
those frames belong to no segment. The camera (scale, where each station stands) is fitted so
that everything a segment draws stays inside the centre square of the picture, which is what
the classifier's preprocessing keeps.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from movinet_crossfit.synthetic import figure, scene
from movinet_crossfit.synthetic.faults import check_faults, faulty_track, rep_hops
from movinet_crossfit.synthetic.movements import (IDLE_POSE, Movement, anchor_track, entry_params, interpolate,
                                                   movement)

NP = len(figure.PARAMS)
_PI = np.pi


@dataclass(frozen=True)
class SegmentSpec:
    """One labelled segment to render: ``reps`` repetitions of ``label``; ``period`` in seconds
    per rep (``None``: drawn from the movement's range, with fatigue drift)."""

    label: str
    reps: int
    period: float | None = None
    faults: tuple[str | None, ...] = ()  # per rep: None (clean) or the id of the standard it breaks

    def __post_init__(self):
        if int(self.reps) < 1:
            raise ValueError(f"segment {self.label!r}: reps must be >= 1, got {self.reps}")
        if self.period is not None and not 0.2 <= float(self.period) <= 10.0:
            raise ValueError(f"segment {self.label!r}: period {self.period} s is outside 0.2-10 s")
        object.__setattr__(self, "faults", check_faults(self.label, self.faults, int(self.reps)))


@dataclass
class SegmentTruth:
    """A segment as rendered: frames ``[start_frame, end_frame)``, ``count`` reps whose
    boundaries are ``rep_frames`` (``count + 1`` frames, first = start, last = end)."""

    label: str
    start_frame: int
    end_frame: int
    count: int
    rep_frames: list[int]
    period: float  # mean seconds per rep
    rep_faults: list[str | None] = field(default_factory=list)  # per rep: None or the standard it breaks

    def __post_init__(self):
        if not self.rep_faults:
            self.rep_faults = [None] * self.count
        if len(self.rep_faults) != self.count:
            raise ValueError(f"segment {self.label!r}: {len(self.rep_faults)} rep faults for {self.count} reps")

    def to_dict(self) -> dict:
        out = {"label": self.label, "start_frame": self.start_frame, "end_frame": self.end_frame,
               "count": self.count, "rep_frames": list(self.rep_frames), "period": round(self.period, 4)}
        if any(f is not None for f in self.rep_faults):
            out["faults"] = list(self.rep_faults)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "SegmentTruth":
        """A segment of ``ground_truth.json`` (``to_dict``'s shape; ``faults`` optional)."""
        return cls(data["label"], int(data["start_frame"]), int(data["end_frame"]), int(data["count"]),
                   [int(f) for f in data["rep_frames"]], float(data["period"]), list(data.get("faults") or []))


@dataclass
class _Segment:
    spec: SegmentSpec
    move: Movement
    params: np.ndarray  # (n + 1, NP): frame n is the pose at phase 1 of the last rep
    rope: np.ndarray  # (n + 1,) rope angle or nan
    rep_lengths: list[int]
    equipment: scene.Equipment
    extent: np.ndarray = field(default_factory=lambda: np.zeros(4))
    offset: float = 0.0
    scale: float = 80.0  # pixels per metre while this segment plays
    entry: np.ndarray | None = None  # (1, NP) set-up pose passed through on the way in and out

    @property
    def frames(self) -> int:
        return int(sum(self.rep_lengths))


def _rep_lengths(spec: SegmentSpec, move: Movement, rng: np.random.Generator, fps: float) -> list[int]:
    if spec.period is not None:
        periods = [float(spec.period)] * spec.reps
    else:
        drift = float(rng.uniform(0.0, 0.25))
        low, high = move.period
        base = float(rng.uniform(low, max(low, high / (1 + drift))))
        periods = [base * (1 + drift * k / max(1, spec.reps - 1)) for k in range(spec.reps)]
    return [max(6, int(round(p * fps))) for p in periods]


def _jitter(move: Movement, rng: np.random.Generator) -> np.ndarray:
    """A nudge to every keyframe angle of ``move``: athletes differ."""
    jitter = rng.normal(0.0, 2.5, size=move.resolved.shape)
    jitter[:, len(figure.ANGLES):] = 0.0
    return jitter


def _jittered(move: Movement, jitter: np.ndarray) -> Movement:
    clone = replace(move)
    object.__setattr__(clone, "resolved", move.resolved + jitter)
    return clone


def _segment(spec: SegmentSpec, rng: np.random.Generator, fps: float, look: scene.Look) -> _Segment:
    move = movement(spec.label)
    lengths = _rep_lengths(spec, move, rng, fps)
    jitter = _jitter(move, rng)
    hop = float(rng.uniform(*move.hop)) if move.hop else 0.0
    phases, reps = [], []
    for k, n in enumerate(lengths):
        phases.append(np.arange(n) / n)
        reps.append(np.full(n, k))
    phases.append(np.array([1.0]))
    reps.append(np.array([len(lengths) - 1]))
    phase = np.concatenate(phases)
    rep = np.concatenate(reps)
    if spec.faults:  # no extra draws from rng: the rest of the video stays as it would be clean
        track = faulty_track(move, spec.faults, jitter, phase, rep)
        hop = rep_hops(move, spec.faults, hop, rep)
    else:
        track = interpolate(_jittered(move, jitter), phase)
    local = anchor_track(move, track, phase, hop)
    if move.alternate:  # odd reps start on the far side of the bar, facing back
        odd = rep % 2 == 1
        local[odd, figure.P["px"]] *= -1
        local[odd, figure.P["heading"]] += _PI
    local_joints = figure.forward_kinematics(local)
    yaw = look.yaw
    if move.yaw is not None:
        yaw = float(np.sign(look.yaw) * np.radians(rng.uniform(*move.yaw)))
    psi = float(rng.choice([0.0, _PI]) + yaw)
    equipment = _equipment(move, local, local_joints, psi)
    equipment.plates = int(rng.integers(move.plates[0], move.plates[1] + 1))
    params = _turned(local, psi)
    entry = entry_params(move)
    rope = np.full(len(phase), np.nan)
    if move.ropes_per_rep:
        # The rope starts overhead and passes under the feet at a quarter and three quarters.
        rope = np.pi - 2 * np.pi * move.ropes_per_rep * phase
    return _Segment(spec, move, params, rope, lengths, equipment,
                    entry=None if entry is None else _turned(entry, psi))


def _turned(local: np.ndarray, psi: float) -> np.ndarray:
    """Pose rows of a movement's own frame turned by ``psi`` about the vertical through its origin."""
    params = local.copy()
    pelvis = np.zeros((len(local), 3))
    pelvis[:, 0] = local[:, figure.P["px"]]
    world = figure.rotate_y(pelvis, psi)
    params[:, figure.P["px"]] = world[:, 0]
    params[:, figure.P["pz"]] = world[:, 2]
    params[:, figure.P["heading"]] += psi
    return params


def _equipment(move: Movement, local: np.ndarray, joints: np.ndarray, psi: float) -> scene.Equipment:
    """Where the segment's equipment stands, from the poses in the movement's own frame."""
    def world(points):
        return figure.rotate_y(np.atleast_2d(np.asarray(points, dtype=float)), psi)

    eq = scene.Equipment(kinds=move.equipment, psi=psi)
    if move.bar_in_hands or "floor_bar" in move.equipment:
        wrists = 0.5 * (joints[0, figure.J["l_wrist"]] + joints[0, figure.J["r_wrist"]])
        if "floor_bar" in move.equipment:
            x = 0.0
        elif wrists[1] < 0.5:  # the lift starts from the floor: rest where it is picked up
            x = wrists[0]
        else:
            x = joints[0, figure.J["r_toe"], 0] + 0.25
        eq.floor_bar = world([x, scene.PLATE_R, 0.0])[0]
    if "pullup" in move.equipment:
        eq.pullup = world([move.anchor_point[0], move.anchor_point[1] + 0.01, 0.0])[0]
    if "wall" in move.equipment:
        back = [figure.J[n] for n in ("pelvis", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel",
                                      "l_toe", "r_toe")]
        wall_local = float(joints[:, back, 0].max()) + 0.045
        eq.wall_x = float(world([wall_local, 0, 0])[0, 0])
        eq.wall_side = 1 if np.cos(psi) > 0 else -1
        low = int(np.argmin(joints[:, figure.J["head"], 1]))
        hx = joints[low, figure.J["head"], 0]
        eq.mat = world([[hx - 0.3, -0.01, 0], [hx + 0.22, -0.01, 0], [hx + 0.22, 0.045, 0], [hx - 0.3, 0.045, 0]])
    if "ghd" in move.equipment:
        ankle = 0.5 * (joints[0, figure.J["l_ankle"]] + joints[0, figure.J["r_ankle"]])
        px, py = move.anchor_point
        pad_top = py - 0.085

        def flat(*xy):
            return world([[x, y, 0.0] for x, y in xy])[:, :2]

        ax, ay = ankle[0], ankle[1]
        eq.ghd = [
            ("line", flat((-0.45, 0.04), (ax + 0.2, 0.04)), 0.07, "ghd_frame"),
            ("line", flat((px + 0.06, 0.04), (px + 0.06, pad_top - 0.1)), 0.07, "ghd_frame"),
            ("line", flat((ax + 0.1, 0.04), (ax + 0.1, ay + 0.02)), 0.06, "ghd_frame"),
            ("line", flat((px + 0.06, pad_top - 0.1), (ax + 0.1, ay - 0.15)), 0.05, "ghd_frame"),
            ("poly", flat((px - 0.16, pad_top - 0.11), (px + 0.32, pad_top - 0.11), (px + 0.32, pad_top),
                          (px - 0.12, pad_top)), None, "ghd_pad"),
            ("circle", flat((ax + 0.03, ay + 0.09))[0], 0.05, "ghd_pad"),
            ("circle", flat((ax - 0.07, ay - 0.08))[0], 0.05, "ghd_pad"),
        ]
    return eq


def frame_primitives(joints: np.ndarray, params_row: np.ndarray, eq: scene.Equipment | None, bar_mode: int,
                     rope_angle: float, thickness: float) -> list[tuple]:
    prims = figure.figure_primitives(joints, thickness)
    if eq is not None:
        prims += scene.equipment_primitives(eq, joints, float(params_row[figure.P["heading"]]), bar_mode,
                                            rope_angle, thickness)
    return prims


def _segment_extent(seg: _Segment, thickness: float) -> np.ndarray:
    joints = figure.forward_kinematics(seg.params)
    bar = 1 if seg.move.bar_in_hands else (2 if "floor_bar" in seg.move.equipment else 0)
    ext = np.array([np.inf, -np.inf, np.inf, -np.inf])
    for t in range(len(seg.params)):
        e = scene.primitive_extent(frame_primitives(joints[t], seg.params[t], seg.equipment, bar,
                                                    seg.rope[t], thickness))
        ext = np.array([min(ext[0], e[0]), max(ext[1], e[1]), min(ext[2], e[2]), max(ext[3], e[3])])
    if seg.entry is not None:  # getting into position (a kick-up) must stay in the picture too
        start = seg.params[0]
        stand = stand_row(float(seg.entry[0, figure.P["px"]]), float(start[figure.P["heading"]]))
        rows = _tween([(0, stand), (8, seg.entry[0]), (16, start)], 17)
        rows[:, figure.P["py"]] += np.maximum(0.0, -figure.lowest_contact(figure.forward_kinematics(rows)))
        for joints in figure.forward_kinematics(rows):
            e = scene.primitive_extent(figure.figure_primitives(joints, thickness))
            ext = np.array([min(ext[0], e[0]), max(ext[1], e[1]), min(ext[2], e[2]), max(ext[3], e[3])])
    if seg.equipment.floor_bar is not None:  # the resting bar is drawn between segments
        e = scene.primitive_extent(scene.barbell_primitives(seg.equipment.floor_bar, seg.equipment.psi, thickness,
                                                            seg.equipment.plates))
        ext = np.array([min(ext[0], e[0]), max(ext[1], e[1]), min(ext[2], e[2]), max(ext[3], e[3])])
    return ext


def stand_row(x: float, heading: float) -> np.ndarray:
    from movinet_crossfit.synthetic.movements import K, track_to_params

    row = np.zeros(len(K))
    for key, value in IDLE_POSE.items():
        row[K[key]] = value
    params = track_to_params(row[None])[0]
    params[figure.P["px"]] = x
    params[figure.P["heading"]] = heading
    params[figure.P["py"]] = -figure.lowest_contact(figure.forward_kinematics(params[None]))[0]
    return params


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + _PI) % (2 * _PI) - _PI


def _tween(keys: list[tuple[int, np.ndarray]], total: int) -> np.ndarray:
    """Rows for frames ``0..total-1`` eased between ``(frame, row)`` keys (headings the short way)."""
    out = np.zeros((total, NP))
    h = figure.P["heading"]
    for (f0, a), (f1, b) in zip(keys[:-1], keys[1:]):
        if f1 <= f0:
            continue
        b = b.copy()
        b[h] = a[h] + _wrap(b[h] - a[h])
        frames = np.arange(f0, min(f1, total))
        u = (frames - f0) / (f1 - f0)
        eased = (0.5 - 0.5 * np.cos(np.pi * u))[:, None]
        out[frames] = a + (b - a) * eased
    last_frame, last = keys[-1]
    if last_frame < total:
        out[last_frame:] = last
    return out


@dataclass
class Timeline:
    params: np.ndarray  # (T, NP) world poses
    ground: np.ndarray  # (T,) 0 posed, 1 stand on the floor, 2 keep above the floor
    segment_of: np.ndarray  # (T,) whose equipment is shown (-1: none)
    bar_mode: np.ndarray  # (T,) 0 none, 1 in hands, 2 resting
    rope: np.ndarray  # (T,) rope angle or nan
    scale: np.ndarray  # (T,) pixels per metre: the camera zooms to each segment
    equipment: list[scene.Equipment]
    truths: list[SegmentTruth]

    @property
    def frames(self) -> int:
        return len(self.params)


class _Builder:
    def __init__(self, look: scene.Look, rng: np.random.Generator, fps: float):
        self.look, self.rng, self.fps = look, rng, fps
        self.x_range = (-1.0, 1.0)
        self.params: list[np.ndarray] = []
        self.scale: list[np.ndarray] = []
        self.ground: list[np.ndarray] = []
        self.segment_of: list[np.ndarray] = []
        self.bar: list[np.ndarray] = []
        self.rope: list[np.ndarray] = []

    @property
    def cursor(self) -> int:
        return int(sum(len(p) for p in self.params))

    def frames(self, seconds_low: float, seconds_high: float) -> int:
        return max(1, int(round(self.rng.uniform(seconds_low, seconds_high) * self.fps)))

    def add(self, params, ground, segment, bar, scale, rope=None):
        n = len(params)
        self.params.append(params)
        self.scale.append(np.broadcast_to(np.asarray(scale, dtype=float), (n,)).copy())
        self.ground.append(np.broadcast_to(np.asarray(ground), (n,)).astype(int))
        self.segment_of.append(np.broadcast_to(np.asarray(segment), (n,)).astype(int))
        self.bar.append(np.broadcast_to(np.asarray(bar), (n,)).astype(int))
        self.rope.append(np.full(n, np.nan) if rope is None else rope)

    def stand_x(self, x: float) -> float:
        low, high = self.x_range
        return float(np.clip(x, low + 0.4, high - 0.4))

    def transition(self, before: _Segment | None, after: _Segment | None, index_before: int, index_after: int):
        """Let go, stand, sway, maybe walk to the next station, set up. ``before``/``after`` may be None."""
        rng, fps = self.rng, self.fps
        scales = [s.scale for s in (before, after) if s is not None]
        self.x_range = _region_metres(self.look, max(scales))  # the tighter framing of the two
        keys: list[tuple[int, np.ndarray]] = []
        ground_spans: list[tuple[int, int, int]] = []
        f = 0
        start_row = before.params[-1] if before is not None else None
        end_row = after.params[0] if after is not None else None
        # Stand where the set-up pose stands, if the movement has one, else under the start pose.
        a_row = before.entry[0] if before is not None and before.entry is not None else start_row
        b_row = after.entry[0] if after is not None and after.entry is not None else end_row
        xa = self.stand_x((a_row if a_row is not None else b_row)[figure.P["px"]])
        xb = self.stand_x((b_row if b_row is not None else a_row)[figure.P["px"]])
        ha = (start_row if start_row is not None else end_row)[figure.P["heading"]]
        hb = (end_row if end_row is not None else start_row)[figure.P["heading"]]
        blend = max(4, int(round(rng.uniform(0.25, 0.4) * fps)))
        if start_row is not None:
            keys.append((0, start_row))
            if before.entry is not None:
                keys.append((blend, before.entry[0]))
                f += blend
            f += blend
            ground_spans.append((0, f, 2))
        stand_a = stand_row(xa, ha)
        keys.append((f, stand_a))
        idle = self.frames(0.1, 0.45)
        ground_spans.append((f, f + idle, 1))
        f += idle
        keys.append((f, stand_a))
        walk = None
        if abs(xb - xa) > 0.15:
            direction = (0.0 if xb > xa else _PI) + self.look.yaw
            turn = max(3, int(round(0.25 * fps)))
            steps = max(4, int(np.ceil(abs(xb - xa) / rng.uniform(1.0, 1.4) * fps)))
            keys.append((f + turn, stand_row(xa, direction)))
            keys.append((f + turn + steps, stand_row(xb, direction)))
            walk = (f + turn, f + turn + steps)
            f += 2 * turn + steps
            keys.append((f, stand_row(xb, hb)))
            ground_spans.append((walk[0] - turn, f, 1))
        idle = self.frames(0.1, 0.45)
        stand_b = stand_row(xb, hb)
        keys.append((f, stand_b))
        ground_spans.append((f, f + idle, 1))
        f += idle
        keys.append((f, stand_b))
        if end_row is not None:
            span = 2 * blend if after.entry is not None else blend
            ground_spans.append((f, f + span, 2))
            if after.entry is not None:
                keys.append((f + blend, after.entry[0]))
            f += span
            keys.append((f, end_row))
        total = f
        rows = _tween(keys, total)
        ground = np.full(total, 2)
        for a, b, mode in ground_spans:
            ground[a:b] = mode
        t = np.arange(total) / fps
        sway = np.sin(2 * _PI * t / rng.uniform(2.5, 4.0) + rng.uniform(0, 2 * _PI))
        standing = ground == 1
        rows[standing, figure.P["trunk"]] += 2.0 * sway[standing]
        rows[standing, figure.P["l_ua"]] += 3.0 * sway[standing]
        rows[standing, figure.P["r_ua"]] += 3.0 * sway[standing]
        if walk is not None:
            self._gait(rows, walk, xa, xb)
        middle = total // 2
        segment = np.where(np.arange(total) < middle, index_before, index_after)
        if before is None:
            segment[:] = index_after
        if after is None:
            segment[:] = index_before
        owners = [before if s == index_before else after for s in segment]
        bar = np.array([2 if (o is not None and o.equipment.floor_bar is not None) else 0 for o in owners])
        s0, s1 = scales[0], scales[-1]
        zoom = 0.5 - 0.5 * np.cos(np.pi * np.arange(total) / max(1, total - 1))
        self.add(rows, ground, segment, bar, s0 + (s1 - s0) * zoom)

    def _gait(self, rows: np.ndarray, span: tuple[int, int], xa: float, xb: float):
        a, b = span
        frames = np.arange(a, b)
        travelled = np.abs(rows[frames, figure.P["px"]] - xa)
        stride = self.rng.uniform(1.1, 1.4)
        theta = 2 * _PI * travelled / stride
        envelope = np.sin(_PI * np.clip((frames - a) / max(1, b - a - 1), 0, 1)) ** 0.5
        swing = np.sin(theta) * envelope
        lift_l = np.maximum(0.0, np.cos(theta)) * envelope
        lift_r = np.maximum(0.0, -np.cos(theta)) * envelope
        P = figure.P
        rows[frames, P["l_th"]] += 24 * swing
        rows[frames, P["r_th"]] -= 24 * swing
        rows[frames, P["l_sh"]] += 24 * swing - 40 * lift_l
        rows[frames, P["r_sh"]] += -24 * swing - 40 * lift_r
        rows[frames, P["l_ua"]] -= 20 * swing
        rows[frames, P["r_ua"]] += 20 * swing
        rows[frames, P["l_fa"]] += -20 * swing + 15 * envelope
        rows[frames, P["r_fa"]] += 20 * swing + 15 * envelope

    def segment(self, seg: _Segment, index: int) -> SegmentTruth:
        start = self.cursor
        n = seg.frames
        bar = 1 if seg.move.bar_in_hands else (2 if "floor_bar" in seg.move.equipment else 0)
        self.add(seg.params[:n], 0, index, bar, seg.scale, seg.rope[:n])
        bounds = [start + int(v) for v in np.concatenate([[0], np.cumsum(seg.rep_lengths)])]
        return SegmentTruth(seg.spec.label, start, start + n, seg.spec.reps, bounds,
                            n / self.fps / seg.spec.reps, list(seg.spec.faults))


def build_timeline(specs: list[SegmentSpec], rng: np.random.Generator, fps: float, look: scene.Look) -> Timeline:
    """Poses for every frame of a video holding ``specs`` in order; fits the camera into ``look``."""
    segments = [_segment(spec, rng, fps, look) for spec in specs]
    for seg in segments:
        seg.extent = _segment_extent(seg, look.thickness)
    _fit_camera(look, segments, rng)
    for seg in segments:
        left_m, right_m = _region_metres(look, seg.scale)
        low, high = left_m - seg.extent[0], right_m - seg.extent[1]
        seg.offset = float(rng.uniform(low, high)) if high > low else 0.5 * (low + high)
        seg.params[:, figure.P["px"]] += seg.offset
        if seg.entry is not None:
            seg.entry[:, figure.P["px"]] += seg.offset
        seg.equipment = seg.equipment.shifted(seg.offset)
    builder = _Builder(look, rng, fps)
    truths = []
    for i, seg in enumerate(segments):
        builder.transition(segments[i - 1] if i else None, seg, i - 1, i)
        truths.append(builder.segment(seg, i))
    builder.transition(segments[-1], None, len(segments) - 1, len(segments))
    params = np.concatenate(builder.params)
    ground = np.concatenate(builder.ground)
    _settle_on_floor(params, ground)
    return Timeline(params, ground, np.concatenate(builder.segment_of), np.concatenate(builder.bar),
                    np.concatenate(builder.rope), np.concatenate(builder.scale), [s.equipment for s in segments],
                    truths)


def _settle_on_floor(params: np.ndarray, ground: np.ndarray) -> None:
    """Standing frames rest on the floor; blending frames are lifted if they would sink into it."""
    moving = ground > 0
    if not moving.any():
        return
    low = figure.lowest_contact(figure.forward_kinematics(params[moving]))
    rows = np.flatnonzero(moving)
    stand = ground[rows] == 1
    delta = np.where(stand, -low, np.maximum(0.0, -low))
    params[rows, figure.P["py"]] += delta


def _region_metres(look: scene.Look, scale: float) -> tuple[float, float]:
    width, _ = look.size
    left, right, _ = look.region
    return (left - width / 2) / scale, (right - width / 2) / scale


def _fit_camera(look: scene.Look, segments: list[_Segment], rng: np.random.Generator) -> None:
    """Zoom for each segment so that all it draws (and a standing athlete) fits the centre square."""
    width, height = look.size
    side = min(width, height)
    pad = 0.03 * side + look.shake_amp
    left, right = (width - side) / 2 + pad, (width + side) / 2 - pad
    top = (height - side) / 2 + pad
    look.region = (left, right, top)
    framing = rng.uniform(0.86, 0.98)  # how tightly this camera operator frames
    for seg in segments:
        tallest = max(seg.extent[3], 2.0)
        widest = max(seg.extent[1] - seg.extent[0], 0.9)
        fit = min((look.floor_v - top) / tallest, (right - left) / widest)
        seg.scale = float(fit * np.clip(framing + rng.normal(0, 0.03), 0.75, 0.99))
