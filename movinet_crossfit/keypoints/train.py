"""Train the keypoint classifiers (``train-poses``); evaluate.py, export.py and predict.py beside it.

```
runs/NAME/
  config.yaml            PoseTrainConfig + the model config + classes (what evaluate/predict rebuild from)
  labels.txt             classes in output order
  model.weights.h5       the best validation epoch (the last epoch when there is no val split)
  split.json             every sequence: name, label, group, split
  history.csv            per epoch: loss, train accuracy (augmented), val accuracy and loss
  pretrain_history.csv   SimCLR loss per epoch, when --contrastive-epochs
  eval_test/             metrics.json, confusion_matrix.png, probabilities.png
  model.tflite           float32, builtin ops only: (1, length, K x 2) prepared sequence -> (1, C)
  export_report.json     ops, size, parity against Keras
  train_summary.json     sizes, accuracies, timings
```
The split is ``splits.assign_splits`` over the sequences' groups (source videos): a video's
segments never straddle train and test. Training ends by evaluating (``evaluate.write_evaluation``)
and exporting (``export.export_tflite``) the best epoch.
"""
from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import atomic_path, write_json_atomic
from movinet_crossfit.core.runs import HISTORY_FILE, LABELS_FILE, SUMMARY_FILE, WEIGHTS_FILE, write_config, write_labels
from movinet_crossfit.keypoints.config import PoseTrainConfig
from movinet_crossfit.keypoints.evaluate import write_evaluation
from movinet_crossfit.keypoints.export import REPORT_FILE, TFLITE_FILE, export_tflite
from movinet_crossfit.keypoints.features import augmented_batch
from movinet_crossfit.keypoints.predict import model_inputs, prepare_items


@dataclass
class PoseTrainResult:
    run_dir: Path
    summary: dict
    metrics: dict
    report: object  # progress.BatchReport: sequences left out and split warnings


# --- data ------------------------------------------------------------------------------------

def _assign(items, ratios: str, seed: int) -> tuple[list[str], list[str]]:
    from movinet_crossfit.data.splits import assign_splits, parse_ratios, split_warnings

    parsed = parse_ratios(ratios)
    labels = [i.label for i in items]
    groups = [i.group for i in items]
    splits = assign_splits(labels, groups, parsed, seed)
    return splits, split_warnings(labels, groups, splits, parsed)


# --- SimCLR ----------------------------------------------------------------------------------

def nt_xent_loss(z1, z2, temperature: float):
    """SimCLR's normalised temperature-scaled cross entropy for two views ``(N, D)`` of a batch."""
    import tensorflow as tf

    z = tf.math.l2_normalize(tf.concat([z1, z2], axis=0), axis=1)
    n = tf.shape(z1)[0]
    logits = tf.matmul(z, z, transpose_b=True) / temperature
    logits = logits - tf.eye(2 * n) * 1e9  # a view is not its own positive
    positives = tf.concat([tf.range(n, 2 * n), tf.range(0, n)], axis=0)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positives, logits=logits))


def pretrain_contrastive(model, points: list, config: PoseTrainConfig, rng: np.random.Generator) -> list[float]:
    """SimCLR on the training sequences (labels unused): two augmented views of each sequence are
    pulled together in the projection space and pushed from every other sequence of the batch.
    Trains the encoder of ``model`` in place; returns the loss per epoch."""
    import tensorflow as tf
    import tf_keras as keras

    from movinet_crossfit.keypoints.model import encoder_of

    encoder = encoder_of(model)
    projection = keras.Sequential([keras.layers.Dense(config.width, activation="relu"), keras.layers.Dense(64)],
                                  name="projection")
    optimizer = keras.optimizers.Adam(config.learning_rate)
    batch = max(2, min(64, len(points)))

    @tf.function(reduce_retracing=True)
    def step(v1, v2):
        with tf.GradientTape() as tape:
            loss = nt_xent_loss(projection(encoder(v1, training=True), training=True),
                                projection(encoder(v2, training=True), training=True), config.temperature)
        variables = encoder.trainable_variables + projection.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    history = []
    for _ in range(config.contrastive_epochs):
        order = rng.permutation(len(points))
        losses = []
        for start in range(0, len(order) - 1, batch):
            chosen = [points[i] for i in order[start:start + batch]]
            if len(chosen) < 2:
                continue
            v1 = augmented_batch(chosen, config.layout, config.length, rng, config.augmentation)
            v2 = augmented_batch(chosen, config.layout, config.length, rng, config.augmentation)
            losses.append(float(step(v1, v2)))
        history.append(float(np.mean(losses)) if losses else float("nan"))
    return history


# --- training --------------------------------------------------------------------------------

def _model_config(config: PoseTrainConfig, features: int, num_classes: int):
    from movinet_crossfit.keypoints.model import KeypointModelConfig

    return KeypointModelConfig(arch=config.arch, length=config.length, features=features, num_classes=num_classes,
                               width=config.width, dropout=config.dropout)


