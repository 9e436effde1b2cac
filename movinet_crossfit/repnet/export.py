"""RepNet -> a SavedModel and TFLite files, checked against Keras, and runners that count with them.

```
OUT/
  saved_model/            serving_default: uint8 frames [batch, T, S, S, 3] already resized
                          (``preprocess_for_repnet``) -> period_logits [batch, T, P],
                          periodicity_logits [batch, T, 1], embeddings [batch, T, 512]
  repnet_fp32.tflite      the same for batch 1 (signature serving_default, the same names),
                          builtin ops only
  repnet_fp16.tflite      float16 weights
  repnet_dynamic.tflite   int8 weights, float activations
  repnet.json             the model's shape: variant, num_frames, image_size, period_offset, temperature
  export_report.json      sizes, conversion times, largest difference from Keras per output
  README.md               the model card: shape, input contract, outputs, files, parity, license
```
The scaling to [-1, 1] is inside every graph, so an app feeds resized RGB bytes.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.model_card import (CODE_LICENSE, files_table, markdown_table, signature_table,
                                              write_model_card)
from movinet_crossfit.core.runs import SHAPE_FILE
from movinet_crossfit.core.fileio import atomic_path, replace_dir, temp_path_for, write_json_atomic
from movinet_crossfit.core.tflite import (ExportError, check_builtin_only, compare_outputs, conversion_source,
                                          convert_saved_model, describe_signature, make_interpreter, quiet_tensorflow,
                                          signature_runner, tflite_filename)
from movinet_crossfit.repnet.infer import scale_for_repnet

SAVED_MODEL_DIR = "saved_model"
CONFIG_FILE = SHAPE_FILE  # repnet.json: the same file train-counter writes beside its weights
REPORT_FILE = "export_report.json"
TFLITE_PREFIX = "repnet"  # repnet_<format>.tflite
TFLITE_FORMATS = ("fp32", "fp16", "dynamic")
FORMATS = ("saved_model", *TFLITE_FORMATS)
# The names of every exported signature's input and outputs (SavedModel and TFLite alike).
INPUT_NAME = "frames"
OUTPUTS = ("period_logits", "periodicity_logits", "embeddings")
FP32_TOLERANCE = 1e-3  # on logits of magnitude ~1-10, after ~60 layers of float32 reordering


def build_module(model):
    """A ``tf.Module`` with the model's variables and its two exported functions."""
    import tensorflow as tf

    cfg = model.config
    shape = [cfg.num_frames, cfg.image_size, cfg.image_size, 3]
    module = tf.Module()
    module.model_variables = list(model.variables)

    def forward(frames):
        period, periodicity, embeddings = model(scale_for_repnet(frames), training=False)
        return dict(zip(OUTPUTS, (period, periodicity, embeddings)))

    module.serve = tf.function(forward, input_signature=[tf.TensorSpec([None, *shape], tf.uint8, name=INPUT_NAME)])
    module.single = tf.function(forward, input_signature=[tf.TensorSpec([1, *shape], tf.uint8, name=INPUT_NAME)])
    return module


