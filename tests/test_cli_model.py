"""The model commands from a shell: predict prints the same answer as the library."""
from __future__ import annotations

import json
import subprocess
import sys

from movinet_crossfit.movinet.predict import predict_video


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", *map(str, args)], capture_output=True,
                          text=True)


def test_predict_command_json_matches_library(tiny_export, cfmove_clips):
    export_dir, _ = tiny_export
    clip = cfmove_clips / "thruster" / "thruster_3.mp4"
    done = _cli("predict", clip, "--model", export_dir, "--backend", "tflite", "--format", "json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    expected = predict_video(clip, export_dir, backend="tflite")
    assert printed["label"] == expected.label
    assert abs(printed["probabilities"][expected.label] - expected.probability) < 1e-6


def test_predict_command_result_is_on_stdout(tiny_export, cfmove_clips):
    export_dir, _ = tiny_export
    clip = cfmove_clips / "thruster" / "thruster_3.mp4"
    done = _cli("predict", clip, "--model", export_dir, "--backend", "tflite")
    assert done.returncode == 0, done.stderr
    expected = predict_video(clip, export_dir, backend="tflite")
    assert f"{clip}: {expected.label} ({expected.probability:.2f}) via tflite" in done.stdout
    assert "movement" in done.stdout and "probability" in done.stdout  # the table
    assert "via tflite" not in done.stderr and "probability" not in done.stderr


def test_predict_command_bad_video_is_one_clear_line(tiny_export, tmp_path):
    export_dir, _ = tiny_export
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    done = _cli("predict", bad, "--model", export_dir)
    assert done.returncode == 2
    assert "notes.mp4" in done.stderr and "Traceback" not in done.stderr


def test_evaluate_command_needs_a_run(tmp_path):
    done = _cli("evaluate", tmp_path / "no-run")
    assert done.returncode == 2
    assert "no such run folder" in done.stderr


def test_train_pretrained_offline_says_which_file_to_place_where(tiny_records, tmp_path):
    import os
    import socket

    with socket.socket() as sock:  # a port nothing listens on: the network is "down"
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MOVINET_CROSSFIT_PRETRAINED_URL": f"http://127.0.0.1:{port}",
           "MOVINET_CROSSFIT_CACHE": str(tmp_path / "cache"), "no_proxy": "127.0.0.1,localhost"}
    done = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "train", "--records", str(tiny_records),
                           "--out", str(tmp_path / "run"), "--pretrained", "a0"], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    flat = " ".join(done.stderr.split())  # the console may wrap the one line
    assert f"download movinet_a0_base.tar.gz from http://127.0.0.1:{port}/movinet_a0_base.tar.gz" in flat
    assert str(tmp_path / "cache" / "pretrained" / "movinet_a0_base.tar.gz") in flat and "--archive" in flat
    assert not (tmp_path / "run").exists()  # it stopped before making a run folder


def test_train_takes_seed_validation_split_select_best_and_deterministic(tiny_records, tmp_path):
    done = _cli("train", "--records", tiny_records, "--out", tmp_path / "run", "--from-scratch", "--seed", "5",
                "--validation-split", "nope", "--no-select-best", "--deterministic")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "no 'nope' clips to validate on; pass --validation-split with one of" in " ".join(done.stderr.split())
