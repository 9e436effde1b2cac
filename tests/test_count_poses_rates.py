"""`count --poses` with a frame rate that is not a positive finite number, from the file or --fps:
one line naming where the rate came from, exit status 2, never a traceback (issue 16, item 8)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.posecount.count import count_poses_file


def poses_file(folder, fps) -> str:
    path = folder / f"poses-{fps}.npz"
    keypoints = np.random.default_rng(0).random((60, 17, 3)).astype(np.float32)
    np.savez(path, keypoints=keypoints, fps=np.float64(fps), layout=np.array("coco17"))
    return str(path)


@pytest.mark.parametrize("in_file, option, message", [
    ("nan", None, "its frame rate is nan"),
    ("inf", None, "its frame rate is inf"),
    ("-30", None, "its frame rate is -30.0"),
    ("nan", "inf", "--fps inf"),     # the exact case: a NaN file and --fps inf
    ("30", "nan", "--fps nan"),
    ("30", "-1", "--fps -1.0"),
])
def test_a_rate_that_is_not_positive_and_finite_is_one_line(tmp_path, in_file, option, message):
    path = poses_file(tmp_path, float(in_file))
    with pytest.raises(UserError, match="need a positive, finite frame rate") as error:
        count_poses_file(path, fps=None if option is None else float(option))
    assert message in str(error.value)
    if in_file != "nan":  # the CLI (a process each) for the two inputs only
        return
    env = {**os.environ, "MOVINET_CROSSFIT_PROGRESS": "0"}
    args = [] if option is None else ["--fps", option]
    done = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "count", "--poses", path, *args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and message in done.stderr


def test_a_good_option_overrides_a_bad_rate_in_the_file(tmp_path):
    result = count_poses_file(poses_file(tmp_path, float("nan")), fps=30.0)
    assert result.fps == 30.0 and result.num_frames == 60
