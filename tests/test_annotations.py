"""Supervisely annotations -> manifest: schema, frame ranges, labels, validation, real cfmove files, the tool."""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from movinet_crossfit.data.annotations import (
    AnnotationFormatError,
    build_manifest,
    inclusive_to_half_open,
    parse_annotation,
    vocabulary_from_options,
    write_manifest,
)
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.data.manifest import Manifest, clip_id

ROOT = Path(__file__).resolve().parents[1]
BRYAN = "CF-moves_ds0_Friendly Fran - Online Semifinals Event 1_Bryan Hernandez.mp4.json"


# --------------------------------------------------------------------------- fixture writers

def api_tag(name, first, last, **extra):
    tag = {"name": name, "id": 1, "tagId": 2, "frameRange": [first, last], "labelerLogin": "me",
           "createdAt": "2022-02-20T09:58:41.793Z", "updatedAt": "2022-02-20T09:58:41.793Z"}
    tag.update(extra)
    return tag


def api_annotation(video_name, frames_count, tags):
    """The API-download shape, as in ../shared/data/cfmove/annotations."""
    return {"videoId": 7, "videoName": video_name, "createdAt": "2022-02-20T09:56:16.729Z",
            "updatedAt": "2022-02-20T09:56:16.729Z", "description": "", "tags": tags, "objects": [],
            "size": {"height": 480, "width": 854}, "framesCount": frames_count, "frames": []}


def export_tag(name, first=None, last=None, value=None):
    tag = {"name": name, "key": f"k-{name}-{first}", "value": value, "labelerLogin": "me",
           "createdAt": "2020-08-23T12:06:11.963Z", "updatedAt": "2020-08-23T12:06:11.963Z"}
    if first is not None:
        tag["frameRange"] = [first, last]
    return tag


def export_annotation(frames_count, tags):
    """The project-export shape (VideoAnnotation.to_json)."""
    return {"size": {"height": 480, "width": 854}, "description": "", "key": "c8168b43ae1b45c38930f456df9d0f2b",
            "tags": tags, "objects": [], "frames": [], "framesCount": frames_count}


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_project(root: Path, videos: dict[str, tuple[int, list]], dataset="ds0") -> Path:
    write_json(root / "meta.json", {"projectType": "videos", "classes": [],
                                    "tags": [{"name": "thruster", "value_type": "none", "color": "#FF0000"}]})
    for video, (frames, tags) in videos.items():
        write_json(root / dataset / "ann" / f"{video}.json", export_annotation(frames, tags))
    return root


def build_one(tmp_path, tags, frames_count=1000, **options):
    path = write_json(tmp_path / "v.mp4.json", api_annotation("v.mp4", frames_count, tags))
    return build_manifest([path], **options)


def failures(report) -> str:
    return "\n".join(f"{item}: {reason}" for item, reason in report.failed)


# --------------------------------------------------------------------------- frame ranges

def test_inclusive_frame_range_becomes_half_open():
    assert inclusive_to_half_open(10, 12) == (10, 13)
    assert inclusive_to_half_open(5, 5) == (5, 6)
    assert inclusive_to_half_open(0, 0) == (0, 1)


def test_frame_range_conversion_reaches_the_manifest(tmp_path):
    manifest, report = build_one(tmp_path, [api_tag("thruster", 10, 12)], fps=10.0)
    (clip,) = manifest.clips
    assert (clip.start_frame, clip.end_frame, clip.num_frames) == (10, 13, 3)
    assert (clip.start_time, clip.end_time) == pytest.approx((1.0, 1.3))
    assert clip.id == clip_id("v.mp4", 10, 13, "thruster")
    assert report.done == ["v.mp4.json"] and not report.failed


def test_last_frame_of_the_video_is_allowed(tmp_path):
    manifest, report = build_one(tmp_path, [api_tag("thruster", 90, 99)], frames_count=100)
    assert [(c.start_frame, c.end_frame) for c in manifest.clips] == [(90, 100)]
    assert not report.failed


# --------------------------------------------------------------------------- labels

