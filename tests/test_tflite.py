"""core.tflite, the one TFLite toolkit: conversion on builtin ops only, the op check, names, parity.

Tiny graphs only; the real exports (MoViNet, RepNet, keypoints) are tested in test_export.py,
test_repnet.py and test_poses.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import movinet_crossfit  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf  # noqa: E402

from movinet_crossfit.core import tflite  # noqa: E402
from movinet_crossfit.core.errors import UserError  # noqa: E402


def test_file_names_of_every_family():
    assert tflite.tflite_filename("model", "fp32") == "model_fp32.tflite"
    assert tflite.tflite_filename("repnet", "dynamic") == "repnet_dynamic.tflite"
    assert tflite.tflite_filename("model") == "model.tflite"


def test_compare_outputs_bounds():
    reference = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]], np.float32)
    close = reference + np.float32(2e-5)
    swapped = reference[:, [0, 2, 1]]  # the second row's top class changes
    assert tflite.compare_outputs(reference, close, max_abs_diff=1e-4).passed
    assert tflite.compare_outputs(reference, close).max_abs_diff == pytest.approx(2e-5, rel=1e-2)
    parity = tflite.compare_outputs(reference, swapped, min_top1=0.9)
    assert parity.top1_agreement == 0.5 and not parity.passed
    assert tflite.compare_outputs(reference, swapped, min_top1=0.5).passed
    assert not tflite.compare_outputs(reference, swapped, max_abs_diff=1e-4).passed
    assert not tflite.compare_outputs(reference, np.full_like(reference, np.nan), max_abs_diff=1.0).passed
    with pytest.raises(ValueError, match="shape"):
        tflite.compare_outputs(reference, reference[:1])


def _tiny_model():
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.layers.Input((6,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                             keras.layers.Dense(3, activation="softmax", name="head")])  # fixed names: Keras numbers
    # unnamed layers per process, so "dense_1" depends on which tests ran before


def _function(model, dtype=tf.float32):
    return tf.function(lambda x: model(x, training=False),
                       input_signature=[tf.TensorSpec([1, 6], dtype, name="x")]).get_concrete_function()


@pytest.mark.parametrize("fmt", tflite.FORMATS)
def test_a_keras_model_converts_to_builtin_ops_and_matches_keras(fmt):
    model = _tiny_model()
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(16, 6)).astype(np.float32)
    data = tflite.convert_function(_function(model), fmt, list(inputs) if fmt == "int8" else None,
                                   trackable=model)
    ops = tflite.check_builtin_only(data, fmt)
    assert "FULLY_CONNECTED" in ops and not [op for op in ops if op.startswith("CUSTOM")]
    interpreter = tflite.make_interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    lite = []
    for row in inputs:
        interpreter.set_tensor(inp["index"], row[None])
        interpreter.invoke()
        lite.append(interpreter.get_tensor(out["index"])[0].copy())
    exact = fmt == "fp32"
    parity = tflite.compare_outputs(model.predict(inputs, verbose=0), np.stack(lite),
                                    max_abs_diff=1e-5 if exact else 0.05)
    assert parity.passed, parity
    if fmt == "int8":
        assert "QUANTIZE" in ops  # float input -> int8 inside
        assert "FULLY_CONNECTED" not in tflite.int8_float_ops(data)


def test_int8_without_calibration_is_refused():
    model = _tiny_model()
    with pytest.raises(tflite.ExportError, match="tiny.tflite: int8 conversion needs calibration"):
        tflite.convert_function(_function(model), "int8", trackable=model, label="tiny.tflite")


def test_an_op_without_builtin_kernel_is_named(tmp_path):
    module = tf.Module()
    module.f = tf.function(lambda x: {"s": tf.linalg.svd(x, compute_uv=False)},
                           input_signature=[tf.TensorSpec([1, 3, 3], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "sm"),
                        signatures={tflite.TFLITE_SIGNATURE: module.f.get_concrete_function()})
    with pytest.raises(tflite.ExportError, match=r"fp32: TFLite has no builtin kernel for .*Svd.*: use another op"):
        tflite.convert_saved_model(tmp_path / "sm", "fp32", fix="use another op")
    with pytest.raises(tflite.ExportError, match=r"svd.tflite: TFLite has no builtin kernel for .*Svd"):
        tflite.convert_function(module.f.get_concrete_function(), label="svd.tflite")
    assert issubclass(tflite.ExportError, UserError)  # the CLI prints it as one line


def test_a_flex_op_in_a_file_is_refused_by_name():
    # A converter allowed Select TF ops writes the op as a Flex custom op: the check must catch it.
    function = tf.function(lambda x: tf.linalg.det(x),
                           input_signature=[tf.TensorSpec([1, 3, 3], tf.float32)]).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], tf.Module())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    data = converter.convert()
    assert tflite.tflite_op_names(data) == ["CUSTOM:FlexMatrixDeterminant"]
    with pytest.raises(tflite.ExportError, match="det.tflite: converted model uses non-builtin op.*FlexMatrixDet"):
        tflite.check_builtin_only(data, "det.tflite")


# --- int8 that XNNPACK runs whole: every int8 file is fitted in core.tflite -------------------


def _add_of_a_tiny_constant():
    """y = x*x + c with every |c| < 1e-3: the converter quantizes c far finer than the output, below
    XNNPACK's ADD bound (input scale / output scale >= 1/1024), as a barely trained BN offset."""
    module = tf.Module()
    module.c = tf.Variable(np.random.default_rng(1).normal(size=(6,)).astype(np.float32) * 1e-4)
    function = tf.function(lambda x: {"y": x * x + module.c},
                           input_signature=[tf.TensorSpec([1, 6], tf.float32, name="x")]).get_concrete_function()
    return module, function


