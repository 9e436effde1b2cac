"""The synthetic corpus: export layout, ground truth, determinism, keypoints, every class drawn."""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.movements import DEFAULT_CLASSES
from movinet_crossfit.synthetic import SegmentSpec, generate_corpus, plan_corpus, render_video
from movinet_crossfit.core.video import probe, read_frames

CLASSES = ("thruster", "chest-to-bar", "shspu")
SIZE = (160, 120)
HEX32 = re.compile(r"[0-9a-f]{32}")


def _corpus(root: Path, seed: int):
    return generate_corpus(root, classes=CLASSES, clips_per_class=2, seed=seed, size=SIZE, fps=30, workers=2)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    base = tmp_path_factory.mktemp("synthetic")
    first = _corpus(base / "a", seed=3)
    again = _corpus(base / "b", seed=3)
    other = _corpus(base / "c", seed=4)
    return first, again, other


def _load(root: Path, *parts) -> dict:
    return json.loads(root.joinpath(*parts).read_text())


def test_export_layout_and_annotation_shape(corpora):
    summary = corpora[0]
    root = summary.out_dir
    meta = _load(root, "meta.json")
    assert meta["projectType"] == "videos" and meta["classes"] == []
    assert [t["name"] for t in meta["tags"]] == list(CLASSES)
    assert all(re.fullmatch(r"#[0-9A-F]{6}", t["color"]) and t["value_type"] == "none" for t in meta["tags"])
    videos = sorted((root / "synthetic" / "video").glob("*.mp4"))
    anns = sorted((root / "synthetic" / "ann").glob("*.mp4.json"))
    assert len(videos) == summary.videos >= 2
    assert [a.name for a in anns] == [v.name + ".json" for v in videos]
    for video, ann_path in zip(videos, anns):
        ann = json.loads(ann_path.read_text())
        assert set(ann) == {"size", "description", "key", "tags", "objects", "frames", "framesCount"}
        assert ann["size"] == {"height": SIZE[1], "width": SIZE[0]}
        assert HEX32.fullmatch(ann["key"])
        info = probe(video)
        assert (info.width, info.height, info.codec) == (SIZE[0], SIZE[1], "h264")
        assert info.num_frames == ann["framesCount"], video.name
        assert info.fps == pytest.approx(30.0)
        previous_last = -1
        for tag in ann["tags"]:
            assert tag["name"] in CLASSES and HEX32.fullmatch(tag["key"])
            first, last = tag["frameRange"]
            assert 0 <= first <= last < ann["framesCount"]
            assert first > previous_last + 1  # unlabelled rest frames between segments
            previous_last = last
        assert previous_last < ann["framesCount"] - 1  # the video ends with a rest, too


def test_ground_truth_matches_annotations_and_plan(corpora):
    summary = corpora[0]
    root = summary.out_dir
    truth = _load(root, "ground_truth.json")
    assert truth["classes"] == list(CLASSES) and truth["fps"] == 30
    per_class = Counter()
    videos_of = defaultdict(set)
    for name, video in truth["videos"].items():
        ann = _load(root, video["annotation"])
        assert video["frames"] == ann["framesCount"]
        ranges = [(t["name"], t["frameRange"]) for t in ann["tags"]]
        assert ranges == [(s["label"], [s["start_frame"], s["end_frame"] - 1]) for s in video["segments"]]
        for seg in video["segments"]:
            bounds = seg["rep_frames"]
            assert 1 <= seg["count"] <= 3 and len(bounds) == seg["count"] + 1
            assert bounds[0] == seg["start_frame"] and bounds[-1] == seg["end_frame"]
            assert all(b - a >= 0.8 * 30 * 0.9 for a, b in zip(bounds, bounds[1:]))  # >= 0.8 s a rep
            per_class[seg["label"]] += 1
            videos_of[seg["label"]].add(name)
    assert dict(per_class) == {c: 2 for c in CLASSES} == summary.segments
    assert all(len(v) == 2 for v in videos_of.values())  # each class in two different videos
    assert summary.frames == sum(v["frames"] for v in truth["videos"].values())
    assert "6 segments over 3 classes" in str(summary)


