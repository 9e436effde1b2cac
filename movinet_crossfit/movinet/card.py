"""The MoViNet export's model card: ``OUT/README.md``, written by ``export.export_run`` last.

It says, from what the run and the export recorded (nothing typed by hand): the model and its
classes, the data it was trained on (the records' ``dataset_info.json``), the run's metrics
(``train_summary.json``, ``eval_*/metrics.json``), the input contract down to the rounding of the
resize, the outputs, the files with their sizes, the parity measured, and the license note.
"""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from movinet_crossfit.core.model_card import (CODE_LICENSE, files_table, markdown_table, signature_table,
                                              write_model_card as _write)
from movinet_crossfit.core.runs import SUMMARY_FILE

def model_name(model_id: str) -> str:
    """``MoViNet-A2`` for a MoViNet id, the arch's own name (``single-frame``) for a classic one."""
    return f"MoViNet-{model_id.upper()}" if len(model_id) == 2 and model_id.startswith("a") else model_id


_FILES = {
    "saved_model": "TensorFlow SavedModel: `serving_default` takes uint8 frames of any size and "
                   "preprocesses them itself",
    "model_fp32.tflite": "TFLite, float32 (the reference file)",
    "model_fp16.tflite": "TFLite, float16 weights (half the size), float32 compute on CPU",
    "model_dynamic.tflite": "TFLite, int8 weights, float activations",
    "model_int8.tflite": "TFLite, int8 weights and activations (calibrated on the training records)",
    "labels.txt": "class names, one per line: line i is output i",
    "export_report.json": "sizes, conversion times, calibration, parity, warnings (machine-readable)",
}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pct(value) -> str:
    return "–" if value is None else f"{float(value):.1%}"


def _data_section(classes: list[str], records_dir: Path | None) -> list[str]:
    info = _read_json(records_dir / "dataset_info.json") if records_dir else None
    if info is None:
        return ["The run names no records folder, or it is gone: the training data cannot be described "
                "here (pass `--records` to `export` to include it)."]
    splits = info.get("splits", {})
    usual = ("train", "val", "test")
    names = [s for s in usual if s in splits] + [s for s in splits if s not in usual]
    lines = [f"Records `{records_dir}` (`dataset_info.json`): {info.get('num_frames')} frames of "
             f"{info.get('size')}×{info.get('size')} px per clip, "
             + ", ".join(f"{splits[s].get('clips', 0)} {s}" for s in names) + " clips; "
             + ("split by source video (no video in two splits)." if info.get("grouped")
                else "split clip by clip (no manifest: clips of one video may be in two splits)."),
             ""]
    if "val" not in splits or not splits["val"].get("clips"):
        lines += ["**No validation split** in these records: a run on them validates (chooses its epoch, stops "
                  "early) on another split; when that is `test`, the test metrics below are optimistic.", ""]
    record_classes = list(info.get("classes", []))
    if record_classes and record_classes != classes:
        lines += [f"The records' classes {record_classes} differ from the model's; counts are by name.", ""]
    rows = [(i, f"`{name}`", *(splits[s].get("per_class", {}).get(name, 0) for s in names))
            for i, name in enumerate(classes)]
    lines.append(markdown_table(["output", "class", *names], rows))
    source = info.get("source", {})
    lines += ["", f"Built from {source.get('clips_dir') or '?'}"
              + (f" with manifest {source['manifest']}" if source.get("manifest") else "")
              + f"; content SHA-256 `{str(info.get('content_sha256', ''))[:16]}…`."]
    return lines


