"""The analysis drawn on the video: ``write_overlay`` (the video a judge replays) and
``rep_thumbnails`` (each rep's deciding frame, small, for a table).

The overlay shows the athlete's skeleton (the poses, interpolated between the frames they were
taken on), the movement, the reps so far with how many count, and the verdict of the last finished
rep: VALID in green, NO REP with the failed standard in red (and a red flash when the rep ends, as a
judge would call it), or ``?`` with why it could not be told. The skeleton turns the verdict's
colour around a rep's deciding frame. Frames are decoded, drawn and encoded one at a time (memory:
a frame); the file is H.264 in yuv420p with its index first (``+faststart``), which browsers play,
and is written atomically.
"""
from __future__ import annotations

import bisect
import functools
import io
import itertools
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from movinet_crossfit.analysis.footage import FootageAnalysis
from movinet_crossfit.core import video
from movinet_crossfit.judging.verdict import RepVerdict
from movinet_crossfit.pose.sequence import JOINT_NAMES
from movinet_crossfit.synthetic.encode import write_mp4

SKELETON = (("l_shoulder", "r_shoulder"), ("l_hip", "r_hip"), ("l_shoulder", "l_hip"), ("r_shoulder", "r_hip"),
            ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
            ("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"))
GREEN, RED, AMBER, POSE = (40, 210, 90), (235, 35, 35), (245, 185, 30), (60, 220, 255)
SOURCE_WORDS = {"user": "given", "model": "MoViNet", "pose": "from poses"}
FLASH_S = 0.5  # how long a no-rep flashes red after it ends
DECIDING_S = 0.2  # the skeleton shows the verdict's colour this long either side of the deciding frame


def verdict_colour(rep: RepVerdict) -> tuple[int, int, int]:
    return GREEN if rep.valid is True else RED if rep.valid is False else AMBER


def verdict_text(rep: RepVerdict) -> str:
    """``rep 3: VALID`` / ``rep 3: NO REP - depth: ...`` / ``rep 3: ? - why``."""
    word = "VALID" if rep.valid is True else "NO REP" if rep.valid is False else "?"
    return f"rep {rep.index}: {word}" + (f" - {rep.reason}" if rep.reason and rep.valid is not True else "")


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


class _Timeline:
    """What the overlay shows at each video frame, looked up by bisection on the reps' frames."""

    def __init__(self, analysis: FootageAnalysis):
        self.analysis = analysis
        self.reps = sorted(analysis.reps, key=lambda r: r.end_frame)
        self.ends = [r.end_frame for r in self.reps]
        self.flash = max(1, int(round(FLASH_S * analysis.fps)))
        self.near = max(1, int(round(DECIDING_S * analysis.fps)))
        points = analysis.poses.keypoints[..., :2]
        self.points = np.asarray(points, np.float32)
        self.edges = [(JOINT_NAMES[analysis.poses.layout].index(a), JOINT_NAMES[analysis.poses.layout].index(b))
                      for a, b in SKELETON]

    def finished(self, frame: int) -> list[RepVerdict]:
        """The reps ended at or before ``frame``."""
        return self.reps[:bisect.bisect_right(self.ends, frame)]

    def current(self, frame: int) -> RepVerdict | None:
        """The rep in progress at ``frame`` (started, not ended), if any."""
        index = bisect.bisect_right(self.ends, frame)
        if index < len(self.reps) and self.reps[index].start_frame <= frame:
            return self.reps[index]
        return None

    def flashing(self, frame: int) -> bool:
        done = self.finished(frame)
        return bool(done) and done[-1].valid is False and frame - done[-1].end_frame < self.flash

    def skeleton_colour(self, frame: int) -> tuple[int, int, int]:
        for rep in self.reps:
            if abs(frame - rep.frame) <= self.near and rep.valid is not True:
                return verdict_colour(rep)
        return POSE

    def pose(self, frame: int) -> np.ndarray | None:
        """(K, 2) joints at video ``frame``: the pose taken there, else interpolated between the two
        around it (a joint seen in only one of them: that one). None when nobody is there."""
        every, count = self.analysis.every, len(self.points)
        if count == 0:
            return None
        low = min(frame // every, count - 1)
        high = min(low + 1, count - 1)
        t = 0.0 if high == low else (frame - low * every) / every
        a, b = self.points[low], self.points[high]
        mixed = np.where(np.isfinite(a) & np.isfinite(b), (1 - t) * a + t * b, a if t < 0.5 else b)
        mixed = np.where(np.isfinite(mixed), mixed, np.where(np.isfinite(a), a, b))
        return mixed if np.isfinite(mixed).any() else None


def _draw_skeleton(draw, points: np.ndarray | None, edges, colour, width: int, scale: float = 1.0) -> None:
    if points is None:
        return
    xy = points * scale
    for a, b in edges:
        if np.isfinite(xy[[a, b]]).all():
            draw.line([tuple(xy[a]), tuple(xy[b])], fill=colour, width=width)
    radius = max(1.5, width * 0.9)
    for a in sorted({j for edge in edges for j in edge}):
        if np.isfinite(xy[a]).all():
            x, y = xy[a]
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)


