"""Fine-tune a MoViNet *base* classifier on TFRecords.

The original recipe: new head on Kinetics-600 weights, RMSprop (rho 0.9, momentum 0.9, epsilon 1.0),
clipnorm 1, cosine decay from 0.01, label smoothing 0.1, batch 8; head-only first, then optionally
the last blocks or the whole backbone at a lower rate.

Head-only training with the backbone frozen computes the same backbone features every epoch, so
on a CPU the features are computed once (with the fast graph) and the head trains on them
(``cache_features``); on a GPU the frozen backbone runs every step, with augmentation.

Clips that are not augmented (validation, the feature cache, ``augment: false``) are read as the
records' uint8 frames and become the model's float32 input inside the step (``Uint8Frames``), on
the accelerator where there is one: tf.data then decodes and batches a quarter of the bytes and
keeps up with its JPEG decoding (benchmarks/bench_records.py). Augmented clips are float32 already
(``records.augment_clip`` works in float) and pass through unchanged.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
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
from movinet_crossfit.movinet.config import TrainConfig, check_strategy, read_tf_config, validation_report

logger = logging.getLogger(__name__)


def get_strategy(name: str):
    """The ``tf.distribute`` strategy of ``train --strategy``.

    Called before any other TensorFlow op of the run: MultiWorkerMirroredStrategy configures this
    process's collective ops and gRPC server, which TensorFlow allows only at program start."""
    name = check_strategy(name)  # aliases; for multi-worker, TF_CONFIG checked with a one-line error
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":  # every GPU of this machine (or its CPU)
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":  # TF_CONFIG names the cluster and this process's task
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy()


def _tpu_strategy():
    """TPUStrategy on the TPU this machine reaches: ``TPU_NAME`` (or a TPU node's own config) names a
    remote TPU; otherwise the TPU is local (a TPU VM: Colab's TPU runtime, Cloud TPU VMs)."""
    try:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        except ValueError:  # "Please provide a TPU Name": no name given, so the TPU must be this VM's
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, ImportError, tf.errors.OpError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"--strategy tpu: no TPU found ({reason[:160]}); run on a Colab TPU runtime or a Cloud TPU "
                        "VM, or set TPU_NAME to your TPU's name; without a TPU use --strategy default or "
                        "mirrored") from None


