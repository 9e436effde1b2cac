"""Memory of turning a video into model input is bounded by the model input, not by the video.

A 10 s 320x240 video (300 frames) stands in for the issue's 20 s 720p one: what matters is the
ratio. Peak memory is measured with tracemalloc, which sees numpy's buffers and the bytes read from
ffmpeg's pipe (TensorFlow's own allocator is not traced, so the resize is warmed up first and not
counted), and compared with the size of one frame.
"""
from __future__ import annotations

import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from movinet_crossfit.core import clip_sampling, video
from movinet_crossfit.core.numpy_preprocess import load_clip_numpy

WIDTH, HEIGHT, SECONDS, RATE = 320, 240, 10, 30
FRAME_BYTES = WIDTH * HEIGHT * 3
TOTAL_FRAMES = SECONDS * RATE
SAMPLES = 8


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("memory") / "long.mp4"
    subprocess.run([video.ffmpeg_executable(), "-y", "-nostdin", "-loglevel", "error", "-f", "lavfi",
                    "-i", f"testsrc2=s={WIDTH}x{HEIGHT}:r={RATE}", "-t", str(SECONDS), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def peak_frames(load) -> float:
    """Peak traced memory while ``load()`` runs, in frames of the video."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / FRAME_BYTES


def test_the_measure_sees_a_whole_decoded_video(long_video):
    """The control: holding every frame shows up as (at least) every frame, so the bounds below
    would fail for a loader that decoded the whole video (as predict and records did)."""
    assert video.probe(long_video).num_frames == TOTAL_FRAMES
    assert peak_frames(lambda: video.decode_video(long_video)) > TOTAL_FRAMES


def test_model_input_needs_memory_for_its_frames_not_the_video(long_video):
    clip_sampling.load_clip(long_video, SAMPLES, 64)  # trace the resize before measuring
    # The kept samples, one frame in flight and the pipe's buffers; about 1.1 x SAMPLES measured.
    bound = 2 * SAMPLES + 4
    for name, load in [
        ("load_clip (predict, records)", lambda: clip_sampling.load_clip_with_fps(long_video, SAMPLES, 64)),
        ("sample_video, 3 views (evaluate --tta clips)",
         lambda: clip_sampling.sample_video(long_video, SAMPLES, (0.5, 0.1, 0.9))),
        ("load_clip_numpy (Lambda)", lambda: load_clip_numpy(long_video, SAMPLES, 64)),
    ]:
        views = 3 if "3 views" in name else 1
        used = peak_frames(load)
        assert used < views * bound, f"{name}: peak {used:.1f} frames of a {TOTAL_FRAMES}-frame video"


def test_a_wrong_frame_count_costs_time_not_memory(long_video):
    used = peak_frames(lambda: clip_sampling.sample_video(long_video, SAMPLES, expected_frames=TOTAL_FRAMES - 5))
    assert used < 2 * SAMPLES + 4


def test_streamed_and_whole_decoding_pick_the_same_frames(long_video):
    whole = video.decode_video(long_video).frames
    picked = whole[clip_sampling.sample_frame_indices(TOTAL_FRAMES, SAMPLES)]
    np.testing.assert_array_equal(clip_sampling.sample_video(long_video, SAMPLES).frames[0], picked)