@pytest.mark.parametrize("raw, expected", [
    ("double-under", "double-unders"),
    ("Double Under", "double-unders"),
    ("handstand-push-up", "shspu"),
    ("Handstand push-ups", "shspu"),
    ("Power Clean", "power-clean"),
    ("C2B", "chest-to-bar"),
    ("thruster", "thruster"),
])
def test_labels_are_normalised(tmp_path, raw, expected):
    manifest, report = build_one(tmp_path, [api_tag(raw, 0, 9)])
    assert [c.label for c in manifest.clips] == [expected]
    assert not report.failed


def test_unknown_label_is_reported_and_dropped(tmp_path):
    tags = [api_tag("thruster", 0, 9), api_tag("Wall Ball", 20, 29), api_tag("Wall Ball", 40, 49)]
    manifest, report = build_one(tmp_path, tags)
    assert [c.label for c in manifest.clips] == ["thruster"]
    assert "wall-ball" not in manifest.classes
    ((item, reason),) = report.failed
    assert item == "v.mp4.json: tag 'Wall Ball'"
    assert "2 segments: #1, #2" in reason and "--alias wall-ball=CLASS" in reason and "--keep-unknown" in reason


def test_unknown_label_kept_on_request(tmp_path):
    tags = [api_tag("thruster", 0, 9), api_tag("Wall Ball", 20, 29)]
    manifest, report = build_one(tmp_path, tags, keep_unknown=True)
    assert sorted(c.label for c in manifest.clips) == ["thruster", "wall-ball"]
    assert manifest.classes[-1] == "wall-ball" and manifest.classes[0] == "thruster"
    assert not report.failed
    assert any("'Wall Ball'" in w and "kept as 'wall-ball'" in w for w in report.warnings)


def test_kept_unknown_labels_that_are_not_safe_file_names_are_dropped(tmp_path):
    """`split` makes a folder per label: a kept label like '../x' would write outside its output."""
    tags = [api_tag("thruster", 0, 9), api_tag("../x", 20, 29), api_tag(".hidden", 40, 49)]
    manifest, report = build_one(tmp_path, tags, keep_unknown=True)
    assert [c.label for c in manifest.clips] == ["thruster"]
    reasons = failures(report)
    assert "'../x'" in reasons and "'.hidden'" in reasons and "folder names" in reasons


def test_class_names_from_options_must_be_safe_file_names():
    with pytest.raises(UserError, match=r"--classes: class '\.\./evil'"):
        vocabulary_from_options("thruster,../evil")


def test_aliases_and_classes_from_options(tmp_path):
    vocabulary = vocabulary_from_options("thruster, Wall Ball", ["wb=wall-ball", "Thrusters=thruster"])
    assert vocabulary.classes == ("thruster", "wall-ball")
    tags = [api_tag("WB", 0, 9), api_tag("thruster", 20, 29), api_tag("chest-to-bar", 40, 49)]
    manifest, report = build_one(tmp_path, tags, vocabulary=vocabulary)
    assert manifest.classes == ["thruster", "wall-ball"]
    assert [c.label for c in manifest.clips] == ["wall-ball", "thruster"]
    assert any("'chest-to-bar'" in item for item, _ in report.failed)  # not a class of this vocabulary
    with pytest.raises(UserError, match="FROM=TO"):
        vocabulary_from_options(None, ["hspu"])
    with pytest.raises(UserError, match="--classes"):
        vocabulary_from_options(" , ", [])


# --------------------------------------------------------------------------- validation

def test_segment_beyond_the_video_is_dropped(tmp_path):
    tags = [api_tag("thruster", 0, 9), api_tag("thruster", 95, 100)]
    manifest, report = build_one(tmp_path, tags, frames_count=100)
    assert [(c.start_frame, c.end_frame) for c in manifest.clips] == [(0, 10)]
    ((item, reason),) = report.failed
    assert item == "v.mp4.json: tag 'thruster' #1 frameRange [95, 100]"
    assert "beyond the end of the video" in reason and "100 frames (framesCount)" in reason


@pytest.mark.parametrize("first, last", [(50, 49), (50, 20)])
def test_empty_or_inverted_segment_is_dropped(tmp_path, first, last):
    manifest, report = build_one(tmp_path, [api_tag("thruster", first, last), api_tag("thruster", 0, 9)])
    assert [(c.start_frame, c.end_frame) for c in manifest.clips] == [(0, 10)]
    ((item, reason),) = report.failed
    assert item == f"v.mp4.json: tag 'thruster' #0 frameRange [{first}, {last}]"
    assert "empty or inverted range" in reason


