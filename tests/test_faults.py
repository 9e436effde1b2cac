"""Faulty reps on purpose: the fault lands in the truth, and its rep really breaks the standard on the
truth keypoints (hip vs knee, elbow and hip angles, head vs floor...) while clean reps do not.

``python tests/test_faults.py`` prints the measured geometry of clean and faulty reps per fault.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from movinet_crossfit.core.video import probe
from movinet_crossfit.synthetic import FAULTS, GroundTruth, SegmentSpec, faulty_set, render_keypoints, render_video

SIZE = (320, 240)
SEEDS = (0, 1, 2)
NOSE, SHOULDERS, ELBOWS, WRISTS, HIPS, KNEES, ANKLES = 0, (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)


def _mid(kp: np.ndarray, pair) -> np.ndarray:
    return kp[:, list(pair)].mean(axis=1) if isinstance(pair, tuple) else kp[:, pair]


def _height(kp, pair) -> np.ndarray:
    return -_mid(kp, pair)[:, 1]  # image y points down


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The angle at ``b`` (degrees) between ``a`` and ``c``, per frame."""
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _sides(kp, first, joint, last) -> np.ndarray:
    """The mean over both sides of the angle at ``joint``."""
    return np.mean([_angle(kp[:, first[i]], kp[:, joint[i]], kp[:, last[i]]) for i in (0, 1)], axis=0)


def _torso(kp) -> float:
    return float(np.median(np.linalg.norm(_mid(kp, SHOULDERS) - _mid(kp, HIPS), axis=1)))


# Per fault: (what is measured, function (rep keypoints, segment keypoints, torso) -> value,
# the value a clean rep passes with (">" or "<" the threshold), threshold).
def _depth(kp, seg, torso):  # hip above knee, lowest over the rep
    return float(((_height(kp, HIPS) - _height(kp, KNEES)) / torso).min())


def _overhead_elbow(kp, seg, torso):  # straightest elbow while the hands are over the head
    over = _height(kp, WRISTS) > _height(kp, NOSE)
    return float(_sides(kp, SHOULDERS, ELBOWS, WRISTS)[over].max()) if over.any() else 0.0


def _min_elbow(kp, seg, torso):
    return float(_sides(kp, SHOULDERS, ELBOWS, WRISTS).min())


def _max_elbow(kp, seg, torso):
    return float(_sides(kp, SHOULDERS, ELBOWS, WRISTS).max())


def _chest(kp, seg, torso):  # shoulders' best height relative to the hands (the bar)
    return float(((_height(kp, SHOULDERS) - _height(kp, WRISTS)) / torso).max())


def _hip_angle(kp, seg, torso):
    return float(_sides(kp, SHOULDERS, HIPS, KNEES).max())


def _racked_knee(kp, seg, torso):  # straightest knee after the catch (the wrists' highest frame), bar racked
    after = kp[int(np.argmax(_height(kp, WRISTS))):]
    racked = np.abs(_height(after, WRISTS) - _height(after, SHOULDERS)) < 0.3 * torso
    return float(_sides(after, HIPS, KNEES, ANKLES)[racked].max()) if racked.any() else 0.0


def _start(kp, seg, torso):  # hands below the knees before the catch (the wrists' highest frame)
    before = kp[:int(np.argmax(_height(kp, WRISTS))) + 1]
    return float(((_height(before, WRISTS) - _height(before, KNEES)) / torso).min())


def _head_to_hands(kp, seg, torso):  # the hands are on the floor: head height above them, lowest
    return float(((_height(kp, NOSE) - _height(kp, WRISTS)) / torso).min())


def _after_bottom_elbow(kp, seg, torso):  # straightest elbow after the head's lowest frame
    after = kp[int(np.argmin(_height(kp, NOSE))):]
    return float(_sides(after, SHOULDERS, ELBOWS, WRISTS).max())


def _torso_elevation(kp, seg, torso):  # degrees above horizontal, lowest before the sit-up's top
    d = _mid(kp, SHOULDERS) - _mid(kp, HIPS)
    elevation = np.degrees(np.arctan2(-d[:, 1], np.abs(d[:, 0])))
    return float(elevation[:int(np.argmax(elevation)) + 1].min())


def _reach(kp, seg, torso):  # hands past the knees, along the thighs (the GHD athlete faces the feet)
    forward = np.sign(np.median(_mid(seg, KNEES)[:, 0] - _mid(seg, HIPS)[:, 0]))
    return float((forward * (_mid(kp, WRISTS)[:, 0] - _mid(kp, KNEES)[:, 0]) / torso).max())


def _chest_to_floor(kp, seg, torso):  # shoulders above the floor (the segment's lowest ankle), lowest
    floor = -float(seg[:, list(ANKLES), 1].max())
    return float(((_height(kp, SHOULDERS) - floor) / torso).min())


