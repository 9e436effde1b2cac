"""Evaluate a training run on a records split: metrics.json, confusion matrix and probability plots."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_json_atomic
from movinet_crossfit.core.metrics import classification_metrics, plot_confusion_matrix, plot_true_class_probabilities

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    metrics: dict
    out_dir: Path
    files: dict


TTA_MODES = ("none", "flip", "clips", "clips+flip")


def check_tta(tta: str) -> tuple[bool, bool]:
    """``(clips, flip)`` for a ``--tta`` value."""
    if tta not in TTA_MODES:
        raise UserError(f"--tta {tta!r}: choose one of {', '.join(TTA_MODES)}")
    return "clips" in tta, "flip" in tta


def view_phases(views: int) -> list[float]:
    """Sampling phases of ``views`` evenly staggered views; one view is the records' own sampling."""
    if views < 1:
        raise UserError(f"--views {views}: need at least 1")
    return [(k + 0.5) / views for k in range(views)]


def find_clip(clips_dir: Path, clip_id: str, label: str) -> Optional[Path]:
    """The clip file a record came from: ``<label>/<id>.mp4`` (from a manifest) or ``<id>.*``
    (a ``<label>/<clip>`` folder, whose ids carry the label)."""
    from movinet_crossfit.core.video import VIDEO_SUFFIXES

    candidate = clips_dir / label / f"{clip_id}.mp4"
    if candidate.is_file():
        return candidate
    for suffix in VIDEO_SUFFIXES:
        candidate = clips_dir / f"{clip_id}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def clip_views(path: Path, num_frames: int, size: int, phases: list[float]) -> np.ndarray:
    """uint8 ``[views, num_frames, size, size, 3]``: the clip sampled at each phase, preprocessed
    exactly as records preprocess (``clip_sampling.sample_frame_indices`` + ``preprocess_frames``)."""
    from movinet_crossfit.core import clip_sampling

    sampled = clip_sampling.sample_video(path, num_frames, phases)  # only the sampled frames are decoded
    preprocess = clip_sampling.compiled_preprocess(size)
    return np.stack([preprocess(frames).numpy() for frames in sampled.frames])


def predict_records(model, records_dir: str | os.PathLike, split: str, *, batch_size: int = 8,
                    tta: str = "none", views: int = 3, clips_dir: Optional[str | os.PathLike] = None,
                    ) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    """Class probabilities for every clip of a split: ``(labels, probabilities, ids, tta_report)``.

    ``tta="flip"`` averages the probabilities of each clip and its mirror image (a movement
    filmed from the other side is the same movement). ``tta="clips"`` decodes each clip's source
    file again (``clips_dir``, default the folder the records were built from) and averages
    ``views`` samplings staggered in time, each preprocessed exactly as records are; a clip whose
    file is missing or unreadable keeps its record's single view and is listed in the report.
    ``"clips+flip"`` does both. ``model`` takes float32 frames in [0, 1], as built; the clips are read as
    uint8 and converted inside its traced call (``clip_sampling.to_model_input``).
    """
    import tensorflow as tf

    from movinet_crossfit.data.records import load_dataset, read_info
    from movinet_crossfit.core.clip_sampling import to_model_input

    use_clips, use_flip = check_tta(tta)
    # Eager calls of a MoViNet are ~10x slower than the traced graph. Every clip arrives as uint8 (the
    # records' frames, or views preprocessed as records are) and becomes float32 inside the graph, on
    # the accelerator where there is one, so tf.data does no float work (docs/records.md).
    forward = tf.function(lambda x: tf.nn.softmax(model(to_model_input(x), training=False), axis=-1),
                          reduce_retracing=True)

    def predict(frames):
        probs = forward(frames)
        if use_flip:
            probs = (probs + forward(tf.reverse(frames, axis=[3]))) / 2
        return probs

    report: dict = {}
    if use_clips:
        info = read_info(records_dir)
        phases = view_phases(views)
        source = Path(clips_dir or info.get("source", {}).get("clips_dir") or "")
        if not source.is_dir():
            raise UserError(f"--tta clips: clip folder {str(source) or '(none recorded)'} not found; "
                            "pass --clips DIR, the folder `split` wrote the clips to")
        report = {"views": views, "phases": phases, "clips_dir": str(source), "single_view": []}
    labels, probabilities, ids = [], [], []
    for frames, label, meta in load_dataset(records_dir, split, batch_size, shuffle=False, with_metadata=True,
                                            uint8=True):
        batch_ids = [i.decode() for i in meta["id"].numpy()]
        if not use_clips:
            probabilities.append(predict(frames).numpy())
        else:
            for k, (clip_id, text) in enumerate(zip(batch_ids, meta["label_text"].numpy())):
                path = find_clip(source, clip_id, text.decode())
                try:
                    if path is None:
                        raise FileNotFoundError("no such clip file")
                    stack = clip_views(path, info["num_frames"], info["size"], phases)
                except Exception as exc:  # noqa: BLE001 - reported; this clip keeps its record's view
                    report["single_view"].append({"id": clip_id, "reason": f"{type(exc).__name__}: {exc}"})
                    stack = frames[k:k + 1]
                probabilities.append(tf.reduce_mean(predict(stack), axis=0, keepdims=True).numpy())
        labels.append(label.numpy())
        ids.extend(batch_ids)
    if not probabilities:
        raise UserError(f"{records_dir}: the '{split}' split is empty")
    return np.concatenate(labels), np.concatenate(probabilities), ids, report


