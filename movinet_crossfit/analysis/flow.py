"""THE analysis of one video, shared by the app and the Lambda handler: ``analyse_video``.

Given the video, its probe (``VideoInfo``, from the caller's content check: it is never probed
again), a movement model and optionally a counter, it classifies the movement (one clip, or a
timeline of windows for a long video) and counts the repetitions when the video is long enough for
the counter. ``VideoAnalysis.to_dict()`` is the one JSON form: the Lambda handler answers it, the
app shows it.

A short video is one clip, the way the training clips were cut (one or two repetitions). One
longer than ``clip_seconds``, or too big to decode whole (4K at 60 fps), gets the streamed timeline
instead (memory: one window), and its movement is the mean of the windows' probabilities.
``clip_seconds=None`` classifies every video as one clip (sampled over its whole length; the
handler does this, its ``NumpyMovement`` reads only the sampled frames).

Nothing here imports TensorFlow, Dash or the app: whether TensorFlow runs depends only on the
models passed in.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from movinet_crossfit.analysis.counter import Counter
from movinet_crossfit.analysis.movement import MovementModel
from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError

log = logging.getLogger("movinet_crossfit.analysis")

ProgressFn = Callable[[str, float], None]  # (what is happening, fraction done in [0, 1])

DEFAULT_CLIP_SECONDS = 4.0
# A "short" video that would still need more than this to decode whole (4K at 60 fps) is streamed.
MAX_DECODE_BYTES = 768 * 2**20
TOP_K = 5


@dataclass
class VideoAnalysis:
    """One video's result. ``probabilities``: every class, in the model's output order."""

    name: str  # the video as its sender knows it (upload name, s3:// URI), never a temp path
    info: video.VideoInfo
    mode: str  # "clip" (one prediction over the whole video) or "timeline" (sliding windows)
    probabilities: dict[str, float]
    backend: str
    model: str = ""  # the model file or folder name
    timeline: object = None  # predict.Timeline (mode "timeline")
    count: object = None  # repnet.infer.CountResult, when counted
    count_message: str = ""  # why there is no count (no counter, too short, failed)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.top_k(1)[0][0]

    @property
    def probability(self) -> float:
        return self.probabilities[self.label]

    def top_k(self, k: int = TOP_K) -> list[tuple[str, float]]:
        """The ``k`` likeliest classes, likeliest first (ties: the model's order)."""
        names, probs = list(self.probabilities), np.array(list(self.probabilities.values()))
        return [(names[i], float(probs[i])) for i in np.argsort(-probs, kind="stable")[:max(1, k)]]

    def to_dict(self) -> dict:
        """The JSON form (the Lambda handler's response body)."""
        i = self.info
        return {
            "video": self.name, "movement": self.label, "probability": self.probability,
            "probabilities": dict(self.probabilities), "top_k": [[c, p] for c, p in self.top_k()],
            "frames": i.num_frames, "fps": i.fps, "duration": i.duration, "width": i.width, "height": i.height,
            "model": self.model, "backend": self.backend, "mode": self.mode,
            "timeline": None if self.timeline is None else [asdict(s) for s in self.timeline.segments],
            "count": None if self.count is None else self.count.to_dict(per_frame=False),
            "count_message": self.count_message, "timings": dict(self.timings)}


@contextlib.contextmanager
def user_names(path: Path, name: str) -> Iterator[None]:
    """Errors about the temp file ``path`` name the file the user sent (``name``) instead."""
    try:
        yield
    except UserError as exc:
        message = str(exc).replace(str(path), name)
        try:
            renamed = type(exc)(message)
        except TypeError:  # a subclass with another signature: the message is what matters
            renamed = UserError(message)
        raise renamed from exc


def too_short_message(info: video.VideoInfo, needed: int) -> str:
    fps = info.fps or 30.0
    return (f"too short to count: {info.num_frames} frames ({info.num_frames / fps:.1f} s); the counter "
            f"needs at least {needed} frames ({needed / fps:.1f} s at {fps:g} fps)")


def needs_timeline(info: video.VideoInfo, clip_seconds: float | None) -> bool:
    """Longer than ``clip_seconds`` (``None``: never), or too big to decode whole."""
    if clip_seconds is None:
        return False
    return info.duration > clip_seconds or info.num_frames * info.width * info.height * 3 > MAX_DECODE_BYTES


def analyse_video(path: str | os.PathLike, info: video.VideoInfo, movement: MovementModel,
                  counter: Counter | None = None, *, name: str = "",
                  clip_seconds: float | None = DEFAULT_CLIP_SECONDS,
                  no_counter_message: str = "no counter configured",
                  progress: ProgressFn | None = None) -> VideoAnalysis:
    """Classify (clip or timeline) and count the video at ``path``, whose probe is ``info``.

    Errors and results name ``name`` (default: the file name), never ``path``. A failed count
    leaves the movement standing and says why in ``count_message``. ``timings``: decode and infer
    (the movement), count; the caller adds its own steps (check, download) and the total.
    """
    path = Path(path)
    name = name or path.name
    report = progress or (lambda stage, fraction: None)
    counting = counter is not None and info.num_frames >= counter.num_frames
    timeline = needs_timeline(info, clip_seconds)
    if timeline and not hasattr(movement, "classify_timeline"):
        raise TypeError(f"{type(movement).__name__} classifies whole clips only: pass clip_seconds=None")
    with user_names(path, name):
        if timeline:
            report("classifying the movement over time", 0.05)
            step = movement.classify_timeline(path, info)
        else:
            report("classifying the movement", 0.05)
            step = movement.classify_clip(path, info)
        result = VideoAnalysis(name, info, "timeline" if timeline else "clip",
                               {c: float(p) for c, p in zip(movement.classes, step.probabilities)},
                               movement.backend, movement.source.name, timeline=step.timeline,
                               timings=dict(step.timings))
        if counter is None:
            result.count_message = no_counter_message
        elif not counting:
            result.count_message = too_short_message(info, counter.num_frames)
        else:
            report("counting repetitions", 0.45)
            tick = time.perf_counter()
            try:
                result.count = counter.count(path, info)
                result.count.source = name
            except UserError as exc:
                # The movement is still worth showing when only the count fails.
                message = str(exc).replace(str(path), name)
                log.warning("%s: counting failed: %s", name, message)
                result.count_message = f"could not count: {message}"
            result.timings["count"] = time.perf_counter() - tick
    return result
