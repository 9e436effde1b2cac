"""Predict with the tiny export (tests/conftest.py ``tiny_export``) on real cfmove clips."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import movinet_crossfit  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf  # noqa: E402

from conftest import TINY_CLASSES, TINY_FRAMES, TINY_SIZE  # noqa: E402
from movinet_crossfit.core import clip_sampling, video
from movinet_crossfit.core.tflite import make_interpreter  # noqa: E402
from movinet_crossfit.movinet import export, predict  # noqa: E402
from movinet_crossfit.core.errors import UserError  # noqa: E402


@pytest.fixture(scope="module")
def clip(cfmove_clips) -> Path:
    return sorted(cfmove_clips.glob("thruster/*.mp4"))[0]


@pytest.fixture(scope="module")
def long_video(cfmove_clips, tmp_path_factory) -> Path:
    """Six real clips (three per movement) joined into one video of about five seconds."""
    folder = tmp_path_factory.mktemp("long")
    parts = sorted(cfmove_clips.glob("chest-to-bar/*.mp4"))[:3] + sorted(cfmove_clips.glob("thruster/*.mp4"))[:3]
    listing = folder / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    out = folder / "workout.mp4"
    subprocess.run([video.ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-f", "concat",
                    "-safe", "0", "-i", str(listing), "-c", "copy", str(out)], check=True)
    return out


def test_saved_model_and_tflite_agree_on_a_real_clip(tiny_export, clip):
    out, _ = tiny_export
    by_sm = predict.predict_video(clip, out, backend="saved_model", top_k=2)
    by_tfl = predict.predict_video(clip, out, backend="tflite")
    assert (by_sm.backend, by_tfl.backend) == ("saved_model", "tflite")
    assert by_tfl.model.endswith("model_fp32.tflite")
    assert by_sm.label == by_tfl.label
    assert list(by_sm.probabilities) == TINY_CLASSES == list(by_tfl.probabilities)
    sm, tfl = np.array(list(by_sm.probabilities.values())), np.array(list(by_tfl.probabilities.values()))
    np.testing.assert_allclose(tfl, sm, atol=1e-4)
    assert abs(sm.sum() - 1) < 1e-5 and abs(tfl.sum() - 1) < 1e-5
    assert len(by_sm.top_k) == 2 and by_sm.top_k[0] == (by_sm.label, by_sm.probability)
    assert by_sm.top_k[0][1] >= by_sm.top_k[1][1]
    assert len(by_tfl.top_k) == len(TINY_CLASSES)  # top_k=5 > 3 classes: all of them
    info = video.probe(clip)
    assert by_sm.video_frames == info.num_frames
    assert by_sm.frames_used == clip_sampling.sample_frame_indices(info.num_frames, TINY_FRAMES).tolist()
    for timings in (by_sm.timings, by_tfl.timings):
        assert 0 < timings["decode"] < timings["total"] and 0 < timings["infer"] < timings["total"]
        assert timings["decode_cpu"] > 0 and timings["infer_cpu"] > 0  # process CPU seconds beside wall


def test_prediction_sees_exactly_load_clip(tiny_export, clip):
    """The records' path (clip_sampling.load_clip) run through each model by hand gives the same numbers."""
    out, _ = tiny_export
    frames = clip_sampling.load_clip(clip, TINY_FRAMES, TINY_SIZE)
    interpreter = make_interpreter(out / "model_fp32.tflite")
    by_hand = export.run_tflite(interpreter, [frames])[0]
    got = predict.predict_video(clip, out / "model_fp32.tflite").probabilities
    np.testing.assert_allclose(list(got.values()), by_hand, atol=1e-7)
    serve = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    by_hand_sm = serve(frames=tf.constant(frames[None]))["probabilities"].numpy()[0]
    got_sm = predict.predict_video(clip, out).probabilities  # auto: the SavedModel
    np.testing.assert_allclose(list(got_sm.values()), by_hand_sm, atol=1e-7)


