"""Synthetic repetitions for training RepNet: any real clip becomes a labelled repeating video.

As in the RepNet paper (Dwibedi et al., CVPR 2020, section 4), a sample of ``num_frames`` frames
at the model size is made from one clip:

1. pick a period ``p`` (frames per repetition in the *output*) and a number of repetitions
   ``K >= min_reps``; each repetition's length is ``p`` jittered by up to ``period_jitter``
   (so speed drifts as in real workouts), clipped to the variant's period range;
2. pick a segment of the clip and play it once per repetition, resampled to that repetition's
   length (speed ``speed_range`` source frames per output frame); with ``reverse_prob`` the
   repetition is a palindrome (the segment forwards then backwards), so no frame jumps;
3. fill the remaining frames before and after with the clip's own frames outside the segment,
   played once at normal speed (stretched when the clip has too few; a still frame when there
   are none): these frames do not repeat, their periodicity label is 0;
4. with ``camera_motion_prob``, warp every frame with a slow, smooth affine drift (scale,
   translation, rotation from one random pose to another), so that a static camera is not the
   cue for "repeating".

Labels, one per output frame: ``period`` (frames per repetition, 0 outside the repetitions),
``periodicity`` (1 inside, 0 outside) and ``period_class`` (the model's class index for the
period: ``period - period_offset`` of the variant; 0 outside). Class 0 is period 0 for
``ckpt-70`` and period 1 for ``ckpt-88``: both under the 3 frames below which the counter gives
a period no confidence, so "no repetition" has a class that inference already reads as such.

Everything follows from the seed: the same clip and seed give the same pixels and labels.
``repetition_dataset`` streams such samples from a list of clips as a ``tf.data.Dataset``.

Caveat (shared with the paper): the context frames come from the clip itself; a clip that
already repeats (a whole WOD video) gives context frames that repeat too, labelled 0. Short,
single-rep clips are the cleanest sources.
"""
from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.progress import BatchReport


