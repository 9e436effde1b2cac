"""End to end over the corpus stages on a generated Supervisely export."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from movinet_crossfit.core import video
from movinet_crossfit.data import records
from movinet_crossfit.data.manifest import Manifest

from conftest import PIPELINE_CLASSES


def test_manifest_matches_ground_truth(generated_pipeline):
    root = generated_pipeline["root"]
    truth = json.loads((root / "corpus" / "ground_truth.json").read_text())
    expected = sorted((Path(entry["video"]).name, seg["label"], seg["start_frame"], seg["end_frame"])
                      for entry in truth["videos"].values() for seg in entry["segments"])
    manifest = generated_pipeline["manifest"]
    got = sorted((Path(c.video).name, c.label, c.start_frame, c.end_frame) for c in manifest.clips)
    assert got == expected
    assert not generated_pipeline["manifest_report"].failed
    assert all(c.fps and c.fps > 0 and c.end_time > c.start_time for c in manifest.clips)


def test_clips_have_exact_frame_counts(generated_pipeline):
    root = generated_pipeline["root"]
    manifest = Manifest.load(root / "manifest.json")
    assert not generated_pipeline["split_report"].failed
    for clip in manifest.clips:
        info = video.probe(root / "clips" / clip.clip_filename())
        assert info.num_frames == clip.num_frames, clip.id


def test_records_grouped_and_complete(generated_pipeline):
    result = generated_pipeline["records"]
    manifest = generated_pipeline["manifest"]
    info = result.info
    assert info["grouped"] is True
    assert sum(s["clips"] for s in info["splits"].values()) == len(manifest.clips)
    assert [c for c in info["classes"] if c in PIPELINE_CLASSES] == list(PIPELINE_CLASSES)
    groups = defaultdict(set)
    seen_ids = set()
    for split in info["splits"]:
        for frames, label, meta in records.load_dataset(result.out_dir, split, batch_size=None, with_metadata=True):
            assert frames.shape == (8, 64, 64, 3)
            groups[meta["group"].numpy().decode()].add(split)
            clip_id = meta["id"].numpy().decode()
            assert clip_id not in seen_ids
            seen_ids.add(clip_id)
            assert info["classes"][int(label)] == meta["label_text"].numpy().decode()
    assert seen_ids == {c.id for c in manifest.clips}
    assert all(len(splits) == 1 for splits in groups.values()), "a source video straddles splits"
    assert len(groups) == len({c.group for c in manifest.clips})


def test_cli_stats_on_manifest(generated_pipeline, tmp_path):
    root = generated_pipeline["root"]
    cmd = [sys.executable, "-m", "movinet_crossfit.cli", "stats", str(root / "manifest.json"), "-o", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = (tmp_path / "stats.csv").read_text()
    for label in PIPELINE_CLASSES:
        assert label in table
    assert (tmp_path / "stats.png").stat().st_size > 1000


def test_cli_user_error_is_one_line(tmp_path):
    cmd = [sys.executable, "-m", "movinet_crossfit.cli", "records", "--clips", str(tmp_path / "absent"),
           "-o", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 2
    assert "absent: clip folder not found" in done.stderr
    assert "Traceback" not in done.stderr
