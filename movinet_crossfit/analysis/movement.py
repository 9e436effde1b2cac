"""The movement step of an analysis: a MoViNet export turned into class probabilities for a video.

Two ways to run an export, one interface (``classify_clip``, and ``classify_timeline`` where the
model can stream a long video):

* ``PredictMovement``: ``movinet.predict`` as the CLI runs it (``predict_video`` for a clip,
  ``predict_timeline`` for a long video), with THE preprocessing in TensorFlow ops. SavedModel or
  TFLite; what the app uses.
* ``NumpyMovement``: a ``TFLitePredictor`` fed by ``numpy_preprocess`` (the same picture within one
  grey level), reading only the sampled frames. No TensorFlow anywhere: what the Lambda handler
  uses. It classifies a whole video as one clip; a timeline needs ``PredictMovement``.

Both are handed the video's ``VideoInfo`` and never probe it again.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from movinet_crossfit.core import clip_sampling, video


@dataclass
class MovementStep:
    """What a movement model found: probabilities in ``classes`` order, and where the time went."""

    probabilities: np.ndarray
    timings: dict[str, float]  # decode (decode + preprocess), infer: seconds
    timeline: object = None  # predict.Timeline, when the video was classified over time


class MovementModel(Protocol):
    """What ``analyse_footage`` needs of a movement model. A model that can stream a long video also
    has ``classify_timeline(path, info) -> MovementStep`` (with its ``timeline``)."""

    backend: str
    source: Path
    classes: list[str]

    def classify_clip(self, path: Path, info: video.VideoInfo) -> MovementStep: ...


class _LoadedPredictor:
    """The attributes the analysis reads, from a loaded ``predict.Predictor``."""

    predictor = None

    @property
    def backend(self) -> str:
        return self.predictor.backend

    @property
    def source(self) -> Path:
        return Path(self.predictor.source)

    @property
    def classes(self) -> list[str]:
        return list(self.predictor.classes)

    def warm_up(self) -> None:
        """One forward pass, so the first video does not pay for graph tracing or allocation."""
        p = self.predictor
        p.predict_clip(np.zeros((p.num_frames, p.size, p.size, 3), np.uint8))


class PredictMovement(_LoadedPredictor):
    """An export run through ``movinet.predict`` (TensorFlow preprocessing): clips and timelines."""

    def __init__(self, model: str | os.PathLike, backend: str = "auto", variant: str = "fp32"):
        from movinet_crossfit.movinet.predict import load_predictor

        self.model, self.requested_backend, self.variant = Path(model), backend, variant
        self.predictor = load_predictor(model, backend, variant)

    def classify_clip(self, path: Path, info: video.VideoInfo) -> MovementStep:
        from movinet_crossfit.movinet.predict import predict_video

        # Given the probe, predict_video keeps only the sampled frames while decoding and never probes.
        prediction = predict_video(path, self.model, backend=self.requested_backend, variant=self.variant, info=info)
        return MovementStep(np.array([prediction.probabilities[c] for c in self.classes]),
                            {k: prediction.timings[k] for k in ("decode", "infer")})

    def classify_timeline(self, path: Path, info: video.VideoInfo) -> MovementStep:
        from movinet_crossfit.movinet.predict import predict_timeline

        timeline = predict_timeline(path, self.model, backend=self.requested_backend, variant=self.variant,
                                    info=info)
        # The video's movement: the mean of its windows' probabilities.
        mean = np.mean([w.probabilities for w in timeline.windows], axis=0)
        return MovementStep(mean, {k: timeline.timings[k] for k in ("decode", "infer")}, timeline=timeline)

    def warm_up(self) -> None:
        super().warm_up()
        clip_sampling.compiled_preprocess(self.predictor.size)(np.zeros((1, 8, 8, 3), np.uint8))


class NumpyMovement(_LoadedPredictor):
    """A ``TFLitePredictor`` with numpy preprocessing: one clip per video, no TensorFlow."""

    def __init__(self, predictor):
        self.predictor = predictor

    def classify_clip(self, path: Path, info: video.VideoInfo) -> MovementStep:
        from movinet_crossfit.core.numpy_preprocess import preprocess_frames_numpy

        p = self.predictor
        started = time.perf_counter()
        # The frames predict and records pick (placed by the decoded count, the probe's as a first
        # guess), kept while streaming: only they are ever held.
        frames = clip_sampling.sample_video(path, p.num_frames, expected_frames=info.num_frames).frames[0]
        clip = preprocess_frames_numpy(frames, p.size)
        decoded = time.perf_counter()
        probs = p.predict_clip(clip)
        return MovementStep(np.asarray(probs), {"decode": decoded - started,
                                                "infer": time.perf_counter() - decoded})
