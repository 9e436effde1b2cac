"""The upload app without a browser: upload checks, the analysis, the job runner, the command."""
from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import app_support
from movinet_crossfit.app.analysis import Analyser, Analysis
from movinet_crossfit.app.jobs import DONE, FAILED, JobRunner
from movinet_crossfit.app.uploads import (UploadError, check_video, decoded_size, new_upload_dir, safe_name,
                                          save_upload)


@pytest.fixture(scope="session")
def support_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "app_support"


@pytest.fixture(scope="session")
def analyser(tiny_export, support_dir):
    return app_support.analyser(tiny_export[0], app_support.repnet_export(support_dir))


@pytest.fixture(scope="session")
def countable(support_dir) -> Path:
    return app_support.countable_video(support_dir)


def _data_url(data: bytes, kind: str = "video/mp4") -> str:
    return f"data:{kind};base64," + base64.b64encode(data).decode()


def _wait(runner: JobRunner, job_id: str, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = runner.status(job_id)
        if status.state in (DONE, FAILED):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {runner.status(job_id).state} after {timeout} s")


# -- uploads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("given,expected", [
    ("../../etc/passwd", "passwd"), ("..hidden.mp4", "hidden.mp4"), ("my clip (1).MP4", "my_clip_1_.MP4"),
    ("C:\\Users\\me\\Desktop\\wod.mov", "wod.mov"), ("Ünïcödé.mp4", "Unicode.mp4"), ("", "upload"),
    (None, "upload"), ("....", "upload"), ("a/b/<script>.mp4", "script_.mp4"),
])
def test_safe_name(given, expected):
    assert safe_name(given) == expected


def test_safe_name_bounds_length_and_keeps_the_suffix():
    name = safe_name("x" * 500 + ".webm")
    assert len(name) <= 60 and name.endswith(".webm")


def test_save_upload_writes_the_bytes_under_a_random_safe_name(tmp_path):
    data = bytes(range(256)) * 10
    url = _data_url(data)
    assert decoded_size(url.split(",", 1)[1]) == len(data)
    first = save_upload(url, "../my clip.mp4", tmp_path, max_bytes=10_000)
    second = save_upload(url, "../my clip.mp4", tmp_path, max_bytes=10_000)
    assert first.read_bytes() == data and first.parent == tmp_path
    assert first.name.endswith("-my_clip.mp4") and first != second


def test_oversize_upload_is_refused_before_anything_is_written(tmp_path):
    url = _data_url(b"\0" * 5000)
    with pytest.raises(UploadError) as caught:
        save_upload(url, "big.mp4", tmp_path, max_bytes=4000)
    message = str(caught.value)
    assert "big.mp4" in message and "5 kB is over the 4 kB upload limit" in message
    assert "--max-upload-mb" in message
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("contents,match", [
    ("data:video/mp4;base64,", "empty file"), ("data:video/mp4;base64,@@@@", "garbled"),
    ("just text", "did not arrive as a file"), (None, "did not arrive as a file"),
])
def test_bad_upload_payloads(tmp_path, contents, match):
    with pytest.raises(UploadError, match=match):
        save_upload(contents, "x.mp4", tmp_path, max_bytes=10_000)


def test_a_text_file_named_mp4_is_not_a_video(tmp_path):
    path = tmp_path / "0123-notes.mp4"
    path.write_text("these are my workout notes, not a video")
    with pytest.raises(UploadError) as caught:
        check_video(path, "notes.mp4")
    message = str(caught.value)
    assert message.startswith("notes.mp4: ") and "not a readable video" in message
    assert str(path) not in message and "upload a video file" in message


def test_a_real_clip_passes_the_content_check(cfmove_clips, tmp_path):
    copy = tmp_path / "clip.bin"  # the name says nothing: the content decides
    copy.write_bytes((cfmove_clips / "thruster" / "thruster_1.mp4").read_bytes())
    info = check_video(copy, "clip.bin")
    assert info.num_frames > 10 and info.width == 854


# -- the analysis -------------------------------------------------------------------------------

