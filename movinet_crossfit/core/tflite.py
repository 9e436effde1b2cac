"""The one TFLite/LiteRT toolkit: every exporter converts, checks and names its files here, and
every runtime (predict, the Lambda, BlazePose, the counter) opens them here.

    conversion_source                       a temporary SavedModel whose serving_default is one function
    convert_saved_model, convert_function   builtin ops only (int8 adds TFLITE_BUILTINS_INT8); the
                                            file's one signature is serving_default
    tflite_op_names, check_builtin_only     no Flex or custom op: the plain LiteRT runtime runs it
    int8_float_ops                          what an int8 file still computes in float
    make_interpreter                        ai_edge_litert (tf.lite where it is not installed)
    signature_runner                        a file's serving_default, its inputs/outputs checked by name
    describe_signature                      a file's signatures (names, dtypes, shapes) as data
    compare_outputs                         a converted file's outputs against its reference
    tflite_filename                         PREFIX_FMT.tflite, or PREFIX.tflite for a lone file
    quiet_tensorflow                        TensorFlow's Python warnings off while exporting

Never Select TF ops: a graph that needs one is an ``ExportError`` naming the op, so a phone runs
every file with the plain LiteRT runtime, no Flex delegate. Every file carries exactly one signature,
``serving_default``, whose input and output names are the contract an app codes against
(``runSignature(inputs, outputs, "serving_default")`` on Android, ``signatureRunner(with:)`` on iOS);
tensor indices and tensor names (``serving_default_frames:0``, ``StatefulPartitionedCall:0``) are not.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError

FORMATS = ("fp32", "fp16", "dynamic", "int8")
# The one signature of every TFLite file. The converter names a file's signature after the SavedModel
# signature it converts, so the source SavedModel's is serving_default too (``conversion_source``).
TFLITE_SIGNATURE = "serving_default"
# What files exported before the signature was named call theirs (the same input and output names).
_OLD_SIGNATURE = "tflite"
DEFAULT_FIX = "replace the op with builtin-op equivalents"
_TF_OP_RE = re.compile(r"\btf\.(\w+)")
_FLEX_RE = re.compile(r"\bFlex(\w+)")


class ExportError(UserError):
    """A model that cannot be exported as asked (e.g. an op TFLite has no builtin kernel for)."""


def tflite_filename(prefix: str, fmt: str | None = None) -> str:
    """``model_fp32.tflite`` for ``("model", "fp32")``; ``model.tflite`` without a format."""
    return f"{prefix}_{fmt}.tflite" if fmt else f"{prefix}.tflite"


# ---------------------------------------------------------------------------------------------
# Conversion


@contextlib.contextmanager
def conversion_source(trackable, function) -> Iterator[Path]:
    """A temporary SavedModel whose one signature, ``serving_default``, is ``function``: the source
    ``convert_saved_model`` converts, once per format. ``function``: a concrete function of fixed
    shapes (batch 1) whose argument names and returned dict keys become the TFLite file's input
    and output names; ``trackable``: the module holding its variables. Removed on exit."""
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="tflite-source-") as folder:
        path = Path(folder) / "saved_model"
        tf.saved_model.save(trackable, str(path), signatures={TFLITE_SIGNATURE: function})
        yield path


def convert_saved_model(saved_model_dir: str | os.PathLike, fmt: str = "fp32",
                        calibration: Sequence[np.ndarray] | None = None, *,
                        label: str | None = None, fix: str = DEFAULT_FIX) -> bytes:
    """A SavedModel's ``serving_default`` signature (see ``conversion_source``) as a ``fmt`` TFLite
    file (see ``convert_function``)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[TFLITE_SIGNATURE])
    return _convert(converter, fmt, calibration, label or fmt, fix)


def convert_function(function, fmt: str = "fp32", calibration: Sequence[np.ndarray] | None = None, *,
                     trackable=None, label: str | None = None, fix: str = DEFAULT_FIX) -> bytes:
    """A concrete function (``tf.function(...).get_concrete_function()``) as a ``fmt`` TFLite file.

    ``trackable``: the Keras model (or module) holding the function's variables. ``fmt``: fp32,
    fp16 (float16 weights), dynamic (int8 weights) or int8 (int8 weights and activations,
    calibrated on ``calibration``: single inputs without the batch axis). ``label`` names the
    file in errors (default: ``fmt``); ``fix`` says what to do about an op without a builtin kernel.
    The file's signature is ``serving_default``: inputs named after the function's arguments,
    outputs after the keys of the dict it returns (``output_0``... when it returns a tensor).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], trackable)
    return _convert(converter, fmt, calibration, label or fmt, fix)


def _convert(converter, fmt: str, calibration, label: str, fix: str) -> bytes:
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if fmt == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif fmt == "int8":
        if not calibration:
            raise ExportError(f"{label}: int8 conversion needs calibration inputs (records_dir)")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
        # Inputs keep their dtype (a uint8 frame input stays raw pixels; the /255 is inside).
        converter.representative_dataset = lambda: ([np.asarray(x)[None]] for x in calibration)
    elif fmt != "fp32":
        raise ValueError(fmt)
    try:
        data = converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises several unrelated types
        text = str(exc)
        ops = sorted(set(_FLEX_RE.findall(text)) | set(_TF_OP_RE.findall(text)))
        if ops:
            raise ExportError(f"{label}: TFLite has no builtin kernel for TensorFlow op(s) "
                              f"{', '.join(ops)}; the graph must use builtin ops only (no Flex): "
                              f"{fix}.") from exc
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise ExportError(f"{label}: TFLite conversion failed: {first[:500]}") from exc
    signatures = list(make_interpreter(model_content=data, num_threads=1).get_signature_list())
    if signatures != [TFLITE_SIGNATURE]:  # the contract apps code against: never ship another
        raise ExportError(f"{label}: the converted file's signatures are {signatures}, not one "
                          f"'{TFLITE_SIGNATURE}'; convert a conversion_source SavedModel")
    return data


# ---------------------------------------------------------------------------------------------
# Checking a converted file


def tflite_op_names(model: bytes | str | os.PathLike) -> list[str]:
    """The operator codes of a ``.tflite`` file (``CUSTOM:<name>`` for custom/Flex ops)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - ai-edge-litert is a dependency
        from tensorflow.lite.python import schema_py_generated as schema
    data = bytes(model) if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    parsed = schema.Model.GetRootAsModel(data, 0)
    found = []
    for i in range(parsed.OperatorCodesLength()):
        code = parsed.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            found.append(f"CUSTOM:{custom.decode() if custom else '?'}")
        else:
            found.append(names.get(builtin, str(builtin)))
    return found


