"""The upload app without a browser: upload checks, the analysis (no flags: poses; with --model and
--counter), the page's pieces (rep table, thumbnails, pace chart, overlay route), the job runner,
the command."""
from __future__ import annotations

import base64
import os
import threading
import time
from pathlib import Path

import pytest

import app_support
from movinet_crossfit.app.analysis import Analyser
from movinet_crossfit.app.jobs import DONE, FAILED, JobRunner
from movinet_crossfit.app.uploads import (UploadError, check_video, decoded_size, new_upload_dir, safe_name,
                                          save_upload)


@pytest.fixture(scope="session")
def support_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "app_support"


@pytest.fixture(scope="session")
def analyser(tiny_export, support_dir):
    """With the flags: --model (the tiny export) and --counter (the tiny exported RepNet)."""
    return app_support.analyser(tiny_export[0], app_support.repnet_export(support_dir))


@pytest.fixture(scope="session")
def pose_analyser():
    """No flags."""
    return app_support.pose_analyser()


@pytest.fixture(scope="session")
def real(support_dir, cfmove_clips):
    """(Analysis, progress stages) of four real thruster clips joined into one set, no flags."""
    return app_support.real_analysis(support_dir, cfmove_clips)


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


# -- the analysis, no flags ------------------------------------------------------------------------

def test_no_flags_counts_and_judges_a_real_set_from_poses(real, pose_analyser, support_dir):
    from movinet_crossfit.analysis.footage import FootageAnalysis
    from movinet_crossfit.core import video

    result, stages = real
    footage = result.footage
    assert isinstance(footage, FootageAnalysis) and result.name == "thruster_set.mp4"
    assert footage.movement == "thruster" and footage.movement_source == "pose"
    assert footage.model_movement is None and result.repnet is None
    # Four one-rep Games clips: the count is close (the joins can merge or split a rep).
    assert 3 <= footage.count.count <= 5 and len(footage.reps) == footage.count.count
    assert footage.valid_count + footage.no_rep_count + footage.unjudged_count == len(footage.reps)
    as_json = result.to_dict()
    assert set(footage.to_dict()) == set(as_json)  # no counter: exactly the handler's keys
    assert as_json["count"] == len(footage.reps) and "repnet" not in as_json
    # A thumbnail per rep: a JPEG 160 px wide of the deciding frame.
    import io

    from PIL import Image

    assert sorted(result.thumbnails) == [rep.index for rep in footage.reps]
    for jpeg in result.thumbnails.values():
        picture = Image.open(io.BytesIO(jpeg))
        assert picture.format == "JPEG" and picture.width == 160
    # The overlay: an H.264 video of every frame, in the folder it was given.
    assert result.overlay == support_dir / "real_job" / "overlay.mp4"
    drawn = video.probe(result.overlay)
    assert drawn.codec == "h264" and drawn.num_frames == result.info.num_frames
    assert {"poses", "count", "judge", "thumbnails", "overlay", "total"} <= set(result.timings)
    # Progress: named stages, never going back.
    names = [s for s, _ in stages]
    assert names[0] == "checking the video" and names[-1] == "done"
    assert {"finding poses", "drawing the overlay"} <= set(names)
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    about = pose_analyser.describe()
    assert about["model"] is None and about["counter"] is None and "thruster" in about["standards"]


def test_the_user_can_name_the_movement(pose_analyser, cfmove_clips):
    from movinet_crossfit.core.errors import UserError

    clip = cfmove_clips / "thruster" / "thruster_5.mp4"
    result = pose_analyser.analyse(clip, "thruster_5.mp4", movement="OHS")
    assert result.footage.movement == "ohs" and result.footage.movement_source == "user"
    assert result.overlay is None  # no folder given: no overlay
    with pytest.raises(UserError, match="thruster"):  # the known names are listed
        pose_analyser.analyse(clip, "thruster_5.mp4", movement="zumba")


# -- the page's pieces ----------------------------------------------------------------------------

def _rep(index, valid, reason=None, checks=(), start=0.0):
    return {"index": index, "start_s": start, "end_s": start + 1.5, "start_frame": int(start * 30),
            "end_frame": int(start * 30) + 45, "valid": valid, "reason": reason, "frame": int(start * 30) + 20,
            "time_s": start + 0.67, "checks": list(checks)}


JUDGED = {"reps": [
    _rep(1, True, start=0.0),
    _rep(2, False, "depth", [{"id": "depth", "text": "hip crease below the top of the knee", "passed": False,
                              "frame": 80, "value": -0.12, "detail": "hip 0.12 torso lengths above the knee"},
                             {"id": "lockout", "text": "arms locked out", "passed": True, "frame": 90,
                              "value": 3.0, "detail": ""}], start=2.0),
    _rep(3, None, "lockout: the wrists are hidden at the top",
         [{"id": "lockout", "text": "arms locked out", "passed": None, "frame": None, "value": None,
           "detail": "the wrists are hidden at the top"}], start=4.5)],
    "pace": {"seconds_per_rep": [1.5, 2.5, 1.0], "median_s": 1.5}}


