"""TFRecord writing and reading on the real cfmove clips (folder layout) and on bad inputs."""
from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from movinet_crossfit.core import clip_sampling
from movinet_crossfit.data import records
from movinet_crossfit.core.errors import UserError


@pytest.fixture(scope="session")
def cfmove_records(tmp_path_factory, cfmove_clips):
    out = tmp_path_factory.mktemp("cfmove_records")
    config = records.RecordsConfig(num_frames=10, size=224, clips_per_shard=8)
    return records.write_records(out, clips_dir=cfmove_clips, config=config)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*/*.mp4")}


def test_info_counts_and_duplicates(cfmove_records, cfmove_clips):
    info = cfmove_records.info
    digests = _digests(cfmove_clips)
    unique = len(set(digests.values()))
    assert unique < len(digests), "the real corpus holds byte-identical clips"
    assert sum(s["clips"] for s in info["splits"].values()) == unique
    dropped = [w for w in cfmove_records.report.warnings if "byte-identical" in w]
    assert len(dropped) == len(digests) - unique
    assert any("chest-to-bar_5.mp4" in w or "chest-to-bar_1.mp4" in w for w in dropped)
    assert info["classes"] == ["chest-to-bar", "thruster"]
    assert info["grouped"] is False
    assert any("cannot be grouped" in w for w in cfmove_records.report.warnings)
    # Every split's shards exist under their final names; nothing half-written remains.
    for split, entry in info["splits"].items():
        for shard in entry["shards"]:
            assert (cfmove_records.out_dir / shard).is_file()
    assert not list(cfmove_records.out_dir.glob(".*part*"))
    on_disk = json.loads((cfmove_records.out_dir / records.INFO_FILE).read_text())
    assert on_disk["content_sha256"] == info["content_sha256"]


def test_records_smaller_than_source_clips(cfmove_records, cfmove_clips):
    source_bytes = sum(p.stat().st_size for p in cfmove_clips.glob("*/*.mp4"))
    assert cfmove_records.info["total_bytes"] < source_bytes


def test_read_back_matches_preprocessing(cfmove_records, cfmove_clips):
    import tensorflow as tf

    dataset = records.load_dataset(cfmove_records.out_dir, "test", batch_size=None, with_metadata=True)
    seen = 0
    for frames, label, meta in dataset:
        assert frames.shape == (10, 224, 224, 3) and frames.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(frames)) and float(tf.reduce_max(frames)) <= 1.0
        label_text = meta["label_text"].numpy().decode()
        assert cfmove_records.info["classes"][int(label)] == label_text
        clip_id = meta["id"].numpy().decode()
        expected = clip_sampling.load_clip(cfmove_clips / f"{clip_id}.mp4", 10, 224).astype(np.float32) / 255.0
        # JPEG at quality 60 loses detail but not the picture: mean error of a few grey levels.
        assert np.abs(frames.numpy() - expected).mean() < 0.03
        seen += 1
    assert seen == cfmove_records.info["splits"]["test"]["clips"]


def test_fused_conversion_matches_to_model_input():
    import tensorflow as tf

    every_value = tf.constant(np.arange(256, dtype=np.uint8).reshape(1, 4, 4, 16, 1))
    fused = records.to_unit_float(every_value)
    reference = clip_sampling.to_model_input(every_value)
    assert fused.dtype == tf.float32 and fused.shape == every_value.shape
    assert float(tf.reduce_min(fused)) == 0.0 and float(tf.reduce_max(fused)) == 1.0
    # Dequantize multiplies by float32(1/255) where to_model_input divides by 255: 1 ulp at most.
    assert np.abs(fused.numpy() - reference.numpy()).max() <= 6e-8
    assert np.array_equal(np.round(fused.numpy() * 255.0).astype(np.uint8), every_value.numpy())


def test_batched_frames_equal_unbatched(cfmove_records):
    """Without augmentation the batch is converted in one op after batching: same values either way."""
    out = cfmove_records.out_dir
    single = [frames.numpy() for frames, _ in records.load_dataset(out, "test", batch_size=None)]
    batches = list(records.load_dataset(out, "test", batch_size=3, with_metadata=True))
    batched = np.concatenate([frames.numpy() for frames, _, _ in batches])
    assert batched.dtype == np.float32 and batched.shape == (len(single), 10, 224, 224, 3)
    np.testing.assert_array_equal(batched, np.stack(single))
    assert sum(len(meta["id"]) for _, _, meta in batches) == len(single)


