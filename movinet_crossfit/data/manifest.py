"""``manifest.json``: the validated list of labelled clips, the contract between stages.

``{"version": 1, "classes": [...], "clips": [ClipEntry, ...]}``. Frame ranges are half-open
(``end_frame`` exclusive); Supervisely's inclusive ``frameRange`` is converted exactly once, in
``annotations.py``. Paths are stored relative to the manifest's folder.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_json_atomic

MANIFEST_VERSION = 1


class ClipEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    video: str = Field(description="source video, relative to the manifest's folder")
    label: str
    start_frame: int = Field(ge=0)
    end_frame: int = Field(gt=0, description="exclusive")
    fps: Optional[float] = Field(default=None, gt=0)
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    group: str = Field(description="clips of one group never straddle train/test")
    count: Optional[int] = Field(default=None, ge=0, description="repetitions in the clip")
    source: Optional[str] = None

    @model_validator(mode="after")
    def _range_not_empty(self) -> "ClipEntry":
        if self.end_frame <= self.start_frame:
            raise ValueError(f"clip {self.id}: empty or inverted range "
                             f"[{self.start_frame}, {self.end_frame})")
        return self

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame

    def clip_filename(self) -> str:
        """Where ``split`` writes this clip, relative to the clips folder."""
        return f"{self.label}/{self.id}.mp4"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = MANIFEST_VERSION
    classes: list[str]
    clips: list[ClipEntry]

    def save(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Manifest":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: manifest not found; build one with `movinet-crossfit manifest EXPORT -o {path}`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not valid JSON ({exc})") from exc
        if isinstance(data, list):
            raise UserError(f"{path}: this is the original tool's list-shaped manifest; rebuild it from the "
                            "Supervisely export with `movinet-crossfit manifest`")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise UserError(f"{path}: not a valid manifest:\n{exc}") from exc


def clip_id(video: str, start_frame: int, end_frame: int, label: str) -> str:
    """A stable, readable id: label, a short hash of the source video, and the frame range."""
    digest = hashlib.sha1(video.encode("utf-8")).hexdigest()[:8]
    return f"{label}-{digest}-{start_frame:06d}-{end_frame:06d}"
