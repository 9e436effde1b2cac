"""MoViNet *stream* models: a causal run, one frame at a time, its states fed back by name.

A run trained with ``train --causal`` (causal (2+1)-D convolutions, cumulative pooling: Model
Garden's stream layout, ``model.stream_layout``) is rebuilt with ``use_external_states=True`` and
``output_states=True`` and its checkpoint read into it: the same variables, so feeding a clip frame
by frame gives the clip model's output (the tests hold fp32 TFLite to 1e-4). ``export RUN --stream``:

```
OUT/
  stream.json                    classes, size, frame_rate, model_id, variants, state_names, states
                                 (shape, dtype: every state starts as zeros), signature, parity, int8
  movinet_stream_<variant>.tflite  serving_default: "image" uint8 [1, 1, S, S, 3] (preprocessed) +
                                 one input per state -> "probabilities" [1, C] + the new states,
                                 each output named as the input it replaces
  saved_model/                   "init_states" () -> the zero states; "call" (alias "serving_default"):
                                 the same per-frame contract
  labels.txt, README.md          class names; the model card
```

``StreamClassifier`` runs such a folder with LiteRT only (no TensorFlow import), preprocessing
each frame exactly as training does (``numpy_preprocess``: centre square crop, anti-aliased resize).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError

STREAM_FILE = "stream.json"
SAVED_MODEL_DIR = "saved_model"
TFLITE_PREFIX = "movinet_stream"  # movinet_stream_<variant>.tflite
VARIANTS = ("fp32", "fp16", "dynamic", "int8")
DEFAULT_VARIANTS = ("fp32", "fp16", "dynamic", "int8")
IMAGE_INPUT = "image"
OUTPUT_NAME = "probabilities"
SIGNATURE = "serving_default"
FP32_TOLERANCE = 1e-4
QUANTIZED_TOP1_TARGET = 0.95
_FIX = "train the run with `movinet-crossfit train --causal`"


def stream_filename(variant: str) -> str:
    return f"{TFLITE_PREFIX}_{variant}.tflite"


# ---------------------------------------------------------------------------------------------
# Building (TensorFlow, imported lazily)


def require_causal(run_dir: Path, config: dict) -> None:
    if not config.get("causal"):
        raise UserError(f"{run_dir}: not a causal run, so it has no stream model; train one with "
                        "`movinet-crossfit train --causal` (MoViNet a0-a2)")


def build_stream_classifier(model_id: str, size: int, num_classes: int, dropout_rate: float = 0.5):
    """A causal MoViNet classifier taking one frame ``[1, 1, size, size, 3]`` and its states, returning
    ``(logits, new states)`` (random weights; ``build_stream_model`` reads a run's into it)."""
    import tf_keras
    from official.projects.movinet.modeling import movinet_model

    from movinet_crossfit.movinet.model import build_backbone

    backbone = build_backbone(model_id, 1, size, causal=True, use_external_states=True)
    return movinet_model.MovinetClassifier(
        backbone, num_classes=num_classes, input_specs={"image": tf_keras.layers.InputSpec(shape=[1, 1, size, size, 3])},
        dropout_rate=dropout_rate, output_states=True)


def convert_stream(module, variants: Sequence[str] = ("fp32",)) -> dict[str, bytes]:
    """``{variant: TFLite bytes}`` (fp32 / fp16 / dynamic) of a ``build_stream_module`` module, by way
    of a temporary SavedModel whose serving_default is its ``call``; builtin ops checked."""
    from movinet_crossfit.core.tflite import check_builtin_only, conversion_source, convert_saved_model

    files = {}
    with conversion_source(module, module.call.get_concrete_function()) as source:
        for variant in variants:
            files[variant] = convert_saved_model(source, variant, label=stream_filename(variant), fix=_FIX)
            check_builtin_only(files[variant], stream_filename(variant), fix=_FIX)
    return files


def build_stream_model(run_dir: str | os.PathLike):
    """``(stream_model, classes, config)``: the run's best checkpoint in the stream model
    (``use_external_states=True``, ``output_states=True``, one frame ``[1, 1, S, S, 3]`` a call)."""
    import tensorflow as tf

    from movinet_crossfit.core.runs import BEST, LABELS_FILE, checkpoint_prefix, read_labels, read_run_config

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; train one with `movinet-crossfit train --causal`")
    config = read_run_config(run_dir)
    require_causal(run_dir, config)
    classes = read_labels(run_dir / LABELS_FILE)
    model = build_stream_classifier(config["model_id"], int(config["size"]), len(classes),
                                    float(config.get("dropout_rate", 0.5)))
    prefix = checkpoint_prefix(run_dir, BEST)
    try:
        # The clip model's checkpoint: the stream model has the same variables (the states are inputs).
        tf.train.Checkpoint(model=model).read(prefix).assert_existing_objects_matched().expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        raise UserError(f"{prefix}: does not fit a causal MoViNet-{config['model_id']} with {len(classes)} "
                        f"classes ({str(exc).splitlines()[0][:300]})") from exc
    return model, classes, config


def initial_states(model, size: int) -> dict:
    """The zero states of one stream (numpy), by name."""
    return {name: value.numpy() for name, value in model.init_states([1, 1, size, size, 3]).items()}


def build_stream_module(model, classes: Sequence[str], size: int):
    """A ``tf.Module`` with ``call`` ({"image": uint8 frame, **states} -> {"probabilities", **states})
    and ``init_states`` (() -> the zero states). Only the variables are tracked, as in ``export``."""
    import tensorflow as tf

    states = initial_states(model, size)
    module = tf.Module()
    module.model_variables = list(model.variables)
    module.class_names = tf.Variable(list(classes), trainable=False, name="class_names")
    # The spec's name is the signature's input name (what a phone app feeds by).
    specs = {IMAGE_INPUT: tf.TensorSpec([1, 1, size, size, 3], tf.uint8, name=IMAGE_INPUT)}
    specs.update({name: tf.TensorSpec(value.shape, value.dtype, name=name) for name, value in states.items()})

    @tf.function(input_signature=[specs])
    def call(inputs):
        inputs = dict(inputs)
        image = tf.cast(inputs.pop(IMAGE_INPUT), tf.float32) / 255.0  # as clip_sampling.to_model_input
        logits, new_states = model({**inputs, IMAGE_INPUT: image}, training=False)
        return {OUTPUT_NAME: tf.nn.softmax(logits, axis=-1), **new_states}

    @tf.function(input_signature=[])
    def init_states():
        return {name: tf.zeros(value.shape, value.dtype) for name, value in states.items()}

    module.call, module.init_states = call, init_states
    return module, states


# ---------------------------------------------------------------------------------------------
# Running (LiteRT only)


def step(runner, image: np.ndarray, states: dict) -> tuple[np.ndarray, dict]:
    """One call of a stream file's runner: ``image`` ``[1, 1, S, S, 3]`` and the states in ->
    ``(probabilities [C], the new states under the same names)``."""
    result = runner(**{IMAGE_INPUT: image}, **states)
    return np.array(result[OUTPUT_NAME][0], np.float32), {name: result[name] for name in states}


def run_stream(runner, frames: np.ndarray, states: dict) -> tuple[np.ndarray, dict]:
    """Feed uint8 frames ``[T, S, S, 3]`` one by one; ``(probabilities after each frame [T, C], states)``."""
    out = []
    for frame in np.asarray(frames, np.uint8):
        probabilities, states = step(runner, frame[None, None], states)
        out.append(probabilities)
    return np.stack(out), states


@dataclass
class StreamExportReport:
    out_dir: str
    run_dir: str
    model_id: str
    size: int
    num_frames: int
    classes: list[str]
    frame_rate: float | None
    variants: dict[str, str] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    state_names: list[str] = field(default_factory=list)
    states: dict = field(default_factory=dict)
    parity: dict = field(default_factory=dict)
    int8: dict = field(default_factory=dict)
    ops: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    total_seconds: float = 0.0

    def to_json(self) -> dict:
        return {"classes": self.classes, "size": self.size, "frame_rate": self.frame_rate,
                "model_id": self.model_id, "variants": self.variants, "state_names": self.state_names,
                "signature": SIGNATURE, "input": {"name": IMAGE_INPUT, "dtype": "uint8",
                                                  "shape": [1, 1, self.size, self.size, 3]},
                "output": OUTPUT_NAME, "states": self.states, "states_start": "zeros",
                "num_frames": self.num_frames, "causal": True, "run_dir": self.run_dir,
                "bytes": self.bytes, "ops": self.ops, "parity": self.parity, "int8": self.int8,
                "warnings": self.warnings, "total_seconds": self.total_seconds,
                "saved_model": {"dir": SAVED_MODEL_DIR, "signatures": ["init_states", "call", SIGNATURE]}}

    def summary(self) -> str:
        lines = [f"exported the MoViNet-{self.model_id} stream model ({self.size}px, {len(self.classes)} classes, "
                 f"{len(self.state_names)} states) to {self.out_dir} in {self.total_seconds:.0f} s"]
        for variant, name in self.variants.items():
            p = self.parity.get("variants", {}).get(variant, {})
            check = (f"  max |p - clip model| {p['max_abs_diff']:.2e}  top-1 agreement {p['top1_agreement']:.0%}"
                     if p else "")
            lines.append(f"  {name:32s} {self.bytes.get(variant, 0) / 1e6:7.2f} MB{check}")
        if self.int8 and not self.int8.get("shipped"):
            lines.append(f"  int8 left out: {self.int8.get('reason')}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def records_frame_rate(records_dir: Path | None, num_frames: int) -> float | None:
    """Frames per second the clip model saw: ``num_frames`` over the median clip length of the
    records' train split (``clip/start_time``, ``clip/end_time``); None when unknown."""
    if records_dir is None:
        return None
    import tensorflow as tf

    info = json.loads((Path(records_dir) / "dataset_info.json").read_text(encoding="utf-8"))
    shards = [Path(records_dir) / name for name in info.get("splits", {}).get("train", {}).get("shards", [])]
    lengths = []
    features = {k: tf.io.FixedLenFeature([], tf.float32, default_value=0.0) for k in ("clip/start_time", "clip/end_time")}
    for raw in tf.data.TFRecordDataset([str(p) for p in shards if p.is_file()]).take(500):
        context, _ = tf.io.parse_single_sequence_example(raw, context_features=features)
        lengths.append(float(context["clip/end_time"]) - float(context["clip/start_time"]))
    lengths = [x for x in lengths if x > 0]
    return round(num_frames / float(np.median(lengths)), 4) if lengths else None


def export_stream(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                  variants: Sequence[str] = DEFAULT_VARIANTS, records_dir: str | os.PathLike | None = None,
                  parity_clips: int = 16, calibration_clips: int = 32) -> StreamExportReport:
    """Export a causal run's stream model (see the module doc). Parity: each parity clip of the
    records (test, then val, then train; seeded random frames without records) is fed frame by frame
    through the SavedModel and every TFLite file and compared with the causal clip model. int8 is
    calibrated on the train split and shipped only with top-1 agreement >= 95% (else the reason is
    recorded in ``stream.json``)."""
    import tensorflow as tf

    from movinet_crossfit.core.fileio import atomic_path, replace_dir, temp_path_for, write_json_atomic
    from movinet_crossfit.core.progress import progress_bar
    from movinet_crossfit.core.runs import read_run_config, run_records, write_labels
    from movinet_crossfit.core.tflite import (check_builtin_only, compare_outputs,
                                              convert_saved_model, make_interpreter, quiet_tensorflow)
    from movinet_crossfit.movinet.card import write_stream_card
    from movinet_crossfit.movinet.export import _parity_clips, _records_frames, keras_probabilities
    from movinet_crossfit.movinet.model import load_trained_classifier

    started = time.perf_counter()
    variants = [v for v in VARIANTS if v in variants] + [v for v in dict.fromkeys(variants) if v not in VARIANTS]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or "fp32" not in variants:
        raise UserError(f"stream variants {variants}: choose from {', '.join(VARIANTS)}, fp32 included")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; train one with `movinet-crossfit train --causal`")
    require_causal(run_dir, read_run_config(run_dir))
    records_dir = run_records(run_dir, records_dir, missing_ok=True)
    with quiet_tensorflow():
        stream_model, classes, config = build_stream_model(run_dir)
        clip_model = load_trained_classifier(run_dir)[0]
    size, num_frames = int(config["size"]), int(config["num_frames"])
    report = StreamExportReport(str(out_dir), str(run_dir), str(config["model_id"]), size, num_frames,
                                list(classes), records_frame_rate(records_dir, num_frames))
    clips, source = _parity_clips(records_dir, parity_clips, num_frames, size)
    reference = keras_probabilities(clip_model, clips)

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_saved = temp_path_for(out_dir / SAVED_MODEL_DIR)
    shutil.rmtree(tmp_saved, ignore_errors=True)
    outputs: dict[str, np.ndarray] = {}
    try:
        with progress_bar(len(variants) + 2, "export --stream") as advance, quiet_tensorflow():
            module, states = build_stream_module(stream_model, classes, size)
            report.state_names = sorted(states)
            report.states = {n: {"shape": [int(d) for d in v.shape], "dtype": np.dtype(v.dtype).name}
                             for n, v in sorted(states.items())}
            call = module.call.get_concrete_function()
            # serving_default is `call` again: the converter names a TFLite file's signature after the
            # SavedModel's, so every file converts from this one save (a second trace costs ~20 s).
            tf.saved_model.save(module, str(tmp_saved), signatures={
                "call": call, SIGNATURE: call, "init_states": module.init_states.get_concrete_function()})
            loaded = tf.saved_model.load(str(tmp_saved))
            outputs["saved_model"] = _saved_model_probabilities(loaded, clips)
            advance(1)
            fp32_data = b""
            source_dir = tmp_saved
            for variant in variants:
                name = stream_filename(variant)
                if variant == "int8":
                    if records_dir is None:
                        report.int8 = {"shipped": False, "reason": "no records to calibrate on (pass --records)"}
                        advance(1)
                        continue
                    try:
                        calibration = _calibration(_records_frames(Path(records_dir), ["train"], calibration_clips,
                                                                   num_frames, size)[0], fp32_data, states)
                        data = convert_saved_model(source_dir, "int8", calibration, label=name, fix=_FIX)
                        ops = check_builtin_only(data, name, fix=_FIX)
                        probs = _tflite_probabilities(make_interpreter(model_content=data), clips, states, name)
                    except Exception as exc:  # noqa: BLE001 - the converter raises many types; int8 is optional
                        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                        report.int8 = {"shipped": False, "reason": f"int8 conversion failed: {first[:300]}"}
                        advance(1)
                        continue
                else:
                    data = convert_saved_model(source_dir, variant, label=name, fix=_FIX)
                    ops = check_builtin_only(data, name, fix=_FIX)
                    probs = _tflite_probabilities(make_interpreter(model_content=data), clips, states, name)
                    fp32_data = data if variant == "fp32" else fp32_data
                if variant == "int8":
                    agreement = compare_outputs(outputs["fp32"], probs).top1_agreement
                    report.int8 = {"shipped": agreement >= QUANTIZED_TOP1_TARGET,
                                   "top1_agreement_with_fp32": agreement, "clips": len(clips)}
                    if not report.int8["shipped"]:
                        report.int8["reason"] = (
                            f"top-1 agreement with fp32 {agreement:.0%} over {len(clips)} clips is below "
                            f"{QUANTIZED_TOP1_TARGET:.0%}: the cumulative pools and stream buffers are states, "
                            "and their int8 ranges drift over a stream (tensorflow/models#10809)")
                        advance(1)
                        continue
                outputs[variant] = probs
                with atomic_path(out_dir / name) as tmp:
                    Path(tmp).write_bytes(data)
                report.variants[variant], report.bytes[variant] = name, len(data)
                report.ops = sorted(set(report.ops) | set(ops))
                advance(1)
            replace_dir(tmp_saved, out_dir / SAVED_MODEL_DIR)
            write_labels(out_dir / "labels.txt", list(classes))
            advance(1)
    finally:
        shutil.rmtree(tmp_saved, ignore_errors=True)
    report.parity = {"clips": len(clips), "source": source, "reference": "the causal clip model (Keras)",
                     "variants": {}}
    for variant, probs in outputs.items():
        exact = variant in ("saved_model", "fp32")
        p = (compare_outputs(reference, probs, max_abs_diff=FP32_TOLERANCE) if exact
             else compare_outputs(reference, probs, min_top1=QUANTIZED_TOP1_TARGET))
        report.parity["variants"][variant] = {
            "max_abs_diff": p.max_abs_diff, "top1_agreement": p.top1_agreement, "passed": p.passed,
            "target": f"max_abs_diff <= {FP32_TOLERANCE}" if exact else f"top1_agreement >= {QUANTIZED_TOP1_TARGET}"}
        if not p.passed:
            report.warnings.append(f"{variant}: parity below target (diff {p.max_abs_diff:.2e}, "
                                   f"top-1 {p.top1_agreement:.0%})")
    report.total_seconds = round(time.perf_counter() - started, 2)
    write_json_atomic(out_dir / STREAM_FILE, report.to_json())
    write_stream_card(out_dir, report)
    return report


def _saved_model_probabilities(loaded, clips: Sequence[np.ndarray]) -> np.ndarray:
    import tensorflow as tf

    call, init = loaded.signatures["call"], loaded.signatures["init_states"]
    finals = []
    for clip in clips:
        states = init()
        for frame in clip:
            result = call(**{IMAGE_INPUT: tf.constant(frame[None, None])}, **states)
            probs = result.pop(OUTPUT_NAME)
            states = result
        finals.append(probs.numpy()[0])
    return np.stack(finals)


def _tflite_probabilities(interpreter, clips, states: dict, label: str) -> np.ndarray:
    from movinet_crossfit.core.tflite import signature_runner

    runner = signature_runner(interpreter, label, [IMAGE_INPUT, *states], [OUTPUT_NAME, *states], fix=_FIX)
    return np.stack([run_stream(runner, clip, dict(states))[0][-1] for clip in clips])


def _calibration(clips: Sequence[np.ndarray], fp32: bytes, states: dict) -> list[dict]:
    """Representative inputs for int8 (``core.tflite``'s conversion, fitted to XNNPACK like every
    int8 file): each frame of real training clips with the states the fp32 stream had reached at
    that frame (zero states alone would calibrate the buffers to zero), by input name, batch axis
    included."""
    from movinet_crossfit.core.tflite import make_interpreter, signature_runner

    runner = signature_runner(make_interpreter(model_content=fp32), "fp32", [IMAGE_INPUT, *states],
                              [OUTPUT_NAME, *states])
    samples = []
    for clip in clips:
        current = dict(states)
        for frame in clip:
            samples.append({IMAGE_INPUT: frame[None, None], **current})
            _, current = step(runner, frame[None, None], current)
    return samples


# ---------------------------------------------------------------------------------------------
# The runtime


class StreamClassifier:
    """An ``export --stream`` folder run frame by frame with LiteRT (no TensorFlow).

    ``clf = StreamClassifier.load("export_stream")``; ``probs = clf(rgb_frame)`` for each frame in
    order (any size: cropped and resized as in training); ``clf.reset()`` starts a new stream.
    """

    def __init__(self, export_dir: Path, variant: str, info: dict, interpreter, runner):
        self.source = export_dir
        self.variant = variant
        self.classes: list[str] = list(info["classes"])
        self.size: int = int(info["size"])
        self.frame_rate: float | None = info.get("frame_rate")
        self.state_names: list[str] = list(info["state_names"])
        self._interpreter, self._runner = interpreter, runner
        self._zeros = {name: np.zeros(spec["shape"], np.dtype(spec["dtype"]))
                       for name, spec in info["states"].items()}
        self.reset()

    @classmethod
    def load(cls, export_dir: str | os.PathLike, variant: str = "fp32",
             num_threads: int | None = None) -> "StreamClassifier":
        from movinet_crossfit.core.tflite import make_interpreter, signature_runner

        export_dir = Path(export_dir)
        info_path = export_dir / STREAM_FILE
        if not info_path.is_file():
            raise UserError(f"{export_dir}: no {STREAM_FILE}; export a causal run with "
                            "`movinet-crossfit export RUN --stream -o DIR`")
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            names, states = info["state_names"], info["states"]
            file_name = info["variants"].get(variant)
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            raise UserError(f"{info_path}: not a stream export description ({exc}); export again") from exc
        if file_name is None:
            raise UserError(f"{export_dir}: no {variant!r} stream model; it holds {', '.join(info['variants'])}")
        path = export_dir / file_name
        if not path.is_file() or set(names) != set(states):
            raise UserError(f"{path}: missing or inconsistent with {STREAM_FILE}; export again")
        try:
            interpreter = make_interpreter(path, num_threads=num_threads)
        except (ValueError, RuntimeError) as exc:  # a truncated or foreign file: LiteRT cannot read it
            raise UserError(f"{path}: not a readable TFLite model ({str(exc).splitlines()[0]}); export it again "
                            "with `movinet-crossfit export RUN --stream`") from None
        runner = signature_runner(interpreter, str(path), [IMAGE_INPUT, *names], [OUTPUT_NAME, *names],
                                  fix="export it again with `movinet-crossfit export RUN --stream`")
        return cls(export_dir, variant, info, interpreter, runner)

    def reset(self) -> None:
        self._states = {name: value.copy() for name, value in self._zeros.items()}

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)`` -> ``[1, 1, S, S, 3]``, as training preprocesses each frame."""
        from movinet_crossfit.core.numpy_preprocess import preprocess_frames_numpy

        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise UserError(f"StreamClassifier takes one RGB uint8 frame (H, W, 3), got {frame.dtype} "
                            f"{list(frame.shape)}")
        if frame.shape[:2] != (self.size, self.size):
            frame = preprocess_frames_numpy(frame, self.size)
        return frame[None, None]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        probabilities, self._states = step(self._runner, self.preprocess(frame), self._states)
        return probabilities

    def warm_up(self) -> None:
        """One frame through the interpreter (allocations, XNNPACK packing), then a fresh stream."""
        self(np.zeros((self.size, self.size, 3), np.uint8))
        self.reset()
