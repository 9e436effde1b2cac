"""Shared fixtures. Real data comes from ../shared/data (override: MOVINET_CROSSFIT_SHARED_DATA)."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

import movinet_crossfit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any TensorFlow import)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@contextlib.contextmanager
def interruptible_children():
    """Children started inside get Ctrl-C (SIGINT) as a terminal gives it. A suite started in the
    background by a non-interactive shell (``nohup pytest &``) runs with SIGINT ignored, children
    inherit that, and Python then installs no KeyboardInterrupt handler: a Ctrl-C test would see
    its tool run to the end. A Python handler here becomes the default in the child at exec."""
    import signal

    old = signal.getsignal(signal.SIGINT)
    if old is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if old is signal.SIG_IGN:
            signal.signal(signal.SIGINT, old)


def pytest_runtest_logfinish(nodeid, location):
    """``MOVINET_CROSSFIT_TEST_MEMORY=FILE``: one line per test, its resident memory after it and
    the peak so far (MB), to find which tests hold memory in a run of the whole suite (one process
    for everything peaked near the machine's 24 GiB, hence scripts/test.sh's groups: README, "Development")."""
    path = os.environ.get("MOVINET_CROSSFIT_TEST_MEMORY")
    if not path:
        return
    import resource

    with open("/proc/self/statm", encoding="ascii") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{rss:.0f}\t{peak:.0f}\t{nodeid}\n")


def _shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set MOVINET_CROSSFIT_SHARED_DATA); CI always has it")
    return path


@pytest.fixture(scope="session")
def cfmove_annotations() -> Path:
    return _shared("cfmove", "annotations")


@pytest.fixture(scope="session")
def cfmove_clips() -> Path:
    return _shared("cfmove", "clips")


@pytest.fixture(scope="session")
def countix_dir() -> Path:
    return _shared("countix")


# --- a small generated corpus run through manifest -> split -> records, shared by the tests ----

PIPELINE_CLASSES = ("thruster", "chest-to-bar", "double-unders", "deadlift")


@pytest.fixture(scope="session")
def generated_pipeline(tmp_path_factory):
    """A generated Supervisely export (4 classes x 6 segments) taken through every corpus stage."""
    from movinet_crossfit.data.annotations import write_manifest
    from movinet_crossfit.data.clips import split_clips
    from movinet_crossfit.data.records import RecordsConfig, write_records
    from movinet_crossfit.synthetic import generate_corpus

    root = tmp_path_factory.mktemp("pipeline")
    summary = generate_corpus(root / "corpus", classes=PIPELINE_CLASSES, clips_per_class=6, seed=7,
                              size=(160, 120))
    manifest, manifest_report = write_manifest([root / "corpus"], root / "manifest.json")
    split_report = split_clips(root / "manifest.json", root / "clips")
    records = write_records(root / "records", clips_dir=root / "clips", manifest=root / "manifest.json",
                            config=RecordsConfig(num_frames=8, size=64, seed=3))
    return {"root": root, "summary": summary, "manifest": manifest, "manifest_report": manifest_report,
            "split_report": split_report, "records": records}


# ---------------------------------------------------------------------------------------------
# A tiny trained run, its records and its export: shared by test_export.py and test_predict.py.
# Building and tracing even a tiny MoViNet costs tens of seconds, so each is made once a session.

TINY_FRAMES, TINY_SIZE = 4, 32
TINY_CLASSES = ["chest-to-bar", "thruster", "burpee"]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """runs/NAME as `train` leaves it: config.yaml, labels.txt, best/ checkpoint (seeded a0 weights)."""
    import tensorflow as tf
    import tf_keras
    import yaml

    from movinet_crossfit.movinet.model import build_classifier
    from movinet_crossfit.core.runs import write_labels

    run = tmp_path_factory.mktemp("tiny") / "run"
    tf_keras.utils.set_random_seed(0)
    model = build_classifier("a0", len(TINY_CLASSES), TINY_FRAMES, TINY_SIZE)
    model.build([None, TINY_FRAMES, TINY_SIZE, TINY_SIZE, 3])
    (run / "best").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"model_id": "a0", "num_frames": TINY_FRAMES, "size": TINY_SIZE, "dropout_rate": 0.5}))
    write_labels(run / "labels.txt", TINY_CLASSES)
    # save() (not write()) also writes the `checkpoint` state file tf.train.latest_checkpoint reads.
    tf.train.Checkpoint(model=model).save(str(run / "best" / "ckpt"))
    return run


@pytest.fixture(scope="session")
def tiny_records(tmp_path_factory, cfmove_clips) -> Path:
    """TFRecords at the tiny run's frames/size from 8 real clips of each cfmove class."""
    import shutil

    from movinet_crossfit.data.records import RecordsConfig, write_records

    base = tmp_path_factory.mktemp("tiny_records")
    clips = base / "clips"
    for label_dir in sorted(p for p in cfmove_clips.iterdir() if p.is_dir()):
        (clips / label_dir.name).mkdir(parents=True)
        for path in sorted(label_dir.glob("*.mp4"))[:8]:
            shutil.copy(path, clips / label_dir.name / path.name)
    write_records(base / "records", clips_dir=clips,
                  config=RecordsConfig(num_frames=TINY_FRAMES, size=TINY_SIZE))
    return base / "records"


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tiny_records, tmp_path_factory):
    """Every format of the tiny run, exported once: ``(out_dir, ExportReport)``."""
    from movinet_crossfit.movinet.export import export_run

    out = tmp_path_factory.mktemp("tiny_export") / "export"
    report = export_run(tiny_run, out, records_dir=tiny_records, calibration_clips=100)
    return out, report