def test_a_real_clip_is_classified_and_too_short_to_count(analyser, cfmove_clips):
    from movinet_crossfit.movinet.predict import predict_video

    clip = cfmove_clips / "thruster" / "thruster_2.mp4"
    stages = []
    result = analyser.analyse(clip, "thruster_2.mp4", progress=lambda s, f: stages.append((s, f)))
    expected = predict_video(clip, analyser.model)
    assert result.mode == "clip" and result.label == expected.label
    assert result.probabilities == pytest.approx(expected.probabilities, abs=1e-6)
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert result.count is None and result.count_message.startswith("too short to count")
    assert f"{result.info.num_frames} frames" in result.count_message and "64 frames" in result.count_message
    assert [s for s, _ in stages] == ["checking the video", "classifying the movement", "done"]
    assert [f for _, f in stages] == sorted(f for _, f in stages)
    assert set(result.timings) == {"probe", "decode", "infer", "total"}
    as_json = result.to_dict()
    assert as_json["count"] is None and as_json["video"] == "thruster_2.mp4" and as_json["mode"] == "clip"
    assert [c for c, _ in as_json["top_k"]][0] == result.label == as_json["movement"]


def test_a_long_video_gets_a_timeline_and_a_count(analyser, countable):
    result = analyser.analyse(countable)
    assert result.mode == "timeline" and result.info.num_frames == 175
    windows = result.timeline.windows
    assert len(windows) >= 8
    mean = np.mean([w.probabilities for w in windows], axis=0)
    assert list(result.probabilities.values()) == pytest.approx(list(mean), abs=1e-6)
    assert result.timeline.segments[0].start == 0 and result.timeline.segments[-1].end == pytest.approx(175 / 30)
    assert result.count is not None and result.count_message == ""
    assert result.count.num_frames == 175 and len(result.count.periodicity) == 175
    assert result.count.source == countable.name
    assert {"decode", "infer", "count", "total"} <= set(result.timings)
    segments = result.to_dict()["timeline"]
    assert [s["label"] for s in segments] == [s.label for s in result.timeline.segments]


def test_no_counter_says_how_to_add_one(tiny_export, cfmove_clips):
    bare = Analyser(tiny_export[0], warm_up=False)
    result = bare.analyse(cfmove_clips / "chest-to-bar" / "chest-to-bar_1.mp4")
    assert result.count is None and "--counter" in result.count_message
    assert bare.describe()["counter"] is None


def test_a_weights_folder_counts_too(tiny_export, support_dir, countable):
    weights = app_support.repnet_weights(support_dir)
    with_weights = Analyser(tiny_export[0], weights, counter_image_size=32)
    assert with_weights.describe()["counter"]["kind"] == "weights"
    result = with_weights.analyse(countable)
    assert result.count is not None and result.count.num_frames == 175


def test_bad_model_and_counter_paths_are_user_errors(tiny_export, tmp_path):
    from movinet_crossfit.core.errors import UserError

    with pytest.raises(UserError, match="no such model"):
        Analyser(tmp_path / "nothing")
    with pytest.raises(UserError, match="no such counter folder"):
        Analyser(tiny_export[0], tmp_path / "no-counter", warm_up=False)


# -- jobs ---------------------------------------------------------------------------------------

def _queue_copy(runner: JobRunner, root: Path, source: Path, name: str) -> tuple[str, Path]:
    folder = new_upload_dir(root)
    path = save_upload(_data_url(source.read_bytes()), name, folder, max_bytes=10**8)
    return runner.submit(path, name, folder), folder


def test_jobs_keep_their_own_results_and_remove_their_files(analyser, cfmove_clips, tmp_path):
    from movinet_crossfit.core import video

    runner = JobRunner(analyser)
    sources = [cfmove_clips / "thruster" / "thruster_4.mp4", cfmove_clips / "chest-to-bar" / "chest-to-bar_4.mp4",
               tmp_path / "notes.txt"]
    sources[2].write_text("not a video")
    jobs = [_queue_copy(runner, tmp_path / "uploads", s, s.name) for s in sources]
    done = [_wait(runner, job_id) for job_id, _ in jobs]
    for source, status in zip(sources[:2], done[:2]):
        assert status.state == DONE and status.result.name == source.name
        assert status.result.info.num_frames == video.probe(source).num_frames
        assert "check" in status.result.timings
    assert done[2].state == FAILED and done[2].error.startswith("notes.txt: ")
    assert all(not folder.exists() for _, folder in jobs)
    assert runner.status("not-a-job") is None
    runner.shutdown()


