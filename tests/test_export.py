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
from movinet_crossfit.core import clip_sampling, tflite
from movinet_crossfit.movinet import export  # noqa: E402
from movinet_crossfit.core.errors import UserError  # noqa: E402


def test_every_format_written_atomically_with_a_report(tiny_export):
    out, report = tiny_export
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["saved_model", "labels.txt", "export_report.json", "model_fp32.tflite",
                            "model_fp16.tflite", "model_dynamic.tflite", "model_int8.tflite", "README.md"])
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
    ops = interpreter._get_ops_details()

    def kept_float(op):  # MoViNet's stem and first block stay float (export.MOVINET_INT8)
        return any(scope in tensors[op["outputs"][0]]["name"] for scope in export.MOVINET_INT8.float_scopes)

    convs = [op for op in ops if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D") and not kept_float(op)]
    assert convs and all(tensors[op["inputs"][0]]["dtype"] == np.int8 for op in convs)
    assert all(tensors[op["inputs"][1]]["dtype"] == np.int8 for op in convs), "weights must be int8"
    first = [op for op in ops if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D") and kept_float(op)]
    assert first and all(tensors[op["inputs"][0]]["dtype"] == np.float32 for op in first)
    # Nothing else computes in float: fast_ops sums its time offsets with ADD (int8 kernel), not
    # ADD_N (none).
    computing_float = [op for op in ops if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE", "CAST")
                       and tensors[op["inputs"][0]]["dtype"] == np.float32]
    assert computing_float and all(kept_float(op) for op in computing_float), \
        [tensors[op["outputs"][0]]["name"] for op in computing_float if not kept_float(op)]
    assert sum(report.int8_float_ops.values()) == len(computing_float), report.int8_float_ops
    # XNNPACK runs it whole (issue 20): no ADD or MUL left out for a constant quantized finer than
    # XNNPACK's bounds (this random model's zero BN offsets and ReZero scales); it pools in float only.
    # An op XNNPACK leaves to LiteRT keeps its output buffer; a delegated op's lives inside XNNPACK.
    interpreter = Interpreter(model_path=str(out / "model_int8.tflite"), num_threads=1)
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()
    from_delegates = {t for op in ops if op["op_name"] == "DELEGATE" for t in op["outputs"]}
    left = set()
    for op in ops:
        if op["op_name"] == "DELEGATE" or op["outputs"][0] in from_delegates:
            continue
        try:
            interpreter.get_tensor(op["outputs"][0])
            left.add(op["op_name"])
        except ValueError:
            pass
    assert left <= {"CAST", "AVERAGE_POOL_2D", "SOFTMAX", "QUANTIZE", "DEQUANTIZE"}, left


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
    # The in-graph preprocessing is clip_sampling.preprocess_frames: feeding frames preprocessed outside
    # gives the same answer (preprocessing an S x S frame to S x S is the identity).
    outside = np.stack([clip_sampling.preprocess_frames(f, TINY_SIZE).numpy() for f in frames])
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
    with pytest.raises(UserError, match="its records folder .*gone is gone.*pass --records"):
        export.export_run(run, tmp_path / "export2", formats=["int8"])


# --- the contract a phone app codes against: one named signature, and the model card ------------

SIGNATURE = {"serving_default": {"inputs": ["frames"], "outputs": ["probabilities"]}}


@pytest.mark.parametrize("fmt", export.TFLITE_FORMATS)
def test_tflite_has_one_serving_default_signature_with_named_io(tiny_export, fmt):
    out, report = tiny_export
    interpreter = Interpreter(model_path=str(out / f"model_{fmt}.tflite"))
    assert interpreter.get_signature_list() == SIGNATURE
    runner = interpreter.get_signature_runner("serving_default")
    (inp,), (outp,) = runner.get_input_details().values(), runner.get_output_details().values()
    assert inp["dtype"] == np.uint8 and list(inp["shape"]) == [1, TINY_FRAMES, TINY_SIZE, TINY_SIZE, 3]
    assert outp["dtype"] == np.float32 and list(outp["shape"]) == [1, len(TINY_CLASSES)]
    clip = np.random.default_rng(3).integers(0, 256, (1, TINY_FRAMES, TINY_SIZE, TINY_SIZE, 3), np.uint8)
    by_name = runner(frames=clip)["probabilities"]
    np.testing.assert_array_equal(by_name, export.run_tflite(interpreter, clip)[:1])
    # The report states the contract as read back from the file.
    assert report.signature == {"serving_default": {
        "inputs": {"frames": {"dtype": "uint8", "shape": [1, TINY_FRAMES, TINY_SIZE, TINY_SIZE, 3]}},
        "outputs": {"probabilities": {"dtype": "float32", "shape": [1, len(TINY_CLASSES)]}}}}


def test_saved_model_keeps_any_size_serving_default_and_the_fixed_graph(tiny_export):
    loaded = tf.saved_model.load(str(tiny_export[0] / "saved_model"))
    assert set(loaded.signatures) == {"serving_default", export.PREPROCESSED_SIGNATURE}
    spec = loaded.signatures[export.PREPROCESSED_SIGNATURE].structured_input_signature[1]["frames"]
    assert spec.shape.as_list() == [1, TINY_FRAMES, TINY_SIZE, TINY_SIZE, 3]


def _old_style_file(out, tmp_path) -> bytes:
    """A file as exports wrote it before the signature was named: one signature 'tflite'."""
    loaded = tf.saved_model.load(str(out / "saved_model"))
    tf.saved_model.save(loaded, str(tmp_path / "old_sm"),
                        signatures={"tflite": loaded.signatures[export.PREPROCESSED_SIGNATURE]})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "old_sm"), signature_keys=["tflite"])
    return converter.convert()