def _both_feet_up(kp, seg, torso):  # the lower ankle's best height over the floor while upright
    floor = -float(seg[:, list(ANKLES), 1].max())
    upright = _height(kp, SHOULDERS) - _height(kp, HIPS) > 0.5 * torso
    lower = -kp[:, list(ANKLES), 1].max(axis=1)
    return float(((lower - floor) / torso)[upright].max())


def _airtime(kp, seg, torso):  # ankles' rise above where they stand at the rep's start
    rise = _height(kp, ANKLES) - _height(kp[:1], ANKLES)[0]
    return float((rise / torso).max())


MEASURES = {
    ("thruster", "depth"): ("min hip-minus-knee height (torso lengths)", _depth, "<", 0.15),
    ("thruster", "lockout"): ("max elbow angle, hands over head (deg)", _overhead_elbow, ">", 150),
    ("ohs", "depth"): ("min hip-minus-knee height (torso lengths)", _depth, "<", 0.15),
    ("ohs", "lockout"): ("min elbow angle (deg)", _min_elbow, ">", 150),
    ("chest-to-bar", "chest"): ("max shoulder-minus-hand height (torso lengths)", _chest, ">", -0.3),
    ("chest-to-bar", "extension"): ("max elbow angle (deg)", _max_elbow, ">", 150),
    ("deadlift", "lockout"): ("max hip angle (deg)", _hip_angle, ">", 155),
    ("power-clean", "rack"): ("max knee angle in the rack (deg)", _racked_knee, ">", 150),
    ("power-clean", "start"): ("min hand-minus-knee height before the catch (torso)", _start, "<", 0.0),
    ("shspu", "depth"): ("min nose-minus-hand height (torso lengths)", _head_to_hands, "<", 0.3),
    ("shspu", "lockout"): ("max elbow angle after the bottom (deg)", _after_bottom_elbow, ">", 150),
    ("ghd", "reach-back"): ("min torso elevation before the top (deg)", _torso_elevation, "<", 15),
    ("ghd", "reach-forward"): ("max hands past knees (torso lengths)", _reach, ">", 0.1),
    ("bar-facing-burpee", "chest"): ("min shoulder height over floor (torso lengths)", _chest_to_floor, "<", 0.6),
    ("bar-facing-burpee", "jump"): ("max lower-ankle height over floor (torso lengths)", _both_feet_up, ">", 0.3),
    ("double-unders", "airtime"): ("max ankle rise (torso lengths)", _airtime, ">", 0.15),
}


def _passes(sign: str, value: float, threshold: float) -> bool:
    return value > threshold if sign == ">" else value < threshold


def measure(label: str, fault: str, seed: int) -> tuple[list[float], list[float]]:
    """A 5-rep set of ``label`` with ``fault`` on reps 1 and 3: the measure on (clean, faulty) reps."""
    faults = (None, fault, None, fault, None)
    kp, truths = render_keypoints([SegmentSpec(label, 5, faults=faults)], seed=seed, size=SIZE)
    seg_truth = truths[0]
    seg = kp[seg_truth.start_frame:seg_truth.end_frame]
    torso = _torso(seg)
    _, fn, _, _ = MEASURES[(label, fault)]
    clean, faulty = [], []
    for k, (a, b) in enumerate(zip(seg_truth.rep_frames, seg_truth.rep_frames[1:])):
        value = fn(kp[a:b], seg, torso)
        (faulty if faults[k] else clean).append(value)
    return clean, faulty


def test_every_movement_standard_pair_is_measured():
    assert {(m, f) for m, ids in FAULTS.items() for f in ids} == set(MEASURES)
    assert {"thruster", "ohs", "chest-to-bar", "deadlift", "power-clean", "shspu", "ghd", "bar-facing-burpee",
            "double-unders"} <= set(FAULTS)


@pytest.mark.parametrize("label,fault", sorted(MEASURES))
def test_faulty_reps_break_their_standard_and_clean_reps_do_not(label, fault):
    what, _, sign, threshold = MEASURES[(label, fault)]
    for seed in SEEDS:
        clean, faulty = measure(label, fault, seed)
        assert all(_passes(sign, v, threshold) for v in clean), f"{label} clean reps, seed {seed}: {what} {clean}"
        assert not any(_passes(sign, v, threshold) for v in faulty), \
            f"{label} {fault} reps, seed {seed}: {what} {faulty}"


