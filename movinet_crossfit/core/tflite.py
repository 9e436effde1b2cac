"""The one TFLite/LiteRT toolkit: every exporter converts, checks and names its files here, and
every runtime (predict, the Lambda, BlazePose, the counter) opens them here.

    conversion_source                       a temporary SavedModel whose serving_default is one function
    convert_saved_model, convert_function   builtin ops only (int8 adds TFLITE_BUILTINS_INT8); the
                                            file's one signature is serving_default
    Int8Options, fit_int8_for_xnnpack       how int8 is quantized (float scopes, a float head); every
                                            int8 file's ADD/MUL constants fitted to XNNPACK's bounds
                                            (one delegate piece, not many)
    measure_ranges                          a calibrated file's activation ranges as its tensors take them
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


@dataclass(frozen=True)
class Int8Options:
    """How an int8 file is quantized (the defaults are what every export ships).

    ``fit_xnnpack``: requantize ADD/MUL constants within XNNPACK's bounds (``fit_int8_for_xnnpack``),
    so the delegate runs the graph in one piece rather than many. ``per_channel``: one scale per
    output channel of each convolution's weights (the converter's default); False: one per tensor.
    ``float_head``: the last CONV_2D / FULLY_CONNECTED before the output (the classifier's logits)
    and what follows it (the softmax) stay float32 (``float_head_nodes``), the rest int8: logits free of int8 rounding, at the cost of a
    DEQUANTIZE and one float layer. ``float_scopes``: the ops whose output tensor's name contains
    one of these strings stay float32 (a first block that int8 rounding hurts most, e.g.
    ``("/stem/", "/block0_")`` for MoViNet: docs/performance.md, "Which block int8 hurts").
    ``measure_ranges``: every activation's range is measured by running the float graph on the
    calibration inputs (``measure_ranges``) instead of taken from the converter's calibration, which
    records some tensors with their consumer's wider range (a block's ReZero output with the
    residual sum's: up to 77x wide, the branch rounded to zero); off by default: it did not raise
    top-1 agreement on trained models (docs/performance.md, "int8 ranges").
    """

    fit_xnnpack: bool = True
    per_channel: bool = True
    float_head: bool = False
    measure_ranges: bool = False
    float_scopes: tuple[str, ...] = ()

    @property
    def calibrate_only(self) -> bool:
        """The converter only calibrates; ``_quantize`` quantizes (float parts, measured ranges)."""
        return self.float_head or self.measure_ranges or bool(self.float_scopes)


INT8_DEFAULT = Int8Options()


def convert_saved_model(saved_model_dir: str | os.PathLike, fmt: str = "fp32",
                        calibration: Sequence | None = None, *, label: str | None = None,
                        fix: str = DEFAULT_FIX, int8: Int8Options = INT8_DEFAULT) -> bytes:
    """A SavedModel's ``serving_default`` signature (see ``conversion_source``) as a ``fmt`` TFLite
    file (see ``convert_function``)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[TFLITE_SIGNATURE])
    return _convert(converter, fmt, calibration, label or fmt, fix, int8)