def test_old_exports_still_predict_and_foreign_files_say_export_again(tiny_export, tmp_path):
    import tf_keras as keras

    from movinet_crossfit.movinet import predict

    out, _ = tiny_export
    old = tmp_path / "old"
    old.mkdir()
    (old / "model_fp32.tflite").write_bytes(_old_style_file(out, tmp_path))
    shutil.copy(out / "labels.txt", old / "labels.txt")
    assert Interpreter(model_path=str(old / "model_fp32.tflite")).get_signature_list() == {
        "tflite": {"inputs": ["frames"], "outputs": ["probabilities"]}}
    clip = np.random.default_rng(4).integers(0, 256, (TINY_FRAMES, TINY_SIZE, TINY_SIZE, 3), np.uint8)
    by_old = predict.TFLitePredictor(old / "model_fp32.tflite").predict_clip(clip)
    by_new = predict.TFLitePredictor(out / "model_fp32.tflite").predict_clip(clip)
    np.testing.assert_allclose(by_old, by_new, atol=1e-6)

    # A file whose signature has other names (any TFLite classifier) is refused with the fix.
    model = keras.Sequential([keras.layers.Input((6,)), keras.layers.Dense(3, activation="softmax")])
    function = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec([1, 6], tf.float32, name="x")])
    foreign = tmp_path / "foreign" / "model_fp32.tflite"
    foreign.parent.mkdir()
    foreign.write_bytes(tflite.convert_function(function.get_concrete_function(), trackable=model))
    shutil.copy(out / "labels.txt", foreign.parent / "labels.txt")
    with pytest.raises(UserError, match=r"model_fp32.tflite: expected a 'serving_default' signature \['frames'\] "
                                        r"-> \['probabilities'\], the file has 'serving_default' \['x'\] -> "
                                        r"\['output_0'\]; export it again"):
        predict.TFLitePredictor(foreign)


def test_model_card_names_classes_data_input_contract_files_and_parity(tiny_export, tiny_records):
    out, report = tiny_export
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# MoViNet-A0 CrossFit movement classifier")
    for i, name in enumerate(TINY_CLASSES):
        assert f"| {i} | `{name}` |" in card
    assert f"`[1, {TINY_FRAMES}, {TINY_SIZE}, {TINY_SIZE}, 3]`" in card or \
        f"[1, {TINY_FRAMES}, {TINY_SIZE}, {TINY_SIZE}, 3]" in card
    assert "| input | `frames` | uint8 |" in card and "| output | `probabilities` | float32 |" in card
    assert "antialiased" in card and "min(floor((i + 0.5) * N / 4), N - 1)" in card
    info = json.loads((tiny_records / "dataset_info.json").read_text())
    assert f"{info['splits']['train']['clips']} train" in card
    for name in ("model_fp32.tflite", "model_int8.tflite", "labels.txt", "saved_model/"):
        assert f"`{name}`" in card
    size_mb = (out / "model_fp32.tflite").stat().st_size / 1e6
    assert f"{size_mb:.2f} MB" in card or f"{size_mb * 1e3:.1f} kB" in card
    assert card.count("| ok |") == len(export.FORMATS)
    assert "No evaluation in the run" in card and "License" in card and "Apache License 2.0" in card


def test_model_card_reports_the_runs_metrics_and_a_test_split_validation(tiny_export, tiny_run, tiny_records,
                                                                           tmp_path):
    from movinet_crossfit.movinet.card import model_card

    out, report = tiny_export
    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / "train_summary.json").write_text(json.dumps({
        "train_clips": 16, "validation_split": "test", "validation_clips": 4, "best_val_accuracy": 0.75,
        "best_epoch": 3, "final_val_accuracy": 0.5, "weights": "random (--from-scratch)"}))
    (run / "eval_test").mkdir()
    per_class = {c: {"support": 2, "precision": 0.5, "recall": 1.0, "f1": 0.667} for c in TINY_CLASSES}
    (run / "eval_test" / "metrics.json").write_text(json.dumps({
        "clips": 4, "accuracy": 0.875, "top2_accuracy": 1.0, "macro_f1": 0.6123, "per_class": per_class,
        "tta": "none", "split": "test"}))
    card = model_card(report, run, tiny_records)
    assert "best validation accuracy 75.0% at epoch 3" in card and "random (--from-scratch)" in card
    assert "| test | 4 | 87.5% | 100.0% | 0.612 | none |" in card
    assert "| `thruster` | 2 | 0.500 | 1.000 | 0.667 |" in card
    assert "**Validated on the test split**" in card
    assert "No evaluation in the run" not in card
    without_records = model_card(report, run, None)
    assert "training data cannot be described here" in without_records


