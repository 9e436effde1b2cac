"""The pose counter on real footage: the 80 RepCount-A dev videos (BlazePose poses, min-max normalised
per frame; ../shared/data/repcount_pose), one fixed class-agnostic configuration, 30 fps assumed.
The full report with out-of-fold numbers is benchmarks/bench_repcount.py."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
from conftest import SHARED_DATA

from movinet_crossfit.posecount.count import count_repetitions
from movinet_crossfit.posecount.evaluate import evaluate_repcount, load_repcount


@pytest.fixture(scope="module")
def repcount():
    folder = SHARED_DATA / "repcount_pose"
    if not (folder / "dev.csv").is_file():
        pytest.skip(f"RepCount pose data not found at {folder} (set MOVINET_CROSSFIT_SHARED_DATA); CI always has it")
    try:
        from threadpoolctl import threadpool_limits
        one_core = threadpool_limits(1)  # processor time of one core, not of idle BLAS threads
    except ImportError:
        one_core = contextlib.nullcontext()
    videos = load_repcount(folder)
    with one_core:
        return videos, evaluate_repcount(videos)


def test_counts_real_videos_within_the_target(repcount):
    videos, result = repcount
    assert len(videos) == 80 and len(result.items) == 80
    assert result.mae <= 0.25 and result.obo >= 0.60, (result.mae, result.obo)
    # One configuration for every class: none is counted wildly off as a whole.
    assert all(0.5 <= row["predicted_over_true"] <= 1.5 for row in result.per_class.values()), result.per_class


def test_rep_boundaries_match_the_annotation(repcount):
    _, result = repcount
    boundaries = result.boundaries
    assert boundaries["f1"] >= 0.65, boundaries
    assert boundaries["median_error_frames"] <= 3, boundaries


def test_counts_at_over_100x_real_time_on_one_core(repcount):
    _, result = repcount
    assert result.times_real_time >= 100, (result.cpu_seconds, result.video_seconds)


def test_reps_lie_in_sets_and_gaps_between_them(repcount):
    _, result = repcount
    for found in result.results:
        assert sum(s.count for s in found.sets) == found.count
        for rep in found.reps:
            assert any(s.start_frame <= rep.start_frame <= rep.end_frame <= s.end_frame for s in found.sets)
        for before, after in zip(found.sets, found.sets[1:]):
            assert before.end_frame < after.start_frame
        for gap in found.gaps:
            assert gap.kind in ("rest", "missing") and gap.start_frame <= gap.end_frame
            if gap.kind == "rest":
                assert not any(s.start_frame <= gap.start_frame <= s.end_frame for s in found.sets)
    nobody = next(f for v, f in zip(repcount[0], result.results) if v.name == "test534")  # nobody in any frame
    assert nobody.count == 0 and "nobody" in nobody.note


def test_a_real_video_put_back_into_pixels_counts_the_same(repcount):
    """Per frame a random scale and offset, as a moving, zooming camera would give."""
    videos, result = repcount
    index = next(i for i, v in enumerate(videos) if v.name == "stu2_25")
    shapes = videos[index].keypoints
    rng = np.random.default_rng(1)
    pixels = shapes * rng.uniform(200, 600, (len(shapes), 1, 3)) + rng.uniform(0, 500, (len(shapes), 1, 3))
    assert count_repetitions(pixels, 30.0).count == result.results[index].count == videos[index].count
