"""Supervisely video annotations -> ``manifest.json`` (validated movement segments).

Input (``sources``): a Supervisely video project folder (``meta.json``, ``<dataset>/ann/<video>.json``,
``<dataset>/video/<video>``), a folder of loose ``<video>.json`` files (the API-download shape, e.g.
``CF-moves_ds0_<video>.mp4.json`` with no videos beside them), single JSON files, or several of those.

Every movement segment is a video tag with an inclusive ``frameRange: [first, last]``; it becomes one
``ClipEntry`` with the half-open ``[start_frame, end_frame)`` (``inclusive_to_half_open``, the only
place that converts). Validation never stops the batch: a bad file or segment is reported in the
``BatchReport`` and the rest goes on. The rules and their messages are in ``docs/manifest.md``.
"""
from __future__ import annotations

import json
import math
import os
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError, conlist

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.data.manifest import ClipEntry, Manifest, check_name, clip_id
from movinet_crossfit.core.movements import DEFAULT_ALIASES, DEFAULT_CLASSES, Vocabulary, parse_alias_options, slugify
from movinet_crossfit.core.progress import BatchReport, progress_bar
from movinet_crossfit.core.video import VIDEO_SUFFIXES
from movinet_crossfit.data.metadata import metadata_group

# Files a Supervisely project folder holds beside the annotations; never annotations themselves.
PROJECT_FILES = ("meta.json", "key_id_map.json")
# Relative difference between a given --fps and a probed one that is worth a warning.
FPS_TOLERANCE = 0.01


# --------------------------------------------------------------------------- schema (pydantic v2)

class _SlyModel(BaseModel):
    # Strict types (no "12" -> 12), unknown keys tolerated: Supervisely adds fields over time.
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class SlySize(_SlyModel):
    height: StrictInt = Field(ge=0)
    width: StrictInt = Field(ge=0)


class SlyVideoTag(_SlyModel):
    """A video tag. With ``frameRange`` (inclusive) it marks a segment; without, the whole video."""

    name: StrictStr = Field(min_length=1)
    frameRange: Optional[conlist(StrictInt, min_length=2, max_length=2)] = None
    value: Optional[StrictInt | StrictFloat | StrictStr] = None
    key: Optional[StrictStr] = None          # export shape
    id: Optional[StrictInt] = None           # API-download shape
    tagId: Optional[StrictInt] = None
    labelerLogin: Optional[StrictStr] = None
    createdAt: Optional[StrictStr] = None
    updatedAt: Optional[StrictStr] = None


class SlyVideoAnnotation(_SlyModel):
    """One video's annotation: the export shape (``key`` ...) or the API-download shape (``videoId`` ...)."""

    model_config = ConfigDict(strict=True, extra="allow")  # extras are reported, not fatal

    framesCount: StrictInt = Field(ge=0)
    tags: list[SlyVideoTag]
    size: Optional[SlySize] = None
    description: Optional[StrictStr] = None
    objects: list[dict[str, Any]] = Field(default_factory=list)
    frames: list[dict[str, Any]] = Field(default_factory=list)
    key: Optional[StrictStr] = None          # export shape
    videoId: Optional[StrictInt] = None      # API-download shape
    videoName: Optional[StrictStr] = None
    createdAt: Optional[StrictStr] = None
    updatedAt: Optional[StrictStr] = None


class SlyTagMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    value_type: Optional[str] = None


class SlyProjectMeta(BaseModel):
    """``meta.json`` of a project; read only to check it is a video project."""

    model_config = ConfigDict(extra="ignore")

    projectType: Optional[str] = None
    tags: list[SlyTagMeta] = Field(default_factory=list)


class AnnotationFormatError(ValueError):
    """A file that is not a Supervisely video annotation; the message says why."""


@dataclass
class ParsedAnnotation:
    annotation: SlyVideoAnnotation
    tags: list[tuple[int, SlyVideoTag]]   # (index in the file's ``tags`` list, tag)
    bad_tags: list[tuple[int, str]]       # (index, why it did not validate)
    ignored_keys: list[str]