def describe_strategy(strategy, name: str, batch_size: int) -> dict:
    """What ``train_summary.json`` records of the distribution. ``--batch-size`` is the global batch,
    split evenly over the replicas (every device of every worker) at each step."""
    replicas = int(strategy.num_replicas_in_sync)
    if name == "tpu" and batch_size % replicas:
        raise UserError(f"--batch-size {batch_size} is the global batch; on {replicas} TPU cores it must be a "
                        f"multiple of {replicas} (e.g. {replicas * max(1, batch_size // replicas)})")
    if batch_size % replicas:
        logger.warning("--batch-size %d (the global batch) does not split evenly over %d replicas: some replicas "
                       "get one clip fewer each step", batch_size, replicas)
    info = {"name": name, "replicas": replicas, "global_batch": batch_size,
            "per_replica_batch": batch_size // replicas, "workers": 1, "writes_run_folder": True}
    if name == "multi-worker":
        task = read_tf_config()
        info.update(task=f"{task.type} {task.index}", workers=task.workers,
                    writes_run_folder=bool(strategy.extended.should_checkpoint))
    elif name == "tpu":  # a pod slice feeds its cores from several hosts
        info["workers"] = int(getattr(strategy.extended, "num_hosts", 1))
    return info


def shard_for_workers(dataset, shard_files: int, workers: int):
    """How the workers of a cluster split a dataset (nothing to do on one host).

    With at least one shard file per worker, each worker reads its own files (no record is read
    twice); with fewer, every worker reads every record and keeps its part of each global batch --
    where TF's default (AUTO) would stop at the first step. ``shard_files=0``: a dataset in memory
    (the feature cache), which every worker holds whole."""
    if workers <= 1:
        return dataset
    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy.FILE if shard_files >= workers else policy.DATA
    return dataset.with_options(options)


@contextlib.contextmanager
def write_folder(strategy, run_dir: Path):
    """Where this process writes the run's files: the run folder itself, unless this is a
    multi-worker task other than the chief. Such a worker still writes every checkpoint (saving can
    need all workers' cooperation, as the TF multi-worker guide explains), into a worker-local temp
    folder that is removed afterwards, so only the chief's files ever land in the run folder."""
    if strategy.extended.should_checkpoint:
        yield run_dir
        return
    folder = Path(tempfile.mkdtemp(prefix="movinet-crossfit-worker-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def make_optimizer(learning_rate: float, decay_steps: int, name: str = "rmsprop"):
    schedule = tf_keras.optimizers.schedules.CosineDecay(learning_rate, max(1, decay_steps))
    if name == "adam":
        return tf_keras.optimizers.Adam(schedule, clipnorm=1.0)
    return tf_keras.optimizers.RMSprop(schedule, rho=0.9, momentum=0.9, epsilon=1.0, clipnorm=1.0)


def make_loss(label_smoothing: float):
    return tf_keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)


def model_input(frames):
    """The model's float32 input in [0, 1] from the records' uint8 frames
    (``clip_sampling.to_model_input``, the conversion predict and the exported graphs run); float
    frames (the augmented path) are returned as they are."""
    from movinet_crossfit.core.clip_sampling import to_model_input

    return to_model_input(frames) if frames.dtype.is_integer else frames


class Uint8Frames(tf_keras.Model):
    """``model`` behind a step that takes the records' uint8 frames (``model_input`` runs first,
    inside the compiled train/eval step) or float32 ones (unchanged). It has no variables of its own:
    fitting it trains ``model``, and checkpoints keep saving ``model`` itself."""

    def __init__(self, model: tf_keras.Model):
        # autocast=False: frames reach call() as they came. Under a mixed policy a float32 batch is then
        # cast to float16 where it always was, by the model; the policy stays, so compile() still adds
        # loss scaling under mixed_float16.
        super().__init__(name=f"{model.name}_uint8_frames", autocast=False)
        self.inner = model

    def call(self, frames, training=None):
        return self.inner(model_input(frames), training=training)


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


def _callbacks(config: TrainConfig, run_dir: Path, classifier, phase: str, best, extra=(),
               write_dir: Optional[Path] = None):
    """``write_dir``: where this process's own files go (``write_folder``). Backups and logs take the
    run folder on every worker: Keras sends a non-chief's copies to temp folders itself, and every
    worker restores the chief's backup (so with several hosts the run folder must be shared)."""
    backup = run_dir / "backup" / phase
    callbacks = [
        tf_keras.callbacks.BackupAndRestore(str(backup), save_freq=config.backup_every_steps or "epoch",
                                            delete_checkpoint=True),
        tf_keras.callbacks.TensorBoard(str(run_dir / "logs" / phase), write_graph=False, profile_batch=0),
        tf_keras.callbacks.CSVLogger(str((write_dir or run_dir) / f"history_{phase}.csv"), append=True),
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
    """Run the frozen backbone once over a dataset of (frames, label) batches; uint8 frames are
    converted inside the traced forward (``model_input``)."""
    from movinet_crossfit.core.progress import progress_bar

    forward = tf.function(lambda x: extractor(model_input(x), training=False), reduce_retracing=True)
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
    strategy = get_strategy(config.strategy)  # first: see get_strategy
    with (op_determinism() if config.deterministic else contextlib.nullcontext(),
          write_folder(strategy, Path(config.out)) as write_dir):
        result = _train(config, extra_callbacks, strategy, write_dir)
    result.run_dir = Path(config.out)  # a non-chief worker's own folder is gone; the chief's is the run
    return result


def _train(config: TrainConfig, extra_callbacks: tuple, strategy, write_dir: Path) -> TrainResult:
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
    distribution = describe_strategy(strategy, config.strategy, config.batch_size)
    tpu = config.strategy == "tpu"
    if config.cache_features is None:  # a TPU runs the backbone itself; its host CPU is no place for it
        config.cache_features = not tf.config.list_physical_devices("GPU") and not tpu

    run_dir = Path(config.out)  # backups and logs (see _callbacks); everything else goes to write_dir
    write_dir.mkdir(parents=True, exist_ok=True)
    write_config(write_dir, config)
    write_labels(write_dir / LABELS_FILE, config.classes)
    tf_keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:  # TPUs compute in bfloat16
        tf_keras.mixed_precision.set_global_policy("mixed_bfloat16" if tpu else "mixed_float16")
    started = time.perf_counter()
    summary: dict = {"classes": config.classes, "train_clips": splits["train"]["clips"],
                     "validation_split": config.validation_split, "validation": validation,
                     "validation_clips": splits[config.validation_split]["clips"], "seed": config.seed,
                     "deterministic": config.deterministic, "causal": config.causal}
    if fetched is not None:
        summary["pretrained"] = fetched.to_dict()

    summary["arch"] = config.arch
    summary["strategy"] = distribution
    if distribution["replicas"] > 1 or config.strategy != "default":
        logger.info("%s: %d replicas, global batch %d (%d per replica)%s", config.strategy, distribution["replicas"],
                    config.batch_size, distribution["per_replica_batch"],
                    "" if distribution["writes_run_folder"] else f"; {distribution['task']} leaves the run folder "
                                                                  "to the chief")
    workers = distribution["workers"]
    files = {name: len(entry.get("shards") or []) for name, entry in splits.items()}
    if workers > 1 and files["train"] < workers and not config.cache_features:
        logger.warning("%d train shard file(s) for %d workers: every worker reads every record and keeps its part "
                       "of each global batch; with at least one shard per worker each reads only its own (build the "
                       "records with a smaller RecordsConfig.clips_per_shard)", files["train"], workers)
    one_hot = _one_hot(num_classes)
    # A TPU compiles for one batch shape: the last, partial batch of an epoch is left out there.
    drop = {"drop_remainder": tpu}
    best = BestCheckpoint(None, write_dir / BEST)
    history: dict = {}
    from movinet_crossfit.movinet.architectures import is_classic

    if is_classic(config.arch):
        classifier = _train_classic(config, strategy, splits, one_hot, best, history, summary, extra_callbacks,
                                    write_dir)
        return _finish(config, write_dir, classifier, best, history, summary, started)
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
        steps = _steps(splits["train"]["clips"], config.batch_size, tpu)
        if config.cache_features:
            t0 = time.perf_counter()
            extractor = build_backbone_features(classifier)
            train_x, train_y = compute_features(
                extractor, load_dataset(config.records, "train", config.batch_size, shuffle=False, uint8=True),
                "backbone features (train)")
            val_x, val_y = compute_features(
                extractor, load_dataset(config.records, config.validation_split, config.batch_size, shuffle=False,
                                        uint8=True),
                f"backbone features ({config.validation_split})")
            summary["feature_cache_seconds"] = round(time.perf_counter() - t0, 2)
            summary.setdefault("frames_read", {})["features"] = "uint8"
            train_ds = (tf.data.Dataset.from_tensor_slices((train_x, train_y))
                        .shuffle(len(train_x), seed=config.seed).batch(config.batch_size, **drop).map(one_hot))
            val_ds = tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(config.batch_size, **drop).map(one_hot)
            with strategy.scope():
                fit_model = build_head(classifier)
        else:
            train_ds, val_ds = records_datasets(config, one_hot, tpu, summary)
            with strategy.scope():
                from movinet_crossfit.movinet.model import backbone_of

                backbone_of(classifier).trainable = False
                fit_model = Uint8Frames(classifier)
        with strategy.scope():
            fit_model.compile(optimizer=make_optimizer(config.learning_rate, steps * head_epochs, config.optimizer),
                              loss=make_loss(config.label_smoothing), metrics=["accuracy"])
        # The feature cache is in memory: no shard files.
        train_files, val_files = (0, 0) if config.cache_features else (files["train"], files[config.validation_split])
        train_ds = shard_for_workers(train_ds, train_files, workers)
        val_ds = shard_for_workers(val_ds, val_files, workers)
        t0 = time.perf_counter()
        fitted = fit_model.fit(train_ds, validation_data=val_ds, epochs=head_epochs,
                               callbacks=_callbacks(config, run_dir, classifier, "head", best, extra_callbacks,
                                                    write_dir), verbose=0)
        summary["head_seconds"] = round(time.perf_counter() - t0, 2)
        history["head"] = {k: [float(v) for v in values] for k, values in fitted.history.items()}

    if config.fine_tune != "none" and config.fine_tune_epochs:
        with strategy.scope():
            summary["fine_tune_trainable_variables"] = _set_fine_tune_trainable(
                classifier, config.fine_tune, config.fine_tune_blocks)
            steps = _steps(splits["train"]["clips"], config.batch_size, tpu)
            fit_model = Uint8Frames(classifier)
            fit_model.compile(optimizer=make_optimizer(config.fine_tune_learning_rate, steps * config.fine_tune_epochs,
                                                       config.optimizer),
                              loss=make_loss(config.label_smoothing), metrics=["accuracy"])
        train_ds, val_ds = records_datasets(config, one_hot, tpu, summary)
        train_ds = shard_for_workers(train_ds, files["train"], workers)
        val_ds = shard_for_workers(val_ds, files[config.validation_split], workers)
        t0 = time.perf_counter()
        fitted = fit_model.fit(train_ds, validation_data=val_ds, epochs=config.fine_tune_epochs,
                               callbacks=_callbacks(config, run_dir, classifier, "fine_tune", best, extra_callbacks,
                                                    write_dir), verbose=0)
        summary["fine_tune_seconds"] = round(time.perf_counter() - t0, 2)
        history["fine_tune"] = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    return _finish(config, write_dir, classifier, best, history, summary, started)


def records_datasets(config: TrainConfig, one_hot, drop_remainder: bool, summary: dict):
    """``(train, validation)`` batches of ``(frames, one-hot labels)`` for a fit of ``Uint8Frames``.

    Frames are read as uint8 and converted in the step, except where augmentation (float32 per clip)
    makes them float already, and on a TPU, where uint8 input has not been tried: float32 there, as
    before. ``summary["frames_read"]`` records which."""
    from movinet_crossfit.data.records import load_dataset

    uint8 = config.strategy != "tpu"
    train_uint8 = uint8 and not config.augment
    train_ds = load_dataset(config.records, "train", config.batch_size, augment=config.augment, seed=config.seed,
                            drop_remainder=drop_remainder, uint8=train_uint8).map(one_hot)
    val_ds = load_dataset(config.records, config.validation_split, config.batch_size, drop_remainder=drop_remainder,
                          uint8=uint8).map(one_hot)
    summary.setdefault("frames_read", {}).update(train="uint8" if train_uint8 else "float32",
                                                 validation="uint8" if uint8 else "float32")
    return train_ds, val_ds


def _steps(clips: int, batch_size: int, drop_remainder: bool) -> int:
    """Optimizer steps per epoch: global batches, the partial one counted unless it is dropped."""
    return max(1, clips // batch_size) if drop_remainder else -(-clips // batch_size)


def _train_classic(config: TrainConfig, strategy, splits: dict, one_hot, best: BestCheckpoint, history: dict,
                   summary: dict, extra_callbacks: tuple, write_dir: Path):
    """A classic arch (architectures.py): every layer trains for ``epochs``, on augmented clips."""
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
    drop = config.strategy == "tpu"  # one batch shape on a TPU (see _train)
    steps = _steps(splits["train"]["clips"], config.batch_size, drop)
    train_ds, val_ds = records_datasets(config, one_hot, drop, summary)
    workers = summary["strategy"]["workers"]
    train_ds = shard_for_workers(train_ds, len(splits["train"].get("shards") or []), workers)
    val_ds = shard_for_workers(val_ds, len(splits[config.validation_split].get("shards") or []), workers)
    with strategy.scope():
        fit_model = Uint8Frames(classifier)
        fit_model.compile(optimizer=make_optimizer(config.learning_rate, steps * config.epochs, config.optimizer),
                          loss=make_loss(config.label_smoothing), metrics=["accuracy"])
    t0 = time.perf_counter()
    fitted = fit_model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                           callbacks=_callbacks(config, Path(config.out), classifier, "train", best, extra_callbacks,
                                                write_dir), verbose=0)
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
    distribution = result.summary.get("strategy") or {}
    if distribution.get("writes_run_folder") is False:
        caution += f" (written by the chief; this was {distribution.get('task')} of {distribution.get('workers')})"
    return _describe(result) + caution


def _describe(result: TrainResult) -> str:
    if not result.config.select_best:
        final = result.summary.get("final_val_accuracy")
        return (f"trained in {result.seconds:.0f} s; last-epoch {result.config.validation_split} accuracy "
                f"{'n/a' if final is None else f'{final:.3f}'} (best/ = last epoch, none chosen) -> {result.run_dir}")
    score = "n/a" if result.best_score is None else f"{result.best_score:.3f}"
    return (f"trained in {result.seconds:.0f} s; best {result.config.validation_split} accuracy {score} "
            f"(epoch {None if result.best_epoch is None else result.best_epoch + 1}) -> {result.run_dir}")