def _add_scales(data: bytes) -> tuple[float, float]:
    """(the ADD's constant input scale, its output scale)."""
    interpreter = tflite.make_interpreter(model_content=data, num_threads=1)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    (add,) = [op for op in interpreter._get_ops_details() if op["op_name"] == "ADD"]
    scales = [tensors[i]["quantization"][0] for i in add["inputs"]]
    return min(scales), tensors[add["outputs"][0]]["quantization"][0]


def _run(data: bytes, inputs: np.ndarray, num_threads: int = 1) -> tuple[np.ndarray, list[str]]:
    """Outputs for each row, and the op names once the default delegate (XNNPACK) took its share
    (the file's ops, then one DELEGATE node per piece it runs)."""
    interpreter = tflite.make_interpreter(model_content=data, num_threads=num_threads)
    runner = interpreter.get_signature_runner(tflite.TFLITE_SIGNATURE)
    outputs = np.stack([runner(x=row[None])["y"][0] for row in inputs])
    return outputs, [op["op_name"] for op in interpreter._get_ops_details()]


def test_every_int8_file_is_fitted_to_xnnpack():
    module, function = _add_of_a_tiny_constant()
    inputs = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    plain = tflite.convert_function(function, "int8", list(inputs), trackable=module,
                                    int8=tflite.Int8Options(fit_xnnpack=False))
    fitted = tflite.convert_function(function, "int8", list(inputs), trackable=module)  # the default
    constant, output = _add_scales(plain)
    assert constant < output / 1024, "the probe no longer has a constant under XNNPACK's bound"
    constant, output = _add_scales(fitted)
    assert constant >= output / 1024
    assert tflite.fit_int8_for_xnnpack(fitted)[1] == 0 and tflite.fit_int8_for_xnnpack(plain)[1] == 1
    plain_out, plain_ops = _run(plain, inputs)
    fitted_out, fitted_ops = _run(fitted, inputs)
    # XNNPACK refused the ADD (the graph in two delegate pieces around it), then took it: one piece.
    assert plain_ops.count("DELEGATE") == 2 and fitted_ops.count("DELEGATE") == 1
    # The constant moved by under an eighth of an output step: the outputs by at most one step.
    assert np.abs(fitted_out - plain_out).max() <= output * 1.01
    assert tflite.check_builtin_only(fitted, "fitted") == tflite.tflite_op_names(plain)
    assert list(tflite.make_interpreter(model_content=fitted).get_signature_list()) == [tflite.TFLITE_SIGNATURE]


def test_int8_calibration_by_input_name_and_per_tensor_weights():
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)])
    function = tf.function(lambda image: {"y": model(image, training=False)},
                           input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32, name="image")])
    images = np.random.default_rng(0).normal(size=(8, 1, 8, 8, 3)).astype(np.float32)
    weight_scales = {}
    for per_channel in (True, False):
        data = tflite.convert_function(function.get_concrete_function(), "int8",
                                       [{"image": image} for image in images], trackable=model,
                                       int8=tflite.Int8Options(per_channel=per_channel))
        interpreter = tflite.make_interpreter(model_content=data, num_threads=1)
        (weights,) = [t for t in interpreter.get_tensor_details()
                      if t["dtype"] == np.int8 and list(t["shape"]) == [4, 3, 3, 3]]
        weight_scales[per_channel] = len(weights["quantization_parameters"]["scales"])
        runner = interpreter.get_signature_runner(tflite.TFLITE_SIGNATURE)
        lite = np.stack([runner(image=image)["y"][0] for image in images])
        parity = tflite.compare_outputs(model.predict(images[:, 0], verbose=0), lite, max_abs_diff=0.1)
        assert parity.passed, (per_channel, parity)
    assert weight_scales == {True: 4, False: 1}