def _metrics_section(run_dir: Path) -> list[str]:
    lines = []
    summary = _read_json(run_dir / SUMMARY_FILE)
    if summary:
        split = summary.get("validation_split")
        best = summary.get("best_val_accuracy")
        lines.append(f"Training (`{SUMMARY_FILE}`): {summary.get('train_clips', '?')} train clips, validated on "
                     f"{summary.get('validation_clips', '?')} `{split}` clips; "
                     + (f"best validation accuracy {_pct(best)} at epoch {summary.get('best_epoch')}"
                        if best is not None else "no best epoch recorded")
                     + f", last epoch {_pct(summary.get('final_val_accuracy'))}. "
                     f"Initial weights: {summary.get('weights', 'not recorded')}.")
        if split == "test":
            lines.append("")
            lines.append("**Validated on the test split**: the epoch was chosen on the test clips, so test "
                         "metrics overstate what new videos will see.")
    else:
        lines.append(f"No `{SUMMARY_FILE}` in the run.")
    found = {path.parent.name[len("eval_"):]: _read_json(path) for path in sorted(run_dir.glob("eval_*/metrics.json"))}
    evaluations = {split: metrics for split, metrics in found.items() if metrics}
    lines.append("")
    if not evaluations:
        lines.append(f"No evaluation in the run: `movinet-crossfit evaluate {run_dir}` writes "
                     "`eval_test/metrics.json`.")
        return lines
    topk = sorted({k for m in evaluations.values() for k in m if k.startswith("top") and k.endswith("_accuracy")
                   and k != "top1_accuracy"})
    header = ["split", "clips", "accuracy", *[k.replace("_accuracy", "") for k in topk], "macro F1", "TTA"]
    lines.append(markdown_table(header, [(s, m.get("clips"), _pct(m.get("accuracy")), *[_pct(m.get(k)) for k in topk],
                                          f"{m.get('macro_f1', 0):.3f}", m.get("tta", "none"))
                                         for s, m in evaluations.items()]))
    which = "test" if "test" in evaluations else next(iter(evaluations))
    per_class = evaluations[which].get("per_class", {})
    if per_class:
        rows = [(f"`{c}`", m.get("support"), f"{m.get('precision', 0):.3f}", f"{m.get('recall', 0):.3f}",
                 f"{m.get('f1', 0):.3f}") for c, m in per_class.items()]
        lines += ["", f"Per class on `{which}`:", "",
                  markdown_table(["class", "clips", "precision", "recall", "F1"], rows)]
    return lines


def _contract_section(report) -> list[str]:
    t, s = report.num_frames, report.size
    lite = report.signature.get("serving_default") if report.signature else None
    lines = ["Every `.tflite` file has one signature, `serving_default`; call it by name "
             "(Android: `interpreter.runSignature(inputs, outputs, \"serving_default\")`; iOS: "
             "`interpreter.signatureRunner(with: \"serving_default\")`), not by tensor index or tensor name.", ""]
    if lite:
        lines += [signature_table(lite), ""]
    lines += [
        f"The input is **T = {t} RGB frames of S×S = {s}×{s}, uint8 0–255**, in time order, already "
        "preprocessed as below; no normalisation (the model divides by 255 itself; the int8 file's input "
        "is raw pixels too). How training made those frames from a clip (`core/video.py`):",
        "",
        "1. Decode every frame of the clip as RGB (not BGR), uint8.",
        f"2. Sample T = {t} of the clip's N frames: frame `min(floor((i + 0.5) * N / {t}), N - 1)` for "
        f"i = 0 … {t - 1} (the middle frame of {t} equal slices; a clip shorter than {t} frames repeats frames "
        "evenly).",
        "3. Centre crop each frame to a square: `side = min(H, W)`, `top = (H - side) / 2`, "
        "`left = (W - side) / 2` (integer division): the shorter side is kept whole.",
        f"4. Resize the side×side square to {s}×{s} with **antialiased** bilinear filtering, as "
        "`tf.image.resize(x, (S, S), 'bilinear', antialias=True)`: separably (along the height, then the "
        "width), output pixel x (0-based) is the weighted mean of input pixels j with weight "
        "`max(0, 1 - |j + 0.5 - c| / k)`, where `c = (x + 0.5) * side / S` and `k = max(side / S, 1)`, the "
        "weights of each output pixel normalised to sum to 1; computed in float, then rounded to the "
        "nearest integer (ties to even) and clipped to 0–255. A plain bilinear resize (Android's "
        "`Bitmap.createScaledBitmap`, Core Graphics) reads only 2×2 pixels and aliases when shrinking: "
        "the model sees different pixels than in training.",
        f"5. Stack the {t} frames into `[1, {t}, {s}, {s}, 3]`.",
        "",
        "The reference code is `movinet_crossfit.core.clip_sampling.load_clip` (TensorFlow) and "
        "`core.numpy_preprocess.load_clip_numpy` (numpy, within one grey level of it); Kotlin and Swift "
        "for steps 2–4 are in the repository's `docs/export.md`. The SavedModel's `serving_default` takes "
        f"`frames` uint8 `[batch, {t}, H, W, 3]` of any H×W and runs steps 3–4 itself.",
        "",
        "For a long video or a camera, classify a sliding window (`predict_timeline` uses 1.5 s windows "
        "every 0.5 s) rather than the whole video: the training clips are single movement segments. "
        "A run trained with `train --causal` also exports a *stream* model (`export RUN --stream`: one "
        "frame per call, its states fed back by name; `docs/stream.md`).",
    ]
    return lines


