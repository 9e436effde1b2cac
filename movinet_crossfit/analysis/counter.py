"""The counting step of an analysis: a loaded RepNet, from its weights (Keras) or its export.

``load_counter`` takes what ``movinet-crossfit count`` takes (a weights folder) or an
``export-counter`` folder (TFLite first, else its SavedModel). ``Counter.from_runner`` wraps a
runner someone else loaded, e.g. the Lambda handler's TFLite file whose shape it reads from
``repnet.json`` without TensorFlow. ``Counter.count_beside`` is what the app and the handler show
next to the pose count: the count, or why there is none (too short, failed).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError


def too_short_message(info: video.VideoInfo, needed: int) -> str:
    fps = video.frame_rate(info)[0] or 30.0
    return (f"too short to count: {info.num_frames} frames ({info.num_frames / fps:.1f} s); the counter "
            f"needs at least {needed} frames ({needed / fps:.1f} s at {fps:g} fps)")


@dataclass
class Counter:
    """A loaded RepNet: ``kind`` is "weights" (Keras) or "export" (a TFLite or SavedModel runner)."""

    source: Path
    kind: str
    num_frames: int
    image_size: int
    model: object = None
    runner: object = None

    @classmethod
    def from_runner(cls, source: str | os.PathLike, runner) -> "Counter":
        """An exported runner (``repnet.export.TFLiteRunner``...): its ``config`` gives the shape."""
        return cls(Path(source), "export", int(runner.config.num_frames), int(runner.config.image_size),
                   runner=runner)

    def count(self, path: str | os.PathLike, info: video.VideoInfo | None = None):
        """``repnet.infer.count_video`` on ``path`` (``info``: its probe, so it is not probed again)."""
        from movinet_crossfit.repnet.infer import count_video

        return count_video(path, model=self.model, runner=self.runner, show_progress=False, info=info)

    def count_beside(self, path: str | os.PathLike, info: video.VideoInfo, name: str) -> tuple[object, str]:
        """RepNet's count shown beside another one (the pose count): ``(CountResult, "")``, or
        ``(None, why)`` when the video is too short or counting fails; messages name ``name``, the
        file as its sender knows it, never the temp ``path``."""
        if info.num_frames < self.num_frames:
            return None, too_short_message(info, self.num_frames)
        try:
            result = self.count(path, info)
        except UserError as exc:
            return None, f"RepNet could not count: {str(exc).replace(str(path), name)}"
        result.source = name
        return result, ""

    def warm_up(self) -> None:
        """One chunk through the model, so the first video does not pay for tracing."""
        self.runner(np.zeros((1, self.num_frames, self.image_size, self.image_size, 3), np.uint8))

    def describe(self) -> dict:
        return {"source": str(self.source), "kind": self.kind, "num_frames": self.num_frames,
                "image_size": self.image_size}


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
        return Counter.from_runner(path, load_runner(path))
    from movinet_crossfit.repnet.infer import keras_runner
    from movinet_crossfit.repnet.model import load_repnet

    model = load_repnet(path, image_size=image_size)
    # One traced runner for the counter's lifetime (count_video would trace a new one per video).
    return Counter(path, "weights", model.config.num_frames, model.config.image_size, model=model,
                   runner=keras_runner(model))
