"""How a clip becomes the model's input: sampled decoding and THE frame preprocessing.

* ``sample_video`` (records, predict, evaluate, the app, the handler): decode a video keeping only
  the frames ``sample_frame_indices`` picks, so memory holds the frames kept, not the video, and
  only those frames are converted to RGB: inside this process with OpenCV's FFmpeg where that is
  the same FFmpeg as the CLI's (no process to start, no probe), else through the ffmpeg CLI with a
  ``select`` filter.
* ``sample_frame_indices`` + ``preprocess_frames``: the records, training, predict, the app and the
  exported graphs all go through these two (``load_clip``: a file to model input).

Probing and whole-video decoding are ``core.video``'s; this module builds on it, never the reverse.
Its functions are looked up on the module (``video.probe``), so a test that replaces one sees
every call.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.video import DecodedVideo, VideoError

DEFAULT_NUM_FRAMES = 10
DEFAULT_SIZE = 224


@dataclass
class SampledVideo:
    """The frames a clip's sampling picks, and the whole video's decoded frame count and rate."""

    frames: np.ndarray  # (len(phases), num_samples, H, W, 3) uint8 RGB
    num_frames: int  # frames the whole video decodes to: what the indices were computed from
    fps: float  # ffmpeg's stream report, as ``decode_video`` gives it
    indices: np.ndarray  # (len(phases), num_samples) int64, ``sample_frame_indices`` at each phase
    passes: int  # decoding runs: 1, or 2 when the expected frame count was not the decoded one


def sample_video(path: str | os.PathLike, num_samples: int = DEFAULT_NUM_FRAMES,
                 phases: Sequence[float] = (0.5,), *, expected_frames: int | None = None,
                 square: bool = False, decoder: str = "auto") -> SampledVideo:
    """Decode the video and keep only the frames ``sample_frame_indices`` picks: memory holds
    ``len(phases) * num_samples`` frames (plus one in flight), whatever the video's length, and
    only those frames are converted to RGB.

    The frames are exactly those ``sample_clip(decode_video(path).frames, ...)`` picks, since the
    indices come from the count of frames the video *decodes* to. That count is expected to be the
    container's frame count (``expected_frames``, else the count an MP4/MOV states, else
    ``video.probe``), which is known before decoding, so one pass keeps the right frames. Where they
    differ (a stream-copied cut whose edit list discards leading packets; a damaged tail), the
    first pass has learnt the true count and a second pass keeps the right frames: twice the
    decoding time, never more memory. A reservoir of candidates for nearby counts was the
    alternative; it holds several times the frames and still cannot cover an arbitrary difference.

    Every frame up to the last sample is decoded whatever the decoder: seeking lands on keyframes
    and a clip is one GOP, and the frames to keep may be B-frames no other frame references, so
    skipping frames would change which frames come out (docs/performance.md measures the options).

    ``square``: keep each frame's centre square only (``preprocess_frames`` crops the same square,
    so a square-cropped clip preprocesses to the same model input, with less to copy).
    ``decoder``: ``auto`` (``opencv`` where OpenCV's FFmpeg is the one the CLI in use is built
    from, else ``ffmpeg``), ``opencv`` (in this process: no ffmpeg process to start) or
    ``ffmpeg`` (the CLI, converting only the selected frames).
    """
    path = Path(path)
    phases = [float(phase) for phase in phases]
    if not phases:
        raise ValueError("phases must not be empty")
    if decoder not in ("auto", "opencv", "ffmpeg"):
        raise ValueError(f"decoder must be auto, opencv or ffmpeg, got {decoder!r}")
    video.check_readable(path)
    in_process = decoder == "opencv" or (decoder == "auto" and in_process_decoding())
    capture = _open_capture(path) if in_process else None
    if expected_frames is None:
        # Only a first guess (decoding checks it), so OpenCV may read it for the CLI path too:
        # parsing the container in process costs far less than a probe process.
        counter = capture if capture is not None or in_process else (
            _open_capture(path) if path.suffix.lower() in _COUNTED_CONTAINERS else None)
        expected_frames = _stated_frame_count(path, counter)
        if counter is not None and counter is not capture:
            counter.release()
    first_pass = functools.partial(_capture_pass, capture) if capture is not None else _ffmpeg_pass
    num_frames, fps, frames = first_pass(path, num_samples, phases, expected_frames, square=square)
    passes = 1
    if frames is None:
        passes = 2
        second_pass = _capture_pass_reopened if capture is not None else _ffmpeg_pass
        decoded, _, frames = second_pass(path, num_samples, phases, num_frames, known=True, square=square)
        if frames is None:  # a decoder that is not deterministic on this file
            raise VideoError(f"{path}: decoded {num_frames} frames, then only {decoded}; the file is "
                             "damaged: re-encode or re-download it")
    indices = np.stack([sample_frame_indices(num_frames, num_samples, phase) for phase in phases])
    return SampledVideo(frames, num_frames, fps, indices, passes)


def in_process_decoding() -> bool:
    """Whether ``sample_video`` decodes inside this process (OpenCV's FFmpeg) by default.

    Only where the ffmpeg CLI in use is the imageio-ffmpeg wheel's: OpenCV's wheel bundles the
    same FFmpeg generation, so both give bit-identical RGB frames (``tests/test_video.py`` checks
    it on the real clips), and records, predict and ``decode_video`` keep seeing the same
    pixels. A system ffmpeg (another version, another swscale) keeps the CLI path.
    """
    if os.environ.get(video.FFMPEG_ENV, "").strip() not in ("", "wheel"):
        return False
    import importlib.util

    if importlib.util.find_spec("cv2") is None:  # pragma: no cover - a dependency
        return False
    try:
        return os.path.samefile(video.ffmpeg_executable(), video._wheel_ffmpeg())
    except (UserError, OSError):
        return False


# Containers with a sample table: the frame count they state is the packet count ``video.probe`` reads.
_COUNTED_CONTAINERS = (".mp4", ".mov", ".m4v", ".3gp")


def _stated_frame_count(path: Path, capture) -> int:
    """The first guess at the decoded frame count: the container's, or ``probe``'s (a process)."""
    if capture is not None and path.suffix.lower() in _COUNTED_CONTAINERS:
        import cv2

        stated = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if stated > 0:
            return stated
    try:
        return video.probe(path).num_frames
    except VideoError:
        return 0  # the probe disagrees with the decoder: let decoding decide


def _open_capture(path: Path):
    """An OpenCV capture of ``path``, or ``None`` when OpenCV cannot open it (the CLI path then
    decodes it, or says why it cannot, in one message naming the file)."""
    # Quiet: a file OpenCV cannot open is reported by the CLI path, not by libav's and OpenCV's
    # own log lines on stderr (read by OpenCV when its FFmpeg backend first starts).
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2

    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    finally:
        logging.setLogLevel(level)
    if capture.isOpened():
        return capture
    capture.release()
    return None


def _slots(count: int, num_samples: int, phases: list[float]) -> dict[int, list[tuple[int, int]]]:
    """Frame index -> its (phase, sample) places, for a video of ``count`` frames."""
    slots: dict[int, list[tuple[int, int]]] = {}
    if count > 0:
        for row, phase in enumerate(phases):
            for column, index in enumerate(sample_frame_indices(count, num_samples, phase)):
                slots.setdefault(int(index), []).append((row, column))
    return slots


def centre_square(frames: np.ndarray) -> np.ndarray:
    """The centre square of ``[..., H, W, C]`` frames (the shorter side whole): the crop THE
    preprocessing takes (``preprocess_frames``), in numpy, without copying."""
    height, width = frames.shape[-3], frames.shape[-2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return frames[..., top:top + side, left:left + side, :]


class _Placer:
    """Puts each kept frame at its (phase, sample) places of the output array."""

    def __init__(self, path: Path, num_samples: int, phases: list[float], count: int, square: bool):
        self.path, self.square = path, square
        self.shape = (len(phases), num_samples)
        self.slots = _slots(count, num_samples, phases)
        self.out: np.ndarray | None = None
        self.filled = 0

    @property
    def full(self) -> bool:
        return self.filled == self.shape[0] * self.shape[1]

    def place(self, index: int, frame: np.ndarray, bgr: bool = False) -> None:
        """Put ``frame`` (RGB; ``bgr``: OpenCV's BGR, converted here) at its places."""
        if self.square:
            frame = centre_square(frame)
        if self.out is None:
            self.out = np.empty((*self.shape, *frame.shape), np.uint8)
        elif frame.shape != self.out.shape[2:]:
            raise VideoError(f"{self.path}: frame size changes from {self.out.shape[3]}x{self.out.shape[2]} "
                             f"to {frame.shape[1]}x{frame.shape[0]} at frame {index}; re-encode it at one size")
        places = self.slots[index]
        first = self.out[places[0]]
        if bgr:
            # Channel order swapped by OpenCV straight into the output: the same bytes as numpy's
            # ``first[...] = frame[..., ::-1]``, about 15 times faster (a reversed-stride copy is
            # numpy's slow path: 9 of the ~55 ms per clip went there).
            import cv2

            converted = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=first)
            if converted is not first:  # pragma: no cover - OpenCV allocated instead of filling dst
                first[...] = converted
        else:
            first[...] = frame
        for row, column in places[1:]:  # a clip shorter than the samples repeats frames
            self.out[row, column] = first
        self.filled += len(places)


def _capture_pass(capture, path: Path, num_samples: int, phases: list[float], count: int,
                  known: bool = False, square: bool = False) -> tuple[int, float, np.ndarray | None]:
    """``_ffmpeg_pass`` inside this process: every frame is decoded (``grab``), only the kept
    ones are converted to RGB (``retrieve``). Releases ``capture``. A file OpenCV decodes no frame
    of goes to the CLI, whose error names the problem."""
    import cv2

    placer = _Placer(path, num_samples, phases, count, square)
    decoded = 0
    try:
        while capture.grab():
            index = decoded
            decoded += 1
            if index not in placer.slots:
                continue
            ok, frame = capture.retrieve()
            if not ok:
                raise VideoError(f"{path}: frame {index} decoded but could not be converted to RGB")
            placer.place(index, frame, bgr=True)
            if known and placer.full:
                break
        fps = _printed_rate(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()
    if decoded == 0:
        return _ffmpeg_pass(path, num_samples, phases, count, known, square)
    complete = (known or decoded == count) and placer.full
    return decoded, fps, placer.out if complete else None


def _capture_pass_reopened(path: Path, *args, **kwargs) -> tuple[int, float, np.ndarray | None]:
    capture = _open_capture(path)
    if capture is None:
        return _ffmpeg_pass(path, *args, **kwargs)
    return _capture_pass(capture, path, *args, **kwargs)


def _printed_rate(fps: float) -> float:
    """A frame rate as ffmpeg's stream report prints it (and ``_stream_rate`` reads it back):
    26.3627 -> 26.36, so both decoders report the same ``fps`` (libavformat's ``print_fps``)."""
    hundredths = round(fps * 100)
    if not fps or not hundredths:
        return float(f"{fps:.4f}")
    if hundredths % 100:
        return float(f"{fps:.2f}")
    if hundredths % 100_000:
        return float(f"{fps:.0f}")
    return float(f"{fps / 1000:.0f}") * 1000.0


def _ffmpeg_pass(path: Path, num_samples: int, phases: list[float], count: int,
                 known: bool = False, square: bool = False) -> tuple[int, float, np.ndarray | None]:
    """One decoding run keeping the frames sampled from a video of ``count`` frames:
    ``(decoded frame count, fps, frames or None when count was not the decoded count)``.
    ``known``: ``count`` is the decoded count already, so decoding stops at the last sample."""
    placer = _Placer(path, num_samples, phases, count, square)
    kept = sorted(placer.slots)
    reader = video._FrameReader(path, select=kept)
    try:
        for position, frame in enumerate(reader):
            if position >= len(kept):
                break
            placer.place(kept[position], frame)
            if known and placer.full:
                break
    finally:
        code, log = reader.close()
    decoded = reader.decoded_count()
    if known and placer.full:
        return count, reader.fps(), placer.out  # stopped at the last sample: the log has no count
    if not decoded:
        # Nothing decoded (the unselected run says why in its usual words), or a build whose
        # log does not state the count: decode again, every frame piped and counted here.
        return _ffmpeg_pass_unselected(path, num_samples, phases, count, known, square)
    # As ``decode_video``: a damaged tail is tolerated, the frames before it are the video.
    complete = (known or decoded == count) and placer.full
    return decoded, reader.fps(), placer.out if complete else None


def _ffmpeg_pass_unselected(path: Path, num_samples: int, phases: list[float], count: int,
                            known: bool = False, square: bool = False) -> tuple[int, float, np.ndarray | None]:
    """``_ffmpeg_pass`` with every frame piped and counted here: for a build that does not log
    its decoded frame count."""
    placer = _Placer(path, num_samples, phases, count, square)
    decoded = 0
    reader = video._FrameReader(path)
    try:
        for index, frame in enumerate(reader):
            decoded = index + 1
            if index in placer.slots:
                placer.place(index, frame)
                if known and placer.full:
                    break
    finally:
        code, log = reader.close()
    if decoded == 0:
        raise video._decode_failure(path, log, code)
    complete = (known or decoded == count) and placer.full
    return decoded, reader.fps(), placer.out if complete else None


def sample_frame_indices(num_frames: int, num_samples: int = DEFAULT_NUM_FRAMES, phase: float = 0.5) -> np.ndarray:
    """Indices of ``num_samples`` frames spread evenly over a clip of ``num_frames``.

    Each sample is the middle frame of one of ``num_samples`` equal slices of the clip, so the
    samples are symmetric about the clip's centre and never crowd one end. A clip shorter than
    ``num_samples`` repeats frames evenly (each frame about ``num_samples/num_frames`` times)
    instead of padding one end with the last frame.

    ``phase`` in [0, 1) moves every sample to that fraction of its slice instead of the middle
    (0.5, what records and predict use); other phases give the other views of multi-clip
    test-time averaging (``evaluate --tta clips``).
    """
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    if not 0.0 <= phase < 1.0:
        raise ValueError(f"phase must be in [0, 1), got {phase}")
    centres = (np.arange(num_samples) + phase) * num_frames / num_samples
    return np.minimum(np.floor(centres).astype(np.int64), num_frames - 1)


def preprocess_frames(frames, size: int = DEFAULT_SIZE):
    """THE preprocessing: RGB uint8 frames ``[N, H, W, 3]`` (or one ``[H, W, 3]``) -> uint8
    ``[N, size, size, 3]`` (``[size, size, 3]``).

    Centre-crop to a square (the shorter side is kept whole, as Kinetics-trained MoViNets saw
    their inputs), then an anti-aliased bilinear resize. Cropping first is the same picture as
    resizing first, for less work. Output stays uint8 so records can store it as JPEG; the model
    divides by 255 itself (see ``to_model_input``). Works on numpy arrays eagerly and on tensors
    inside a traced graph (the exported SavedModel calls it).
    """
    import tensorflow as tf

    frames = tf.convert_to_tensor(frames)
    if frames.dtype != tf.uint8:
        raise TypeError(f"preprocess_frames expects uint8 RGB frames, got {frames.dtype}")
    rank = frames.shape.rank
    if rank not in (3, 4):
        raise ValueError(f"preprocess_frames expects frames [H, W, 3] or [N, H, W, 3], got shape {frames.shape}")
    shape = tf.shape(frames)
    height, width = shape[-3], shape[-2]
    side = tf.minimum(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    cropped = frames[..., top:top + side, left:left + side, :]
    batch = cropped if rank == 4 else cropped[None]
    # tf.image.resize(float frames, method="bilinear", antialias=True) is this op on float32 frames;
    # the op reads uint8 frames itself (each pixel converted exactly as it is gathered), which
    # saves casting the whole clip to a float copy first: the same numbers, bit for bit
    # (tests/test_numpy_preprocess.py), 2 of the ~20 ms per clip.
    scale = tf.cast(size, tf.float32) / tf.cast(tf.stack([side, side]), tf.float32)
    resized = tf.raw_ops.ScaleAndTranslate(images=batch, size=tf.constant([size, size], tf.int32), scale=scale,
                                           translation=tf.zeros([2], tf.float32), kernel_type="triangle",
                                           antialias=True)
    out = tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    return out if rank == 4 else out[0]


@functools.lru_cache(maxsize=8)
def compiled_preprocess(size: int):
    """``preprocess_frames`` traced once per size: the same ops, without eager per-op overhead.
    Callers that preprocess frame by frame (``predict_timeline``) or warm it up (the app) use it."""
    import tensorflow as tf

    return tf.function(lambda frames: preprocess_frames(frames, size),
                       input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])


def to_model_input(frames):
    """uint8 frames -> float32 in [0, 1], the range MoViNet was trained on."""
    import tensorflow as tf

    return tf.cast(frames, tf.float32) / 255.0


def load_clip(path: str | os.PathLike, num_frames: int = DEFAULT_NUM_FRAMES,
              size: int = DEFAULT_SIZE) -> np.ndarray:
    """Decode a clip, sample ``num_frames`` evenly and preprocess: uint8 ``[num_frames, size, size, 3]``.

    This is the path from a video file to model input used by records and predict alike.
    """
    return load_clip_with_fps(path, num_frames, size)[0]


def load_clip_with_fps(path: str | os.PathLike, num_frames: int = DEFAULT_NUM_FRAMES,
                       size: int = DEFAULT_SIZE, *, expected_frames: int | None = None) -> tuple[np.ndarray, DecodedVideo]:
    """``load_clip`` that also returns the decoded video's frame count and rate (frames dropped).
    Only the sampled frames are decoded into memory (``sample_video``; ``expected_frames``: the
    probe's count when the caller has probed already, so the file is not probed again). Frames are
    kept square-cropped, as ``preprocess_frames`` would crop them: less to copy, the same input."""
    sampled = sample_video(path, num_frames, expected_frames=expected_frames, square=True)
    clip = compiled_preprocess(size)(sampled.frames[0]).numpy()
    return clip, DecodedVideo(np.empty((sampled.num_frames, 0, 0, 3), np.uint8), sampled.fps)


def sample_clip(frames: np.ndarray, num_frames: int = DEFAULT_NUM_FRAMES, size: int = DEFAULT_SIZE,
                phase: float = 0.5) -> np.ndarray:
    """All of a clip's decoded frames ``[N, H, W, 3]`` -> uint8 ``[num_frames, size, size, 3]``:
    ``sample_frame_indices`` (at ``phase``) + ``preprocess_frames``, as records and predict do
    (they decode only the sampled frames: ``sample_video``)."""
    indices = sample_frame_indices(len(frames), num_frames, phase)
    return compiled_preprocess(size)(frames[indices]).numpy()