def test_faults_land_in_truth_and_ground_truth_reads_them_back(tmp_path):
    specs = [SegmentSpec("thruster", 3, faults=(None, "depth", "lockout")), SegmentSpec("deadlift", 2)]
    truth = render_video(tmp_path / "set.mp4", specs, seed=5, size=(96, 64), fps=15)
    assert probe(tmp_path / "set.mp4").num_frames == truth.frames == len(truth.keypoints)  # it still renders
    thruster, deadlift = truth.segments
    assert thruster.rep_faults == [None, "depth", "lockout"] and deadlift.rep_faults == [None, None]
    entry = truth.to_dict()
    assert entry["segments"][0]["faults"] == [None, "depth", "lockout"]
    assert "faults" not in entry["segments"][1]  # only where a rep is faulty: clean corpora are unchanged
    GroundTruth({"set.mp4": entry}, 15.0, (96, 64), ["thruster", "deadlift"], 5, "synthetic", 1).save(tmp_path)
    loaded = GroundTruth.load(tmp_path)
    raw = json.loads((tmp_path / "ground_truth.json").read_text())["videos"]["set.mp4"]["segments"]
    assert raw[0]["faults"] == [None, "depth", "lockout"] and "faults" not in raw[1]
    assert [s.rep_faults for s in loaded.segments("set.mp4")] == [[None, "depth", "lockout"], [None, None]]
    assert loaded.segments("set.mp4")[0] == thruster
    assert truth.supervisely_annotation()["tags"][0]["name"] == "thruster"


def test_faulty_reps_keep_the_rhythm_and_the_rest_of_the_video():
    clean_kp, clean = render_keypoints([SegmentSpec("ohs", 4), SegmentSpec("chest-to-bar", 3)], seed=9, size=SIZE)
    faulty_kp, faulty = render_keypoints([SegmentSpec("ohs", 4, faults=(None, "depth", None, "lockout")),
                                          SegmentSpec("chest-to-bar", 3, faults=("extension", None, "chest"))],
                                         seed=9, size=SIZE)
    # The same reps, frame for frame (a later segment may start a frame apart: the walk there
    # depends on where the camera framed the faulty set).
    assert [np.diff(s.rep_frames).tolist() for s in faulty] == [np.diff(s.rep_frames).tolist() for s in clean]
    assert faulty[0].rep_frames == clean[0].rep_frames and [s.count for s in faulty] == [4, 3]
    first, last = clean[0].rep_frames[0], clean[0].rep_frames[1]
    end = clean[0].end_frame
    moved = np.abs(faulty_kp[:end] - clean_kp[:end]).max(axis=(1, 2))
    assert moved[clean[0].rep_frames[1]:clean[0].rep_frames[2]].max() > 5  # the faulty rep differs
    # A clean rep between faults is the clean rep (up to the camera's zoom, refitted to the faults' extent).
    scale = np.linalg.norm(faulty_kp[first:last, 5] - faulty_kp[first:last, 11], axis=-1) / \
        np.linalg.norm(clean_kp[first:last, 5] - clean_kp[first:last, 11], axis=-1)
    assert np.ptp(scale) < 0.02


def test_bad_faults_are_clear_errors():
    with pytest.raises(ValueError, match=r"no fault 'chest'; thruster can make: depth, lockout"):
        SegmentSpec("thruster", 2, faults=(None, "chest"))
    with pytest.raises(ValueError, match="3 faults for 2 reps"):
        SegmentSpec("ohs", 2, faults=(None, None, "depth"))
    with pytest.raises(ValueError, match="no faulty reps of 'snatch'.*movements with faults: thruster"):
        SegmentSpec("snatch", 1, faults=("depth",))
    assert SegmentSpec("ohs", 2, faults=[None, None]) == SegmentSpec("ohs", 2)  # all clean is no faults
    assert SegmentSpec("ohs", 2, faults=[None, "depth"]).faults == (None, "depth")
    SegmentSpec("snatch", 1)  # an unknown movement without faults is still render_video's error to raise


def test_faulty_set_draws_clean_and_faulty_reps():
    for seed in range(30):
        spec = faulty_set("thruster", 3, seed, fault_rate=0.3)
        assert len(spec.faults) == 3 and set(spec.faults) - {None} <= set(FAULTS["thruster"])
        assert None in spec.faults and any(spec.faults)
    assert faulty_set("ohs", 8, 1) == faulty_set("ohs", 8, np.random.default_rng(1))
    drawn = [f for seed in range(40) for f in faulty_set("shspu", 10, seed, fault_rate=0.5).faults]
    assert 0.35 < sum(f is not None for f in drawn) / len(drawn) < 0.65
    assert set(drawn) == {None, "depth", "lockout"}
    assert set(faulty_set("ohs", 6, 2, fault_rate=1.0, faults=("depth",)).faults) == {"depth", None}
    with pytest.raises(ValueError, match="fault_rate"):
        faulty_set("ohs", 3, 0, fault_rate=1.5)


def table() -> str:
    rows = [f"{'movement':18} {'fault':13} {'measure':48} {'clean (min..max)':>18} {'faulty (min..max)':>18}"]
    for (label, fault), (what, _, sign, threshold) in sorted(MEASURES.items()):
        clean, faulty = [], []
        for seed in SEEDS:
            c, f = measure(label, fault, seed)
            clean += c
            faulty += f
        rows.append(f"{label:18} {fault:13} {what + f' [clean {sign} {threshold}]':48} "
                    f"{min(clean):8.2f}..{max(clean):8.2f} {min(faulty):8.2f}..{max(faulty):8.2f}")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
