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
