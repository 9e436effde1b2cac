"""The pose track: BlazePose's pieces and the detector on generated and real videos, the poses
.npz format (NaN, never zeros), imports from other estimators, the keypoint preprocessing and
augmentations, and the TCN / LSTM / ConvLSTM classifiers (training, SimCLR, evaluation, TFLite
parity, commands). Everything but the detector tests runs from true keypoints, without models."""
from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.pose import blazepose
from movinet_crossfit.keypoints.features import (Augmentation, augment_points, prepare_points, prepare_sequence,
                                            resample)
from movinet_crossfit.pose.sequence import (COCO17, MEDIAPIPE33, MEDIAPIPE_TO_COCO, PoseSequence, convert_layout,
                                            flip_permutation, keypoint_errors, read_poses, save_poses)

CLASSES = ("deadlift", "double-unders", "thruster")


def _models_or_skip():
    from movinet_crossfit.pose.model_files import model_dir

    try:
        return model_dir()
    except UserError as exc:
        pytest.skip(f"BlazePose models not installed ({exc}); CI gets them from scripts/setup.sh")


# --- BlazePose, piece by piece -----------------------------------------------------------------

def test_ssd_anchors_match_the_pose_detector_layout():
    anchors = blazepose.ssd_anchors()
    assert anchors.shape == (2254, 2)
    # stride 8: 28x28 cells x 2 anchors, first cell first; then 14x14 x 2; then 7x7 x 6
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])
    assert len({tuple(a) for a in anchors[1960:]}) == 49


def test_decoding_and_weighted_nms():
    anchors = blazepose.ssd_anchors()
    boxes = np.zeros((1, 2254, 12), np.float32)
    scores = np.full((1, 2254, 1), -20.0, np.float32)
    # two overlapping detections on neighbouring anchors, one far away
    for index, dx, logit in ((100, 0.0, 3.0), (102, 2.0, 1.0), (2000, 0.0, 2.0)):
        boxes[0, index, :4] = [dx, 0, 44.8, 44.8]  # 0.2 x 0.2 of the input
        boxes[0, index, 4:6] = [0, 22.4]  # keypoint 0 a tenth below the centre
        scores[0, index, 0] = logit
    found_boxes, keypoints, found_scores = blazepose.decode_detections(boxes, scores, anchors, 0.5)
    assert len(found_scores) == 3
    centre = anchors[100]
    np.testing.assert_allclose(found_boxes[0], [centre[0] - 0.1, centre[1] - 0.1, centre[0] + 0.1, centre[1] + 0.1])
    np.testing.assert_allclose(keypoints[0, 0], [centre[0], centre[1] + 0.1])
    np.testing.assert_allclose(found_scores[0], 1 / (1 + math.exp(-3)))
    kept = blazepose.weighted_nms(found_boxes, keypoints, found_scores)
    assert len(kept) == 2
    merged_box, _, merged_score = kept[0]
    assert merged_score == pytest.approx(1 / (1 + math.exp(-3)))
    # the merged box lies between the two overlapping ones, nearer the stronger
    assert found_boxes[0, 0] < merged_box[0] < found_boxes[1, 0]
    assert merged_box[0] - found_boxes[0, 0] < found_boxes[1, 0] - merged_box[0]