def test_negative_start_is_dropped(tmp_path):
    manifest, report = build_one(tmp_path, [api_tag("thruster", -3, 9)])
    assert manifest.clips == []
    assert "starts before frame 0" in failures(report)


def test_overlap_with_different_labels_drops_both(tmp_path):
    tags = [api_tag("thruster", 10, 30), api_tag("chest-to-bar", 25, 40), api_tag("thruster", 100, 120)]
    manifest, report = build_one(tmp_path, tags)
    assert [(c.label, c.start_frame) for c in manifest.clips] == [("thruster", 100)]
    ((item, reason),) = report.failed
    assert item == "v.mp4.json: tag 'thruster' #0 frameRange [10, 30]"
    assert "overlaps tag 'chest-to-bar' #1 frameRange [25, 40]" in reason and "both dropped" in reason


def test_overlap_with_different_labels_kept_on_request(tmp_path):
    tags = [api_tag("thruster", 10, 30), api_tag("chest-to-bar", 25, 40)]
    manifest, report = build_one(tmp_path, tags, keep_overlapping=True)
    assert [c.label for c in manifest.clips] == ["thruster", "chest-to-bar"]
    assert not report.failed
    assert any("overlaps" in w and "kept both" in w for w in report.warnings)


def test_touching_segments_do_not_overlap(tmp_path):
    # [10, 19] and [20, 29] are inclusive: they share no frame.
    manifest, report = build_one(tmp_path, [api_tag("thruster", 10, 19), api_tag("chest-to-bar", 20, 29)],
                                 fps=25.0)
    assert len(manifest.clips) == 2 and not report.failed and not report.warnings


def test_overlap_with_the_same_label_is_kept_with_a_warning(tmp_path):
    manifest, report = build_one(tmp_path, [api_tag("thruster", 10, 30), api_tag("thruster", 20, 40)])
    assert len(manifest.clips) == 2 and not report.failed
    assert any("same label; kept both" in w for w in report.warnings)


def test_duplicate_segments_are_dropped(tmp_path):
    tags = [api_tag("thruster", 10, 30), api_tag("thruster", 10, 30),   # same range
            api_tag("thruster", 50, 50), api_tag("thruster", 50, 70)]   # same start, a one-frame slip
    manifest, report = build_one(tmp_path, tags)
    assert [(c.start_frame, c.end_frame) for c in manifest.clips] == [(10, 31), (50, 71)]
    assert not report.failed
    duplicates = [w for w in report.warnings if "duplicate of" in w]
    assert len(duplicates) == 2
    assert duplicates[0].startswith("v.mp4.json: tag 'thruster' #1 frameRange [10, 30]: duplicate of tag 'thruster' #0")
    assert "#2 frameRange [50, 50]" in duplicates[1] and "kept the longer one" in duplicates[1]


def test_duplicates_are_found_across_files_of_one_video(tmp_path):
    a = write_json(tmp_path / "a" / "v.mp4.json", api_annotation("v.mp4", 100, [api_tag("thruster", 0, 9)]))
    b = write_json(tmp_path / "b" / "v.mp4.json", api_annotation("v.mp4", 100, [api_tag("thruster", 0, 9)]))
    manifest, report = build_manifest([a, b])
    assert len(manifest.clips) == 1
    assert sum("duplicate of" in w for w in report.warnings) == 1


def test_same_range_with_different_labels_is_an_overlap_not_a_duplicate(tmp_path):
    manifest, report = build_one(tmp_path, [api_tag("thruster", 10, 30), api_tag("chest-to-bar", 10, 30)])
    assert manifest.clips == []
    assert "different label" in failures(report)


# --------------------------------------------------------------------------- the two JSON shapes

