"""Classify a video with an exported model: one clip (``predict_video``) or a long video
(``predict_timeline``, a sliding window streamed through a ring buffer).

The model is an ``export`` folder (``saved_model/`` and ``model_*.tflite``), a SavedModel folder or
a ``.tflite`` file. Frames are sampled and preprocessed exactly as for the records
(``clip_sampling.load_clip``: ``sample_frame_indices`` + ``preprocess_frames``), so a prediction sees what
training saw. Both backends get the same uint8 ``[T, S, S, 3]`` clip: TFLite takes it as-is, and
the SavedModel's in-graph preprocessing is the identity on frames already at the model size.
"""
from __future__ import annotations

import collections
import functools
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from movinet_crossfit.core import clip_sampling, video
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import save_figure
from movinet_crossfit.core.progress import progress_bar
from movinet_crossfit.core.runs import LABELS_FILE, read_labels

BACKENDS = ("auto", "saved_model", "tflite")
# TFLite file picked by default, then the others in this order.
TFLITE_PREFERENCE = ("fp32", "dynamic", "fp16", "int8")
# The cfmove training clips (one repetition each) last 0.5-1.3 s: a 1.5 s window holds one to two
# repetitions, about what training saw, and a 0.5 s stride places a label every half second.
DEFAULT_WINDOW_SECONDS = 1.5
DEFAULT_STRIDE_SECONDS = 0.5

_HOW_TO_EXPORT = "export a trained run with `movinet-crossfit export RUN_DIR -o OUT_DIR`"


