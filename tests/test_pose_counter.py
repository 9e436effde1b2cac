"""The class-agnostic pose counter on generated pose sequences with known rep counts (every default
movement), made harder in the ways real pose tracks are hard, and its file formats and command."""
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
from movinet_crossfit.posecount.count import LAYOUTS, count_repetitions, plot_pose_count, pose_features
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
    assert still.count == 0 and "static" in still.note


def test_reps_and_per_frame_outputs(sequences, tmp_path):
    label, keypoints, true = sequences[2]
    result = count_repetitions(keypoints, FPS, "coco17")
    assert len(result.reps) == result.count
    starts = [r.start_frame for r in result.reps]
    assert starts == sorted(starts) and all(r.end_frame > r.start_frame for r in result.reps)
    assert result.periodicity.shape == result.signal.shape == (len(keypoints),)
    assert 0.5 * len(keypoints) / true < result.period < 2.0 * len(keypoints) / true
    assert json.loads(json.dumps(result.to_dict()))["count"] == result.count
    assert plot_pose_count(result, tmp_path / "p.png", label).stat().st_size > 10_000


def test_bad_keypoints_are_clear_errors():
    with pytest.raises(UserError, match="expected \\(frames, 33, 2 or 3\\)"):
        count_repetitions(np.zeros((50, 17, 2)), FPS, "mediapipe33")
    with pytest.raises(UserError, match="unknown keypoint layout"):
        count_repetitions(np.zeros((50, 17, 2)), FPS, "openpose")
    with pytest.raises(UserError, match="visible body"):
        count_repetitions(np.full((50, 17, 2), np.nan), FPS, "coco17")
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
    # Counting options reach the counter: a periodicity no sequence reaches counts nothing, so each
    # item is off by its whole count (MAE 1) and only true counts of 1 stay within one.
    none = evaluate_on_corpus(corpus, min_score=1.01)
    assert all(i["predicted"] == 0 for i in none.items) and none.mae == pytest.approx(1.0)
    assert none.obo == pytest.approx(np.mean([s["count"] <= 1 for s in segments]))
    jittered = evaluate_on_corpus(corpus, perturbation={"jitter": 0.05}, seed=1)
    assert jittered.items == evaluate_on_corpus(corpus, perturbation={"jitter": 0.05}, seed=1).items
