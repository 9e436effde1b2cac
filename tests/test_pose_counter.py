"""The class-agnostic pose counter on generated pose sequences with known rep counts (every default
movement), made harder in the ways real pose tracks are hard; on synthetic squats (N reps give N, in
sets, in any coordinates); its file formats (RepCount .npy included) and commands. The real-video
check is tests/test_repcount_real.py."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.metrics import count_metrics
from movinet_crossfit.core.movements import DEFAULT_CLASSES
from movinet_crossfit.pose.sequence import load_poses
from movinet_crossfit.synthetic import SegmentSpec
from movinet_crossfit.posecount.count import LAYOUTS, count_repetitions, plot_pose_count, pose_features
from movinet_crossfit.posecount.signal import per_frame_minmax
from movinet_crossfit.posecount.evaluate import evaluate_on_corpus, perturb

FPS = 30.0


@pytest.fixture(scope="session")
def sequences():
    """Two sequences per movement, 4-15 reps each, with their true counts (COCO-17, pixels)."""
    from movinet_crossfit.synthetic import SegmentSpec
    from movinet_crossfit.synthetic.corpus import render_keypoints

    rng = np.random.default_rng(5)
    out = []
    for i, label in enumerate(DEFAULT_CLASSES):
        for k in range(2):
            reps = int(rng.integers(4, 16))
            keypoints, truths = render_keypoints([SegmentSpec(label, reps)], seed=1000 + 10 * i + k)
            out.append((label, keypoints, sum(t.count for t in truths)))
    return out


def _score(sequences, transform=lambda kp, rng: kp, layout="coco17"):
    rng = np.random.default_rng(0)
    predicted = [count_repetitions(transform(kp, rng), FPS, layout).count for _, kp, _ in sequences]
    metrics = count_metrics(predicted, [true for _, _, true in sequences])
    return metrics["mae"], metrics["obo"]


def test_counts_every_movement(sequences):
    mae, obo = _score(sequences)
    assert mae <= 0.12 and obo >= 0.8, (mae, obo)


@pytest.mark.parametrize("name, options", [
    ("missing frames and joints", {"drop": 0.2}),
    ("jitter", {"jitter": 0.05}),
    ("a pause", {"pause": 0.3}),
    ("the other side of the camera", {"mirror": True}),
    ("wrists out of view", {"hide": (9, 10)}),
])
def test_robust_to(sequences, name, options):
    mae, obo = _score(sequences, lambda kp, rng: perturb(kp, rng, **options))
    assert mae <= 0.2 and obo >= 0.75, (name, mae, obo)


def test_fatigue_drift_of_the_period(sequences):
    def slow_down(kp, rng):  # resample so the last rep takes ~40 % longer than the first
        n = len(kp)
        warp = np.cumsum(1.0 / (1.0 + 0.4 * np.linspace(0, 1, int(n * 1.2))))
        warp = warp / warp[-1] * (n - 1)
        return np.stack([np.stack([np.interp(warp, np.arange(n), kp[:, j, c]) for c in range(2)], -1)
                         for j in range(kp.shape[1])], 1)

    mae, obo = _score(sequences, slow_down)
    assert mae <= 0.2 and obo >= 0.75, (mae, obo)


def test_normalised_coordinates_and_the_mediapipe_layout_count_the_same(sequences):
    label, keypoints, true = sequences[0]
    base = count_repetitions(keypoints, FPS, "coco17").count
    normalised = keypoints / np.array([320.0, 240.0])
    assert count_repetitions(normalised, FPS, "coco17").count == base
    per_frame = (keypoints - keypoints.mean(1, keepdims=True)) / keypoints.std(1, keepdims=True)
    assert abs(count_repetitions(per_frame, FPS, "coco17").count - true) <= 1
    mediapipe = np.full((len(keypoints), 33, 3), np.nan)
    mediapipe[:, list(LAYOUTS["mediapipe33"]), :2] = keypoints[:, list(LAYOUTS["coco17"])]
    mediapipe[..., 2] = 0.1  # a z channel, ignored
    assert count_repetitions(mediapipe, FPS, "mediapipe33").count == base


def test_no_repetition_no_count(sequences):
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(1)
    base = sequences[0][1][100]
    for _ in range(10):
        drift = gaussian_filter1d(rng.normal(0, 1, (400, 17, 2)), sigma=rng.uniform(5, 30), axis=0) * 20
        assert count_repetitions(base[None] + drift, FPS, "coco17").count == 0
    still = count_repetitions(np.repeat(base[None], 200, 0), FPS, "coco17")
    assert still.count == 0 and "static" in still.note and still.method == "" and still.to_dict()["method"] == ""


def test_reps_and_per_frame_outputs(sequences, tmp_path):
    label, keypoints, true = sequences[2]
    result = count_repetitions(keypoints, FPS, "coco17")
    assert len(result.reps) == result.count
    starts = [r.start_frame for r in result.reps]
    assert starts == sorted(starts) and all(r.end_frame > r.start_frame for r in result.reps)
    assert all(r.start_time == pytest.approx(r.start_frame / FPS, abs=1e-3) for r in result.reps)
    assert result.periodicity.shape == result.signal.shape == (len(keypoints),)
    assert 0.5 * len(keypoints) / true < result.period < 2.0 * len(keypoints) / true
    assert sum(s.count for s in result.sets) == result.count
    written = json.loads(json.dumps(result.to_dict()))
    assert written["count"] == result.count and len(written["sets"]) == len(result.sets)
    assert plot_pose_count(result, tmp_path / "p.png", label).stat().st_size > 10_000


def test_bad_keypoints_are_clear_errors():
    with pytest.raises(UserError, match="expected \\(frames, 33, 2 or 3\\)"):
        count_repetitions(np.zeros((50, 17, 2)), FPS, "mediapipe33")
    with pytest.raises(UserError, match="unknown keypoint layout"):
        count_repetitions(np.zeros((50, 17, 2)), FPS, "openpose")
    with pytest.raises(UserError, match="fps must be positive"):
        count_repetitions(np.zeros((50, 17, 2)), 0.0, "coco17")
    # Nobody in view is an answer (0 reps, said why), not an error: a batch of real videos goes on.
    nobody = count_repetitions(np.full((50, 17, 2), np.nan), FPS, "coco17")
    assert nobody.count == 0 and "nobody" in nobody.note and nobody.gaps[0].kind == "missing"
    assert pose_features(np.random.default_rng(0).normal(size=(50, 17, 2)), "coco17")[0].shape[0] == 50


def test_pose_files_in_every_format(sequences, tmp_path):
    keypoints = sequences[0][1]
    np.savez(tmp_path / "ours.npz", keypoints=keypoints, fps=np.float32(25), layout="coco17")
    points, fps, layout = load_poses(tmp_path / "ours.npz")
    assert points.shape == keypoints.shape and fps == 25 and layout == "coco17"
    np.savez(tmp_path / "vitpose.npz", reconstruction=np.concatenate([keypoints, np.ones_like(keypoints[..., :1])], -1)[None])
    points, fps, layout = load_poses(tmp_path / "vitpose.npz")
    assert points.shape == (len(keypoints), 17, 3) and fps == 0.0 and layout == "coco17"
    with pytest.raises(UserError, match="no such poses file"):
        load_poses(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", scores=np.zeros(3))
    with pytest.raises(UserError, match="holds scores"):
        load_poses(tmp_path / "other.npz")


def test_count_command_with_poses(sequences, tmp_path):
    label, keypoints, true = sequences[4]
    path = tmp_path / "poses.npz"
    np.savez(path, keypoints=keypoints, fps=np.float32(FPS), layout="coco17")
    done = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "count", "--poses", str(path), "--format",
                           "json", "--plot", str(tmp_path / "p.png"), "--json", str(tmp_path / "r.json")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["count"] == count_repetitions(keypoints, FPS, "coco17").count
    assert len(json.loads((tmp_path / "r.json").read_text())["per_frame"]["signal"]) == len(keypoints)
    assert (tmp_path / "p.png").is_file()
    missing = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "count"], capture_output=True, text=True)
    assert missing.returncode == 2 and "VIDEO" in missing.stderr


def test_evaluate_on_a_corpus_scores_every_segment_with_the_shared_metrics(tmp_path):
    from movinet_crossfit.keypoints.data import write_keypoint_corpus
    from movinet_crossfit.synthetic.truth import GroundTruth

    corpus = write_keypoint_corpus(tmp_path / "corpus", classes=["thruster", "chest-to-bar"], clips_per_class=2,
                                   seed=4, size=(160, 120))
    truth = GroundTruth.load(corpus)
    segments = [s for _, v in sorted(truth.videos.items()) for s in v["segments"]]
    clean = evaluate_on_corpus(corpus)
    assert [(i["label"], i["true"]) for i in clean.items] == [(s["label"], s["count"]) for s in segments]
    shared = count_metrics([i["predicted"] for i in clean.items], [i["true"] for i in clean.items])
    assert (clean.mae, clean.obo) == (shared["mae"], shared["obo"]) and clean.obo >= 0.75
    assert json.loads(json.dumps(clean.to_dict()))["obo"] == round(clean.obo, 4)
    # Counting options reach the counter: a movement no sequence makes counts nothing, so each item
    # is off by its whole count (MAE 1) and only true counts of 1 stay within one.
    none = evaluate_on_corpus(corpus, min_motion=10.0)
    assert all(i["predicted"] == 0 and "static" in i["note"] for i in none.items) and none.mae == pytest.approx(1.0)
    assert none.obo == pytest.approx(np.mean([s["count"] <= 1 for s in segments]))
    jittered = evaluate_on_corpus(corpus, perturbation={"jitter": 0.05}, seed=1)
    assert jittered.items == evaluate_on_corpus(corpus, perturbation={"jitter": 0.05}, seed=1).items


# --- synthetic squats: MediaPipe-33 poses with a known number of reps, in any coordinates -----------

def synthetic_squat(reps: int, fps: float = FPS, period_s: float = 2.0, rest_s: float = 1.0, sets: int = 1,
                    set_rest_s: float = 0.0, seed: int = 0) -> np.ndarray:
    """``(T, 33, 3)`` pixels: the body goes down and up ``reps`` times (cosine phase), knees and arms
    forward, ``rest_s`` standing still before and after, ``sets`` sets ``set_rest_s`` apart, a
    little noise, the person off-centre and drifting sideways in a 1280x720 picture."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.3, 0.7, (33, 3))
    base[:, 2] *= 0.2
    for joints, height in ((range(0, 11), 0.1), ((11, 12), 0.25), ((13, 14), 0.4), (range(15, 23), 0.5),
                           ((23, 24), 0.55), ((25, 26), 0.75), (range(27, 33), 0.95)):
        base[list(joints), 1] = height
    phases = []
    for k in range(sets):
        phases.append(np.zeros(int((rest_s if k == 0 else set_rest_s) * fps)))
        in_set = reps // sets + (1 if k < reps % sets else 0)
        t = np.arange(int(in_set * period_s * fps)) / fps
        phases.append(0.5 - 0.5 * np.cos(2 * np.pi * t / period_s))
    depth = np.concatenate(phases + [np.zeros(int(rest_s * fps))])[:, None]  # 0 standing, 1 bottom
    points = np.repeat(base[None], len(depth), 0)
    points[:, :25, 1] += 0.25 * depth
    points[:, [25, 26], 0] += 0.12 * depth
    points[:, [25, 26], 1] += 0.08 * depth
    points[:, [13, 14, 15, 16], 0] += 0.15 * depth
    points += rng.normal(0, 0.003, points.shape)
    points[..., 0] = 400 + np.linspace(0, 40, len(depth))[:, None] + 300 * points[..., 0]
    points[..., 1] = 100 + 500 * points[..., 1]
    return points


