"""clips.py: frame-exact cutting, resume, atomicity and bad sources (no TensorFlow).

The generated sources paint frame ``i`` in two flat grey halves (left ``8*(i % 32)``, right
``8*(i // 32)``), so every decoded frame says which source frame it is, through H.264 and back.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from movinet_crossfit.data import clips
from movinet_crossfit.data.clips import SplitReport, index_source, split_clips
from movinet_crossfit.data.manifest import ClipEntry, Manifest
from movinet_crossfit.core.video import decode_video, ffmpeg_executable, read_frames

ROOT = Path(__file__).resolve().parents[1]
NUM_FRAMES = 100
GOP = 12
WIDTH, HEIGHT = 96, 64
# start 0, whole video, just before / at / just after a keyframe, a 1-frame clip, the last frames.
RANGES = [(0, 5), (0, NUM_FRAMES), (11, 12), (24, 36), (13, 20), (37, 38), (50, 62), (95, NUM_FRAMES),
          (NUM_FRAMES - 1, NUM_FRAMES)]


def painted(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    frame = np.empty((height, width, 3), np.uint8)
    frame[:, : width // 2] = 8 * (index % 32)
    frame[:, width // 2:] = 8 * (index // 32)
    return frame


def frame_index(frame: np.ndarray) -> int:
    """Which source frame a decoded frame shows (the inner parts of the halves: no chroma bleed)."""
    width = frame.shape[1]
    left = frame[:, : width // 2 - 4].mean()
    right = frame[:, width // 2 + 4:].mean()
    return int(round(left / 8)) + 32 * int(round(right / 8))


def decoded_indices(path: Path) -> list[int]:
    return [frame_index(frame) for frame in decode_video(path).frames]


def make_video(path: Path, *, rate: str = "30000/1001", frames: int = NUM_FRAMES, input_args=(),
               output_args=(), size=(WIDTH, HEIGHT)) -> Path:
    """H.264 with B-frames and a keyframe every GOP frames exactly (no scene-cut keyframes)."""
    width, height = size
    data = b"".join(painted(i, width, height).tobytes() for i in range(frames))
    cmd = [ffmpeg_executable(), "-y", "-nostdin", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{width}x{height}", "-r", rate, *input_args, "-i", "pipe:",
           "-c:v", "libx264", "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0", "-bf", "2",
           "-pix_fmt", "yuv420p", *output_args, str(path)]
    subprocess.run(cmd, input=data, check=True)
    return path


def ffmpeg_to(path: Path, *args: str) -> Path:
    subprocess.run([ffmpeg_executable(), "-y", "-nostdin", "-loglevel", "error", *args, str(path)], check=True)
    return path


def write_manifest(folder: Path, entries: list[tuple[str, int, int]], *, fps: float | None = None,
                   label: str = "thruster", where: Path | None = None) -> Path:
    """A manifest in ``where`` (default: ``folder``) for videos named relative to ``folder``."""
    where = where or folder
    clip_list = [ClipEntry(id=f"{Path(video).stem}-{start:03d}-{end:03d}",
                           video=os.path.relpath(folder / video, where), label=label,
                           start_frame=start, end_frame=end, fps=fps, group=Path(video).stem)
                 for video, start, end in entries]
    path = where / "manifest.json"
    Manifest(classes=[label], clips=clip_list).save(path)
    return path


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".part" in p.name]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """Sources at 29.97 and 25 fps, with non-zero start times, audio offsets, MPEG-TS and VFR."""
    folder = tmp_path_factory.mktemp("videos")
    make_video(folder / "ntsc.mp4")
    make_video(folder / "pal.mp4", rate="25")
    make_video(folder / "late-start.mp4", output_args=["-output_ts_offset", "3.3"])   # starts at 3.3 s
    make_video(folder / "stream.ts", rate="25")                                       # MPEG-TS, starts at 1.4 s
    # Video 0.7 s after the audio: the container starts at 0, the video stream at 0.7. PCM audio, not
    # AAC: AAC's priming samples start the audio at -23 ms, which ffmpeg 5.1's Matroska muxer shifts
    # to 0 (moving the video to 0.723 s) and the wheel's ffmpeg 9 keeps, so the file would depend on the build.
    ffmpeg_to(folder / "audio-first.mkv", "-itsoffset", "0.7", "-i", str(folder / "ntsc.mp4"),
          "-f", "lavfi", "-i", "sine=duration=5", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
          "-c:a", "pcm_s16le")
    # Variable frame rate: frame gaps of 53, 53 and 14 ms.
    make_video(folder / "vfr.mp4", rate="25", output_args=["-vf", "settb=1/1000,setpts='(N/25+0.013*mod(N\\,3))/TB'",
                                                           "-fps_mode", "passthrough", "-enc_time_base", "1/1000"])
    return folder


SOURCES = ["ntsc.mp4", "pal.mp4", "late-start.mp4", "stream.ts", "audio-first.mkv", "vfr.mp4"]


def test_index_source_lists_every_frame_and_keyframe(videos):
    for name in SOURCES:
        index = index_source(videos / name)
        assert index.num_frames == NUM_FRAMES, name
        assert index.keyframes == tuple(range(0, NUM_FRAMES, GOP)), name
        assert index.times is not None and len(index.times) == NUM_FRAMES
        assert all(a < b for a, b in zip(index.times, index.times[1:])), name
    assert index_source(videos / "ntsc.mp4").fps == pytest.approx(30000 / 1001, rel=1e-6)
    assert index_source(videos / "late-start.mp4").times[0] == pytest.approx(3.3, abs=1e-3)
    assert index_source(videos / "audio-first.mkv").times[0] == pytest.approx(0.7, abs=1e-3)
    gaps = np.diff(index_source(videos / "vfr.mp4").times)
    assert gaps.max() - gaps.min() > 0.03  # really variable


@pytest.mark.parametrize("name", SOURCES)
def test_reencoded_clips_hold_exactly_the_manifest_frames(videos, tmp_path, name):
    manifest = write_manifest(videos, [(name, start, end) for start, end in RANGES], where=tmp_path)
    report = split_clips(manifest, tmp_path / "clips", workers=2)
    assert not report.failed, report.failed
    assert not report.warnings, report.warnings  # the fast path was exact: no fallback
    for start, end in RANGES:
        clip_id = f"{Path(name).stem}-{start:03d}-{end:03d}"
        path = report.outputs[clip_id]
        assert path == tmp_path / "clips" / "thruster" / f"{clip_id}.mp4"
        assert report.frames[clip_id] == end - start
        assert decoded_indices(path) == list(range(start, end)), (name, start, end)
    assert leftovers(tmp_path) == []


def test_resume_skips_existing_clips_untouched(videos, tmp_path):
    manifest = write_manifest(videos, [("ntsc.mp4", 0, 5), ("ntsc.mp4", 13, 20)], where=tmp_path)
    first = split_clips(manifest, tmp_path, workers=2)
    assert len(first.done) == 2
    stamps = {clip: path.stat().st_mtime_ns for clip, path in first.outputs.items()}
    second = split_clips(manifest, tmp_path, workers=2)
    assert second.done == [] and second.failed == []
    assert sorted(item for item, _ in second.skipped) == sorted(stamps)
    assert {clip: path.stat().st_mtime_ns for clip, path in second.outputs.items()} == stamps


def test_overwrite_recuts(videos, tmp_path):
    manifest = write_manifest(videos, [("ntsc.mp4", 13, 20)], where=tmp_path)
    path = split_clips(manifest, tmp_path).outputs["ntsc-013-020"]
    path.write_bytes(b"stale")
    assert split_clips(manifest, tmp_path).skipped  # not overwritten by default
    assert path.read_bytes() == b"stale"
    report = split_clips(manifest, tmp_path, overwrite=True)
    assert report.done == ["ntsc-013-020"]
    assert decoded_indices(path) == list(range(13, 20))


def test_copy_mode_cuts_at_keyframes_and_covers_the_range(videos, tmp_path):
    manifest = write_manifest(videos, [("ntsc.mp4", 13, 20), ("ntsc.mp4", 0, 5), ("stream.ts", 30, 40)],
                              where=tmp_path)
    report = split_clips(manifest, tmp_path, reencode=False)
    assert not report.failed, report.failed
    assert any("NOT frame-accurate" in w for w in report.warnings)
    for clip_id, (start, end) in {"ntsc-013-020": (13, 20), "ntsc-000-005": (0, 5), "stream-030-040": (30, 40)}.items():
        shown = decoded_indices(report.outputs[clip_id])
        assert set(range(start, end)) <= set(shown), clip_id
        assert shown[0] % GOP == 0 and shown[0] <= start, clip_id  # starts on a keyframe
        assert report.frames[clip_id] >= end - start
    # the stream copy really is not the frame-exact cut
    assert decoded_indices(report.outputs["ntsc-013-020"]) != list(range(13, 20))


def test_bad_sources_fail_only_their_clips(videos, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    good = folder / "good.mp4"
    good.write_bytes((videos / "ntsc.mp4").read_bytes())
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video at all\n")
    whole = (videos / "pal.mp4").read_bytes()  # moov atom at the end: half the file has no index
    (folder / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    entries = [("good.mp4", 0, 10), ("missing.mp4", 0, 10), ("empty.mp4", 0, 10), ("notes.mp4", 0, 10),
               ("truncated.mp4", 0, 10), ("good.mp4", 20, 30), ("missing.mp4", 20, 30)]
    manifest = write_manifest(folder, entries)
    report = split_clips(manifest, tmp_path / "clips", workers=2)
    assert sorted(report.done) == ["good-000-010", "good-020-030"]
    reasons = dict(report.failed)
    assert set(reasons) == {"missing-000-010", "missing-020-030", "empty-000-010", "notes-000-010",
                            "truncated-000-010"}
    assert "missing.mp4: source video not found" in reasons["missing-000-010"]
    assert "--videos" in reasons["missing-000-010"]
    assert "empty.mp4: empty file (0 bytes)" in reasons["empty-000-010"]
    assert "notes.mp4: not a readable video" in reasons["notes-000-010"]
    assert "truncated.mp4: not a readable video (ffmpeg: moov atom not found)" in reasons["truncated-000-010"]
    assert all("re-download" in reasons[c] for c in ("empty-000-010", "notes-000-010", "truncated-000-010"))
    assert report.succeeded  # a partly bad batch still produced clips
    written = sorted(p.name for p in (tmp_path / "clips").rglob("*") if p.is_file())
    assert written == ["good-000-010.mp4", "good-020-030.mp4"]
    assert leftovers(tmp_path) == []


def test_truncated_tail_fails_clips_past_the_readable_part(videos, tmp_path):
    # moov atom first (faststart): the start stays readable, the last 30% of the bytes are gone.
    whole = ffmpeg_to(tmp_path / "faststart.mp4", "-i", str(videos / "ntsc.mp4"),
                  "-c", "copy", "-movflags", "+faststart")
    data = whole.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 7 // 10])
    readable = index_source(tmp_path / "cut.mp4")
    assert 10 < readable.num_frames < NUM_FRAMES
    assert readable.damage and "partial file" in readable.damage
    manifest = write_manifest(tmp_path, [("cut.mp4", 0, 5), ("cut.mp4", 90, NUM_FRAMES)])
    report = split_clips(manifest, tmp_path / "clips")
    assert report.done == ["cut-000-005"]
    assert decoded_indices(report.outputs["cut-000-005"]) == list(range(5))
    (item, reason), = report.failed
    assert item == "cut-090-100"
    assert f"has only {readable.num_frames} frames" in reason and "truncated" in reason


def test_range_past_the_end_fails_clearly(videos, tmp_path):
    manifest = write_manifest(videos, [("pal.mp4", 95, 105), ("pal.mp4", 90, 95)], where=tmp_path)
    report = split_clips(manifest, tmp_path)
    assert report.done == ["pal-090-095"]
    (item, reason), = report.failed
    assert item == "pal-095-105"
    assert "pal.mp4" in reason and "[95, 105)" in reason and "only 100 frames (0..99)" in reason
    assert not (tmp_path / "thruster" / "pal-095-105.mp4").exists()
    assert leftovers(tmp_path) == []


def test_ffmpeg_failure_leaves_no_file(videos, tmp_path):
    manifest = write_manifest(videos, [("ntsc.mp4", 0, 5)], where=tmp_path)
    report = split_clips(manifest, tmp_path / "clips", preset="no-such-preset")
    (item, reason), = report.failed
    assert "ffmpeg failed" in reason and "ntsc.mp4" in reason
    assert not report.succeeded
    assert [p for p in (tmp_path / "clips").rglob("*") if p.is_file()] == []


def test_inexact_seek_falls_back_to_decoding_from_the_start(videos, tmp_path, monkeypatch):
    real_cut = clips._cut_by_time

    def off_by_one(source, start, end, out, **kw):  # what a container with a sloppy seek does
        real_cut(source, start + 1, end, out, **kw)

    monkeypatch.setattr(clips, "_cut_by_time", off_by_one)
    manifest = write_manifest(videos, [("ntsc.mp4", 13, 20)], where=tmp_path)
    report = split_clips(manifest, tmp_path)
    assert decoded_indices(report.outputs["ntsc-013-020"]) == list(range(13, 20))
    assert any("seeking is not exact" in w for w in report.warnings)


def test_source_without_timestamps_is_cut_by_decoded_index(videos, tmp_path):
    ffmpeg_to(tmp_path / "raw.h264", "-i", str(videos / "ntsc.mp4"), "-c", "copy", "-bsf:v", "h264_mp4toannexb")
    assert index_source(tmp_path / "raw.h264").times is None  # an elementary stream has no timestamps
    manifest = write_manifest(tmp_path, [("raw.h264", 13, 20), ("raw.h264", 95, NUM_FRAMES)])
    report = split_clips(manifest, tmp_path / "clips")
    assert decoded_indices(report.outputs["raw-013-020"]) == list(range(13, 20))
    assert decoded_indices(report.outputs["raw-095-100"]) == list(range(95, NUM_FRAMES))
    assert any("no usable timestamps" in w for w in report.warnings)
    copied = split_clips(manifest, tmp_path / "copied", reencode=False)
    assert copied.done == [] and all("drop --copy" in reason for _, reason in copied.failed)


def test_videos_dir_lookup_by_relative_path_then_file_name(videos, tmp_path):
    manifest = write_manifest(tmp_path, [("raw/ntsc.mp4", 13, 20), ("elsewhere/pal.mp4", 0, 3),
                                         ("raw/gone.mp4", 0, 3)])
    store = tmp_path / "store"
    (store / "raw").mkdir(parents=True)
    (store / "raw" / "ntsc.mp4").write_bytes((videos / "ntsc.mp4").read_bytes())
    (store / "pal.mp4").write_bytes((videos / "pal.mp4").read_bytes())  # found by its file name
    report = split_clips(manifest, tmp_path / "clips", videos_dir=store)
    assert sorted(report.done) == ["ntsc-013-020", "pal-000-003"]
    (item, reason), = report.failed
    assert str(store / "raw" / "gone.mp4") in reason and str(store / "gone.mp4") in reason
    # without videos_dir the paths are relative to the manifest, where nothing is
    assert len(split_clips(manifest, tmp_path / "other").failed) == 3


def test_odd_sized_source_loses_one_row_and_column(tmp_path):
    make_video(tmp_path / "odd.mkv", rate="25", frames=30, size=(97, 65),
               output_args=["-c:v", "libx264rgb"])  # rgb keeps odd sides in the source
    manifest = write_manifest(tmp_path, [("odd.mkv", 5, 9)])
    report = split_clips(manifest, tmp_path / "clips")
    frames = decode_video(report.outputs["odd-005-009"]).frames
    assert frames.shape == (4, 64, 96, 3)
    assert [frame_index(f) for f in frames] == [5, 6, 7, 8]


def test_manifest_fps_unlike_the_video_warns(videos, tmp_path):
    manifest = write_manifest(videos, [("pal.mp4", 0, 5)], fps=50.0, where=tmp_path)
    report = split_clips(manifest, tmp_path)
    assert report.done == ["pal-000-005"]
    assert any("manifest says 50 fps" in w and "25.000" in w for w in report.warnings)


def test_stale_temp_of_a_killed_run_is_removed(videos, tmp_path):
    manifest = write_manifest(videos, [("ntsc.mp4", 0, 5)], where=tmp_path)
    stale = tmp_path / "thruster" / ".ntsc-000-005.mp4.part-999999999"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a clip")
    split_clips(manifest, tmp_path)
    assert not stale.exists()
    assert (tmp_path / "thruster" / "ntsc-000-005.mp4").is_file()


def test_report_lists_outputs(videos, tmp_path):
    manifest = write_manifest(videos, [("ntsc.mp4", 0, 5)], where=tmp_path)
    report = split_clips(manifest, tmp_path)
    assert isinstance(report, SplitReport)
    data = report.to_dict()
    assert data["outputs"] == {"ntsc-000-005": str(tmp_path / "thruster" / "ntsc-000-005.mp4")}
    assert data["frames"] == {"ntsc-000-005": 5}


def test_real_clip_is_cut_at_the_right_frames(cfmove_clips, tmp_path):
    """cfmove runs at an odd ~26.36 fps. Lossless re-encode (crf 0) must give back exactly the
    source's decoded frames 3..12, and each differs from its neighbours (a wrong offset shows)."""
    source = cfmove_clips / "thruster" / "thruster_1.mp4"
    manifest = write_manifest(tmp_path, [(str(source), 3, 13)], fps=26.36)
    report = split_clips(manifest, tmp_path / "clips", crf=0)
    assert not report.warnings, report.warnings
    cut = decode_video(report.outputs["thruster_1-003-013"]).frames.astype(np.int16)
    wanted = read_frames(source, range(3, 13)).astype(np.int16)
    assert cut.shape == wanted.shape
    assert np.abs(cut - wanted).max() == 0
    for shift in (-1, 1):
        shifted = read_frames(source, range(3 + shift, 13 + shift)).astype(np.int16)
        assert np.abs(cut - shifted).mean() > 0.5
    # the default (lossy) quality is still far closer to the right frames than to the neighbours
    lossy = decode_video(split_clips(manifest, tmp_path / "lossy").outputs["thruster_1-003-013"]).frames
    error = np.abs(lossy.astype(np.int16) - wanted).mean()
    assert error < 2.0
    assert error < 0.7 * np.abs(lossy.astype(np.int16) - shifted).mean()


def test_tool_script(videos, tmp_path):
    manifest = write_manifest(videos, [("ntsc.mp4", 0, 5), ("missing.mp4", 0, 5)], where=tmp_path)
    env = {**os.environ, "PYTHONPATH": ""}
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "ffmpeg-split.py"), str(manifest), "-o",
                          str(tmp_path / "out"), "--workers", "2"], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "thruster" / "ntsc-000-005.mp4").is_file()
    assert "1 done" in run.stdout + run.stderr and "missing.mp4" in run.stdout + run.stderr
    bad = subprocess.run([sys.executable, str(ROOT / "tools" / "ffmpeg-split.py"), str(tmp_path / "nope.json")],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "manifest not found" in bad.stderr


def test_clips_module_does_not_import_tensorflow():
    code = "import sys, movinet_crossfit.data.clips; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
