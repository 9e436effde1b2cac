"""Counting repetitions with RepNet, as the official inference does it, in bounded memory.

For each stride s (1, 2, 3, 4 by default) the video is sampled every s-th frame and cut into
non-overlapping chunks of ``num_frames`` (64) sampled frames; the last chunk is padded with the
video's final frame. Each sampled frame gets a score sqrt(sigmoid(periodicity) x the top period
probability), with periods under 3 frames given confidence 0; the stride whose mean score is best
wins. Its per-frame outputs are spread back over the frames it skipped; a frame counts as
periodic when its score passes ``within_period_threshold`` (0.5), and contributes
1 / (stride x period) repetitions. Median filters of width 5 clean the periodic mask and the
per-frame counts; a mean score under ``threshold`` (0.2) means "no repetition": count 0.

Frames are decoded, resized and fed one at a time: only one chunk per stride is ever held, so a
ten-minute video needs no more memory than a ten-second one (the per-frame outputs kept for the
result are a few bytes per frame).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.metrics import Rep

if TYPE_CHECKING:
    from movinet_crossfit.core.video import VideoInfo

# A chunk runner maps uint8 frames [n, T, S, S, 3], already resized to the model's size, to
# (period_logits [n, T, P], periodicity_logits [n, T, 1], embeddings [n, T, D]); it scales the
# frames to [-1, 1] itself (``scale_for_repnet``), as the exported models do in their graph.
ChunkRunner = Callable[[np.ndarray], Sequence[np.ndarray]]

MEDIAN_WINDOW = 5
MIN_PERIOD = 3
# Mean absolute change between consecutive resized frames under which a video is static: half a
# grey level. The self-similarity of such a video is flat, so there is nothing to count.
STATIC_TOLERANCE = 0.5


@dataclass(frozen=True)
class CountOptions:
    """The official inference's knobs, with its defaults."""

    strides: tuple[int, ...] = (1, 2, 3, 4)
    threshold: float = 0.2
    within_period_threshold: float = 0.5
    median_filter: bool = True
    fully_periodic: bool = False
    constant_speed: bool = False
    batch_size: int = 2
    # A video shorter than one chunk is an error unless this is set; then it is padded with its
    # final frame, as the official inference pads every last chunk (short Countix ranges).
    pad_short: bool = False

    def __post_init__(self):
        if not self.strides or any(int(s) < 1 for s in self.strides):
            raise UserError(f"strides must be positive integers, got {self.strides}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass
class CountResult:
    """What ``count_video`` found. Per-frame arrays have one value per frame of the video."""

    count: float
    score: float
    stride: int
    fps: float
    num_frames: int
    periodicity: np.ndarray
    period: np.ndarray
    per_frame_counts: np.ndarray
    stride_scores: dict
    similarity: np.ndarray
    reps: list = field(default_factory=list)
    source: str = ""
    note: str = ""

    @property
    def rounded(self) -> int:
        return int(round(self.count))

    @property
    def cumulative(self) -> np.ndarray:
        return np.cumsum(self.per_frame_counts)

    def to_dict(self, per_frame: bool = True) -> dict:
        out = {"source": self.source, "count": round(float(self.count), 4), "count_rounded": self.rounded,
               "score": round(float(self.score), 4), "stride": self.stride, "fps": self.fps,
               "num_frames": self.num_frames, "note": self.note,
               "stride_scores": {str(k): round(float(v), 4) for k, v in self.stride_scores.items()},
               "reps": [vars(rep) for rep in self.reps]}
        if per_frame:
            out["per_frame"] = {
                "periodicity": np.round(self.periodicity, 4).tolist(),
                "period": np.round(self.period, 3).tolist(),
                "cumulative_count": np.round(self.cumulative, 4).tolist()}
        return out


def preprocess_for_repnet(frame: np.ndarray, size: int = 112) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` -> uint8 ``(size, size, 3)``: the whole frame squeezed to a square,
    as the official inference does. Area resampling keeps fine motion from aliasing. The model
    (Keras runner and exported files alike) then scales to [-1, 1] with ``scale_for_repnet``."""
    import cv2

    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise TypeError(f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)


def scale_for_repnet(frames):
    """uint8 -> float32 in [-1, 1] (x / 127.5 - 1), the range RepNet was trained on. Tensor or array."""
    import tensorflow as tf

    return tf.cast(frames, tf.float32) / 127.5 - 1.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def similarity_matrix(embeddings: np.ndarray, temperature: float) -> np.ndarray:
    """The model's self-similarity (row softmax of -squared distance / temperature), ``[T, T]``."""
    squared = (embeddings ** 2).sum(-1)
    distances = np.maximum(squared[:, None] - 2.0 * embeddings @ embeddings.T + squared[None, :], 0.0)
    return _softmax(-distances / temperature)


def frame_scores(period_logits: np.ndarray, periodicity_logits: np.ndarray, period_offset: int) -> np.ndarray:
    """sqrt(sigmoid(periodicity) x top period probability); 0 where the period is under 3 frames."""
    periods = period_logits.argmax(-1) + period_offset
    confidence = np.where(periods < MIN_PERIOD, 0.0, _softmax(period_logits).max(-1))
    return np.sqrt(_sigmoid(periodicity_logits.reshape(-1)) * confidence)


@dataclass
class _StrideStream:
    """The chunks of one stride: the one being filled, and the outputs of those already run."""

    stride: int
    buffer: list = field(default_factory=list)
    period_logits: list = field(default_factory=list)
    periodicity_logits: list = field(default_factory=list)
    best_chunk_score: float = -1.0
    best_similarity: np.ndarray | None = None


def _median(x: np.ndarray) -> np.ndarray:
    from scipy.signal import medfilt

    return medfilt(x.astype(np.float64), MEDIAN_WINDOW)


def decide_count(period_logits: dict, periodicity_logits: dict, num_frames: int, period_offset: int,
                 options: CountOptions = CountOptions()) -> dict:
    """From each stride's per-sampled-frame logits to the count: stride choice, periodic mask,
    per-frame counts. Pure numpy, the official post-processing step for step.

    ``period_logits[s]`` is ``[rows, P]``, ``periodicity_logits[s]`` is ``[rows]`` or ``[rows, 1]``.
    """
    strides = list(period_logits)
    scores = {s: float(frame_scores(period_logits[s], periodicity_logits[s], period_offset).mean())
              for s in strides}
    stride = max(strides, key=lambda s: scores[s])  # the first of equals, as argmax
    raw = np.repeat(period_logits[stride], stride, axis=0)[:num_frames]
    within = np.repeat(frame_scores(period_logits[stride], periodicity_logits[stride], period_offset),
                       stride)[:num_frames]
    threshold = 0.0 if options.fully_periodic else options.within_period_threshold
    periodic = within > threshold
    if options.median_filter:
        periodic = _median(periodic).astype(bool)
    classes = raw.argmax(-1)
    periods = (classes + period_offset).astype(np.float64)
    if options.constant_speed:
        probabilities = _softmax(raw[periodic]).mean(0) if periodic.any() else _softmax(raw).mean(0)
        best = int(probabilities.argmax()) + period_offset
        score = float(probabilities.max())
        per_frame = np.where(periodic, 1.0 / (stride * best) if best >= MIN_PERIOD else 0.0, 0.0)
        periods = np.full(num_frames, float(best))
    else:
        score = float(within.mean())
        per_frame = np.where(periods < MIN_PERIOD, 0.0, 1.0 / (stride * np.maximum(periods, 1.0)))
        if options.median_filter:
            per_frame = _median(per_frame)
        per_frame = per_frame * periodic
    note = ""
    if score < options.threshold:
        per_frame = np.zeros(num_frames)
        note = f"no repetition: score {score:.2f} < threshold {options.threshold:.2f}"
    return {"stride": stride, "stride_scores": scores, "score": score, "periodicity": within,
            "period": np.where(periodic, periods * stride, 0.0), "per_frame_counts": per_frame, "note": note}


def rep_boundaries(per_frame_counts: np.ndarray, fps: float) -> list[Rep]:
    """Completed repetitions from per-frame counts: rep k ends at the first frame where the
    running count reaches k; it starts the frame after rep k-1 ended (rep 1 at the first counted frame)."""
    cumulative = np.cumsum(per_frame_counts)
    total = int(math.floor(cumulative[-1] + 1e-6)) if len(cumulative) else 0
    counted = np.flatnonzero(per_frame_counts > 0)
    reps, start = [], int(counted[0]) if len(counted) else 0
    for k in range(1, total + 1):
        end = int(np.searchsorted(cumulative, k - 1e-6))
        t = (lambda f: round(f / fps, 3)) if fps else (lambda f: 0.0)
        reps.append(Rep(k, start, end, t(start), t(end)))
        start = end + 1
    return reps


def count_frames(frames: Iterable[np.ndarray], runner: ChunkRunner, *, num_frames: int = 64,
                 image_size: int = 112, period_offset: int = 0, temperature: float = 13.544,
                 fps: float = 0.0, options: CountOptions = CountOptions(), source: str = "",
                 advance: Callable[[int], None] | None = None) -> CountResult:
    """Count repetitions in RGB uint8 frames (any iterable; consumed once, one frame at a time)."""
    streams = {int(s): _StrideStream(int(s)) for s in options.strides}
    pending: list[tuple[int, np.ndarray]] = []

    def run_pending():
        if not pending:
            return
        period, periodicity, embeddings = runner(np.stack([chunk for _, chunk in pending]))[:3]
        for (stride, _), p, w, e in zip(pending, period, periodicity, embeddings):
            stream = streams[stride]
            stream.period_logits.append(np.asarray(p, np.float32))
            stream.periodicity_logits.append(np.asarray(w, np.float32).reshape(-1))
            chunk_score = float(frame_scores(p, w, period_offset).mean())
            if chunk_score > stream.best_chunk_score:
                stream.best_chunk_score = chunk_score
                stream.best_similarity = similarity_matrix(np.asarray(e, np.float64), temperature)
        pending.clear()

    count, last, largest_change = 0, None, 0.0
    for frame in frames:
        x = preprocess_for_repnet(frame, image_size)
        if last is not None:
            largest_change = max(largest_change, float(np.abs(x.astype(np.int16) - last).mean()))
        for stride, stream in streams.items():
            if count % stride == 0:
                stream.buffer.append(x)
                if len(stream.buffer) == num_frames:
                    pending.append((stride, np.stack(stream.buffer)))
                    stream.buffer = []
        if len(pending) >= options.batch_size:
            run_pending()
        last, count = x, count + 1
        if advance:
            advance(1)
    where = f"{source}: " if source else ""
    if count == 0 or (count < num_frames and not options.pad_short):
        raise UserError(f"{where}{count} frames; RepNet needs at least {num_frames} frames "
                        f"({num_frames / fps:.1f} s at {fps:g} fps)" if fps else
                        f"{where}{count} frames; RepNet needs at least {num_frames} frames")
    for stream in streams.values():
        if stream.buffer:
            stream.buffer.extend([last] * (num_frames - len(stream.buffer)))
            pending.append((stream.stride, np.stack(stream.buffer)))
            stream.buffer = []
    run_pending()

    if largest_change < STATIC_TOLERANCE:
        zeros = np.zeros(count)
        first = streams[min(streams)]
        return CountResult(0.0, 0.0, min(streams), fps, count, zeros, zeros, zeros,
                           {s: 0.0 for s in streams}, first.best_similarity, [], source,
                           "static video: consecutive frames differ by less than half a grey level")
    decided = decide_count({s: np.concatenate(st.period_logits) for s, st in streams.items()},
                           {s: np.concatenate(st.periodicity_logits) for s, st in streams.items()},
                           count, period_offset, options)
    per_frame = decided["per_frame_counts"]
    return CountResult(float(per_frame.sum()), decided["score"], decided["stride"], fps, count,
                       decided["periodicity"], decided["period"], per_frame, decided["stride_scores"],
                       streams[decided["stride"]].best_similarity, rep_boundaries(per_frame, fps), source,
                       decided["note"])


def keras_runner(model) -> ChunkRunner:
    """A traced forward of a ``RepNet`` (inference mode) on uint8 chunk batches of any size."""
    import tensorflow as tf

    cfg = model.config
    spec = tf.TensorSpec([None, cfg.num_frames, cfg.image_size, cfg.image_size, 3], tf.uint8)
    forward = tf.function(lambda x: model(scale_for_repnet(x), training=False), input_signature=[spec])
    return lambda batch: [t.numpy() for t in forward(tf.convert_to_tensor(batch, tf.uint8))]


def count_video(path: str | os.PathLike, weights: str | os.PathLike | None = None, *, model=None,
                runner: ChunkRunner | None = None, variant: str | None = None,
                options: CountOptions = CountOptions(), show_progress: bool = True,
                info: VideoInfo | None = None) -> CountResult:
    """Count repetitions in the video at ``path``; ``info``: its ``video.probe``, when the caller
    has it already (else it is probed here).

    The model comes from ``weights`` (a folder with the official ``checkpoint``/``ckpt-*`` files,
    see ``repnet.model.load_repnet``), or ready-made as ``model`` (a ``RepNet``) or ``runner``
    (e.g. a TFLite interpreter from ``repnet.export``, then ``model`` gives its shape).
    """
    from movinet_crossfit.core import video
    from movinet_crossfit.core.progress import progress_bar

    path = Path(path)
    if info is None:
        info = video.probe(path)  # also the clear error for a missing, empty or unreadable file
    if model is None and runner is None:
        if weights is None:
            from movinet_crossfit.repnet.model import how_to_get_weights

            raise UserError("counting needs RepNet weights (--weights DIR); " + how_to_get_weights())
        from movinet_crossfit.repnet.model import load_repnet

        model = load_repnet(weights, variant)
    cfg = model.config if model is not None else runner.config
    runner = runner or keras_runner(model)
    total = info.num_frames or 0
    with progress_bar(total, f"counting {path.name}") if show_progress else _no_progress() as advance:
        return count_frames(video.iter_frames(path), runner, num_frames=cfg.num_frames,
                            image_size=cfg.image_size, period_offset=cfg.period_offset,
                            temperature=cfg.temperature, fps=info.fps, options=options, source=str(path),
                            advance=advance)


class _no_progress:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *exc):
        return False


def plot_count(result: CountResult, png: str | os.PathLike) -> Path:
    """Periodicity and count over time, with rep boundaries, beside the self-similarity matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from movinet_crossfit.core.fileio import save_figure

    t = np.arange(result.num_frames) / result.fps if result.fps else np.arange(result.num_frames)
    unit = "s" if result.fps else "frame"
    fig = plt.figure(figsize=(12, 5.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, width_ratios=[2.2, 1])
    ax_p, ax_c = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
    ax_s = fig.add_subplot(grid[:, 1])
    ax_p.plot(t, result.periodicity, color="tab:blue", lw=1.2, label="periodicity score")
    ax_p.fill_between(t, 0, 1, where=result.per_frame_counts > 0, color="tab:blue", alpha=0.12,
                      label="counted")
    ax_p.set_ylim(0, 1.02)
    ax_p.set_ylabel("periodicity")
    ax_p.legend(loc="upper right", fontsize=8)
    ax_p.set_title(f"{Path(result.source).name or 'video'}: {result.count:.1f} reps "
                   f"(score {result.score:.2f}, stride {result.stride})" + (f" - {result.note}" if result.note else ""),
                   fontsize=10)
    ax_c.plot(t, result.cumulative, color="tab:green", lw=1.6)
    for rep in result.reps:
        ax_c.axvline(rep.end_time if result.fps else rep.end_frame, color="grey", lw=0.6, ls=":")
    ax_c.set_ylabel("count")
    ax_c.set_xlabel(f"time ({unit})")
    if result.similarity is not None:
        ax_s.imshow(result.similarity, cmap="viridis", interpolation="nearest")
        ax_s.set_title("self-similarity (best chunk)", fontsize=10)
        ax_s.set_xlabel("sampled frame")
        ax_s.set_ylabel("sampled frame")
    return save_figure(fig, png)
