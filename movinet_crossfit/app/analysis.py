"""The app's side of an analysis: the models loaded once, and the page's progress stages.

``Analyser`` loads the movement model (``analysis.PredictMovement``: SavedModel or TFLite through
``movinet.predict``) and optionally a counter once, then ``analyse(path)`` runs
``analysis.analyse_video``, the flow the Lambda handler runs too, so a video gets the same result
(``Analysis``, i.e. ``analysis.VideoAnalysis``) and the same JSON either way. What is the app's own:
the progress stages the page shows, the message for a missing counter, the models' warm-up, and
one thread at a time (the app runs every analysis on its one worker thread). Nothing here knows
about Dash: a notebook can use it as well.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from movinet_crossfit.analysis import (DEFAULT_CLIP_SECONDS, Counter, PredictMovement, ProgressFn, VideoAnalysis,
                                       analyse_video, load_counter, user_names)
from movinet_crossfit.core import video

Analysis = VideoAnalysis  # the name the app has always used for one video's result

NO_COUNTER = "no counter loaded: start the app with --counter WEIGHTS_OR_EXPORT"

__all__ = ["Analyser", "Analysis", "Counter", "DEFAULT_CLIP_SECONDS", "load_counter"]


class Analyser:
    """Loads the models once; ``analyse`` one video at a time (the loaded models are not shared
    between threads: the app runs every analysis on one worker thread)."""

    def __init__(self, model: str | os.PathLike, counter: str | os.PathLike | None = None, *,
                 backend: str = "auto", variant: str = "fp32", clip_seconds: float = DEFAULT_CLIP_SECONDS,
                 counter_image_size: int | None = None, warm_up: bool = True):
        self.model = Path(model)
        self.clip_seconds = clip_seconds
        self.movement = PredictMovement(model, backend, variant)
        self.counter = load_counter(counter, image_size=counter_image_size) if counter is not None else None
        if warm_up:
            self.warm_up()

    @property
    def classes(self) -> list[str]:
        return self.movement.classes

    def warm_up(self) -> None:
        """One forward pass of each model, so the first upload does not pay for graph tracing."""
        self.movement.warm_up()
        if self.counter is not None:
            self.counter.warm_up()

    def describe(self) -> dict:
        return {"model": str(self.model), "backend": self.movement.backend, "classes": self.classes,
                "counter": None if self.counter is None else self.counter.describe()}

    def analyse(self, path: str | os.PathLike, filename: str | None = None,
                progress: ProgressFn | None = None, info: video.VideoInfo | None = None) -> Analysis:
        """Classify (clip or timeline) and count the video at ``path``. Errors name ``filename``;
        ``info``: its ``video.probe`` when the caller has it already (the upload's content check),
        else it is probed here, once."""
        path = Path(path)
        filename = filename or path.name
        report = progress or (lambda stage, fraction: None)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        report("checking the video", 0.02)
        if info is None:
            with user_names(path, filename):
                info = video.probe(path)
            timings["probe"] = time.perf_counter() - started
        result = analyse_video(path, info, self.movement, self.counter, name=filename,
                               clip_seconds=self.clip_seconds, no_counter_message=NO_COUNTER, progress=report)
        result.timings = {**timings, **result.timings, "total": time.perf_counter() - started}
        report("done", 1.0)
        return result
