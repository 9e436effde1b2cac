"""Render videos of the stick-figure gym and export them as a Supervisely video project.

``generate_corpus`` lays out ``clips_per_class`` labelled segments per class over many short
"WOD" videos (2-3 movements alternating, a few reps each, with unlabelled rests between) and
writes::

    out_dir/meta.json                              Supervisely project meta (one tag per class)
    out_dir/<dataset>/video/<name>.mp4             h264, yuv420p
    out_dir/<dataset>/ann/<name>.mp4.json          tags with inclusive frameRange, like Supervisely's
    out_dir/<dataset>/keypoints/<name>.npz         true COCO-17 keypoints (T, 17, 2), pixels
    out_dir/ground_truth.json                      per video: segments, rep counts, rep boundaries (truth.py)

Everything follows from ``seed``: the same seed gives the same annotations and the same pixels.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from movinet_crossfit.core.fileio import atomic_path, write_json_atomic
from movinet_crossfit.core.movements import DEFAULT_CLASSES
from movinet_crossfit.synthetic import figure, scene
from movinet_crossfit.synthetic.bystanders import Bystander, bystander_params, bystander_primitives
from movinet_crossfit.synthetic.encode import write_mp4
from movinet_crossfit.synthetic.faults import FAULTS
from movinet_crossfit.synthetic.movements import movement
from movinet_crossfit.synthetic.timeline import SegmentSpec, SegmentTruth, Timeline, build_timeline, frame_primitives
from movinet_crossfit.synthetic.truth import GroundTruth

logger = logging.getLogger(__name__)

TAG_COLOURS = ("#E6194B", "#3CB44B", "#FFE119", "#4363D8", "#F58231", "#911EB4", "#46F0F0", "#F032E6",
               "#BCF60C", "#FABEBE", "#008080", "#9A6324")


@dataclass
class VideoTruth:
    """What a rendered video holds: its segments (with rep counts and boundaries) and keypoints."""

    path: str
    fps: float
    size: tuple[int, int]  # (width, height)
    frames: int
    segments: list[SegmentTruth]
    keypoints: np.ndarray  # (frames, 17, 2) float32, pixels, COCO-17 order
    seed: int = 0
    key: str = ""
    tag_keys: list[str] = field(default_factory=list)

    @property
    def counts(self) -> list[int]:
        return [s.count for s in self.segments]

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.segments]

    def to_dict(self) -> dict:
        return {"fps": self.fps, "size": {"width": self.size[0], "height": self.size[1]},
                "frames": self.frames, "seed": self.seed, "segments": [s.to_dict() for s in self.segments]}

    def supervisely_annotation(self) -> dict:
        """The video's annotation in Supervisely's export shape (``frameRange`` inclusive)."""
        tags = [{"name": s.label, "key": key, "frameRange": [s.start_frame, s.end_frame - 1]}
                for s, key in zip(self.segments, self.tag_keys)]
        return {"size": {"height": self.size[1], "width": self.size[0]}, "description": "", "key": self.key,
                "tags": tags, "objects": [], "frames": [], "framesCount": self.frames}


@dataclass
class CorpusSummary:
    out_dir: Path
    videos: int
    segments: dict[str, int]  # per class
    frames: int
    seconds: float  # wall-clock time spent generating
    fps: float = 30.0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total_segments(self) -> int:
        return sum(self.segments.values())

    def __str__(self) -> str:
        text = (f"synthetic corpus {self.out_dir}: {self.videos} videos, {self.total_segments} segments "
                f"over {len(self.segments)} classes, {self.frames} frames "
                f"({self.frames / self.fps / 60:.1f} min of video) in {self.seconds:.1f} s")
        if self.failed:
            text += f"; {len(self.failed)} videos FAILED"
        return text


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    width, height = (int(v) for v in size)
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise ValueError(f"size {width}x{height}: width and height must be even and at least 64")
    return width, height


def random_segments(rng: np.random.Generator, classes: Sequence[str] = DEFAULT_CLASSES) -> list[SegmentSpec]:
    """A short WOD: 2-3 movements alternating, 3-5 segments of 1-3 reps."""
    k = min(len(classes), int(rng.integers(2, 4)))
    chosen = [classes[i] for i in rng.choice(len(classes), size=k, replace=False)]
    count = int(rng.integers(3, 6))
    return [SegmentSpec(chosen[i % k], int(rng.integers(1, 4))) for i in range(count)]


def faulty_set(label: str, reps: int, rng: np.random.Generator | int = 0, fault_rate: float = 0.3,
               faults: Sequence[str] | None = None, period: float | None = None) -> SegmentSpec:
    """A set of ``reps`` reps of ``label`` for judging: each rep breaks a standard drawn from
    ``faults`` (default: every fault the movement can make, ``FAULTS``) with probability
    ``fault_rate``; a set of 3 reps or more holds at least one clean and one faulty rep."""
    if not 0.0 <= fault_rate <= 1.0:
        raise ValueError(f"fault_rate {fault_rate} is outside 0-1")
    choices = tuple(FAULTS.get(label, ()) if faults is None else faults)
    if not choices:
        raise ValueError(f"segment {label!r}: the generator makes no faulty reps of {label!r}; "
                         f"movements with faults: {', '.join(FAULTS)}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    faulty = rng.random(reps) < fault_rate
    if reps >= 3:
        if not faulty.any():
            faulty[rng.integers(reps)] = True
        if faulty.all():
            faulty[rng.integers(reps)] = False
    drawn = rng.integers(len(choices), size=reps)
    return SegmentSpec(label, reps, period, tuple(choices[d] if f else None for f, d in zip(faulty, drawn)))


def plan_corpus(classes: Sequence[str], clips_per_class: int, seed: int,
                max_per_video: int | None = None) -> list[list[SegmentSpec]]:
    """Spread ``clips_per_class`` segments of every class over videos of 2-3 alternating movements.

    A video takes at most ``max_per_video`` segments of one class (default
    ``max(1, clips_per_class // 8)``), so 20 clips of a class land in at least 10 different videos
    and a split grouped by video keeps every class on both sides. ``max_per_video=1`` gives the
    most videos, hence the most different looks, for the same number of segments.
    """
    if max_per_video is not None and max_per_video < 1:
        raise ValueError(f"max_per_video must be >= 1, got {max_per_video}")
    rng = np.random.default_rng([seed, 0x5EED])
    remaining = {c: clips_per_class for c in classes}
    cap = max_per_video or max(1, clips_per_class // 8)
    videos = []
    while any(remaining.values()):
        available = [c for c in classes if remaining[c] > 0]
        k = min(len(available), int(rng.integers(2, 4)))
        priority = np.array([remaining[c] for c in available], dtype=float) + rng.uniform(0, 1.5, len(available))
        picked = [available[i] for i in np.argsort(-priority, kind="stable")[:k]]
        rng.shuffle(picked)
        takes = {c: min(remaining[c], int(rng.integers(1, cap + 1))) for c in picked}
        for c, n in takes.items():
            remaining[c] -= n
        order: list[str] = []
        while any(takes.values()):  # movements alternate as in a WOD: never the same one twice running
            options = [c for c in picked if takes[c] and (not order or c != order[-1])] or \
                      [c for c in picked if takes[c]]
            c = max(options, key=lambda name: takes[name])
            order.append(c)
            takes[c] -= 1
        videos.append([SegmentSpec(label, int(rng.integers(1, 4))) for label in order])
    return videos


def _render(path: Path, specs: list[SegmentSpec], seed: int, size: tuple[int, int], fps: float,
            bystanders: Sequence[Bystander] = ()) -> VideoTruth:
    rng = np.random.default_rng(seed)
    look = scene.random_look(rng, size)
    timeline = build_timeline(specs, rng, fps, look)
    look.shake = scene.shake_track(rng, timeline.frames, look.shake_amp)
    look.scale = timeline.scale
    joints = figure.forward_kinematics(timeline.params)
    others = [bystander_params(b, look, timeline.frames, fps) for b in bystanders]
    written = write_mp4(path, _frames(timeline, joints, look, others), size, fps)
    if written != timeline.frames:  # pragma: no cover - write_mp4 raises first
        raise RuntimeError(f"{path}: wrote {written} frames, expected {timeline.frames}")
    keypoints = _keypoints(joints, look)
    ids = np.random.default_rng([seed, 0xC0FFEE])
    return VideoTruth(str(path), float(fps), size, timeline.frames, timeline.truths, keypoints, seed,
                      key=ids.bytes(16).hex(), tag_keys=[ids.bytes(16).hex() for _ in timeline.truths])


def render_keypoints(specs: Sequence[SegmentSpec], seed: int = 0, size: tuple[int, int] = (320, 240),
                     fps: float = 30, bystanders: Sequence[Bystander] = ()) -> tuple[np.ndarray, list]:
    """The true COCO-17 keypoints ``(T, 17, 2)`` (pixels) and segment truths of the video that
    ``render_video`` would draw for ``specs`` and ``seed``, without drawing or encoding it: a fast
    source of long pose sequences with known rep counts (for the pose counter). With
    ``bystanders``, the keypoints array is ``(1 + len(bystanders), T, 17, 2)``: the athlete first."""
    specs = [s if isinstance(s, SegmentSpec) else SegmentSpec(*s) for s in specs]
    rng = np.random.default_rng(seed)
    look = scene.random_look(rng, _check_size(size))
    timeline = build_timeline(list(specs), rng, fps, look)
    look.shake = scene.shake_track(rng, timeline.frames, look.shake_amp)
    look.scale = timeline.scale
    athlete = _keypoints(figure.forward_kinematics(timeline.params), look)
    if not bystanders:
        return athlete, list(timeline.truths)
    others = [_keypoints(figure.forward_kinematics(bystander_params(b, look, timeline.frames, fps)), look)
              for b in bystanders]
    return np.stack([athlete, *others]), list(timeline.truths)


def _frames(timeline: Timeline, joints: np.ndarray, look: scene.Look, others: Sequence[np.ndarray] = ()):
    for t in range(timeline.frames):
        owner = int(timeline.segment_of[t])
        eq = timeline.equipment[owner] if 0 <= owner < len(timeline.equipment) else None
        prims = frame_primitives(joints[t], timeline.params[t], eq, int(timeline.bar_mode[t]),
                                 float(timeline.rope[t]), look.thickness)
        for rows in others:
            prims += bystander_primitives(rows, t, look.thickness)
        yield scene.draw_frame(look, prims, t)


def _keypoints(joints: np.ndarray, look: scene.Look) -> np.ndarray:
    width, _ = look.size
    xy = joints[:, figure.COCO17_INDEX, :2]
    shake = look.shake if look.shake is not None else np.zeros((len(joints), 2))
    u = width / 2 + xy[..., 0] * look.scale[:, None] + shake[:, None, 0]
    v = look.floor_v - xy[..., 1] * look.scale[:, None] + shake[:, None, 1]
    if look.mirror:
        u = width - u
    points = np.stack([u, v], axis=-1).astype(np.float32)
    if look.mirror:
        # A mirrored side view of the right side looks like the left side of someone facing the
        # other way: label it as a pose estimator would see it.
        points = points[:, figure.COCO17_FLIP]
    return points


def render_video(path: str | os.PathLike, segments: list[SegmentSpec] | None = None, seed: int = 0,
                 size: tuple[int, int] = (320, 240), fps: float = 30,
                 classes: Sequence[str] = DEFAULT_CLASSES, bystanders: Sequence[Bystander] = ()) -> VideoTruth:
    """Render one video of ``segments`` (default: a random short WOD from ``classes``) to ``path``;
    ``bystanders``: other people in the picture (a judge, walking spectators); the truth and
    keypoints stay the athlete's."""
    size = _check_size(size)
    for name in classes:
        movement(name)
    if segments is None:
        segments = random_segments(np.random.default_rng([seed, 0x5E6]), list(classes))
    segments = [s if isinstance(s, SegmentSpec) else SegmentSpec(*s) for s in segments]
    if not segments:
        raise ValueError(f"{path}: no segments to render")
    for spec in segments:
        movement(spec.label)
    return _render(Path(path), segments, seed, size, fps, bystanders)


def _write_keypoints(path: Path, truth: VideoTruth) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:  # a handle: numpy would append ".npz" to a bare name
            np.savez_compressed(handle, keypoints=truth.keypoints, fps=np.float32(truth.fps),
                                layout=np.array("coco17"), names=np.array(figure.COCO17))


def _render_job(out_dir: str, dataset: str, name: str, specs: list[SegmentSpec], seed: int,
                size: tuple[int, int], fps: float) -> dict:
    root = Path(out_dir) / dataset
    truth = _render(root / "video" / name, specs, seed, size, fps)
    _write_keypoints(root / "keypoints" / f"{Path(name).stem}.npz", truth)
    write_json_atomic(root / "ann" / f"{name}.json", truth.supervisely_annotation())
    entry = truth.to_dict()
    entry.update(video=f"{dataset}/video/{name}", annotation=f"{dataset}/ann/{name}.json",
                 keypoints=f"{dataset}/keypoints/{Path(name).stem}.npz")
    return entry


def project_meta(classes: Sequence[str]) -> dict:
    return {"classes": [],
            "tags": [{"name": c, "value_type": "none", "color": TAG_COLOURS[i % len(TAG_COLOURS)], "id": i + 1,
                      "applicable_type": "all", "classes": []} for i, c in enumerate(classes)],
            "projectType": "videos"}


def generate_corpus(out_dir: str | os.PathLike, classes: Sequence[str] = DEFAULT_CLASSES, clips_per_class: int = 20,
                    seed: int = 0, size: tuple[int, int] = (320, 240), fps: float = 30, workers: int | None = None,
                    dataset: str = "synthetic", max_per_video: int | None = None) -> CorpusSummary:
    """Render a labelled corpus (``clips_per_class`` segments per class) as a Supervisely export.

    ``max_per_video`` caps the segments of one class in one video (see ``plan_corpus``).
    """
    from movinet_crossfit.core.progress import BatchReport, progress_bar

    started = time.perf_counter()
    size = _check_size(size)
    classes = list(classes)
    if not classes:
        raise ValueError("no classes to generate")
    for name in classes:
        movement(name)
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class must be >= 1, got {clips_per_class}")
    if not re.fullmatch(r"[\w.-]+", dataset):
        raise ValueError(f"dataset name {dataset!r}: use letters, digits, '-', '_' or '.'")
    out = Path(out_dir)
    plan = plan_corpus(classes, clips_per_class, seed, max_per_video)
    names = [f"{dataset}-{i:04d}.mp4" for i in range(len(plan))]
    seeds = [int(np.random.SeedSequence([seed, i]).generate_state(1)[0]) for i in range(len(plan))]
    workers = max(1, min(workers or os.cpu_count() or 1, len(plan)))
    entries: dict[str, dict] = {}
    report = BatchReport("synthetic corpus")
    jobs = [(str(out), dataset, name, specs, s, size, fps) for name, specs, s in zip(names, plan, seeds)]
    with progress_bar(len(jobs), "rendering") as advance:
        if workers == 1:
            for job in jobs:
                try:
                    entries[job[2]] = _render_job(*job)
                    report.ok(job[2])
                except Exception as exc:  # noqa: BLE001 - reported below, the batch goes on
                    report.fail(job[2], f"{type(exc).__name__}: {exc}")
                advance()
        else:
            with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_render_job, *job): job[2] for job in jobs}
                for future in concurrent.futures.as_completed(futures):
                    name = futures[future]
                    try:
                        entries[name] = future.result()
                        report.ok(name)
                    except Exception as exc:  # noqa: BLE001
                        report.fail(name, f"{type(exc).__name__}: {exc}")
                    advance()
    _remove_stale(out, dataset, set(names))
    videos = {name: entries[name] for name in names if name in entries}
    write_json_atomic(out / "meta.json", project_meta(classes))
    GroundTruth(videos, fps, size, classes, seed, dataset, clips_per_class, max_per_video).save(out)
    per_class = Counter(seg["label"] for entry in videos.values() for seg in entry["segments"])
    summary = CorpusSummary(out, len(videos), {c: per_class.get(c, 0) for c in classes},
                            sum(e["frames"] for e in videos.values()), time.perf_counter() - started, float(fps),
                            list(report.failed))
    if report.failed:
        report.log(logger)
        if not videos:
            from movinet_crossfit.core.errors import UserError

            raise UserError(f"{out}: every synthetic video failed; first error: {report.failed[0][1]}")
    return summary


def _remove_stale(out: Path, dataset: str, keep: set[str]) -> None:
    """Drop videos a previous, larger run left behind, so the export holds exactly this corpus."""
    pattern = re.compile(rf"{re.escape(dataset)}-\d{{4,}}\.mp4")
    root = out / dataset
    for folder, suffix in (("video", ""), ("ann", ".json"), ("keypoints", None)):
        directory = root / folder
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            video_name = path.name[: -len(suffix)] if suffix and path.name.endswith(suffix) else path.name
            if suffix is None:
                video_name = path.stem + ".mp4" if path.suffix == ".npz" else path.name
            if pattern.fullmatch(video_name) and video_name not in keep:
                path.unlink()