def _format_errors(exc: ValidationError, skip: int = 0) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"][skip:]) or "(top level)"
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)


def parse_annotation(data: Any) -> ParsedAnnotation:
    """Validate one decoded annotation. A tag that does not validate is set aside, not fatal."""
    if not isinstance(data, dict):
        raise AnnotationFormatError(
            f"not a Supervisely video annotation: expected a JSON object with framesCount and tags, "
            f"got a {type(data).__name__}")
    try:
        annotation = SlyVideoAnnotation.model_validate(data)
        tags = list(enumerate(annotation.tags))
        bad: list[tuple[int, str]] = []
    except ValidationError as exc:
        in_tags = all(e["loc"][:1] == ("tags",) and len(e["loc"]) > 2 for e in exc.errors())
        if not in_tags:
            raise AnnotationFormatError(f"not a Supervisely video annotation: {_format_errors(exc)}") from exc
        annotation = SlyVideoAnnotation.model_validate({**data, "tags": []})
        tags, bad = [], []
        for index, raw in enumerate(data["tags"]):
            try:
                tags.append((index, SlyVideoTag.model_validate(raw)))
            except ValidationError as tag_exc:
                bad.append((index, _format_errors(tag_exc)))
        annotation.tags = [tag for _, tag in tags]
    ignored = sorted((annotation.model_extra or {}).keys())
    return ParsedAnnotation(annotation, tags, bad, ignored)


# --------------------------------------------------------------------------- frame ranges

def inclusive_to_half_open(first: int, last: int) -> tuple[int, int]:
    """Supervisely ``frameRange: [first, last]`` (both frames included) -> ``[start, end)``.

    The manifest's ``end_frame`` is exclusive, so ``[10, 12]`` (3 frames) becomes ``(10, 13)``.
    This is the only place the conversion happens.
    """
    return first, last + 1


# --------------------------------------------------------------------------- discovery

@dataclass(frozen=True)
class AnnotationFile:
    path: Path
    display: str                    # how messages name it
    video_dir: Optional[Path]       # the dataset's ``video/`` folder in a project layout


def _is_annotation_name(path: Path) -> bool:
    """Supervisely names an annotation after its video: ``<video file name>.json``."""
    return (path.suffix.lower() == ".json" and path.name not in PROJECT_FILES
            and Path(path.stem).suffix.lower() in VIDEO_SUFFIXES)


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def discover_annotation_files(sources: Sequence[Path], report: BatchReport) -> list[AnnotationFile]:
    """The annotation files a list of sources names; unusable sources are reported."""
    found: list[AnnotationFile] = []
    for source in map(Path, sources):
        if source.is_file():
            found.append(AnnotationFile(source, source.name, None))
        elif not source.is_dir():
            report.fail(str(source), "no such file or folder")
        elif (source / "meta.json").is_file() or any(source.glob("*/ann")) or (source / "ann").is_dir():
            found.extend(_project_files(source, report))
        else:
            loose = sorted(p for p in source.glob("*.json") if p.is_file())
            usable = [p for p in loose if _is_annotation_name(p)]
            for other in loose:
                if other not in usable:
                    report.skip(_display(other, source), "not named like an annotation (<video file>.json)")
            if not usable:
                report.fail(str(source), "no Supervisely annotations found: expected a project (meta.json, "
                                         "<dataset>/ann/*.json) or <video>.mp4.json files")
            found.extend(AnnotationFile(p, p.name, None) for p in usable)
    return found


def _project_files(root: Path, report: BatchReport) -> list[AnnotationFile]:
    meta_path = root / "meta.json"
    if meta_path.is_file():
        try:
            meta = SlyProjectMeta.model_validate(read_json(meta_path))
            if meta.projectType and meta.projectType != "videos":
                report.warn(f"{meta_path}: projectType is {meta.projectType!r}, not 'videos'; "
                            "reading its annotations as video annotations anyway")
        except (json.JSONDecodeError, ValidationError, UnicodeDecodeError, RecursionError) as exc:
            report.warn(f"{meta_path}: unreadable project meta ({type(exc).__name__}); ignored")
    files = []
    for ann_dir in sorted(p for p in root.rglob("ann") if p.is_dir()):
        for path in sorted(ann_dir.glob("*.json")):
            files.append(AnnotationFile(path, _display(path, root), ann_dir.parent / "video"))
    if not files:
        report.fail(str(root), "Supervisely project without annotations: no <dataset>/ann/*.json files")
    return files