def test_rep_rows_say_valid_no_rep_with_the_reason_and_cant_tell_with_why():
    from movinet_crossfit.app.page import rep_rows, rep_table

    rows = rep_rows(JUDGED, {1: b"\xff\xd8one", 2: b"\xff\xd8two"})
    assert [r["verdict"] for r in rows] == ["valid", "NO REP", "can't tell"]
    assert [r["kind"] for r in rows] == ["valid", "no-rep", "unknown"]
    assert rows[0]["why"] == ""
    assert rows[1]["why"] == "depth: hip 0.12 torso lengths above the knee"
    assert rows[2]["why"] == "lockout: the wrists are hidden at the top"  # the detail is not repeated
    assert rows[1]["time"] == "2.0-3.5 s" and rows[1]["frame"] == 80 and rows[1]["frame_time"] == 2.67
    assert rows[0]["thumbnail"] == "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8one").decode()
    assert rows[2]["thumbnail"] is None
    body = rep_table(rows).children[1].children
    assert [tr.id for tr in body] == ["rep-1", "rep-2", "rep-3"]
    assert [tr.className for tr in body] == ["rep rep-valid", "rep rep-no-rep", "rep rep-unknown"]
    images = [[c.src for c in tr.children[3].children if getattr(c, "src", None)] for tr in body]
    assert images == [[rows[0]["thumbnail"]], [rows[1]["thumbnail"]], []]
    assert "frame 80 (2.67 s)" in str(body[1].children[3].children)
    # The page says what to do on the page, not on the command line.
    unknown = rep_rows({"reps": [_rep(1, None, "movement unknown: pass --movement NAME")]})[0]
    assert unknown["why"] == "movement unknown: choose the movement above and upload again"


def test_the_pace_figure_marks_no_reps():
    from movinet_crossfit.app.figures import pace_figure, seconds_per_rep

    assert seconds_per_rep(JUDGED) == [1.5, 2.5, 1.0]
    fig = pace_figure(JUDGED)
    by_name = {t.name: t for t in fig.data if t.name}
    assert set(by_name) == {"valid", "no rep", "can't tell"}
    assert list(by_name["no rep"].x) == [2] and list(by_name["no rep"].y) == [2.5]
    assert by_name["no rep"].marker.symbol == "x" and by_name["no rep"].marker.color == "#d62728"
    assert list(by_name["valid"].x) == [1] and list(by_name["can't tell"].x) == [3]
    assert "median 1.50 s" in fig.layout.annotations[0].text
    # Without a pace list of the right length, each rep's own length.
    assert seconds_per_rep({"reps": JUDGED["reps"], "pace": {"seconds_per_rep": []}}) == [1.5, 1.5, 1.5]
    assert len(pace_figure({"reps": []}).data) == 0


def test_the_page_pieces_of_the_real_result(real):
    from movinet_crossfit.app.figures import pace_figure
    from movinet_crossfit.app.page import rep_rows, result_view

    result, _ = real
    as_json = result.to_dict()
    rows = rep_rows(as_json, result.thumbnails)
    assert len(rows) == as_json["count"] and all(r["thumbnail"].startswith("data:image/jpeg;base64,") for r in rows)
    plotted = sorted((x, y) for t in pace_figure(as_json).data if t.name for x, y in zip(t.x, t.y))
    assert plotted == [(r["index"], s) for r, s in zip(as_json["reps"], as_json["pace"]["seconds_per_rep"])]
    card = str(result_view(result, 1.0, "/overlay/JOB/overlay.mp4"))
    for wanted in ("id='movement'", "id='reps'", "id='pace'", "src='/overlay/JOB/overlay.mp4'",
                   "recognised from the poses", f"{as_json['valid_count']} valid", "id='overlay-video'"):
        assert wanted in card, wanted
    assert "id='overlay-video'" not in str(result_view(result, 1.0, None))


# -- with --model and --counter -------------------------------------------------------------------

def test_with_the_flags_the_model_names_the_movement_and_repnet_counts(analyser, cfmove_clips, countable):
    from movinet_crossfit.movinet.predict import predict_video

    clip = cfmove_clips / "thruster" / "thruster_2.mp4"
    result = analyser.analyse(clip, "thruster_2.mp4")
    expected = predict_video(clip, analyser.model)
    footage = result.footage
    assert footage.movement_source == "model" and footage.model_movement["label"] == expected.label
    assert footage.model_movement["probability"] == pytest.approx(expected.probabilities[expected.label], abs=1e-3)
    assert footage.movement_probability == footage.model_movement["probability"]
    assert footage.pose_movement is None or footage.pose_movement.label in analyser.standards.names()
    assert result.repnet is None and result.repnet_message.startswith("too short to count: 23 frames")
    as_json = result.to_dict()
    assert as_json["repnet"] == {"count": None, "message": result.repnet_message}
    assert set(as_json) == set(footage.to_dict()) | {"repnet"}
    # The generated 175-frame video: long enough for RepNet.
    counted = analyser.analyse(countable)
    assert counted.repnet is not None and counted.repnet_message == ""
    assert counted.repnet.num_frames == 175 and counted.repnet.source == countable.name
    assert "repnet" in counted.timings and counted.to_dict()["repnet"]["count"]["num_frames"] == 175
    about = analyser.describe()
    assert about["model"] == str(analyser.model) and about["counter"]["kind"] == "export"


