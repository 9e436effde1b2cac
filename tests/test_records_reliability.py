"""records under stress: Ctrl-C, two writers into one folder, temp files of killed writers,
byte-reproducible builds, and batches where clips (or all of them) are not videos.

The end-to-end tests run the real command line on a generated corpus big enough that a build takes
seconds; durations are only ever compared with each other (a ratio), never with a fixed time.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import interruptible_children
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core import fileio
from movinet_crossfit.core.fileio import LOCK_FILE, folder_lock
from movinet_crossfit.core.video import ffmpeg_executable
from movinet_crossfit.data import records

CLIPS = 32
CLI_ARGS = ["--size", "64", "--frames", "8", "--workers", "1"]
CONFIG = dict(num_frames=8, size=64)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_executable(), "-y", "-nostdin", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """32 distinct 4-second 640x480 clips in two labels, cut (stream copy) from one generated video."""
    folder = tmp_path_factory.mktemp("corpus")
    source = folder / "source.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=640x480:r=30:d={CLIPS + 4}", "-c:v", "libx264", "-preset",
            "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", str(source))
    for n in range(CLIPS):
        label_dir = folder / "clips" / ("thruster", "burpee")[n % 2]
        label_dir.mkdir(parents=True, exist_ok=True)
        _ffmpeg("-ss", str(n), "-i", str(source), "-t", "4", "-c", "copy", str(label_dir / f"c{n:02d}.mp4"))
    return folder / "clips"


def _start(clips: Path, out: Path) -> subprocess.Popen:
    """`movinet-crossfit records` in its own process group, as a terminal runs it (Ctrl-C reaches
    the group: Python and its ffmpegs)."""
    cmd = [sys.executable, "-m", "movinet_crossfit.cli", "records", "--clips", str(clips), "-o", str(out), *CLI_ARGS]
    with interruptible_children():
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _parts(folder: Path) -> list[Path]:
    return [p for p in folder.glob(".*") if ".part-" in p.name]


def _wait(condition, procs: list[subprocess.Popen], exited: dict[int, float]) -> float:
    """Poll until ``condition()`` holds; note when each process exits. Returns the time it held."""
    while True:
        now = time.perf_counter()
        for proc in procs:
            if proc.poll() is not None:
                exited.setdefault(proc.pid, now)
        if condition():
            return now
        if all(proc.pid in exited for proc in procs):
            raise AssertionError("the build ended before the awaited state: "
                                 + " | ".join(proc.communicate()[1][-2000:] for proc in procs))
        time.sleep(0.01)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _visible_files(folder: Path) -> dict[str, str]:
    return {p.name: _sha(p) for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def two_writers(corpus, tmp_path_factory) -> dict:
    """Two `records` runs started at once into one folder."""
    out = tmp_path_factory.mktemp("two_writers") / "records"
    procs = [_start(corpus, out), _start(corpus, out)]
    exited: dict[int, float] = {}
    began = _wait(lambda: bool(_parts(out)), procs, exited)  # the first clip of a build is under way
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        exited.setdefault(proc.pid, time.perf_counter())
        results.append((proc.pid, proc.returncode, stdout, stderr))
    return {"out": out, "results": results, "exited": exited, "began": began}


@pytest.mark.slow
def test_a_second_writer_into_one_folder_fails_at_once(two_writers):
    by_code = {code: (pid, stderr) for pid, code, _, stderr in two_writers["results"]}
    assert sorted(by_code) == [0, 2], two_writers["results"]
    winner_pid, loser_pid = by_code[0][0], by_code[2][0]
    loser_err = by_code[2][1]
    assert f"{two_writers['out']}: a `records` run (pid {winner_pid}) is writing here" in loser_err
    assert "-o" in loser_err and "Traceback" not in loser_err
    # At once: the loser was gone before the winner had started encoding its first clip.
    assert two_writers["exited"][loser_pid] < two_writers["began"]


@pytest.mark.slow
def test_info_describes_the_shards_on_disk(two_writers):
    out = two_writers["out"]
    info = json.loads((out / records.INFO_FILE).read_text())
    on_disk = sorted(p.name for p in out.glob("*.tfrecord"))
    assert sorted(s for entry in info["splits"].values() for s in entry["shards"]) == on_disk
    digest = hashlib.sha256()
    for split, entry in info["splits"].items():
        assert entry["shards"] == sorted(n for n in on_disk if n.startswith(f"{split}-"))
        assert entry["bytes"] == sum((out / n).stat().st_size for n in entry["shards"])
        for name in entry["shards"]:
            digest.update(name.encode())
            digest.update(_sha(out / name).encode())
    assert info["content_sha256"] == digest.hexdigest()
    assert sum(entry["clips"] for entry in info["splits"].values()) == CLIPS
    assert _parts(out) == []


@pytest.mark.slow
def test_two_builds_are_byte_identical(two_writers, corpus, tmp_path):
    """Another process, another worker count: the same shard bytes (protobuf maps serialised in key
    order, not in each process's hash order)."""
    other = records.write_records(tmp_path / "again", clips_dir=corpus,
                                  config=records.RecordsConfig(**CONFIG, workers=2))
    first = {p.name: _sha(p) for p in two_writers["out"].glob("*.tfrecord")}
    second = {p.name: _sha(p) for p in (tmp_path / "again").glob("*.tfrecord")}
    assert first and first == second
    info = json.loads((two_writers["out"] / records.INFO_FILE).read_text())
    assert other.info["content_sha256"] == info["content_sha256"]


@pytest.mark.slow
def test_ctrl_c_stops_records_at_once_and_keeps_the_previous_build(corpus, tmp_path):
    out = tmp_path / "records"
    full = _start(corpus, out)  # a whole build: the time to compare with, and the previous build
    exited: dict[int, float] = {}
    began = _wait(lambda: bool(_parts(out)), [full], exited)
    finished = _wait(lambda: (out / records.INFO_FILE).exists(), [full], exited)
    _, full_err = full.communicate()
    assert full.returncode == 0, full_err[-2000:]
    before = _visible_files(out)
    proc = _start(corpus, out)
    _wait(lambda: bool(_parts(out)), [proc], exited)
    sent = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)
    stopped = _wait(lambda: not _parts(out), [proc], exited)  # the temp shards go when the work stops
    _, stderr = proc.communicate(timeout=120)
    # Without cancelling, the whole queue (32 clips) would be encoded first: a ratio near 1.
    assert (stopped - sent) / (finished - began) < 0.5, (stopped - sent, finished - began)
    assert proc.returncode == 130
    assert "interrupted; records stopped after" in stderr and "keeps no shards" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr
    assert _parts(out) == []
    assert _visible_files(out) == before


