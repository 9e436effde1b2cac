"""Output conventions of the command line and the library: results on stdout, progress, reports and
log records on stderr; the library logs (never prints) and stays silent unless logging is set up;
--strict for batches; progress bars in terminals and Jupyter; choice options validated."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest


def _cli(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "movinet_crossfit", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MOVINET_CROSSFIT_PROGRESS": "0", **(env or {})})


def _squats(path, reps: int = 6, fps: float = 30.0) -> None:
    """COCO-17 keypoints going down and up ``reps`` times: something the pose counter counts."""
    t = np.arange(int(reps * 2.0 * fps)) / fps
    base = np.stack([np.linspace(100, 200, 17), np.linspace(50, 300, 17)], -1)
    depth = 40 * (1 - np.cos(2 * np.pi * t / 2.0)) / 2
    keypoints = base[None] + np.stack([np.zeros_like(t), depth], -1)[:, None, :] * (np.arange(17) < 13)[None, :, None]
    np.savez(path, keypoints=keypoints.astype(np.float32), fps=np.float32(fps), layout="coco17")


# --- stdout for results, stderr for the rest ------------------------------------------------------

def test_count_result_on_stdout_and_json_stays_pure(tmp_path):
    _squats(tmp_path / "p.npz")
    table = _cli("count", "--poses", tmp_path / "p.npz", "--json", tmp_path / "r.json")
    assert table.returncode == 0, table.stderr
    assert "reps in" in table.stdout and f"result -> {tmp_path / 'r.json'}" in " ".join(table.stdout.split())
    assert "reps" not in table.stderr
    as_json = _cli("count", "--poses", tmp_path / "p.npz", "--format", "json", "--json", tmp_path / "r.json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["count"] == json.loads((tmp_path / "r.json").read_text())["count"]
    assert "result ->" in as_json.stderr  # beside JSON, the side lines go to stderr


def _pose_batch(tmp_path) -> list:
    np.savez(tmp_path / "good.npz", reconstruction=np.random.default_rng(0).uniform(0, 100, (8, 17, 2)), fps=30.0)
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    return ["poses", tmp_path / "good.npz", tmp_path / "bad.npz", "--from", "vitpose", "-o", tmp_path / "out",
            "--overwrite"]


def test_a_batch_with_one_bad_item_reports_on_stderr_and_fails_only_under_strict(tmp_path):
    args = _pose_batch(tmp_path)
    lenient = _cli(*args)
    assert lenient.returncode == 0, lenient.stderr
    assert "good.npz" in lenient.stdout and "bad.npz" not in lenient.stdout
    assert "1 failed" in lenient.stderr and "not a readable" in lenient.stderr
    strict = _cli(*args, "--strict")
    assert strict.returncode == 1
    assert "1 of 2 inputs failed (--strict)" in strict.stderr
    assert "good.npz" in strict.stdout  # what did work is still said, and written
    assert (tmp_path / "out" / "good.npz").is_file()


def test_finish_batch_counts_the_failures(capsys):
    import typer

    from movinet_crossfit.cli._common import finish_batch
    from movinet_crossfit.core.progress import BatchReport

    report = BatchReport("split")
    for name in ("a", "b", "c"):
        report.ok(name)
    report.fail("d", "unreadable")
    finish_batch(report, "clips -> out", strict=False, noun="clips")
    captured = capsys.readouterr()
    assert captured.out.strip() == "clips -> out" and "split: 3 done" in captured.err
    with pytest.raises(typer.Exit) as stopped:
        finish_batch(report, "clips -> out", strict=True, noun="clips")
    assert stopped.value.exit_code == 1
    assert "1 of 4 clips failed (--strict)" in capsys.readouterr().err
    every = BatchReport("split")
    every.fail("a", "unreadable")
    with pytest.raises(typer.Exit):
        finish_batch(every, None)
    assert "1 of 1 items failed" in capsys.readouterr().err


def test_demo_summary_goes_to_stdout(capsys, tmp_path):
    from movinet_crossfit.cli.run import _print_demo_outputs

    analysis = {"count": 6, "true_count": 6, "valid": 4, "no_reps": 2, "verdicts_matching_faults": 6,
                "overlay": str(tmp_path / "o.mp4")}
    _print_demo_outputs({"analysis": analysis, "records": tmp_path / "tfrecords", "test_accuracy": 0.9,
                         "test_clips": 36}, tmp_path)
    captured = capsys.readouterr()
    assert "test accuracy 0.900 on 36 clips" in captured.out and "records -> " in captured.out
    assert captured.err == ""


# --- logging ------------------------------------------------------------------------------------

def _corpus_with_one_failure(out_dir, monkeypatch):
    from movinet_crossfit.synthetic import corpus

    real = corpus._render_job

    def render(out, dataset, name, *args):
        if name.endswith("0000.mp4"):
            raise RuntimeError("the encoder fell over")
        return real(out, dataset, name, *args)

    monkeypatch.setattr(corpus, "_render_job", render)
    return corpus.generate_corpus(out_dir, classes=["thruster"], clips_per_class=2, size=(64, 64), workers=1,
                                  max_per_video=1)


def test_library_logs_its_report(tmp_path, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="movinet_crossfit"):
        summary = _corpus_with_one_failure(tmp_path / "corpus", monkeypatch)
    assert len(summary.failed) == 1
    failures = [r for r in caplog.records if "the encoder fell over" in r.getMessage()]
    assert failures and failures[0].levelno == logging.WARNING
    assert failures[0].name == "movinet_crossfit.synthetic.corpus"


_SILENT = """
import sys
from movinet_crossfit.synthetic import corpus
class Patch:
    def setattr(self, owner, name, value):
        setattr(owner, name, value)