def test_backend_choice(tiny_export, clip, tmp_path):
    out, _ = tiny_export
    assert predict.resolve_model(out) == ("saved_model", out / "saved_model")
    assert predict.resolve_model(out / "saved_model") == ("saved_model", out / "saved_model")
    assert predict.resolve_model(out, "tflite", "int8") == ("tflite", out / "model_int8.tflite")
    only_tflite = tmp_path / "phone"
    only_tflite.mkdir()
    for name in ("model_dynamic.tflite", "labels.txt"):
        shutil.copy(out / name, only_tflite / name)
    result = predict.predict_video(clip, only_tflite)  # auto without a SavedModel: a TFLite file
    assert result.backend == "tflite" and result.model.endswith("model_dynamic.tflite")
    int8 = predict.predict_video(clip, out, backend="tflite", variant="int8")
    assert int8.model.endswith("model_int8.tflite") and int8.label in TINY_CLASSES


def test_clip_shorter_than_the_frame_count_repeats_frames_evenly(tiny_export, clip, tmp_path):
    out, _ = tiny_export
    short = tmp_path / "short.mp4"
    subprocess.run([video.ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-i", str(clip),
                    "-frames:v", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(short)], check=True)
    result = predict.predict_video(short, out)
    assert result.video_frames == 2 and result.frames_used == [0, 0, 1, 1]
    assert abs(sum(result.probabilities.values()) - 1) < 1e-5