def export_repnet(model, out_dir: str | os.PathLike, *, formats: Sequence[str] = FORMATS,
                  parity_chunks: Sequence[np.ndarray] | None = None) -> dict:
    """Write ``model`` (a ``RepNet``) to ``out_dir`` in ``formats`` and check each file against Keras
    on ``parity_chunks`` (uint8 ``[T, S, S, 3]``; random frames when not given). Returns the report."""
    import tensorflow as tf

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UserError(f"unknown RepNet export format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    cfg = model.config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if parity_chunks is None:
        rng = np.random.default_rng(0)
        parity_chunks = [rng.integers(0, 256, (cfg.num_frames, cfg.image_size, cfg.image_size, 3), np.uint8)]
    chunks = np.stack([np.asarray(c, np.uint8) for c in parity_chunks])
    reference = [np.asarray(t) for t in model(scale_for_repnet(chunks), training=False)]
    report: dict = {"config": asdict(cfg), "period_offset": cfg.period_offset, "files": {}, "parity": {}}

    saved = out / SAVED_MODEL_DIR
    tmp_saved = temp_path_for(saved)
    shutil.rmtree(tmp_saved, ignore_errors=True)
    module = build_module(model)
    lite_formats = [f for f in formats if f in TFLITE_FORMATS]
    try:
        if "saved_model" in formats:
            start = time.perf_counter()
            with quiet_tensorflow():
                tf.saved_model.save(module, str(tmp_saved), signatures={
                    "serving_default": module.serve.get_concrete_function()})
            report["files"]["saved_model"] = {"seconds": round(time.perf_counter() - start, 2)}
        if lite_formats:
            # The batch-1 graph as serving_default: every file's one signature, named as the SavedModel's.
            with quiet_tensorflow(), conversion_source(module, module.single.get_concrete_function()) as source:
                for fmt in lite_formats:
                    start = time.perf_counter()
                    data = convert_saved_model(source, fmt)
                    ops = check_builtin_only(data, fmt)
                    path = out / tflite_filename(TFLITE_PREFIX, fmt)
                    with atomic_path(path) as tmp:
                        Path(tmp).write_bytes(data)
                    runner = TFLiteRunner(path, cfg)
                    outputs = runner(chunks)
                    report["files"][fmt] = {"bytes": len(data), "seconds": round(time.perf_counter() - start, 2),
                                            "ops": sorted(set(ops))}
                    report["parity"][fmt] = _differences(reference, outputs)
                    report.setdefault("signature", describe_signature(data))
        if "saved_model" in formats:
            loaded = SavedModelRunner(tmp_saved, cfg)
            report["parity"]["saved_model"] = _differences(reference, loaded(chunks))
            replace_dir(tmp_saved, saved)
    finally:
        shutil.rmtree(tmp_saved, ignore_errors=True)
    write_json_atomic(out / CONFIG_FILE, {**asdict(cfg), "period_offset": cfg.period_offset})
    failed = [fmt for fmt in ("saved_model", "fp32") if fmt in report["parity"]
              and report["parity"][fmt]["max_abs"] > FP32_TOLERANCE * report["parity"][fmt]["scale"]]
    report["fp32_tolerance"] = FP32_TOLERANCE
    write_json_atomic(out / REPORT_FILE, report)
    write_model_card(out, _model_card(out, cfg, report, len(chunks)))
    if failed:
        raise ExportError(f"{out}: {', '.join(failed)} outputs differ from Keras by more than "
                          f"{FP32_TOLERANCE} x their scale: {json.dumps({f: report['parity'][f] for f in failed})}")
    return report


_CARD_FILES = {
    "saved_model": "TensorFlow SavedModel, `serving_default` for any batch",
    "repnet_fp32.tflite": "TFLite, float32 (the reference file)",
    "repnet_fp16.tflite": "TFLite, float16 weights",
    "repnet_dynamic.tflite": "TFLite, int8 weights, float activations",
    CONFIG_FILE: "the model's shape: variant, num_frames, image_size, temperature, period_offset",
    REPORT_FILE: "sizes, conversion times, parity (machine-readable)",
}


def _model_card(out: Path, cfg, report: dict, chunks: int) -> str:
    """``README.md`` of a RepNet export: what a counting app feeds the files and reads from them."""
    t, s = cfg.num_frames, cfg.image_size
    lite = report.get("signature", {}).get("serving_default")
    parity = [(f"`{fmt}`", f"{p['max_abs']:.1e}", f"{p['scale']:.1f}", f"{p['period_argmax_agreement']:.0%}")
              for fmt, p in report["parity"].items()]
    return "\n".join([
        f"# RepNet repetition counter ({cfg.variant})", "",
        f"{t} frames of {s}×{s} px per chunk; {cfg.num_period_classes} period classes "
        f"(period in frames = class index + {cfg.period_offset}); temperature {cfg.temperature}.", "",
        "## Input", "",
        "Every `.tflite` file has one signature, `serving_default`; call it by name (Android "
        "`runSignature(inputs, outputs, \"serving_default\")`, iOS `signatureRunner(with: \"serving_default\")`).", "",
        *([signature_table(lite), ""] if lite else []),
        f"`frames`: uint8 RGB `[1, {t}, {s}, {s}, 3]`, 0–255 (the model scales to [-1, 1] itself). As "
        "`repnet.infer` (the official inference) makes them: for each stride k (1, 2, 3, 4), every k-th frame "
        f"of the video, the **whole frame squeezed to {s}×{s}** (no crop; OpenCV `INTER_AREA` resize, "
        f"`repnet.infer.preprocess_for_repnet`), cut into consecutive chunks of {t}; the last chunk padded with "
        "the final frame.", "",
        "## Outputs", "",
        f"`period_logits` float32 `[1, {t}, {cfg.num_period_classes}]`: per frame, the period's logits; "
        f"`periodicity_logits` `[1, {t}, 1]`: per frame, whether it is inside a repetition (sigmoid); "
        "`embeddings` `[1, T, D]`: the per-frame features behind the self-similarity. "
        "The count is not an output: `repnet.infer.decide_count` turns the logits of every stride into it "
        "(numpy, a few dozen lines to port).", "",
        "## Files", "", files_table(out, _CARD_FILES), "",
        "## Parity", "",
        f"Against the Keras model on {chunks} chunk(s): largest |difference| of the logits, their scale, and "
        f"agreement of the per-frame period class (fp32 tolerance {FP32_TOLERANCE} × scale).", "",
        markdown_table(["file", "max |Δ|", "scale", "period class agreement"], parity), "",
        "## License", "",
        CODE_LICENSE + " The weights are RepNet's (Google Research, Apache License 2.0) or a "
        "`train-counter` run's from them: the training videos' own terms apply too.",
    ])


def _differences(reference: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> dict:
    parity = {name: compare_outputs(r, o) for name, r, o in zip(OUTPUTS, reference, outputs)}
    scale = max(1.0, max(float(np.abs(r).max()) for r in reference[:2]))
    return {"max_abs": max(parity[n].max_abs_diff for n in OUTPUTS[:2]),
            "per_output": {name: p.max_abs_diff for name, p in parity.items()}, "scale": scale,
            "period_argmax_agreement": parity["period_logits"].top1_agreement}


class _ConfiguredRunner:
    config = None

    def __call__(self, batch: np.ndarray):  # pragma: no cover - interface
        raise NotImplementedError


class SavedModelRunner(_ConfiguredRunner):
    """Counts with the exported SavedModel's ``serving_default``."""

    def __init__(self, path: str | os.PathLike, config):
        import tensorflow as tf

        self.config = config
        self._fn = tf.saved_model.load(str(path)).signatures["serving_default"]

    def __call__(self, batch):
        import tensorflow as tf

        result = self._fn(**{INPUT_NAME: tf.convert_to_tensor(np.asarray(batch, np.uint8))})
        return [result[name].numpy() for name in OUTPUTS]


class TFLiteRunner(_ConfiguredRunner):
    """Counts with a ``repnet_*.tflite`` file (one chunk per invoke)."""

    def __init__(self, path: str | os.PathLike, config, num_threads: int | None = None):
        self.config = config
        self._interpreter = make_interpreter(path, num_threads=num_threads)
        self._run = signature_runner(self._interpreter, str(path), [INPUT_NAME], OUTPUTS,
                                     fix="export it again with `movinet-crossfit export-counter`")

    def __call__(self, batch):
        rows = [self._run(**{INPUT_NAME: np.asarray(chunk, np.uint8)[None]}) for chunk in batch]
        return [np.concatenate([row[name] for row in rows]) for name in OUTPUTS]


def load_runner(path: str | os.PathLike, backend: str = "auto", variant: str = "fp32"):
    """A chunk runner from an ``export_repnet`` folder (or one ``.tflite`` file inside it)."""
    from movinet_crossfit.repnet.model import RepNetConfig

    path = Path(path)
    folder = path.parent if path.suffix == ".tflite" else path
    config_file = folder / CONFIG_FILE
    if not config_file.is_file():
        raise UserError(f"{folder}: not a RepNet export (no {CONFIG_FILE}); write one with "
                        "`movinet-crossfit export-counter`")
    fields = json.loads(config_file.read_text())
    fields.pop("period_offset", None)
    config = RepNetConfig(**fields)
    if path.suffix == ".tflite":
        return TFLiteRunner(path, config)
    wanted = tflite_filename(TFLITE_PREFIX, variant)
    if backend in ("auto", "tflite") and (folder / wanted).is_file():
        return TFLiteRunner(folder / wanted, config)
    if backend in ("auto", "saved_model") and (folder / SAVED_MODEL_DIR).is_dir():
        return SavedModelRunner(folder / SAVED_MODEL_DIR, config)
    raise UserError(f"{folder}: has no {backend if backend != 'auto' else 'TFLite or SavedModel'} RepNet "
                    f"(looked for {wanted} and {SAVED_MODEL_DIR}/)")


__all__ = ["export_repnet", "load_runner", "SavedModelRunner", "TFLiteRunner"]
