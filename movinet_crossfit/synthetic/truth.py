"""``ground_truth.json``: what a generated corpus holds, declared once, written and read only here.

    {"version": 1, "generator": ..., "seed": 0, "dataset": "synthetic", "classes": [...],
     "clips_per_class": 20, "max_per_video": null, "fps": 30, "size": {"width": 320, "height": 240},
     "videos": {"synthetic-0000.mp4": {"fps", "size", "frames", "seed",
                                       "segments": [{"label", "start_frame", "end_frame", "count",
                                                     "rep_frames", "period", "faults"?}, ...],
                                       "video", "annotation", "keypoints"}, ...}}

Paths in a video's entry (``video``, ``annotation``, ``keypoints``) are relative to the folder
holding ``ground_truth.json`` (``GroundTruth.root``); a keypoints-only corpus
(``keypoints.data.write_keypoint_corpus``) has no ``video`` or ``annotation``. Segment frame
ranges are end-exclusive. ``faults`` (one per rep: null for a clean rep, else the id of the
standard the rep breaks, see ``synthetic.faults``) is there only when a rep of the segment is faulty.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_json_atomic

if TYPE_CHECKING:
    from movinet_crossfit.synthetic.timeline import SegmentTruth

GROUND_TRUTH_FILE = "ground_truth.json"
GROUND_TRUTH_VERSION = 1
_REQUIRED = ("seed", "dataset", "classes", "clips_per_class", "fps", "size", "videos")


def ground_truth_path(corpus: str | os.PathLike) -> Path:
    """A corpus folder -> its ``ground_truth.json``; a file path stays as it is."""
    path = Path(corpus)
    return path / GROUND_TRUTH_FILE if path.is_dir() else path


def is_corpus(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a generated corpus (holds a ``ground_truth.json``)."""
    return (Path(folder) / GROUND_TRUTH_FILE).is_file()


@dataclass
class GroundTruth:
    videos: dict[str, dict]            # video file name -> its entry (see the module docstring)
    fps: float
    size: tuple[int, int]              # (width, height)
    classes: list[str]
    seed: int
    dataset: str
    clips_per_class: int
    max_per_video: Optional[int] = None
    generator: str = "movinet_crossfit.synthetic"
    version: int = GROUND_TRUTH_VERSION
    path: Optional[Path] = field(default=None, compare=False)   # where it was read from or saved to

    @property
    def root(self) -> Path:
        """The folder the entries' relative paths start from."""
        if self.path is None:
            raise ValueError("this ground truth was neither loaded nor saved: it has no folder")
        return self.path.parent

    def segments(self, video: str) -> list[SegmentTruth]:
        """The segments of ``video`` (a key of ``videos``) as ``SegmentTruth`` (with ``rep_faults``)."""
        from movinet_crossfit.synthetic.timeline import SegmentTruth

        return [SegmentTruth.from_dict(seg) for seg in self.videos[video]["segments"]]

    def to_dict(self) -> dict:
        return {"version": self.version, "generator": self.generator, "seed": self.seed, "dataset": self.dataset,
                "classes": list(self.classes), "clips_per_class": self.clips_per_class,
                "max_per_video": self.max_per_video, "fps": self.fps,
                "size": {"width": self.size[0], "height": self.size[1]}, "videos": self.videos}

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``folder/ground_truth.json`` atomically."""
        self.path = Path(folder) / GROUND_TRUTH_FILE
        write_json_atomic(self.path, self.to_dict())
        return self.path

    @classmethod
    def load(cls, corpus: str | os.PathLike) -> "GroundTruth":
        """Read a corpus folder's ``ground_truth.json`` (or that file itself); a missing,
        unreadable or incomplete file is a ``UserError`` naming it."""
        path = ground_truth_path(corpus)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not a readable generated-corpus ground truth ({exc}); "
                            "generate a corpus with `movinet-crossfit demo` or synthetic.generate_corpus") from exc
        missing = [key for key in _REQUIRED if key not in data] if isinstance(data, dict) else list(_REQUIRED)
        if missing or not isinstance(data["videos"], dict):
            raise UserError(f"{path}: not a generated-corpus ground truth (no {', '.join(missing) or 'videos'})")
        size = data["size"]
        return cls(videos=data["videos"], fps=float(data["fps"]), size=(int(size["width"]), int(size["height"])),
                   classes=list(data["classes"]), seed=data["seed"], dataset=data["dataset"],
                   clips_per_class=data["clips_per_class"], max_per_video=data.get("max_per_video"),
                   generator=data.get("generator", ""), version=data.get("version", GROUND_TRUTH_VERSION),
                   path=path)