def check_builtin_only(data: bytes, label: str, *, fix: str = DEFAULT_FIX) -> list[str]:
    """The file's op names; an ``ExportError`` naming ``label`` and the op if any is custom/Flex."""
    ops = tflite_op_names(data)
    bad = [op for op in ops if op.startswith("CUSTOM") or op.startswith("Flex")]
    if bad:
        raise ExportError(f"{label}: converted model uses non-builtin op(s) {', '.join(bad)}: it would "
                          f"need the Flex delegate; {fix}.")
    return ops


def int8_float_ops(data: bytes) -> dict[str, int]:
    """Ops of an int8 file that still compute in float32 (input and output casts excluded)."""
    interpreter = make_interpreter(model_content=data)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    counts: dict[str, int] = {}
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        if name in ("QUANTIZE", "DEQUANTIZE", "CAST", "DELEGATE"):
            continue
        inputs = [tensors[i] for i in op["inputs"] if i >= 0 and i in tensors]
        if inputs and inputs[0]["dtype"] == np.float32:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class Parity:
    """How far a converted model's outputs are from its reference's."""

    max_abs_diff: float
    top1_agreement: float  # share of rows (all axes but the last) whose argmax is the same
    passed: bool


def compare_outputs(reference, output, *, max_abs_diff: float | None = None,
                    min_top1: float | None = None) -> Parity:
    """Compare two arrays of the same shape; ``passed`` when every bound given holds (NaN fails)."""
    reference, output = np.asarray(reference, np.float64), np.asarray(output, np.float64)
    if reference.shape != output.shape:
        raise ValueError(f"outputs of shape {list(output.shape)} against a reference of {list(reference.shape)}")
    diff = float(np.abs(output - reference).max())
    agreement = float(np.mean(output.argmax(-1) == reference.argmax(-1)))
    passed = ((max_abs_diff is None or diff <= max_abs_diff)
              and (min_top1 is None or agreement >= min_top1))
    return Parity(diff, agreement, bool(passed))


# ---------------------------------------------------------------------------------------------
# Running


def make_interpreter(model_path: str | os.PathLike | None = None, *, model_content: bytes | None = None,
                     num_threads: int | None = None):
    """A LiteRT interpreter (``ai_edge_litert``; ``tf.lite`` where it is not installed)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - ai-edge-litert is a dependency
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=None if model_path is None else str(model_path),
                       model_content=model_content, num_threads=num_threads or os.cpu_count() or 1)


def signature_runner(interpreter, label: str, inputs: Sequence[str], outputs: Sequence[str], *,
                     fix: str = "export it again with this version"):
    """The file's ``serving_default`` runner (``runner(**{input: array}) -> {output: array}``),
    checked to take exactly ``inputs`` and to give (at least) ``outputs``, by name.

    A file exported before the signature was named (its one signature ``tflite``, with the same
    input and output names) is read through that signature. Anything else is a ``UserError``
    naming ``label`` (the file) and ``fix``.
    """
    signatures = interpreter.get_signature_list()
    key = next((k for k in (TFLITE_SIGNATURE, _OLD_SIGNATURE) if k in signatures), None)
    found = signatures.get(key, {}) if key else {}
    if (key is None or sorted(found.get("inputs", [])) != sorted(inputs)
            or not set(outputs) <= set(found.get("outputs", []))):
        have = ", ".join(f"'{k}' {v.get('inputs')} -> {v.get('outputs')}" for k, v in signatures.items())
        raise UserError(f"{label}: expected a '{TFLITE_SIGNATURE}' signature {list(inputs)} -> {list(outputs)}, "
                        f"the file has {have or 'no signature'}; {fix}")
    return interpreter.get_signature_runner(key)


def describe_signature(model: bytes | str | os.PathLike) -> dict:
    """A file's signatures as data: ``{key: {"inputs": {name: {"dtype", "shape"}}, "outputs": ...}}``
    (what export reports and model cards state, read from the file rather than assumed)."""
    interpreter = (make_interpreter(model_content=bytes(model), num_threads=1) if isinstance(model, (bytes, bytearray))
                   else make_interpreter(model, num_threads=1))
    described = {}
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)

        def tensors(details: dict) -> dict:
            return {name: {"dtype": np.dtype(d["dtype"]).name, "shape": [int(x) for x in d["shape"]]}
                    for name, d in details.items()}

        described[key] = {"inputs": tensors(runner.get_input_details()),
                          "outputs": tensors(runner.get_output_details())}
    return described


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[None]:
    """TensorFlow's Python logger at ERROR: the SavedModel writer warns once per unbuilt Keras
    layer, and restoring a checkpoint for export warns of its unused save counter."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