def train_pose_classifier(config: PoseTrainConfig) -> PoseTrainResult:
    """Load the sequences, split them by group, (pre-)train, evaluate on test, export TFLite."""
    import tf_keras as keras

    from movinet_crossfit.keypoints.model import build_keypoint_model
    from movinet_crossfit.keypoints.data import load_items

    if not config.out:
        raise UserError("train-poses needs --out RUN_DIR")
    started = time.perf_counter()
    run = Path(config.out)
    items, report = load_items(config.data, config.manifest)
    items, points = prepare_items(items, config.layout, report)
    if not items:
        raise UserError(f"{config.data}: no sequence could be prepared")
    classes = sorted({i.label for i in items})
    if len(classes) < 2:
        raise UserError(f"{config.data}: only one class ({classes[0]}); a classifier needs at least two")
    splits, warnings = _assign(items, config.ratios, config.split_seed)
    for message in warnings:
        report.warn(message)
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[i.label] for i in items])
    part = {s: [k for k, v in enumerate(splits) if v == s] for s in ("train", "val", "test")}
    if not part["train"]:
        raise UserError(f"{config.data}: the split left no training sequence (ratios {config.ratios})")

    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    features = points[0].shape[1] * 2
    model_config = _model_config(config, features, len(classes))
    model = build_keypoint_model(model_config)
    train_points = [points[k] for k in part["train"]]
    pretrain = []
    t0 = time.perf_counter()
    if config.contrastive_epochs > 0:
        pretrain = pretrain_contrastive(model, train_points, config, rng)
    pretrain_seconds = time.perf_counter() - t0

    steps = max(1, -(-len(train_points) // config.batch_size)) * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                  metrics=["accuracy"])
    one_hot = np.eye(len(classes), dtype=np.float32)
    val_x = model_inputs([points[k] for k in part["val"]], config.length) if part["val"] else None
    val_y = one_hot[labels[part["val"]]] if part["val"] else None
    history, best, best_key = [], None, None
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        x = augmented_batch(train_points, config.layout, config.length, rng, config.augmentation)
        fit = model.fit(x, one_hot[labels[part["train"]]], batch_size=config.batch_size, epochs=1, verbose=0,
                        shuffle=True)
        row = {"epoch": epoch + 1, "loss": fit.history["loss"][0], "accuracy": fit.history["accuracy"][0]}
        if val_x is not None:
            val_loss, val_acc = model.evaluate(val_x, val_y, verbose=0, batch_size=256)
            row.update(val_loss=val_loss, val_accuracy=val_acc)
            key = (val_acc, -val_loss)
            if best_key is None or key > best_key:
                best_key, best = key, (epoch + 1, [w.copy() for w in model.get_weights()])
        history.append(row)
    train_seconds = time.perf_counter() - t0
    best_epoch = config.epochs
    if best is not None:
        best_epoch = best[0]
        model.set_weights(best[1])

    run.mkdir(parents=True, exist_ok=True)
    save_weights(model, run / WEIGHTS_FILE)
    write_labels(run / LABELS_FILE, classes)
    write_config(run, config, model=model_config.to_dict(), classes=classes)
    write_json_atomic(run / "split.json", [{"name": i.name, "label": i.label, "group": i.group, "split": s}
                                           for i, s in zip(items, splits)])
    _write_csv(run / HISTORY_FILE, history)
    if pretrain:
        _write_csv(run / "pretrain_history.csv", [{"epoch": e + 1, "nt_xent": v} for e, v in enumerate(pretrain)])

    metrics, evaluation_files = {}, {}
    split_for_eval = "test" if part["test"] else ("val" if part["val"] else None)
    if split_for_eval:
        chosen = part[split_for_eval]
        x = model_inputs([points[k] for k in chosen], config.length)
        t0 = time.perf_counter()
        probabilities = model.predict(x, verbose=0, batch_size=256)
        keras_seconds = (time.perf_counter() - t0) / len(chosen)
        metrics, evaluation_files = write_evaluation(run / f"eval_{split_for_eval}", labels[chosen], probabilities,
                                                     classes, [items[k].name for k in chosen])
        metrics["keras_seconds_per_sequence_batched"] = keras_seconds
    export = {}
    if config.export:
        sample = model_inputs([points[k] for k in (part["test"] or part["train"])[:32]], config.length)
        export = export_tflite(model, run / TFLITE_FILE, sample, config.length, features)
        write_json_atomic(run / REPORT_FILE, export)
    summary = {
        "arch": config.arch, "classes": classes, "sequences": {s: len(v) for s, v in part.items()},
        "groups": {s: len({items[k].group for k in v}) for s, v in part.items()},
        "parameters": int(model.count_params()), "best_epoch": best_epoch, "epochs": config.epochs,
        "contrastive_epochs": config.contrastive_epochs,
        "final_train_accuracy": history[-1]["accuracy"] if history else None,
        "best_val_accuracy": best_key[0] if best_key else None,
        "eval_split": split_for_eval, "eval_accuracy": metrics.get("accuracy"),
        "seconds": {"pretrain": round(pretrain_seconds, 2), "train": round(train_seconds, 2),
                    "total": round(time.perf_counter() - started, 2)},
        "tflite": {k: export.get(k) for k in ("bytes", "max_abs_diff", "argmax_agreement", "seconds_per_sequence")}
        if export else None,
        "report": report.to_dict(),
    }
    write_json_atomic(run / SUMMARY_FILE, summary)
    return PoseTrainResult(run, summary, metrics, report)


def save_weights(model, path: Path) -> None:
    """Atomically: tf_keras picks the format from the name, so the temp name ends in ``.weights.h5`` too."""
    tmp = path.with_name(f".{path.name[:-len('.weights.h5')]}.part-{os.getpid()}.weights.h5")
    try:
        model.save_weights(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    names = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, names)
            writer.writeheader()
            writer.writerows(rows)
