"""Frame sampling, THE preprocessing function, decoding and probing, and their errors."""
from __future__ import annotations

import functools
import re

import numpy as np
import pytest

from movinet_crossfit.core import clip_sampling, video


@pytest.mark.parametrize("num_frames", [1, 5, 9, 10, 11, 23, 67, 1000])
def test_sample_frame_indices_even_and_in_range(num_frames):
    indices = clip_sampling.sample_frame_indices(num_frames, 10)
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
    indices = clip_sampling.sample_frame_indices(5, 10).tolist()
    assert indices == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_sample_frame_indices_rejects_empty_clip():
    with pytest.raises(ValueError):
        clip_sampling.sample_frame_indices(0, 10)


def test_preprocess_centre_crops_and_resizes():
    # A wide frame: left third red, middle third green, right third blue. The centre crop of a
    # 90x270 frame is the green middle square, so the output must be (almost) pure green.
    frame = np.zeros((90, 270, 3), np.uint8)
    frame[:, :90, 0] = 255
    frame[:, 90:180, 1] = 255
    frame[:, 180:, 2] = 255
    out = np.asarray(clip_sampling.preprocess_frames(frame[None], 32))
    assert out.shape == (1, 32, 32, 3) and out.dtype == np.uint8
    assert out[0, 4:-4, 4:-4, 1].min() == 255
    assert out[0, 4:-4, 4:-4, [0, 2]].max() == 0


def test_preprocess_tall_frame_keeps_middle_rows():
    frame = np.zeros((300, 100, 3), np.uint8)
    frame[100:200] = 200  # the centre square of a tall frame is rows 100..199
    out = np.asarray(clip_sampling.preprocess_frames(frame, 50))
    assert out.shape == (50, 50, 3)
    assert out[2:-2].min() == 200


def test_preprocess_rejects_float_input():
    with pytest.raises(TypeError):
        clip_sampling.preprocess_frames(np.zeros((4, 4, 3), np.float32), 2)


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
    clip = clip_sampling.load_clip(path, num_frames=6, size=48)
    decoded = video.decode_video(path)
    picked = decoded.frames[clip_sampling.sample_frame_indices(decoded.num_frames, 6)]
    expected = np.asarray(clip_sampling.preprocess_frames(picked, 48))
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


# --------------------------------------------------------------------------- sampling while streaming

def _ffmpeg(*args) -> None:
    import subprocess

    subprocess.run([video.ffmpeg_executable(), "-y", "-nostdin", "-loglevel", "error", *map(str, args)],
                   check=True)


def test_sample_video_keeps_exactly_the_frames_decode_video_sampled(cfmove_clips):
    """Real clips: the streamed samples are the very frames (and count, rate) that the old
    decode-everything path picked, for the records' phase and the TTA phases, short clips too."""
    phases = (0.5, 0.0, 1 / 3, 0.9)
    for path in sorted(cfmove_clips.glob("*/*.mp4"))[::8]:
        old = video.decode_video(path)
        for num_samples in (10, 32):
            new = clip_sampling.sample_video(path, num_samples, phases)
            assert (new.num_frames, new.fps, new.passes) == (old.num_frames, old.fps, 1), path.name
            for row, phase in enumerate(phases):
                picked = clip_sampling.sample_frame_indices(old.num_frames, num_samples, phase)
                np.testing.assert_array_equal(new.indices[row], picked)
                np.testing.assert_array_equal(new.frames[row], old.frames[picked], err_msg=path.name)
    clip, decoded = clip_sampling.load_clip_with_fps(path, 8, 32)
    np.testing.assert_array_equal(clip, clip_sampling.sample_clip(old.frames, 8, 32))
    assert decoded.num_frames == old.num_frames and decoded.fps == old.fps


@pytest.mark.parametrize("wrong_by", [-3, 7])
def test_a_wrong_expected_count_costs_a_second_pass_not_wrong_frames(cfmove_clips, wrong_by):
    path = cfmove_clips / "thruster" / "thruster_1.mp4"
    old = video.decode_video(path)
    new = clip_sampling.sample_video(path, 10, expected_frames=old.num_frames + wrong_by)
    assert new.passes == 2 and new.num_frames == old.num_frames
    np.testing.assert_array_equal(new.frames[0], old.frames[clip_sampling.sample_frame_indices(old.num_frames, 10)])


def test_stream_copied_cut_with_an_edit_list_samples_the_decoded_frames(tmp_path):
    """A keyframe cut (``-c copy``) keeps packets that its edit list hides: the probe counts them,
    the decoder does not show them. The samples still come from the frames the video shows."""
    source, cut = tmp_path / "gop.mp4", tmp_path / "cut.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=30", "-frames:v", "100", "-c:v", "libx264",
            "-g", "12", "-bf", "2", "-pix_fmt", "yuv420p", source)
    _ffmpeg("-ss", "0.5", "-i", source, "-c", "copy", "-t", "2", cut)
    old = video.decode_video(cut)
    new = clip_sampling.sample_video(cut, 10)
    assert new.num_frames == old.num_frames
    assert new.passes == (1 if video.probe(cut).num_frames == old.num_frames else 2)
    np.testing.assert_array_equal(new.frames[0], old.frames[clip_sampling.sample_frame_indices(old.num_frames, 10)])


