"""Per-class statistics (Table 3.1 layout) from a manifest and from a clip folder."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from movinet_crossfit.data.manifest import ClipEntry, Manifest
from movinet_crossfit.data.stats import corpus_stats, summarise, write_stats


def test_summarise_mean_and_sample_std():
    clips = pd.DataFrame({"label": ["a", "a", "a", "b"], "frames": [10, 20, 30, 7],
                          "duration": [1.0, 2.0, 3.0, 0.5]})
    table = summarise(clips, ["b", "a"])
    assert list(table.index) == ["b", "a", "TOTAL"]
    assert table.loc["a", "clips"] == 3
    assert table.loc["a", "frames_mean"] == pytest.approx(20.0)
    assert table.loc["a", "frames_std"] == pytest.approx(np.std([10, 20, 30], ddof=1))
    assert table.loc["TOTAL", "duration_mean"] == pytest.approx(6.5 / 4)
    assert np.isnan(table.loc["b", "frames_std"])  # one clip: no spread


def test_stats_from_manifest_and_files(tmp_path):
    clips = [ClipEntry(id=f"c{i}", video="v.mp4", label=label, start_frame=s, end_frame=e, fps=30.0,
                       group="v.mp4")
             for i, (label, s, e) in enumerate([("thruster", 0, 30), ("thruster", 40, 100), ("ghd", 100, 160)])]
    path = tmp_path / "manifest.json"
    Manifest(classes=["thruster", "ghd"], clips=clips).save(path)
    stats = corpus_stats(manifest=path)
    assert stats.table.loc["thruster", "frames_mean"] == pytest.approx(45.0)
    assert stats.table.loc["ghd", "duration_mean"] == pytest.approx(2.0)
    paths = write_stats(stats, tmp_path / "out")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(paths["json"].read_text())
    assert saved["TOTAL"]["clips"] == 3
    assert "thruster" in paths["csv"].read_text()


def test_stats_from_real_clip_folder(cfmove_clips):
    stats = corpus_stats(clips_dir=cfmove_clips)
    assert set(stats.table.index) == {"chest-to-bar", "thruster", "TOTAL"}
    assert stats.table.loc["TOTAL", "clips"] == len(list(cfmove_clips.glob("*/*.mp4")))
    # The data README: 16-30 frames, 0.6-1.1 s per clip (chest-to-bar has a few longer ones).
    assert 16 <= stats.table.loc["thruster", "frames_mean"] <= 30
    assert 0.5 <= stats.table.loc["TOTAL", "duration_mean"] <= 1.2