@pytest.mark.parametrize("fps", [25.0, 30.0])
@pytest.mark.parametrize("period_s", [1.2, 2.5])
def test_synthetic_squats_with_n_reps_count_n(fps, period_s):
    for reps in (1, 2, 3, 5, 8, 12, 20):
        result = count_repetitions(synthetic_squat(reps, fps, period_s), fps)
        assert result.count == reps, (reps, result.count, result.note)
        assert all(r.start_frame < r.end_frame for r in result.reps)


def test_sets_and_gaps_are_reported():
    points = synthetic_squat(12, sets=2, set_rest_s=8.0)
    points[400:460] = np.nan  # nobody in view for 2 s, during the rest
    result = count_repetitions(points, FPS)
    assert result.count == 12 and [s.count for s in result.sets] == [6, 6]
    assert result.sets[0].period_seconds == pytest.approx(2.0, abs=0.15)
    rest = [g for g in result.gaps if g.kind == "rest"]
    missing = [g for g in result.gaps if g.kind == "missing"]
    assert len(rest) == 1
    assert result.sets[0].end_frame < rest[0].start_frame <= rest[0].end_frame < result.sets[1].start_frame
    assert [(g.start_frame, g.end_frame) for g in missing] == [(400, 459)]
    assert result.to_dict(per_frame=False)["gaps"][0]["kind"] in ("rest", "missing")