def test_ground_truth_reads_back_as_written(corpora, tmp_path):
    from dataclasses import replace

    from movinet_crossfit.synthetic.truth import GroundTruth, ground_truth_path, is_corpus

    root = corpora[0].out_dir
    truth = GroundTruth.load(root)
    raw = _load(root, "ground_truth.json")
    assert truth.to_dict() == raw and list(raw) == list(truth.to_dict())  # same keys, same order
    assert truth.root == root and GroundTruth.load(ground_truth_path(root)) == truth
    assert (truth.fps, truth.size, truth.classes, truth.seed) == (30.0, SIZE, list(CLASSES), 3)
    copy = replace(truth, videos=dict(list(truth.videos.items())[:1]))
    copy.save(tmp_path / "one")
    assert is_corpus(tmp_path / "one") and list(GroundTruth.load(tmp_path / "one").videos) == list(copy.videos)
    assert not is_corpus(tmp_path)
    with pytest.raises(UserError, match="not a readable generated-corpus ground truth"):
        GroundTruth.load(tmp_path)
    (tmp_path / "ground_truth.json").write_text(json.dumps({"videos": {}}))
    with pytest.raises(UserError, match="no seed, dataset, classes, clips_per_class, fps, size"):
        GroundTruth.load(tmp_path)


def test_same_seed_same_corpus_other_seed_differs(corpora):
    first, again, other = (c.out_dir for c in corpora)
    assert _load(first, "ground_truth.json")["videos"] == _load(again, "ground_truth.json")["videos"]
    assert _load(first, "ground_truth.json")["videos"] != _load(other, "ground_truth.json")["videos"]
    names = sorted(p.name for p in (first / "synthetic" / "ann").iterdir())
    for name in names:
        assert _load(first, "synthetic", "ann", name) == _load(again, "synthetic", "ann", name)
        video = name[: -len(".json")]
        assert (first / "synthetic" / "video" / video).read_bytes() == (again / "synthetic" / "video" / video).read_bytes()
    video = names[0][: -len(".json")]
    frames_a = read_frames(first / "synthetic" / "video" / video, range(0, 60, 7))
    frames_b = read_frames(again / "synthetic" / "video" / video, range(0, 60, 7))
    frames_c = read_frames(other / "synthetic" / "video" / video, range(0, 60, 7))
    np.testing.assert_array_equal(frames_a, frames_b)
    assert np.abs(frames_a.astype(int) - frames_c.astype(int)).mean() > 5


def test_keypoints_shape_and_placement(corpora):
    root = corpora[0].out_dir
    truth = _load(root, "ground_truth.json")
    width, height = SIZE
    side = min(SIZE)
    for video in truth["videos"].values():
        with np.load(root / video["keypoints"]) as data:
            kp = data["keypoints"]
            assert str(data["layout"]) == "coco17" and float(data["fps"]) == 30.0
        assert kp.shape == (video["frames"], 17, 2) and kp.dtype == np.float32
        # Everything stays inside the centre square the classifier's preprocessing keeps.
        assert kp[..., 0].min() >= (width - side) / 2 and kp[..., 0].max() <= (width + side) / 2
        assert kp[..., 1].min() >= 0 and kp[..., 1].max() <= height
        # The first frame is the athlete standing at rest: head above shoulders above hips above ankles.
        nose, shoulders, hips, ankles = kp[0, 0, 1], kp[0, 5:7, 1].mean(), kp[0, 11:13, 1].mean(), kp[0, 15:17, 1].mean()
        assert nose < shoulders < hips < ankles
        assert ankles - nose > 0.3 * height  # a figure, not a speck
        for seg in video["segments"]:
            if seg["label"] == "shspu":  # upside down: the head is below the ankles
                mid = (seg["start_frame"] + seg["end_frame"]) // 2
                assert kp[mid, 0, 1] > kp[mid, 15:17, 1].mean()