def test_interrupt_message_reaches_the_command_line(monkeypatch, capsys, tmp_path):
    """typer turns KeyboardInterrupt into a silent Exit(130); main still prints what was kept."""
    from movinet_crossfit import cli
    from movinet_crossfit.cli import data as data_commands

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("records stopped after 3 of 9 clips; an interrupted build keeps no shards")

    monkeypatch.setattr(data_commands, "write_records", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["records", "--clips", str(tmp_path), "-o", str(tmp_path / "out")])
    assert exit_info.value.code == 130
    assert "interrupted; records stopped after 3 of 9 clips" in capsys.readouterr().err


def test_lock_refuses_a_second_writer_and_frees_on_exit(tmp_path):
    with folder_lock(tmp_path, "a `records` run"):
        with pytest.raises(UserError, match=rf"a `records` run \(pid {os.getpid()}\) is writing here"):
            with folder_lock(tmp_path, "another run"):
                pass
    with folder_lock(tmp_path, "a later run"):  # released: the next writer gets it
        assert (tmp_path / LOCK_FILE).read_text().startswith("a later run")


def test_a_second_writer_waits_briefly_for_the_holder_to_name_itself(tmp_path):
    """The holder writes its line just after taking the lock; a second writer arriving in between
    (seen in CI: "another process is writing here") re-reads until the line names a live process."""
    lock = tmp_path / LOCK_FILE
    lock.write_text("a killed run (pid 999999999)\n")  # a previous holder's line: no such process
    fd = os.open(lock, os.O_RDWR)
    try:
        threading.Timer(0.2, lambda: lock.write_text(f"a `records` run (pid {os.getpid()})\n")).start()
        assert fileio._lock_holder(fd, wait_s=5.0) == f"a `records` run (pid {os.getpid()})"
        lock.write_text("")
        assert fileio._lock_holder(fd, wait_s=0.1) == "another process"  # nobody named: said so
    finally:
        os.close(fd)
    with folder_lock(tmp_path, "a finished run"):
        pass
    assert lock.read_text() == ""  # a finished holder's line is cleared while it still holds the lock


