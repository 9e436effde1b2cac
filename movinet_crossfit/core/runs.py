"""A training run's folder: what ``train`` writes and what ``evaluate`` / ``export`` read.

```
runs/NAME/
  config.yaml          the resolved TrainConfig (model id, frames, size, recipe, weights source)
  labels.txt           class names, one per line, in output order
  best/                tf.train.Checkpoint(model=classifier) of the best validation epoch
  final/               the same, after the last epoch
  backup/              BackupAndRestore state while training runs (removed when it ends)
  logs/                TensorBoard
  history.csv          per-epoch metrics
  train_summary.json   what happened: epochs, best score, timings, feature-cache use
```
Checkpoints are the official layout (``tf.train.Checkpoint(model=...)``), so ``load_pretrained``
could read a run's checkpoint as it reads the Kinetics ones.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_text_atomic

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.txt"
BEST = "best"
FINAL = "final"


def write_labels(path: str | os.PathLike, classes: list[str]) -> None:
    write_text_atomic(path, "".join(f"{c}\n" for c in classes))


def read_labels(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: labels file not found")
    labels = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not labels:
        raise UserError(f"{path}: no labels in it")
    return labels


def read_run_config(run_dir: str | os.PathLike) -> dict:
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{run_dir}: not a training run (no {CONFIG_FILE}); train one with "
                        f"`movinet-crossfit train --records DIR --out {run_dir}`")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def checkpoint_prefix(run_dir: str | os.PathLike, which: str = BEST) -> str:
    """The newest checkpoint prefix in ``run_dir/which`` (falls back to ``final``)."""
    import tensorflow as tf

    run_dir = Path(run_dir)
    for name in (which, FINAL) if which != FINAL else (FINAL,):
        prefix = tf.train.latest_checkpoint(str(run_dir / name))
        if prefix:
            return prefix
    raise UserError(f"{run_dir}: no checkpoint in {which}/ or {FINAL}/ (was the run finished?)")


def load_trained_classifier(run_dir: str | os.PathLike, *, which: str = BEST, fast: bool = True):
    """Rebuild a run's classifier and restore its weights, checking every variable matched.

    Returns ``(model, classes, config)``.
    """
    import tensorflow as tf

    from movinet_crossfit.movinet.model import build_classifier

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; train one with `movinet-crossfit train`")
    try:
        config = read_run_config(run_dir)
        classes = read_labels(run_dir / LABELS_FILE)
        model = build_classifier(config["model_id"], len(classes), config["num_frames"], config["size"],
                                 fast=fast, dropout_rate=config.get("dropout_rate", 0.5))
    except yaml.YAMLError as exc:
        raise UserError(f"{run_dir / CONFIG_FILE}: not valid YAML ({str(exc).splitlines()[0]}); "
                        "restore it from the training run") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{run_dir / CONFIG_FILE}: incomplete run config ({type(exc).__name__}: {exc}); "
                        "it needs model_id, num_frames and size") from exc
    model.build([None, config["num_frames"], config["size"], config["size"], 3])
    prefix = checkpoint_prefix(run_dir, which)
    try:
        # Every variable of the model must match; the optimizer's slots saved with it are not
        # needed to predict, so they are let go without a warning per slot.
        tf.train.Checkpoint(model=model).read(prefix).assert_existing_objects_matched().expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        raise UserError(f"{prefix}: does not fit a MoViNet-{config['model_id']} with {len(classes)} classes "
                        f"({str(exc).splitlines()[0][:300]})") from exc
    except (IndexError, RuntimeError, OSError) as exc:
        # A truncated checkpoint reads as "IndexError: Read less bytes than requested".
        raise UserError(f"{prefix}: checkpoint is damaged or truncated ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); copy the run again") from exc
    return model, classes, config