def _outputs_section(report) -> list[str]:
    return [f"`probabilities`: float32 `[1, {len(report.classes)}]` (`[batch, {len(report.classes)}]` from the "
            "SavedModel, which also returns `labels`), a softmax over the classes: output i is line i of "
            "`labels.txt` (table above). The top class is the prediction; its probability is not calibrated."]


def _parity_section(report) -> list[str]:
    parity = report.parity or {}
    formats = parity.get("formats", {})
    if not formats:
        return ["Not measured."]
    rows = [(f"`{report.files.get(fmt, fmt)}`", f"{r['max_abs_diff']:.1e}", _pct(r["top1_agreement"]), r["target"],
             "ok" if r["passed"] else "**below target**") for fmt, r in formats.items()]
    return [f"Against the Keras model on {parity.get('clips')} clips ({parity.get('source', '?')}):", "",
            markdown_table(["file", "max |Δp|", "top-1 agreement", "target", ""], rows)]


def _license_section(run_dir: Path) -> list[str]:
    summary = _read_json(run_dir / SUMMARY_FILE) or {}
    weights = summary.get("weights", "not recorded in the run")
    pretrained = "" if str(weights).startswith("random") else (
        " Keras's ImageNet MobileNetV3 weights are published under the Apache License 2.0 (check the file's own "
        "source if it came from elsewhere)." if "MobileNetV3Small" in str(weights) else
        " MoViNet's Kinetics-600 checkpoints are published by TensorFlow Model Garden under the Apache License 2.0.")
    return [CODE_LICENSE + f" The weights started from: {weights}.{pretrained} They were then trained on the "
            "clips above: the footage's own terms (e.g. broadcasts on YouTube) apply to the model too. Check them "
            "before shipping the model in an app."]


def _run_is_causal(run_dir: Path) -> bool:
    from movinet_crossfit.core.runs import read_run_config

    try:
        return bool(read_run_config(run_dir).get("causal"))
    except Exception:  # noqa: BLE001 - a card never fails on a run it cannot read
        return False


def model_card(report, run_dir: str | os.PathLike, records_dir: str | os.PathLike | None) -> str:
    """The card's Markdown for an ``export.ExportReport`` (``report.out_dir`` holds the files)."""
    run_dir, out_dir = Path(run_dir), Path(report.out_dir)
    classes = list(report.classes)
    today = datetime.date.today().isoformat()
    from movinet_crossfit import __version__

    parts = [
        f"# {model_name(report.model_id)} CrossFit movement classifier",
        "",
        f"Exported {today} by movinet-crossfit {__version__} from the run `{run_dir}`: "
        f"{len(classes)} classes, {report.num_frames} frames of {report.size}×{report.size} px per clip."
        + (" Causal (`train --causal`): its stream model is `export RUN --stream` (docs/stream.md)."
           if _run_is_causal(run_dir) else ""),
        *[f"\n> warning: {w}" for w in report.warnings],
        "", "## Classes and training data", "",
        *_data_section(classes, Path(records_dir) if records_dir else None),
        "", "## Metrics", "", *_metrics_section(run_dir),
        "", "## Input", "", *_contract_section(report),
        "", "## Output", "", *_outputs_section(report),
        "", "## Files", "", files_table(out_dir, _FILES),
        "", "## Parity", "", *_parity_section(report),
        "", "## License", "", *_license_section(run_dir),
    ]
    return "\n".join(parts)