def test_pixel_image_and_normalised_coordinates_count_the_same():
    pixels = synthetic_squat(6)
    shapes = per_frame_minmax(pixels)
    assert np.allclose(per_frame_minmax(shapes), shapes) and np.nanmin(shapes) == 0.0 and np.nanmax(shapes) == 1.0
    image = pixels / np.array([1280.0, 720.0, 1280.0])
    counts = {name: count_repetitions(points, FPS).count for name, points in
              (("pixels", pixels), ("image", image), ("shapes", shapes))}
    assert set(counts.values()) == {6}, counts


def test_low_confidence_frames_are_not_counted():
    points = synthetic_squat(8)
    confidence = np.ones(len(points))
    confidence[100:130] = 0.1
    points[100:130] += 50.0  # garbage where the detector is unsure
    assert count_repetitions(points, FPS, confidence=confidence).count == 8


def test_a_still_person_and_nobody_count_nothing():
    still = count_repetitions(synthetic_squat(0, rest_s=10.0), FPS)
    assert still.count == 0 and "static" in still.note and not still.sets
    assert count_repetitions(np.full((300, 33, 3), np.nan), FPS).count == 0


def test_a_minute_of_poses_counts_at_over_100x_real_time_on_one_core():
    import contextlib
    import time

    try:
        from threadpoolctl import threadpool_limits
        one_core = threadpool_limits(1)
    except ImportError:
        one_core = contextlib.nullcontext()
    points = synthetic_squat(30, rest_s=0.0)[:1800]
    with one_core:
        count_repetitions(points, FPS)  # imports, first calls
        start = time.process_time()
        for _ in range(3):
            count_repetitions(points, FPS)
        seconds = (time.process_time() - start) / 3
    assert seconds < 60.0 / 100, seconds


