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