def test_timeline_covers_the_video_and_equals_per_window_predictions(tiny_export, long_video, tmp_path):
    out, _ = tiny_export
    timeline = predict.predict_timeline(long_video, out, window_seconds=1.0, stride_seconds=0.5)
    info = video.probe(long_video)
    assert timeline.video_frames == info.num_frames and timeline.classes == TINY_CLASSES
    window, stride = round(1.0 * timeline.fps), round(0.5 * timeline.fps)
    starts = [round(w.start * timeline.fps) for w in timeline.windows]
    assert starts[0] == 0 and round(timeline.windows[-1].end * timeline.fps) == info.num_frames
    assert all(b - a == stride for a, b in zip(starts[:-2], starts[1:-1]))
    assert all(round((w.end - w.start) * timeline.fps) == window for w in timeline.windows)
    assert len(timeline.windows) >= (info.num_frames - window) // stride + 1
    for w in timeline.windows:
        assert w.label in TINY_CLASSES and abs(sum(w.probabilities) - 1) < 1e-4
    # Segments tile the whole video without gaps or overlaps, and change label at each boundary.
    segs = timeline.segments
    assert segs[0].start == 0 and abs(segs[-1].end - timeline.duration) < 1e-9
    assert all(abs(a.end - b.start) < 1e-9 and a.label != b.label for a, b in zip(segs, segs[1:]))
    assert sum(s.windows for s in segs) == len(timeline.windows)
    # The streamed ring buffer gives what a window cut from the whole decoded video gives.
    frames = video.decode_video(long_video).frames
    predictor = predict.load_predictor(out)
    for w in timeline.windows[1], timeline.windows[-1]:
        part = frames[round(w.start * timeline.fps):round(w.end * timeline.fps)]
        picked = part[clip_sampling.sample_frame_indices(len(part), TINY_FRAMES)]
        expected = predictor.predict_clip(clip_sampling.preprocess_frames(picked, TINY_SIZE).numpy())
        np.testing.assert_allclose(w.probabilities, expected, atol=1e-5)
    png = predict.plot_timeline(timeline, tmp_path / "timeline.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert not list(tmp_path.glob(".*"))


def test_video_shorter_than_a_window_is_one_window(tiny_export, clip):
    out, _ = tiny_export
    timeline = predict.predict_timeline(clip, out, window_seconds=10, stride_seconds=1)
    assert len(timeline.windows) == 1 and len(timeline.segments) == 1
    assert timeline.windows[0].start == 0 and timeline.windows[0].end == pytest.approx(timeline.duration)


def test_bad_models_are_user_errors(tiny_export, clip, tmp_path):
    out, _ = tiny_export
    with pytest.raises(UserError, match="no such model folder"):
        predict.predict_video(clip, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no exported model"):
        predict.predict_video(clip, tmp_path / "empty")
    with pytest.raises(UserError, match="unknown backend"):
        predict.predict_video(clip, out, backend="onnx")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_fp32.tflite").write_bytes(b"not a flatbuffer" * 64)
    (broken / "labels.txt").write_text("a\nb\nc\n")
    with pytest.raises(UserError, match="model_fp32.tflite: not a loadable TFLite model"):
        predict.predict_video(clip, broken)
    no_labels = tmp_path / "no_labels"
    no_labels.mkdir()
    shutil.copy(out / "model_fp32.tflite", no_labels)
    with pytest.raises(UserError, match="labels file not found beside model_fp32.tflite"):
        predict.predict_video(clip, no_labels)
    bad_sm = shutil.copytree(out / "saved_model", tmp_path / "bad_sm")
    (bad_sm / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(UserError, match="bad_sm: not a readable exported SavedModel"):
        predict.predict_video(clip, bad_sm)


def test_bad_videos_are_user_errors_naming_the_file(tiny_export, tmp_path):
    out, _ = tiny_export
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.mov"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, np.uint8).tobytes())
    for path in (text, empty, noise, tmp_path / "missing.mp4"):
        for run in (lambda p: predict.predict_video(p, out),
                    lambda p: predict.predict_timeline(p, out)):
            with pytest.raises(UserError, match=str(path.name)):
                run(path)


def test_audio_only_file_says_no_video_stream(tiny_export, tmp_path):
    out, _ = tiny_export
    audio = tmp_path / "voice.m4a"
    subprocess.run([video.ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=duration=1", "-c:a", "aac", str(audio)], check=True)
    for run in (lambda p: predict.predict_video(p, out), lambda p: predict.predict_timeline(p, out)):
        with pytest.raises(UserError, match=r"voice.m4a: no video stream"):
            run(audio)


def test_timeline_of_a_variable_frame_rate_video_uses_the_frames_timestamps(tiny_export, tmp_path):
    """45 frames 20 ms apart, then 45 frames 70 ms apart (a phone slowing its rate in dim light):
    4.0 s of video, 23 fps on average. Times from ``frame / average fps`` would put frame 45 at
    1.96 s instead of 0.90 s and end the video at 3.9 s."""
    out, _ = tiny_export
    vfr = tmp_path / "vfr.mp4"
    stamps = "if(lt(N\\,45)\\,N*20\\,900+(N-45)*70)"  # milliseconds
    subprocess.run([video.ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=96x64:r=30", "-frames:v", "90", "-vf", f"settb=1/1000,setpts='{stamps}'",
                    "-fps_mode", "passthrough", "-enc_time_base", "1/1000", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", str(vfr)], check=True)
    times = [n * 0.02 if n < 45 else 0.9 + (n - 45) * 0.07 for n in range(90)]
    mean_gap = times[-1] / 89
    timeline = predict.predict_timeline(vfr, out, window_seconds=1.0, stride_seconds=0.5)
    assert timeline.video_frames == 90
    assert timeline.duration == pytest.approx(times[-1] + mean_gap, abs=1e-6)  # 4.03 s, not 90 / fps
    window, stride = round(1.0 * timeline.fps), round(0.5 * timeline.fps)
    for k, w in enumerate(timeline.windows[:-1]):  # windows step by frames; their times are the frames'
        start = k * stride
        assert w.start == pytest.approx(times[start], abs=1e-6)
        assert w.end == pytest.approx(times[start + window] if start + window < 90 else timeline.duration, abs=1e-6)
    assert timeline.windows[-1].end == pytest.approx(timeline.duration)
    assert timeline.segments[-1].end == pytest.approx(timeline.duration)