# --------------------------------------------------------------------------- videos

def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


class VideoFinder:
    """Finds a source video by file name in ``videos_dir`` (recursively) or a project's ``video/``."""

    def __init__(self, videos_dir: Optional[Path]):
        self._by_name: dict[str, Path] = {}
        self._by_lower: dict[str, Path] = {}
        if videos_dir is not None:
            for path in sorted(videos_dir.rglob("*")):
                if path.is_file():
                    self._by_name.setdefault(_nfc(path.name), path)
                    self._by_lower.setdefault(_nfc(path.name).lower(), path)

    def find(self, names: Iterable[str], video_dir: Optional[Path]) -> Optional[Path]:
        names = [n for n in dict.fromkeys(names) if n]
        if video_dir is not None:
            for name in names:
                if (video_dir / name).is_file():
                    return video_dir / name
        for name in names:
            hit = self._by_name.get(_nfc(name)) or self._by_lower.get(_nfc(name).lower())
            if hit is not None:
                return hit
        return None


def _name_candidates(file: AnnotationFile, video_name: Optional[str]) -> list[str]:
    """Possible file names of the video: ``videoName``, then names taken from the annotation's name.

    Loose downloads are named ``<project>_<dataset>_<video file name>.json``; project and dataset
    names are unknown here, so the first one or two ``_``-separated parts are tried off as well.
    """
    stem = file.path.name[: -len(".json")] if file.path.name.lower().endswith(".json") else file.path.name
    candidates = [video_name] if video_name else []
    candidates.append(stem)
    parts = stem.split("_")
    candidates += ["_".join(parts[k:]) for k in (1, 2) if len(parts) > k]
    return [c for c in candidates if c]


@dataclass
class _Video:
    name: str                       # the group and the id's seed
    path: Optional[Path]
    fps: Optional[float]
    num_frames: Optional[int]       # probed


# --------------------------------------------------------------------------- segments

@dataclass
class _Segment:
    source: str
    tag_index: int
    raw_label: str
    label: str
    first: int
    last: int
    start_frame: int
    end_frame: int
    count: Optional[int]
    video: str

    def describe(self) -> str:
        return f"{self.source}: tag {self.raw_label!r} #{self.tag_index} frameRange [{self.first}, {self.last}]"

    def short(self, other: "_Segment") -> str:
        where = "" if other.source == self.source else f"{other.source}: "
        return f"{where}tag {other.raw_label!r} #{other.tag_index} frameRange [{other.first}, {other.last}]"


def _count_from_value(value: Any, segment_name: str, report: BatchReport) -> Optional[int]:
    """A numeric tag value is the segment's repetition count (how ``synthetic`` writes it)."""
    if value is None or isinstance(value, str):
        return None
    if float(value).is_integer() and value >= 0:
        return int(value)
    report.warn(f"{segment_name}: tag value {value!r} is not a repetition count (a whole number >= 0); ignored")
    return None


def _drop_duplicates(segments: list[_Segment], report: BatchReport) -> list[_Segment]:
    """Same video, label and start frame: one segment annotated twice. The longest is kept."""
    by_start: dict[tuple[str, int], list[_Segment]] = defaultdict(list)
    for segment in segments:
        by_start[(segment.label, segment.start_frame)].append(segment)
    kept = []
    for group in by_start.values():
        best = max(group, key=lambda s: (s.end_frame - s.start_frame, -group.index(s)))
        kept.append(best)
        for other in group:
            if other is best:
                continue
            same = other.end_frame == best.end_frame
            report.warn(f"{other.describe()}: duplicate of {other.short(best)} (same video, label and start "
                        f"frame{', same range' if same else ''}); dropped"
                        f"{'' if same else ', kept the longer one'}")
    return kept