@dataclass(frozen=True)
class RepetitionConfig:
    """How samples are made. ``variant``, ``num_frames`` and ``image_size`` are the model's."""

    variant: str = "ckpt-70"
    num_frames: int = 64
    image_size: int = 112
    min_period: int = 3  # the counter ignores periods under 3 frames
    max_period: Optional[int] = None  # None: num_frames // min_reps (and the variant's largest period)
    min_reps: int = 2
    min_periodic_fraction: float = 0.5  # repetitions cover at least this share of the frames
    period_jitter: float = 0.1  # each repetition's length within +-10 % of the base period
    speed_range: tuple = (0.5, 2.0)  # source frames per output frame inside a repetition
    reverse_prob: float = 0.5
    camera_motion_prob: float = 0.5
    max_scale: float = 0.15  # zoom drift, +- share of the size
    max_shift: float = 0.1  # translation drift, +- share of the size
    max_rotation: float = 10.0  # rotation drift, +- degrees

    def __post_init__(self):
        object.__setattr__(self, "speed_range", tuple(float(v) for v in self.speed_range))
        largest = self.largest_period
        problems = []
        if self.min_period < 2:
            problems.append(f"min_period {self.min_period} < 2")
        if self.min_reps < 2:
            problems.append(f"min_reps {self.min_reps} < 2 (one repetition is not periodic)")
        if largest < self.min_period:
            problems.append(f"no period fits: min_period {self.min_period} > largest period {largest} "
                            f"({self.num_frames} frames, {self.min_reps} reps, variant {self.variant})")
        if not 0.0 < self.min_periodic_fraction <= 1.0:
            problems.append(f"min_periodic_fraction {self.min_periodic_fraction} outside (0, 1]")
        if not 0.0 <= self.period_jitter < 1.0:
            problems.append(f"period_jitter {self.period_jitter} outside [0, 1)")
        low, high = self.speed_range
        if not 0.0 < low <= high:
            problems.append(f"speed_range {self.speed_range}: need 0 < low <= high")
        for name in ("reverse_prob", "camera_motion_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} {getattr(self, name)} outside [0, 1]")
        if problems:
            raise UserError("repetition generator config: " + "; ".join(problems))

    @property
    def model_config(self):
        """The ``RepNetConfig`` these labels are for (period classes and offset come from it)."""
        from movinet_crossfit.repnet.model import RepNetConfig

        return RepNetConfig(variant=self.variant, num_frames=self.num_frames, image_size=self.image_size)

    @property
    def largest_period(self) -> int:
        cfg = self.model_config
        by_classes = cfg.num_period_classes - 1 + cfg.period_offset
        wanted = self.max_period if self.max_period is not None else self.num_frames // self.min_reps
        return int(min(wanted, by_classes, self.num_frames // self.min_reps))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["speed_range"] = list(self.speed_range)
        return out


@dataclass
class RepetitionSample:
    """One training sample: frames at the model size and per-frame labels."""

    frames: np.ndarray  # (T, S, S, 3) uint8
    period: np.ndarray  # (T,) int32, frames per repetition; 0 outside the repetitions
    period_class: np.ndarray  # (T,) int32, the model's period class; 0 outside
    periodicity: np.ndarray  # (T,) float32, 1 inside the repetitions
    count: int
    info: dict = field(default_factory=dict)


def _resize_all(frames: np.ndarray, size: int) -> np.ndarray:
    from movinet_crossfit.repnet.infer import preprocess_for_repnet

    if frames.shape[1:3] == (size, size):
        return frames
    return np.stack([preprocess_for_repnet(np.ascontiguousarray(f), size) for f in frames])


def _rep_lengths(rng: np.random.Generator, config: RepetitionConfig) -> tuple[int, list[int]]:
    low, high = config.min_period, config.largest_period
    base = int(rng.integers(low, high + 1))
    most = config.num_frames // base
    target = rng.uniform(config.min_periodic_fraction, 1.0) * config.num_frames / base
    reps = int(np.clip(round(target), config.min_reps, most))
    jitter = rng.uniform(-config.period_jitter, config.period_jitter, reps)
    lengths = np.clip(np.round(base * (1.0 + jitter)), low, high).astype(int)
    while lengths.sum() > config.num_frames:  # jitter pushed past the window: trim the longest
        lengths[int(np.argmax(lengths))] -= 1
    return base, [int(v) for v in lengths]


def _rep_indices(length: int, start: int, seg_len: int, palindrome: bool) -> np.ndarray:
    """One repetition's source frames: the segment's first to last frame, resampled to
    ``length`` frames (then back again, for a palindrome)."""
    k = np.arange(length, dtype=np.float64)
    if palindrome:  # up to the last frame at the middle, back down towards the first
        peak = (length + 1) // 2
        position = np.where(k <= peak, k / peak, (length - k) / max(1, length - peak))
    else:
        position = k / max(1, length - 1)
    return start + np.round(position * (seg_len - 1)).astype(int)


def _context_indices(lo: int, hi: int, count: int, before: bool, anchor: int) -> np.ndarray:
    """``count`` frames from the clip's range [lo, hi), in order, played once."""
    if count == 0:
        return np.zeros(0, int)
    if hi - lo >= count:  # natural speed, next to the repeated segment
        first = hi - count if before else lo
        return first + np.arange(count)
    if hi > lo:  # too few frames: stretch them (slow motion still never repeats)
        return lo + np.floor(np.arange(count) * (hi - lo) / count).astype(int)
    return np.full(count, anchor)


def _camera_matrices(rng: np.random.Generator, config: RepetitionConfig) -> tuple[np.ndarray | None, dict]:
    if rng.random() >= config.camera_motion_prob:
        return None, {}
    size, frames = config.image_size, config.num_frames
    ends = rng.uniform(-1.0, 1.0, (2, 4))  # (start, end) x (scale, dx, dy, angle)
    u = np.linspace(0.0, 1.0, frames)
    ease = u * u * (3.0 - 2.0 * u)  # smoothstep: the drift starts and stops gently
    params = ends[0] + (ends[1] - ends[0]) * ease[:, None]
    import cv2

    centre = (size / 2.0, size / 2.0)
    matrices = []
    for scale, dx, dy, angle in params:
        m = cv2.getRotationMatrix2D(centre, angle * config.max_rotation, 1.0 + scale * config.max_scale)
        m[:, 2] += (dx * config.max_shift * size, dy * config.max_shift * size)
        matrices.append(m)
    info = {"start": ends[0].round(4).tolist(), "end": ends[1].round(4).tolist()}
    return np.stack(matrices), info


def make_repetition_sample(frames: np.ndarray, seed, config: RepetitionConfig = RepetitionConfig()
                           ) -> RepetitionSample:
    """A labelled repeating sample from one clip's RGB uint8 frames ``(N, H, W, 3)`` (any size:
    frames are squeezed to the model size as counting does). ``seed``: an int, a sequence of ints
    or a ``numpy.random.Generator``."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 frames (N, H, W, 3), got {frames.dtype} {frames.shape}")
    if len(frames) < 2:
        raise UserError(f"a clip of {len(frames)} frame(s) cannot make repetitions; it needs at least 2")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    source = _resize_all(frames, config.image_size)
    n, total = len(source), config.num_frames
    base, lengths = _rep_lengths(rng, config)
    context = total - sum(lengths)
    before = int(rng.integers(0, context + 1))
    after = context - before
    palindrome = bool(rng.random() < config.reverse_prob)
    speed = float(rng.uniform(*config.speed_range))
    seg_len = int(np.clip(round(base * speed / (2.0 if palindrome else 1.0)), 2, n))
    start = int(rng.integers(0, n - seg_len + 1))

    index = [_context_indices(0, start, before, True, start)]
    period = [np.zeros(before, np.int32)]
    for length in lengths:
        index.append(_rep_indices(length, start, seg_len, palindrome))
        period.append(np.full(length, length, np.int32))
    index.append(_context_indices(start + seg_len, n, after, False, start + seg_len - 1))
    period.append(np.zeros(after, np.int32))
    index, period = np.concatenate(index), np.concatenate(period)

    out = source[index]
    matrices, camera = _camera_matrices(rng, config)
    if matrices is not None:
        import cv2

        size = config.image_size
        out = np.stack([cv2.warpAffine(f, m, (size, size), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REFLECT_101) for f, m in zip(out, matrices)])
    offset = config.model_config.period_offset
    periodic = period > 0
    info = {"source_frames": n, "segment_start": start, "segment_length": seg_len, "palindrome": palindrome,
            "base_period": base, "periods": lengths, "before": before, "after": after,
            "speed": round(speed, 4), "camera_motion": camera, "source_index": index.tolist()}
    return RepetitionSample(frames=np.ascontiguousarray(out), period=period,
                            period_class=np.where(periodic, period - offset, 0).astype(np.int32),
                            periodicity=periodic.astype(np.float32), count=len(lengths), info=info)


# --- sources and streaming --------------------------------------------------------------------

@dataclass(frozen=True)
class ClipSource:
    """A clip to draw samples from: a video file, optionally a range of it (frames win over
    seconds; the end is exclusive)."""

    path: str
    start_frame: Optional[int] = None
    end_frame: Optional[int] = None
    start_time: Optional[float] = None
    end_time: Optional[float] = None

    @property
    def name(self) -> str:
        ranges = [(self.start_frame, self.end_frame, ""), (self.start_time, self.end_time, " s")]
        for start, end, unit in ranges:
            if start is not None or end is not None:
                return f"{self.path}[{start or 0}:{'' if end is None else end}{unit}]"
        return self.path


def clip_sources(inputs: Sequence[str | os.PathLike | ClipSource]) -> list[ClipSource]:
    """Clip files, folders of them (``*.mp4``, recursively, sorted) or ``ClipSource`` objects."""
    out: list[ClipSource] = []
    for item in inputs:
        if isinstance(item, ClipSource):
            out.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(path.rglob("*.mp4"))
            if not found:
                raise UserError(f"{path}: no *.mp4 clips in this folder")
            out.extend(ClipSource(str(p)) for p in found)
        elif path.is_file():
            out.append(ClipSource(str(path)))
        else:
            raise UserError(f"{path}: no such clip or folder")
    return out


def load_clip_frames(source: ClipSource, image_size: int, max_frames: int = 512) -> np.ndarray:
    """The source's frames at the model size, ``(N, S, S, 3)`` uint8; at most ``max_frames``
    from the start of its range (decoding streams, so a long video costs only what is kept)."""
    from movinet_crossfit.data.counting_manifest import iter_frame_range
    from movinet_crossfit.repnet.infer import preprocess_for_repnet

    start, end = source.start_frame, source.end_frame
    if start is None and end is None and (source.start_time is not None or source.end_time is not None):
        from movinet_crossfit.core.video import probe

        fps = probe(source.path).fps
        if not fps:
            raise UserError(f"{source.path}: frame rate unknown, cannot cut {source.name}; give frames")
        start = int(round((source.start_time or 0.0) * fps))
        end = None if source.end_time is None else int(round(source.end_time * fps))
    frames = [preprocess_for_repnet(f, image_size) for f in
              itertools.islice(iter_frame_range(source.path, start or 0, end), max_frames)]
    if not frames:
        raise UserError(f"{source.name}: no frames in this range")
    return np.stack(frames)


class RepetitionStream:
    """Samples ``first, first+1, ...``: sample ``i`` uses the random stream ``(seed, i)`` only, so
    a resumed run continues the same sequence. Decoded clips are kept in a small LRU cache; a clip
    that cannot be read is reported once and never drawn again."""

    def __init__(self, sources: Sequence[ClipSource], config: RepetitionConfig, *, seed: int = 0,
                 cache_size: int = 64, max_source_frames: int = 512, report: BatchReport | None = None):
        if not sources:
            raise UserError("no clips to make repetitions from")
        self.sources, self.config, self.seed = list(sources), config, int(seed)
        self.cache_size, self.max_source_frames = max(1, cache_size), max_source_frames
        self.report = report or BatchReport("repetition sources")
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bad: set[int] = set()

    def _frames(self, i: int) -> np.ndarray:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        frames = load_clip_frames(self.sources[i], self.config.image_size, self.max_source_frames)
        if len(frames) < 2:
            raise UserError(f"{self.sources[i].name}: {len(frames)} frame(s); at least 2 are needed")
        self._cache[i] = frames
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return frames

    def sample(self, index: int) -> RepetitionSample:
        rng = np.random.default_rng([self.seed, int(index)])
        while len(self._bad) < len(self.sources):
            pick = int(rng.integers(len(self.sources)))
            if pick in self._bad:
                continue
            try:
                frames = self._frames(pick)
            except (UserError, OSError, ValueError) as exc:
                self._bad.add(pick)
                self.report.fail(self.sources[pick].name, str(exc))
                continue
            sample = make_repetition_sample(frames, rng, self.config)
            sample.info["source"] = self.sources[pick].name
            return sample
        first = self.report.failed[0] if self.report.failed else ("?", "?")
        raise UserError(f"none of the {len(self.sources)} clips could be read; first: {first[0]}: {first[1]}")

    def __iter__(self) -> Iterator[RepetitionSample]:
        return (self.sample(i) for i in itertools.count())


def repetition_dataset(sources: Sequence[str | os.PathLike | ClipSource], config: RepetitionConfig = RepetitionConfig(),
                       *, batch_size: int = 5, seed: int = 0, first_sample: int = 0,
                       num_samples: Optional[int] = None, cache_size: int = 64, max_source_frames: int = 512,
                       report: BatchReport | None = None, prefetch: int = 2):
    """A ``tf.data.Dataset`` of batches ``{"frames": uint8 [B, T, S, S, 3], "period": int32 [B, T],
    "period_class": int32 [B, T], "periodicity": float32 [B, T], "count": int32 [B]}``.

    Samples ``first_sample ...`` (endless unless ``num_samples``) of a ``RepetitionStream``;
    the frames stay uint8, the model's input scaling (``counting.scale_for_repnet``) is the
    training step's. Unreadable clips land in ``report`` (failed) and are skipped; when none can
    be read, iterating raises ``UserError``.
    """
    import tensorflow as tf

    stream = RepetitionStream(clip_sources(sources), config, seed=seed, cache_size=cache_size,
                              max_source_frames=max_source_frames, report=report)
    t, s = config.num_frames, config.image_size
    stop = None if num_samples is None else first_sample + int(num_samples)

    def generate():
        for i in itertools.count(first_sample) if stop is None else range(first_sample, stop):
            sample = stream.sample(i)
            yield {"frames": sample.frames, "period": sample.period, "period_class": sample.period_class,
                   "periodicity": sample.periodicity, "count": np.int32(sample.count)}

    signature = {"frames": tf.TensorSpec([t, s, s, 3], tf.uint8), "period": tf.TensorSpec([t], tf.int32),
                 "period_class": tf.TensorSpec([t], tf.int32), "periodicity": tf.TensorSpec([t], tf.float32),
                 "count": tf.TensorSpec([], tf.int32)}
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.batch(batch_size, drop_remainder=stop is None)
    return dataset.prefetch(prefetch)
