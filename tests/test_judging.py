"""Judging reps against movement standards, and recognising the movement, from 2-D keypoints.

Generated sets (the generator's true keypoints, with faulty reps drawn on purpose) check that a
clean rep counts and each fault fails for its own reason; the real cfmove clips (BlazePose poses)
check that the judges' counted reps are not called no-reps.
"""
from __future__ import annotations

import numpy as np
import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.metrics import Rep
from movinet_crossfit.judging import judge_reps, load_standards, recognise_movement
from movinet_crossfit.judging.judge import WIDEN
from movinet_crossfit.pose.sequence import MEDIAPIPE_TO_COCO, PoseSequence
from movinet_crossfit.synthetic import FAULTS, SegmentSpec, render_keypoints

FPS = 30.0
FAULT_CASES = [(movement, fault) for movement, faults in FAULTS.items() for fault in faults]


def generated(label: str, reps: int = 3, faults=(), seed: int = 0):
    """(poses, truth reps) of one generated set: COCO-17 truth keypoints, no visibility."""
    keypoints, truths = render_keypoints([SegmentSpec(label, reps, faults=tuple(faults))], seed=seed)
    bounds = truths[0].rep_frames
    rep_list = [Rep(k + 1, a, b - 1, a / FPS, (b - 1) / FPS) for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    return PoseSequence(keypoints, FPS, "coco17"), rep_list


def test_the_standard_ids_are_the_generators_fault_labels():
    standards = load_standards()
    for movement, faults in FAULTS.items():
        ids = {s.id for s in standards.get(movement).standards}
        assert set(faults) <= ids, (movement, faults, ids)
    assert set(standards.names()) >= set(FAULTS) | {"wall-ball"}


@pytest.mark.parametrize("movement", sorted(FAULTS))
def test_clean_generated_reps_count(movement):
    poses, reps = generated(movement, seed=3)
    verdicts = judge_reps(poses, reps, movement)
    assert [v.valid for v in verdicts] == [True] * len(reps), [v.reason for v in verdicts]
    assert all(v.reason is None and all(c.passed for c in v.checks) for v in verdicts)


@pytest.mark.parametrize("movement,fault", FAULT_CASES)
def test_each_fault_is_a_no_rep_for_its_own_reason(movement, fault):
    poses, reps = generated(movement, faults=(None, fault, None), seed=1)
    verdicts = judge_reps(poses, reps, movement)
    assert [v.valid for v in verdicts] == [True, False, True], [v.reason for v in verdicts]
    bad = verdicts[1]
    assert bad.reason_id == fault and bad.reason.startswith(fault)
    failed = next(c for c in bad.checks if c.id == fault)
    assert failed.passed is False and failed.value < 0
    # The frame that decided lies in the rep (widened a little, as the judged window may be).
    pad = WIDEN * (reps[1].end_frame - reps[1].start_frame + 1)
    assert reps[1].start_frame - pad <= failed.frame <= reps[1].end_frame + pad
    assert bad.frame == failed.frame


def test_works_on_mediapipe_keypoints_with_visibility():
    poses, reps = generated("thruster", faults=(None, "depth", None), seed=2)
    points = np.full((poses.num_frames, 33, 2), np.nan, np.float32)
    points[:, MEDIAPIPE_TO_COCO] = poses.keypoints
    visibility = np.zeros((poses.num_frames, 33), np.float32)
    visibility[:, MEDIAPIPE_TO_COCO] = 0.9
    blaze = PoseSequence(points, FPS, "mediapipe33", visibility=visibility)
    assert [v.valid for v in judge_reps(blaze, reps, "thruster")] == [True, False, True]


def test_a_hidden_joint_leaves_the_rep_unjudged_with_the_reason():
    poses, reps = generated("thruster", seed=4)
    points = poses.keypoints.copy()
    second = slice(reps[1].start_frame, reps[1].end_frame + 1)
    points[second, 13:15] = np.nan  # both knees (COCO-17) unseen through rep 2
    verdicts = judge_reps(PoseSequence(points, FPS, "coco17"), reps, "thruster")
    assert [v.valid for v in verdicts] == [True, None, True]
    depth = next(c for c in verdicts[1].checks if c.id == "depth")
    assert depth.passed is None and "knee" in depth.detail and "hidden" in depth.detail
    assert verdicts[1].reason_id == "depth" and "knee" in verdicts[1].reason


def test_low_visibility_counts_as_hidden():
    poses, reps = generated("chest-to-bar", seed=5)
    visibility = np.ones(poses.keypoints.shape[:2], np.float32)
    visibility[:, [7, 8, 9, 10]] = 0.3  # elbows and wrists barely seen
    verdicts = judge_reps(PoseSequence(poses.keypoints, FPS, "coco17", visibility=visibility), reps, "c2b")
    assert all(v.valid is None for v in verdicts)
    assert all("hidden" in c.detail for v in verdicts for c in v.checks)


def test_a_foreshortened_thigh_makes_a_missed_depth_unverifiable():
    """Filmed from the front the thigh points at the camera: a squat that looks shallow may not be."""
    poses, reps = generated("thruster", faults=(None, "depth", None), seed=6)
    points = poses.keypoints.copy()
    bottom = slice(reps[1].start_frame, reps[1].end_frame + 1)
    hips, knees = points[bottom, 11:13], points[bottom, 13:15]
    points[bottom, 13:15] = hips + 0.3 * (knees - hips)  # the thigh seen at 30 % of its length
    verdicts = judge_reps(PoseSequence(points, FPS, "coco17"), reps, "thruster")
    depth = next(c for c in verdicts[1].checks if c.id == "depth")
    assert depth.passed is None and "camera" in depth.detail
    assert verdicts[1].valid is None


def test_names_and_aliases_resolve_and_an_unknown_one_lists_the_known():
    standards = load_standards()
    for alias, name in [("Power Clean", "power-clean"), ("HSPU", "shspu"), ("double-under", "double-unders"),
                        ("burpee", "bar-facing-burpee"), ("overhead squat", "ohs"), ("wall balls", "wall-ball")]:
        assert standards.get(alias).name == name
    with pytest.raises(UserError, match="known: thruster.*wall-ball"):
        standards.get("muscle-up")
    assert any("rope" in note for note in standards.get("double-unders").notes)


USER_WALL_BALL = """
movements:
  wall-ball:
    display: wall-ball shot (club standard)
    aliases: [wb]
    turn: {lowest: hip, at: 0.4}
    standards:
      - id: squat
        text: hip crease below the knee
        when: any
        check: [{below: hip, ref: knee, by: 0.05}]
      - id: reach
        text: arms reaching up over the head
        when: any
        check: [{above: wrist, ref: nose, by: 0.3}]
  thruster:
    standards:
      - id: depth
        text: hips far below the knees (a stricter house rule)
        check: [{below: hip, ref: knee, by: 1.0}]
"""


def test_a_user_yaml_adds_wall_ball_and_replaces_a_movement(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(USER_WALL_BALL)
    standards = load_standards(path)
    assert standards.sources[-1] == str(path) and "ohs" in standards.names()
    assert [s.id for s in standards.get("wb").standards] == ["squat", "reach"]
    poses, reps = generated("thruster", faults=(None, "depth", None), seed=7)  # a wall-ball's poses
    verdicts = judge_reps(poses, reps, "wall ball", standards)
    assert [v.valid for v in verdicts] == [True, False, True]
    assert verdicts[1].reason_id == "squat" and [c.id for c in verdicts[0].checks] == ["squat", "reach"]
    strict = judge_reps(poses, reps, "thruster", standards)
    assert [v.valid for v in strict] == [False, False, False]  # the house rule replaced the built-in one
    assert [v.valid for v in judge_reps(poses, reps, "thruster")] == [True, False, True]


@pytest.mark.parametrize("text,expected", [
    ("movements:\n  x:\n    standards:\n      - {id: a, text: t, check: [{angle: knee, min: deep}]}\n",
     r"key movements\.x\.standards\[0\]\.check\[0\]\.min: .*number"),
    ("movements:\n  x:\n    standards:\n      - {id: a, text: t, check: [{bend: knee}]}\n",
     r"key movements\.x\.standards\[0\]\.check\[0\].*bend"),
    ("movements:\n  x:\n    standards:\n      - {id: a, text: t, check: [{above: wrist}]}\n",
     r"key movements\.x\.standards\[0\]\.check\[0\].*needs 'ref'"),
    ("movements:\n  x:\n    standards: [{id: a, text: t, check: [{tilt: torso, max: 9}]}]\n    turn: {lowest: toe}\n",
     r"key movements\.x\.turn\.lowest: .*'nose'"),
    ("movements: [thruster]\n", r"key movements: .*dictionary"),
    ("movements:\n  x: {standards: [{id: a, text: t, check: [{tilt: torso}]\n", r"not valid YAML"),
])
def test_a_bad_standards_file_is_one_clear_error(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=expected) as caught:
        load_standards(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_a_missing_standards_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such standards file"):
        load_standards(tmp_path / "none.yaml")


@pytest.mark.parametrize("movement", ["thruster", "chest-to-bar", "double-unders", "ghd", "shspu", "deadlift"])
def test_recognises_generated_movements(movement):
    poses, reps = generated(movement, reps=4, seed=11)
    guess = recognise_movement(poses, reps)
    assert guess.label == movement, guess
    assert guess.score == guess.scores[movement] == max(guess.scores.values())
    assert "wall-ball" not in guess.scores  # not guessed unless named (its poses are a thruster's)


def test_recognition_says_none_when_nothing_fits():
    poses, reps = generated("thruster", seed=12)
    standing = poses.keypoints[:max(2, reps[0].start_frame - 5)]  # before the set: standing still
    still = np.concatenate([standing] * (90 // len(standing) + 1))[:90]
    guess = recognise_movement(PoseSequence(still, FPS, "coco17"), [])
    assert guess.label is None and "nothing fits" in guess.detail, guess
    noise = np.random.default_rng(0).uniform(0, 300, size=(90, 17, 2))
    guess = recognise_movement(PoseSequence(noise, FPS, "coco17"), [])
    assert guess.label is None and "jump" in guess.detail, guess


def test_real_games_reps_are_not_called_no_reps(cfmove_clips):
    """Real CrossFit Games reps (counted by the judges), BlazePose following the athlete: each clip
    is one rep; at most 10 % may be called no-reps, and each must be recognised."""
    from movinet_crossfit.pose.extract import extract_poses, make_backend

    clips = [cfmove_clips / label / f"{label}_{k}.mp4"
             for label in ("thruster", "chest-to-bar") for k in (2, 4, 6, 9, 12, 14)]
    tracker = make_backend("blazepose", person="auto")
    no_reps, judged, recognised = 0, 0, 0
    for clip in clips:
        poses = extract_poses(clip, tracker)
        rep = Rep(1, 0, poses.num_frames - 1, 0.0, (poses.num_frames - 1) / poses.fps)
        verdict = judge_reps(poses, [rep], clip.parent.name)[0]
        no_reps += verdict.valid is False
        judged += verdict.valid is not None
        recognised += recognise_movement(poses, [rep]).label == clip.parent.name
    assert no_reps <= 0.1 * len(clips), f"{no_reps} of {len(clips)} real reps called no-reps"
    assert judged >= 0.75 * len(clips) and recognised >= 0.75 * len(clips), (judged, recognised)