def test_export_shaped_project(tmp_path):
    project = write_project(tmp_path / "export", {
        "a.mp4": (200, [export_tag("thruster", 0, 19, value=4), export_tag("Chest to bar", 50, 69),
                        export_tag("athlete")]),
        "b.mp4": (100, [export_tag("double-under", 10, 29)]),
    })
    manifest, report = build_manifest([project], output_dir=tmp_path)
    assert report.done == ["ds0/ann/a.mp4.json", "ds0/ann/b.mp4.json"] and not report.failed
    assert [(c.video, c.label, c.start_frame, c.end_frame, c.group) for c in manifest.clips] == [
        ("a.mp4", "thruster", 0, 20, "a.mp4"), ("a.mp4", "chest-to-bar", 50, 70, "a.mp4"),
        ("b.mp4", "double-unders", 10, 30, "b.mp4")]
    assert manifest.clips[0].count == 4 and manifest.clips[1].count is None
    assert any("'athlete'" in w and "no frameRange" in w for w in report.warnings)  # metadata tag: a warning
    assert manifest.clips[0].fps is None and any("--fps F" in w for w in report.warnings)


def test_api_download_shape_and_extra_keys(tmp_path):
    data = api_annotation("clip one.mp4", 300, [api_tag("thruster", 0, 9, futureField=1)])
    data["datasetId"] = 12          # a key this schema does not know
    path = write_json(tmp_path / "loose" / "CF-moves_ds0_clip one.mp4.json", data)
    manifest, report = build_manifest([path.parent])
    assert [c.video for c in manifest.clips] == ["clip one.mp4"]
    assert not report.failed
    assert any("ignored unknown keys datasetId" in w for w in report.warnings)


def test_schema_is_strict():
    with pytest.raises(AnnotationFormatError, match="framesCount"):
        parse_annotation(api_annotation("v.mp4", "100", []))
    with pytest.raises(AnnotationFormatError, match="tags"):
        parse_annotation({"framesCount": 10})
    with pytest.raises(AnnotationFormatError, match="got a list"):
        parse_annotation([{"start_time": 1.0}])
    parsed = parse_annotation(api_annotation("v.mp4", 100, [api_tag("thruster", "1", 5), api_tag("thruster", 1, 5)]))
    assert [i for i, _ in parsed.tags] == [1]
    assert parsed.bad_tags[0][0] == 0 and "frameRange.0" in parsed.bad_tags[0][1]


def test_video_name_from_the_file_name_when_absent(tmp_path, cfmove_clips):
    data = api_annotation("x", 23, [api_tag("thruster", 0, 22)])
    del data["videoName"]
    path = write_json(tmp_path / "anns" / "CF-moves_ds0_thruster_1.mp4.json", data)
    manifest, _ = build_manifest([path])
    assert manifest.clips[0].video == "CF-moves_ds0_thruster_1.mp4"
    # With the videos at hand, the <project>_<dataset>_ prefix is tried off to find the file.
    manifest, report = build_manifest([path], videos_dir=cfmove_clips, output_dir=tmp_path)
    # Compared as files: the shared data folder may be reached through a symlink.
    assert (tmp_path / manifest.clips[0].video).resolve() == (cfmove_clips / "thruster" / "thruster_1.mp4").resolve()
    assert not report.warnings


# --------------------------------------------------------------------------- videos, fps, writing

def test_videos_give_fps_paths_and_a_frame_count_check(tmp_path, cfmove_clips):
    project = tmp_path / "export"
    write_project(project, {"thruster_1.mp4": (23, [export_tag("thruster", 0, 22)]),
                            "thruster_2.mp4": (40, [export_tag("thruster", 0, 9)])})
    (project / "ds0" / "video").mkdir()
    shutil.copy(cfmove_clips / "thruster" / "thruster_1.mp4", project / "ds0" / "video")
    manifest, report = write_manifest([project], tmp_path / "out" / "manifest.json",
                                      videos_dir=cfmove_clips / "thruster", fps=25.0)
    by_video = {c.group: c for c in manifest.clips}
    one, two = by_video["thruster_1.mp4"], by_video["thruster_2.mp4"]
    assert one.video == "../export/ds0/video/thruster_1.mp4"          # the project's own copy wins
    assert (tmp_path / "out" / two.video).resolve() == (cfmove_clips / "thruster" / "thruster_2.mp4").resolve()
    assert one.fps == pytest.approx(26.36, abs=0.01)                  # probed, not the given 25
    assert one.end_time == pytest.approx(23 / one.fps, abs=1e-5)
    assert any("framesCount 40" in w and "probe" in w for w in report.warnings)   # thruster_2 has fewer
    assert any("not the given --fps 25" in w for w in report.warnings)
    assert Manifest.load(tmp_path / "out" / "manifest.json") == manifest


