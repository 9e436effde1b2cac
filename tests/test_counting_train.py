"""RepNet training and evaluation: synthetic repetitions, losses, train-counter, counting manifests
(Supervisely, generated corpus, Countix) and eval-counter.

A RepNet build costs ~10 s even at 16 frames x 32 px, so one tiny run (trained, then resumed) and
one restored model are made per session and shared.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.repnet.data import RepetitionConfig, make_repetition_sample

FRAMES, SIZE = 16, 32


def _numbered_clip(n: int = 40, height: int = 24, width: int = 40) -> np.ndarray:
    """Frame i is flat grey level 4*i: after any resize, a pixel still says which frame it was."""
    return np.repeat(np.repeat(np.repeat((np.arange(n) * 4).astype(np.uint8)[:, None, None, None], height, 1),
                               width, 2), 3, 3)


def _source_index(frames: np.ndarray) -> np.ndarray:
    return np.round(frames[:, 0, 0, 0] / 4.0).astype(int)


def _write_video(path, frames_count: int, fps: float = 8, size: int = 32, seed: int = 0):
    from movinet_crossfit.synthetic.encode import write_mp4

    rng = np.random.default_rng(seed)
    background = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)

    def frames():
        for i in range(frames_count):
            frame = background.copy()
            x = int(8 + 6 * np.sin(2 * np.pi * i / 6))  # a square swinging with a 6-frame period
            frame[10:20, x:x + 10] = 255
            yield frame

    write_mp4(path, frames(), (size, size), fps)
    return path


# --- the generator ------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["ckpt-70", "ckpt-88"])
@pytest.mark.parametrize("seed", range(6))
def test_labels_follow_the_repeated_segment(variant, seed):
    config = RepetitionConfig(variant=variant, num_frames=FRAMES, image_size=SIZE, camera_motion_prob=0.0,
                              period_jitter=0.0)
    clip = _numbered_clip()
    sample = make_repetition_sample(clip, seed, config)
    info, period = sample.info, sample.period
    assert sample.frames.shape == (FRAMES, SIZE, SIZE, 3) and sample.frames.dtype == np.uint8
    source = _source_index(sample.frames)
    assert source.tolist() == info["source_index"]

    periodic = period > 0
    offset = 0 if variant == "ckpt-70" else 1
    assert np.array_equal(sample.periodicity, periodic.astype(np.float32))
    assert np.array_equal(sample.period_class, np.where(periodic, period - offset, 0))
    assert sample.period_class.max() < (FRAMES if variant == "ckpt-70" else FRAMES // 2)
    assert periodic.sum() == sum(info["periods"]) and sample.count == len(info["periods"]) >= 2
    assert abs((1.0 / period[periodic]).sum() - sample.count) < 1e-9  # what the counter sums

    # Inside: the label is the length of the repeating unit; every rep shows the same frames.
    start, seg = info["segment_start"], info["segment_length"]
    q = info["base_period"]
    reps = source[info["before"]: info["before"] + q * sample.count].reshape(sample.count, q)
    assert set(period[periodic]) == {q}
    assert (reps == reps[0]).all()
    assert reps.min() == start and reps.max() == start + seg - 1
    assert reps[0, 0] == start
    peak = int(np.argmax(reps[0]))
    assert (np.diff(reps[0][: peak + 1]) >= 0).all() and (np.diff(reps[0][peak:]) <= 0).all()
    if info["palindrome"]:  # forwards, then back
        assert peak == (q + 1) // 2 and reps[0, -1] < reps[0, peak]
    else:
        assert peak == q - 1
    # Outside: periodicity 0, frames from outside the segment (when the clip has some), played once.
    before = source[: info["before"]]
    after = source[info["before"] + q * sample.count:]
    assert (np.diff(before) >= 0).all() and (np.diff(after) >= 0).all()
    if start > 0:
        assert (before < start).all()
    if start + seg < len(clip):
        assert (after >= start + seg).all()


def test_jittered_periods_label_each_rep_with_its_own_length():
    config = RepetitionConfig(num_frames=64, image_size=SIZE, camera_motion_prob=0.0, period_jitter=0.3,
                              min_period=5)
    found_different = False
    for seed in range(20):
        sample = make_repetition_sample(_numbered_clip(60), seed, config)
        periods = sample.info["periods"]
        labels = sample.period[sample.info["before"]: sample.info["before"] + sum(periods)]
        assert labels.tolist() == [p for p in periods for _ in range(p)]
        assert all(config.min_period <= p <= config.largest_period for p in periods)
        found_different |= len(set(periods)) > 1
    assert found_different


def test_camera_motion_moves_pixels_not_labels():
    still = RepetitionConfig(num_frames=FRAMES, image_size=SIZE, camera_motion_prob=0.0)
    moving = RepetitionConfig(num_frames=FRAMES, image_size=SIZE, camera_motion_prob=1.0, max_rotation=20.0)
    rng = np.random.default_rng(1)
    clip = rng.integers(0, 255, (30, 24, 40, 3), dtype=np.uint8)
    a, b = make_repetition_sample(clip, 5, still), make_repetition_sample(clip, 5, moving)
    assert np.array_equal(a.period, b.period) and np.array_equal(a.periodicity, b.periodicity)
    assert b.info["camera_motion"] and not a.info["camera_motion"]
    change = np.abs(a.frames.astype(int) - b.frames.astype(int)).mean(axis=(1, 2, 3))
    assert change.max() > 5  # the picture really moved


def test_samples_are_deterministic_by_seed():
    config = RepetitionConfig(num_frames=FRAMES, image_size=SIZE, camera_motion_prob=1.0)
    clip = np.random.default_rng(0).integers(0, 255, (30, 24, 40, 3), dtype=np.uint8)
    a, b = make_repetition_sample(clip, [3, 7], config), make_repetition_sample(clip, [3, 7], config)
    c = make_repetition_sample(clip, [3, 8], config)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.period, b.period) and a.info == b.info
    assert not (np.array_equal(a.frames, c.frames) and np.array_equal(a.period, c.period))


def test_generator_config_errors_name_the_option():
    with pytest.raises(UserError, match="min_period"):
        RepetitionConfig(num_frames=FRAMES, image_size=SIZE, min_period=9)
    with pytest.raises(UserError, match="reverse_prob"):
        RepetitionConfig(num_frames=FRAMES, image_size=SIZE, reverse_prob=1.5)
    with pytest.raises(UserError, match="at least 2"):
        make_repetition_sample(_numbered_clip(1), 0, RepetitionConfig(num_frames=FRAMES, image_size=SIZE))


def test_dataset_streams_real_clips_and_reports_a_bad_one(cfmove_clips, tmp_path):
    from movinet_crossfit.core.progress import BatchReport
    from movinet_crossfit.repnet.data import repetition_dataset

    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    clips = sorted((cfmove_clips / "thruster").glob("*.mp4"))[:2] + [bad]
    config = RepetitionConfig(num_frames=FRAMES, image_size=SIZE)

    def batches(report):
        ds = repetition_dataset(clips, config, batch_size=3, seed=4, num_samples=6, report=report)
        return [{k: v.numpy() for k, v in batch.items()} for batch in ds]

    report = BatchReport("sources")
    first, again = batches(report), batches(BatchReport("again"))
    assert [b["frames"].shape for b in first] == [(3, FRAMES, SIZE, SIZE, 3)] * 2
    assert first[0]["frames"].dtype == np.uint8 and first[0]["periodicity"].dtype == np.float32
    for a, b in zip(first, again):
        assert all(np.array_equal(a[k], b[k]) for k in a)
    assert [name for name, _ in report.failed] == [str(bad)]
    assert (first[0]["count"] >= 2).all()


# --- losses -------------------------------------------------------------------------------------

def test_losses_on_known_logits():
    import tensorflow as tf

    from movinet_crossfit.repnet.train import repnet_losses

    classes = 8
    period_class = tf.constant([[0, 5, 5, 0]])
    periodicity = tf.constant([[0.0, 1.0, 1.0, 0.0]])
    uniform = repnet_losses(tf.zeros([1, 4, classes]), tf.zeros([1, 4, 1]), period_class, periodicity)
    assert np.isclose(float(uniform["period_loss"]), np.log(classes))
    assert np.isclose(float(uniform["periodicity_loss"]), np.log(2.0))
    assert np.isclose(float(uniform["loss"]), np.log(classes) + np.log(2.0))

    # Right on the periodic frames, wrong (class 3) on the others: only "all" pays for those.
    logits = 20.0 * tf.one_hot([[3, 5, 5, 3]], classes)
    confident = 20.0 * (2.0 * periodicity - 1.0)[..., None]
    periodic_only = repnet_losses(logits, confident, period_class, periodicity, period_loss_frames="periodic",
                                  periodicity_weight=0.5)
    everywhere = repnet_losses(logits, confident, period_class, periodicity)
    assert float(periodic_only["period_loss"]) < 1e-6 and float(everywhere["period_loss"]) > 9.0
    assert float(periodic_only["period_accuracy"]) == 1.0 and float(everywhere["periodicity_accuracy"]) == 1.0
    assert np.isclose(float(periodic_only["loss"]),
                      float(periodic_only["period_loss"]) + 0.5 * float(periodic_only["periodicity_loss"]))


# --- training -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("counter_clips")
    for k in range(2):
        _write_video(folder / f"swing{k}.mp4", 24, seed=k)
    return folder


@pytest.fixture(scope="session")
def tiny_counter_run(clip_folder, tmp_path_factory):
    """train-counter's small CPU config for 2 steps, then re-run to 3: the second resumes."""
    from movinet_crossfit.repnet.train import CounterTrainConfig, train_counter

    out = tmp_path_factory.mktemp("counter_run") / "run"
    config = CounterTrainConfig.small_cpu(steps=2, checkpoint_every=2, from_scratch=True, run_eagerly=True)
    first = train_counter([clip_folder], out, config)
    second = train_counter([clip_folder], out, CounterTrainConfig.small_cpu(steps=3, checkpoint_every=2,
                                                                            from_scratch=True, run_eagerly=True))
    return first, second