def test_int8_with_a_float_head_keeps_the_logits_and_softmax_float():
    model = _tiny_model()
    inputs = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    data = tflite.convert_function(_function(model), "int8", list(inputs), trackable=model,
                                   int8=tflite.Int8Options(float_head=True))
    tflite.check_builtin_only(data, "float head")
    # The hidden layer stays int8; the last dense and the softmax compute in float32.
    assert tflite.int8_float_ops(data) == {"FULLY_CONNECTED": 1, "SOFTMAX": 1}
    plain = tflite.convert_function(_function(model), "int8", list(inputs), trackable=model)
    assert tflite.int8_float_ops(plain) == {}
    nodes = tflite.float_head_nodes(plain)  # the last dense's output first, the file's output last
    assert len(nodes) == 2 and "/head/" in nodes[0]
    interpreter = tflite.make_interpreter(model_content=data, num_threads=1)
    runner = interpreter.get_signature_runner(tflite.TFLITE_SIGNATURE)
    lite = np.stack([runner(x=row[None])["output_0"][0] for row in inputs])
    assert tflite.compare_outputs(model.predict(inputs, verbose=0), lite, max_abs_diff=0.05).passed


def test_int8_ranges_are_measured_not_the_consumers():
    """A ReZero-style residual ``h + 0.02 * branch(h)``: TensorFlow's calibration records the small
    branch with the sum's range (the scale of the ``ADD``'s output), which rounds the branch to a few
    steps; measured ranges (``measure_ranges``) give it its own. The file must match Keras either way."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    x = keras.layers.Input((6,))
    h = keras.layers.Dense(8, name="hidden")(x)
    branch = keras.layers.Rescaling(0.02, name="rezero")(keras.layers.Dense(8, name="branch")(h))
    model = keras.Model(x, keras.layers.Dense(3, activation="softmax", name="head")(
        keras.layers.Add(name="sum")([h, branch])))
    inputs = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    values = keras.Model(x, branch).predict(inputs, verbose=0)
    true_scale = (max(values.max(), 0) - min(values.min(), 0)) / 255

    def branch_scale(options):
        data = tflite.convert_function(_function(model), "int8", list(inputs), trackable=model, int8=options)
        details = tflite.make_interpreter(model_content=data).get_tensor_details()
        (scale,) = [t["quantization"][0] for t in details if "rezero" in t["name"]]
        return scale, data

    measured, data = branch_scale(tflite.Int8Options(measure_ranges=True))
    assert measured == pytest.approx(true_scale, rel=0.02)
    recorded, _ = branch_scale(tflite.Int8Options())
    assert recorded > 20 * true_scale  # the converter's own: the sum's range (TF 2.20)
    runner = tflite.make_interpreter(model_content=data).get_signature_runner(tflite.TFLITE_SIGNATURE)
    lite = np.stack([runner(x=row[None])["output_0"][0] for row in inputs])
    assert tflite.compare_outputs(model.predict(inputs, verbose=0), lite, max_abs_diff=0.05).passed


def test_measure_ranges_takes_named_inputs_and_counts_what_changed():
    model = _tiny_model()
    inputs = np.random.default_rng(1).normal(size=(8, 6)).astype(np.float32)
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([_function(model)], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([row[None]] for row in inputs)
    converter._experimental_calibrate_only = True
    calibrated = converter.convert()
    # Measured on the inputs it was calibrated on: this graph's ranges were recorded right.
    same, changed = tflite.measure_ranges(calibrated, [{"x": row[None]} for row in inputs])
    assert changed == 0
    # Measured on inputs 3x as wide: every activation's range widens.
    _, changed = tflite.measure_ranges(calibrated, list(3 * inputs))
    assert changed >= 3  # hidden, head logits, softmax (the input's own range too)


def test_int8_float_scopes_keep_the_named_layers_float():
    model = _tiny_model()
    inputs = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    data = tflite.convert_function(_function(model), "int8", list(inputs), trackable=model,
                                   int8=tflite.Int8Options(float_scopes=("/hidden/",)))
    tflite.check_builtin_only(data, "float scopes")
    assert tflite.int8_float_ops(data) == {"FULLY_CONNECTED": 1}  # the hidden layer; the head is int8
    types = {t["name"]: t["dtype"] for t in tflite.make_interpreter(model_content=data).get_tensor_details()}
    assert all(dtype == np.float32 for name, dtype in types.items() if "/hidden/" in name)
    assert any(dtype == np.int8 for name, dtype in types.items() if "/head/" in name)
    runner = tflite.make_interpreter(model_content=data).get_signature_runner(tflite.TFLITE_SIGNATURE)
    lite = np.stack([runner(x=row[None])["output_0"][0] for row in inputs])
    assert tflite.compare_outputs(model.predict(inputs, verbose=0), lite, max_abs_diff=0.05).passed
