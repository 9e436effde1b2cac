"""The app's side of an analysis: the models loaded once, and what the page shows beyond the JSON.

``Analyser`` loads BlazePose (the athlete followed as ``person="auto"``), the movement standards,
and optionally a MoViNet export (``--model``) and a RepNet counter (``--counter``), once. Then
``analyse(path)`` runs ``analysis.footage.analyse_footage`` (poses -> reps -> rep-by-rep judging ->
movement), the analysis the Lambda handler runs too, and adds the page's own parts: a thumbnail of
each rep's deciding frame, the overlay video (written into the job's folder), and RepNet's count
when a counter is loaded. Nothing here knows about Dash: a notebook can use it as well.

One thread at a time: the loaded models (TFLite interpreters) are not shared between threads; the
app runs every analysis on its one worker thread. ``analyse(cancel=event)`` stops at the next video
frame (poses) or progress step once the event is set (``AnalysisCancelled``): the app's shutdown.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from movinet_crossfit.analysis import Counter, PredictMovement, ProgressFn, load_counter, user_names
from movinet_crossfit.analysis.footage import (DEFAULT_POSE_FPS, FootageAnalysis, analyse_footage, check_pose_fps,
                                             counted_only)
from movinet_crossfit.analysis.overlay import rep_thumbnails, write_overlay
from movinet_crossfit.core import video

OVERLAY_NAME = "overlay.mp4"  # in the job's folder; the page plays it through /overlay/<job>/overlay.mp4
THUMBNAIL_WIDTH = 160
# Where each step's progress falls on the page's bar (analyse_footage reports its own within the first).
_FOOTAGE, _THUMBNAILS, _OVERLAY, _REPNET = (0.03, 0.60), 0.62, (0.64, 0.95), 0.96

__all__ = ["Analyser", "Analysis", "AnalysisCancelled", "Counter", "DEFAULT_POSE_FPS", "OVERLAY_NAME",
           "load_counter"]


class AnalysisCancelled(Exception):
    """Raised inside ``Analyser.analyse`` once its ``cancel`` event is set."""


class _Cancellable:
    """The pose tracker, checking ``cancel`` before each frame: the poses are most of an analysis,
    and its progress reports come only every 1 % of the frames."""

    def __init__(self, tracker, cancel: threading.Event):
        object.__setattr__(self, "_tracker", tracker)
        object.__setattr__(self, "_cancel", cancel)

    def __call__(self, frame):
        if self._cancel.is_set():
            raise AnalysisCancelled("cancelled")
        return self._tracker(frame)

    def __getattr__(self, name):
        return getattr(self._tracker, name)

    def __setattr__(self, name, value):  # extract_poses sets the tracker's fps
        setattr(self._tracker, name, value)


@dataclass
class Analysis:
    """One uploaded video's result on the page: ``footage`` (the JSON the handler answers too), a
    JPEG of each rep's deciding frame by rep index, the overlay video, and RepNet's count."""

    footage: FootageAnalysis
    thumbnails: dict[int, bytes] = field(default_factory=dict)
    overlay: Path | None = None  # the overlay video in the job's folder, when drawn
    repnet: object = None  # repnet.infer.CountResult (with --counter)
    repnet_message: str = ""  # why there is no RepNet count (too short, failed); "" without a counter
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.footage.name

    @property
    def info(self) -> video.VideoInfo:
        return self.footage.info

    def to_dict(self) -> dict:
        """``footage.to_dict()`` (the handler's body) with ``repnet`` when a counter is loaded."""
        out = self.footage.to_dict()
        out["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        if self.repnet is not None or self.repnet_message:
            out["repnet"] = {"count": None if self.repnet is None else self.repnet.to_dict(per_frame=False),
                             "message": self.repnet_message}
        return out


def _scaled(report: ProgressFn, low: float, high: float) -> ProgressFn:
    return lambda stage, fraction: report(stage, low + (high - low) * min(max(float(fraction), 0.0), 1.0))


class Analyser:
    """Loads the models once; ``analyse`` one video at a time.

    ``model``: a MoViNet export folder (the movement then comes from it, the pose guess beside it);
    ``counter``: RepNet weights or an export-counter folder (its count is shown as well);
    ``standards``: a user's standards YAML (added to the built-in movements); ``pose_models``: the
    BlazePose folder (default: ``pose.model_files.model_dir()``); ``overlay``: draw the overlay video.
    """

    def __init__(self, model: str | os.PathLike | None = None, counter: str | os.PathLike | None = None, *,
                 backend: str = "auto", variant: str = "fp32", standards: str | os.PathLike | None = None,
                 pose_fps: float = DEFAULT_POSE_FPS, pose_models: str | os.PathLike | None = None,
                 overlay: bool = True, counter_image_size: int | None = None, warm_up: bool = True):
        from movinet_crossfit.judging import load_standards
        from movinet_crossfit.pose.extract import make_backend
        from movinet_crossfit.pose.model_files import model_dir

        check_pose_fps(pose_fps)  # a bad --pose-fps, a missing BlazePose file: here, not on an upload
        self.pose_models = model_dir(pose_models)
        self.tracker = make_backend("blazepose", person="auto", model_dir=self.pose_models)
        self.standards = load_standards(standards)
        self.standards_file = Path(standards) if standards else None
        self.pose_fps = pose_fps
        self.overlay = overlay
        self.model = Path(model) if model is not None else None
        self.movement = PredictMovement(model, backend, variant) if model is not None else None
        self.counter = load_counter(counter, image_size=counter_image_size) if counter is not None else None
        if warm_up:
            self.warm_up()

    @property
    def classes(self) -> list[str]:
        """The movements it can name: the model's classes with a model, else the standards'."""
        return self.movement.classes if self.movement is not None else list(self.standards.names())

    def warm_up(self) -> None:
        """One forward pass of each model, so the first upload does not pay for graph tracing."""
        if self.movement is not None:
            self.movement.warm_up()
        if self.counter is not None:
            self.counter.warm_up()

    def describe(self) -> dict:
        return {"poses": f"BlazePose ({self.pose_models}), {self.pose_fps:g} poses/s",
                "standards": list(self.standards.names()),
                "counted": counted_only(self.standards),  # movements counted, not judged
                "standards_file": None if self.standards_file is None else str(self.standards_file),
                "model": None if self.model is None else str(self.model),
                "backend": None if self.movement is None else self.movement.backend,
                "classes": None if self.movement is None else self.movement.classes,
                "counter": None if self.counter is None else self.counter.describe()}

    def analyse(self, path: str | os.PathLike, filename: str | None = None, progress: ProgressFn | None = None,
                info: video.VideoInfo | None = None, overlay_dir: str | os.PathLike | None = None,
                movement: str | None = None, cancel: threading.Event | None = None,
                flip_rest: bool = False) -> Analysis:
        """Analyse the video at ``path`` (errors name ``filename``); ``info``: its probe when the
        caller has it (the upload's content check), else it is probed here, once. The overlay is
        written into ``overlay_dir`` (when given and the overlay is on). ``movement``: the user's
        choice (a standards name or alias), else the model's label or the poses' guess. ``cancel``:
        once set, ``AnalysisCancelled`` at the next frame of the poses or the next progress step.
        ``flip_rest``: the movement's other convention (``analyse_footage``)."""
        path = Path(path)
        filename = filename or path.name
        told = progress or (lambda stage, fraction: None)
        tracker = self.tracker if cancel is None else _Cancellable(self.tracker, cancel)

        def report(stage: str, fraction: float) -> None:
            if cancel is not None and cancel.is_set():
                raise AnalysisCancelled(f"{filename}: cancelled while {stage}")
            told(stage, fraction)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        report("checking the video", 0.02)
        with user_names(path, filename):
            if info is None:
                info = video.probe(path)
                timings["probe"] = time.perf_counter() - started
            footage = analyse_footage(path, info, movement_model=self.movement, movement=movement,
                                      standards=self.standards,
                                      pose_fps=self.pose_fps, tracker=tracker, name=filename,
                                      progress=_scaled(report, *_FOOTAGE), flip_rest=flip_rest)
            timings.update(footage.timings)
            result = Analysis(footage)
            if footage.reps:
                report("cutting a thumbnail of each rep", _THUMBNAILS)
                tick = time.perf_counter()
                result.thumbnails = rep_thumbnails(path, footage, width=THUMBNAIL_WIDTH)
                timings["thumbnails"] = time.perf_counter() - tick
            if overlay_dir is not None and self.overlay:
                report("drawing the overlay video", _OVERLAY[0])
                tick = time.perf_counter()
                result.overlay = write_overlay(path, footage, Path(overlay_dir) / OVERLAY_NAME,
                                               progress=_scaled(report, *_OVERLAY))
                timings["overlay"] = time.perf_counter() - tick
            if self.counter is not None:
                self._count(result, path, info, filename, report, timings)
        timings["total"] = time.perf_counter() - started
        result.timings = timings
        report("done", 1.0)
        return result

    def _count(self, result: Analysis, path: Path, info: video.VideoInfo, filename: str, report: ProgressFn,
               timings: dict[str, float]) -> None:
        """RepNet's count beside the pose count; a failure leaves the rest standing and says why."""
        report("counting with RepNet", _REPNET)
        tick = time.perf_counter()
        result.repnet, result.repnet_message = self.counter.count_beside(path, info, filename)
        timings["repnet"] = time.perf_counter() - tick