def test_without_fps_times_stay_empty_and_a_warning_says_how(tmp_path):
    manifest, report = build_one(tmp_path, [api_tag("thruster", 0, 9)])
    clip = manifest.clips[0]
    assert clip.fps is None and clip.start_time is None and clip.end_time is None
    assert any("--videos DIR" in w and "--fps F" in w for w in report.warnings)


def test_clips_are_sorted_deterministically(tmp_path):
    tags = [api_tag(name, first, first + 9) for name, first in
            [("thruster", 300), ("chest-to-bar", 100), ("thruster", 0), ("chest-to-bar", 200)]]
    orders = []
    for seed in range(3):
        shuffled = tags[:]
        random.Random(seed).shuffle(shuffled)
        manifest, _ = build_one(tmp_path, shuffled)
        orders.append([c.id for c in manifest.clips])
    assert orders[0] == orders[1] == orders[2]
    manifest, _ = build_one(tmp_path, tags)
    assert [c.start_frame for c in manifest.clips] == [0, 100, 200, 300]


def test_bad_options_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--fps"):
        build_manifest([tmp_path], fps=0)
    with pytest.raises(UserError, match="videos folder not found"):
        build_manifest([tmp_path], videos_dir=tmp_path / "nope")


# --------------------------------------------------------------------------- bad inputs, one batch

def test_a_bad_batch_reports_each_problem_and_completes(tmp_path):
    folder = tmp_path / "anns"
    write_json(folder / "good.mp4.json", api_annotation("good.mp4", 100, [api_tag("thruster", 0, 9)]))
    (folder / "corrupt.mp4.json").write_text('{"framesCount": 10, "tags": [', encoding="utf-8")
    write_json(folder / "notsly.mp4.json", {"hello": "world"})
    no_range = api_tag("thruster", 0, 0)
    del no_range["frameRange"]
    write_json(folder / "norange.mp4.json", api_annotation("norange.mp4", 100, [no_range, api_tag("thruster", 5, 9)]))
    write_json(folder / "unknown.mp4.json", api_annotation("unknown.mp4", 100, [api_tag("snatch", 0, 9)]))
    write_json(folder / "outside.mp4.json", api_annotation("outside.mp4", 100, [api_tag("thruster", 90, 120)]))
    write_json(folder / "manifest.json", [{"start_time": 1.0}])
    manifest, report = build_manifest([folder, tmp_path / "missing"])

    assert [c.group for c in manifest.clips] == ["good.mp4", "norange.mp4"]
    reasons = dict(report.failed)
    assert "not valid JSON" in reasons["corrupt.mp4.json"]
    assert "not a Supervisely video annotation" in reasons["notsly.mp4.json"]
    assert "framesCount: Field required" in reasons["notsly.mp4.json"]
    assert "no frameRange" in reasons["norange.mp4.json: tag 'thruster' #0"]
    assert "not one of the classes" in reasons["unknown.mp4.json: tag 'snatch'"]
    assert "beyond the end of the video" in reasons["outside.mp4.json: tag 'thruster' #0 frameRange [90, 120]"]
    assert "no such file or folder" in reasons[str(tmp_path / "missing")]
    assert report.skipped == [("manifest.json", "not named like an annotation (<video file>.json)")]
    assert sorted(report.done) == ["good.mp4.json", "norange.mp4.json", "outside.mp4.json", "unknown.mp4.json"]


def test_an_invalid_tag_does_not_lose_the_file(tmp_path):
    tags = [api_tag("thruster", 0, 9), {"name": "thruster", "frameRange": [5]}]
    manifest, report = build_one(tmp_path, tags)
    assert len(manifest.clips) == 1
    ((item, reason),) = report.failed
    assert item == "v.mp4.json: tag 'thruster' #1" and "frameRange" in reason