def test_a_weights_folder_counts_too(tiny_export, support_dir, countable):
    weights = app_support.repnet_weights(support_dir)
    with_weights = Analyser(tiny_export[0], weights, counter_image_size=32)
    assert with_weights.describe()["counter"]["kind"] == "weights"
    result = with_weights.analyse(countable)
    assert result.repnet is not None and result.repnet.num_frames == 175


def test_bad_model_and_counter_paths_are_user_errors(tiny_export, tmp_path):
    from movinet_crossfit.core.errors import UserError

    with pytest.raises(UserError, match="no such model"):
        Analyser(tmp_path / "nothing")
    with pytest.raises(UserError, match="no such counter folder"):
        Analyser(tiny_export[0], tmp_path / "no-counter", warm_up=False)
    with pytest.raises(UserError, match="no BlazePose model file"):
        Analyser(pose_models=tmp_path)
    with pytest.raises(UserError, match="--pose-fps 0"):
        Analyser(pose_fps=0)


# -- jobs ---------------------------------------------------------------------------------------

def _queue_copy(runner: JobRunner, root: Path, source: Path, name: str, movement: str | None = None):
    folder = new_upload_dir(root)
    path = save_upload(_data_url(source.read_bytes()), name, folder, max_bytes=10**8)
    return runner.submit(path, name, folder, movement=movement), folder


def test_jobs_keep_their_own_results_and_their_overlays_until_they_expire(pose_analyser, cfmove_clips, tmp_path):
    from movinet_crossfit.core import video

    runner = JobRunner(pose_analyser)
    sources = [cfmove_clips / "thruster" / "thruster_6.mp4", cfmove_clips / "chest-to-bar" / "chest-to-bar_4.mp4",
               tmp_path / "notes.txt"]
    sources[2].write_text("not a video")
    jobs = [_queue_copy(runner, tmp_path / "uploads", s, s.name) for s in sources]
    done = [_wait(runner, job_id) for job_id, _ in jobs]
    for source, status, (_, folder) in zip(sources[:2], done[:2], jobs[:2]):
        assert status.state == DONE and status.result.name == source.name
        assert status.result.info.num_frames == video.probe(source).num_frames
        assert "check" in status.result.timings and status.folder == folder
        # The upload is gone; only its overlay is left, for the page to play.
        assert [p.name for p in folder.iterdir()] == ["overlay.mp4"] == [status.result.overlay.name]
    assert done[2].state == FAILED and done[2].error.startswith("notes.txt: ")
    assert not jobs[2][1].exists()
    assert runner.status("not-a-job") is None
    runner.keep_seconds = 0  # expired: the next look forgets them and removes their folders
    assert runner.status(jobs[0][0]) is None
    assert all(not folder.exists() for _, folder in jobs)
    runner.shutdown()


def test_shutdown_removes_every_jobs_folder(tmp_path, cfmove_clips):
    runner = JobRunner(_Exploding())
    job, folder = _queue_copy(runner, tmp_path, cfmove_clips / "thruster" / "thruster_5.mp4", "fine.mp4")
    assert _wait(runner, job).state == DONE and (folder / "overlay.mp4").is_file()
    runner.shutdown()
    assert not folder.exists()


def test_an_upload_is_probed_once(analyser, cfmove_clips, countable, tmp_path, monkeypatch):
    """The content check's probe is the one the analysis uses: poses, the model, RepNet, the
    thumbnails and the overlay are given it and never probe again."""
    probes = app_support.count_probes(monkeypatch)
    runner = JobRunner(analyser)
    for source, counted in ((countable, True), (cfmove_clips / "thruster" / "thruster_3.mp4", False)):
        probes.clear()
        status = _wait(runner, _queue_copy(runner, tmp_path, source, source.name)[0])
        assert status.state == DONE and (status.result.repnet is not None) == counted
        assert len(probes) == 1, probes
    runner.shutdown()
    probes.clear()
    clip = cfmove_clips / "thruster" / "thruster_3.mp4"
    assert analyser.analyse(clip).repnet_message.startswith("too short")  # no probe given: it probes, once
    assert len(probes) == 1, probes


class _Exploding:
    """Crashes on a file named boom.mp4, else returns a stub result with an overlay file."""

    def describe(self):
        return {"poses": "stub", "standards": ["thruster"], "standards_file": None, "model": None,
                "backend": None, "classes": None, "counter": None}

    def analyse(self, path, filename, info=None, progress=None, overlay_dir=None, movement=None, cancel=None,
                flip_rest=False):
        from types import SimpleNamespace

        self.flip_rest = flip_rest

        if filename == "boom.mp4":
            raise RuntimeError("the model fell over")
        overlay = None
        if overlay_dir is not None:
            overlay = Path(overlay_dir) / "overlay.mp4"
            overlay.write_bytes(b"\0\0\0\x18ftypmp42" + bytes(2000))
        footage = SimpleNamespace(movement=movement, movement_source="user" if movement else None,
                                  count=SimpleNamespace(count=0), valid_count=0, no_rep_count=0, unjudged_count=0)
        return SimpleNamespace(name=filename, info=info, footage=footage, overlay=overlay, timings={"total": 0.0})