def test_audio_only_file_says_no_video_stream_everywhere(tmp_path):
    audio = tmp_path / "talk.m4a"
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", audio)
    readers = [video.probe, video.decode_video, clip_sampling.load_clip, lambda p: clip_sampling.sample_video(p, 4),
               lambda p: next(video.iter_frames(p)), lambda p: video.read_frames(p, [0])]
    for read in readers:
        with pytest.raises(video.VideoError, match=r"talk.m4a: no video stream \(ff(mpeg|probe)\); is this an audio file"):
            read(audio)


# --------------------------------------------------------------------------- which ffmpeg

@pytest.fixture
def fresh_lookup(monkeypatch):
    video.ffmpeg_executable.cache_clear()
    video.ffprobe_executable.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    video.ffmpeg_executable.cache_clear()
    video.ffprobe_executable.cache_clear()


def test_ffmpeg_build_can_be_pinned(fresh_lookup, tmp_path):
    import imageio_ffmpeg

    fresh_lookup.setenv(video.FFMPEG_ENV, "wheel")
    assert video.ffmpeg_executable() == imageio_ffmpeg.get_ffmpeg_exe()
    assert video.ffprobe_executable() is None  # the wheel ships none, whatever PATH holds
    for value, message in (("system", "no ffmpeg on PATH"), (str(tmp_path / "ffmpeg"), "no executable there")):
        video.ffmpeg_executable.cache_clear()
        fresh_lookup.setenv(video.FFMPEG_ENV, value)
        fresh_lookup.setenv("PATH", str(tmp_path))
        with pytest.raises(video.UserError, match=video.FFMPEG_ENV):
            video.ffmpeg_executable()
        with pytest.raises(video.UserError, match=message):
            video.ffmpeg_executable()


def test_a_rate_of_1000_fps_is_read_as_1000_not_1(tmp_path):
    """ffmpeg prints rates of 1000 and more as "1k fps": the probe and the decoder's report read the k."""
    path = tmp_path / "fast.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=1000", "-frames:v", "50", "-c:v", "libx264",
            "-pix_fmt", "yuv420p", path)
    assert video.probe(path).fps == pytest.approx(1000.0)
    assert video.decode_video(path).fps == pytest.approx(1000.0)
    assert video._stream_rate("Stream #0:0: Video: h264, yuv420p, 64x48, 29.97 fps, 29.97 tbr") == pytest.approx(29.97)


def test_a_time_base_is_not_taken_for_a_frame_rate(tmp_path, monkeypatch):
    """A video that says no fps and only a time base as its tbr ("90k tbr, 90k tbn": an RTSP camera's
    recording; "1k tbr" in Matroska) is timed by its frames over its duration, by analyze and live alike."""
    from movinet_crossfit.core import capture

    line = "Stream #0:0: Video: h264 (Main), yuvj420p(pc), 1920x1080, {} tbr, 90k tbn"
    assert video._stream_rate(line.format("90k")) == 0.0
    assert video._stream_rate(line.format("1k")) == 0.0
    assert video._stream_rate(line.format("25")) == pytest.approx(25.0)  # a tbr that is a rate is still one
    assert video._stream_rate("Stream #0:0: Video: h264, 64x48, 1k fps, 1k tbr, 16k tbn") == pytest.approx(1000.0)

    # ffprobe says the same with avg_frame_rate 0/0 and r_frame_rate 90000/1.
    import ffmpeg

    path = tmp_path / "recording.mkv"
    path.write_bytes(b"not read: ffmpeg.probe is replaced")
    meta = {"streams": [{"width": 1920, "height": 1080, "avg_frame_rate": "0/0", "r_frame_rate": "90000/1",
                         "nb_read_packets": "250", "duration": "10.0", "codec_name": "h264"}]}
    monkeypatch.setattr(ffmpeg, "probe", lambda *args, **kwargs: meta)
    info = video._probe_with_ffprobe(path, "ffprobe")
    assert info.fps == 0.0 and video.frame_rate(info) == (pytest.approx(25.0), "counted")
    meta["streams"][0]["r_frame_rate"] = "24/1"  # a tbr that is a rate
    assert video._probe_with_ffprobe(path, "ffprobe").fps == pytest.approx(24.0)

    assert video.frame_rate(video.VideoInfo("a", 64, 48, 29.97, 300, 10.0, "h264")) == (29.97, "said")
    assert video.frame_rate(video.VideoInfo("a", 64, 48, 0.0, 300, 0.0, "h264")) == (0.0, "none")
    assert video.frame_rate(video.VideoInfo("a", 64, 48, 0.0, 300, 0.1, "h264"))[1] == "none"  # 3000 a second

    monkeypatch.setattr(video, "probe", lambda p: video.VideoInfo(str(p), 64, 48, 0.0, 250, 10.0, "h264"))
    assert capture.open_capture(str(path)).fps == pytest.approx(25.0)  # live on the file, as analyze