def test_json_nested_too_deep_fails_its_file_not_the_batch(tmp_path):
    folder = tmp_path / "anns"
    write_json(folder / "good.mp4.json", api_annotation("good.mp4", 100, [api_tag("thruster", 0, 9)]))
    depth = 100_000
    (folder / "deep.mp4.json").write_text('{"framesCount": 10, "tags": [], "objects": ' + "[" * depth
                                          + "]" * depth + "}", encoding="utf-8")
    write_project(tmp_path / "project", {"a.mp4": (50, [export_tag("thruster", 0, 9)])})
    (tmp_path / "project" / "meta.json").write_text("[" * depth + "]" * depth, encoding="utf-8")
    manifest, report = write_manifest([folder, tmp_path / "project"], tmp_path / "manifest.json")
    assert "JSON nested too deeply" in dict(report.failed)["deep.mp4.json"]
    assert any("meta.json: unreadable project meta (RecursionError)" in w for w in report.warnings)
    assert sorted(c.group for c in Manifest.load(tmp_path / "manifest.json").clips) == ["a.mp4", "good.mp4"]


def test_annotation_with_a_utf8_byte_order_mark_is_read(tmp_path):
    text = json.dumps(api_annotation("v.mp4", 100, [api_tag("thruster", 0, 9)]))
    (tmp_path / "v.mp4.json").write_text("\ufeff" + text, encoding="utf-8")
    write_project(tmp_path / "project", {"a.mp4": (50, [export_tag("thruster", 0, 9)])})
    meta = tmp_path / "project" / "meta.json"
    meta.write_text("\ufeff" + meta.read_text(encoding="utf-8"), encoding="utf-8")
    manifest, report = build_manifest([tmp_path / "v.mp4.json", tmp_path / "project"], fps=25)
    assert report.failed == [] and report.warnings == []  # meta.json read too: no "unreadable" warning
    assert sorted(c.group for c in manifest.clips) == ["a.mp4", "v.mp4"]


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), -25.0, 0.0])
def test_fps_must_be_positive_and_finite(tmp_path, fps):
    with pytest.raises(UserError, match="must be a positive, finite number"):
        build_manifest([tmp_path], fps=fps)


