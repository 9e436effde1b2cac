"""The command line's conventions: one line and exit 2 for a user's mistake, --version, module entry,
consistent verbs with the old names still working, defaults taken from the library."""
from __future__ import annotations

import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "movinet_crossfit", *args], capture_output=True, text=True,
                          timeout=120)


def test_version_on_stdout():
    from movinet_crossfit import __version__

    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"movinet-crossfit {__version__}"


@pytest.mark.parametrize("verb", ["evaluate-counter", "eval-counter"])
def test_bad_strides_is_one_line_and_exit_2(tmp_path, verb):
    done = _run(verb, str(tmp_path / "counting.json"), "--strides", "1,a")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "--strides '1,a': expected comma-separated integers" in done.stderr


def test_count_bad_strides_is_one_line(tmp_path):
    done = _run("count", str(tmp_path / "v.mp4"), "--strides", ",")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--strides" in done.stderr


def test_old_verb_is_hidden_but_works():
    listing = _run("--help").stdout
    assert "evaluate-counter" in listing and "eval-counter " not in listing
    assert _run("eval-counter", "--help").returncode == 0


def test_defaults_come_from_the_library():
    from movinet_crossfit.cli import counting, data
    from movinet_crossfit.data.records import RecordsConfig
    from movinet_crossfit.data.splits import parse_ratios
    from movinet_crossfit.repnet.infer import CountOptions

    assert data._RECORDS == RecordsConfig()
    assert parse_ratios(data.format_ratios(RecordsConfig().ratios)) == RecordsConfig().ratios
    assert counting._COUNT == CountOptions()
    assert tuple(int(s) for s in counting._STRIDES.split(",")) == CountOptions().strides


def test_parse_int_list():
    from movinet_crossfit.cli._common import parse_int_list
    from movinet_crossfit.core.errors import UserError

    assert parse_int_list("1, 2,3", "--x") == (1, 2, 3)
    for bad in ("", "1,a", "1.5"):
        with pytest.raises(UserError, match="--x"):
            parse_int_list(bad, "--x")


@pytest.mark.parametrize("verb", ["train-poses", "train"])
def test_config_file_mistakes_are_one_line(tmp_path, verb):
    args = [str(tmp_path)] if verb == "train-poses" else ["--records", str(tmp_path)]
    missing = _run(verb, *args, "--out", str(tmp_path / "run"), "--config", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "missing.yaml: no such config file" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: ten\n")
    typed = _run(verb, *args, "--out", str(tmp_path / "run"), "--config", str(bad))
    assert typed.returncode == 2 and "Traceback" not in typed.stderr
    assert "epochs" in typed.stderr and "integer" in typed.stderr


def test_format_choices_are_validated(tmp_path):
    done = _run("predict", str(tmp_path / "v.mp4"), "--format", "xml")
    assert done.returncode == 2 and "'xml' is not one of" in done.stderr


@pytest.mark.parametrize("rate", ["nan", "inf", "0"])
def test_count_poses_with_a_frame_rate_that_is_not_a_number_is_one_line(tmp_path, rate):
    import numpy as np

    poses = tmp_path / "p.npz"
    np.savez(poses, keypoints=np.zeros((40, 17, 2), np.float32), layout=np.array("coco17"))
    done = _run("count", "--poses", str(poses), "--fps", rate)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "need a positive, finite frame rate" in done.stderr