def test_a_crash_is_reported_and_logged_and_the_next_job_runs(cfmove_clips, tmp_path, caplog):
    runner = JobRunner(_Exploding())
    clip = cfmove_clips / "thruster" / "thruster_5.mp4"
    boom, boom_folder = _queue_copy(runner, tmp_path, clip, "boom.mp4")
    fine, _ = _queue_copy(runner, tmp_path, clip, "fine.mp4", movement="thruster")
    crashed, ok = _wait(runner, boom), _wait(runner, fine)
    assert crashed.state == FAILED and "RuntimeError: the model fell over" in crashed.error
    assert boom in crashed.error  # the job id, to find the traceback in the log
    assert ok.state == DONE and ok.result.name == "fine.mp4" and ok.result.footage.movement == "thruster"
    assert "Traceback" in caplog.text and "the model fell over" in caplog.text
    assert not boom_folder.exists()
    runner.shutdown()
    assert not list(tmp_path.glob("upload-*"))


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


# -- the page's server side, the overlay route and the command ------------------------------------

def test_job_file_stays_inside_the_job_folder(tmp_path):
    from movinet_crossfit.app.server import job_file

    folder = tmp_path / "upload-x"
    folder.mkdir()
    (folder / "overlay.mp4").write_bytes(b"video")
    (tmp_path / "secret.txt").write_text("not yours")
    (folder / "link.mp4").symlink_to(tmp_path / "secret.txt")
    assert job_file(folder, "overlay.mp4") == (folder / "overlay.mp4").resolve()
    for name in ("../secret.txt", "../../etc/passwd", str(tmp_path / "secret.txt"), "/etc/passwd", "link.mp4",
                 "", ".", "missing.mp4", "sub/../../secret.txt"):
        assert job_file(folder, name) is None, name