# --- RepCount pose files ----------------------------------------------------------------------------

def _repcount_rows(points: np.ndarray) -> np.ndarray:
    """``(T, 104)`` as the RepCount pose files hold them: per-frame min-max shapes, 5 angle columns,
    all zeros where nobody was found (NaN frames here)."""
    rows = np.zeros((len(points), 104), np.float32)
    shapes = per_frame_minmax(points)
    seen = np.isfinite(shapes).all(axis=(1, 2))
    rows[seen, :99] = shapes[seen].reshape(seen.sum(), 99)
    rows[seen, 99:] = 0.5
    return rows


def test_repcount_files_read_as_poses_and_count_like_our_own(tmp_path):
    from movinet_crossfit.pose.importers import import_poses
    from movinet_crossfit.pose.sequence import read_poses

    points = synthetic_squat(7)
    points[50:55] = np.nan
    np.save(tmp_path / "clip.npy", _repcount_rows(points))
    keypoints, fps, layout = load_poses(tmp_path / "clip.npy")
    assert keypoints.shape == (len(points), 33, 3) and fps == 30.0 and layout == "mediapipe33"
    assert np.isnan(keypoints[50:55]).all() and np.isfinite(keypoints[56]).all()
    poses = read_poses(tmp_path / "clip.npy")
    assert "30 fps assumed" in poses.summary() and poses.confidence[52] == 0 and poses.confidence[0] == 1
    imported = import_poses(tmp_path / "clip.npy", "repcount", fps=25.0)
    assert imported.fps == 25.0 and "assumed" not in imported.summary() and imported.backend == "repcount"
    assert import_poses(tmp_path / "clip.npy").backend == "repcount"  # auto: .npy is RepCount's
    assert count_repetitions(keypoints, fps).count == count_repetitions(points, fps).count == 7
    np.save(tmp_path / "wrong.npy", np.zeros((10, 7)))
    with pytest.raises(UserError, match="a RepCount pose file is \\(frames, 104\\)"):
        load_poses(tmp_path / "wrong.npy")


