"""Fine-tune a MoViNet *base* classifier on TFRecords.

The original recipe: new head on Kinetics-600 weights, RMSprop (rho 0.9, momentum 0.9, epsilon 1.0),
clipnorm 1, cosine decay from 0.01, label smoothing 0.1, batch 8; head-only first, then optionally
the last blocks or the whole backbone at a lower rate.

Head-only training with the backbone frozen computes the same backbone features every epoch, so
on a CPU the features are computed once (with the fast graph) and the head trains on them
(``cache_features``); on a GPU the frozen backbone runs every step, with augmentation.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf
import tf_keras

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_json_atomic, write_text_atomic
from movinet_crossfit.core.runs import BEST, FINAL, HISTORY_FILE, LABELS_FILE, SUMMARY_FILE, write_config, write_labels
from movinet_crossfit.movinet.config import TrainConfig, validation_report

logger = logging.getLogger(__name__)


def get_strategy(name: str):
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise UserError(f"unknown strategy {name!r}")


def make_optimizer(learning_rate: float, decay_steps: int, name: str = "rmsprop"):
    schedule = tf_keras.optimizers.schedules.CosineDecay(learning_rate, max(1, decay_steps))
    if name == "adam":
        return tf_keras.optimizers.Adam(schedule, clipnorm=1.0)
    return tf_keras.optimizers.RMSprop(schedule, rho=0.9, momentum=0.9, epsilon=1.0, clipnorm=1.0)


def make_loss(label_smoothing: float):
    return tf_keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)


def _one_hot(num_classes: int):
    return lambda x, y: (x, tf.one_hot(y, num_classes))


class BestCheckpoint(tf_keras.callbacks.Callback):
    """Save ``tf.train.Checkpoint(model=classifier)`` when the monitored metric improves.

    It saves the *classifier*, whichever model (the head alone, or the whole) is being fit. The
    checkpoint is written to a temp folder and swapped in, so ``best/`` is always complete.
    """

    def __init__(self, classifier, directory: Path, monitor: str = "val_accuracy"):
        super().__init__()
        self.classifier, self.directory, self.monitor = classifier, Path(directory), monitor
        self.best = -np.inf
        self.best_epoch: Optional[int] = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or value <= self.best:
            return
        self.best, self.best_epoch = float(value), epoch
        write_checkpoint(self.classifier, self.directory)


def write_checkpoint(classifier, directory: Path) -> None:
    """``tf.train.Checkpoint(model=classifier)`` into ``directory``, replacing it whole."""
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tf.train.Checkpoint(model=classifier).write(str(tmp / "ckpt"))
    write_text_atomic(tmp / "checkpoint", 'model_checkpoint_path: "ckpt"\nall_model_checkpoint_paths: "ckpt"\n')
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(tmp, directory)


@dataclass
class TrainResult:
    run_dir: Path
    config: TrainConfig
    history: dict
    best_score: Optional[float]
    best_epoch: Optional[int]
    seconds: float
    summary: dict


def _callbacks(config: TrainConfig, run_dir: Path, classifier, phase: str, best, extra=()):
    backup = run_dir / "backup" / phase
    callbacks = [
        tf_keras.callbacks.BackupAndRestore(str(backup), save_freq=config.backup_every_steps or "epoch",
                                            delete_checkpoint=True),
        tf_keras.callbacks.TensorBoard(str(run_dir / "logs" / phase), write_graph=False, profile_batch=0),
        tf_keras.callbacks.CSVLogger(str(run_dir / f"history_{phase}.csv"), append=True),
        # One line per epoch through logging (stderr in the CLI), where Keras's verbose=2 prints to stdout.
        tf_keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logger.info(
            "%s epoch %d: %s", phase, epoch + 1, ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items()))),
        *([best] if config.select_best else []),
        *extra,
    ]
    if config.early_stopping_patience:
        callbacks.append(tf_keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                          patience=config.early_stopping_patience,
                                                          restore_best_weights=False))
    return callbacks


def compute_features(extractor, dataset, description: str) -> tuple[np.ndarray, np.ndarray]:
    """Run the frozen backbone once over a dataset of (frames, label) batches."""
    from movinet_crossfit.core.progress import progress_bar

    forward = tf.function(lambda x: extractor(x, training=False), reduce_retracing=True)
    features, labels = [], []
    batches = int(dataset.cardinality()) if int(dataset.cardinality()) > 0 else 0
    with progress_bar(batches, description) as advance:
        for frames, label in dataset:
            features.append(forward(frames).numpy())
            labels.append(label.numpy())
            advance(1)
    if not features:
        return np.zeros((0, 0), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(features), np.concatenate(labels)


def _set_fine_tune_trainable(classifier, mode: str, blocks: int) -> int:
    """Unfreeze the whole backbone or its last ``blocks`` stages; returns trainable variable count."""
    from movinet_crossfit.movinet.model import backbone_of

    backbone = backbone_of(classifier)
    backbone.trainable = True
    if mode == "last":
        names = sorted({layer.name.split("_layer")[0] for layer in backbone.layers
                        if layer.name.startswith("block")}, key=lambda n: int(n[5:]))
        keep = set(names[-blocks:]) | {"head"}
        for layer in backbone.layers:
            prefix = layer.name.split("_layer")[0]
            layer.trainable = prefix in keep
    return len(classifier.trainable_variables)


@contextlib.contextmanager
def op_determinism():
    """TensorFlow's op determinism for the duration (``train --deterministic``), then as it was."""
    # The switch back is not public API; without it a notebook would stay deterministic (and slower).
    from tensorflow.python.framework import config as tf_config

    was = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was:
            tf_config.disable_op_determinism()


