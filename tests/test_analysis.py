"""The analysis' shared pieces with stub models: clip or timeline, names in errors, the content check.
(The whole analysis: tests/test_analyze.py; the real models through it: tests/test_app.py and
tests/test_serverless.py.)"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from movinet_crossfit.analysis import check_video, user_names
from movinet_crossfit.analysis.counter import too_short_message
from movinet_crossfit.analysis.footage import _classify
from movinet_crossfit.analysis.inputs import NotAVideoError
from movinet_crossfit.analysis.movement import MovementStep
from movinet_crossfit.core.video import VideoInfo, VideoError

CLASSES = ["thruster", "burpee", "deadlift"]


def _info(path: Path, frames: int, fps: float = 30.0) -> VideoInfo:
    return VideoInfo(str(path), 640, 360, fps, frames, frames / fps, "h264")


class _Movement:
    backend, source, classes = "stub", Path("/models/model_fp32.tflite"), CLASSES

    def __init__(self, probs=(0.2, 0.5, 0.3), fail: Exception | None = None):
        self.probs, self.fail, self.calls = np.array(probs), fail, []

    def classify_clip(self, path, info):
        self.calls.append("clip")
        if self.fail:
            raise self.fail
        return MovementStep(self.probs, {"decode": 0.1, "infer": 0.01})

    def classify_timeline(self, path, info):
        self.calls.append("timeline")
        return MovementStep(self.probs, {"decode": 0.2, "infer": 0.02})


def test_short_videos_are_one_clip_and_long_or_huge_ones_a_timeline(tmp_path):
    path = tmp_path / "0f3a-upload.mp4"
    for frames, size, expected in ((90, (640, 360), "clip"), (150, (640, 360), "timeline"),
                                   (60, (3840, 2160), "timeline")):
        movement = _Movement((0.4, 0.2, 0.4))
        info = VideoInfo(str(path), *size, 30.0, frames, frames / 30.0, "h264")
        label, timings = _classify(movement, path, info)
        assert movement.calls == [expected]
        assert label == {"label": "thruster", "probability": 0.4,
                         "top_k": [["thruster", 0.4], ["deadlift", 0.4], ["burpee", 0.2]]}
        assert set(timings) == {"decode", "infer"}


def test_a_clip_only_model_gets_a_long_video_as_one_clip(tmp_path):
    movement = _Movement()
    clip_only = type("ClipOnly", (), {"backend": "stub", "source": movement.source, "classes": CLASSES,
                                         "classify_clip": movement.classify_clip})()
    _classify(clip_only, tmp_path / "v.mp4", _info(tmp_path / "v.mp4", 300))
    assert movement.calls == ["clip"]


def test_errors_name_the_sender_not_the_temp_file(tmp_path):
    path = tmp_path / "0f3a-upload.mp4"
    with pytest.raises(VideoError) as caught:
        with user_names(path, "my wod.mp4"):
            raise VideoError(f"{path}: not a readable video")
    assert str(caught.value) == "my wod.mp4: not a readable video"
    assert too_short_message(_info(path, 23), 64) == ("too short to count: 23 frames (0.8 s); the counter needs at "
                                                      "least 64 frames (2.1 s at 30 fps)")


def test_check_video_names_the_sender_and_says_what_to_send(tmp_path):
    notes = tmp_path / "0f3a-upload"
    notes.write_text("21-15-9")
    with pytest.raises(NotAVideoError) as caught:
        check_video(notes, "request body", verb="send")
    message = str(caught.value)
    assert message.startswith("request body: ") and str(notes) not in message
    assert message.endswith("; send a video file (MP4, MOV, WebM, AVI, ...)")