# --------------------------------------------------------------------------- pixel formats, codecs, rotation

# name: (encoder, output options, container, what ffmpeg's stream line must show: the clip is that case).
_FORMATS = {
    "yuv420p": ("libx264", ["-pix_fmt", "yuv420p"], ".mp4", r"yuv420p\(progressive"),
    "yuvj420p": ("libx264", ["-pix_fmt", "yuvj420p"], ".mp4", r"yuvj420p\(pc"),
    "pc-range": ("libx264", ["-pix_fmt", "yuv420p", "-color_range", "pc"], ".mp4", r"\(pc[,)]"),
    "bt709": ("libx264", ["-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709",
                          "-color_trc", "bt709"], ".mp4", r"\(tv, bt709"),
    "yuv444p": ("libx264", ["-profile:v", "high444", "-pix_fmt", "yuv444p"], ".mp4", r"yuv444p\("),
    "vp9-webm": ("libvpx-vp9", ["-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"], ".webm",
                 r"Video: vp9"),
    "rotated-90": ("libx264", ["-pix_fmt", "yuv420p"], ".mp4", r"rotation of -?90"),
}


@functools.lru_cache(maxsize=None)
def _encoders(ffmpeg: str) -> set[str]:
    import subprocess

    listing = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return {line.split()[1] for line in listing.splitlines() if line.startswith(" V") and len(line.split()) > 1}


def _rotate_90(source, rotated) -> None:
    """Stream-copy ``source`` with a 90° display rotation: ``-display_rotation`` (ffmpeg >= 7), else the
    ``rotate`` tag older builds turn into a display matrix (5.1 ignores that tag while encoding)."""
    import subprocess

    ffmpeg = [video.ffmpeg_executable(), "-y", "-nostdin", "-loglevel", "error"]
    done = subprocess.run([*ffmpeg, "-display_rotation", "90", "-i", str(source), "-c", "copy", str(rotated)],
                          capture_output=True, text=True)
    if done.returncode:
        _ffmpeg("-i", source, "-c", "copy", "-metadata:s:v", "rotate=90", rotated)


@pytest.fixture(scope="module")
def format_clip(tmp_path_factory):
    """``format_clip(name)``: a 24-frame 64x48 testsrc2 clip in that ``_FORMATS`` case, encoded once
    per module by the ffmpeg the package uses; skips (naming the encoder) where the build lacks it."""
    import subprocess

    folder, made = tmp_path_factory.mktemp("formats"), {}

    def make(name: str):
        if name not in made:
            encoder, options, suffix, shows = _FORMATS[name]
            if encoder not in _encoders(video.ffmpeg_executable()):
                pytest.skip(f"{video.ffmpeg_executable()} has no {encoder} encoder for the {name} clip")
            path = folder / f"{name}{suffix}"
            plain = folder / f"{name}-plain{suffix}" if name.startswith("rotated") else path
            _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=24", "-frames:v", "24", "-c:v", encoder,
                    *(["-preset", "ultrafast"] if encoder == "libx264" else []), *options, plain)
            if plain != path:
                _rotate_90(plain, path)
            banner = subprocess.run([video.ffmpeg_executable(), "-hide_banner", "-i", str(path)],
                                    capture_output=True, text=True).stderr
            assert re.search(shows, banner), f"the {name} clip is not what it should be:\n{banner}"
            made[name] = path
        return made[name]

    return make


@pytest.mark.parametrize("decoder", ["opencv", "ffmpeg"])
@pytest.mark.parametrize("name", list(_FORMATS))
def test_both_sampling_decoders_keep_the_full_decodes_frames_in_each_format(format_clip, name, decoder):
    """Range, matrix, chroma subsampling, codec/container and display rotation are all converted
    alike by OpenCV's FFmpeg and the ffmpeg CLI: the sampled frames are the full decode's, byte for
    byte, in the orientation (and so the shape and square crop) that ``decode_video`` gives."""
    path = format_clip(name)
    whole = video.decode_video(path)
    assert whole.num_frames == 24
    if not name.startswith("rotated"):
        assert whole.frames.shape[1:] == (48, 64, 3)
    phases = (0.5, 0.0, 0.9)
    for square in (False, True):
        got = clip_sampling.sample_video(path, 10, phases, square=square, decoder=decoder)
        assert (got.num_frames, got.fps, got.passes) == (whole.num_frames, whole.fps, 1)
        for row, phase in enumerate(phases):
            picked = whole.frames[clip_sampling.sample_frame_indices(whole.num_frames, 10, phase)]
            expected = clip_sampling.centre_square(picked) if square else picked
            assert got.frames[row].shape == expected.shape, f"{decoder} {name}"
            difference = np.abs(got.frames[row].astype(np.int16) - expected).max()
            assert np.array_equal(got.frames[row], expected), f"{decoder} {name}: off by up to {difference}"