def test_render_video_counts_and_periods(tmp_path):
    specs = [SegmentSpec("ohs", 2), SegmentSpec("deadlift", 3, period=1.0), SegmentSpec("ohs", 1)]
    truth = render_video(tmp_path / "wod.mp4", specs, seed=11, size=SIZE, fps=30)
    assert truth.counts == [2, 3, 1] and truth.labels == ["ohs", "deadlift", "ohs"]
    assert probe(tmp_path / "wod.mp4").num_frames == truth.frames == len(truth.keypoints)
    deadlift = truth.segments[1]
    assert np.diff(deadlift.rep_frames).tolist() == [30, 30, 30]
    ends = [(s.start_frame, s.end_frame) for s in truth.segments]
    assert all(a[1] < b[0] for a, b in zip(ends, ends[1:]))
    default = render_video(tmp_path / "random.mp4", seed=5, size=SIZE)
    assert 3 <= len(default.segments) <= 5 and 2 <= len(set(default.labels)) <= 3


def test_every_class_is_drawn_and_looks_different(tmp_path):
    """Same seed (so the same background, colours and camera) for every class: what differs
    between the videos is the movement, and it must show in the pixels."""
    means, motion = {}, {}
    for label in DEFAULT_CLASSES:
        truth = render_video(tmp_path / f"{label}.mp4", [SegmentSpec(label, 1)], seed=21, size=SIZE)
        seg = truth.segments[0]
        frames = read_frames(tmp_path / f"{label}.mp4", np.linspace(seg.start_frame, seg.end_frame - 1, 10).astype(int))
        frames = frames.astype(np.float32)
        means[label] = frames.mean(axis=0)
        motion[label] = float(np.abs(np.diff(frames, axis=0)).mean())
    for label, value in motion.items():
        assert value > 0.3, f"{label}: the figure hardly moves ({value:.2f})"
    labels = list(DEFAULT_CLASSES)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            distance = float(np.abs(means[a] - means[b]).mean())
            assert distance > 1.0, f"{a} and {b} look alike (mean frames differ by {distance:.2f})"


def test_plan_spreads_each_class_over_many_videos():
    plan = plan_corpus(DEFAULT_CLASSES, clips_per_class=20, seed=0)
    counts = Counter(spec.label for video in plan for spec in video)
    assert counts == {c: 20 for c in DEFAULT_CLASSES}
    for label in DEFAULT_CLASSES:
        assert sum(any(s.label == label for s in video) for video in plan) >= 8
    for video in plan:
        labels = [s.label for s in video]
        assert 1 <= len(set(labels)) <= 3
        if len(set(labels)) > 1:
            assert all(a != b for a, b in zip(labels, labels[1:]))  # movements alternate
    assert plan == plan_corpus(DEFAULT_CLASSES, clips_per_class=20, seed=0)
    assert plan != plan_corpus(DEFAULT_CLASSES, clips_per_class=20, seed=1)


def test_plan_can_cap_one_segment_of_a_class_per_video():
    default = plan_corpus(DEFAULT_CLASSES, clips_per_class=40, seed=0)
    capped = plan_corpus(DEFAULT_CLASSES, clips_per_class=40, seed=0, max_per_video=1)
    assert Counter(s.label for video in capped for s in video) == {c: 40 for c in DEFAULT_CLASSES}
    for video in capped:
        labels = [s.label for s in video]
        assert len(labels) == len(set(labels)) and 1 <= len(labels) <= 3
    assert max(Counter(s.label for s in video).most_common(1)[0][1] for video in default) > 1
    assert len(capped) > 2 * len(default)  # more videos, so more looks, for the same segments
    with pytest.raises(ValueError, match="max_per_video"):
        plan_corpus(DEFAULT_CLASSES, clips_per_class=4, seed=0, max_per_video=0)


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(UserError, match="snatch"):
        render_video(tmp_path / "x.mp4", [SegmentSpec("snatch", 1)], size=SIZE)
    with pytest.raises(ValueError, match="even"):
        render_video(tmp_path / "x.mp4", [SegmentSpec("ohs", 1)], size=(161, 120))
    with pytest.raises(ValueError, match="reps"):
        SegmentSpec("ohs", 0)
    assert not (tmp_path / "x.mp4").exists()
