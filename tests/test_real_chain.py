"""The real cfmove clips (thruster vs chest-to-bar) through records -> train -> evaluate -> export -> predict."""
from __future__ import annotations

import json

from movinet_crossfit.movinet.evaluate import evaluate_run
from movinet_crossfit.movinet.export import export_run
from movinet_crossfit.movinet.predict import predict_video
from movinet_crossfit.data.records import RecordsConfig, write_records
from movinet_crossfit.movinet.train import TrainConfig, train


def test_real_clips_end_to_end(tmp_path, cfmove_clips):
    records = write_records(tmp_path / "records", clips_dir=cfmove_clips,
                            config=RecordsConfig(num_frames=4, size=32))
    assert records.info["classes"] == ["chest-to-bar", "thruster"]
    result = train(TrainConfig(records=str(tmp_path / "records"), out=str(tmp_path / "run"), model_id="a0",
                               from_scratch=True, epochs=2, batch_size=4, early_stopping_patience=0))
    evaluation = evaluate_run(result.run_dir, split="test")
    assert evaluation.metrics["clips"] == records.info["splits"]["test"]["clips"]
    report = export_run(result.run_dir, tmp_path / "export", formats=("saved_model", "fp32"),
                        records_dir=tmp_path / "records")
    assert set(report.formats) == {"saved_model", "fp32"}
    saved = json.loads((tmp_path / "export" / "export_report.json").read_text())
    assert saved["parity"]["passed"], saved["parity"]
    clip = cfmove_clips / "thruster" / "thruster_4.mp4"
    by_saved_model = predict_video(clip, tmp_path / "export", backend="saved_model")
    by_tflite = predict_video(clip, tmp_path / "export", backend="tflite")
    assert by_saved_model.label == by_tflite.label
    for label, probability in by_saved_model.probabilities.items():
        assert abs(probability - by_tflite.probabilities[label]) < 1e-4
    assert set(by_saved_model.probabilities) == {"chest-to-bar", "thruster"}
