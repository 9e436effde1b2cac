"""A training run's folder: what the ``train*`` commands write and what ``evaluate`` / ``export`` read.

Every family writes ``config.yaml`` (its resolved ``TrainingConfig``, ``write_config``); the
classifiers write their class names in ``labels.txt``; the rest depends on the model::

    MoViNet (train)            best/, final/   tf.train.Checkpoint(model=classifier): best
                                               validation epoch, last epoch
    RepNet (train-counter)     weights/        tf.train.Checkpoint(model=repnet) + repnet.json
                               checkpoints/    the full training state, to resume
    keypoints (train-poses)    model.weights.h5
    all                        history.csv, train_summary.json, logs/ (TensorBoard)

A checkpoint folder is read with ``find_checkpoint``: the prefix its ``checkpoint`` state file
names, else its one ``*.index``. The checkpoints are the official layout
(``tf.train.Checkpoint(model=...)``), so a run's checkpoint reads as the published ones do.
"""
from __future__ import annotations

import os
from pathlib import Path

from movinet_crossfit.core.config import RELATIVE_TO_KEY, TrainingConfig, config_to_yaml, read_yaml
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_text_atomic

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.txt"
BEST = "best"
FINAL = "final"
WEIGHTS_FILE = "model.weights.h5"  # a Keras model's weights (keypoint runs)
SHAPE_FILE = "repnet.json"  # beside RepNet weights or an export: variant, num_frames, image_size
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "train_summary.json"


# --- config and labels ----------------------------------------------------------------------------

def write_config(run_dir: str | os.PathLike, config: TrainingConfig, **extra) -> Path:
    """``run_dir/config.yaml``: the resolved config, then ``extra`` (what the run adds to it).

    Path fields are written relative to the run (``config_to_yaml``), so the run folder can move
    with its records and still evaluate and export."""
    path = Path(run_dir) / CONFIG_FILE
    write_text_atomic(path, config_to_yaml(config, relative_to=run_dir, **extra))
    return path


def read_run_config(run_dir: str | os.PathLike) -> dict:
    """The run's ``config.yaml`` as written (a plain mapping)."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{run_dir}: not a training run (no {CONFIG_FILE}); train one with "
                        f"`movinet-crossfit train --records DIR --out {run_dir}`")
    data = read_yaml(path, fix="restore it from the training run")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of option: value; restore it from the training run")
    return data


def run_records(run_dir: str | os.PathLike, records: str | os.PathLike | None = None, *,
                missing_ok: bool = False) -> Path | None:
    """The records folder a run evaluates or exports with: ``records`` when given, else the one its
    ``config.yaml`` names: relative to the run (moved with it), else where it was when the run was
    written (the run moved alone). Runs written before paths were relative to the run: as written
    (absolute, or relative to the working folder), else relative to the run. None when the run
    names none (or, with ``missing_ok``, when the folder it names is gone)."""
    if records is not None:
        path = Path(records)
        if not path.is_dir():
            raise UserError(f"{path}: no such records folder; build it with `movinet-crossfit records`")
        return path
    config = read_run_config(run_dir)
    named = config.get("records")
    if not named:
        return None
    written_in = config.get(RELATIVE_TO_KEY)
    candidates = ((Path(run_dir) / named, Path(written_in) / named) if written_in
                  else (Path(named), Path(run_dir) / named))
    for candidate in candidates:
        if candidate.is_dir():
            return Path(os.path.normpath(candidate))  # runs/a/../../tfrecords -> tfrecords
    if missing_ok:
        return None
    looked = " nor ".join(str(c) for c in dict.fromkeys(candidates))
    raise UserError(f"{Path(run_dir) / CONFIG_FILE}: its records folder {named} is gone (no {looked}); "
                    "pass --records DIR (the TFRecords the run was trained on)")


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


# --- checkpoints ----------------------------------------------------------------------------------

def find_checkpoint(path: str | os.PathLike, *, expected: str = "TensorFlow checkpoint", hint: str = "",
                    recursive: bool = False, error: type[UserError] = UserError) -> str:
    """The checkpoint prefix ``path`` stands for: a prefix, an ``.index`` file, or a folder (the
    prefix its ``checkpoint`` state file names, else its one ``*.index``; in subfolders too when
    ``recursive``). Anything else raises ``error``: no ``expected`` there, then ``hint`` (where to get one).

    Checkpoints written with ``save()`` / a ``CheckpointManager`` (``ckpt-N`` and a state file) and
    with ``write()`` (a bare prefix) are both found."""
    path = Path(path)
    text = str(path)
    tail = f"; {hint}" if hint else ""
    if text.endswith(".index") and path.is_file():
        return text[: -len(".index")]
    if Path(text + ".index").is_file():
        return text
    if not path.is_dir():
        raise error(f"{path}: no such checkpoint (looked for {path}.index and a folder holding one){tail}")
    prefixes = _prefixes_in(path, recursive)
    if len(prefixes) == 1:
        return prefixes[0]
    if prefixes:
        raise error(f"{path}: holds {len(prefixes)} checkpoints and no 'checkpoint' file naming the latest; "
                    f"pass one prefix, e.g. {prefixes[-1]}")
    raise error(f"{path}: no {expected} here (no 'checkpoint' file, no *.index){tail}")


def _prefixes_in(folder: Path, recursive: bool = False) -> list[str]:
    """The prefix the folder's ``checkpoint`` state file names, else every ``*.index`` prefix."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(folder))
    if latest and Path(latest + ".index").is_file():
        return [latest]
    found = folder.rglob("*.index") if recursive else folder.glob("*.index")
    return sorted({str(p)[: -len(".index")] for p in found})


def checkpoint_prefix(run_dir: str | os.PathLike, which: str = BEST) -> str:
    """The checkpoint prefix in ``run_dir/which`` (falls back to ``final``)."""
    run_dir = Path(run_dir)
    for name in (which, FINAL) if which != FINAL else (FINAL,):
        prefixes = _prefixes_in(run_dir / name) if (run_dir / name).is_dir() else []
        if len(prefixes) == 1:
            return prefixes[0]
    raise UserError(f"{run_dir}: no checkpoint in {which}/ or {FINAL}/ (was the run finished?)")