def test_batched_training_dataset(cfmove_records):
    dataset = records.load_dataset(cfmove_records.out_dir, "train", batch_size=4, augment=True, seed=1)
    frames, labels = next(iter(dataset))
    assert frames.shape == (4, 10, 224, 224, 3)
    assert labels.shape == (4,)
    total = sum(int(b[1].shape[0]) for b in records.load_dataset(cfmove_records.out_dir, "train", batch_size=4))
    assert total == cfmove_records.info["splits"]["train"]["clips"]


def test_augmentation_keeps_frame_order_and_shape():
    import tensorflow as tf

    tf.random.set_seed(0)
    # Frame t is a flat grey level t/10: any reordering of frames would show in the means.
    frames = tf.stack([tf.fill([32, 32, 3], t / 10.0) for t in range(10)])
    out = records.augment_clip(frames)
    assert out.shape == frames.shape
    means = tf.reduce_mean(out, axis=[1, 2, 3]).numpy()
    assert np.all(np.diff(means) > 0)


def test_unknown_split_is_a_clear_error(cfmove_records):
    with pytest.raises(UserError, match="no 'holdout' shards"):
        records.load_dataset(cfmove_records.out_dir, "holdout")


def test_bad_clips_fail_alone(tmp_path, cfmove_clips):
    clips = tmp_path / "clips"
    for label in ("thruster", "chest-to-bar"):
        (clips / label).mkdir(parents=True)
        for n in (2, 3, 4):
            shutil.copy(cfmove_clips / label / f"{label}_{n}.mp4", clips / label)
    (clips / "thruster" / "zero.mp4").write_bytes(b"")
    (clips / "thruster" / "text.mp4").write_text("not a video\n")
    data = (cfmove_clips / "chest-to-bar" / "chest-to-bar_6.mp4").read_bytes()
    (clips / "chest-to-bar" / "truncated.mp4").write_bytes(data[: len(data) // 3])
    result = records.write_records(tmp_path / "out", clips_dir=clips, config=records.RecordsConfig(size=64))
    failed = {Path(item).name: reason for item, reason in result.report.failed}
    assert set(failed) == {"zero.mp4", "text.mp4", "truncated.mp4"}
    assert "empty file" in failed["zero.mp4"]
    assert all(name in reason for name, reason in failed.items())
    assert sum(s["clips"] for s in result.info["splits"].values()) == 6
    assert len(result.info["failed"]) == 3


def test_empty_folder_is_a_user_error(tmp_path):
    (tmp_path / "clips" / "thruster").mkdir(parents=True)
    with pytest.raises(UserError, match="no clips found"):
        records.write_records(tmp_path / "out", clips_dir=tmp_path / "clips")


def test_rebuild_replaces_old_shards(tmp_path, cfmove_clips):
    clips = tmp_path / "clips"
    for label in ("thruster", "chest-to-bar"):
        (clips / label).mkdir(parents=True)
        for n in (2, 3, 4, 6):
            shutil.copy(cfmove_clips / label / f"{label}_{n}.mp4", clips / label)
    out = tmp_path / "out"
    first = records.write_records(out, clips_dir=clips, config=records.RecordsConfig(size=32, clips_per_shard=2))
    second = records.write_records(out, clips_dir=clips, config=records.RecordsConfig(size=32, clips_per_shard=100))
    shards = sorted(p.name for p in out.glob("*.tfrecord"))
    expected = sorted(s for entry in second.info["splits"].values() for s in entry["shards"])
    assert shards == expected
    assert len(first.info["splits"]["train"]["shards"]) > len(second.info["splits"]["train"]["shards"])
    labels = Counter()
    for _, label in records.load_dataset(out, "train", batch_size=None):
        labels[int(label)] += 1
    assert sum(labels.values()) == second.info["splits"]["train"]["clips"]