def _resolve_overlaps(segments: list[_Segment], keep: bool, report: BatchReport) -> list[_Segment]:
    """Overlapping segments with different labels cannot both be right: both are dropped (or kept on request)."""
    ordered = sorted(segments, key=lambda s: (s.start_frame, s.end_frame, s.label))
    conflicted: set[int] = set()
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.start_frame >= a.end_frame:
                break
            if a.label == b.label:
                report.warn(f"{a.describe()}: overlaps {a.short(b)} with the same label; kept both")
                continue
            if keep:
                report.warn(f"{a.describe()}: overlaps {a.short(b)} labelled {b.label!r}; kept both "
                            "(keep_overlapping)")
            else:
                report.fail(a.describe(), f"overlaps {a.short(b)} with a different label "
                                          f"({a.label!r} vs {b.label!r}); both dropped — fix the annotation, "
                                          "or keep both with --keep-overlapping")
                conflicted.update((id(a), id(b)))
    return [s for s in ordered if id(s) not in conflicted]


# --------------------------------------------------------------------------- the stage

def vocabulary_from_options(classes: Optional[str | Sequence[str]] = None,
                            aliases: Iterable[str] = ()) -> Vocabulary:
    """The vocabulary the CLI options describe: ``--classes a,b,c`` and repeated ``--alias FROM=TO``."""
    if isinstance(classes, str):
        classes = [c for c in classes.split(",")]
    names = tuple(dict.fromkeys(slugify(c) for c in classes or () if slugify(c)))
    if classes is not None and not names:
        raise UserError("--classes: no class names given; expected e.g. 'thruster,chest-to-bar'")
    for name in names:  # class names become folder names in `split`
        try:
            check_name(name, "class")
        except ValueError as exc:
            raise UserError(f"--classes: {exc}") from None
    vocabulary = Vocabulary(names or DEFAULT_CLASSES, dict(DEFAULT_ALIASES))
    return vocabulary.with_aliases(parse_alias_options(aliases))


def build_manifest(sources: Sequence[Path], *, videos_dir: Optional[Path] = None, fps: Optional[float] = None,
                   vocabulary: Vocabulary = Vocabulary(), keep_unknown: bool = False,
                   keep_overlapping: bool = False, output_dir: Path = Path(".")) -> tuple[Manifest, BatchReport]:
    """Read Supervisely annotations into a validated manifest; problems go to the report, never stop it.

    ``videos_dir``: where the source videos are (matched by file name, searched recursively); a found
    video gives the clip's ``video`` path (relative to ``output_dir``), its fps and a frame-count check.
    ``fps``: the frame rate for videos that are not found. ``keep_unknown``: keep labels outside the
    vocabulary (as slugs). ``keep_overlapping``: keep overlapping segments with different labels.
    """
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise UserError(f"--fps {fps}: must be a positive, finite number of frames per second")
    if videos_dir is not None and not Path(videos_dir).is_dir():
        raise UserError(f"{videos_dir}: videos folder not found (--videos)")
    report = BatchReport("manifest")
    files = discover_annotation_files(sources, report)
    finder = VideoFinder(Path(videos_dir) if videos_dir is not None else None)
    videos: dict[str, _Video] = {}
    segments: dict[str, list[_Segment]] = defaultdict(list)
    unknown_kept: set[str] = set()
    with progress_bar(len(files), "manifest") as advance:
        for file in files:
            _read_file(file, finder, fps, vocabulary, keep_unknown, report, videos, segments, unknown_kept)
            advance()

    clips = []
    no_fps = []
    for name, video_segments in segments.items():
        video = videos[name]
        kept = _resolve_overlaps(_drop_duplicates(video_segments, report), keep_overlapping, report)
        if kept and video.fps is None:
            no_fps.append(name)
        rel = (Path(os.path.relpath(video.path.resolve(), Path(output_dir).resolve())).as_posix()
               if video.path is not None else name)
        # A downloaded video's metadata (<video>.info.json) may name its athlete or uploader: a better
        # split group than the video itself, since one athlete's videos look alike.
        group = (metadata_group(video.path) if video.path is not None else None) or name
        for s in kept:
            times = ({} if video.fps is None else
                     {"fps": video.fps, "start_time": round(s.start_frame / video.fps, 6),
                      "end_time": round(s.end_frame / video.fps, 6)})
            clips.append(ClipEntry(id=clip_id(name, s.start_frame, s.end_frame, s.label), video=rel, label=s.label,
                                   start_frame=s.start_frame, end_frame=s.end_frame, group=group, count=s.count,
                                   **times))
    if no_fps:
        report.warn(f"{len(no_fps)} video(s) without a frame rate ({', '.join(sorted(no_fps)[:3])}"
                    f"{', ...' if len(no_fps) > 3 else ''}): start_time/end_time left empty; add them with "
                    "--videos DIR (the source videos) or --fps F")
    clips.sort(key=lambda c: (c.video, c.start_frame, c.label, c.end_frame))
    classes = list(vocabulary.classes) + sorted(unknown_kept - set(vocabulary.classes))
    return Manifest(classes=classes, clips=clips), report


