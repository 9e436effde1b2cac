"""Videos -> poses ``.npz``, with pluggable pose backends.

A backend is a factory registered under a name (``register_backend``) that returns a callable
tracker: ``tracker(rgb_frame) -> FramePose`` with a ``layout`` attribute and a ``reset()`` called at
the start of each video. ``blazepose`` (MediaPipe's BlazePose full model on LiteRT) is built in;
another estimator plugs in the same way, or its saved outputs are imported (``importers``).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.pose.sequence import PoseSequence, save_poses
from movinet_crossfit.core.progress import BatchReport, progress_bar
from movinet_crossfit.core.video import VIDEO_SUFFIXES

# Other estimators' outputs (importers): ViTPose / torchvision .npz or .json, RepCount .npy.
IMPORT_SUFFIXES = (".npz", ".json", ".npy")
_BACKENDS: dict[str, Callable[..., object]] = {}


def register_backend(name: str, factory: Callable[..., object]) -> None:
    """Make ``factory(**options)`` available as ``poses --backend NAME``."""
    _BACKENDS[name] = factory


def _blazepose(*, person: str | int = "auto", **options):
    """BlazePose following the athlete (``person``: see ``pose.people``), or with ``person="first"``
    the first person it detects, as MediaPipe does (fastest: one landmark call per frame)."""
    from movinet_crossfit.pose.blazepose import BlazePose

    if person == "first":
        return BlazePose(**options)
    from movinet_crossfit.pose.people import PeopleTracker

    return PeopleTracker(BlazePose(**options), person=person)


register_backend("blazepose", _blazepose)


class KnownPoses:
    """A tracker that plays back keypoints known in advance, one row per video frame: a generated
    video's own joints (BlazePose does not see stick figures), or another estimator's output for the
    same video. ``keypoints`` (frames, K, 2 or 3) in pixels in ``layout``; NaN rows are nobody.
    Frames are taken at the stride ``extract_poses`` sets through ``fps``."""

    name = "known"

    def __init__(self, keypoints: np.ndarray, layout: str, video_fps: float):
        self.keypoints = np.asarray(keypoints, np.float32)
        self.layout, self.video_fps, self.fps = layout, float(video_fps), float(video_fps)
        self.reset()

    def reset(self) -> None:
        self.calls = 0

    def __call__(self, frame: np.ndarray):
        from movinet_crossfit.pose.blazepose import FramePose

        index = self.calls * max(1, int(round(self.video_fps / self.fps)))
        self.calls += 1
        if index >= len(self.keypoints):
            raise UserError(f"the known poses hold {len(self.keypoints)} frames; the video has more")
        points = self.keypoints[index]
        seen = np.isfinite(points).all(-1).astype(np.float32)
        return FramePose(points, seen, seen, float(seen.any()), 2 if seen.any() else 0)


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def make_backend(name: str = "blazepose", **options):
    if name not in _BACKENDS:
        raise UserError(f"--backend {name!r}: unknown pose backend; choose one of {', '.join(backend_names())}")
    return _BACKENDS[name](**options)


def extract_poses(video: str | os.PathLike, tracker=None, *, every: int = 1, fps: float | None = None,
                  advance: Callable[[int], None] | None = None) -> PoseSequence:
    """Track one person through ``video`` (every ``every``-th frame); NaN where no pose was found.
    ``fps``: the video's frame rate when already probed."""
    from movinet_crossfit.core.video import iter_frames, probe

    if every < 1:
        raise UserError(f"--every {every}: must be at least 1")
    video = Path(video)
    fps = fps or probe(video).fps
    tracker = tracker or make_backend()
    tracker.reset()
    if hasattr(tracker, "fps"):  # a tracker that chooses among people times their rhythm
        tracker.fps = fps / every
    rows = []
    size = None
    for index, frame in enumerate(read_ahead(iter_frames(video))):
        if index % every:
            continue
        size = (int(frame.shape[1]), int(frame.shape[0]))
        rows.append(tracker(frame))
        if advance:
            advance(1)
    if not rows:
        raise UserError(f"{video}: no frames decoded")
    return finish_poses(tracker, rows, fps / every, size, str(video))


