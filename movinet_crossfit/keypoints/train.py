"""Train, evaluate and export the keypoint classifiers (``train-poses``, ``evaluate-poses``).

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
segments never straddle train and test.
"""
from __future__ import annotations

import csv
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import atomic_path, write_json_atomic, write_text_atomic
from movinet_crossfit.keypoints.features import Augmentation, augmented_batch, prepare_points, resample

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.weights.h5"
TFLITE_FILE = "model.tflite"
PARITY_TOLERANCE = 1e-4


@dataclass
class PoseTrainConfig:
    data: str = ""
    out: str = ""
    manifest: Optional[str] = None
    arch: str = "tcn"
    layout: str = "coco17"  # the model's joint layout; mediapipe33 inputs are converted to it
    length: int = 64
    width: int = 64
    dropout: float = 0.2
    epochs: int = 80
    batch_size: int = 32
    learning_rate: float = 2e-3
    label_smoothing: float = 0.1
    ratios: str = "train=0.7,val=0.1,test=0.2"
    seed: int = 0  # weights, augmentation and batch order
    split_seed: int = 0  # which groups go to which split (kept apart so runs can be compared on one split)
    contrastive_epochs: int = 0  # SimCLR pre-training epochs before the supervised ones (0: none)
    temperature: float = 0.2
    export: bool = True
    augmentation: Augmentation = field(default_factory=Augmentation)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["augmentation"] = self.augmentation.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "PoseTrainConfig":
        data = dict(data)
        aug = Augmentation(**data.pop("augmentation", {}) or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise UserError(f"unknown train-poses option(s) {', '.join(sorted(unknown))}")
        return cls(**data, augmentation=aug)


@dataclass
class PoseTrainResult:
    run_dir: Path
    summary: dict
    metrics: dict
    report: object  # progress.BatchReport: sequences left out and split warnings


# --- data ------------------------------------------------------------------------------------

def _prepared(items, layout: str, report) -> tuple[list, list]:
    kept, points = [], []
    for item in items:
        try:
            points.append(prepare_points(item.keypoints, item.layout, layout))
            kept.append(item)
        except (ValueError, UserError) as exc:
            report.fail(item.name, str(exc))
    return kept, points


def _assign(items, ratios: str, seed: int) -> tuple[list[str], list[str]]:
    from movinet_crossfit.data.splits import assign_splits, parse_ratios, split_warnings

    parsed = parse_ratios(ratios)
    labels = [i.label for i in items]
    groups = [i.group for i in items]
    splits = assign_splits(labels, groups, parsed, seed)
    return splits, split_warnings(labels, groups, splits, parsed)


def _inputs(points: list, length: int) -> np.ndarray:
    return np.stack([resample(p, length).reshape(length, -1) for p in points]).astype(np.float32)


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
    import yaml

    from movinet_crossfit.keypoints.model import build_keypoint_model
    from movinet_crossfit.keypoints.data import load_items
    from movinet_crossfit.core.runs import write_labels

    if not config.out:
        raise UserError("train-poses needs --out RUN_DIR")
    started = time.perf_counter()
    run = Path(config.out)
    items, report = load_items(config.data, config.manifest)
    items, points = _prepared(items, config.layout, report)
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
    val_x = _inputs([points[k] for k in part["val"]], config.length) if part["val"] else None
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
    write_labels(run / "labels.txt", classes)
    write_text_atomic(run / CONFIG_FILE, yaml.safe_dump({**config.to_dict(), "model": model_config.to_dict(),
                                                         "classes": classes}, sort_keys=False))
    write_json_atomic(run / "split.json", [{"name": i.name, "label": i.label, "group": i.group, "split": s}
                                           for i, s in zip(items, splits)])
    _write_csv(run / "history.csv", history)
    if pretrain:
        _write_csv(run / "pretrain_history.csv", [{"epoch": e + 1, "nt_xent": v} for e, v in enumerate(pretrain)])

    metrics, evaluation_files = {}, {}
    split_for_eval = "test" if part["test"] else ("val" if part["val"] else None)
    if split_for_eval:
        chosen = part[split_for_eval]
        x = _inputs([points[k] for k in chosen], config.length)
        t0 = time.perf_counter()
        probabilities = model.predict(x, verbose=0, batch_size=256)
        keras_seconds = (time.perf_counter() - t0) / len(chosen)
        metrics, evaluation_files = write_evaluation(run / f"eval_{split_for_eval}", labels[chosen], probabilities,
                                                     classes, [items[k].name for k in chosen])
        metrics["keras_seconds_per_sequence_batched"] = keras_seconds
    export = {}
    if config.export:
        sample = _inputs([points[k] for k in (part["test"] or part["train"])[:32]], config.length)
        export = export_tflite(model, run / TFLITE_FILE, sample, config.length, features)
        write_json_atomic(run / "export_report.json", export)
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
    write_json_atomic(run / "train_summary.json", summary)
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


# --- evaluation --------------------------------------------------------------------------------

def write_evaluation(out_dir: Path, labels, probabilities, classes, names) -> tuple[dict, dict]:
    """``metrics.json`` (the video classifier's metrics, plus every sequence's prediction) and the plots."""
    from movinet_crossfit.core.metrics import classification_metrics, plot_confusion_matrix, plot_true_class_probabilities

    metrics = classification_metrics(labels, probabilities, classes)
    metrics["predictions"] = [{"name": n, "label": classes[int(y)], "predicted": classes[int(p.argmax())],
                               "probability": round(float(p.max()), 4)}
                              for n, y, p in zip(names, labels, probabilities)]
    files = {"metrics": out_dir / "metrics.json",
             "confusion_matrix": plot_confusion_matrix(metrics["confusion_matrix"], classes,
                                                       out_dir / "confusion_matrix.png"),
             "probabilities": plot_true_class_probabilities(labels, probabilities, classes,
                                                            out_dir / "probabilities.png")}
    write_json_atomic(files["metrics"], metrics)
    return metrics, files


def load_pose_run(run_dir: str | os.PathLike):
    """``(model, classes, config dict)`` of a ``train-poses`` run, with its best weights."""
    import yaml

    from movinet_crossfit.keypoints.model import KeypointModelConfig, build_keypoint_model
    from movinet_crossfit.core.runs import read_labels

    run = Path(run_dir)
    path = run / CONFIG_FILE
    if not path.is_file() or not (run / WEIGHTS_FILE).is_file():
        raise UserError(f"{run}: not a train-poses run (no {CONFIG_FILE} / {WEIGHTS_FILE}); train one with "
                        f"`movinet-crossfit train-poses DATA --out {run}`")
    config = yaml.safe_load(path.read_text())
    classes = read_labels(run / "labels.txt")
    model = build_keypoint_model(KeypointModelConfig(**config["model"]))
    try:
        model.load_weights(str(run / WEIGHTS_FILE))
    except (OSError, ValueError) as exc:
        raise UserError(f"{run / WEIGHTS_FILE}: does not fit the {config['model']['arch']} model of "
                        f"{path} ({exc})") from exc
    return model, classes, config


def predict_poses(run_dir: str | os.PathLike, keypoints: np.ndarray, layout: str) -> dict:
    """Class probabilities for one keypoint sequence ``(T, K, C)`` with a trained run."""
    from movinet_crossfit.keypoints.features import prepare_sequence

    model, classes, config = load_pose_run(run_dir)
    x = prepare_sequence(keypoints, layout, config["layout"], config["length"])
    probabilities = model.predict(x[None], verbose=0)[0]
    return dict(sorted(zip(classes, map(float, probabilities)), key=lambda kv: -kv[1]))


@dataclass
class PoseEvaluation:
    metrics: dict
    out_dir: Path
    files: dict


def evaluate_pose_run(run_dir: str | os.PathLike, *, data: str | os.PathLike | None = None,
                      manifest: str | os.PathLike | None = None, split: str = "test",
                      out_dir: str | os.PathLike | None = None) -> PoseEvaluation:
    """Evaluate a run on ``split`` of its own data (the saved split), or on every sequence of other
    ``data`` (``split="all"``); sequences of classes the run does not know are reported and skipped."""
    import json

    from movinet_crossfit.keypoints.data import load_items

    run = Path(run_dir)
    model, classes, config = load_pose_run(run)
    own = data is None
    items, report = load_items(data or config["data"], manifest if not own else config.get("manifest"))
    if own and split != "all":
        assigned = {row["name"]: row["split"] for row in json.loads((run / "split.json").read_text())}
        items = [i for i in items if assigned.get(i.name) == split]
    known = []
    for item in items:
        if item.label in classes:
            known.append(item)
        else:
            report.fail(item.name, f"class {item.label!r} is not one the run was trained on")
    items, points = _prepared(known, config["layout"], report)
    if not items:
        raise UserError(f"{data or config['data']}: no sequence of split {split!r} to evaluate")
    x = _inputs(points, config["length"])
    probabilities = model.predict(x, verbose=0, batch_size=256)
    labels = np.array([classes.index(i.label) for i in items])
    target = Path(out_dir) if out_dir else run / f"eval_{split if own else 'external'}"
    metrics, files = write_evaluation(target, labels, probabilities, classes, [i.name for i in items])
    metrics["report"] = report.to_dict()
    write_json_atomic(files["metrics"], metrics)
    return PoseEvaluation(metrics, target, files)


# --- export ------------------------------------------------------------------------------------

def export_tflite(model, path: Path, sample: np.ndarray, length: int, features: int) -> dict:
    """float32 TFLite of the classifier on builtin ops only, checked against Keras on ``sample``."""
    import tensorflow as tf

    from movinet_crossfit.movinet.export import ExportError, make_interpreter, tflite_op_names

    forward = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec([1, length, features], tf.float32, name="keypoints")],
                          autograph=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([forward.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    started = time.perf_counter()
    try:
        data = converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises several unrelated types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"{path}: TFLite conversion failed: {first[:300]}") from exc
    convert_seconds = time.perf_counter() - started
    ops = tflite_op_names(data)
    bad = [op for op in ops if op.startswith("CUSTOM") or op.startswith("Flex")]
    if bad:
        raise ExportError(f"{path}: the converted model needs non-builtin op(s) {', '.join(bad)}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    interpreter = make_interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    lite = []
    started = time.perf_counter()
    for row in sample:
        # The LSTM's state lives in TFLite variable tensors that survive invoke(): start each
        # sequence from zeros, as Keras does (on Android: Interpreter.resetVariableTensors()).
        interpreter.reset_all_variables()
        interpreter.set_tensor(inp, row[None])
        interpreter.invoke()
        lite.append(np.array(interpreter.get_tensor(out)[0]))
    per_sequence = (time.perf_counter() - started) / max(1, len(sample))
    lite = np.stack(lite)
    reference = model.predict(sample, verbose=0)
    return {"file": str(path), "bytes": len(data), "ops": sorted(set(ops)), "convert_seconds": round(convert_seconds, 2),
            "input": [1, length, features], "parity_sequences": int(len(sample)),
            "max_abs_diff": float(np.abs(lite - reference).max()),
            "argmax_agreement": float((lite.argmax(1) == reference.argmax(1)).mean()),
            "seconds_per_sequence": per_sequence, "within_tolerance": bool(np.abs(lite - reference).max() <= PARITY_TOLERANCE)}