def write_model_card(out_dir: str | os.PathLike, report, run_dir: str | os.PathLike,
                     records_dir: str | os.PathLike | None) -> Path:
    """``out_dir/README.md`` (atomically) for the export ``report`` of ``run_dir``."""
    return _write(out_dir, model_card(report, run_dir, records_dir))


# --- the stream export's card ---------------------------------------------------------------------

_STREAM_FILES = {
    "stream.json": "classes, size, frame rate, state names/shapes/dtypes, variants, parity, int8 decision",
    "movinet_stream_fp32.tflite": "TFLite stream model, float32 (the reference file)",
    "movinet_stream_fp16.tflite": "the same with float16 weights",
    "movinet_stream_dynamic.tflite": "the same with int8 weights, float activations",
    "movinet_stream_int8.tflite": "int8 weights and activations (shipped only at >= 95% top-1 agreement)",
    "saved_model": "TensorFlow SavedModel: signatures `init_states` and `call` (one frame)",
    "labels.txt": "class names, one per line: line i is output i",
}


def stream_card(report) -> str:
    """The card's Markdown for a ``stream.StreamExportReport``."""
    out_dir, s = Path(report.out_dir), report.size
    rate = f"{report.frame_rate:.2f} frames/s" if report.frame_rate else "unknown"
    rows = [(f"`{report.variants.get(v, v)}`", f"{r['max_abs_diff']:.1e}", _pct(r["top1_agreement"]), r["target"],
             "ok" if r["passed"] else "**below target**") for v, r in report.parity.get("variants", {}).items()]
    int8 = report.int8 or {}
    parts = [
        f"# MoViNet-{report.model_id.upper()} stream CrossFit movement classifier", "",
        f"Exported {datetime.date.today().isoformat()} from the causal run `{report.run_dir}` "
        f"(`movinet-crossfit export RUN --stream`): {len(report.classes)} classes "
        f"({', '.join(report.classes)}), one {s}×{s} frame per call.",
        *[f"\n> warning: {w}" for w in report.warnings],
        "", "## Input and states", "",
        f"Signature `serving_default`: `image` uint8 `[1, 1, {s}, {s}, 3]` (one RGB frame, centre-cropped to a "
        f"square and resized to {s}×{s} with antialiased bilinear filtering, exactly as in training) plus "
        f"{len(report.state_names)} state inputs -> `probabilities` float32 `[1, {len(report.classes)}]` plus "
        "the new states, each output named as the input it replaces. Start a stream with every state at "
        "zero (shapes and dtypes in `stream.json`), feed the states returned by one call into the next, "
        f"and feed frames at the rate training saw: {rate}. See `docs/stream.md` for Kotlin and Swift.",
        "", "## Parity", "",
        f"Each of {report.parity.get('clips')} clips ({report.parity.get('source')}) fed frame by frame, "
        "the last frame's probabilities against the causal clip model (Keras):", "",
        markdown_table(["file", "max |Δp|", "top-1 agreement", "target", ""], rows), "",
        "int8: " + ("shipped" if int8.get("shipped") else f"left out ({int8.get('reason', 'not requested')})"),
        "", "## Files", "", files_table(out_dir, _STREAM_FILES),
        "", "## License", "", *_license_section(Path(report.run_dir)),
    ]
    return "\n".join(parts)


def write_stream_card(out_dir: str | os.PathLike, report) -> Path:
    """``out_dir/README.md`` (atomically) for a stream export."""
    return _write(out_dir, stream_card(report))