def _small_clip_folder(tmp_path: Path, cfmove_clips: Path) -> Path:
    clips = tmp_path / "clips"
    for label in ("thruster", "chest-to-bar"):
        (clips / label).mkdir(parents=True)
        for n in (2, 3):
            shutil.copy(cfmove_clips / label / f"{label}_{n}.mp4", clips / label)
    return clips


def test_temp_files_of_killed_writers_are_removed(tmp_path, cfmove_clips):
    out = tmp_path / "out"
    out.mkdir()
    dead = 999_999_999  # above any pid_max: no such process
    stale = [out / f".train-00000-of-00001.tfrecord.part-{dead}", out / f".{records.INFO_FILE}.part-{dead}"]
    live = out / f".test-00000-of-00001.tfrecord.part-{os.getppid()}"  # a running writer's: kept
    for path in [*stale, live]:
        path.write_bytes(b"half a shard")
    result = records.write_records(out, clips_dir=_small_clip_folder(tmp_path, cfmove_clips),
                                   config=records.RecordsConfig(num_frames=4, size=32))
    assert not any(path.exists() for path in stale)
    assert live.exists()
    assert sum(entry["clips"] for entry in result.info["splits"].values()) == 4


def _audio_only(path: Path, seconds: int = 1) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:a", "aac", str(path))
    return path


def test_audio_only_clip_fails_as_no_video_stream(tmp_path, cfmove_clips):
    clips = _small_clip_folder(tmp_path, cfmove_clips)
    _audio_only(clips / "thruster" / "voice.mp4")
    result = records.write_records(tmp_path / "out", clips_dir=clips, config=records.RecordsConfig(num_frames=4, size=32))
    reasons = {Path(item).name: reason for item, reason in result.report.failed}
    assert set(reasons) == {"voice.mp4"}
    assert "voice.mp4: no video stream" in reasons["voice.mp4"]
    assert "trailing '?'" not in reasons["voice.mp4"]


def test_every_clip_failing_names_the_reasons(tmp_path):
    clips = tmp_path / "clips"
    (clips / "thruster").mkdir(parents=True)
    (clips / "burpee").mkdir()
    _audio_only(clips / "thruster" / "a.mp4")
    _audio_only(clips / "burpee" / "b.mp4", seconds=2)
    (clips / "thruster" / "text.mp4").write_text("not a video\n")
    (clips / "burpee" / "empty.mp4").write_bytes(b"")
    with pytest.raises(UserError) as error:
        records.write_records(tmp_path / "out", clips_dir=clips, config=records.RecordsConfig(num_frames=4, size=32))
    message = str(error.value)
    assert message.startswith(f"{clips}: none of the 4 clips could be encoded: ")
    assert "no video stream" in message and "and 1 more" in message
    assert "\n" not in message
    assert not list((tmp_path / "out").glob("*.tfrecord")) and _parts(tmp_path / "out") == []