@pytest.fixture(scope="session")
def restored_counter(tiny_counter_run):
    from movinet_crossfit.repnet.model import load_repnet

    return load_repnet(tiny_counter_run[1].weights_dir, image_size=SIZE)


def test_train_counter_writes_the_run_folder_and_resumes(tiny_counter_run):
    import yaml

    first, second = tiny_counter_run
    out = second.out_dir
    assert first.steps == 2 and second.resumed_from == 2 and second.steps == 3
    for name in ("config.yaml", "history.csv", "train_summary.json", "checkpoints/checkpoint", "weights/checkpoint"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "weights").glob("*.index")) == ["ckpt-3.index"]
    shape = json.loads((out / "weights" / "repnet.json").read_text())
    assert (shape["num_frames"], shape["image_size"], shape["period_offset"]) == (FRAMES, SIZE, 0)
    assert (out / "checkpoints" / "ckpt-3.index").is_file()
    assert list((out / "logs").glob("events.out.tfevents.*"))
    with open(out / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert all(np.isfinite(float(r["loss"])) and float(r["loss"]) > 0 for r in rows)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["num_frames"] == FRAMES and config["image_size"] == SIZE
    assert {"reverse_prob", "camera_motion_prob", "period_jitter"} <= set(config["generator"])
    assert len(config["sources"]) == 2
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 3 and summary["start"].startswith("resumed")


def test_load_repnet_restores_the_trained_weights_exactly(tiny_counter_run, restored_counter):
    import tensorflow as tf

    trained = tiny_counter_run[1].model
    x = tf.random.stateless_uniform([1, FRAMES, SIZE, SIZE, 3], seed=[1, 2], minval=-1.0, maxval=1.0)
    for a, b in zip(trained(x, training=False), restored_counter(x, training=False)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert restored_counter.config.num_frames == FRAMES and restored_counter.config.variant == "ckpt-70"


def test_losses_decrease_over_a_few_steps(restored_counter, clip_folder):
    import tf_keras

    from movinet_crossfit.repnet.train import CounterTrainConfig, make_train_step
    from movinet_crossfit.repnet.data import repetition_dataset

    config = CounterTrainConfig.small_cpu(from_scratch=True, run_eagerly=True)
    batch = next(iter(repetition_dataset([clip_folder], config.repetition_config(), batch_size=2, seed=9)))
    saved = restored_counter.get_weights()
    try:
        step = make_train_step(restored_counter, tf_keras.optimizers.Adam(1e-4), config)
        losses = [float(step(batch)["loss"]) for _ in range(4)]
    finally:
        restored_counter.set_weights(saved)
    assert losses[-1] < losses[0] * 0.9, losses


def test_backbone_weights_load_by_layer_name(tiny_counter_run, tmp_path):
    from movinet_crossfit.repnet.train import load_backbone_weights

    first, second = tiny_counter_run  # first.model is not used by any other test
    h5 = tmp_path / "trunk.h5"  # the Keras weights-file format, as the ImageNet notop file
    second.model.base_model.save_weights(str(h5))
    assert any(not np.array_equal(a.numpy(), b.numpy())  # one more step made the trunks differ
               for a, b in zip(first.model.base_model.weights, second.model.base_model.weights))
    load_backbone_weights(first.model, h5)
    for a, b in zip(first.model.base_model.weights, second.model.base_model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(UserError, match="not found"):
        load_backbone_weights(first.model, tmp_path / "absent.h5")


def test_train_counter_refuses_silent_random_weights(clip_folder, tmp_path):
    from typer.testing import CliRunner

    from movinet_crossfit.cli import app

    result = CliRunner().invoke(app, ["train-counter", str(clip_folder), "--out", str(tmp_path / "run"), "--small"])
    assert isinstance(result.exception, UserError)
    assert "--from-scratch" in str(result.exception) and "ckpt-70.index" in str(result.exception)
    assert not (tmp_path / "run").exists()


# --- counting manifests -------------------------------------------------------------------------

COUNTIX_FULL, COUNTIX_CLIP, COUNTIX_BROKEN, COUNTIX_ODD = "AYF9WardS9M", "ANwVUvD712A", "ADtYZmfgeSM", "AUg1Thvho14"
COUNTIX_TEST_FULL = "1KKLVWl9FPE"


def _countix_rows(csv_path):
    with open(csv_path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_countix_ingestion_on_the_real_csvs(countix_dir, tmp_path):
    from movinet_crossfit.data.counting_manifest import build_counting_manifest

    videos = tmp_path / "videos"
    videos.mkdir()
    _write_video(videos / f"{COUNTIX_FULL}.mp4", 13 * 8)  # the whole YouTube video (13 s)
    _write_video(videos / f"{COUNTIX_CLIP}.mp4", 10 * 8)  # only the 10 s Kinetics clip (22-32 s)
    _write_video(videos / f"{COUNTIX_ODD}.mp4", 20 * 8)  # 20 s: fits neither
    (videos / f"{COUNTIX_BROKEN}.mp4").write_bytes(b"\x00" * 100)
    _write_video(videos / f"{COUNTIX_TEST_FULL}.mp4", 13 * 8)
    val, test = countix_dir / "countix_val.csv", countix_dir / "countix_test.csv"
    manifest, report = build_counting_manifest(tmp_path / "counting.json", countix_csvs=[val, test],
                                               countix_videos=videos)
    val_rows, test_rows = _countix_rows(val), _countix_rows(test)
    expected = [r for r in val_rows if r["video_id"] in (COUNTIX_FULL, COUNTIX_CLIP)] + \
               [r for r in test_rows if r["video_id"] == COUNTIX_TEST_FULL]
    assert len(manifest.items) == len(expected) >= 4
    by_id = {}
    for item in manifest.items:
        by_id.setdefault(item.video.rsplit("/", 1)[-1][:-4], []).append(item)
    for row, item in zip([r for r in val_rows if r["video_id"] == COUNTIX_FULL], by_id[COUNTIX_FULL]):
        assert item.start_time == pytest.approx(float(row["repetition_start"]))
        assert item.end_time == pytest.approx(float(row["repetition_end"]))
        assert item.count == int(row["count"]) and item.label == row["class"] and item.source == "countix-val"
    clip_row = next(r for r in val_rows if r["video_id"] == COUNTIX_CLIP)
    clip_item = by_id[COUNTIX_CLIP][0]
    shift = float(clip_row["kinetics_start"])
    assert clip_item.start_time == pytest.approx(float(clip_row["repetition_start"]) - shift)
    assert clip_item.end_time == pytest.approx(float(clip_row["repetition_end"]) - shift)
    assert clip_item.frame_range() == (round(clip_item.start_time * 8), round(clip_item.end_time * 8))
    assert by_id[COUNTIX_TEST_FULL][0].label is None and by_id[COUNTIX_TEST_FULL][0].source == "countix-test"

    failed = " ".join(name for name, _ in report.failed)
    assert COUNTIX_BROKEN in failed and COUNTIX_ODD in failed
    present = {COUNTIX_FULL, COUNTIX_CLIP, COUNTIX_BROKEN, COUNTIX_ODD, COUNTIX_TEST_FULL}
    missing = [r for r in val_rows + test_rows if r["video_id"] not in present]
    assert len(report.skipped) == len(missing)
    assert all("not downloaded" in reason for _, reason in report.skipped)
    # The saved manifest reads back with the same items (paths relative on disk, absolute in memory).
    from movinet_crossfit.data.counting_manifest import CountingManifest

    on_disk = json.loads((tmp_path / "counting.json").read_text())
    assert on_disk["items"][0]["video"].startswith("videos/")
    assert CountingManifest.load(tmp_path / "counting.json").items == manifest.items


def test_countix_needs_its_columns(tmp_path):
    from movinet_crossfit.data.counting_manifest import from_countix

    bad = tmp_path / "ids.csv"
    bad.write_text("video_id,count\nabc,3\n")
    with pytest.raises(UserError, match="repetition_start"):
        from_countix(bad, tmp_path)


def test_clip_manifest_items_keep_their_counts(tmp_path):
    from movinet_crossfit.data.counting_manifest import load_counting_items
    from movinet_crossfit.data.manifest import ClipEntry, Manifest

    clips = [ClipEntry(id="a", video="videos/a.mp4", label="thruster", start_frame=10, end_frame=90, fps=30,
                       group="a", count=5),
             ClipEntry(id="b", video="videos/a.mp4", label="thruster", start_frame=100, end_frame=150, fps=30,
                       group="a")]
    Manifest(classes=["thruster"], clips=clips).save(tmp_path / "manifest.json")
    items = load_counting_items(tmp_path / "manifest.json")
    assert [(i.id, i.count, i.start_frame, i.end_frame) for i in items] == [("a", 5, 10, 90)]
    assert items[0].video == str((tmp_path / "videos" / "a.mp4").resolve())


# --- evaluation ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    from movinet_crossfit.synthetic import generate_corpus

    root = tmp_path_factory.mktemp("count_corpus") / "corpus"
    generate_corpus(root, classes=["thruster", "deadlift"], clips_per_class=1, seed=3, size=(64, 64), workers=1)
    return root


def test_eval_counter_end_to_end(small_corpus, tiny_counter_run, restored_counter, tmp_path):
    from typer.testing import CliRunner

    from movinet_crossfit.cli import app
    from movinet_crossfit.core.metrics import count_metrics
    from movinet_crossfit.data.counting_manifest import (CountingItem, CountingManifest, from_synthetic_corpus,
                                                    iter_frame_range)
    from movinet_crossfit.repnet.infer import CountOptions, count_frames, count_video, keras_runner

    truth = json.loads((small_corpus / "ground_truth.json").read_text())
    segments = [s for v in truth["videos"].values() for s in v["segments"]]
    items = from_synthetic_corpus(small_corpus)
    assert [(i.count, i.start_frame, i.end_frame) for i in items] == \
           [(s["count"], s["start_frame"], s["end_frame"]) for s in segments]
    whole = _write_video(tmp_path / "whole.mp4", 40, seed=5)
    # The shortest segment (counting costs a forward pass per 16 frames per stride), a whole video
    # (through count_video) and a missing one.
    items = [min(items, key=lambda i: i.end_frame - i.start_frame),
             CountingItem(id="whole", video=str(whole), count=6, source="other"),
             CountingItem(id="gone", video=str(tmp_path / "gone.mp4"), count=3, source="other")]
    CountingManifest(items=items).save(tmp_path / "counting.json")

    out = tmp_path / "eval"
    # Threshold 0 and every frame periodic: an untrained model then gives non-zero, item-specific counts.
    # One stride: an untrained model scores the strides almost equally, and a choice between near
    # ties may differ between two traces of the same weights.
    result = CliRunner().invoke(app, ["eval-counter", str(tmp_path / "counting.json"), "--weights",
                                      str(tiny_counter_run[1].weights_dir), "-o", str(out), "--threshold", "0",
                                      "--fully-periodic", "--strides", "2"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "scatter.png").read_bytes()[:4] == b"\x89PNG"
    assert set(metrics) >= {"overall", "by_source", "items", "failed", "model", "options"}
    assert [f["item"] for f in metrics["failed"]] == ["gone"]
    rows = metrics["items"]
    assert [r["id"] for r in rows] == [i.id for i in items[:-1]]

    options = CountOptions(strides=(2,), threshold=0.0, fully_periodic=True)
    runner, cfg = keras_runner(restored_counter), restored_counter.config
    segment = items[0]
    frames = iter_frame_range(segment.video, segment.start_frame, segment.end_frame)
    expected = [count_frames(frames, runner, num_frames=cfg.num_frames, image_size=cfg.image_size,
                             period_offset=cfg.period_offset, fps=30.0, options=options).count,
                count_video(whole, model=restored_counter, runner=runner, options=options,
                            show_progress=False).count]
    predicted = [r["predicted"] for r in rows]
    np.testing.assert_allclose(predicted, expected, atol=1e-3)
    assert any(p > 0 for p in predicted) and len(set(np.round(predicted, 3))) > 1
    overall = count_metrics(predicted, [r["true"] for r in rows])
    for key in ("mae", "obo", "mean_absolute_error", "items"):
        assert metrics["overall"][key] == pytest.approx(overall[key])
    assert metrics["overall"]["failed"] == 1 and metrics["overall"]["requested"] == len(items)
    assert set(metrics["by_source"]) == {"synthetic", "other"}
    assert metrics["model"]["image_size"] == SIZE  # read from the run's weights/repnet.json
    for row in rows:
        assert row["off_by_one"] == (abs(row["predicted_rounded"] - row["true"]) <= 1)


def test_eval_counter_needs_weights(tmp_path):
    from movinet_crossfit.repnet.evaluate import eval_counter
    from movinet_crossfit.data.counting_manifest import CountingItem

    with pytest.raises(UserError, match="--weights"):
        eval_counter([CountingItem(id="x", video="x.mp4", count=1)], tmp_path)


def test_segments_shorter_than_the_window_are_reported(restored_counter, tmp_path):
    from movinet_crossfit.repnet.evaluate import eval_counter
    from movinet_crossfit.data.counting_manifest import CountingItem

    video = _write_video(tmp_path / "v.mp4", 30)
    items = [CountingItem(id="short", video=str(video), count=2, start_frame=0, end_frame=FRAMES - 4),
             CountingItem(id="late", video=str(video), count=2, start_frame=40, end_frame=60)]
    result = eval_counter(items, tmp_path / "eval", model=restored_counter, show_progress=False)
    reasons = dict(result.report.failed)
    assert set(reasons) == {"short", "late"} and f"needs at least {FRAMES}" in reasons["short"]
    assert result.metrics["overall"]["items"] == 0 and not (tmp_path / "eval" / "scatter.png").exists()
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["metrics.json"]
