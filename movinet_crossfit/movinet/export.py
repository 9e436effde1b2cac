"""A training run -> a SavedModel for servers and TFLite files for phones, checked against Keras.

```
OUT/
  saved_model/           serving_default: uint8 frames [batch, T, H, W, 3], any H x W (THE
                         preprocessing runs inside) -> probabilities [batch, C], labels [C]
  model_fp32.tflite      signature serving_default: frames uint8 [1, T, S, S, 3], already
                         preprocessed -> probabilities float32 [1, C]
  model_fp16.tflite      the same with float16 weights
  model_dynamic.tflite   int8 weights, float activations (dynamic-range quantization)
  model_int8.tflite      int8 weights and activations, calibrated on the training records
  labels.txt             class names, one per line, in output order
  export_report.json     sizes, conversion times, parity against the Keras model
  README.md              the model card: classes, data, metrics, input contract, files, parity
```
Every TFLite file is converted from the fast builtin-op graph (``movinet.fast_ops``) by
``core.tflite``: builtin ops only, so the plain LiteRT runtime runs them without the Flex delegate;
a graph that would need a TF op is an ``ExportError`` naming the op. ``docs/export.md`` is the
contract for the phone app.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import atomic_path, replace_dir, temp_path_for, write_json_atomic
from movinet_crossfit.core.progress import progress_bar
from movinet_crossfit.core.runs import LABELS_FILE, run_records, write_labels
from movinet_crossfit.core.tflite import (INT8_DEFAULT, ExportError, Int8Options, check_builtin_only, compare_outputs,
                                          conversion_source, convert_saved_model, describe_signature, int8_float_ops,
                                          make_interpreter, quiet_tensorflow, signature_runner, tflite_filename)
from movinet_crossfit.movinet.card import model_name, write_model_card

SAVED_MODEL_DIR = "saved_model"
REPORT_FILE = "export_report.json"
TFLITE_PREFIX = "model"  # model_<format>.tflite
TFLITE_FORMATS = ("fp32", "fp16", "dynamic", "int8")
FORMATS = ("saved_model", *TFLITE_FORMATS)
# The TFLite files' serving_default signature: what an app codes against (docs/export.md).
INPUT_NAME = "frames"
OUTPUT_NAME = "probabilities"
# The SavedModel's second signature: the fixed-shape graph every TFLite file is converted from.
PREPROCESSED_SIGNATURE = "preprocessed"
# What to do about an op TFLite has no builtin kernel for.
_FIX = "export the fast graph (movinet.fast_ops) or replace the op"
# Targets checked by `check_parity` (and recorded in the report).
FP32_TOLERANCE = 1e-4
QUANTIZED_TOP1_TARGET = 0.95
_BATCH = 8


@dataclass
class ExportReport:
    """What ``export_run`` wrote; ``export_report.json`` holds ``to_dict()``."""

    out_dir: str
    run_dir: str
    model_id: str
    num_frames: int
    size: int
    classes: list[str]
    formats: list[str]
    files: dict[str, str] = field(default_factory=dict)  # format -> file name in out_dir
    bytes: dict[str, int] = field(default_factory=dict)
    conversion_seconds: dict[str, float] = field(default_factory=dict)
    # Ops left in float in the int8 file (TFLite has no int8 kernel for them), name -> count.
    int8_float_ops: dict[str, int] = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    parity: dict = field(default_factory=dict)
    # The TFLite files' signatures as read back from the first one written (describe_signature).
    signature: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    total_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"exported {model_name(self.model_id)} ({self.num_frames} frames, {self.size}px, "
                 f"{len(self.classes)} classes) to {self.out_dir} in {self.total_seconds:.0f} s"]
        for fmt in self.formats:
            parity = self.parity.get("formats", {}).get(fmt, {})
            check = ""
            if parity:
                check = (f"  max |p - keras| {parity['max_abs_diff']:.2e}  top-1 agreement "
                         f"{parity['top1_agreement']:.1%}  {'ok' if parity['passed'] else 'BELOW TARGET'}")
            lines.append(f"  {self.files.get(fmt, fmt):22s} {self.bytes.get(fmt, 0) / 1e6:7.2f} MB  "
                         f"{self.conversion_seconds.get(fmt, 0):6.1f} s{check}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Loading the run and the calibration frames


def _records_frames(records_dir: Path, splits: Sequence[str], limit: int, num_frames: int,
                    size: int) -> tuple[list[np.ndarray], str]:
    """Up to ``limit`` uint8 clips ``[T, S, S, 3]`` from the first of ``splits`` present."""
    from movinet_crossfit.data.records import load_dataset, read_info

    info = read_info(records_dir)
    if (int(info["num_frames"]), int(info["size"])) != (num_frames, size):
        raise UserError(f"{records_dir}: records hold {info['num_frames']} frames of {info['size']}px "
                        f"but the model takes {num_frames} of {size}px; build records with "
                        f"`movinet-crossfit records --frames {num_frames} --size {size}`")
    present = [s for s in splits if info.get("splits", {}).get(s, {}).get("clips")]
    if not present:
        raise UserError(f"{records_dir}: none of the splits {list(splits)} holds clips")
    split = present[0]
    dataset = load_dataset(records_dir, split, batch_size=None, shuffle=split == "train", seed=0)
    clips = []
    for frames, _label in dataset.take(limit).as_numpy_iterator():
        # load_dataset gives uint8/255 to within 1 ulp, so rounding recovers the stored frames bit for bit.
        clips.append(np.round(frames * 255.0).astype(np.uint8))
    return clips, f"records:{split}"


# ---------------------------------------------------------------------------------------------
# The exported graphs


def build_export_module(model, classes: Sequence[str], num_frames: int, size: int,
                        labels_path: str | os.PathLike | None = None):
    """A ``tf.Module`` holding the model's variables and the two exported functions.

    Only the variables are tracked (not the Keras model), so saving serialises two traced
    functions instead of every Keras layer: seconds instead of minutes.
    """
    import tensorflow as tf

    from movinet_crossfit.core.clip_sampling import preprocess_frames, to_model_input

    module = tf.Module()
    module.model_variables = list(model.variables)
    module.num_frames = tf.Variable(int(num_frames), trainable=False, name="num_frames")
    module.size = tf.Variable(int(size), trainable=False, name="size")
    module.class_names = tf.Variable(list(classes), trainable=False, name="class_names")
    if labels_path is not None:
        module.labels_file = tf.saved_model.Asset(str(labels_path))

    def probabilities(frames):
        return tf.nn.softmax(model(to_model_input(frames), training=False), axis=-1)

    @tf.function(input_signature=[tf.TensorSpec([None, num_frames, None, None, 3], tf.uint8,
                                                name=INPUT_NAME)])
    def serve(frames):
        shape = tf.shape(frames)
        flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))
        clips = tf.reshape(preprocess_frames(flat, size), [-1, num_frames, size, size, 3])
        return {OUTPUT_NAME: probabilities(clips), "labels": tf.identity(module.class_names)}

    # The argument's name and the returned key are the TFLite signature's input and output names.
    @tf.function(input_signature=[tf.TensorSpec([1, num_frames, size, size, 3], tf.uint8,
                                                name=INPUT_NAME)])
    def preprocessed(frames):
        return {OUTPUT_NAME: probabilities(frames)}

    module.serve = serve
    module.preprocessed = preprocessed
    return module


def save_module(module, path: Path) -> None:
    import tensorflow as tf

    signatures = {"serving_default": module.serve.get_concrete_function(),
                  PREPROCESSED_SIGNATURE: module.preprocessed.get_concrete_function()}
    tf.saved_model.save(module, str(path), signatures=signatures)


# MoViNet's int8 clip files keep the stem and the first block float: of the network's parts, int8
# rounding there moves the probabilities most (kept float, the mean |p - Keras| of three trained demo
# models fell 35-53 % and top-1 agreement over 450 clips rose to >= 99 % on all three), and at
# A2/224 the float part costs little (int8 1.41x fp32 instead of 1.43x). docs/performance.md,
# "Which block int8 hurts".
MOVINET_INT8 = Int8Options(float_scopes=("/stem/", "/block0_"))


def int8_options(arch: str) -> Int8Options:
    """How a model of ``arch`` is quantized for its int8 clip file."""
    return MOVINET_INT8 if arch == "movinet" else INT8_DEFAULT


def convert_int8(source: str | os.PathLike, calibration: Sequence[np.ndarray],
                 options: Int8Options = MOVINET_INT8) -> bytes:
    """The int8 TFLite file of a ``conversion_source`` SavedModel, calibrated on ``calibration``
    (``core.tflite`` fits every int8 file's ADD/MUL constants to XNNPACK: ``fit_int8_for_xnnpack``)."""
    return convert_saved_model(source, "int8", calibration, fix=_FIX, int8=options)


# ---------------------------------------------------------------------------------------------
# Running the exported files


def tflite_runner(interpreter, label: str = "the TFLite file"):
    """The file's ``serving_default`` runner, checked to map ``frames`` to ``probabilities``."""
    return signature_runner(interpreter, label, [INPUT_NAME], [OUTPUT_NAME],
                            fix="export it again with `movinet-crossfit export RUN_DIR -o OUT_DIR`")


def run_tflite(interpreter, clips: Iterable[np.ndarray], label: str = "the TFLite file") -> np.ndarray:
    """Probabilities ``[N, C]`` for uint8 clips ``[T, S, S, 3]``, one invoke each (by signature)."""
    run = tflite_runner(interpreter, label)
    return np.stack([np.array(run(**{INPUT_NAME: np.asarray(clip, np.uint8)[None]})[OUTPUT_NAME][0], np.float32)
                     for clip in clips])


def keras_probabilities(model, clips: Sequence[np.ndarray]) -> np.ndarray:
    import tensorflow as tf

    from movinet_crossfit.core.clip_sampling import to_model_input

    forward = tf.function(lambda x: tf.nn.softmax(model(to_model_input(x), training=False), axis=-1))
    return np.concatenate([forward(tf.constant(np.stack(clips[i:i + _BATCH]))).numpy()
                           for i in range(0, len(clips), _BATCH)])


def _as_clips(clips: Iterable, num_frames: int, size: int) -> list[np.ndarray]:
    from movinet_crossfit.core.clip_sampling import load_clip

    result = []
    for clip in clips:
        if isinstance(clip, (str, os.PathLike)):
            clip = load_clip(clip, num_frames, size)
        clip = np.asarray(clip)
        if clip.dtype != np.uint8 or clip.shape != (num_frames, size, size, 3):
            raise UserError(f"parity clips must be uint8 [{num_frames}, {size}, {size}, 3] "
                            f"(preprocessed) or video paths; got {clip.dtype} {list(clip.shape)}")
        result.append(clip)
    if not result:
        raise UserError("check_parity needs at least one clip")
    return result


def check_parity(out_dir: str | os.PathLike, clips: Iterable, *, model=None,
                 formats: Sequence[str] = FORMATS) -> dict:
    """Run Keras, the SavedModel and every TFLite file in ``out_dir`` on the same clips.

    ``clips``: video paths (loaded with ``clip_sampling.load_clip``) or preprocessed uint8 clips
    ``[T, S, S, 3]``. ``model``: the Keras classifier; by default it is rebuilt from the run
    recorded in ``export_report.json``. ``formats``: which of the files present to check.
    Returns, per format, the max absolute difference of the
    probabilities from Keras and the share of clips with the same top-1 class; ``passed`` is
    true when the SavedModel and fp32 are within ``FP32_TOLERANCE`` and the quantized files agree
    on top-1 for at least ``QUANTIZED_TOP1_TARGET`` of the clips.
    """
    import json

    import tensorflow as tf

    from movinet_crossfit.movinet.model import load_trained_classifier, spec_of

    out_dir = Path(out_dir)
    if model is None:
        report_path = out_dir / REPORT_FILE
        if not report_path.is_file():
            raise UserError(f"{out_dir}: no {REPORT_FILE}; pass the Keras model or export again")
        model = load_trained_classifier(json.loads(report_path.read_text(encoding="utf-8"))["run_dir"])[0]

    spec = spec_of(model)
    clips = _as_clips(clips, spec.num_frames, spec.size)
    reference = keras_probabilities(model, clips)
    outputs: dict[str, np.ndarray] = {}
    saved = out_dir / SAVED_MODEL_DIR
    if "saved_model" in formats and (saved / "saved_model.pb").is_file():
        serve = tf.saved_model.load(str(saved)).signatures["serving_default"]
        outputs["saved_model"] = np.concatenate(
            [serve(frames=tf.constant(np.stack(clips[i:i + _BATCH])))["probabilities"].numpy()
             for i in range(0, len(clips), _BATCH)])
    for fmt in TFLITE_FORMATS:
        path = out_dir / tflite_filename(TFLITE_PREFIX, fmt)
        if fmt in formats and path.is_file():
            outputs[fmt] = run_tflite(make_interpreter(path), clips, str(path))
    formats = {}
    for fmt, probs in outputs.items():
        exact = fmt in ("saved_model", "fp32")
        parity = (compare_outputs(reference, probs, max_abs_diff=FP32_TOLERANCE) if exact
                  else compare_outputs(reference, probs, min_top1=QUANTIZED_TOP1_TARGET))
        formats[fmt] = {"max_abs_diff": parity.max_abs_diff, "top1_agreement": parity.top1_agreement,
                        "passed": parity.passed,
                        "target": (f"max_abs_diff <= {FP32_TOLERANCE}" if exact
                                   else f"top1_agreement >= {QUANTIZED_TOP1_TARGET}")}
    margins = np.sort(reference, axis=-1)
    return {"clips": len(clips), "formats": formats,
            "passed": all(f["passed"] for f in formats.values()),
            # A small top-1 margin makes top-1 agreement a harder test (an untrained model's is tiny).
            "keras_top1_margin_median": float(np.median(margins[:, -1] - margins[:, -2]))
            if reference.shape[1] > 1 else 1.0}


# ---------------------------------------------------------------------------------------------


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
               formats: Sequence[str] = FORMATS, records_dir: str | os.PathLike | None = None,
               calibration_clips: int = 100, parity_clips: int = 32) -> ExportReport:
    """Export a training run's best checkpoint as a SavedModel and TFLite files (see module doc).

    ``records_dir``: the TFRecords (default: the run's own, see ``runs.run_records``). int8 calibrates on up to ``calibration_clips`` clips of
    its ``train`` split and cannot be built without it. Parity is measured on up to
    ``parity_clips`` clips: its test split first, topped up from val and train; without records,
    on seeded random frames (numbers only: such clips say nothing about accuracy).
    """
    started = time.perf_counter()
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UserError(f"unknown export format(s) {unknown or '(none given)'}: choose from {', '.join(FORMATS)}")
    run_dir, out_dir = Path(run_dir), Path(out_dir)

    from movinet_crossfit.movinet.model import load_trained_classifier

    with quiet_tensorflow():  # a checkpoint's unused save_counter is reported as a warning
        model, classes, config = load_trained_classifier(run_dir)
    from movinet_crossfit.movinet.fast_ops import uses_fast_ops

    from movinet_crossfit.movinet.model import spec_of

    spec = spec_of(model)
    # A causal run's (2+1)-D layout has no Conv3D, and the classic archs are built on builtin ops.
    if spec.arch == "movinet" and not spec.causal and not uses_fast_ops(model):  # Conv3D would need Flex ops (and run 77x slower)
        raise ExportError(f"{run_dir}: the model was not switched to its builtin-op graph (fast_ops); "
                          "load it with load_trained_classifier(fast=True)")
    records_dir = run_records(run_dir, records_dir, missing_ok="int8" not in formats)
    if "int8" in formats and records_dir is None:
        raise UserError("int8 export needs calibration frames: pass records_dir (the training "
                        "TFRecords from `movinet-crossfit records`), or leave int8 out of formats")
    num_frames, size = int(config["num_frames"]), int(config["size"])
    report = ExportReport(str(out_dir), str(run_dir), str(config["model_id"]) if spec.arch == "movinet" else spec.arch,
                          num_frames, size,
                          list(classes), formats)
    calibration: list[np.ndarray] = []
    if records_dir is not None:
        from movinet_crossfit.data.records import read_info

        records_classes = list(read_info(records_dir).get("classes", []))
        if records_classes and records_classes != list(classes):
            report.warnings.append(f"{records_dir}: classes {records_classes} differ from the run's "
                                   f"{list(classes)}; calibration uses its frames only")
    if "int8" in formats:
        calibration, source = _records_frames(Path(records_dir), ["train"], calibration_clips,
                                              num_frames, size)
        report.calibration = {"clips": len(calibration), "source": source}
        if len(calibration) < calibration_clips:
            report.warnings.append(f"int8 calibrated on {len(calibration)} clips (asked for "
                                   f"{calibration_clips}): all the train split holds")

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_saved = temp_path_for(out_dir / SAVED_MODEL_DIR)
    shutil.rmtree(tmp_saved, ignore_errors=True)
    lite_formats = [f for f in formats if f in TFLITE_FORMATS]
    steps = ("saved_model" in formats) + len(lite_formats) + 1
    try:
        with progress_bar(steps, "export") as advance, quiet_tensorflow():
            module = build_export_module(model, classes, num_frames, size, run_dir / LABELS_FILE)
            if "saved_model" in formats:
                tick = time.perf_counter()
                save_module(module, tmp_saved)
                report.conversion_seconds["saved_model"] = round(time.perf_counter() - tick, 2)
                advance(1)
            if lite_formats:
                # Converted from a SavedModel whose serving_default is the fixed-shape graph, so
                # every file's one signature is serving_default: frames -> probabilities.
                with conversion_source(module, module.preprocessed.get_concrete_function()) as source:
                    for fmt in lite_formats:
                        tick = time.perf_counter()
                        data = (convert_int8(source, calibration, int8_options(spec.arch)) if fmt == "int8"
                                else convert_saved_model(source, fmt, None, fix=_FIX))
                        check_builtin_only(data, fmt, fix=_FIX)
                        if fmt == "int8":
                            report.int8_float_ops = int8_float_ops(data)
                        name = tflite_filename(TFLITE_PREFIX, fmt)
                        with atomic_path(out_dir / name) as tmp:
                            Path(tmp).write_bytes(data)
                        report.conversion_seconds[fmt] = round(time.perf_counter() - tick, 2)
                        report.files[fmt], report.bytes[fmt] = name, len(data)
                        if not report.signature:
                            report.signature = describe_signature(data)
                        advance(1)
            if "saved_model" in formats:
                replace_dir(tmp_saved, out_dir / SAVED_MODEL_DIR)
                report.files["saved_model"] = SAVED_MODEL_DIR
                report.bytes["saved_model"] = sum(p.stat().st_size for p in
                                                  (out_dir / SAVED_MODEL_DIR).rglob("*") if p.is_file())
            write_labels(out_dir / LABELS_FILE, list(classes))
            parity_set, source = _parity_clips(records_dir, parity_clips, num_frames, size)
            report.parity = check_parity(out_dir, parity_set, model=model, formats=formats)
            report.parity["source"] = source
            advance(1)
    finally:
        shutil.rmtree(tmp_saved, ignore_errors=True)
    for fmt, result in report.parity["formats"].items():
        if not result["passed"]:
            report.warnings.append(f"{fmt}: parity below target ({result['target']}: "
                                   f"diff {result['max_abs_diff']:.2e}, top-1 {result['top1_agreement']:.0%})")
    report.total_seconds = round(time.perf_counter() - started, 2)
    write_json_atomic(out_dir / REPORT_FILE, report.to_dict())
    write_model_card(out_dir, report, run_dir, records_dir)
    return report


def _parity_clips(records_dir, limit: int, num_frames: int, size: int) -> tuple[list[np.ndarray], str]:
    """Held-out clips first (test, then val), topped up from train: parity is about numbers, and
    a tiny test split alone would make the top-1 agreement a coarse measure."""
    if records_dir is None:
        rng = np.random.default_rng(0)
        count = max(1, min(limit, 8))
        return [rng.integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8)
                for _ in range(count)], "random frames (no records given)"
    from movinet_crossfit.data.records import read_info

    splits = read_info(records_dir).get("splits", {})
    clips, used = [], []
    for split in ("test", "val", "train"):
        if len(clips) >= limit or not splits.get(split, {}).get("clips"):
            continue
        more, _ = _records_frames(Path(records_dir), [split], limit - len(clips), num_frames, size)
        clips.extend(more)
        used.append(f"{split}:{len(more)}")
    return clips, "records " + " ".join(used)