sys.path.insert(0, {tests!r})
from test_cli_output import _corpus_with_one_failure
summary = _corpus_with_one_failure({out!r}, Patch())
assert len(summary.failed) == 1
"""


def test_library_prints_nothing_when_logging_is_not_set_up(tmp_path):
    """Python's last-resort handler would print the warnings to stderr; the package's NullHandler
    leaves the choice to whoever embeds the library."""
    code = _SILENT.format(tests=os.path.dirname(__file__), out=str(tmp_path / "corpus"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MOVINET_CROSSFIT_PROGRESS": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_cli_shows_library_log_records_on_stderr(tmp_path):
    manifest = {"version": 1, "classes": ["thruster"], "clips": [
        {"id": "v_0", "video": "v.mp4", "group": "v", "label": "thruster", "start_frame": 0, "end_frame": 30}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    done = _cli("records", tmp_path / "manifest.json", "--clips", tmp_path / "clips", "-o", tmp_path / "records")
    assert done.returncode == 2, done.stderr
    assert "clip file not found" in done.stderr and "no usable clips" in done.stderr
    assert done.stdout == ""
    quiet = _cli("-q", "records", tmp_path / "manifest.json", "--clips", tmp_path / "clips", "-o", tmp_path / "r")
    assert "clip file not found" in quiet.stderr  # a failure is a warning: -q keeps it


def test_verbosity_options_choose_the_records_shown_and_are_undone_after(tmp_path, monkeypatch, caplog):
    from typer.testing import CliRunner

    from movinet_crossfit.cli import app
    from movinet_crossfit.posecount import count

    real = count.count_poses_file

    def chatty(*args, **kwargs):
        library = logging.getLogger("movinet_crossfit.posecount.count")
        library.debug("a debug detail")
        library.info("an info line")
        library.warning("a warning")
        return real(*args, **kwargs)

    monkeypatch.setattr(count, "count_poses_file", chatty)
    _squats(tmp_path / "p.npz")
    package = logging.getLogger("movinet_crossfit")
    before = (package.level, package.propagate, list(package.handlers))
    shown = {}
    for flag in ("-v", None, "-q"):
        result = CliRunner().invoke(app, [*([flag] if flag else []), "count", "--poses", str(tmp_path / "p.npz")])
        assert result.exit_code == 0, result.output
        assert "reps in" in result.stdout and "a warning" not in result.stdout
        shown[flag] = [m for m in ("a debug detail", "an info line", "a warning") if m in result.stderr]
        assert (package.level, package.propagate, list(package.handlers)) == before  # undone
    assert shown == {"-v": ["a debug detail", "an info line", "a warning"], None: ["an info line", "a warning"],
                     "-q": ["a warning"]}
    with caplog.at_level(logging.INFO, logger="movinet_crossfit"):  # logging works as before for the caller
        chatty(tmp_path / "p.npz")
    assert "an info line" in caplog.text


# --- progress bars ------------------------------------------------------------------------------

def test_progress_bars_on_terminals_and_in_jupyter_only(monkeypatch):
    import io

    from rich.console import Console

    from movinet_crossfit.core import progress

    monkeypatch.delenv("MOVINET_CROSSFIT_PROGRESS", raising=False)
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(var, raising=False)
    log_file = Console(file=io.StringIO())
    terminal = Console(file=io.StringIO(), force_terminal=True)
    notebook = Console(file=io.StringIO(), force_jupyter=True)
    assert not progress.progress_enabled(log_file)
    assert progress.progress_enabled(terminal)
    assert progress.progress_enabled(notebook)
    monkeypatch.setattr(progress, "console", notebook)  # the default is the stderr console
    assert progress.progress_enabled()
    monkeypatch.setenv("MOVINET_CROSSFIT_PROGRESS", "0")
    assert not progress.progress_enabled(terminal) and not progress.progress_enabled(notebook)


# --- choices ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, choice", [
    (["predict", "v.mp4", "--variant", "int4"], "'fp32', 'fp16', 'dynamic', 'int8'"),
    (["split", "manifest.json", "--preset", "fastest"], "'ultrafast'"),
    (["evaluate", "run", "--tta", "mirror"], "'clips+flip'"),
    (["count", "--poses", "p.npz", "--layout", "openpose"], "'coco17', 'mediapipe33'"),
])
def test_a_bad_choice_is_exit_2_with_the_choices(args, choice):
    done = _cli(*args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert choice in " ".join(done.stderr.replace("│", " ").split())


def test_repnet_variants_are_the_library_s():
    from movinet_crossfit.cli.counting import REPNET_VARIANTS
    from movinet_crossfit.repnet.model import VARIANTS

    assert REPNET_VARIANTS == VARIANTS


def test_train_prints_its_result_on_stdout(monkeypatch, capsys, tmp_path):
    """The train command's `--out` option shadows nothing it prints with (a finished run once crashed
    there); the library's training is replaced, the command's own wiring is what is tested."""
    import movinet_crossfit.movinet.train as training
    from movinet_crossfit.cli import main

    seen = {}
    monkeypatch.setattr(training, "train", lambda cfg: seen.setdefault("config", cfg))
    monkeypatch.setattr(training, "describe", lambda result: f"trained into {result.out}")
    (tmp_path / "records").mkdir()
    with pytest.raises(SystemExit) as ended:
        main(["train", "--records", str(tmp_path / "records"), "--out", str(tmp_path / "run"), "--from-scratch"])
    assert ended.value.code in (0, None)
    assert f"trained into {tmp_path / 'run'}" in " ".join(capsys.readouterr().out.split())
    assert seen["config"].from_scratch


def test_a_command_whose_extra_is_missing_names_the_extra_in_one_line(tmp_path):
    """Without TensorFlow (a plain or `[lite]` install), `train` says which extra to add: exit 2, no traceback."""
    blocker = ("import sys, importlib.abc\n"
               "class Block(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] in ('tensorflow', 'tf_keras', 'official'):\n"
               "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
               "sys.meta_path.insert(0, Block())\n"
               "from movinet_crossfit.cli import main\n"
               "main(sys.argv[1:])\n")
    (tmp_path / "records").mkdir()
    done = subprocess.run([sys.executable, "-c", blocker, "train", "--records", str(tmp_path / "records"),
                           "--out", str(tmp_path / "run"), "--from-scratch"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MOVINET_CROSSFIT_PROGRESS": "0"})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "[tf] extra" in done.stderr, done.stderr