def run_validation(config: dict, split: str) -> dict:
    """``{"split", "honest", "warning"}`` for a score on ``split`` of a run with this ``config.yaml``:
    not honest when the run chose its epoch or its early stop on that very split. A run that does
    not say which split it validated on gives ``split: None, honest: None``."""
    from movinet_crossfit.movinet.config import TrainConfig, validation_report

    validated_on = config.get("validation_split")
    if not validated_on:
        return {"split": None, "honest": None, "warning": None}
    defaults = TrainConfig.model_fields
    report = validation_report(validated_on, config.get("select_best", defaults["select_best"].default),
                               config.get("early_stopping_patience", defaults["early_stopping_patience"].default),
                               evaluated=split)
    report["warning"] = None  # train's notes about what can be tuned concern train, not this score
    if not report["honest"]:
        report["warning"] = (f"evaluating on '{split}', the split this run validated on: its epoch (best/) and early "
                             "stop were chosen on these clips, so this score is optimistic; evaluate a split it did "
                             "not validate on, or retrain on records with a val split (`movinet-crossfit records "
                             "--ratios train=0.7,val=0.1,test=0.2`, or `train --validation-split NAME`)")
    return report


def evaluate_run(run_dir: str | os.PathLike, *, split: str = "test", records: Optional[str] = None,
                 out_dir: Optional[str | os.PathLike] = None, tta: str = "none", batch_size: int = 8,
                 views: int = 3, clips_dir: Optional[str | os.PathLike] = None) -> Evaluation:
    from movinet_crossfit.core.runs import run_records
    from movinet_crossfit.data.records import read_info
    from movinet_crossfit.movinet.model import load_trained_classifier

    run_dir = Path(run_dir)
    check_tta(tta)
    model, classes, config = load_trained_classifier(run_dir)
    records = run_records(run_dir, records)
    if records is None:
        raise UserError(f"{run_dir}: the run names no records folder; pass --records DIR")
    info = read_info(records)
    if list(info["classes"]) != classes:
        raise UserError(f"{records}: its classes {info['classes']} differ from the run's {classes}")
    labels, probabilities, ids, tta_report = predict_records(model, records, split, batch_size=batch_size, tta=tta,
                                                             views=views, clips_dir=clips_dir)
    metrics = classification_metrics(labels, probabilities, classes)
    metrics.update({"split": split, "records": str(records), "run": str(run_dir), "tta": tta,
                    "validation": run_validation(config, split)})
    if metrics["validation"]["warning"]:
        logger.warning("%s: %s", run_dir, metrics["validation"]["warning"])
    if tta_report:
        metrics["tta_views"] = tta_report
    out_dir = Path(out_dir) if out_dir else run_dir / f"eval_{split}"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "metrics": out_dir / "metrics.json",
        "confusion_matrix": plot_confusion_matrix(metrics["confusion_matrix"], classes, out_dir / "confusion_matrix.png",
                                                  title=f"{run_dir.name} · {split} · accuracy {metrics['accuracy']:.3f}"),
        "probabilities": plot_true_class_probabilities(labels, probabilities, classes, out_dir / "probabilities.png"),
    }
    metrics["predictions"] = [{"id": i, "label": classes[int(t)], "predicted": classes[int(p.argmax())],
                               "probabilities": [round(float(x), 6) for x in p]}
                              for i, t, p in zip(ids, labels, probabilities)]
    write_json_atomic(files["metrics"], metrics)
    return Evaluation(metrics, out_dir, files)