def test_an_upload_is_probed_once(analyser, cfmove_clips, countable, tmp_path, monkeypatch):
    """The content check's probe is the one the analysis uses: predict_timeline and count_video
    (and predict_video) are given it and never probe again."""
    probes = app_support.count_probes(monkeypatch)
    runner = JobRunner(analyser)
    for source, mode in ((countable, "timeline"), (cfmove_clips / "thruster" / "thruster_3.mp4", "clip")):
        probes.clear()
        status = _wait(runner, _queue_copy(runner, tmp_path, source, source.name)[0])
        assert status.state == DONE and status.result.mode == mode
        assert (status.result.count is not None) == (mode == "timeline")
        assert len(probes) == 1, probes
    runner.shutdown()
    probes.clear()
    assert analyser.analyse(countable).count is not None  # no probe given: it probes, once
    assert len(probes) == 1, probes


class _Exploding:
    """Crashes on a file named boom.mp4, else returns a stub result: the runner must carry on."""

    def analyse(self, path, filename, info=None, progress=None):
        if filename == "boom.mp4":
            raise RuntimeError("the model fell over")
        return Analysis(filename, info, "clip", {"thruster": 1.0}, "stub", timings={"total": 0.0})


def test_a_crash_is_reported_and_logged_and_the_next_job_runs(cfmove_clips, tmp_path, caplog):
    runner = JobRunner(_Exploding())
    clip = cfmove_clips / "thruster" / "thruster_5.mp4"
    boom, boom_folder = _queue_copy(runner, tmp_path, clip, "boom.mp4")
    fine, _ = _queue_copy(runner, tmp_path, clip, "fine.mp4")
    crashed, ok = _wait(runner, boom), _wait(runner, fine)
    assert crashed.state == FAILED and "RuntimeError: the model fell over" in crashed.error
    assert boom in crashed.error  # the job id, to find the traceback in the log
    assert ok.state == DONE and ok.result.name == "fine.mp4"
    assert "Traceback" in caplog.text and "the model fell over" in caplog.text
    assert not boom_folder.exists() and not list(tmp_path.glob("upload-*"))
    runner.shutdown()


def test_queued_jobs_know_how_many_are_ahead(cfmove_clips, tmp_path):
    gate = threading.Event()

    class Slow(_Exploding):
        def analyse(self, *args, **kwargs):
            gate.wait(30)
            return super().analyse(*args, **kwargs)

    runner = JobRunner(Slow())
    clip = cfmove_clips / "thruster" / "thruster_6.mp4"
    ids = [_queue_copy(runner, tmp_path, clip, f"c{i}.mp4")[0] for i in range(3)]
    deadline = time.monotonic() + 30
    while runner.status(ids[0]).state != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [runner.status(i).ahead for i in ids[1:]] == [1, 2]
    gate.set()
    assert all(_wait(runner, i).state == DONE for i in ids)
    runner.shutdown()


# -- the page's server side and the command -------------------------------------------------------

def test_the_server_refuses_an_oversize_upload_that_skipped_the_browser_check(analyser, tmp_path):
    from movinet_crossfit.app.server import _start

    runner = JobRunner(analyser)
    payload = {"contents": _data_url(b"\0" * 3000), "filename": "huge.mp4"}
    job, disabled, message, _, _ = _start(runner, payload, tmp_path, max_bytes=1000)
    assert job is None and disabled is True
    assert "huge.mp4: 3 kB is over the 1 kB upload limit" in message.children
    assert not list(tmp_path.iterdir())
    refused = {"refused": "big.mp4: 3.0 MB is over the 1.0 MB upload limit", "filename": "big.mp4"}
    assert _start(runner, refused, tmp_path, 1000)[2].children == refused["refused"]
    runner.shutdown()


def test_the_page_is_served(analyser, tmp_path):
    from movinet_crossfit.app import create_app

    app = create_app(analyser=analyser, max_upload_mb=2, upload_dir=tmp_path)
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert "Drag and drop a video" in layout and "uploads up to 2.0 MB" in layout
    assert app.server.config["MAX_CONTENT_LENGTH"] < 8 * 2**20
    app.jobs.shutdown()


def test_app_command_with_a_missing_model_is_one_clear_line(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "app", "--model", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "no such model folder" in done.stderr and "Traceback" not in done.stderr
