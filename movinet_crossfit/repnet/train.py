"""Train RepNet on synthetic repetitions made from real clips.

Losses, as in the paper (section 3.3): softmax cross-entropy over the period classes and binary
cross-entropy on periodicity, summed (``periodicity_weight`` scales the second), plus the model's
L2 terms. The period loss is taken on **all** frames by default: frames outside a repetition
carry period class 0, which for both variants is a period under the 3 frames below which the
counter gives no confidence, so the period head learns to say "no period" there too and the
counter's score sqrt(periodicity x period confidence) is low outside repetitions from both
heads. ``period_loss_frames="periodic"`` takes it on repeating frames only (class 0 ignored).

``train_counter(clips, out_dir, config)`` runs a custom loop (one ``tf.function`` step) and
writes, in ``out_dir``::

    config.yaml            the resolved config (generator settings included) and the sources
    checkpoints/ckpt-N.*   full training state (model, optimizer, step) every ``checkpoint_every``;
                           a re-run resumes from the latest, on the same sample sequence
    weights/ckpt-N.*       the model alone, ``tf.train.Checkpoint(model=model)`` as the official
                           files: ``--weights OUT/weights`` for ``count`` and ``eval-counter``;
                           ``weights/repnet.json`` says the image size it was trained at
    history.csv            step, losses, accuracies, learning rate, seconds per step
    logs/                  TensorBoard scalars
    train_summary.json     what was run, how long, from which weights, unreadable clips

The full recipe (paper, section 5; from memory, not checkable offline): ImageNet ResNet-50
trunk, Adam at a constant 6e-6, batch 5 videos of 64 frames at 112 px, 400k steps on synthetic
repetitions (plus Countix fine-tuning). ``CounterTrainConfig()`` is that recipe;
``CounterTrainConfig.small_cpu()`` is a few-second configuration for tests and smoke runs.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence


from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_json_atomic, write_text_atomic
from movinet_crossfit.core.progress import BatchReport, progress_bar
from movinet_crossfit.core.runs import HISTORY_FILE, SHAPE_FILE, SUMMARY_FILE, write_config
from movinet_crossfit.repnet.config import CounterTrainConfig

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("step", "loss", "period_loss", "periodicity_loss", "regularization", "period_accuracy",
                   "periodicity_accuracy", "learning_rate", "seconds_per_step")


def repnet_losses(period_logits, periodicity_logits, period_class, periodicity, *,
                  period_loss_frames: str = "all", periodicity_weight: float = 1.0) -> dict:
    """Per-batch losses and accuracies (tensors) from the model's logits and the sample labels.

    ``period_logits [B, T, P]``, ``periodicity_logits [B, T, 1]`` (or ``[B, T]``), ``period_class
    [B, T]`` int, ``periodicity [B, T]`` in {0, 1}. See the module docstring for the frames the
    period loss covers."""
    import tensorflow as tf

    period_class = tf.cast(period_class, tf.int32)
    periodicity = tf.cast(periodicity, tf.float32)
    logits = tf.reshape(periodicity_logits, tf.shape(periodicity))
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=period_class, logits=period_logits)
    weights = periodicity if period_loss_frames == "periodic" else tf.ones_like(periodicity)
    denominator = tf.maximum(tf.reduce_sum(weights), 1.0)
    period_loss = tf.reduce_sum(ce * weights) / denominator
    periodicity_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=periodicity, logits=logits))
    correct = tf.cast(tf.equal(tf.argmax(period_logits, -1, output_type=tf.int32), period_class), tf.float32)
    on_periodic = tf.reduce_sum(correct * periodicity) / tf.maximum(tf.reduce_sum(periodicity), 1.0)
    periodicity_accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), periodicity), tf.float32))
    return {"loss": period_loss + periodicity_weight * periodicity_loss, "period_loss": period_loss,
            "periodicity_loss": periodicity_loss, "period_accuracy": on_periodic,
            "periodicity_accuracy": periodicity_accuracy}


def make_train_step(model, optimizer, config: CounterTrainConfig):
    """A step ``step(batch) -> dict of scalars`` on a batch of ``repetition_dataset``; traced
    with ``tf.function`` unless ``config.run_eagerly``."""
    import tensorflow as tf

    from movinet_crossfit.repnet.infer import scale_for_repnet

    def step(batch):
        with tf.GradientTape() as tape:
            period, periodicity, _ = model(scale_for_repnet(batch["frames"]), training=True)
            out = repnet_losses(period, periodicity, batch["period_class"], batch["periodicity"],
                                period_loss_frames=config.period_loss_frames,
                                periodicity_weight=config.periodicity_weight)
            regularization = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
            total = out["loss"] + regularization
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        out["regularization"] = regularization
        return out

    return step if config.run_eagerly else tf.function(step)


# --- the run --------------------------------------------------------------------------------------

@dataclass
class CounterTrainResult:
    out_dir: Path
    weights_dir: Path
    model: object
    history: list
    steps: int  # the step reached
    resumed_from: int
    seconds: float
    report: BatchReport
    config: CounterTrainConfig


def training_sources(clips: Sequence[str | os.PathLike]) -> list:
    """``ClipSource`` list from clip files, folders, counting manifests (their items' ranges) or
    clip manifests."""
    from movinet_crossfit.repnet.data import ClipSource, clip_sources

    plain, out = [], []
    for entry in clips:
        path = Path(entry)
        if path.is_file() and path.suffix.lower() == ".json":
            from movinet_crossfit.data.counting_manifest import load_counting_items

            for item in load_counting_items(path):
                out.append(ClipSource(item.video, item.start_frame, item.end_frame, item.start_time, item.end_time))
        else:
            plain.append(entry)
    out += clip_sources(plain) if plain else []
    if not out:
        raise UserError("no training clips given (files, folders of *.mp4, or a counting manifest)")
    return out


def load_backbone_weights(model, h5_path: str | os.PathLike) -> None:
    """Keras ResNet50V2 ImageNet weights (``..._notop.h5``) into the trunk, by layer name; every
    trunk layer with weights must be found."""
    import h5py

    path = Path(h5_path)
    if not path.is_file():
        raise UserError(f"{path}: backbone weights not found; the Keras file is "
                        "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5 (keras.io applications)")
    with h5py.File(path, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        stored = {name.decode() if isinstance(name, bytes) else name for name in group.attrs.get("layer_names", [])}
    wanted = {layer.name for layer in model.base_model.layers if layer.weights}
    missing = sorted(wanted - stored)
    if missing:
        raise UserError(f"{path}: not a ResNet50V2 weights file for this trunk; missing layers "
                        f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    model.base_model.load_weights(str(path), by_name=True)


def model_weights_manager(model, directory: str | os.PathLike):
    """Saves ``tf.train.Checkpoint(model=model)`` as ``directory/ckpt-<step>`` with its
    ``checkpoint`` file, keeping only the newest: the official files' layout (``save``, not
    ``write``: the official checkpoints carry ``save_counter`` and ``load_repnet`` expects it)."""
    import tensorflow as tf

    return tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(directory), max_to_keep=1,
                                      checkpoint_name="ckpt")


def _read_history(path: Path, up_to: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle) if float(row["step"]) <= up_to]


def _write_history(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (int(row[k]) if k == "step" else f"{row[k]:.6g}") for k in HISTORY_COLUMNS})
    write_text_atomic(path, buffer.getvalue())


def train_counter(clips: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                  config: CounterTrainConfig = CounterTrainConfig()) -> CounterTrainResult:
    """Train (or resume training) a RepNet on synthetic repetitions made from ``clips``."""
    config.validate()
    sources = training_sources(clips)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, config, sources=[s.name for s in sources])

    import tensorflow as tf
    import tf_keras

    from movinet_crossfit.repnet.model import build_repnet, restore_weights
    from movinet_crossfit.repnet.data import repetition_dataset

    started = time.perf_counter()
    tf_keras.utils.set_random_seed(config.seed)
    model = build_repnet(config.variant, num_frames=config.num_frames, image_size=config.image_size)
    optimizer = tf_keras.optimizers.Adam(config.learning_rate)
    step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    state = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_var)
    manager = tf.train.CheckpointManager(state, str(out / "checkpoints"), max_to_keep=config.keep_checkpoints,
                                         checkpoint_name="ckpt")
    start_from = "random weights (--from-scratch)"
    if manager.latest_checkpoint:
        try:
            state.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as exc:
            raise UserError(f"{manager.latest_checkpoint}: this run folder holds a run of another shape "
                            f"({str(exc).splitlines()[0][:200]}); resume with its config.yaml or use a new --out"
                            ) from exc
        start_from = f"resumed {manager.latest_checkpoint}"
    elif config.weights:
        start_from = f"RepNet weights {restore_weights(model, config.weights)}"
    elif config.backbone_weights:
        load_backbone_weights(model, config.backbone_weights)
        start_from = f"ImageNet trunk {config.backbone_weights}"
    resumed = int(step_var.numpy())
    if not config.train_backbone:
        model.base_model.trainable = False

    report = BatchReport("train-counter sources")
    dataset = repetition_dataset(sources, config.repetition_config(), batch_size=config.batch_size,
                                 seed=config.seed, first_sample=resumed * config.batch_size,
                                 cache_size=config.cache_clips, max_source_frames=config.max_source_frames,
                                 report=report)
    train_step = make_train_step(model, optimizer, config)
    history = _read_history(out / HISTORY_FILE, resumed)
    writer = tf.summary.create_file_writer(str(out / "logs"))
    weights_dir = out / "weights"
    weights = model_weights_manager(model, weights_dir)
    remaining = max(0, config.steps - resumed)
    logger.info("train-counter: %s clips, %s %sx%spx, batch %s, steps %s->%s, from %s", len(sources), config.variant,
                config.num_frames, config.image_size, config.batch_size, resumed, config.steps, start_from)
    last_time = time.perf_counter()
    with progress_bar(remaining, "training RepNet") as advance, writer.as_default():
        for batch in dataset.take(remaining):
            values = train_step(batch)
            step = int(step_var.assign_add(1).numpy())
            advance(1)
            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                logged = history[-1]["step"] if history else resumed
                row = {k: float(v.numpy()) for k, v in values.items()}
                row.update(step=step, learning_rate=float(config.learning_rate),
                           seconds_per_step=(now - last_time) / max(1, step - logged))
                last_time = now
                history.append(row)
                for key in HISTORY_COLUMNS[1:]:
                    tf.summary.scalar(key, row[key], step=step)
                _write_history(out / HISTORY_FILE, history)
            if step % config.checkpoint_every == 0 or step == config.steps:
                manager.save(checkpoint_number=step)
                weights.save(checkpoint_number=step)
    writer.flush()
    final_step = int(step_var.numpy())
    if weights.latest_checkpoint is None:  # nothing was left to train: still leave the weights
        weights.save(checkpoint_number=final_step)
    # The checkpoint holds the frame count but not the image size it was trained at: say it, in
    # the export's format, so eval-counter (and anything else reading it) builds the same model.
    write_json_atomic(weights_dir / SHAPE_FILE, {**asdict(model.config), "period_offset": model.config.period_offset})
    seconds = time.perf_counter() - started
    write_json_atomic(out / SUMMARY_FILE, {
        "steps": final_step, "resumed_from": resumed, "start": start_from, "seconds": round(seconds, 2),
        "sources": len(sources), "unreadable_sources": report.to_dict()["failed"],
        "last": history[-1] if history else None, "weights": str(weights_dir)})
    if report.failed:
        report.log(logger)
    return CounterTrainResult(out, weights_dir, model, history, final_step, resumed, seconds, report, config)


def describe(result: CounterTrainResult) -> str:
    last = result.history[-1] if result.history else {}
    losses = (f"loss {last['loss']:.3f} (period {last['period_loss']:.3f}, periodicity "
              f"{last['periodicity_loss']:.3f})" if last else "no step run")
    return (f"RepNet trained to step {result.steps} in {result.seconds:.0f} s, {losses}; "
            f"weights -> [bold]{result.weights_dir}[/bold] (--weights for count / eval-counter)")