def test_output_that_is_a_folder_is_a_user_error(tmp_path):
    write_json(tmp_path / "v.mp4.json", api_annotation("v.mp4", 100, [api_tag("thruster", 0, 9)]))
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match=r"out: is a folder; -o takes the manifest file to write"):
        write_manifest([tmp_path / "v.mp4.json"], tmp_path / "out")
    env = {**os.environ, "MOVINET_CROSSFIT_PROGRESS": "0"}
    for args, message in ((["-o", tmp_path / "out"], "is a folder"), (["--fps", "inf"], "--fps inf")):
        proc = subprocess.run([sys.executable, "-m", "movinet_crossfit.cli", "manifest", tmp_path / "v.mp4.json",
                               *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "manifest.json").exists()  # --fps inf wrote nothing, no "fps": Infinity


def test_nothing_written_when_no_clip(tmp_path):
    (tmp_path / "bad.mp4.json").write_text("nope", encoding="utf-8")
    manifest, report = write_manifest([tmp_path / "bad.mp4.json"], tmp_path / "manifest.json")
    assert manifest.clips == [] and not report.succeeded
    assert not (tmp_path / "manifest.json").exists()


# --------------------------------------------------------------------------- the real cfmove annotations

def _raw_cfmove(folder: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.mp4.json"))}


def test_real_cfmove_annotations(cfmove_annotations):
    raw = _raw_cfmove(cfmove_annotations)
    assert len(raw) == 6
    # Expected, straight from the JSON: one clip per (video, movement, first frame).
    unique = {(d["videoName"], t["name"], t["frameRange"][0]) for d in raw.values() for t in d["tags"]}
    expected_per_class = Counter(name for _, name, _ in unique)
    expected_duplicates = sum(len(d["tags"]) for d in raw.values()) - len(unique)
    assert expected_duplicates > 0

    manifest, report = build_manifest([cfmove_annotations])
    assert sorted(report.done) == sorted(raw) and not report.failed, failures(report)
    assert Counter(c.label for c in manifest.clips) == expected_per_class
    duplicates = [w for w in report.warnings if "duplicate of" in w]
    assert len(duplicates) == expected_duplicates
    assert {c.group for c in manifest.clips} == {d["videoName"] for d in raw.values()}
    for clip in manifest.clips:
        frames = next(d["framesCount"] for d in raw.values() if d["videoName"] == clip.group)
        assert 0 <= clip.start_frame < clip.end_frame <= frames
    assert len({c.id for c in manifest.clips}) == len(manifest.clips)


def test_real_cfmove_duplicates_are_the_original_manifests(cfmove_annotations):
    """The original tool cut Bryan Hernandez's video; its repeated start times are our dropped duplicates."""
    original = json.loads((cfmove_annotations / "manifest.json").read_text(encoding="utf-8"))
    tags = json.loads((cfmove_annotations / BRYAN).read_text(encoding="utf-8"))["tags"]
    assert len(original) == len(tags)
    repeated = {t for t, n in Counter(e["start_time"] for e in original).items() if n > 1}
    assert len(repeated) == 2
    repeated_frames = {tags[i]["frameRange"][0] for i, e in enumerate(original) if e["start_time"] in repeated}

    manifest, report = build_manifest([cfmove_annotations / BRYAN])
    flagged = [w for w in report.warnings if "duplicate of" in w]
    assert len(flagged) == len(repeated)
    assert {int(w.split("frameRange [")[1].split(",")[0]) for w in flagged} == repeated_frames
    assert len(manifest.clips) == len(original) - len(repeated)


def test_real_cfmove_fps_fills_times(cfmove_annotations):
    original = json.loads((cfmove_annotations / "manifest.json").read_text(encoding="utf-8"))
    tags = json.loads((cfmove_annotations / BRYAN).read_text(encoding="utf-8"))["tags"]
    # The original tool's frame rate, recovered from its own output: start_time = first frame / fps.
    fps = tags[0]["frameRange"][0] / original[0]["start_time"]
    manifest, report = build_manifest([cfmove_annotations / BRYAN], fps=fps)
    assert not any("--fps F" in w for w in report.warnings)
    start_by_frame = {tags[i]["frameRange"][0]: e["start_time"] for i, e in enumerate(original)}
    last_by_first = {t["frameRange"][0]: t["frameRange"][1] for t in tags}
    for clip in manifest.clips:
        assert clip.fps == pytest.approx(fps)
        assert clip.start_time == pytest.approx(start_by_frame[clip.start_frame], abs=1e-5)
        # end_time is the end of the last annotated frame: one frame more than the original's length.
        assert clip.end_time == pytest.approx((last_by_first[clip.start_frame] + 1) / fps, abs=1e-5)


# --------------------------------------------------------------------------- the tool and the import cost

def _run_tool(*args, cwd=ROOT):
    env = {**os.environ, "MOVINET_CROSSFIT_PROGRESS": "0"}
    return subprocess.run([sys.executable, "tools/manifester.py", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_tool_script_writes_a_manifest(tmp_path):
    project = write_project(tmp_path / "export", {
        "a.mp4": (200, [export_tag("WB", 0, 19), export_tag("thruster", 50, 69), export_tag("thruster", 50, 69)])})
    out = tmp_path / "out" / "manifest.json"
    proc = _run_tool(project, "-o", out, "--fps", "20", "--alias", "wb=double-unders",
                     "--classes", "thruster,double-unders")
    assert proc.returncode == 0, proc.stderr
    assert f"{out}: 2 clips from 1 video (thruster 1, double-unders 1)" in proc.stdout + proc.stderr
    assert "#2 frameRange [50, 69]: duplicate of tag 'thruster' #1" in " ".join(proc.stderr.split())  # rich wraps
    manifest = Manifest.load(out)
    assert manifest.classes == ["thruster", "double-unders"]
    assert manifest.clips[0].end_time == pytest.approx(1.0)


def test_tool_script_exit_codes(tmp_path):
    (tmp_path / "bad.mp4.json").write_text("{", encoding="utf-8")
    proc = _run_tool(tmp_path / "bad.mp4.json", "-o", tmp_path / "m.json")
    assert proc.returncode == 1 and "nothing written" in proc.stderr
    assert not (tmp_path / "m.json").exists()
    proc = _run_tool(tmp_path / "bad.mp4.json", "-o", tmp_path / "m.json", "--alias", "hspu")
    assert proc.returncode == 2 and "FROM=TO" in proc.stderr


def test_tool_on_real_cfmove(tmp_path, cfmove_annotations):
    proc = _run_tool(cfmove_annotations, "-o", tmp_path / "manifest.json", "--keep-unknown")
    assert proc.returncode == 0, proc.stderr
    assert "clips from 6 videos" in proc.stdout + proc.stderr


def test_annotations_do_not_import_tensorflow():
    code = "import sys, movinet_crossfit.data.annotations; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