def test_roi_alignment_and_crop_are_consistent():
    upright = blazepose.roi_from_alignment(np.array([100.0, 200.0]), np.array([100.0, 120.0]))
    assert upright.rotation == pytest.approx(0.0)
    assert upright.size == pytest.approx(2 * 80 * 1.25)
    lying = blazepose.roi_from_alignment(np.array([100.0, 200.0]), np.array([180.0, 200.0]))
    assert lying.rotation == pytest.approx(math.pi / 2)
    # "up" in the crop points from the hip centre to the scale point in the image
    top = lying.to_image(np.array([0.5, 0.0]))
    np.testing.assert_allclose(top, [100 + lying.size / 2, 200], atol=1e-9)
    # a dot drawn in the image is found where to_image says it is in the crop
    import cv2

    roi = blazepose.Roi(160.0, 120.0, 100.0, 0.6)
    image = np.zeros((240, 320, 3), np.uint8)
    where = roi.to_image(np.array([0.3, 0.7]))
    cv2.circle(image, (int(round(where[0] - 0.5)), int(round(where[1] - 0.5))), 2, (255, 255, 255), -1)
    crop = cv2.warpAffine(image, roi.crop_matrix(256), (256, 256), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    ys, xs = np.nonzero(crop[..., 0] > 100)
    assert abs(xs.mean() + 0.5 - 0.3 * 256) < 3 and abs(ys.mean() + 0.5 - 0.7 * 256) < 3


def test_heatmap_refinement_moves_confident_points_only():
    heatmap = np.full((64, 64, 2), -10.0, np.float32)
    heatmap[30, 20, 0] = 10.0  # joint 0: a sharp peak near its guess
    xy = np.array([[21.5 / 64, 31.5 / 64], [0.5, 0.5]])
    refined = blazepose.refine_from_heatmap(xy, heatmap)
    np.testing.assert_allclose(refined[0], [20 / 64, 30 / 64], atol=1e-3)
    np.testing.assert_allclose(refined[1], xy[1])  # no confident heat: unchanged


def test_heatmap_refinement_at_the_edges_casts_like_mediapipe():
    """A point a fraction of a cell left of the map is on column 0 (an int cast, as MediaPipe's),
    one a cell and a half left is off it; a window cut by the border weighs only cells on the map."""
    heatmap = np.full((64, 64, 3), -10.0, np.float32)
    heatmap[10, 0, :] = 10.0
    xy = np.array([[-0.5 / 64, 10.5 / 64], [-1.5 / 64, 10.5 / 64], [2.5 / 64, 10.5 / 64]])
    refined = blazepose.refine_from_heatmap(xy, heatmap)
    np.testing.assert_allclose(refined[0], [0.0, 10 / 64], atol=1e-3)
    np.testing.assert_allclose(refined[1], xy[1])
    np.testing.assert_allclose(refined[2], [0.0, 10 / 64], atol=1e-3)


def test_read_ahead_keeps_order_passes_errors_and_stops_early():
    import threading

    from movinet_crossfit.pose.extract import read_ahead

    assert list(read_ahead(iter(range(7)))) == list(range(7))

    def failing():
        yield 1
        raise ValueError("decoder broke")

    with pytest.raises(ValueError, match="decoder broke"):
        list(read_ahead(failing()))
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield 0
        finally:
            closed.set()

    frames = read_ahead(endless())
    next(frames)
    frames.close()  # the consumer stops: the decoder thread stops and closes its source
    assert closed.is_set()


def test_model_files_are_verified_when_extracted(tmp_path):
    from movinet_crossfit.pose import model_files

    fake = tmp_path / "mediapipe-0.10.21-cp311-none-any.whl"
    with zipfile.ZipFile(fake, "w") as archive:
        for member, _ in model_files.MEMBERS.values():
            archive.writestr(member, b"not the model")
    with pytest.raises(UserError, match="SHA-256"):
        model_files.extract_from_wheel(fake, tmp_path / "models")
    assert not (tmp_path / "models" / model_files.DETECTOR).exists()
    with pytest.raises(UserError, match="setup.sh"):
        model_files.model_dir(tmp_path / "nothing")
    assert not model_files.models_present(tmp_path / "nothing")


# --- the poses file --------------------------------------------------------------------------

def _mediapipe_sequence(frames: int = 12) -> PoseSequence:
    rng = np.random.default_rng(0)
    points = rng.uniform(50, 300, (frames, 33, 3)).astype(np.float32)
    points[3] = np.nan  # nobody in frame 3
    points[5, 15] = np.nan  # one wrist missing in frame 5
    visibility = rng.uniform(0, 1, (frames, 33)).astype(np.float32)
    return PoseSequence(points, 25.0, "mediapipe33", confidence=np.where(np.arange(frames) == 3, 0.0, 0.9),
                        visibility=visibility, roi_source=np.array([1] + [2] * (frames - 1)), image_size=(320, 240),
                        source="clip.mp4", backend="blazepose")


def test_poses_file_round_trip_keeps_nan_and_metadata(tmp_path):
    from movinet_crossfit.pose.sequence import load_poses

    poses = _mediapipe_sequence()
    path = save_poses(tmp_path / "p.npz", poses)
    back = read_poses(path)
    assert back.layout == "mediapipe33" and back.fps == 25.0 and back.image_size == (320, 240)
    assert np.isnan(back.keypoints[3]).all() and np.isnan(back.keypoints[5, 15]).all()
    assert not np.isnan(back.keypoints[4]).any() and (back.keypoints != 0).all()
    assert np.isnan(back.visibility[3]).all()  # no confidence for joints that are not there
    np.testing.assert_array_equal(back.detected, np.arange(12) != 3)
    keypoints, fps, layout = load_poses(path)  # the counter reads the same file
    assert keypoints.shape == (12, 33, 3) and fps == 25.0 and layout == "mediapipe33"
    assert np.isnan(keypoints[3]).all()
    assert not list(tmp_path.glob(".*part*"))


def test_layouts_and_mirroring():
    assert [MEDIAPIPE33[i] for i in convert_layout(np.arange(33)[None, :, None], "mediapipe33", "coco17")[0, :, 0]] \
        == list(COCO17)
    with pytest.raises(UserError, match="cannot be turned"):
        convert_layout(np.zeros((1, 17, 2)), "coco17", "mediapipe33")
    for layout, names in (("coco17", COCO17), ("mediapipe33", MEDIAPIPE33)):
        flip = flip_permutation(layout)
        np.testing.assert_array_equal(flip[flip], np.arange(len(names)))
        assert names[flip[names.index("l_wrist")]] == "r_wrist" and names[flip[0]] == "nose"
    assert MEDIAPIPE33[flip_permutation("mediapipe33")[MEDIAPIPE33.index("mouth_l")]] == "mouth_r"
    with pytest.raises(UserError, match="expected"):
        PoseSequence(np.zeros((4, 17, 2)), 30, "mediapipe33")


def test_keypoint_errors_measure_in_torso_lengths():
    true = np.zeros((4, 17, 2))
    true[:, 5:7] = [0, 0]
    true[:, 11:13] = [0, 100]  # torso 100 px
    detected = np.full((4, 33, 2), np.nan)
    detected[:, list(MEDIAPIPE_TO_COCO)] = true + [10, 0]
    detected[0] = np.nan
    errors = keypoint_errors(detected, "mediapipe33", true)
    assert errors["detected_frames"] == 0.75
    assert errors["median_error"] == pytest.approx(0.1) and errors["pck_0.2"] == 1.0


# --- imports from other estimators -----------------------------------------------------------------

def test_vitpose_import_splits_the_score_channel(tmp_path):
    from movinet_crossfit.pose.importers import import_poses

    rng = np.random.default_rng(1)
    reconstruction = np.concatenate([rng.uniform(100, 400, (20, 17, 2)), rng.uniform(0, 1, (20, 17, 1))], -1)
    reconstruction[0, :, 2] = 0.05
    np.savez(tmp_path / "vit.npz", reconstruction=reconstruction)
    poses = import_poses(tmp_path / "vit.npz", fps=30, min_score=0.1)
    assert poses.layout == "coco17" and poses.keypoints.shape == (20, 17, 2) and poses.backend == "vitpose"
    kept = reconstruction[1, :, 2] >= 0.1
    np.testing.assert_allclose(poses.visibility[1, kept], reconstruction[1, kept, 2], rtol=1e-6)
    np.testing.assert_allclose(poses.keypoints[1, kept], reconstruction[1, kept, :2], rtol=1e-6)
    assert np.isnan(poses.keypoints[1, ~kept]).all() and np.isnan(poses.visibility[1, ~kept]).all()
    assert np.isnan(poses.keypoints[0]).all()  # every joint under the score threshold
    # a third channel that is not a score (a depth) is kept as z
    depth = reconstruction.copy()
    depth[..., 2] = rng.uniform(-50, 50, (20, 17))
    np.savez(tmp_path / "vit3d.npz", reconstruction=depth, fps=25.0)
    poses3d = import_poses(tmp_path / "vit3d.npz")
    assert poses3d.keypoints.shape == (20, 17, 3) and poses3d.fps == 25.0
    with pytest.raises(UserError, match="frame rate"):
        import_poses(tmp_path / "vit.npz")
    np.savez(tmp_path / "wrong.npz", reconstruction=np.zeros((5, 13, 2)))
    with pytest.raises(UserError, match="17"):
        import_poses(tmp_path / "wrong.npz", fps=30)


def test_torchvision_import_keeps_the_best_person_and_nan_for_nobody(tmp_path):
    from movinet_crossfit.pose.importers import import_poses

    rng = np.random.default_rng(2)
    keypoints = np.concatenate([rng.uniform(0, 300, (6, 2, 17, 2)), np.ones((6, 2, 17, 1))], -1)
    scores = np.array([[0.9, 0.99], [0.95, 0.2], [0.1, 0.3], [0.8, np.nan], [0.7, 0.6], [0.99, 0.98]])
    keypoints[3, 1] = np.nan  # a padded person slot
    np.savez(tmp_path / "rcnn.npz", keypoints=keypoints, scores=scores,
             keypoints_scores=rng.normal(5, 2, (6, 2, 17)), fps=30.0)
    poses = import_poses(tmp_path / "rcnn.npz")
    assert poses.backend == "torchvision" and poses.keypoints.shape == (6, 17, 2)
    np.testing.assert_allclose(poses.keypoints[0], keypoints[0, 1, :, :2], rtol=1e-6)  # 0.99 beats 0.9
    np.testing.assert_allclose(poses.keypoints[1], keypoints[1, 0, :, :2], rtol=1e-6)
    assert np.isnan(poses.keypoints[2]).all()  # best person scores 0.3 < 0.5: nobody
    np.testing.assert_allclose(poses.keypoints[3], keypoints[3, 0, :, :2], rtol=1e-6)
    assert ((poses.visibility[0] > 0) & (poses.visibility[0] < 1)).all()
    np.testing.assert_allclose(poses.confidence[:3], [0.99, 0.95, 0.3], rtol=1e-6)
    # the same outputs as a JSON list of per-frame dicts, one frame empty
    frames = [{"keypoints": keypoints[t][np.isfinite(scores[t])].tolist(),
               "scores": scores[t][np.isfinite(scores[t])].tolist()} for t in range(6)]
    frames[4] = {"keypoints": [], "scores": []}
    (tmp_path / "rcnn.json").write_text(json.dumps({"fps": 30, "frames": frames}))
    from_json = import_poses(tmp_path / "rcnn.json")
    np.testing.assert_allclose(from_json.keypoints[0], poses.keypoints[0], rtol=1e-6)
    assert np.isnan(from_json.keypoints[4]).all() and from_json.confidence[4] == 0


def test_poses_command_imports_a_batch_and_reports_bad_files(tmp_path):
    from typer.testing import CliRunner

    from movinet_crossfit.cli import app

    np.savez(tmp_path / "good.npz", reconstruction=np.random.default_rng(0).uniform(0, 100, (8, 17, 2)), fps=30.0)
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    result = CliRunner().invoke(app, ["poses", str(tmp_path / "good.npz"), str(tmp_path / "bad.npz"),
                                      "--from", "vitpose", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert read_poses(tmp_path / "out" / "good.npz").num_frames == 8
    assert "1 failed" in result.output and "not a readable" in result.output
    again = CliRunner().invoke(app, ["poses", str(tmp_path / "good.npz"), "--from", "vitpose",
                                     "-o", str(tmp_path / "out")])
    assert "1 skipped" in again.output


# --- preprocessing and augmentation --------------------------------------------------------------

def test_prepare_is_invariant_to_zoom_and_position_and_fills_gaps():
    from movinet_crossfit.synthetic import SegmentSpec
    from movinet_crossfit.synthetic.corpus import render_keypoints

    keypoints, _ = render_keypoints([SegmentSpec("thruster", 2)], seed=4)
    base = prepare_sequence(keypoints, "coco17", length=48)
    moved = prepare_sequence(keypoints * 2.5 + np.array([40.0, -30.0]), "coco17", length=48)
    np.testing.assert_allclose(moved, base, atol=1e-4)
    assert base.shape == (48, 34) and base.dtype == np.float32
    holey = keypoints.astype(np.float64).copy()
    holey[10:14] = np.nan
    holey[:, 9] = np.where(np.arange(len(holey))[:, None] % 3 == 0, np.nan, holey[:, 9])
    filled = prepare_sequence(holey, "coco17", length=48)
    assert np.isfinite(filled).all()
    assert np.abs(filled - base).max() < 0.2  # gaps interpolated, not zeros
    mediapipe = np.full((len(keypoints), 33, 3), np.nan)
    mediapipe[:, list(MEDIAPIPE_TO_COCO), :2] = keypoints
    mediapipe[..., 2] = 5.0
    np.testing.assert_allclose(prepare_sequence(mediapipe, "mediapipe33", length=48), base, atol=1e-5)
    with pytest.raises(ValueError, match="no joint"):
        prepare_points(np.full((5, 17, 2), np.nan), "coco17", "coco17")


def test_resampling_keeps_the_ends_and_augmentations_stay_sane():
    seq = np.arange(10, dtype=float)[:, None, None] * np.ones((1, 17, 2))
    out = resample(seq, 19)
    assert out.shape == (19, 17, 2) and out[0, 0, 0] == 0 and out[-1, 0, 0] == 9
    np.testing.assert_allclose(out[1, 0, 0], 0.5)
    rng = np.random.default_rng(0)
    points = np.random.default_rng(1).normal(size=(60, 17, 2))
    off = Augmentation(partial=0, speed=0, reverse=0, mirror=0, jitter=0, scale=0, rotate=0)
    np.testing.assert_array_equal(augment_points(points, "coco17", rng, off), points)
    mirrored = augment_points(points, "coco17", rng, Augmentation(partial=0, speed=0, mirror=1.0, jitter=0, scale=0,
                                                                   rotate=0))
    np.testing.assert_allclose(mirrored[:, 9, 0], -points[:, 10, 0])  # left wrist <- mirrored right wrist
    reversed_ = augment_points(points, "coco17", rng, Augmentation(partial=0, speed=0, reverse=1.0, mirror=0, jitter=0,
                                                                    scale=0, rotate=0))
    np.testing.assert_array_equal(reversed_, points[::-1])
    for _ in range(20):
        varied = augment_points(points, "coco17", rng, Augmentation(partial=1.0, speed=1.0))
        assert 0.6 * 60 - 1 <= len(varied) <= 60 and np.isfinite(varied).all()


# --- classifiers ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pose_corpus(tmp_path_factory):
    from movinet_crossfit.keypoints.data import write_keypoint_corpus

    return write_keypoint_corpus(tmp_path_factory.mktemp("pose_corpus") / "corpus", classes=CLASSES,
                                 clips_per_class=8, seed=2, size=(160, 120))


def test_keypoint_corpus_is_what_generate_corpus_writes(tmp_path):
    from movinet_crossfit.keypoints.data import write_keypoint_corpus
    from movinet_crossfit.synthetic import generate_corpus

    generate_corpus(tmp_path / "real", classes=CLASSES[:2], clips_per_class=1, seed=5, size=(64, 64), workers=1)
    write_keypoint_corpus(tmp_path / "fast", classes=CLASSES[:2], clips_per_class=1, seed=5, size=(64, 64))
    real = json.loads((tmp_path / "real" / "ground_truth.json").read_text())
    fast = json.loads((tmp_path / "fast" / "ground_truth.json").read_text())
    assert real["videos"].keys() == fast["videos"].keys()
    for name, video in real["videos"].items():
        assert video["segments"] == fast["videos"][name]["segments"]
        np.testing.assert_array_equal(np.load(tmp_path / "real" / video["keypoints"])["keypoints"],
                                      np.load(tmp_path / "fast" / fast["videos"][name]["keypoints"])["keypoints"])


def test_items_come_from_corpora_manifests_and_class_folders(pose_corpus, tmp_path):
    from movinet_crossfit.data.manifest import ClipEntry, Manifest
    from movinet_crossfit.keypoints.data import load_items

    items, report = load_items(pose_corpus)
    assert {i.label for i in items} == set(CLASSES) and len(items) == 3 * 8
    truth = json.loads((pose_corpus / "ground_truth.json").read_text())
    first_video = sorted(truth["videos"])[0]
    segment = truth["videos"][first_video]["segments"][0]
    assert items[0].group == first_video and len(items[0].keypoints) == segment["end_frame"] - segment["start_frame"]
    # class folders, one sequence NaN everywhere (reported, left out)
    folder = tmp_path / "folders"
    for k, item in enumerate(items[:4]):
        save_poses(folder / item.label / f"s{k}.npz", PoseSequence(item.keypoints, 30, "coco17"))
    save_poses(folder / "thruster" / "empty.npz", PoseSequence(np.full((9, 17, 2), np.nan), 30, "coco17"))
    found, report = load_items(folder)
    assert len(found) == 4 and [f[0] for f in report.failed] == ["thruster/empty"]
    # a manifest over poses of whole videos, sliced by each clip's frame range
    poses_dir = tmp_path / "video_poses"
    points = np.load(pose_corpus / truth["videos"][first_video]["keypoints"])["keypoints"]
    save_poses(poses_dir / f"{first_video[:-4]}.npz", PoseSequence(points, 30, "coco17"))
    clips = [ClipEntry(id=f"c{k}", video=f"videos/{first_video}", label=s["label"], start_frame=s["start_frame"],
                       end_frame=s["end_frame"], group="v0") for k, s in enumerate(truth["videos"][first_video]["segments"])]
    clips.append(ClipEntry(id="lost", video="videos/other.mp4", label="thruster", start_frame=0, end_frame=5, group="v1"))
    Manifest(classes=list(CLASSES), clips=clips).save(tmp_path / "manifest.json")
    from_manifest, report = load_items(poses_dir, tmp_path / "manifest.json")
    assert len(from_manifest) == len(clips) - 1 and report.failed[0][0] == "lost"
    np.testing.assert_array_equal(from_manifest[0].keypoints, points[segment["start_frame"]:segment["end_frame"]])


@pytest.fixture(scope="session")
def tcn_run(pose_corpus, tmp_path_factory):
    """A TCN trained by the command (a few epochs), with SimCLR pre-training first."""
    from typer.testing import CliRunner

    from movinet_crossfit.cli import app

    run = tmp_path_factory.mktemp("pose_runs") / "tcn"
    config = run.parent / "small.yaml"
    config.write_text("width: 16\nlength: 32\naugmentation:\n  reverse: 0.5\n")
    result = CliRunner().invoke(app, ["train-poses", str(pose_corpus), "--out", str(run), "--arch", "tcn",
                                      "--epochs", "6", "--contrastive-epochs", "2", "--ratios",
                                      "train=0.6,val=0.2,test=0.2", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return run, result.output


def test_train_poses_writes_a_complete_run(tcn_run):
    import yaml

    run, output = tcn_run
    for name in ("config.yaml", "labels.txt", "model.weights.h5", "split.json", "history.csv", "pretrain_history.csv",
                 "model.tflite", "export_report.json", "train_summary.json"):
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["width"] == 16 and config["length"] == 32 and config["augmentation"]["reverse"] == 0.5
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["classes"] == sorted(CLASSES) and summary["contrastive_epochs"] == 2
    split = json.loads((run / "split.json").read_text())
    by_group = {}
    for row in split:
        by_group.setdefault(row["group"], set()).add(row["split"])
    assert all(len(s) == 1 for s in by_group.values())  # no video straddles two splits
    evaluated = summary["eval_split"]
    metrics = json.loads((run / f"eval_{evaluated}" / "metrics.json").read_text())
    assert {"accuracy", "top1_accuracy", "per_class", "confusion_matrix", "predictions"} <= set(metrics)
    assert (run / f"eval_{evaluated}" / "confusion_matrix.png").stat().st_size > 1000
    assert "accuracy" in output
    export = json.loads((run / "export_report.json").read_text())
    assert export["max_abs_diff"] < 1e-4 and export["argmax_agreement"] == 1.0
    assert not [op for op in export["ops"] if op.startswith("CUSTOM") or op.startswith("Flex")]


def test_evaluate_poses_and_predict(tcn_run, pose_corpus, tmp_path):
    from typer.testing import CliRunner

    from movinet_crossfit.cli import app
    from movinet_crossfit.keypoints.data import load_items
    from movinet_crossfit.keypoints.evaluate import evaluate_pose_run
    from movinet_crossfit.keypoints.predict import predict_poses

    run, _ = tcn_run
    everything = evaluate_pose_run(run, split="all", out_dir=tmp_path / "all")
    assert everything.metrics["clips"] == 24
    result = CliRunner().invoke(app, ["evaluate-poses", str(run), "--split", "train"])
    assert result.exit_code == 0, result.output
    split = json.loads((run / "split.json").read_text())
    assert json.loads((run / "eval_train" / "metrics.json").read_text())["clips"] == \
        sum(row["split"] == "train" for row in split)
    item = load_items(pose_corpus)[0][0]
    probabilities = predict_poses(run, item.keypoints, "coco17")
    assert set(probabilities) == set(CLASSES) and sum(probabilities.values()) == pytest.approx(1, abs=1e-5)
    with pytest.raises(UserError, match="not a train-poses run"):
        predict_poses(tmp_path, item.keypoints, "coco17")


def test_simclr_loss_rewards_matching_views():
    import tensorflow as tf

    from movinet_crossfit.keypoints.train import nt_xent_loss

    z = tf.random.stateless_normal((16, 64), seed=(1, 2))
    matched = float(nt_xent_loss(z, z + 0.01, 0.2))
    shuffled = float(nt_xent_loss(z, tf.random.stateless_normal((16, 64), seed=(3, 4)), 0.2))
    assert matched < 0.5 < math.log(31) - 1 < shuffled


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["lstm", "convlstm"])
def test_recurrent_classifiers_train_and_export_with_parity(arch, pose_corpus, tmp_path):
    from movinet_crossfit.keypoints.train import PoseTrainConfig, train_pose_classifier

    result = train_pose_classifier(PoseTrainConfig(data=str(pose_corpus), out=str(tmp_path / arch), arch=arch,
                                                   epochs=3, width=12, length=32, ratios="train=0.7,test=0.3"))
    export = json.loads((tmp_path / arch / "export_report.json").read_text())
    assert export["input"] == [1, 32, 34]
    # the LSTM's state is reset per sequence (variable tensors); without it later sequences drift
    assert export["max_abs_diff"] < 1e-4 and export["argmax_agreement"] == 1.0, export
    assert ("UNIDIRECTIONAL_SEQUENCE_LSTM" in export["ops"]) == (arch == "lstm")
    assert not [op for op in export["ops"] if op.startswith("CUSTOM") or op.startswith("Flex")]
    assert result.summary["eval_split"] == "test" and result.metrics["clips"] > 0


def test_train_poses_errors_are_clear(tmp_path, pose_corpus):
    from movinet_crossfit.keypoints.train import PoseTrainConfig, train_pose_classifier

    with pytest.raises(UserError, match="no such folder"):
        train_pose_classifier(PoseTrainConfig(data=str(tmp_path / "missing"), out=str(tmp_path / "run")))
    with pytest.raises(UserError, match="--arch"):
        train_pose_classifier(PoseTrainConfig(data=str(pose_corpus), out=str(tmp_path / "run"), arch="gru", epochs=1))
    with pytest.raises(UserError, match="unknown train-poses option"):
        PoseTrainConfig.from_dict({"epoch": 3})


# --- the detector (needs the BlazePose files from scripts/setup.sh) ------------------------------

@pytest.fixture(scope="session")
def tracker():
    from movinet_crossfit.pose.extract import make_backend

    return make_backend("blazepose", model_dir=_models_or_skip(), num_threads=1)


def test_blazepose_on_a_generated_video_is_near_the_true_joints(tracker, tmp_path):
    from movinet_crossfit.pose.extract import extract_poses
    from movinet_crossfit.synthetic import SegmentSpec, render_video

    # BlazePose's detector finds people by their faces; the stick figure's head is a plain disk, so
    # how often it is found depends on the drawing (seeds 11-14: 22-87 % of frames, see
    # docs/poses.md). Seed 14 is one it finds; measured: 87 % of frames, median error 0.11 torso
    # lengths, PCK@0.5 0.99.
    truth = render_video(tmp_path / "thruster.mp4", [SegmentSpec("thruster", 3)], seed=14)
    poses = extract_poses(tmp_path / "thruster.mp4", tracker)
    assert poses.num_frames == truth.frames and poses.layout == "mediapipe33" and poses.keypoints.shape[2] == 3
    errors = keypoint_errors(poses.keypoints, "mediapipe33", truth.keypoints)
    assert errors["detected_frames"] > 0.7, errors
    assert errors["median_error"] < 0.2 and errors["pck_0.5"] > 0.9, errors
    assert (poses.roi_source == 2).sum() > poses.num_frames / 2  # tracked, not re-detected every frame
    missing = ~poses.detected
    assert np.isnan(poses.keypoints[missing]).all() and (poses.confidence[missing] < 0.5).all()


def test_blazepose_on_a_real_clip_and_the_poses_command(tracker, cfmove_clips, tmp_path):
    from typer.testing import CliRunner

    from movinet_crossfit.cli import app

    clip = cfmove_clips / "thruster" / "thruster_1.mp4"
    result = CliRunner().invoke(app, ["poses", str(clip), "-o", str(tmp_path / "thruster.npz")])
    assert result.exit_code == 0, result.output
    poses = read_poses(tmp_path / "thruster.npz")
    assert poses.detected.mean() == 1.0 and poses.image_size == (854, 480) and poses.backend == "blazepose"
    body = poses.keypoints[:, :, :2]
    names = {n: i for i, n in enumerate(MEDIAPIPE33)}
    # anatomy of a standing/squatting athlete: head above shoulders above hips above ankles
    for upper, lower in (("nose", "l_shoulder"), ("l_shoulder", "l_hip"), ("l_hip", "l_ankle"), ("r_hip", "r_ankle")):
        assert (body[:, names[upper], 1] < body[:, names[lower], 1]).mean() > 0.9, (upper, lower)
    assert (body[..., 0] > 0).all() and (body[..., 0] < 854).all()
    assert (poses.visibility[:, names["l_hip"]] > 0.5).all()


def test_blazepose_repeats_the_last_pose_without_looking_again(cfmove_clips):
    """A camera's repeated frame (``analysis.live``): the pose just found, marked repeated, and no
    model run; before any pose, no pose."""
    from movinet_crossfit.core.video import iter_frames
    from movinet_crossfit.pose.blazepose import REPEATED, BlazePose

    pose = BlazePose(_models_or_skip(), num_threads=1)
    frames = iter_frames(cfmove_clips / "thruster" / "thruster_1.mp4")
    frame = next(frames)
    frames.close()
    assert pose.repeat().roi_source == 0 and np.isnan(pose.repeat().keypoints).all()
    found = pose(frame)
    looked = []
    pose.landmarks = lambda *args: looked.append(args)  # any model run would land here
    again = pose.repeat()
    assert found.roi_source in (1, 2) and again.roi_source == REPEATED and not looked
    assert np.array_equal(again.keypoints, found.keypoints) and again.score == found.score
