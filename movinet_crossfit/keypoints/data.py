"""Labelled keypoint sequences for the classifiers, from three kinds of source.

* **a generated corpus** (a folder with ``ground_truth.json``): each labelled segment of each
  video, sliced from ``<dataset>/keypoints/<video>.npz`` by its frame range; the group is the video;
* **a manifest + a folder of poses files**: each clip of ``manifest.json``, from
  ``POSES/<clip id>.npz`` (poses of the cut clip) or else ``POSES/<video stem>.npz`` (poses of the
  whole source video, sliced by the clip's frame range); the group is the manifest's;
* **class folders**: ``POSES/<label>/<name>.npz`` (what ``poses clips/ -o POSES`` writes from a
  clips folder); each file is one sequence and its own group.

A sequence that cannot be read, or in which no joint is ever seen, is reported and left out.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.progress import BatchReport


@dataclass
class PoseItem:
    name: str
    label: str
    group: str
    keypoints: np.ndarray  # (T, K, C)
    layout: str
    fps: float


def load_corpus_items(corpus: str | os.PathLike, report: BatchReport) -> list[PoseItem]:
    from movinet_crossfit.synthetic.truth import GroundTruth

    truth = GroundTruth.load(corpus)
    items = []
    for video_name, video in sorted(truth.videos.items()):
        path = truth.root / video["keypoints"]
        try:
            data = np.load(path)
            points = np.asarray(data["keypoints"], np.float32)
            layout = str(data["layout"]) if "layout" in data.files else "coco17"
        except (OSError, KeyError, ValueError) as exc:
            report.fail(str(path), f"unreadable keypoints ({exc})")
            continue
        for i, seg in enumerate(video["segments"]):
            items.append(PoseItem(f"{Path(video_name).stem}#{i}", seg["label"], video_name,
                                  points[seg["start_frame"]:seg["end_frame"]], layout, float(video.get("fps", truth.fps))))
    return items


def load_manifest_items(manifest: str | os.PathLike, poses_dir: str | os.PathLike, report: BatchReport) -> list[PoseItem]:
    from movinet_crossfit.data.manifest import Manifest
    from movinet_crossfit.pose.sequence import read_poses

    data = Manifest.load(manifest)
    folder = Path(poses_dir)
    cache: dict[Path, object] = {}
    items = []
    for clip in data.clips:
        whole = folder / f"{Path(clip.video).stem}.npz"
        own = folder / f"{clip.id}.npz"
        path = own if own.is_file() else whole
        if not path.is_file():
            report.fail(clip.id, f"no poses file {own} or {whole} (run `movinet-crossfit poses` on the clips or videos)")
            continue
        try:
            poses = cache.get(path) or read_poses(path)
        except UserError as exc:
            report.fail(clip.id, str(exc))
            continue
        cache[path] = poses
        points = poses.keypoints if path == own else poses.keypoints[clip.start_frame:clip.end_frame]
        if not len(points):
            report.fail(clip.id, f"{path}: no frames in [{clip.start_frame}, {clip.end_frame})")
            continue
        items.append(PoseItem(clip.id, clip.label, clip.group, points, poses.layout, poses.fps or (clip.fps or 0.0)))
    return items


def load_folder_items(poses_dir: str | os.PathLike, report: BatchReport) -> list[PoseItem]:
    from movinet_crossfit.pose.sequence import read_poses

    folder = Path(poses_dir)
    files = sorted(folder.glob("*/*.npz"))
    if not files:
        raise UserError(f"{folder}: no <label>/<name>.npz poses files (write them with "
                        "`movinet-crossfit poses clips/ -o {folder}`), and no ground_truth.json")
    items = []
    for path in files:
        try:
            poses = read_poses(path)
        except UserError as exc:
            report.fail(str(path), str(exc))
            continue
        items.append(PoseItem(f"{path.parent.name}/{path.stem}", path.parent.name, f"{path.parent.name}/{path.stem}",
                              poses.keypoints, poses.layout, poses.fps))
    return items


def load_items(data: str | os.PathLike, manifest: str | os.PathLike | None = None,
               report: BatchReport | None = None) -> tuple[list[PoseItem], BatchReport]:
    """Every labelled sequence of ``data`` (a corpus folder, or a poses folder with or without ``manifest``)."""
    from movinet_crossfit.synthetic.truth import is_corpus

    report = report or BatchReport("keypoint sequences")
    data = Path(data)
    if not data.is_dir():
        raise UserError(f"{data}: no such folder (a generated corpus or a folder of poses .npz)")
    if manifest is not None:
        items = load_manifest_items(manifest, data, report)
    elif is_corpus(data):
        items = load_corpus_items(data, report)
    else:
        items = load_folder_items(data, report)
    kept = []
    for item in items:
        if not np.isfinite(item.keypoints).all(-1).any():
            report.fail(item.name, "no joint is seen in any frame")
        elif len(item.keypoints) < 2:
            report.fail(item.name, f"{len(item.keypoints)} frame(s): too short to classify")
        else:
            kept.append(item)
            report.ok(item.name)
    if not kept:
        raise UserError(f"{data}: no usable keypoint sequence" + (f"; first problem: {report.failed[0][1]}"
                                                                   if report.failed else ""))
    return kept, report


def corpus_plan(classes=None, clips_per_class: int = 20, seed: int = 0, dataset: str = "synthetic") -> list[tuple]:
    """``(video name, segment specs, video seed)`` of every video ``synthetic.generate_corpus`` makes
    for these arguments (``synthetic.render_video(path, specs, video_seed)`` draws the same video)."""
    from movinet_crossfit.core.movements import DEFAULT_CLASSES
    from movinet_crossfit.synthetic.corpus import plan_corpus

    plan = plan_corpus(list(classes or DEFAULT_CLASSES), clips_per_class, seed)
    return [(f"{dataset}-{i:04d}.mp4", specs, int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
            for i, specs in enumerate(plan)]


def write_keypoint_corpus(out_dir: str | os.PathLike, classes=None, clips_per_class: int = 20, seed: int = 0,
                          size: tuple[int, int] = (320, 240), fps: float = 30, dataset: str = "synthetic") -> Path:
    """The keypoints and ``ground_truth.json`` that ``synthetic.generate_corpus`` would write for the
    same arguments (same plan, seeds and names), without drawing or encoding any video: a corpus
    for the keypoint classifiers in seconds instead of minutes."""
    from movinet_crossfit.core.fileio import atomic_path
    from movinet_crossfit.core.movements import DEFAULT_CLASSES
    from movinet_crossfit.synthetic.corpus import render_keypoints
    from movinet_crossfit.synthetic.truth import GroundTruth

    classes = list(classes or DEFAULT_CLASSES)
    out = Path(out_dir)
    videos = {}
    for name, specs, video_seed in corpus_plan(classes, clips_per_class, seed, dataset):
        keypoints, truths = render_keypoints(specs, video_seed, size, fps)
        relative = f"{dataset}/keypoints/{Path(name).stem}.npz"
        with atomic_path(out / relative) as tmp:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, keypoints=keypoints, fps=np.float32(fps), layout=np.array("coco17"))
        videos[name] = {"fps": fps, "size": {"width": size[0], "height": size[1]}, "frames": int(len(keypoints)),
                        "seed": video_seed, "segments": [t.to_dict() for t in truths], "keypoints": relative}
    GroundTruth(videos, fps, tuple(size), classes, seed, dataset, clips_per_class,
                generator="movinet_crossfit.keypoints.data.write_keypoint_corpus").save(out)
    return out