class Predictor:
    """A loaded exported model: ``predict_clip(uint8 [T, S, S, 3]) -> probabilities [C]``."""

    backend: str
    source: Path
    classes: list[str]
    num_frames: int
    size: int

    def predict_clip(self, clip: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def _check(self, clip: np.ndarray) -> np.ndarray:
        clip = np.asarray(clip)
        expected = (self.num_frames, self.size, self.size, 3)
        if clip.dtype != np.uint8 or clip.shape != expected:
            raise ValueError(f"{self.source}: expects a uint8 clip {list(expected)} "
                             f"(clip_sampling.load_clip), got {clip.dtype} {list(clip.shape)}")
        return clip


class SavedModelPredictor(Predictor):
    backend = "saved_model"

    def __init__(self, path: Path):
        import tensorflow as tf

        self.source = path
        try:
            loaded = tf.saved_model.load(str(path))
            self._serve = loaded.signatures["serving_default"]
            self.num_frames = int(loaded.num_frames.numpy())
            self.size = int(loaded.size.numpy())
            self.classes = [c.decode() for c in loaded.class_names.numpy()]
        except (OSError, ValueError, KeyError, AttributeError, tf.errors.OpError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"{path}: not a readable exported SavedModel ({first[:300]}); "
                            + _HOW_TO_EXPORT) from exc
        self._loaded = loaded  # the signature needs its object graph alive

    def predict_clip(self, clip: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        frames = tf.constant(self._check(clip)[None])
        return self._serve(frames=frames)["probabilities"].numpy()[0]


class TFLitePredictor(Predictor):
    backend = "tflite"

    def __init__(self, path: Path):
        from movinet_crossfit.core.tflite import make_interpreter
        from movinet_crossfit.movinet.export import INPUT_NAME, OUTPUT_NAME, tflite_runner

        self.source = path
        try:
            self._interpreter = make_interpreter(path)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"{path}: not a loadable TFLite model ({first[:300]}); "
                            + _HOW_TO_EXPORT) from exc
        # By signature name (frames -> probabilities), as a phone app calls it; an old file or a
        # foreign one is a UserError saying to export again.
        self._run = tflite_runner(self._interpreter, str(path))
        self._input = self._run.get_input_details()[INPUT_NAME]
        self._output = self._run.get_output_details()[OUTPUT_NAME]
        shape = [int(d) for d in self._input["shape"]]
        if len(shape) != 5 or shape[0] != 1 or shape[2] != shape[3] or self._input["dtype"] != np.uint8:
            raise UserError(f"{path}: input is {self._input['dtype'].__name__} {shape}, not the exported "
                            "uint8 [1, T, S, S, 3]; " + _HOW_TO_EXPORT)
        self.num_frames, self.size = shape[1], shape[2]
        labels = path.with_name(LABELS_FILE)
        if not labels.is_file():
            raise UserError(f"{labels}: labels file not found beside {path.name} (export writes it; "
                            "copy it along with the model)")
        self.classes = read_labels(labels)
        outputs = int(self._output["shape"][-1])
        if outputs != len(self.classes):
            raise UserError(f"{labels}: {len(self.classes)} labels but {path.name} has {outputs} outputs")

    def predict_clip(self, clip: np.ndarray) -> np.ndarray:
        from movinet_crossfit.movinet.export import INPUT_NAME, OUTPUT_NAME

        return np.array(self._run(**{INPUT_NAME: self._check(clip)[None]})[OUTPUT_NAME][0], np.float32)


def resolve_model(model: str | os.PathLike, backend: str = "auto",
                  variant: str = "fp32") -> tuple[str, Path]:
    """``(backend, path)`` of the model to load from an export folder, a SavedModel or a .tflite."""
    from movinet_crossfit.core.tflite import tflite_filename
    from movinet_crossfit.movinet.export import SAVED_MODEL_DIR, TFLITE_PREFIX

    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    path = Path(model)
    if not path.exists():
        raise UserError(f"{path}: no such model folder or file; " + _HOW_TO_EXPORT)
    if path.is_file():
        if path.suffix != ".tflite":
            raise UserError(f"{path}: not a model (expected an export folder, a SavedModel folder "
                            "or a .tflite file)")
        if backend == "saved_model":
            raise UserError(f"{path}: is a TFLite file; pass the export folder for the SavedModel")
        return "tflite", path
    if (path / "saved_model.pb").is_file():
        if backend == "tflite":
            raise UserError(f"{path}: is a SavedModel folder; pass the export folder or a .tflite file")
        return "saved_model", path
    saved = path / SAVED_MODEL_DIR
    if backend in ("auto", "saved_model") and (saved / "saved_model.pb").is_file():
        return "saved_model", saved
    if backend == "saved_model":
        raise UserError(f"{path}: no {SAVED_MODEL_DIR}/saved_model.pb; " + _HOW_TO_EXPORT)
    wanted = path / tflite_filename(TFLITE_PREFIX, variant)
    if wanted.is_file():
        return "tflite", wanted
    if backend == "tflite" and variant != "fp32":
        raise UserError(f"{wanted}: not found; export it with `--formats {variant}`")
    for name in TFLITE_PREFERENCE:
        if (path / tflite_filename(TFLITE_PREFIX, name)).is_file():
            return "tflite", path / tflite_filename(TFLITE_PREFIX, name)
    raise UserError(f"{path}: holds no exported model ({SAVED_MODEL_DIR}/ or model_*.tflite); "
                    + _HOW_TO_EXPORT)


def load_predictor(model: str | os.PathLike, backend: str = "auto", variant: str = "fp32") -> Predictor:
    """Load (once per file version: loaded models are cached) the model ``resolve_model`` picks."""
    kind, path = resolve_model(model, backend, variant)
    stamp = (path / "saved_model.pb") if kind == "saved_model" else path
    return _load_cached(kind, str(path.resolve()), stamp.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_cached(kind: str, path: str, _mtime: int) -> Predictor:
    return SavedModelPredictor(Path(path)) if kind == "saved_model" else TFLitePredictor(Path(path))


# ---------------------------------------------------------------------------------------------
# One clip


@dataclass
class Prediction:
    path: str
    label: str
    probabilities: dict[str, float]  # every class, in the model's output order
    top_k: list[tuple[str, float]]
    backend: str
    model: str
    frames_used: list[int]  # indices of the sampled frames in the decoded video
    video_frames: int
    # decode (decode + sample + preprocess), infer, total: wall seconds; decode_cpu, infer_cpu:
    # the process's CPU seconds in each
    timings: dict[str, float]

    @property
    def probability(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict:
        return asdict(self)


def _top_k(classes: Sequence[str], probs: np.ndarray, k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probs, kind="stable")[:max(1, k)]
    return [(classes[i], float(probs[i])) for i in order]


def predict_video(path: str | os.PathLike, model_dir: str | os.PathLike, *, top_k: int = 5,
                  backend: str = "auto", variant: str = "fp32", info: video.VideoInfo | None = None) -> Prediction:
    """Classify a clip: sample ``T`` frames evenly (a clip shorter than ``T`` repeats frames evenly,
    see ``clip_sampling.sample_frame_indices``), preprocess them, run the model.

    ``backend``: ``auto`` (SavedModel if the folder has one, else a TFLite file), ``saved_model``
    or ``tflite``; ``variant`` picks the TFLite file (fp32, fp16, dynamic, int8). ``info``: the
    video's probe when the caller has it (it is not probed again).

    ``timings``: ``decode`` (decode + sample + preprocess), ``infer`` and ``total`` in wall seconds,
    and ``decode_cpu`` / ``infer_cpu``, the process's CPU seconds in each (all its threads: the
    decoder's, TensorFlow's, LiteRT's), which other load on the machine moves far less than wall time.
    """
    predictor = load_predictor(model_dir, backend, variant)
    started, started_cpu = time.perf_counter(), time.process_time()
    clip, decoded = clip_sampling.load_clip_with_fps(path, predictor.num_frames, predictor.size,
                                                     expected_frames=info.num_frames if info is not None else None)
    decoded_at, decoded_cpu = time.perf_counter(), time.process_time()
    probs = predictor.predict_clip(clip)
    done, done_cpu = time.perf_counter(), time.process_time()
    best = int(np.argmax(probs))
    return Prediction(
        path=str(path), label=predictor.classes[best],
        probabilities={c: float(p) for c, p in zip(predictor.classes, probs)},
        top_k=_top_k(predictor.classes, probs, top_k), backend=predictor.backend,
        model=str(predictor.source),
        frames_used=[int(i) for i in clip_sampling.sample_frame_indices(decoded.num_frames, predictor.num_frames)],
        video_frames=decoded.num_frames,
        timings={"decode": decoded_at - started, "infer": done - decoded_at, "total": done - started,
                 "decode_cpu": decoded_cpu - started_cpu, "infer_cpu": done_cpu - decoded_cpu})


# ---------------------------------------------------------------------------------------------
# A long video


@dataclass
class TimelineWindow:
    start: float  # seconds
    end: float
    label: str
    probability: float
    probabilities: list[float]  # every class, in ``Timeline.classes`` order


@dataclass
class Segment:
    start: float
    end: float
    label: str
    probability: float  # mean over the segment's windows
    windows: int


@dataclass
class Timeline:
    path: str
    classes: list[str]
    fps: float
    video_frames: int
    duration: float
    window_seconds: float
    stride_seconds: float
    backend: str
    windows: list[TimelineWindow] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def predict_timeline(path: str | os.PathLike, model_dir: str | os.PathLike, *,
                     window_seconds: float = DEFAULT_WINDOW_SECONDS,
                     stride_seconds: float = DEFAULT_STRIDE_SECONDS, backend: str = "auto",
                     variant: str = "fp32", info: video.VideoInfo | None = None) -> Timeline:
    """Classify overlapping windows of a long video, streaming it: memory holds one window.
    ``info``: the video's ``video.probe``, when the caller has it already (else it is probed here).

    Every decoded frame is preprocessed once as it arrives (``preprocess_frames`` is per frame, so
    this equals preprocessing after sampling) into a ring buffer of one window's frames. Each window
    samples ``T`` frames with ``sample_frame_indices``, as a clip of that length would be. Windows
    start every ``stride_seconds``; a last window ending at the final frame is added when the stride
    does not land there, and a video shorter than one window is one window. Adjacent windows with
    the same label merge into segments; each window owns the stretch around its centre. Times are
    the frames' timestamps (``frame_edges``), so a variable-frame-rate video's timeline is true.
    """
    if window_seconds <= 0 or stride_seconds <= 0:
        raise UserError(f"window ({window_seconds}) and stride ({stride_seconds}) must be positive seconds")
    predictor = load_predictor(model_dir, backend, variant)
    path = Path(path)
    info = video.probe(path) if info is None else info
    fps = video.frame_rate(info)[0] or 30.0  # none said: its frames over its duration, else the common camera rate
    window = max(1, round(window_seconds * fps))
    stride = max(1, round(stride_seconds * fps))
    preprocess = clip_sampling.compiled_preprocess(predictor.size)  # the records' own traced preprocessing
    buffer: collections.deque = collections.deque(maxlen=window)
    spans: list[tuple[int, int, np.ndarray]] = []
    decode_s = infer_s = 0.0

    def classify(end: int) -> None:
        nonlocal infer_s
        frames = list(buffer)
        clip = np.stack([frames[i] for i in clip_sampling.sample_frame_indices(len(frames), predictor.num_frames)])
        tick = time.perf_counter()
        spans.append((end - len(frames), end, predictor.predict_clip(clip)))
        infer_s += time.perf_counter() - tick

    started = time.perf_counter()
    count = 0
    with progress_bar(info.num_frames, "timeline") as advance:
        tick = time.perf_counter()
        for frame in video.iter_frames(path):
            buffer.append(preprocess(frame[None]).numpy()[0])
            count += 1
            decode_s += time.perf_counter() - tick
            if count >= window and (count - window) % stride == 0:
                classify(count)
            advance(1)
            tick = time.perf_counter()
    if not spans or spans[-1][1] != count:
        classify(count)

    edges = frame_edges(path, count, fps)
    timeline = Timeline(str(path), list(predictor.classes), fps, count, float(edges[count]),
                        window_seconds, stride_seconds, predictor.backend)
    for start, end, probs in spans:
        best = int(np.argmax(probs))
        timeline.windows.append(TimelineWindow(float(edges[start]), float(edges[end]), predictor.classes[best],
                                               float(probs[best]), [float(p) for p in probs]))
    timeline.segments = merge_windows(timeline.windows, timeline.duration)
    timeline.timings = {"decode": decode_s, "infer": infer_s, "total": time.perf_counter() - started}
    return timeline


def frame_edges(path: str | os.PathLike, count: int, fps: float) -> np.ndarray:
    """``count + 1`` times in seconds from the first frame: where each frame starts, then where the
    last one ends. From the frames' own timestamps, since a variable-frame-rate video (phones) is
    not ``i / fps``; the last frame lasts the mean gap. ``i / fps`` when the file has none."""
    from movinet_crossfit.data.clips import index_source

    try:
        times = index_source(path).times
    except video.VideoError:
        times = None
    if times is None or len(times) < count or count < 2:
        return np.arange(count + 1) / fps
    starts = np.asarray(times[:count], np.float64) - times[0]
    return np.append(starts, starts[-1] + starts[-1] / (count - 1))


def merge_windows(windows: Sequence[TimelineWindow], duration: float) -> list[Segment]:
    """Consecutive same-label windows -> segments that tile ``[0, duration]`` without overlap.

    A window owns the time from the midpoint with its predecessor's centre to the midpoint with its
    successor's (the first from 0, the last to the end).
    """
    centres = [(w.start + w.end) / 2 for w in windows]
    segments: list[Segment] = []
    probs: list[float] = []
    for i, win in enumerate(windows):
        own_start = 0.0 if i == 0 else (centres[i - 1] + centres[i]) / 2
        own_end = duration if i == len(windows) - 1 else (centres[i] + centres[i + 1]) / 2
        if segments and segments[-1].label == win.label:
            segments[-1].end = own_end
            segments[-1].windows += 1
            probs.append(win.probability)
            segments[-1].probability = float(np.mean(probs))
        else:
            segments.append(Segment(own_start, own_end, win.label, win.probability, 1))
            probs = [win.probability]
    return segments


def plot_timeline(timeline: Timeline, png: str | os.PathLike) -> Path:
    """Per-class probability of each window over time, and the merged segments as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = Path(png)
    colours = plt.get_cmap("tab10")
    fig, (top, band) = plt.subplots(2, 1, figsize=(11, 4), sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1]})
    centres = [(w.start + w.end) / 2 for w in timeline.windows]
    for index, name in enumerate(timeline.classes):
        top.plot(centres, [w.probabilities[index] for w in timeline.windows], marker=".",
                 color=colours(index % 10), label=name)
    top.set_ylim(0, 1.02)
    top.set_ylabel("probability")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    top.set_title(f"{Path(timeline.path).name}: {timeline.window_seconds:g} s windows every "
                  f"{timeline.stride_seconds:g} s")
    for seg in timeline.segments:
        colour = colours(timeline.classes.index(seg.label) % 10)
        band.broken_barh([(seg.start, seg.end - seg.start)], (0, 1), color=colour)
        band.text((seg.start + seg.end) / 2, 0.5, seg.label, ha="center", va="center", fontsize="small")
    band.set_yticks([])
    band.set_xlim(0, max(timeline.duration, 1e-3))
    band.set_xlabel("time (s)")
    fig.tight_layout()
    return save_figure(fig, png, dpi=100)