def read_json(path: Path) -> Any:
    """A JSON file, with or without the UTF-8 byte-order mark some Windows editors write."""
    return json.loads(path.read_text(encoding="utf-8-sig"))


def _read_file(file: AnnotationFile, finder: VideoFinder, fps: Optional[float], vocabulary: Vocabulary,
               keep_unknown: bool, report: BatchReport, videos: dict[str, _Video],
               segments: dict[str, list[_Segment]], unknown_kept: set[str]) -> None:
    try:
        data = read_json(file.path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report.fail(file.display, f"not valid JSON ({exc})")
        return
    except RecursionError:
        # Python's JSON reader stops near 1,000 levels; an annotation has 4.
        report.fail(file.display, "not a Supervisely video annotation: JSON nested too deeply to read "
                                  f"(Python stops near {sys.getrecursionlimit()} levels; an annotation has 4)")
        return
    except OSError as exc:
        report.fail(file.display, f"unreadable ({exc.strerror or exc})")
        return
    try:
        parsed = parse_annotation(data)
    except AnnotationFormatError as exc:
        report.fail(file.display, str(exc))
        return
    ann = parsed.annotation
    if parsed.ignored_keys:
        report.warn(f"{file.display}: ignored unknown keys {', '.join(parsed.ignored_keys)}")
    for index, reason in parsed.bad_tags:
        name = data["tags"][index].get("name") if isinstance(data["tags"][index], dict) else None
        report.fail(f"{file.display}: tag {name!r} #{index}", f"not a valid tag: {reason}")
    if ann.objects or ann.frames:
        report.warn(f"{file.display}: {len(ann.objects)} objects and {len(ann.frames)} annotated frames "
                    "ignored (only tags with a frameRange become clips)")

    candidates = _name_candidates(file, ann.videoName)
    name = candidates[0]
    video = videos.get(name)
    if video is None:
        video = videos[name] = _probe_video(name, finder.find(candidates, file.video_dir), fps, report)
    if video.num_frames is not None and video.num_frames != ann.framesCount:
        report.warn(f"{file.display}: framesCount {ann.framesCount} but the video {video.path} has "
                    f"{video.num_frames} frames (probe); check that it is the annotated video")
    limit = min(ann.framesCount, video.num_frames or ann.framesCount)

    unknown: dict[str, list[int]] = defaultdict(list)
    n_segments = 0
    for index, tag in parsed.tags:
        item = f"{file.display}: tag {tag.name!r} #{index}"
        if tag.frameRange is None:
            # A whole-video tag: a movement without a range is a mistake, anything else is metadata.
            if vocabulary.normalise(tag.name) is not None:
                report.fail(item, "no frameRange (a tag on the whole video); not a segment, skipped — give it "
                                  "a frame range in Supervisely")
            else:
                report.warn(f"{item}: no frameRange (a tag on the whole video) and not a movement; ignored")
            continue
        first, last = tag.frameRange
        item += f" frameRange [{first}, {last}]"
        start, end = inclusive_to_half_open(first, last)
        if first < 0:
            report.fail(item, "starts before frame 0; dropped")
            continue
        if end <= start:
            report.fail(item, f"empty or inverted range (last frame {last} before first frame {first}); dropped")
            continue
        if last >= limit:
            which = "framesCount" if limit == ann.framesCount else "the probed video"
            report.fail(item, f"beyond the end of the video: last frame {last} >= {limit} frames ({which}); dropped")
            continue
        label = vocabulary.normalise(tag.name)
        if label is None:
            unknown[tag.name].append(index)
            if not keep_unknown:
                continue
            label = slugify(tag.name)
            try:
                check_name(label, "label")
            except ValueError as exc:
                unknown.pop(tag.name, None)  # reported here, not again as an unknown label
                report.fail(f"{item}", f"{exc}; dropped (labels become folder names in `split`)")
                continue
            unknown_kept.add(label)
        count = _count_from_value(tag.value, item, report)
        segments[name].append(_Segment(file.display, index, tag.name, label, first, last, start, end, count, name))
        n_segments += 1
    for raw, indices in unknown.items():
        shown = ", ".join(f"#{i}" for i in indices[:5]) + (", ..." if len(indices) > 5 else "")
        message = (f"label {raw!r} is not one of the classes ({', '.join(vocabulary.classes)}) nor an alias "
                   f"({len(indices)} segment{'s' if len(indices) != 1 else ''}: {shown})")
        if keep_unknown:
            report.warn(f"{file.display}: {message}; kept as {slugify(raw)!r} (keep_unknown)")
        else:
            report.fail(f"{file.display}: tag {raw!r}", f"{message}; dropped — map it with --alias "
                        f"{slugify(raw)}=CLASS, add it with --classes, or keep it with --keep-unknown")
    if not parsed.tags and not parsed.bad_tags:
        report.warn(f"{file.display}: no tags; nothing to cut")
    report.ok(file.display)


def _probe_video(name: str, path: Optional[Path], fps: Optional[float], report: BatchReport) -> _Video:
    if path is None:
        return _Video(name, None, fps, None)
    from movinet_crossfit.core.video import VideoError, probe

    try:
        info = probe(path)
    except VideoError as exc:
        report.warn(f"{exc}; its frame rate and frame count are unknown"
                    f"{' (using --fps)' if fps else ''}")
        return _Video(name, path, fps, None)
    video_fps = info.fps if info.fps > 0 else fps
    if fps and info.fps > 0 and abs(info.fps - fps) > FPS_TOLERANCE * fps:
        report.warn(f"{path}: the video runs at {info.fps:g} fps, not the given --fps {fps:g}; "
                    "using the video's rate")
    return _Video(name, path, video_fps, info.num_frames)


def write_manifest(sources: Sequence[Path], output: Path, **options: Any) -> tuple[Manifest, BatchReport]:
    """``build_manifest`` with paths relative to ``output``'s folder, then an atomic write of ``output``.

    Nothing is written when no clip came out (the report says why).
    """
    output = Path(output)
    if output.is_dir():
        raise UserError(f"{output}: is a folder; -o takes the manifest file to write, e.g. "
                        f"{output / 'manifest.json'}")
    options.setdefault("output_dir", output.parent)
    manifest, report = build_manifest(sources, **options)
    if manifest.clips:
        manifest.save(output)
    else:
        report.warn(f"{output}: not written, no clips")
    return manifest, report


def summary_line(manifest: Manifest, output: Optional[Path] = None) -> str:
    """``manifest.json: 273 clips from 6 videos (thruster 137, chest-to-bar 136)``."""
    counts = Counter(c.label for c in manifest.clips)
    per_class = ", ".join(f"{label} {counts[label]}" for label in manifest.classes if counts[label])
    videos = len({c.video for c in manifest.clips})  # not split groups: one athlete can have several videos
    head = f"{output}: " if output is not None else ""
    return f"{head}{len(manifest.clips)} clips from {videos} video{'s' if videos != 1 else ''}" + \
        (f" ({per_class})" if per_class else "")