def read_ahead(frames: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """``frames``, decoded in a thread up to ``depth`` frames ahead: reading ffmpeg's pipe (and
    ffmpeg decoding the next frame) then overlaps the pose models, which release the GIL while
    they run, instead of taking turns with them. Stopping early stops the decoder too."""
    import queue
    import threading

    ahead: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    end = object()

    def offer(item: object) -> bool:
        """Queue ``item`` unless the consumer stopped first (then: False)."""
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        item: object = end
        try:
            for frame in frames:
                if not offer(frame):
                    break
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            item = exc
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # iter_frames' own cleanup: the ffmpeg process ends here
        offer(item)

    worker = threading.Thread(target=decode, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = ahead.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def finish_poses(tracker, rows: list, pose_fps: float, size: tuple[int, int] | None, source: str) -> PoseSequence:
    """The ``PoseSequence`` of a video whose frames ``tracker`` has seen (``rows``: what each call
    returned). A tracker that chooses among people (``finish``) says only now whose poses they are.
    Shared by ``extract_poses`` and the live session (``analysis.live``), so both give the same poses."""
    extra = {}
    if hasattr(tracker, "finish"):  # poses of the chosen person, known only at the end
        rows = tracker.finish()
        people = getattr(tracker, "summary", {}) or {}
        if people.get("people", 0) > 1:
            extra = {"people": people, "note": f"followed person {people['chosen']} of {people['people']} "
                                               f"found ({people['mode']})"}
    return poses_from_rows(rows, pose_fps, tracker.layout, size, source,
                           getattr(tracker, "name", type(tracker).__name__), extra)


def poses_from_rows(rows: Sequence, pose_fps: float, layout: str, size: tuple[int, int] | None = None,
                    source: str = "", backend: str = "", extra: dict | None = None) -> PoseSequence:
    """One ``FramePose`` per pose frame -> a ``PoseSequence``."""
    return PoseSequence(
        np.stack([r.keypoints for r in rows]), pose_fps, layout,
        confidence=np.array([r.score for r in rows], np.float32),
        visibility=np.stack([r.visibility for r in rows]), presence=np.stack([r.presence for r in rows]),
        roi_source=np.array([r.roi_source for r in rows], np.int8), image_size=size, source=source,
        backend=backend, extra=extra or {})


@dataclass
class PosesResult:
    report: BatchReport
    outputs: dict = field(default_factory=dict)  # input -> written poses file
    summaries: dict = field(default_factory=dict)  # input -> PoseSequence.summary()
    seconds: dict = field(default_factory=dict)


def _is_video(path: Path, import_format: str | None) -> bool:
    return not import_format and path.suffix.lower() not in IMPORT_SUFFIXES


def output_paths(sources: Sequence[Path], output: Path) -> list[Path]:
    """One input and ``output`` ending in ``.npz``: that file. Otherwise ``output`` is a folder and
    each input keeps its path below the inputs' common folder (``clips/thruster/x.mp4`` ->
    ``OUT/thruster/x.npz``), so class folders stay class folders."""
    if len(sources) == 1 and output.suffix.lower() == ".npz" and not output.is_dir():
        return [output]
    if len(sources) == 1:
        return [output / f"{sources[0].stem}.npz"]
    root = Path(os.path.commonpath([str(p.resolve().parent) for p in sources]))
    return [output / p.resolve().relative_to(root).with_suffix(".npz") for p in sources]


def write_poses(inputs: Sequence[str | os.PathLike], output: str | os.PathLike, *, backend: str = "blazepose",
                import_format: str | None = None, fps: float | None = None, every: int = 1,
                overwrite: bool = False, **backend_options) -> PosesResult:
    """Each input -> a poses ``.npz``: videos through ``backend``, other estimators' ``.npz``/``.json``
    through ``importers`` (see ``output_paths`` for where they go). A bad input is reported and the
    batch goes on; existing outputs are kept unless ``overwrite``."""
    from movinet_crossfit.pose.importers import import_poses
    from movinet_crossfit.core.video import probe

    sources = [Path(p) for p in inputs]
    if not sources:
        raise UserError("poses: give at least one VIDEO (or estimator output to import)")
    targets = output_paths(sources, Path(output))
    result = PosesResult(BatchReport("poses"))
    # Built once, before the loop: missing model files stop here with one clear error.
    tracker = make_backend(backend, **backend_options) if any(_is_video(p, import_format) for p in sources) else None
    for source, target in zip(sources, targets):
        if target.exists() and not overwrite:
            result.report.skip(str(source), f"{target} exists (pass --overwrite to redo)")
            result.outputs[str(source)] = str(target)
            continue
        started = time.perf_counter()
        try:
            if not source.is_file():
                raise UserError(f"{source}: no such file")
            if _is_video(source, import_format):
                info = probe(source)
                with progress_bar(-(-info.num_frames // every), source.name) as advance:
                    poses = extract_poses(source, tracker, every=every, fps=info.fps, advance=advance)
            else:
                poses = import_poses(source, import_format or "auto", fps=fps)
            if fps:
                poses.fps = float(fps)
            save_poses(target, poses)
        except UserError as exc:
            result.report.fail(str(source), str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - reported, the batch goes on
            result.report.fail(str(source), f"{type(exc).__name__}: {exc}")
            continue
        result.seconds[str(source)] = time.perf_counter() - started
        result.outputs[str(source)] = str(target)
        result.summaries[str(source)] = poses.summary()
        result.report.ok(str(source))
    return result


def expand_inputs(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Folders become the videos (and .npz/.json files) inside them, sorted; files stay."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES + IMPORT_SUFFIXES))
        else:
            found.append(path)
    return found