def test_repnet_export_has_the_named_signature_and_a_card(tmp_path):
    import tf_keras

    from movinet_crossfit.repnet.export import export_repnet, load_runner
    from movinet_crossfit.repnet.model import build_repnet

    tf_keras.utils.set_random_seed(0)
    model = build_repnet("ckpt-70", num_frames=8, image_size=32)
    report = export_repnet(model, tmp_path / "counter", formats=["fp32"])
    path = tmp_path / "counter" / "repnet_fp32.tflite"
    signatures = Interpreter(model_path=str(path)).get_signature_list()
    assert list(signatures) == ["serving_default"] and signatures["serving_default"]["inputs"] == ["frames"]
    assert sorted(signatures["serving_default"]["outputs"]) == ["embeddings", "period_logits", "periodicity_logits"]
    assert report["signature"]["serving_default"]["inputs"]["frames"] == {"dtype": "uint8", "shape": [1, 8, 32, 32, 3]}
    chunk = np.random.default_rng(0).integers(0, 256, (1, 8, 32, 32, 3), np.uint8)
    period, _, _ = load_runner(path)(chunk)
    assert period.shape == (1, 8, 8)
    card = (tmp_path / "counter" / "README.md").read_text(encoding="utf-8")
    assert "# RepNet repetition counter (ckpt-70)" in card and "`serving_default`" in card
    assert "| input | `frames` | uint8 | [1, 8, 32, 32, 3] |" in card and "`repnet_fp32.tflite`" in card
    assert not (tmp_path / "counter" / "saved_model").exists()  # not asked for


def test_keypoint_export_has_the_named_signature(tmp_path):
    import tf_keras

    from movinet_crossfit.keypoints.export import export_tflite
    from movinet_crossfit.keypoints.model import KeypointModelConfig, build_keypoint_model

    tf_keras.utils.set_random_seed(0)
    model = build_keypoint_model(KeypointModelConfig(arch="tcn", length=8, features=6, num_classes=3, width=8,
                                                     dilations=[1, 2]))
    sample = np.random.default_rng(0).normal(size=(3, 8, 6)).astype(np.float32)
    report = export_tflite(model, tmp_path / "model.tflite", sample, 8, 6)
    assert Interpreter(model_path=str(tmp_path / "model.tflite")).get_signature_list() == {
        "serving_default": {"inputs": ["keypoints"], "outputs": ["probabilities"]}}
    assert report["within_tolerance"] and report["signature"]["serving_default"]["outputs"]["probabilities"]["shape"] == [1, 3]


def _documented_resize(frame: np.ndarray, size: int) -> np.ndarray:
    """docs/export.md's Kotlin/Swift steps 3-4, line by line, with float32 sums."""
    import math

    height, width, _ = frame.shape
    side = min(height, width)
    crop = frame[(height - side) // 2:(height - side) // 2 + side, (width - side) // 2:(width - side) // 2 + side]
    scale, starts, weights = side / size, [], []
    radius = max(scale, 1.0)
    for x in range(size):
        centre = (x + 0.5) * scale
        first = max(0, math.ceil(centre - radius - 0.5))
        last = min(side - 1, math.floor(centre + radius - 0.5))
        taps = [max(0.0, 1.0 - abs((first + k + 0.5 - centre) / radius)) for k in range(last - first + 1)]
        starts.append(first)
        weights.append(np.array([t / sum(taps) for t in taps], np.float32))
    columns = np.zeros((size, side, 3), np.float32)  # along the height first
    for y in range(size):
        for k, w in enumerate(weights[y]):
            columns[y] += w * crop[starts[y] + k].astype(np.float32)
    out = np.zeros((size, size, 3), np.float32)  # then along the width
    for x in range(size):
        for k, w in enumerate(weights[x]):
            out[:, x] += w * columns[:, starts[x] + k]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)  # rint: ties to even, as Math.rint / Swift


def test_the_documented_phone_resize_is_the_training_resize():
    from movinet_crossfit.core.numpy_preprocess import preprocess_frames_numpy

    rng = np.random.default_rng(0)
    for height, width, size in [(90, 160, 32), (120, 96, 50), (40, 30, 64), (480, 854, 224)]:
        frame = rng.integers(0, 256, (height, width, 3), np.uint8)
        # Float sums in another order than numpy's BLAS can round a value the other way.
        diff = np.abs(_documented_resize(frame, size).astype(int) - preprocess_frames_numpy(frame, size))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-4, (height, width, size, diff.max(), (diff > 0).mean())
    # ...and the documented sampling is clip_sampling.sample_frame_indices.
    for n, t in [(30, 10), (7, 10), (1, 4), (26, 8)]:
        assert [min(int(np.floor((i + 0.5) * n / t)), n - 1) for i in range(t)] == \
            list(clip_sampling.sample_frame_indices(n, t))