def test_poses_command_imports_repcount_and_count_shows_sets_and_gaps(tmp_path):
    points = synthetic_squat(12, sets=2, set_rest_s=8.0)
    points[400:460] = np.nan
    np.save(tmp_path / "clip.npy", _repcount_rows(points))
    cli = [sys.executable, "-m", "movinet_crossfit.cli"]
    done = subprocess.run(cli + ["poses", str(tmp_path / "clip.npy"), "--from", "repcount", "-o",
                                 str(tmp_path / "clip.npz")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "30 fps assumed" in done.stdout and (tmp_path / "clip.npz").is_file()  # results are on stdout
    keypoints, fps, layout = load_poses(tmp_path / "clip.npz")
    assert keypoints.shape == (len(points), 33, 3) and fps == 30.0 and np.isnan(keypoints[420]).all()
    for source in ("clip.npz", "clip.npy"):
        shown = subprocess.run(cli + ["count", "--poses", str(tmp_path / source)], capture_output=True, text=True)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert "12 reps in 2 set(s)" in lines[0]
        assert [line.split()[0] for line in lines[1:5]] == ["set", "rest", "missing", "set"], lines[:5]
        assert "6 reps" in lines[1] and "6 reps" in lines[4]
    assert "30 fps assumed" in lines[0]  # the .npy holds no frame rate


@pytest.mark.parametrize("seed", [0, 3])
def test_a_messy_set_another_movement_between_and_the_athlete_out_of_view(seed):
    """Thrusters, deadlifts, thrusters (17 reps), the athlete out of view for 2 s before the last set:
    every rep is counted (class-agnostic) within 2, the missing stretch is a gap, and no rep lies in it."""
    from movinet_crossfit.synthetic.corpus import render_keypoints

    keypoints, truths = render_keypoints([SegmentSpec("thruster", 6), SegmentSpec("deadlift", 5),
                                          SegmentSpec("thruster", 6)], seed=seed)
    keypoints = keypoints.astype(np.float64)
    gone = slice(truths[2].start_frame - 75, truths[2].start_frame - 15)
    keypoints[gone] = np.nan
    result = count_repetitions(keypoints, 30, "coco17")
    assert abs(result.count - sum(t.count for t in truths)) <= 2, result.count
    missing = [g for g in result.gaps if g.kind == "missing"]
    assert missing and missing[0].start_frame <= gone.start + 2 and missing[0].end_frame >= gone.stop - 3
    assert not any(r.start_frame > gone.start + 2 and r.end_frame < gone.stop - 2 for r in result.reps)
    assert len(result.sets) >= 2 and sum(s.count for s in result.sets) == result.count


@pytest.mark.parametrize("label, seed, off", [("power-clean", 8319, True), ("ghd", 8219, True), ("deadlift", 8419, False),
                                              ("double-unders", 8123, True)])
def test_a_named_crossfit_movement_cuts_its_reps_where_its_standard_starts_them(label, seed, off):
    """Power cleans, GHD sit-ups and deadlifts dwell mid-rep (the bar racked, sat up, standing),
    so the skewness rule takes that for the rest and cuts every rep half a period off the
    generator's (a rep runs floor to floor, lie-back to lie-back: standards.yaml's `turn`), with one
    rep too many (a deadlift on some sequences, not this one); a double-under's signal dwells at
    neither end, so its side is chance. Named (`--movement`), the counter counts
    a direction that shows the movement's mid-rep look (looks.MID_REP) and cuts the reps where its
    standard starts them."""
    from movinet_crossfit.posecount.evaluate import match_reps
    from movinet_crossfit.synthetic.corpus import render_keypoints

    keypoints, truths = render_keypoints([SegmentSpec(label, 9)], seed=seed)
    frames = truths[0].rep_frames
    true = list(zip(frames, frames[1:]))
    named = count_repetitions(keypoints, FPS, "coco17", movement=label)
    unnamed = count_repetitions(keypoints, FPS, "coco17")
    assert named.rest == "movement" and named.count == 9, (named.count, named.note)
    assert len(match_reps([(r.start_frame, r.end_frame) for r in named.reps], true, 0.5)) == 9
    if off:
        assert len(match_reps([(r.start_frame, r.end_frame) for r in unnamed.reps], true, 0.5)) <= 2, label
