"""The counting manifest: videos (or ranges of them) with their true repetition counts.

``{"version": 1, "kind": "counting", "items": [CountingItem, ...]}``; each item names a
``video`` (relative to the manifest's folder, like ``manifest.json``), an optional range
(``start_frame``/``end_frame``, end exclusive, or ``start_time``/``end_time`` in seconds; frames
win when both are given; no range = the whole video), the true ``count``, where it came from
(``source``: ``supervisely``, ``synthetic``, ``countix-<split>``) and optionally its ``label``.

Built from:

* a clip ``manifest.json`` (the Supervisely path): its clips that carry a ``count``;
* a generated corpus (``synthetic.generate_corpus``): every segment of ``ground_truth.json``;
* Countix CSVs (read by ``countix.read_countix``) with the videos downloaded as
  ``<video_id>.mp4``. A row whose video is absent is reported as skipped, never a crash. Whether a
  file is the whole YouTube video or only the Kinetics clip (downloaders do either) is read from
  its duration (``time_origin``).

``eval-counter`` and ``train-counter`` read it (``load_counting_items`` also takes a clip
manifest or a corpus folder directly).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator, Literal, Optional, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import write_json_atomic
from movinet_crossfit.core.progress import BatchReport
from movinet_crossfit.data.countix import read_countix

COUNTING_MANIFEST_VERSION = 1
TIME_ORIGINS = ("auto", "video", "kinetics")


class CountingItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    video: str = Field(description="video file, relative to the manifest's folder once saved")
    count: int = Field(ge=0, description="true repetitions in the range")
    start_frame: Optional[int] = Field(default=None, ge=0)
    end_frame: Optional[int] = Field(default=None, gt=0, description="exclusive")
    start_time: Optional[float] = Field(default=None, ge=0)
    end_time: Optional[float] = Field(default=None, gt=0)
    fps: Optional[float] = Field(default=None, gt=0)
    label: Optional[str] = None
    source: str = ""

    @model_validator(mode="after")
    def _ranges(self) -> "CountingItem":
        for start, end, unit in ((self.start_frame, self.end_frame, "frames"),
                                 (self.start_time, self.end_time, "seconds")):
            if start is not None and end is not None and end <= start:
                raise ValueError(f"item {self.id}: empty or inverted range [{start}, {end}) {unit}")
        return self

    def frame_range(self, fps: float | None = None) -> tuple[int, Optional[int]]:
        """``(start, end)`` in frames (end exclusive, ``None`` = to the end); seconds are converted
        with ``fps`` (the item's own, else the one given)."""
        if self.start_frame is not None or self.end_frame is not None:
            return self.start_frame or 0, self.end_frame
        if self.start_time is None and self.end_time is None:
            return 0, None
        rate = self.fps or fps
        if not rate:
            raise UserError(f"item {self.id}: a time range needs the video's frame rate, which is unknown")
        start = int(round((self.start_time or 0.0) * rate))
        end = None if self.end_time is None else max(start + 1, int(round(self.end_time * rate)))
        return start, end

    @property
    def whole_video(self) -> bool:
        return all(v is None for v in (self.start_frame, self.end_frame, self.start_time, self.end_time))


class CountingManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = COUNTING_MANIFEST_VERSION
    kind: Literal["counting"] = "counting"
    items: list[CountingItem]

    def save(self, path: str | os.PathLike) -> Path:
        """Write with video paths relative to ``path``'s folder."""
        path = Path(path)
        base = path.parent.resolve()
        items = [item.model_copy(update={"video": _relative(item.video, base)}) for item in self.items]
        data = CountingManifest(version=self.version, items=items).model_dump(mode="json", exclude_none=True)
        write_json_atomic(path, data)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CountingManifest":
        """Read and validate; video paths come back absolute."""
        path = Path(path)
        data = _read_json(path)
        if not isinstance(data, dict) or data.get("kind") != "counting":
            raise UserError(f"{path}: not a counting manifest (no \"kind\": \"counting\"); build one with "
                            f"`movinet-crossfit counting-manifest ... -o {path.name}`")
        try:
            manifest = cls.model_validate(data)
        except ValidationError as exc:
            raise UserError(f"{path}: not a valid counting manifest:\n{exc}") from exc
        base = path.parent.resolve()
        manifest.items = [item.model_copy(update={"video": str(base / item.video)}) for item in manifest.items]
        return manifest


def _relative(video: str, base: Path) -> str:
    try:
        return os.path.relpath(Path(video).resolve(), base)
    except ValueError:  # another drive on Windows
        return str(Path(video).resolve())


def _read_json(path: Path):
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from exc


# --- builders -----------------------------------------------------------------------------------

def from_clip_manifest(path: str | os.PathLike, report: BatchReport | None = None) -> list[CountingItem]:
    """Items for the clips of a ``manifest.json`` that carry a ``count`` (others are skipped, in
    one warning)."""
    from movinet_crossfit.data.manifest import Manifest

    path = Path(path)
    report = report if report is not None else BatchReport("counting manifest")
    manifest = Manifest.load(path)
    base = path.parent.resolve()
    items, uncounted = [], 0
    for clip in manifest.clips:
        if clip.count is None:
            uncounted += 1
            continue
        items.append(CountingItem(id=clip.id, video=str(base / clip.video), count=clip.count,
                                  start_frame=clip.start_frame, end_frame=clip.end_frame, fps=clip.fps,
                                  label=clip.label, source=clip.source or "supervisely"))
        report.ok(clip.id)
    if uncounted:
        report.warn(f"{path}: {uncounted} of {len(manifest.clips)} clips carry no count; left out")
    return items


def from_synthetic_corpus(corpus_dir: str | os.PathLike, report: BatchReport | None = None) -> list[CountingItem]:
    """One item per segment of a generated corpus (its ``ground_truth.json``, or that file)."""
    from movinet_crossfit.synthetic.truth import GroundTruth

    report = report if report is not None else BatchReport("counting manifest")
    truth = GroundTruth.load(corpus_dir)
    base = truth.root.resolve()
    items = []
    for name, video in sorted(truth.videos.items()):
        for k, seg in enumerate(video["segments"]):
            item_id = f"{Path(name).stem}-{k:02d}-{seg['label']}"
            items.append(CountingItem(id=item_id, video=str(base / video["video"]), count=int(seg["count"]),
                                      start_frame=int(seg["start_frame"]), end_frame=int(seg["end_frame"]),
                                      fps=float(video["fps"]), label=seg["label"], source="synthetic"))
            report.ok(item_id)
    return items


def from_countix(csv_path: str | os.PathLike, videos_dir: str | os.PathLike, report: BatchReport | None = None,
                 time_origin: str = "auto") -> list[CountingItem]:
    """Items for the rows of a Countix CSV whose video is in ``videos_dir`` as ``<video_id>.mp4``.

    ``time_origin``: ``video`` (the file is the whole YouTube video: times as in the CSV),
    ``kinetics`` (the file starts at ``kinetics_start``), or ``auto`` (per file: ``video`` when it
    lasts past ``repetition_end``, ``kinetics`` when it is no longer than the Kinetics clip).
    A missing video is a skipped row; an unreadable one or a row that fits neither is failed.
    """
    from movinet_crossfit.core.video import probe

    videos = Path(videos_dir)
    report = report if report is not None else BatchReport("counting manifest")
    if time_origin not in TIME_ORIGINS:
        raise UserError(f"time origin {time_origin!r}: choose one of {', '.join(TIME_ORIGINS)}")
    table = read_countix(csv_path)
    if not videos.is_dir():
        raise UserError(f"{videos}: videos folder not found (download them first: issue 5's `download`)")
    probes: dict[str, object] = {}
    items = []
    for row in table.rows:
        video_id = row.video_id
        name = f"{table.path.name}:{row.line} {video_id}"
        path = videos / f"{video_id}.mp4"
        if not path.is_file():
            report.skip(name, f"video not downloaded ({path.name} not in {videos})")
            continue
        try:
            k0, k1 = row.kinetics()
            r0, r1, count = row.repetitions()
        except ValueError as exc:
            report.fail(name, f"unreadable row ({exc})")
            continue
        if r1 <= r0 or count < 0 or not count.is_integer():
            report.fail(name, f"bad row: repetition {r0}-{r1} s, count {row.fields['count']!r}")
            continue
        if video_id not in probes:
            try:
                probes[video_id] = probe(path)
            except UserError as exc:
                probes[video_id] = exc
        info = probes[video_id]
        if isinstance(info, UserError):
            report.fail(name, str(info))
            continue
        duration = info.duration or (info.num_frames / info.fps if info.fps else 0.0)
        origin = time_origin
        if origin == "auto":
            if duration + 0.5 >= r1:
                origin = "video"
            elif duration <= (k1 - k0) + 1.0:
                origin = "kinetics"
            else:
                report.fail(name, f"{path.name} lasts {duration:.1f} s: neither the whole video (repetitions end "
                                  f"at {r1:.1f} s) nor the {k1 - k0:.0f} s Kinetics clip; pass a time origin")
                continue
        shift = k0 if origin == "kinetics" else 0.0
        item = CountingItem(id=f"countix-{table.split}-{row.line:05d}-{video_id}", video=str(path.resolve()),
                            count=int(count), start_time=max(0.0, r0 - shift), end_time=r1 - shift,
                            fps=info.fps or None, label=row.label, source=f"countix-{table.split}")
        items.append(item)
        report.ok(name)
    return items


def build_counting_manifest(output: str | os.PathLike | None = None, *,
                            clip_manifests: Sequence[str | os.PathLike] = (),
                            corpora: Sequence[str | os.PathLike] = (),
                            countix_csvs: Sequence[str | os.PathLike] = (),
                            countix_videos: str | os.PathLike | None = None,
                            time_origin: str = "auto") -> tuple[CountingManifest, BatchReport]:
    """Gather items from every source given; write ``output`` when given (and not empty)."""
    report = BatchReport("counting manifest")
    items: list[CountingItem] = []
    for path in clip_manifests:
        items += from_clip_manifest(path, report)
    for path in corpora:
        items += from_synthetic_corpus(path, report)
    if countix_csvs and countix_videos is None:
        raise UserError("Countix CSVs need the folder of downloaded videos (--countix-videos DIR)")
    for path in countix_csvs:
        items += from_countix(path, countix_videos, report, time_origin)
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.id in seen:
            report.warn(f"duplicate item id {item.id}; the first is kept")
            continue
        seen.add(item.id)
        unique.append(item)
    manifest = CountingManifest(items=unique)
    if output is not None and unique:
        manifest.save(output)
    return manifest, report


def load_counting_items(source: str | os.PathLike) -> list[CountingItem]:
    """Items from a counting manifest, a clip ``manifest.json`` (clips with counts) or a generated
    corpus folder (``ground_truth.json``); video paths absolute."""
    from movinet_crossfit.synthetic.truth import is_corpus

    path = Path(source)
    if path.is_dir():
        if is_corpus(path):
            return from_synthetic_corpus(path)
        raise UserError(f"{path}: a folder, but no ground_truth.json; give a counting manifest")
    data = _read_json(path)
    if isinstance(data, dict) and data.get("kind") == "counting":
        return CountingManifest.load(path).items
    if isinstance(data, dict) and "clips" in data:
        items = from_clip_manifest(path)
        if not items:
            raise UserError(f"{path}: no clip in this manifest carries a count")
        return items
    if isinstance(data, dict) and "videos" in data:
        return from_synthetic_corpus(path)
    raise UserError(f"{path}: neither a counting manifest, a clip manifest nor a corpus ground truth")


# --- frames of a range ------------------------------------------------------------------------

def iter_frame_range(path: str | os.PathLike, start: int = 0, end: Optional[int] = None) -> Iterator[np.ndarray]:
    """Frames ``start`` .. ``end - 1`` (``None``: to the end) of a video, streamed: one frame in
    memory, and the decoder stops as soon as ``end`` is reached."""
    from movinet_crossfit.core.video import iter_frames

    frames = iter_frames(path)
    try:
        for index, frame in enumerate(frames):
            if end is not None and index >= end:
                break
            if index >= start:
                yield frame
    finally:
        frames.close()
