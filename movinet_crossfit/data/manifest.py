"""``manifest.json``: the validated list of labelled clips, the contract between stages.

``{"version": 1, "classes": [...], "clips": [ClipEntry, ...]}``. Frame ranges are half-open
(``end_frame`` exclusive); Supervisely's inclusive ``frameRange`` is converted exactly once, in
``annotations.py``. Paths are stored relative to the manifest's folder.

Clip ids and labels become file names (``split`` writes ``<label>/<id>.mp4``), so both must be
plain names (``check_name``): a manifest cannot make a stage write outside its output folder.
Every label is one of ``classes``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_json_atomic

MANIFEST_VERSION = 1
# Room for ".<id>.mp4.part-<pid>" within the usual 255-byte limit of a file name.
MAX_NAME_BYTES = 200
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")


def check_name(value: str, what: str) -> str:
    """``value`` if it is safe as one file or folder name, else ``ValueError`` naming ``what``.

    Refused: empty, a path separator (``/`` or ``\\``), a NUL or other control character, a
    leading ``.`` (``..`` climbs out of the folder; hidden names are skipped by folder readers and
    look like temp files), and names longer than ``MAX_NAME_BYTES`` bytes.
    """
    if not value:
        raise ValueError(f"{what} is empty")
    if _UNSAFE.search(value):
        raise ValueError(f"{what} {value!r} holds a path separator or a control character; "
                         "ids and labels become file names")
    if value.startswith("."):
        raise ValueError(f"{what} {value!r} starts with '.'; ids and labels become file names, "
                         "and '..' or a hidden name would leave or hide in the output folder")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"{what} {value[:40]!r}... is longer than {MAX_NAME_BYTES} bytes")
    return value


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
        check_name(self.id, "clip id")
        check_name(self.label, f"clip {self.id}: label")
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

    @model_validator(mode="after")
    def _labels_are_classes(self) -> "Manifest":
        for name in self.classes:
            check_name(name, "class")
        known = set(self.classes)
        for clip in self.clips:
            if clip.label not in known:
                raise ValueError(f"clip {clip.id}: label {clip.label!r} is not one of the classes "
                                 f"{self.classes}; fix the label or add it to classes")
        return self

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
            raise UserError(f"{path}: not a valid manifest: {_first_problem(exc)}") from exc


def _first_problem(exc: ValidationError) -> str:
    """One line: where the first problem is and what it is, and how many more there are."""
    errors = exc.errors()
    first = errors[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    message = first["msg"].removeprefix("Value error, ")
    extra = len(errors) - 1
    more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
    return f"{where + ': ' if where else ''}{message}{more}"


def clip_id(video: str, start_frame: int, end_frame: int, label: str) -> str:
    """A stable, readable id: label, a short hash of the source video, and the frame range."""
    digest = hashlib.sha1(video.encode("utf-8")).hexdigest()[:8]
    return f"{label}-{digest}-{start_frame:06d}-{end_frame:06d}"