def _fit(text: str, font, width: float) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def draw_frame(image: np.ndarray, timeline: _Timeline, frame: int) -> np.ndarray:
    """One video frame with the analysis drawn on it (a new array)."""
    from PIL import Image, ImageDraw

    analysis = timeline.analysis
    height, width = image.shape[:2]
    unit = max(10, height // 30)
    font, big = _font(unit), _font(int(unit * 1.8))
    done = timeline.finished(frame)
    valid = sum(r.valid is True for r in done)
    movement = analysis.movement or "movement unknown"
    source = SOURCE_WORDS.get(analysis.movement_source or "", "")
    lines = [(movement + (f" ({source})" if source else ""), (255, 255, 255)),
             (f"reps {len(done)}   valid {valid}   no rep {sum(r.valid is False for r in done)}", (255, 255, 255))]
    if done:
        lines.append((verdict_text(done[-1]), verdict_colour(done[-1])))
    pad, step = unit // 2, int(unit * 1.35)
    box_w = int(min(width - 2 * pad, max(font.getlength(text) for text, _ in lines) + 2 * pad))
    box_h = pad * 2 + step * len(lines)
    out = np.array(image[..., :3], dtype=np.uint8, copy=True)
    if timeline.flashing(frame):
        out = (out * 0.55 + np.array(RED) * 0.45).astype(np.uint8)
        border = max(4, height // 40)
        out[:border], out[-border:], out[:, :border], out[:, -border:] = RED, RED, RED, RED
    region = out[pad:pad + box_h, pad:pad + box_w]
    region //= 3  # a dark box keeps the text readable on any picture
    picture = Image.fromarray(out)
    draw = ImageDraw.Draw(picture)
    _draw_skeleton(draw, timeline.pose(frame), timeline.edges, timeline.skeleton_colour(frame), max(2, height // 160))
    for k, (text, colour) in enumerate(lines):
        draw.text((2 * pad, 2 * pad + k * step), _fit(text, font, box_w - 2 * pad), fill=colour, font=font)
    current = timeline.current(frame)
    if current is not None:
        label = f"rep {current.index}"
        left = int(width - 3 * pad - big.getlength(label))
        draw.rectangle([left, pad, width - pad, pad + int(big.size * 1.3)], fill=(0, 0, 0))
        draw.text((left + pad, pad), label, fill=(255, 255, 255), font=big)
    return np.asarray(picture)


def write_overlay(video_path: str | os.PathLike, analysis: FootageAnalysis, out_path: str | os.PathLike, *,
                  progress: Callable[[str, float], None] | None = None) -> Path:
    """``video_path`` with ``analysis`` drawn on every frame (see the module doc) -> ``out_path``
    (H.264 mp4, atomic; an odd width or height loses its last pixel column or row, as yuv420p needs).
    Sets ``analysis.overlay`` and returns the path."""
    out_path = Path(out_path)
    timeline = _Timeline(analysis)
    total = max(1, analysis.info.num_frames)
    decoded = video.iter_frames(video_path)
    try:
        # The size is the decoded frames' own: a phone's portrait video is stored landscape with a
        # rotation that ffmpeg applies while decoding, so the stream's size is the wrong way round.
        first = next(decoded, None)
        if first is None:
            raise video.VideoError(f"{video_path}: no frames decoded")
        height, width = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2

        def frames() -> Iterator[np.ndarray]:
            shown = 0.0
            for index, image in enumerate(itertools.chain([first], decoded)):
                drawn = draw_frame(image, timeline, index)
                yield np.ascontiguousarray(drawn[:height, :width])
                if progress and index / total - shown >= 0.01:
                    shown = index / total
                    progress("drawing the overlay", min(1.0, shown))

        write_mp4(out_path, frames(), (width, height), analysis.fps)
    finally:
        # Stops the decoder now, also when the encoder failed or Ctrl-C came: left to the garbage
        # collector, its ffmpeg and reader thread would outlive the error (and abort at exit).
        decoded.close()
    analysis.overlay = out_path
    return out_path


def rep_thumbnails(video_path: str | os.PathLike, analysis: FootageAnalysis, width: int = 160,
                   quality: int = 85) -> dict[int, bytes]:
    """``{rep index: JPEG}`` of each rep's deciding frame, ``width`` pixels wide, with the skeleton
    in the verdict's colour. Only those frames are kept while decoding."""
    from PIL import Image, ImageDraw

    if not analysis.reps:
        return {}
    timeline = _Timeline(analysis)
    images = video.read_frames(video_path, [rep.frame for rep in analysis.reps])
    out = {}
    for rep, image in zip(analysis.reps, images):
        scale = width / image.shape[1]
        picture = Image.fromarray(image).resize((width, max(1, int(round(image.shape[0] * scale)))),
                                                Image.Resampling.BILINEAR)
        _draw_skeleton(ImageDraw.Draw(picture), timeline.pose(rep.frame), timeline.edges, verdict_colour(rep),
                       max(1, width // 100), scale)
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality)
        out[rep.index] = buffer.getvalue()
    return out
