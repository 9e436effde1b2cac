"""What surrounds the figure: equipment, background, lighting, noise, and the rasteriser.

Everything is drawn from *primitives* ``(depth, kind, geometry, size, colour key)`` in metres,
sorted far to near (painter's algorithm); the camera maps metres to pixels once per frame.
A ``Look`` is every random choice about appearance for one video, drawn from its seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from movinet_crossfit.synthetic import figure

PLATE_R = 0.225
BAR_HALF = 1.1
PLATE_Z = 0.78
PLATE_GAP = 0.06
PULLUP_HALF = 1.05
PULLUP_TOP = 2.5
ROPE_REACH_UP = 0.36  # how far above the head the rope clears


# --- appearance ----------------------------------------------------------------------------

_SHIRTS = ((200, 40, 40), (30, 90, 200), (30, 150, 60), (240, 200, 40), (120, 40, 160), (240, 120, 20),
           (20, 20, 20), (235, 235, 235), (0, 160, 170), (200, 60, 130))
_SHORTS = ((25, 25, 30), (40, 50, 110), (90, 90, 95), (160, 30, 30), (20, 80, 40), (210, 210, 215))
_SKINS = ((255, 220, 190), (235, 190, 150), (200, 150, 110), (150, 100, 70), (100, 65, 45))
_PLATES = ((30, 30, 30), (200, 30, 30), (30, 70, 200), (30, 150, 60), (230, 200, 30))
_SHOES = ((240, 240, 240), (20, 20, 20), (220, 60, 40), (40, 110, 220))


def _luma(colour) -> float:
    r, g, b = colour[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _contrasting(colour, against: float, minimum: float = 60.0) -> tuple[int, int, int]:
    """``colour`` pushed toward black or white until its brightness differs from ``against``."""
    c = np.asarray(colour, dtype=float)
    target = np.zeros(3) if against > 127 else np.full(3, 255.0)
    for alpha in np.linspace(0.0, 1.0, 11):
        mixed = c * (1 - alpha) + target * alpha
        if abs(_luma(mixed) - against) >= minimum:
            return tuple(int(v) for v in mixed)
    return tuple(int(v) for v in target)


@dataclass
class Look:
    """Every appearance choice of one video."""

    size: tuple[int, int]  # (width, height)
    yaw: float  # radians, camera rotation about the vertical
    mirror: bool
    thickness: float  # limb thickness, metres
    background: np.ndarray  # (H + 2M, W + 2M, 3) uint8, lit, with the floor
    margin: int  # shake margin M, pixels
    floor_v: float  # picture row of the floor
    palette: dict[str, tuple[int, int, int]]
    noise: list[np.ndarray]  # int16 sensor-noise frames (empty: none)
    shake: np.ndarray | None = None  # (T, 2) int pixel offsets, set once the length is known
    shake_amp: float = 0.0
    scale: np.ndarray | None = None  # (T,) pixels per metre per frame (the camera zooms between segments)
    region: tuple[float, float, float] = (0.0, 0.0, 0.0)  # left, right, top (pixels)

    def to_pixels(self, xy: np.ndarray, frame: int = 0) -> np.ndarray:
        """Metres ``(..., 2)`` -> picture coordinates ``(..., 2)`` (float), shake included."""
        width, _ = self.size
        dx, dy = (self.shake[frame] if self.shake is not None else (0, 0))
        scale = self.scale[frame]
        u = width / 2 + xy[..., 0] * scale + dx
        v = self.floor_v - xy[..., 1] * scale + dy
        if self.mirror:
            u = width - u
        return np.stack([u, v], axis=-1)


def _lit(colour, contrast: float, brightness: float) -> tuple[int, int, int]:
    c = (np.asarray(colour, dtype=float) - 128.0) * contrast + 128.0 + brightness
    return tuple(int(v) for v in np.clip(np.round(c), 0, 255))


def random_look(rng: np.random.Generator, size: tuple[int, int]) -> Look:
    """Draw a video's appearance: background, lighting, colours, viewpoint, noise."""
    width, height = size
    side = min(width, height)
    margin = max(2, int(round(0.012 * side)))
    contrast = float(rng.uniform(0.75, 1.15))
    brightness = float(rng.uniform(-25, 25))
    floor_v = (height + side) / 2 - float(rng.uniform(0.05, 0.12)) * side

    # Walls of a gym: muted colours (a grey with a tint), a vertical gradient, blotches or panels.
    hue_base = np.clip(rng.uniform(60, 205) * (1 + rng.normal(0, 0.14, size=3)), 30, 235)
    top = hue_base * rng.uniform(0.7, 1.15)
    bottom = hue_base * rng.uniform(0.6, 1.05)
    floor_colour = rng.uniform(50, 170, size=3) * np.array([1.0, 0.95, 0.85])
    H, W = height + 2 * margin, width + 2 * margin
    t = np.linspace(0, 1, H)[:, None, None]
    canvas = (top * (1 - t) + bottom * t) * np.ones((1, W, 1))
    texture = rng.integers(0, 3)
    if texture >= 1:  # low-frequency blotches
        cells = rng.normal(0, 1, size=(max(2, H // 24), max(2, W // 24), 1))
        blotches = cv2.resize(cells.astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
        canvas += blotches[..., None] * rng.uniform(3, 10)
    if texture == 2:  # wall panels
        step = int(rng.integers(max(8, W // 8), max(9, W // 4)))
        shade = rng.uniform(-18, 18)
        for x in range(int(rng.integers(0, step)), W, step):
            canvas[:, x:x + max(1, W // 160)] += shade
    for _ in range(int(rng.integers(0, 3))):  # posters, boxes: faint clutter far from the figure
        w, h = rng.integers(W // 16, W // 7), rng.integers(H // 12, H // 5)
        x = int(rng.choice([rng.integers(0, max(1, W // 5)), rng.integers(4 * W // 5, W)]))
        y = int(rng.integers(0, max(1, int(floor_v) - h)))
        canvas[y:y + h, x:x + w] = canvas[y:y + h, x:x + w] * 0.6 + rng.uniform(40, 220, size=3) * 0.4
    floor_row = int(round(floor_v)) + margin
    floor_t = np.linspace(0, 1, H - floor_row)[:, None, None]
    canvas[floor_row:] = floor_colour * (0.85 + 0.3 * floor_t)
    if rng.random() < 0.5:  # floor boards
        for y in range(floor_row + 3, H, int(rng.integers(4, 9))):
            canvas[y] *= 0.93
    lit = np.clip((canvas - 128.0) * contrast + 128.0 + brightness, 0, 255)
    floor_line = _lit(floor_colour * 0.55, contrast, brightness)
    background = lit.astype(np.uint8)
    cv2.line(background, (0, floor_row), (W - 1, floor_row), floor_line, max(1, side // 120), cv2.LINE_AA)

    wall_luma = float(_luma(lit[: floor_row].reshape(-1, 3).mean(axis=0)))
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    shirt = _contrasting(pick(_SHIRTS), wall_luma)
    shorts = _contrasting(pick(_SHORTS), wall_luma, 45)
    skin = _contrasting(pick(_SKINS), wall_luma, 45)
    shoes = pick(_SHOES)
    plate = _contrasting(pick(_PLATES), wall_luma, 60)
    raw = {
        "shirt": shirt, "shorts": shorts, "skin": skin, "shoes": shoes,
        "hair": tuple(int(v) for v in np.asarray(pick(((30, 20, 15), (90, 60, 30), (200, 170, 90), (15, 15, 15))))),
        "bar": _contrasting((185, 185, 195), wall_luma, 40),
        "plate": plate,
        "hub": tuple(int(v) for v in np.clip(np.asarray(plate) * 0.5 + 90, 0, 255)),
        "plate_rim": tuple(int(v) for v in np.asarray(plate) * 0.75),
        "rig": _contrasting(pick(((40, 40, 45), (30, 40, 90), (70, 70, 75))), wall_luma, 55),
        "ghd_frame": _contrasting((45, 45, 50), wall_luma, 50),
        "ghd_pad": _contrasting(pick(((160, 20, 20), (25, 25, 25), (30, 50, 120))), wall_luma, 45),
        "rope": _contrasting(pick(((20, 20, 20), (220, 30, 30), (30, 30, 200))), wall_luma, 70),
        "wall": _contrasting(np.clip(hue_base * rng.uniform(0.5, 1.3) + rng.uniform(-30, 30, 3), 0, 255),
                             wall_luma, 50),
        "mat": _contrasting(pick(((40, 90, 160), (160, 40, 40), (40, 40, 40))), _luma(floor_colour), 35),
    }
    palette = {key: _lit(value, contrast, brightness) for key, value in raw.items()}
    palette["wall_edge"] = tuple(int(v * 0.6) for v in palette["wall"])
    palette["rope_blur"] = tuple(int(0.45 * a + 0.55 * b) for a, b in zip(palette["rope"], _lit(top, contrast, brightness)))
    for key in ("shirt", "shorts", "skin", "shoes"):
        colour = np.asarray(palette[key], dtype=float)
        palette[key + "_far"] = tuple(int(v) for v in colour * 0.72 + 0.28 * wall_luma * 0.5)

    sigma = float(rng.uniform(0.0, 5.0)) if rng.random() < 0.85 else 0.0
    noise = ([np.round(rng.normal(0, sigma, size=(height, width, 3))).astype(np.int16) for _ in range(6)]
             if sigma >= 0.5 else [])
    yaw = float(np.radians(rng.uniform(12, 38)) * rng.choice([-1.0, 1.0]))
    return Look(size=(width, height), yaw=yaw, mirror=bool(rng.random() < 0.5),
                thickness=float(rng.uniform(0.065, 0.095)), background=background, margin=margin,
                floor_v=float(floor_v), palette=palette, noise=noise,
                shake_amp=float(rng.uniform(0.0, 1.0) * margin) if rng.random() < 0.6 else 0.0)


def shake_track(rng: np.random.Generator, frames: int, amplitude: float) -> np.ndarray:
    """Integer pixel offsets ``(frames, 2)``: a smooth random wander within ``amplitude``."""
    if amplitude <= 0 or frames == 0:
        return np.zeros((frames, 2), dtype=int)
    steps = rng.normal(0, 1, size=(frames + 16, 2))
    kernel = np.hanning(9)
    smooth = np.stack([np.convolve(steps[:, i], kernel, mode="same") for i in range(2)], axis=1)[8:8 + frames]
    smooth /= max(np.abs(smooth).max(), 1e-6)
    return np.round(smooth * amplitude).astype(int)


# --- equipment -----------------------------------------------------------------------------

@dataclass
class Equipment:
    """Equipment of one segment, in metres, already turned to the segment's heading ``psi``."""

    kinds: tuple[str, ...]
    psi: float
    offset: float = 0.0  # x shift of the whole segment
    pullup: np.ndarray | None = None  # bar centre
    floor_bar: np.ndarray | None = None  # a barbell lying on the floor (centre)
    ghd: list[tuple[str, np.ndarray, float, str]] = field(default_factory=list)  # (kind, pts, size, colour)
    wall_x: float | None = None
    wall_side: int = 1
    mat: np.ndarray | None = None
    plates: int = 1  # bumper plates a side on the barbell

    def shifted(self, offset: float) -> "Equipment":
        return replace(self, offset=offset)


def _axis(heading: float) -> np.ndarray:
    """World direction of the body's left-right axis (a held bar) for a heading."""
    return np.array([-np.sin(heading), 0.0, np.cos(heading)])


def barbell_primitives(centre: np.ndarray, heading: float, thickness: float, plates: int = 1) -> list[tuple]:
    """A barbell along the body's left-right axis with ``plates`` bumper plates a side."""
    axis = _axis(heading)
    squash = abs(np.cos(heading))
    prims = []
    for sign in (-1.0, 1.0):
        end = centre + sign * BAR_HALF * axis
        prims.append((0.5 * (centre[2] + end[2]), "line", np.stack([centre[:2], end[:2]]),
                      max(0.03, 0.35 * thickness), "bar"))
        faces = [(PLATE_Z + PLATE_GAP * i, PLATE_R, "plate" if i % 2 == 0 else "plate_rim") for i in range(plates + 1)]
        faces.append((PLATE_Z + PLATE_GAP * plates, 0.05, "hub"))
        for order, (offset, radius, colour) in enumerate(faces):
            c = centre + sign * offset * axis
            # Outer faces are drawn last on the near side and first on the far side.
            depth = c[2] + sign * 1e-4 * order
            prims.append((depth, "ellipse", c[:2], (max(radius * squash, 0.025), radius), colour))
    return prims


def rope_primitives(joints: np.ndarray, heading: float, angle: float, thickness: float) -> list[tuple]:
    """A jump rope swung round the body: it leaves the hands and orbits the hips' axis, its middle
    trailing a little, with one faint motion-blurred copy behind it."""
    left, right = joints[figure.J["l_wrist"]], joints[figure.J["r_wrist"]]
    hands = 0.5 * (left + right)
    pelvis = joints[figure.J["pelvis"]]
    towards_body = np.array([pelvis[0] - hands[0], 0.0, pelvis[2] - hands[2]])
    head_top = joints[figure.J["head"], 1] + figure.HEAD_R
    forward = np.array([np.cos(heading), 0.0, np.sin(heading)])
    t = np.linspace(0.0, 1.0, 17)[:, None]
    bulge = np.sin(np.pi * t)
    prims = []
    for blur, (lag, colour) in enumerate(((0.0, "rope"), (0.4, "rope_blur"))):
        a = angle + lag + 0.3 * bulge[:, 0]
        down = np.cos(a) > 0
        reach_y = np.where(down, hands[1] - 0.01, head_top + ROPE_REACH_UP - hands[1])
        radius = 1.0 / np.sqrt((np.sin(a) / 0.7) ** 2 + (np.cos(a) / reach_y) ** 2)
        r = radius * bulge[:, 0]
        pts = ((1 - t) * left + t * right + bulge * towards_body
               + r[:, None] * (np.sin(a)[:, None] * forward + (-np.cos(a))[:, None] * np.array([0, 1.0, 0])))
        width = (0.045 if blur == 0 else 0.06)  # a blurred, fast rope reads wider than it is
        for half in (pts[:9], pts[8:]):
            prims.append((half[:, 2].mean() - 0.01 * blur, "polyline", half[:, :2], width, colour))
    return prims


def equipment_primitives(eq: Equipment, joints: np.ndarray | None, heading: float, bar_mode: int,
                         rope_angle: float, thickness: float) -> list[tuple]:
    """Primitives of a segment's equipment for one frame. ``bar_mode``: 0 none, 1 in hands, 2 resting."""
    shift = np.array([eq.offset, 0.0, 0.0])
    prims: list[tuple] = []
    if "wall" in eq.kinds and eq.wall_x is not None:
        prims.append((-10.0, "wall", eq.wall_x + eq.offset, eq.wall_side, "wall"))
    if eq.mat is not None:
        prims.append((-5.0, "poly", (eq.mat + shift)[:, :2], None, "mat"))
    if eq.pullup is not None:
        centre = eq.pullup + shift
        axis = _axis(eq.psi)
        ends = np.stack([centre - PULLUP_HALF * axis, centre + PULLUP_HALF * axis])
        for end in ends:
            post = np.array([[end[0], 0.0], [end[0], PULLUP_TOP]])
            prims.append((-3.0, "line", post, 0.085, "rig"))
        prims.append((-2.9, "line", ends[:, :2], 0.06, "rig"))
    for kind, pts, size, colour in eq.ghd:
        depth = 0.6 if colour == "ghd_pad" and kind == "circle" else -2.0
        prims.append((depth, kind, pts + shift[:2], size, colour))
    if bar_mode == 1 and joints is not None:
        wrists = 0.5 * (joints[figure.J["l_wrist"]] + joints[figure.J["r_wrist"]])
        prims.extend(barbell_primitives(wrists, heading, thickness, eq.plates))
    elif bar_mode == 2 and eq.floor_bar is not None:
        prims.extend(barbell_primitives(eq.floor_bar + shift, eq.psi, thickness, eq.plates))
    if not np.isnan(rope_angle) and joints is not None:
        prims.extend(rope_primitives(joints, heading, rope_angle, thickness))
    return prims


def primitive_extent(prims: list[tuple]) -> np.ndarray:
    """``[xmin, xmax, ymin, ymax]`` in metres over primitives (walls count by their edge only)."""
    lo = np.array([np.inf, np.inf])
    hi = -lo
    for _, kind, geom, size, _ in prims:
        if kind == "wall":
            lo[0], hi[0] = min(lo[0], geom), max(hi[0], geom)
            continue
        pts = np.atleast_2d(np.asarray(geom, dtype=float))
        if kind in ("line", "polyline"):
            pad = np.array([size / 2, size / 2])
        elif kind == "circle":
            pad = np.array([size, size])
        elif kind == "ellipse":
            pad = np.asarray(size, dtype=float)
        else:
            pad = np.zeros(2)
        lo = np.minimum(lo, pts.min(axis=0) - pad)
        hi = np.maximum(hi, pts.max(axis=0) + pad)
    return np.array([lo[0], hi[0], lo[1], hi[1]])


# --- rasterising ---------------------------------------------------------------------------

_SHIFT = 4
_ONE = 1 << _SHIFT


def draw_frame(look: Look, prims: list[tuple], frame: int) -> np.ndarray:
    """The picture of one frame: background crop (camera shake), primitives far to near, noise."""
    width, height = look.size
    dx, dy = (look.shake[frame] if look.shake is not None else (0, 0))
    m = look.margin
    img = look.background[m - dy:m - dy + height, m - dx:m - dx + width].copy()
    scale = float(look.scale[frame])
    pal = look.palette
    aa = cv2.LINE_AA
    for _, kind, geom, size, colour in sorted(prims, key=lambda p: p[0]):
        col = pal[colour]
        if kind == "wall":
            u = int(round(look.to_pixels(np.array([geom, 0.0]), frame)[0]))
            side = size * (-1 if look.mirror else 1)
            floor = int(round(look.floor_v)) + dy
            if side > 0:
                img[:floor, max(u, 0):] = col
            else:
                img[:floor, :max(u, 0)] = col
            cv2.line(img, (u, 0), (u, floor), pal["wall_edge"], max(1, int(0.02 * scale)), aa)
            continue
        px = np.round(look.to_pixels(np.asarray(geom, dtype=float), frame) * _ONE).astype(np.int32)
        if kind == "line":
            cv2.line(img, tuple(px[0]), tuple(px[1]), col, max(1, int(round(size * scale))), aa, _SHIFT)
        elif kind == "polyline":
            cv2.polylines(img, [px], False, col, max(1, int(round(size * scale))), aa, _SHIFT)
        elif kind == "circle":
            cv2.circle(img, tuple(px), max(1, int(round(size * scale * _ONE))), col, -1, aa, _SHIFT)
        elif kind == "ellipse":
            axes = tuple(max(1, int(round(a * scale * _ONE))) for a in size)
            cv2.ellipse(img, tuple(px), axes, 0, 0, 360, col, -1, aa, _SHIFT)
        elif kind == "poly":
            cv2.fillPoly(img, [px], col, aa, _SHIFT)
    if look.noise:
        img = cv2.add(img, look.noise[frame % len(look.noise)], dtype=cv2.CV_8U)
    return img
