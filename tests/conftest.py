"""Shared fixtures. Real data comes from ../shared/data (override: MOVINET_CROSSFIT_SHARED_DATA)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import movinet_crossfit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any TensorFlow import)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


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
    from movinet_crossfit.annotations import write_manifest
    from movinet_crossfit.clips import split_clips
    from movinet_crossfit.records import RecordsConfig, write_records
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