def train(config: TrainConfig, extra_callbacks: tuple = ()) -> TrainResult:
    """Train per ``config`` into ``config.out``; ``extra_callbacks`` are added to every fit.

    ``config.deterministic``: op determinism for this run, so the same seed and records give the
    same weights."""
    config.validate()
    with op_determinism() if config.deterministic else contextlib.nullcontext():
        return _train(config, extra_callbacks)


def _train(config: TrainConfig, extra_callbacks: tuple) -> TrainResult:
    from movinet_crossfit.movinet.model import build_backbone_features, build_classifier, build_head, load_pretrained
    from movinet_crossfit.movinet.pretrained import fetch_pretrained
    from movinet_crossfit.data.records import load_dataset, read_info

    info = read_info(config.records)
    for key in ("num_frames", "size"):
        value = getattr(config, key)
        if value is not None and value != info[key]:
            raise UserError(f"{config.records}: records hold {info[key]} for {key}, the config asks {value}; "
                            "rebuild the records or drop the option")
        setattr(config, key, int(info[key]))
    config.classes = list(info["classes"])
    num_classes = len(config.classes)
    splits = info["splits"]
    if "train" not in splits or not splits["train"]["clips"]:
        raise UserError(f"{config.records}: no training clips")
    # No val clips: validate on test, and say loudly what that costs (validation_report).
    fallback = config.validation_split is None and not splits.get("val", {}).get("clips")
    if config.validation_split is None:
        config.validation_split = "test" if fallback else "val"
    if not splits.get(config.validation_split, {}).get("clips"):
        having = [name for name, entry in splits.items() if entry.get("clips") and name != "train"]
        raise UserError(f"{config.records}: no '{config.validation_split}' clips to validate on; pass "
                        f"--validation-split with one of {having or 'none (rebuild the records with a val split)'}")
    validation = validation_report(config.validation_split, config.select_best, config.early_stopping_patience,
                                   fallback=fallback)
    if validation["warning"]:
        logger.warning("%s", validation["warning"])
    # Before the run folder and the model: offline, this fails at once with what to download.
    fetched = fetch_pretrained(config.pretrained, causal=config.causal) if config.pretrained else None
    if config.backbone_weights:  # a missing file or a failed download stops here, before the run folder
        from movinet_crossfit.movinet.architectures import resolve_weights_file
        from movinet_crossfit.movinet.pretrained import cache_root

        resolve_weights_file(config.backbone_weights, cache_root())
    if config.cache_features is None:
        config.cache_features = not tf.config.list_physical_devices("GPU")

    run_dir = Path(config.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, config)
    write_labels(run_dir / LABELS_FILE, config.classes)
    tf_keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        tf_keras.mixed_precision.set_global_policy("mixed_float16")
    started = time.perf_counter()
    summary: dict = {"classes": config.classes, "train_clips": splits["train"]["clips"],
                     "validation_split": config.validation_split, "validation": validation,
                     "validation_clips": splits[config.validation_split]["clips"], "seed": config.seed,
                     "deterministic": config.deterministic, "causal": config.causal}
    if fetched is not None:
        summary["pretrained"] = fetched.to_dict()

    summary["arch"] = config.arch
    strategy = get_strategy(config.strategy)
    one_hot = _one_hot(num_classes)
    best = BestCheckpoint(None, run_dir / BEST)
    history: dict = {}
    from movinet_crossfit.movinet.architectures import is_classic

    if is_classic(config.arch):
        classifier = _train_classic(config, strategy, splits, one_hot, best, history, summary, extra_callbacks)
        return _finish(config, run_dir, classifier, best, history, summary, started)
    with strategy.scope():
        # causal: the stream layout (model.stream_layout), whose stream model `export --stream` builds.
        classifier = build_classifier(config.model_id, num_classes, config.num_frames, config.size,
                                      fast=True, dropout_rate=config.dropout_rate, causal=config.causal)
        if config.from_scratch:
            summary["weights"] = "random (--from-scratch)"
            logger.warning("training from random weights (--from-scratch)")
        else:
            report = load_pretrained(classifier, checkpoint=config.checkpoint, hub=config.hub,
                                     archive=fetched.path if fetched is not None else config.archive)
            summary["weights"] = report.summary()
            logger.info("%s", report.summary())

    best.classifier = classifier
    head_epochs = config.epochs
    if head_epochs:
        steps = -(-splits["train"]["clips"] // config.batch_size)
        if config.cache_features:
            t0 = time.perf_counter()
            extractor = build_backbone_features(classifier)
            train_x, train_y = compute_features(
                extractor, load_dataset(config.records, "train", config.batch_size, shuffle=False),
                "backbone features (train)")
            val_x, val_y = compute_features(
                extractor, load_dataset(config.records, config.validation_split, config.batch_size, shuffle=False),
                f"backbone features ({config.validation_split})")
            summary["feature_cache_seconds"] = round(time.perf_counter() - t0, 2)
            train_ds = (tf.data.Dataset.from_tensor_slices((train_x, train_y))
                        .shuffle(len(train_x), seed=config.seed).batch(config.batch_size).map(one_hot))
            val_ds = tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(config.batch_size).map(one_hot)
            with strategy.scope():
                fit_model = build_head(classifier)
        else:
            train_ds = load_dataset(config.records, "train", config.batch_size, augment=config.augment,
                                    seed=config.seed).map(one_hot)
            val_ds = load_dataset(config.records, config.validation_split, config.batch_size).map(one_hot)
            fit_model = classifier
            with strategy.scope():
                from movinet_crossfit.movinet.model import backbone_of

                backbone_of(classifier).trainable = False
        with strategy.scope():
            fit_model.compile(optimizer=make_optimizer(config.learning_rate, steps * head_epochs, config.optimizer),
                              loss=make_loss(config.label_smoothing), metrics=["accuracy"])
        t0 = time.perf_counter()
        fitted = fit_model.fit(train_ds, validation_data=val_ds, epochs=head_epochs,
                               callbacks=_callbacks(config, run_dir, classifier, "head", best, extra_callbacks), verbose=0)
        summary["head_seconds"] = round(time.perf_counter() - t0, 2)
        history["head"] = {k: [float(v) for v in values] for k, values in fitted.history.items()}

    if config.fine_tune != "none" and config.fine_tune_epochs:
        with strategy.scope():
            summary["fine_tune_trainable_variables"] = _set_fine_tune_trainable(
                classifier, config.fine_tune, config.fine_tune_blocks)
            steps = -(-splits["train"]["clips"] // config.batch_size)
            classifier.compile(optimizer=make_optimizer(config.fine_tune_learning_rate, steps * config.fine_tune_epochs,
                                                        config.optimizer),
                               loss=make_loss(config.label_smoothing), metrics=["accuracy"])
        train_ds = load_dataset(config.records, "train", config.batch_size, augment=config.augment,
                                seed=config.seed).map(one_hot)
        val_ds = load_dataset(config.records, config.validation_split, config.batch_size).map(one_hot)
        t0 = time.perf_counter()
        fitted = classifier.fit(train_ds, validation_data=val_ds, epochs=config.fine_tune_epochs,
                                callbacks=_callbacks(config, run_dir, classifier, "fine_tune", best, extra_callbacks), verbose=0)
        summary["fine_tune_seconds"] = round(time.perf_counter() - t0, 2)
        history["fine_tune"] = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    return _finish(config, run_dir, classifier, best, history, summary, started)


def _train_classic(config: TrainConfig, strategy, splits: dict, one_hot, best: BestCheckpoint, history: dict,
                   summary: dict, extra_callbacks: tuple):
    """A classic arch (architectures.py): every layer trains for ``epochs``, on augmented clips."""
    from movinet_crossfit.data.records import load_dataset
    from movinet_crossfit.movinet.architectures import build_arch_classifier, describe_weights, load_backbone_weights

    with strategy.scope():
        classifier = build_arch_classifier(config.arch, len(config.classes), config.num_frames, config.size,
                                           dropout_rate=config.dropout_rate)
        weights = describe_weights(config.arch, config.backbone_weights)
        if config.backbone_weights:
            from movinet_crossfit.movinet.pretrained import cache_root

            weights = load_backbone_weights(classifier, config.backbone_weights, cache_root())
        summary["weights"] = weights
        (logger.info if config.backbone_weights else logger.warning)("--arch %s: %s", config.arch, weights)
    summary["parameters"] = int(classifier.count_params())
    best.classifier = classifier
    if not config.epochs:
        return classifier
    steps = -(-splits["train"]["clips"] // config.batch_size)
    train_ds = load_dataset(config.records, "train", config.batch_size, augment=config.augment,
                            seed=config.seed).map(one_hot)
    val_ds = load_dataset(config.records, config.validation_split, config.batch_size).map(one_hot)
    with strategy.scope():
        classifier.compile(optimizer=make_optimizer(config.learning_rate, steps * config.epochs, config.optimizer),
                           loss=make_loss(config.label_smoothing), metrics=["accuracy"])
    t0 = time.perf_counter()
    fitted = classifier.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                            callbacks=_callbacks(config, Path(config.out), classifier, "train", best, extra_callbacks),
                            verbose=0)
    summary["train_seconds"] = round(time.perf_counter() - t0, 2)
    history["train"] = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    return classifier


def _finish(config: TrainConfig, run_dir: Path, classifier, best: BestCheckpoint, history: dict, summary: dict,
            started: float) -> TrainResult:
    final = run_dir / FINAL
    write_checkpoint(classifier, final)
    if not config.select_best:  # the last epoch is the model
        shutil.rmtree(run_dir / BEST, ignore_errors=True)
    if not (run_dir / BEST).exists():  # no validation improvement recorded (e.g. 0 epochs)
        shutil.copytree(final, run_dir / BEST)
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    seconds = time.perf_counter() - started
    last_phase = history.get("fine_tune") or history.get("train") or history.get("head") or {}
    last_val = (last_phase.get("val_accuracy") or [None])[-1]
    summary.update({"best_val_accuracy": None if best.best_epoch is None else best.best,
                    "best_epoch": best.best_epoch, "final_val_accuracy": last_val, "select_best": config.select_best,
                    "seconds": round(seconds, 2), "history": history,
                    "cache_features": config.cache_features})
    write_json_atomic(run_dir / SUMMARY_FILE, summary)
    _merge_history(run_dir)
    return TrainResult(run_dir, config, history, summary["best_val_accuracy"], best.best_epoch, seconds, summary)


def _merge_history(run_dir: Path) -> None:
    """One ``history.csv`` across phases (head, then fine-tune), with a phase column."""
    import pandas as pd

    frames = []
    for phase in ("head", "train", "fine_tune"):
        path = run_dir / f"history_{phase}.csv"
        if path.is_file() and path.stat().st_size:
            frame = pd.read_csv(path)
            frame.insert(0, "phase", phase)
            frames.append(frame)
    if frames:
        write_text_atomic(run_dir / HISTORY_FILE, pd.concat(frames).to_csv(index=False))


def describe(result: TrainResult) -> str:
    validation = result.summary.get("validation") or {}
    caution = (f"; validated on the '{validation.get('split')}' split: its score will be optimistic (see the warning)"
               if validation.get("honest") is False else "")
    return _describe(result) + caution


def _describe(result: TrainResult) -> str:
    if not result.config.select_best:
        final = result.summary.get("final_val_accuracy")
        return (f"trained in {result.seconds:.0f} s; last-epoch {result.config.validation_split} accuracy "
                f"{'n/a' if final is None else f'{final:.3f}'} (best/ = last epoch, none chosen) -> {result.run_dir}")
    score = "n/a" if result.best_score is None else f"{result.best_score:.3f}"
    return (f"trained in {result.seconds:.0f} s; best {result.config.validation_split} accuracy {score} "
            f"(epoch {None if result.best_epoch is None else result.best_epoch + 1}) -> {result.run_dir}")