def test_the_overlay_route_serves_only_the_jobs_overlay(cfmove_clips, tmp_path):
    from movinet_crossfit.app import create_app

    app = create_app(analyser=_Exploding(), max_upload_mb=2, upload_dir=tmp_path / "root")
    job, folder = _queue_copy(app.jobs, app.upload_root, cfmove_clips / "thruster" / "thruster_5.mp4", "a.mp4")
    other, other_folder = _queue_copy(app.jobs, app.upload_root, cfmove_clips / "thruster" / "thruster_6.mp4",
                                      "b.mp4")
    assert _wait(app.jobs, job).state == DONE and _wait(app.jobs, other).state == DONE
    (folder / "notes.txt").write_text("in the folder, not the overlay")
    (tmp_path / "root" / "secret.txt").write_text("outside the job folder")
    client = app.server.test_client()
    served = client.get(f"/overlay/{job}/overlay.mp4")
    assert served.status_code == 200 and served.mimetype == "video/mp4"
    assert served.data == (folder / "overlay.mp4").read_bytes()
    partial = client.get(f"/overlay/{job}/overlay.mp4", headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206 and len(partial.data) == 100  # what <video> asks for to seek
    for url in (f"/overlay/{job}/../secret.txt", f"/overlay/{job}/%2e%2e/secret.txt",
                f"/overlay/{job}/..%2fsecret.txt", f"/overlay/{job}/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                f"/overlay/{job}/notes.txt", f"/overlay/{job}/{other_folder.name}/overlay.mp4",
                f"/overlay/{job}/../{other_folder.name}/overlay.mp4", "/overlay/not-a-job/overlay.mp4"):
        assert client.get(url).status_code == 404, url
    # A path the route does not match falls to Dash's catch-all: its page, not the file.
    page = client.get(f"/overlay/{job}//etc/passwd")
    assert page.mimetype == "text/html" and b"root:" not in page.data
    app.jobs.shutdown()
    assert client.get(f"/overlay/{other}/overlay.mp4").status_code == 404  # removed with its job


def test_the_other_end_is_for_a_movement_counted_not_judged(tmp_path, cfmove_clips):
    """The upload's "the other end" box (``--flip-rest``) goes with the job to the analysis; with a
    judged movement or none it is a message on the page before the file is stored."""
    from movinet_crossfit.app.server import _start
    from movinet_crossfit.judging import load_standards

    analyser = _Exploding()
    analyser.standards = load_standards()
    runner = JobRunner(analyser)
    payload = {"contents": _data_url((cfmove_clips / "thruster" / "thruster_5.mp4").read_bytes()),
               "filename": "set.mp4"}
    for movement, words in (("thruster", "the other end with the movement 'thruster': its reps are judged"),
                            (None, "the other end needs the movement"), ("zumba", "no standards for it")):
        job, _, message, _, _ = _start(runner, payload, tmp_path, 10**8, movement, True)
        assert job is None and words in message.children, message
    assert not list(tmp_path.iterdir())  # nothing stored
    for flip in (True, False):
        job, _, message, _, _ = _start(runner, payload, tmp_path, 10**8, "sit-up", flip)
        assert job is not None and message == "", message
        assert _wait(runner, job["id"]).state == DONE and analyser.flip_rest is flip
    runner.shutdown()


def test_the_server_refuses_an_oversize_upload_that_skipped_the_browser_check(tmp_path):
    from movinet_crossfit.app.server import _start

    runner = JobRunner(_Exploding())
    payload = {"contents": _data_url(b"\0" * 3000), "filename": "huge.mp4"}
    job, disabled, message, _, _ = _start(runner, payload, tmp_path, max_bytes=1000)
    assert job is None and disabled is True
    assert "huge.mp4: 3 kB is over the 1 kB upload limit" in message.children
    assert not list(tmp_path.iterdir())
    refused = {"refused": "big.mp4: 3.0 MB is over the 1.0 MB upload limit", "filename": "big.mp4"}
    assert _start(runner, refused, tmp_path, 1000)[2].children == refused["refused"]
    runner.shutdown()


def test_the_page_is_served(pose_analyser, tmp_path):
    from movinet_crossfit.app import create_app

    app = create_app(analyser=pose_analyser, max_upload_mb=2, upload_dir=tmp_path)
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert "Drag and drop a video" in layout and "uploads up to 2.0 MB" in layout
    assert "recognised from the poses" in layout and "movement-choice" in layout and "wall-ball" in layout
    # the movements counted without judging, as analyze takes them, in both Movement boxes
    assert layout.count("sit-up (counted, not judged)") == 2 and "thruster (counted" not in layout
    assert "flip-choice" in layout and "camera-flip" in layout  # "the other end", on both tabs
    # ... greyed out until a movement counted, not judged, is chosen (the camera's script reads data-counted)
    boxes = ("flip-choice", "camera-flip")
    assert [app_support.props(layout, box)["options"][0]["disabled"] for box in boxes] == [True, True]
    counted = app_support.props(layout, "camera")["data-counted"].split(",")
    assert "sit-up" in counted and "pommel-horse" in counted and "thruster" not in counted
    from movinet_crossfit.analysis.online import FINDING_RHYTHM

    # the camera's pace line until a rhythm
    assert app_support.props(layout, "live-pace")["data-finding"] == FINDING_RHYTHM
    assert app.server.config["MAX_CONTENT_LENGTH"] < 8 * 2**20

    def choose(movement, ticked):
        answer = client.post("/_dash-update-component", json={
            "output": "..flip-choice.options...flip-choice.value..",
            "outputs": [{"id": "flip-choice", "property": "options"}, {"id": "flip-choice", "property": "value"}],
            "inputs": [{"id": "movement-choice", "property": "value", "value": movement}],
            "changedPropIds": ["movement-choice.value"],
            "state": [{"id": "flip-choice", "property": "value", "value": ticked}]})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        box = answer.get_json()["response"]["flip-choice"]
        return box["options"][0]["disabled"], box["value"]

    assert choose("sit-up", []) == (False, [])
    assert choose("pommel-horse", ["flip"]) == (False, ["flip"])  # kept while the choice allows it
    assert choose("thruster", ["flip"]) == (True, [])  # judged: its standard fixes where a rep starts
    assert choose("", ["flip"]) == (True, [])  # recognised: no movement to turn round
    app.jobs.shutdown()


def test_app_command_with_a_missing_model_is_one_clear_line(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "app", "--model", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "no such model folder" in done.stderr and "Traceback" not in done.stderr
    # No flags on a machine without the BlazePose files: one line saying how to get them.
    done = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "app"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MOVINET_CROSSFIT_POSE_MODELS": str(tmp_path)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no BlazePose model file" in done.stderr and "scripts/setup.sh" in done.stderr


# -- reliability: the size of a video, the queue, cancelling, odd requests, the log, the token ------

class _Recording(_Exploding):
    """Records the files it is asked to analyse (none: nothing was decoded)."""

    def __init__(self):
        self.analysed: list[str] = []

    def analyse(self, path, filename, **kwargs):
        self.analysed.append(filename)
        return super().analyse(path, filename, **kwargs)


def test_a_video_over_the_gigapixel_limit_is_refused_from_its_probe(support_dir, cfmove_clips, tmp_path):
    """The probe's 8K still video (7680x4320, 90 frames: 3.0 gigapixels) is refused at the default
    limit, from the probe, before the analysis decodes a frame; a lower limit refuses a real clip."""
    analyser = _Recording()
    runner = JobRunner(analyser)
    status = _wait(runner, _queue_copy(runner, tmp_path, app_support.still_8k(support_dir), "still8k.mp4")[0])
    assert status.state == FAILED and analyser.analysed == []
    assert status.error.startswith("still8k.mp4: 7680x4320, 90 frames is 3.0 gigapixels of video"), status.error
    assert "over this server's 2.5" in status.error and "--max-gigapixels" in status.error
    clip = cfmove_clips / "thruster" / "thruster_1.mp4"  # 854x480, 23 frames: 0.0094 gigapixels
    strict, loose = JobRunner(analyser, max_gigapixels=0.005), JobRunner(analyser, max_gigapixels=0.02)
    refused = _wait(strict, _queue_copy(strict, tmp_path, clip, "t1.mp4")[0])
    assert refused.state == FAILED and "over this server's 0.005" in refused.error and analyser.analysed == []
    assert _wait(loose, _queue_copy(loose, tmp_path, clip, "t1.mp4")[0]).state == DONE
    assert analyser.analysed == ["t1.mp4"]
    for each in (runner, strict, loose):
        each.shutdown()
    assert not list(tmp_path.glob("upload-*"))


@pytest.mark.parametrize("option,value", [("max_gigapixels", 0), ("max_gigapixels", float("nan")),
                                          ("max_queue", -1), ("max_upload_mb", -5)])
def test_bad_limits_are_user_errors_naming_the_option(tmp_path, option, value):
    from movinet_crossfit.app import create_app
    from movinet_crossfit.core.errors import UserError

    with pytest.raises(UserError, match="--" + option.replace("_", "-")):
        create_app(analyser=_Exploding(), upload_dir=tmp_path, **{option: value})


def test_a_full_queue_answers_busy_at_once_and_the_page_shows_the_position(cfmove_clips, tmp_path):
    from movinet_crossfit.app.server import _poll, _start

    gate = threading.Event()

    class Slow(_Exploding):
        def analyse(self, *args, **kwargs):
            gate.wait(60)
            return super().analyse(*args, **kwargs)

    runner = JobRunner(Slow(), max_queued=1)
    clip = cfmove_clips / "thruster" / "thruster_6.mp4"

    def upload(name):
        return _start(runner, {"contents": _data_url(clip.read_bytes()), "filename": name}, tmp_path, 10**8)

    first = upload("first.mp4")[0]
    deadline = time.monotonic() + 30
    while runner.status(first["id"]).state != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    second, _, _, progress, _ = upload("second.mp4")
    assert "queued: position 1 in line (1 upload ahead of yours)" in str(progress)
    assert "position 1 in line" in str(_poll(runner, second)[3])
    folders = sorted(tmp_path.iterdir())
    job, stopped, message, _, _ = upload("third.mp4")
    assert job is None and stopped is True
    assert message.children == ("third.mp4: the server is busy (1 upload waiting behind the one being analysed); "
                                "try again in a few minutes")
    assert sorted(tmp_path.iterdir()) == folders  # refused before anything was written
    gate.set()
    assert _wait(runner, first["id"]).state == DONE and _wait(runner, second["id"]).state == DONE
    assert upload("fourth.mp4")[0] is not None  # room again
    runner.shutdown()


def test_a_cancel_stops_the_poses_at_the_next_frame(pose_analyser, cfmove_clips, support_dir, monkeypatch):
    """Progress comes every 1 % of the frames (9 frames of this video); the cancel is seen at the
    very next one."""
    from movinet_crossfit.app.analysis import AnalysisCancelled

    cancel, frames = threading.Event(), []

    class Counting:
        def __init__(self, inner):
            self.__dict__["inner"] = inner

        def __call__(self, frame):
            frames.append(1)
            if len(frames) == 3:
                cancel.set()
            return self.inner(frame)

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __setattr__(self, name, value):
            setattr(self.inner, name, value)

    monkeypatch.setattr(pose_analyser, "tracker", Counting(pose_analyser.tracker))
    with pytest.raises(AnalysisCancelled):
        pose_analyser.analyse(app_support.long_video(support_dir, cfmove_clips), "long.mp4", cancel=cancel)
    assert len(frames) == 3


def test_shutdown_cancels_the_running_analysis(pose_analyser, cfmove_clips, support_dir, tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="movinet_crossfit.app")
    runner = JobRunner(pose_analyser)
    job, folder = _queue_copy(runner, tmp_path, app_support.long_video(support_dir, cfmove_clips), "long.mp4")
    waiting, _ = _queue_copy(runner, tmp_path, cfmove_clips / "thruster" / "thruster_2.mp4", "next.mp4")
    deadline = time.monotonic() + 120
    while runner.status(job).stage != "finding poses" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.status(job).stage == "finding poses" and folder.exists()
    assert runner.shutdown() is True  # the worker stopped within the wait
    cancelled = runner.status(job)
    assert cancelled.state == FAILED and "the server stopped before the analysis ended" in cancelled.error
    assert runner.status(waiting).state == FAILED and "shutting down" in runner.status(waiting).error
    assert f"job {job} (long.mp4) cancelled" in caplog.text and "reps (" not in caplog.text
    assert not list(tmp_path.glob("upload-*"))


@pytest.mark.parametrize("payload,job,movement,trigger", [
    (["not", "a", "dict"], None, "", "payload.data"),
    ("a string", None, "", "payload.data"),
    ({"contents": "data:video/mp4;base64,AAAA", "filename": "x.mp4"}, None, ["not", "a", "name"], "payload.data"),
    ({"refused": {"not": "text"}, "filename": "x.mp4"}, None, "", "payload.data"),
    (None, "not-a-dict", "", "poll.n_intervals"),
    (None, ["a", "list"], "", "poll.n_intervals"),
    (None, {"id": ["unhashable"]}, "", "poll.n_intervals"),
    (None, {"id": {"a": "dict"}}, "", "poll.n_intervals"),
])
def test_malformed_callback_requests_get_a_message_not_a_500(tmp_path, caplog, payload, job, movement, trigger):
    import logging

    from movinet_crossfit.app import create_app

    app = create_app(analyser=_Exploding(), upload_dir=tmp_path)
    answer = app.server.test_client().post("/_dash-update-component",
                                           json=app_support.update_request(payload, job, movement, trigger))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    message = answer.get_json()["response"]["message"]["children"]["props"]["children"]
    assert message in ("the upload did not arrive as a file; try again",
                       "this result is no longer on the server; upload the video again")
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not list(tmp_path.iterdir())
    app.jobs.shutdown()


def test_control_characters_in_file_names_are_escaped_in_the_log(tmp_path, caplog):
    import logging

    from movinet_crossfit.app.server import _start

    caplog.set_level(logging.INFO, logger="movinet_crossfit.app")
    runner = JobRunner(_Exploding())
    forged = "wod.mp4\n2024-05-01 09:00:00 INFO movinet_crossfit.app: job X (admin.mp4) done\r\x1b[2K\u2028.mp4"
    job = _start(runner, {"contents": _data_url(b"not a video"), "filename": forged}, tmp_path, 10_000)[0]
    failed = _wait(runner, job["id"])
    _start(runner, {"refused": f"{forged}: 3 MB is over the 1 MB upload limit", "filename": forged}, tmp_path, 10)
    runner.shutdown()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) >= 3 and any("queued" in m for m in messages) and any("refused" in m for m in messages)
    for message in messages:
        assert not any(c in message for c in "\n\r\x1b\u2028"), message
    # The name the app keeps draws them (it is shown on the page so); what the browser sent is escaped.
    shown = ("wod.mp4\u240a2024-05-01 09:00:00 INFO movinet_crossfit.app: job X (admin.mp4) done"
             "\u240d\u241b[2K\ufffd.mp4")
    assert caplog.text.count(f"({shown})") == 1 and caplog.text.count(f"{shown} queued") == 1
    assert ("browser: wod.mp4\\n2024-05-01 09:00:00 INFO movinet_crossfit.app: job X (admin.mp4) done"
            "\\r\\x1b[2K\\u2028") in caplog.text
    assert failed.state == FAILED and failed.error.startswith(shown + ": not a readable video"), failed.error


# -- access: the token, the address -------------------------------------------------------------

TOKEN = "test-token-0123456789abcdef"


def test_with_a_token_every_route_needs_it(cfmove_clips, tmp_path, monkeypatch):
    from movinet_crossfit.app import create_app
    from movinet_crossfit.app.server import TOKEN_COOKIE, TOKEN_ENV

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    app = create_app(analyser=_Exploding(), upload_dir=tmp_path / "root", token=TOKEN)
    job, _ = _queue_copy(app.jobs, app.upload_root, cfmove_clips / "thruster" / "thruster_5.mp4", "a.mp4")
    assert _wait(app.jobs, job).state == DONE
    routes = [("GET", "/"), ("GET", "/_dash-layout"), ("GET", "/_dash-dependencies"),
              ("POST", "/_dash-update-component"), ("GET", f"/overlay/{job}/overlay.mp4"),
              ("GET", "/_dash-component-suites/dash/dcc/dash_core_components.js"), ("GET", "/_favicon.ico"),
              ("GET", "/anything/else")]
    stranger = app.server.test_client()
    for method, path in routes:
        assert stranger.open(path, method=method).status_code == 401, path
    assert stranger.get("/?token=not-the-token-at-all").status_code == 401
    assert stranger.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    stranger.set_cookie(TOKEN_COOKIE, TOKEN)  # the token itself is not the cookie's value
    assert stranger.get("/").status_code == 401
    # ?token= once: a cookie, and the token taken out of the address.
    user = app.server.test_client()
    login = user.get(f"/?token={TOKEN}&lang=en")
    assert login.status_code == 303 and login.headers["Location"] == "/?lang=en"
    cookie = login.headers["Set-Cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}=") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert user.get("/").status_code == 200 and b"Drag and drop" in user.get("/_dash-layout").data
    assert user.get(f"/overlay/{job}/overlay.mp4").status_code == 200
    polled = user.post("/_dash-update-component", json=app_support.update_request(
        job={"id": "expired", "filename": "a.mp4"}, trigger="poll.n_intervals"))
    assert polled.status_code == 200 and "no longer on the server" in polled.get_data(as_text=True)
    bearer = app.server.test_client()
    assert bearer.get("/_dash-layout", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # A login address can only send the browser to this site.
    login = bearer.get("/", query_string={"token": TOKEN}, environ_overrides={"PATH_INFO": "//evil.example/"})
    assert login.status_code == 303 and login.headers["Location"] == "/evil.example/"
    app.jobs.shutdown()
    # The variable protects create_app() as a WSGI server builds it; "" turns it off.
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    from_env = create_app(analyser=_Exploding(), upload_dir=tmp_path / "env")
    assert from_env.server.test_client().get("/").status_code == 401
    off = create_app(analyser=_Exploding(), upload_dir=tmp_path / "off", token="")
    assert off.server.test_client().get("/").status_code == 200
    for each in (from_env, off):
        each.jobs.shutdown()


def test_a_short_token_and_a_remote_host_without_one_are_refused(monkeypatch):
    from movinet_crossfit.app import server
    from movinet_crossfit.core.errors import UserError

    monkeypatch.delenv(server.TOKEN_ENV, raising=False)
    assert [server.is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.1.1")] == [True] * 5
    assert [server.is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.20", "gym.local", "")] == [False] * 5

    def no_app(*args, **kwargs):
        raise AssertionError("nothing should load")

    monkeypatch.setattr(server, "create_app", no_app)
    with pytest.raises(UserError, match=r"--host 0\.0\.0\.0: .*--token TOKEN.*--allow-insecure-remote"):
        server.serve(host="0.0.0.0")
    with pytest.raises(UserError, match="at least 16 characters"):
        server.serve(token="short")
    with pytest.raises(AssertionError, match="nothing should load"):  # allowed: it goes on to load
        server.serve(host="0.0.0.0", allow_insecure_remote=True)
    with pytest.raises(AssertionError, match="nothing should load"):
        server.serve(host="0.0.0.0", token=TOKEN)


def test_app_command_on_a_remote_host_without_a_token_is_one_line():
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MOVINET_CROSSFIT_APP_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "app", "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--host 0.0.0.0" in done.stderr and "--allow-insecure-remote" in done.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served_command(tmp_path):
    """`movinet-crossfit app` (no flags, the token in $MOVINET_CROSSFIT_APP_TOKEN) in a subprocess,
    its temp folder (the upload root) under ``tmp_path/tmp``; its log lines as they come."""
    import socket
    import subprocess
    import sys
    from types import SimpleNamespace

    port, temp = _free_port(), tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "MOVINET_CROSSFIT_APP_TOKEN": TOKEN}
    process = subprocess.Popen([sys.executable, "-m", "movinet_crossfit.cli", "app", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    assert process.poll() is None, "".join(lines)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", process=process, lines=lines, temp=temp, reader=reader)
    if process.poll() is None:
        process.kill()
        process.wait()


def test_the_served_app_needs_its_token_and_sigterm_cancels_the_job_and_removes_the_upload(
        served_command, support_dir, cfmove_clips):
    import http.cookiejar
    import json
    import signal
    import urllib.error
    import urllib.request

    url, process = served_command.url, served_command.process

    def post(opener, body):
        request = urllib.request.Request(url + "/_dash-update-component", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        return json.loads(opener.open(request, timeout=60).read())["response"]

    stranger = urllib.request.build_opener()
    for path in ("/", "/_dash-layout", "/overlay/x/overlay.mp4", "/?token=wrong"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            stranger.open(url + path, timeout=60)
        assert refused.value.code == 401, path
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(stranger, app_support.update_request(None, {"id": "x"}, trigger="poll.n_intervals"))
    assert refused.value.code == 401
    user = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = user.open(f"{url}/?token={TOKEN}", timeout=60)  # redirected to / with the cookie
    assert page.status == 200 and page.geturl() == url + "/"
    assert b"Drag and drop" in user.open(url + "/_dash-layout", timeout=60).read()

    video = app_support.long_video(support_dir, cfmove_clips)
    job = post(user, app_support.update_request({"contents": _data_url(video.read_bytes()),
                                                 "filename": "long.mp4"}))["job"]["data"]
    assert job["filename"] == "long.mp4"
    deadline, stage = time.monotonic() + 300, ""
    while "finding poses" not in stage and time.monotonic() < deadline:
        stage = json.dumps(post(user, app_support.update_request(job=job, trigger="poll.n_intervals")))
        time.sleep(0.2)
    assert "finding poses" in stage, stage
    uploads = list(served_command.temp.glob("movinet-crossfit-app-*/upload-*/*"))
    assert [p.name.split("-", 1)[1] for p in uploads] == ["long.mp4"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    served_command.reader.join(timeout=30)  # its last lines read (the reader ends at the output's end)
    log = "".join(served_command.lines)
    assert f"job {job['id']} (long.mp4) cancelled" in log and "reps (" not in log, log
    assert "Traceback" not in log
    assert not list(served_command.temp.glob("movinet-crossfit-app-*")), list(served_command.temp.rglob("*"))
