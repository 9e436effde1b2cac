"""The demo's corpus half, small: every step runs and leaves its output where it says."""
from __future__ import annotations

import json

from movinet_crossfit.demo import DemoConfig, run_demo


def test_demo_corpus_steps(tmp_path):
    outputs = run_demo(tmp_path / "demo", DemoConfig(clips_per_class=2, size=32, num_frames=4, train=False))
    info = json.loads((outputs["records"] / "dataset_info.json").read_text())
    assert sum(s["clips"] for s in info["splits"].values()) == 2 * 9
    assert len(info["classes"]) == 9
    assert outputs["stats"]["png"].stat().st_size > 1000
    assert len(list(outputs["clips"].glob("*/*.mp4"))) == 2 * 9