def convert_function(function, fmt: str = "fp32", calibration: Sequence | None = None, *,
                     trackable=None, label: str | None = None, fix: str = DEFAULT_FIX,
                     int8: Int8Options = INT8_DEFAULT) -> bytes:
    """A concrete function (``tf.function(...).get_concrete_function()``) as a ``fmt`` TFLite file.

    ``trackable``: the Keras model (or module) holding the function's variables. ``fmt``: fp32,
    fp16 (float16 weights), dynamic (int8 weights) or int8 (int8 weights and activations,
    calibrated on ``calibration``: single inputs without the batch axis, or dicts of every named
    input with its batch axis, as the signature takes them; quantized as ``int8`` says, and fitted
    to XNNPACK by default). ``label`` names the file in errors (default: ``fmt``); ``fix`` says
    what to do about an op without a builtin kernel.
    The file's signature is ``serving_default``: inputs named after the function's arguments,
    outputs after the keys of the dict it returns (``output_0``... when it returns a tensor).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], trackable)
    return _convert(converter, fmt, calibration, label or fmt, fix, int8)


def _representative(calibration: Sequence):
    for x in calibration:
        yield x if isinstance(x, dict) else [np.asarray(x)[None]]


def _convert(converter, fmt: str, calibration, label: str, fix: str, int8: Int8Options) -> bytes:
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
        converter.representative_dataset = lambda: _representative(calibration)
        if not int8.per_channel:
            converter._experimental_disable_per_channel = True  # noqa: SLF001 - the converter's only switch
        if int8.calibrate_only:
            converter._experimental_calibrate_only = True  # noqa: SLF001
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
    if fmt == "int8" and int8.calibrate_only:
        data = _quantize(data, calibration, int8, label)
    if fmt == "int8" and int8.fit_xnnpack:
        data = fit_int8_for_xnnpack(data)[0]
    signatures = list(make_interpreter(model_content=data, num_threads=1).get_signature_list())
    if signatures != [TFLITE_SIGNATURE]:  # the contract apps code against: never ship another
        raise ExportError(f"{label}: the converted file's signatures are {signatures}, not one "
                          f"'{TFLITE_SIGNATURE}'; convert a conversion_source SavedModel")
    return data


_HEAD_OPS = ("CONV_2D", "FULLY_CONNECTED")
# Ops between the head and the output that only move, offset or normalise its values (an ADD or MUL
# only by a constant: a bias added after a reshape).
_PASS_THROUGH_OPS = ("SOFTMAX", "RESHAPE", "SQUEEZE", "QUANTIZE", "DEQUANTIZE", "ADD", "MUL")


def float_head_nodes(data: bytes) -> list[str]:
    """The output tensor names of a file's head and what follows it, in graph order: walking back
    from the first output through ops that only reshape, offset by a constant or normalise
    (RESHAPE, ADD of a bias, SOFTMAX...) to the last CONV_2D / FULLY_CONNECTED (the logits).
    Empty when the output is not so reached."""
    interpreter = make_interpreter(model_content=data, num_threads=1)
    tensors = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    producer = {out: op for op in interpreter._get_ops_details() for out in op["outputs"]}
    tensor = interpreter.get_output_details()[0]["index"]
    nodes = []
    while tensor in producer:
        op = producer[tensor]
        computed = [i for i in op["inputs"] if i in producer]  # not constants
        if op["op_name"] not in _HEAD_OPS + _PASS_THROUGH_OPS or len(computed) != 1:
            return []
        if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE"):
            nodes.append(tensors[tensor])
        if op["op_name"] in _HEAD_OPS:
            return nodes[::-1]
        tensor = computed[0]
    return []


def _quantize(calibrated: bytes, calibration: Sequence, int8: Int8Options, label: str) -> bytes:
    """A calibrated float file (the converter's calibrate-only output) quantized to int8: its ranges
    measured first (``measure_ranges``) when ``int8`` says so, and its head and the ops after it
    (``float_head_nodes``) and the ops in its ``float_scopes`` left float when it says so; inputs
    and outputs keep their types."""
    from tensorflow.lite.python.convert import mlir_quantize

    nodes = []
    if int8.float_head:
        nodes = float_head_nodes(calibrated)
        if not nodes:
            raise ExportError(f"{label}: int8 with a float head: no CONV_2D or FULLY_CONNECTED found "
                              "feeding the output")
    if int8.float_scopes:
        interpreter = make_interpreter(model_content=calibrated, num_threads=1)
        producer_outputs = {out for op in interpreter._get_ops_details() for out in op["outputs"]}
        nodes += [t["name"] for t in interpreter.get_tensor_details() if t["index"] in producer_outputs
                  and any(scope in t["name"] for scope in int8.float_scopes) and t["name"] not in nodes]
    if int8.measure_ranges:
        calibrated = measure_ranges(calibrated, calibration)[0]
    return mlir_quantize(calibrated, disable_per_channel=not int8.per_channel, denylisted_nodes=nodes or None)


def measure_ranges(calibrated: bytes, calibration: Sequence) -> tuple[bytes, int]:
    """A calibrated float file whose every activation range (the min/max the quantizer turns into a
    scale and zero point) is the one its tensor really takes on ``calibration`` (as
    ``convert_function`` takes it), measured by running the file op by op in LiteRT's reference
    kernels with every tensor kept; and how many ranges changed by more than 1 %.

    Why: TensorFlow 2.20's calibration records some tensors with the range of the op that consumes
    them (a ReZero ``MUL`` with the residual ``ADD``'s range, a swish's ``LOGISTIC`` with the
    swish's, a conv's ``RESHAPE`` with the batch norm's after it), up to 77x wider than the values
    (docs/performance.md, "int8 ranges"); quantized on such a range, a block's residual branch rounds
    to zero. Tensors the run cannot read keep the recorded range.
    """
    import flatbuffers

    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - ai-edge-litert is a dependency
        from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(calibrated), 0)
    tensors = model.subgraphs[0].tensors
    ranged = [i for i, t in enumerate(tensors) if t.quantization is not None
              and t.quantization.min is not None and len(t.quantization.min) == 1]
    interpreter = make_interpreter(model_content=calibrated, keep_all_tensors=True)
    runner = interpreter.get_signature_runner(TFLITE_SIGNATURE)
    names = list(runner.get_input_details())
    low = np.full(len(tensors), np.inf)
    high = np.full(len(tensors), -np.inf)
    for item in calibration:
        runner(**(item if isinstance(item, dict) else {names[0]: np.asarray(item)[None]}))
        for i in ranged:
            try:
                values = interpreter.get_tensor(i)
            except ValueError:  # not kept (a tensor the run never writes)
                continue
            if values.size:
                low[i] = min(low[i], float(values.min()))
                high[i] = max(high[i], float(values.max()))
    changed = 0
    for i in ranged:
        if not np.isfinite(low[i]):
            continue
        quant = tensors[i].quantization
        old = float(quant.max[0]) - float(quant.min[0])
        changed += abs(old - (high[i] - low[i])) > 0.01 * max(old, 1e-12)
        quant.min, quant.max = [low[i]], [high[i]]
    builder = flatbuffers.Builder(len(calibrated) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), changed


# ---------------------------------------------------------------------------------------------
# int8 that XNNPACK runs whole (every int8 file: `_convert` applies it)
#
# XNNPACK (LiteRT's CPU delegate) runs an int8 graph only where it has a kernel for every op and
# the quantization parameters fit its kernels; every op it refuses splits the graph, and each op
# refused runs in LiteRT's own int8 kernels between delegate calls (MoViNet-A2 at 224 with random
# weights: 29 pieces, int8 barely faster than fp32). What split it: an ADD of a constant quantized
# much finer than the output (a batch-norm offset near zero, one per block of a model with random
# or barely trained offsets): XNNPACK takes an ADD only when input scale / output scale >= 1/1024.
# Such a constant is requantized at that bound; the values it held (|v| < output scale / 8) change
# by less than an eighth of one output step. A MUL by such a constant (a ReZero scale still at
# zero) likewise, at XNNPACK's MUL bound (2^-16). What is left outside XNNPACK: the input CAST,
# the skip path's AVERAGE_POOL_2D (XNNPACK pools float only; a depthwise-conv stand-in was
# measured no faster and less accurate, docs/performance.md) and the final SOFTMAX.

# XNNPACK's bound on an ADD input's scale relative to the output's (CheckTensorsInputOutputScale).
_XNNPACK_ADD_MIN_SCALE_RATIO = 1.0 / 1024.0
# ... and on a MUL's input scales' product relative to the output's (CheckTensorsInputProductOutputScale).
_XNNPACK_MUL_MIN_SCALE_RATIO = 2.0 ** -16


def fit_int8_for_xnnpack(data: bytes) -> tuple[bytes, int]:
    """An int8 file whose ADD and MUL constants are quantized within XNNPACK's bounds (see above),
    and how many constants were requantized. Everything else in the file is kept as it is."""
    import flatbuffers

    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - ai-edge-litert is a dependency
        from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    changed = 0
    for subgraph in model.subgraphs or []:
        for op in subgraph.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            if builtin not in (schema.BuiltinOperator.ADD, schema.BuiltinOperator.MUL) or len(op.inputs) != 2:
                continue
            output = subgraph.tensors[op.outputs[0]]
            inputs = [subgraph.tensors[i] for i in op.inputs]
            if any(t.type != schema.TensorType.INT8 or t.quantization is None
                   or len(t.quantization.scale) != 1 for t in [output, *inputs]):
                continue
            out_scale = float(output.quantization.scale[0])
            for tensor, other in ((inputs[0], inputs[1]), (inputs[1], inputs[0])):
                buffer = model.buffers[tensor.buffer]
                if buffer.data is None or not len(buffer.data):
                    continue  # not a constant
                if builtin == schema.BuiltinOperator.ADD:  # input scale / output scale >= 1/1024
                    floor = out_scale * _XNNPACK_ADD_MIN_SCALE_RATIO
                else:  # MUL: input scale x other input scale / output scale >= 2^-16
                    floor = out_scale * _XNNPACK_MUL_MIN_SCALE_RATIO / float(other.quantization.scale[0])
                quant = tensor.quantization
                if float(quant.scale[0]) >= floor * 1.0001:  # clear of it (the file holds float32)
                    continue
                floor *= 1.001  # clear of the bound after float rounding: fitting twice changes nothing
                values = (np.frombuffer(bytes(buffer.data), np.int8).astype(np.float64)
                          - int(quant.zeroPoint[0])) * float(quant.scale[0])
                requantized = np.clip(np.round(values / floor), -128, 127).astype(np.int8)
                fresh = schema.BufferT()  # a buffer of its own: the old one may be shared
                fresh.data = np.frombuffer(requantized.tobytes(), np.uint8)
                model.buffers.append(fresh)
                tensor.buffer = len(model.buffers) - 1
                quant.scale, quant.zeroPoint = [floor], [0]
                quant.min = quant.max = None
                changed += 1
    if not changed:
        return data, 0
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), changed


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
                     num_threads: int | None = None, keep_all_tensors: bool = False):
    """A LiteRT interpreter (``ai_edge_litert``; ``tf.lite`` where it is not installed).
    ``keep_all_tensors``: every intermediate tensor stays readable after ``invoke`` (LiteRT's own
    kernels, no delegate: a delegate keeps its tensors inside)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # pragma: no cover - ai-edge-litert is a dependency
        import tensorflow as tf

        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    extra = {}
    if keep_all_tensors:
        extra = {"experimental_preserve_all_tensors": True,
                 "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    return Interpreter(model_path=None if model_path is None else str(model_path),
                       model_content=model_content, num_threads=num_threads or os.cpu_count() or 1, **extra)


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
