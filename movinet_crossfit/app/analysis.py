"""What the app shows for one video, computed with the CLI's own functions.

``Analyser`` loads the movement model (and optionally a counter) once, then ``analyse(path)`` runs
``predict.predict_video`` on a short clip or ``predict.predict_timeline`` on a long video, and
``counting.count_video`` when a counter is loaded and the video is long enough for it. Nothing
here knows about Dash: the app's worker thread calls it, and so can a notebook.

A short video is one clip, the way the training clips were cut (one or two repetitions), and is
decoded whole as ``predict`` does. Anything longer than ``clip_seconds``, or too big to decode
whole, gets the streamed timeline instead (memory: one window), and its movement is the mean of
the timeline's window probabilities.
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

from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError

log = logging.getLogger("movinet_crossfit.app")

ProgressFn = Callable[[str, float], None]  # (what is happening, fraction done in [0, 1])

DEFAULT_CLIP_SECONDS = 4.0
# A "short" video that would still need more than this to decode whole (4K at 60 fps) is streamed.
MAX_DECODE_BYTES = 768 * 2**20


@dataclass
class Counter:
    """A loaded RepNet: from a weights folder (Keras) or an ``export-counter`` folder (TFLite first)."""

    source: Path
    kind: str  # "weights" or "export"
    num_frames: int
    image_size: int
    model: object = None
    runner: object = None

    def count(self, path: str | os.PathLike):
        from movinet_crossfit.repnet.infer import count_video

        return count_video(path, model=self.model, runner=self.runner, show_progress=False)


def load_counter(path: str | os.PathLike, *, image_size: int | None = None) -> Counter:
    """``path``: a RepNet checkpoint folder (``--weights`` of ``count``) or an ``export-counter``
    folder (``repnet.json`` with ``repnet_*.tflite`` or ``saved_model/``). ``image_size`` applies to
    checkpoints only (default: the one recorded beside it, else 112); exports carry theirs."""
    from movinet_crossfit.repnet.export import SAVED_MODEL_DIR, load_runner

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such counter folder; pass RepNet weights (a folder with checkpoint "
                        "and ckpt-70.*) or an `movinet-crossfit export-counter` folder")
    folder = path.parent if path.suffix == ".tflite" else path
    if path.suffix == ".tflite" or (folder / SAVED_MODEL_DIR).is_dir() or any(folder.glob("repnet_*.tflite")):
        runner = load_runner(path)
        return Counter(path, "export", runner.config.num_frames, runner.config.image_size, runner=runner)
    from movinet_crossfit.repnet.infer import keras_runner
    from movinet_crossfit.repnet.model import load_repnet

    model = load_repnet(path, image_size=image_size)
    # One traced runner for the app's lifetime (count_video would trace a new one per video).
    return Counter(path, "weights", model.config.num_frames, model.config.image_size, model=model,
                   runner=keras_runner(model))


@dataclass
class Analysis:
    """One uploaded video's result. ``probabilities`` are in the model's output order."""

    filename: str
    video: dict
    mode: str  # "clip" (one prediction over the whole video) or "timeline" (sliding windows)
    label: str
    probability: float
    probabilities: dict[str, float]
    backend: str
    prediction: object = None  # predict.Prediction (mode "clip")
    timeline: object = None  # predict.Timeline (mode "timeline")
    count: object = None  # counting.CountResult, when counted
    count_message: str = ""  # why there is no count (no counter, too short, failed)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("prediction", "timeline", "count")}
        out["timeline"] = None if self.timeline is None else [vars(s) for s in self.timeline.segments]
        out["count"] = None if self.count is None else self.count.to_dict(per_frame=False)
        return out


@contextlib.contextmanager
def user_names(path: Path, filename: str) -> Iterator[None]:
    """Errors about the temp file name the file the user uploaded instead."""
    try:
        yield
    except UserError as exc:
        message = str(exc).replace(str(path), filename)
        try:
            renamed = type(exc)(message)
        except TypeError:  # a subclass with another signature: the message is what matters
            renamed = UserError(message)
        raise renamed from exc


def too_short_message(info: video.VideoInfo, needed: int) -> str:
    fps = info.fps or 30.0
    return (f"too short to count: {info.num_frames} frames ({info.num_frames / fps:.1f} s); the counter "
            f"needs at least {needed} frames ({needed / fps:.1f} s at {fps:g} fps)")


class Analyser:
    """Loads the models once; ``analyse`` one video at a time (the loaded models are not shared
    between threads: the app runs every analysis on one worker thread)."""

    def __init__(self, model: str | os.PathLike, counter: str | os.PathLike | None = None, *,
                 backend: str = "auto", variant: str = "fp32", clip_seconds: float = DEFAULT_CLIP_SECONDS,
                 counter_image_size: int | None = None, warm_up: bool = True):
        from movinet_crossfit.movinet.predict import load_predictor

        self.model = Path(model)
        self.backend, self.variant, self.clip_seconds = backend, variant, clip_seconds
        self.predictor = load_predictor(model, backend, variant)
        self.counter = load_counter(counter, image_size=counter_image_size) if counter is not None else None
        if warm_up:
            self.warm_up()

    @property
    def classes(self) -> list[str]:
        return list(self.predictor.classes)

    def warm_up(self) -> None:
        """One forward pass of each model, so the first upload does not pay for graph tracing."""
        p = self.predictor
        p.predict_clip(np.zeros((p.num_frames, p.size, p.size, 3), np.uint8))
        video._compiled_preprocess(p.size)(np.zeros((1, 8, 8, 3), np.uint8))
        if self.counter is not None:
            c = self.counter
            self.counter.runner(np.zeros((1, c.num_frames, c.image_size, c.image_size, 3), np.uint8))

    def describe(self) -> dict:
        return {"model": str(self.model), "backend": self.predictor.backend, "classes": self.classes,
                "counter": None if self.counter is None else
                {"source": str(self.counter.source), "kind": self.counter.kind,
                 "num_frames": self.counter.num_frames, "image_size": self.counter.image_size}}

    def analyse(self, path: str | os.PathLike, filename: str | None = None,
                progress: ProgressFn | None = None, info: video.VideoInfo | None = None) -> Analysis:
        """Classify (clip or timeline) and count the video at ``path``. Errors name ``filename``;
        ``info``: its ``video.probe`` when the caller has it already."""
        from movinet_crossfit.movinet.predict import predict_timeline, predict_video

        path = Path(path)
        filename = filename or path.name
        report = progress or (lambda stage, fraction: None)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        with user_names(path, filename):
            report("checking the video", 0.02)
            if info is None:
                info = video.probe(path)
                timings["probe"] = time.perf_counter() - started
            counting = self.counter is not None and info.num_frames >= self.counter.num_frames
            split = 0.45 if counting else 0.95
            decoded_bytes = info.num_frames * info.width * info.height * 3
            tick = time.perf_counter()
            if info.duration <= self.clip_seconds and decoded_bytes <= MAX_DECODE_BYTES:
                report("classifying the movement", 0.05)
                prediction = predict_video(path, self.model, top_k=len(self.classes), backend=self.backend,
                                           variant=self.variant)
                result = Analysis(filename, info.to_dict(), "clip", prediction.label, prediction.probability,
                                  prediction.probabilities, prediction.backend, prediction=prediction)
                timings["classify"] = time.perf_counter() - tick
            else:
                report("classifying the movement over time", 0.05)
                timeline = predict_timeline(path, self.model, backend=self.backend, variant=self.variant)
                mean = np.mean([w.probabilities for w in timeline.windows], axis=0)
                best = int(np.argmax(mean))
                result = Analysis(filename, info.to_dict(), "timeline", timeline.classes[best], float(mean[best]),
                                  {c: float(p) for c, p in zip(timeline.classes, mean)}, timeline.backend,
                                  timeline=timeline)
                timings["timeline"] = time.perf_counter() - tick
            result.video["path"] = filename
            if self.counter is None:
                result.count_message = "no counter loaded: start the app with --counter WEIGHTS_OR_EXPORT"
            elif not counting:
                result.count_message = too_short_message(info, self.counter.num_frames)
            else:
                report("counting repetitions", split)
                tick = time.perf_counter()
                try:
                    result.count = self.counter.count(path)
                    result.count.source = filename
                except UserError as exc:
                    # The movement is still worth showing when only the count fails.
                    message = str(exc).replace(str(path), filename)
                    log.warning("%s: counting failed: %s", filename, message)
                    result.count_message = f"could not count: {message}"
                timings["count"] = time.perf_counter() - tick
        timings["total"] = time.perf_counter() - started
        result.timings = timings
        report("done", 1.0)
        return result
