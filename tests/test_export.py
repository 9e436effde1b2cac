"""Export: SavedModel + four TFLite files from a tiny run, checked in the plain LiteRT runtime.

The export itself (the expensive part: tracing, saving, four conversions, int8 calibration on real
cfmove frames) runs once in the session fixture ``tiny_export`` (tests/conftest.py).
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import movinet_crossfit  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from conftest import TINY_CLASSES, TINY_FRAMES, TINY_SIZE  # noqa: E402
from movinet_crossfit.core import tflite, video
from movinet_crossfit.movinet import export  # noqa: E402
from movinet_crossfit.core.errors import UserError  # noqa: E402


def test_every_format_written_atomically_with_a_report(tiny_export):
    out, report = tiny_export
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["saved_model", "labels.txt", "export_report.json", "model_fp32.tflite",
                            "model_fp16.tflite", "model_dynamic.tflite", "model_int8.tflite"])
    assert not [p for p in out.rglob(".*")], "temp files or folders left behind"
    assert (out / "labels.txt").read_text().split() == TINY_CLASSES
    assert (out / "saved_model" / "assets" / "labels.txt").read_text().split() == TINY_CLASSES
    saved = json.loads((out / "export_report.json").read_text())
    assert saved["classes"] == TINY_CLASSES and (saved["num_frames"], saved["size"]) == (TINY_FRAMES, TINY_SIZE)
    for fmt in export.FORMATS:
        assert saved["bytes"][fmt] > 0 and saved["conversion_seconds"][fmt] > 0
    for fmt in export.TFLITE_FORMATS:
        assert saved["bytes"][fmt] == (out / f"model_{fmt}.tflite").stat().st_size
    assert saved["bytes"]["fp16"] < 0.6 * saved["bytes"]["fp32"]
    assert saved["bytes"]["dynamic"] < 0.4 * saved["bytes"]["fp32"]
    assert saved["bytes"]["int8"] < 0.4 * saved["bytes"]["fp32"]
    assert saved["calibration"]["clips"] >= 8 and saved["calibration"]["source"] == "records:train"
    # The records hold 2 of the run's 3 classes: calibrating on them is fine, but it is said.
    assert any("differ from the run's" in w for w in saved["warnings"])


@pytest.mark.parametrize("fmt", export.TFLITE_FORMATS)
def test_tflite_runs_in_plain_litert_without_flex(tiny_export, fmt):
    out, _ = tiny_export
    path = out / f"model_{fmt}.tflite"
    interpreter = Interpreter(model_path=str(path))  # no Flex delegate linked or added
    interpreter.allocate_tensors()
    (inp,), (outp,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["dtype"] == np.uint8 and list(inp["shape"]) == [1, TINY_FRAMES, TINY_SIZE, TINY_SIZE, 3]
    assert inp["quantization"] == (0.0, 0), "input must be raw uint8 pixels, not a quantized tensor"
    assert outp["dtype"] == np.float32 and list(outp["shape"]) == [1, len(TINY_CLASSES)]
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not [op for op in ops if "flex" in op.lower() or "custom" in op.lower()], ops
    file_ops = tflite.tflite_op_names(path)
    assert "CONV_2D" in file_ops and "DEPTHWISE_CONV_2D" in file_ops
    assert not [op for op in file_ops if op.startswith("CUSTOM")], file_ops
    assert not {"CONV_3D", "AVERAGE_POOL_3D"} & set(file_ops)
    clip = np.random.default_rng(0).integers(0, 256, (1, TINY_FRAMES, TINY_SIZE, TINY_SIZE, 3), np.uint8)
    interpreter.set_tensor(inp["index"], clip)
    interpreter.invoke()
    probs = interpreter.get_tensor(outp["index"])
    assert probs.shape == (1, len(TINY_CLASSES)) and abs(float(probs.sum()) - 1) < 1e-2


def test_int8_file_computes_in_int8(tiny_export):
    out, report = tiny_export
    interpreter = Interpreter(model_path=str(out / "model_int8.tflite"))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    convs = [op for op in interpreter._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert convs and all(tensors[op["inputs"][0]]["dtype"] == np.int8 for op in convs)
    assert all(tensors[op["inputs"][1]]["dtype"] == np.int8 for op in convs), "weights must be int8"
    # fast_ops sums its time offsets with ADD (int8 kernel), not ADD_N (none): fully integer.
    assert not report.int8_float_ops, report.int8_float_ops


def test_saved_model_takes_uint8_frames_of_any_size(tiny_export):
    out, _ = tiny_export
    loaded = tf.saved_model.load(str(out / "saved_model"))
    serve = loaded.signatures["serving_default"]
    spec = serve.structured_input_signature[1]["frames"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, TINY_FRAMES, None, None, 3]
    frames = np.random.default_rng(1).integers(0, 256, (2, TINY_FRAMES, 90, 160, 3), np.uint8)
    result = serve(frames=tf.constant(frames))
    probs = result["probabilities"].numpy()
    assert probs.shape == (2, len(TINY_CLASSES)) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert [b.decode() for b in result["labels"].numpy()] == TINY_CLASSES
    # The in-graph preprocessing is video.preprocess_frames: feeding frames preprocessed outside
    # gives the same answer (preprocessing an S x S frame to S x S is the identity).
    outside = np.stack([video.preprocess_frames(f, TINY_SIZE).numpy() for f in frames])
    np.testing.assert_allclose(serve(frames=tf.constant(outside))["probabilities"].numpy(), probs, atol=1e-6)
    assert int(loaded.num_frames.numpy()) == TINY_FRAMES and int(loaded.size.numpy()) == TINY_SIZE


def test_parity_meets_the_targets(tiny_export):
    _, report = tiny_export
    parity = report.parity
    assert parity["clips"] >= 8 and parity["source"].startswith("records test:")
    formats = parity["formats"]
    assert set(formats) == set(export.FORMATS)
    assert formats["saved_model"]["max_abs_diff"] <= 1e-4
    assert formats["fp32"]["max_abs_diff"] <= 1e-4
    for fmt in ("fp16", "dynamic", "int8"):
        assert formats[fmt]["top1_agreement"] >= 0.95, (fmt, formats[fmt])
        assert formats[fmt]["max_abs_diff"] < 0.05, (fmt, formats[fmt])
    assert parity["passed"] and not [w for w in report.warnings if "parity" in w]
    assert "model_int8.tflite" in report.summary()


def test_check_parity_on_video_files_rebuilds_keras_from_the_report(tiny_export, cfmove_clips):
    out, _ = tiny_export
    paths = sorted(cfmove_clips.glob("*/*.mp4"))[-2:]
    result = export.check_parity(out, paths)
    assert result["clips"] == 2 and result["passed"], result
    assert result["formats"]["fp32"]["max_abs_diff"] <= 1e-4


def test_int8_without_records_is_refused_before_any_work(tiny_run, tmp_path):
    with pytest.raises(UserError, match="int8 export needs calibration frames: pass records_dir"):
        export.export_run(tiny_run, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserError, match="unknown export format"):
        export.export_run(tiny_run, tmp_path / "out", formats=["onnx"])
    with pytest.raises(UserError, match="no such records folder"):
        export.export_run(tiny_run, tmp_path / "out", records_dir=tmp_path / "nope")


def test_missing_or_broken_run_is_a_user_error(tiny_run, tmp_path):
    with pytest.raises(UserError, match="no such run folder"):
        export.export_run(tmp_path / "missing", tmp_path / "out", formats=["fp32"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a training run"):
        export.export_run(tmp_path / "empty", tmp_path / "out", formats=["fp32"])
    bad_yaml = shutil.copytree(tiny_run, tmp_path / "bad_yaml")
    (bad_yaml / "config.yaml").write_text("model_id: [a0\n")
    with pytest.raises(UserError, match="config.yaml: not valid YAML"):
        export.export_run(bad_yaml, tmp_path / "out", formats=["fp32"])
    incomplete = shutil.copytree(tiny_run, tmp_path / "incomplete")
    (incomplete / "config.yaml").write_text("model_id: a0\n")
    with pytest.raises(UserError, match="incomplete run config"):
        export.export_run(incomplete, tmp_path / "out", formats=["fp32"])
    assert not (tmp_path / "out" / "model_fp32.tflite").exists()


def test_corrupt_checkpoint_is_a_user_error(tiny_run, tmp_path):
    broken = shutil.copytree(tiny_run, tmp_path / "broken")
    data = next((broken / "best").glob("*.data-*"))
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(UserError, match="checkpoint"):
        export.export_run(broken, tmp_path / "out", formats=["fp32"])
    assert not (tmp_path / "out").exists()


def test_export_finds_the_runs_own_records_for_int8(tiny_run, tiny_records, tmp_path):
    """`export RUN` with int8 and no --records calibrates on the records the run names in config.yaml."""
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "records": str(tiny_records)}))
    report = export.export_run(run, tmp_path / "export", formats=["int8"], calibration_clips=4, parity_clips=2)
    assert report.calibration["clips"] == 4 and (tmp_path / "export" / "model_int8.tflite").is_file()
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "records": str(tmp_path / "gone")}))
    with pytest.raises(UserError, match="its records folder .*gone is gone; pass --records"):
        export.export_run(run, tmp_path / "export2", formats=["int8"])
