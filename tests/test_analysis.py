"""The shared analysis flow with stub models: mode choice, count messages, names, the JSON form.
(The real models through it: tests/test_app.py and tests/test_serverless.py.)"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from movinet_crossfit.analysis import Counter, NumpyMovement, VideoAnalysis, analyse_video, check_video
from movinet_crossfit.analysis.inputs import NotAVideoError
from movinet_crossfit.analysis.movement import MovementStep
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.video import VideoInfo, VideoError

CLASSES = ["thruster", "burpee", "deadlift"]
HANDLER_FIELDS = ["video", "movement", "probability", "probabilities", "top_k", "frames", "fps", "duration",
                  "width", "height", "model", "backend", "mode", "timeline", "count", "count_message", "timings"]


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


class _FailingCounter(Counter):
    def count(self, path, info=None):
        raise UserError(f"{path}: decoding stopped after 70 frames")


def test_short_videos_are_one_clip_and_long_or_huge_ones_a_timeline(tmp_path):
    path = tmp_path / "0f3a-upload.mp4"
    for frames, size, clip_seconds, expected in ((90, (640, 360), 4.0, "clip"), (150, (640, 360), 4.0, "timeline"),
                                                 (60, (3840, 2160), 4.0, "timeline"), (9000, (640, 360), None, "clip")):
        movement = _Movement()
        info = VideoInfo(str(path), *size, 30.0, frames, frames / 30.0, "h264")
        result = analyse_video(path, info, movement, clip_seconds=clip_seconds)
        assert result.mode == expected and movement.calls == [expected]


def test_a_clip_only_model_is_never_asked_for_a_timeline(tmp_path):
    class Predictor:
        backend, source, classes, num_frames, size = "tflite", tmp_path / "m.tflite", CLASSES, 4, 32

    with pytest.raises(TypeError, match="clip_seconds=None"):
        analyse_video(tmp_path / "v.mp4", _info(tmp_path / "v.mp4", 300), NumpyMovement(Predictor()))


def test_count_messages_and_errors_name_the_sender_not_the_temp_file(tmp_path):
    path = tmp_path / "0f3a-upload.mp4"
    counter = _FailingCounter(Path("repnet"), "export", 64, 32, runner=lambda batch: None)
    stages = []
    failed = analyse_video(path, _info(path, 90), _Movement(), counter, name="my wod.mp4",
                           progress=lambda stage, fraction: stages.append(stage))
    assert failed.count is None
    assert failed.count_message == "could not count: my wod.mp4: decoding stopped after 70 frames"
    assert stages == ["classifying the movement", "counting repetitions"] and "count" in failed.timings
    short = analyse_video(path, _info(path, 23), _Movement(), counter, name="my wod.mp4")
    assert short.count_message == ("too short to count: 23 frames (0.8 s); the counter needs at least 64 frames "
                                   "(2.1 s at 30 fps)")
    bare = analyse_video(path, _info(path, 90), _Movement(), no_counter_message="none here")
    assert bare.count_message == "none here"
    with pytest.raises(VideoError) as caught:
        analyse_video(path, _info(path, 90), _Movement(fail=VideoError(f"{path}: not a readable video")),
                      name="my wod.mp4")
    assert str(caught.value) == "my wod.mp4: not a readable video"


def test_the_json_form(tmp_path):
    path = tmp_path / "clip.mp4"
    result = analyse_video(path, _info(path, 90), _Movement((0.4, 0.2, 0.4)), name="s3://videos/clip.mp4")
    body = json.loads(json.dumps(result.to_dict()))
    assert list(body) == HANDLER_FIELDS
    assert body["movement"] == "thruster" and body["top_k"] == [["thruster", 0.4], ["deadlift", 0.4], ["burpee", 0.2]]
    assert body["video"] == "s3://videos/clip.mp4" and body["model"] == "model_fp32.tflite" and body["frames"] == 90
    assert body["timings"] == {"decode": 0.1, "infer": 0.01} and body["count"] is None
    assert isinstance(result, VideoAnalysis) and result.probability == 0.4


def test_check_video_names_the_sender_and_says_what_to_send(tmp_path):
    notes = tmp_path / "0f3a-upload"
    notes.write_text("21-15-9")
    with pytest.raises(NotAVideoError) as caught:
        check_video(notes, "request body", verb="send")
    message = str(caught.value)
    assert message.startswith("request body: ") and str(notes) not in message
    assert message.endswith("; send a video file (MP4, MOV, WebM, AVI, ...)")
