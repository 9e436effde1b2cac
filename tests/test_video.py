"""Frame sampling, THE preprocessing function, decoding and probing, and their errors."""
from __future__ import annotations

import numpy as np
import pytest

from movinet_crossfit.core import video


@pytest.mark.parametrize("num_frames", [1, 5, 9, 10, 11, 23, 67, 1000])
def test_sample_frame_indices_even_and_in_range(num_frames):
    indices = video.sample_frame_indices(num_frames, 10)
    assert len(indices) == 10
    assert indices.min() >= 0 and indices.max() <= num_frames - 1
    assert np.all(np.diff(indices) >= 0), "samples must keep frame order"
    if num_frames >= 10:
        assert len(set(indices.tolist())) == 10, "no repeats when the clip is long enough"
        # symmetric about the centre: first gap from the start ~ last gap to the end
        assert abs(indices[0] - (num_frames - 1 - indices[-1])) <= 1
        gaps = np.diff(indices)
        assert gaps.max() - gaps.min() <= 1


def test_short_clip_repeats_frames_evenly():
    indices = video.sample_frame_indices(5, 10).tolist()
    assert indices == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_sample_frame_indices_rejects_empty_clip():
    with pytest.raises(ValueError):
        video.sample_frame_indices(0, 10)


def test_preprocess_centre_crops_and_resizes():
    # A wide frame: left third red, middle third green, right third blue. The centre crop of a
    # 90x270 frame is the green middle square, so the output must be (almost) pure green.
    frame = np.zeros((90, 270, 3), np.uint8)
    frame[:, :90, 0] = 255
    frame[:, 90:180, 1] = 255
    frame[:, 180:, 2] = 255
    out = np.asarray(video.preprocess_frames(frame[None], 32))
    assert out.shape == (1, 32, 32, 3) and out.dtype == np.uint8
    assert out[0, 4:-4, 4:-4, 1].min() == 255
    assert out[0, 4:-4, 4:-4, [0, 2]].max() == 0


def test_preprocess_tall_frame_keeps_middle_rows():
    frame = np.zeros((300, 100, 3), np.uint8)
    frame[100:200] = 200  # the centre square of a tall frame is rows 100..199
    out = np.asarray(video.preprocess_frames(frame, 50))
    assert out.shape == (50, 50, 3)
    assert out[2:-2].min() == 200


def test_preprocess_rejects_float_input():
    with pytest.raises(TypeError):
        video.preprocess_frames(np.zeros((4, 4, 3), np.float32), 2)


def test_decode_real_clip_matches_probe(cfmove_clips):
    path = cfmove_clips / "thruster" / "thruster_1.mp4"
    info = video.probe(path)
    decoded = video.decode_video(path)
    assert decoded.num_frames == info.num_frames
    assert decoded.frames.shape[1:] == (info.height, info.width, 3)
    assert decoded.fps == pytest.approx(info.fps, rel=1e-3)
    picked = video.read_frames(path, [7, 2, 7])
    np.testing.assert_array_equal(picked[0], decoded.frames[7])
    np.testing.assert_array_equal(picked[1], decoded.frames[2])


def test_load_clip_uses_sampled_frames(cfmove_clips):
    path = cfmove_clips / "chest-to-bar" / "chest-to-bar_2.mp4"
    clip = video.load_clip(path, num_frames=6, size=48)
    decoded = video.decode_video(path)
    expected = np.asarray(video.preprocess_frames(decoded.frames[video.sample_frame_indices(decoded.num_frames, 6)], 48))
    np.testing.assert_array_equal(clip, expected)


def test_read_frames_past_end_names_file_and_count(cfmove_clips):
    path = cfmove_clips / "thruster" / "thruster_1.mp4"
    count = video.probe(path).num_frames
    with pytest.raises(video.VideoError, match=rf"thruster_1.mp4: frame {count + 5} .* only {count} frames"):
        video.read_frames(path, [count + 5])


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"this is not a video\n" * 10, "not a readable video"),
])
def test_bad_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(video.VideoError, match=message) as error:
        video.probe(path)
    assert str(path) in str(error.value)
    with pytest.raises(video.VideoError, match=message):
        video.decode_video(path)


def test_missing_file(tmp_path):
    with pytest.raises(video.VideoError, match="no such file"):
        video.decode_video(tmp_path / "nope.mp4")


def test_truncated_clip_is_an_error_not_a_crash(tmp_path, cfmove_clips):
    data = (cfmove_clips / "thruster" / "thruster_2.mp4").read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(video.VideoError, match="truncated.mp4"):
        video.decode_video(path)


def test_ffmpeg_is_found():
    import subprocess

    exe = video.ffmpeg_executable()
    out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True)
    assert out.returncode == 0 and "ffmpeg version" in out.stdout
