"""Video I/O and THE frame preprocessing shared by every stage.

* ``ffmpeg_executable`` / ``ffprobe_executable``: the one place that finds ffmpeg. A system
  ffmpeg on ``PATH`` wins; otherwise the static binary that the ``imageio-ffmpeg`` wheel ships
  is used, so a fresh machine needs no manual step. That wheel has no ffprobe, so ``probe``
  falls back to reading ffmpeg's own stream report.
* ``read_frames`` / ``iter_frames`` / ``sample_video``: decode to RGB uint8 through ffmpeg,
  streaming, so memory holds the frames kept, not the video (``decode_video`` holds it all: short
  clips only).
* ``sample_frame_indices`` + ``preprocess_frames``: how a clip becomes the model's input. The
  records, training, predict, the app and the exported graphs all go through these two.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError

DEFAULT_NUM_FRAMES = 10
DEFAULT_SIZE = 224
# File name suffixes taken for videos wherever a folder is searched (clip folders, pose inputs,
# Supervisely's "<video file name>.json" annotations); compare with ``path.suffix.lower()``.
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp", ".flv", ".wmv", ".mpg", ".mpeg")


class VideoError(UserError):
    """A video that cannot be probed or decoded. The message names the file."""


FFMPEG_ENV = "MOVINET_CROSSFIT_FFMPEG"


@functools.lru_cache(maxsize=None)
def ffmpeg_executable() -> str:
    """Path of the ffmpeg binary: ``$MOVINET_CROSSFIT_FFMPEG``, then ``PATH``, then imageio-ffmpeg.

    The variable holds a path, or pins one build: ``system`` (ffmpeg and ffprobe from ``PATH``) or
    ``wheel`` (the imageio-ffmpeg binary and no ffprobe, as on a fresh machine). The tests whose
    results depend on the build run under both (``scripts/test_ffmpeg_builds.sh``).
    """
    override = os.environ.get(FFMPEG_ENV, "").strip()
    if override == "wheel":
        return _wheel_ffmpeg()
    if override == "system":
        found = shutil.which("ffmpeg")
        if not found:
            raise UserError(f"{FFMPEG_ENV}=system but there is no ffmpeg on PATH: install it "
                            "(apt-get install ffmpeg) or unset the variable")
        return found
    if override:
        found = shutil.which(override)
        if not found:
            raise UserError(f"{FFMPEG_ENV}={override}: no executable there; give the path of an "
                            "ffmpeg binary, `system`, `wheel`, or unset it")
        return found
    return shutil.which("ffmpeg") or _wheel_ffmpeg()


def _wheel_ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise UserError(
            "ffmpeg not found: install it (apt-get install ffmpeg) or `pip install imageio-ffmpeg`"
        ) from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.lru_cache(maxsize=None)
def ffprobe_executable() -> str | None:
    """Path of ffprobe beside the chosen ffmpeg or on ``PATH``; ``None`` when there is none (or
    when ``$MOVINET_CROSSFIT_FFMPEG=wheel`` asks for the wheel's build, which ships none)."""
    if os.environ.get(FFMPEG_ENV, "").strip() == "wheel":
        return None
    sibling = Path(ffmpeg_executable()).with_name("ffprobe")
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    return shutil.which("ffprobe")


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    num_frames: int
    duration: float
    codec: str

    def to_dict(self) -> dict:
        return asdict(self)


def _fraction(text: str | None) -> float:
    if not text or text in ("0/0", "N/A"):
        return 0.0
    if "/" in text:
        num, den = text.split("/", 1)
        return float(num) / float(den) if float(den) else 0.0
    return float(text)


def check_readable(path: Path) -> None:
    """``VideoError`` naming ``path`` when it is missing, a folder or empty."""
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, expected a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes); re-download or re-cut it")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate, exact frame count and duration of the first video stream."""
    path = Path(path)
    check_readable(path)
    ffprobe = ffprobe_executable()
    if ffprobe:
        return _probe_with_ffprobe(path, ffprobe)
    return _probe_with_ffmpeg(path)


def _probe_with_ffprobe(path: Path, ffprobe: str) -> VideoInfo:
    import ffmpeg

    try:
        meta = ffmpeg.probe(str(path), cmd=ffprobe, count_packets=None, select_streams="v:0")
    except ffmpeg.Error as exc:
        message = exc.stderr.decode(errors="replace").strip().splitlines()
        raise VideoError(f"{path}: not a readable video (ffprobe: {message[-1] if message else exc})")
    streams = meta.get("streams") or []
    if not streams:
        raise no_video_stream_error(path, "ffprobe")
    stream = streams[0]
    fps = _fraction(stream.get("avg_frame_rate")) or _fraction(stream.get("r_frame_rate"))
    frames = int(stream.get("nb_read_packets") or stream.get("nb_frames") or 0)
    duration = float(stream.get("duration") or meta.get("format", {}).get("duration") or 0.0)
    if frames <= 0:
        raise VideoError(f"{path}: video stream holds no frames (ffprobe)")
    return VideoInfo(str(path), int(stream["width"]), int(stream["height"]), fps, frames, duration,
                     stream.get("codec_name", "?"))


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<codec>\w+).*?, (?P<w>\d{2,5})x(?P<h>\d{2,5})")
# ffmpeg prints rates of 1000 and more with a k: "1k fps", "1.20k tbr".
_FPS_RE = re.compile(r"(?P<rate>[\d.]+)(?P<k>k?) fps")
_TBR_RE = re.compile(r"(?P<rate>[\d.]+)(?P<k>k?) tbr")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_FRAMES_RE = re.compile(r"frame=\s*(\d+)")


def _stream_rate(line: str) -> float:
    """The frame rate of ffmpeg's ``Stream #0:0: Video: ...`` line (its fps, else its tbr); 0 if none."""
    match = _FPS_RE.search(line) or _TBR_RE.search(line)
    if not match:
        return 0.0
    return float(match.group("rate")) * (1000.0 if match.group("k") else 1.0)


def _probe_with_ffmpeg(path: Path) -> VideoInfo:
    # Copying the packets to the null muxer reads the container without decoding: exact
    # packet (= frame) count at disk speed.
    cmd = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-c", "copy", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    log = proc.stderr
    stream = _STREAM_RE.search(log)
    if no_video_stream(log):
        raise no_video_stream_error(path)
    if proc.returncode != 0 or stream is None:
        last = [line for line in log.strip().splitlines() if line.strip()]
        reason = last[-1] if last else f"exit code {proc.returncode}"
        if stream is None and proc.returncode == 0:
            reason = "no video stream"
        raise VideoError(f"{path}: not a readable video (ffmpeg: {reason})")
    line = log[stream.start():log.find("\n", stream.start())]
    fps = _stream_rate(line)
    frames = [int(m) for m in _FRAMES_RE.findall(log)]
    num_frames = frames[-1] if frames else 0
    if num_frames <= 0:
        raise VideoError(f"{path}: video stream holds no frames (ffmpeg)")
    duration_match = _DURATION_RE.search(log)
    duration = 0.0
    if duration_match:
        h, m, s = duration_match.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    return VideoInfo(str(path), int(stream["w"]), int(stream["h"]), fps, num_frames, duration,
                     stream["codec"])


@dataclass
class DecodedVideo:
    """All frames of a (short) video, with what ffmpeg reported about its stream."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps if self.fps else 0.0


class _FrameReader:
    """One ffmpeg process decoding to a stream of PPM images on stdout.

    PPM carries each frame's size in its header, so no separate probe is needed; ffmpeg's
    stream report (for the frame rate) is collected from stderr by a thread, which also keeps
    the stderr pipe from filling up and stalling ffmpeg.
    """

    def __init__(self, path: Path):
        import threading

        import ffmpeg

        self.path = path
        # passthrough: every decoded frame exactly once, none duplicated or dropped by ffmpeg.
        stream = ffmpeg.input(str(path)).output("pipe:", format="image2pipe", vcodec="ppm",
                                                 fps_mode="passthrough", map="0:v:0")
        args = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-nostats", *stream.get_args()]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stderr = b""
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        self._stderr = self.process.stderr.read()

    def __iter__(self) -> Iterator[np.ndarray]:
        out = self.process.stdout
        while True:
            magic = out.readline()
            if not magic:
                return
            if magic.strip() != b"P6":
                raise VideoError(f"{self.path}: unexpected decoder output")
            dims = out.readline().split()
            out.readline()  # max value, always 255 for rgb24
            width, height = int(dims[0]), int(dims[1])
            size = width * height * 3
            data = out.read(size)
            if len(data) < size:
                return
            yield np.frombuffer(data, np.uint8).reshape(height, width, 3)

    def close(self) -> tuple[int, str]:
        self.process.stdout.close()
        code = self.process.wait()
        self._thread.join()
        self.process.stderr.close()
        return code, self._stderr.decode(errors="replace")

    def fps(self) -> float:
        log = self._stderr.decode(errors="replace")
        stream = _STREAM_RE.search(log)
        if not stream:
            return 0.0
        return _stream_rate(log[stream.start():log.find("\n", stream.start())])


def no_video_stream(log: str) -> bool:
    """Whether an ffmpeg log run with ``-map 0:v:0`` says the input has no video stream (an audio
    file). Every ffmpeg build says "matches no streams"; the lines around it differ by version."""
    return "matches no streams" in log


def no_video_stream_error(path: str | os.PathLike, tool: str = "ffmpeg") -> VideoError:
    """THE message for a file without a video stream, the same from probe, decode, split and records."""
    return VideoError(f"{path}: no video stream ({tool}); is this an audio file?")


def _decode_failure(path: Path, log: str, code: int) -> VideoError:
    if no_video_stream(log):
        return no_video_stream_error(path)
    lines = [line for line in log.strip().splitlines() if line.strip()]
    reason = lines[-1] if lines else f"exit code {code}"
    return VideoError(f"{path}: not a readable video (ffmpeg: {reason})")


def iter_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames ``(H, W, 3)`` one at a time; memory stays at one frame.

    Frames decoded before a corrupt tail are yielded, then ``VideoError`` is raised.
    """
    path = Path(path)
    check_readable(path)
    reader = _FrameReader(path)
    count = 0
    try:
        for frame in reader:
            count += 1
            yield frame
    finally:
        code, log = reader.close()
    if code != 0 or count == 0:
        raise _decode_failure(path, log, code) if count == 0 else VideoError(
            f"{path}: decoding stopped after {count} frames (ffmpeg exit code {code})")


def decode_video(path: str | os.PathLike) -> DecodedVideo:
    """Decode every frame of a clip in one ffmpeg run, all held in memory: for tests and tools on
    short clips. Model input comes from ``sample_video`` (bounded memory); long videos stream
    through ``iter_frames``.

    A file whose tail is damaged still yields the frames before the damage (as a player would
    show them); a file with no decodable frame raises ``VideoError``.
    """
    path = Path(path)
    check_readable(path)
    reader = _FrameReader(path)
    try:
        frames = list(reader)
    finally:
        code, log = reader.close()
    if not frames:
        raise _decode_failure(path, log, code)
    return DecodedVideo(np.stack(frames), reader.fps())


def read_frames(path: str | os.PathLike, indices: Sequence[int]) -> np.ndarray:
    """Decode only the frames at ``indices`` (in that order, repeats allowed): ``(len, H, W, 3)``.

    Streams the video, so memory is bounded by the frames asked for. An index past the last
    decodable frame is an error naming the file.
    """
    path = Path(path)
    wanted = [int(i) for i in indices]
    needed = set(wanted)
    last = max(needed) if needed else -1
    kept: dict[int, np.ndarray] = {}
    decoded = 0
    frames = iter_frames(path)
    try:
        for index, frame in enumerate(frames):
            decoded = index + 1
            if index in needed:
                kept[index] = frame
            if index >= last:
                break
    finally:
        frames.close()
    missing = sorted(needed - kept.keys())
    if missing:
        raise VideoError(f"{path}: frame {missing[0]} asked for, but the video decodes only "
                         f"{decoded} frames")
    return np.stack([kept[i] for i in wanted])


@dataclass
class SampledVideo:
    """The frames a clip's sampling picks, and the whole video's decoded frame count and rate."""

    frames: np.ndarray  # (len(phases), num_samples, H, W, 3) uint8 RGB
    num_frames: int  # frames the whole video decodes to: what the indices were computed from
    fps: float  # ffmpeg's stream report, as ``decode_video`` gives it
    indices: np.ndarray  # (len(phases), num_samples) int64, ``sample_frame_indices`` at each phase
    passes: int  # decoding runs: 1, or 2 when the expected frame count was not the decoded one


def sample_video(path: str | os.PathLike, num_samples: int = DEFAULT_NUM_FRAMES,
                 phases: Sequence[float] = (0.5,), *, expected_frames: int | None = None) -> SampledVideo:
    """Decode only the frames ``sample_frame_indices`` picks, streaming: memory holds
    ``len(phases) * num_samples`` frames (plus one in flight), whatever the video's length.

    The frames are exactly those ``sample_clip(decode_video(path).frames, ...)`` picks, since the
    indices come from the count of frames the video *decodes* to. That count is expected to be the
    probe's packet count (``expected_frames``, or ``probe`` here), which is known before decoding,
    so one pass keeps the right frames. Where they differ (a stream-copied cut whose edit list
    discards leading packets; a damaged tail), the first pass has learnt the true count and a second
    pass keeps the right frames: twice the decoding time, never more memory. A reservoir of
    candidates for nearby counts was the alternative; it holds several times the frames and still
    cannot cover an arbitrary difference.
    """
    path = Path(path)
    phases = [float(phase) for phase in phases]
    if not phases:
        raise ValueError("phases must not be empty")
    if expected_frames is None:
        try:
            expected_frames = probe(path).num_frames
        except VideoError:
            expected_frames = 0  # the probe disagrees with the decoder: let decoding decide
    num_frames, fps, frames = _sample_pass(path, num_samples, phases, expected_frames)
    passes = 1
    if frames is None:
        passes = 2
        decoded, _, frames = _sample_pass(path, num_samples, phases, num_frames, known=True)
        if frames is None:  # a decoder that is not deterministic on this file
            raise VideoError(f"{path}: decoded {num_frames} frames, then only {decoded}; the file is "
                             "damaged: re-encode or re-download it")
    indices = np.stack([sample_frame_indices(num_frames, num_samples, phase) for phase in phases])
    return SampledVideo(frames, num_frames, fps, indices, passes)


def _sample_pass(path: Path, num_samples: int, phases: list[float], count: int,
                 known: bool = False) -> tuple[int, float, np.ndarray | None]:
    """One decoding run keeping the frames sampled from a video of ``count`` frames:
    ``(decoded frame count, fps, frames or None when count was not the decoded count)``.
    ``known``: ``count`` is the decoded count already, so decoding stops at the last sample."""
    check_readable(path)
    slots: dict[int, list[tuple[int, int]]] = {}  # frame index -> its (phase, sample) places
    if count > 0:
        for row, phase in enumerate(phases):
            for column, index in enumerate(sample_frame_indices(count, num_samples, phase)):
                slots.setdefault(int(index), []).append((row, column))
    out: np.ndarray | None = None
    filled = 0
    decoded = 0
    reader = _FrameReader(path)
    try:
        for index, frame in enumerate(reader):
            decoded = index + 1
            places = slots.get(index)
            if not places:
                continue
            if out is None:
                out = np.empty((len(phases), num_samples, *frame.shape), np.uint8)
            elif frame.shape != out.shape[2:]:
                raise VideoError(f"{path}: frame size changes from {out.shape[3]}x{out.shape[2]} to "
                                 f"{frame.shape[1]}x{frame.shape[0]} at frame {index}; re-encode it "
                                 "at one size")
            for row, column in places:
                out[row, column] = frame
                filled += 1
            if known and filled == len(phases) * num_samples:
                break
    finally:
        code, log = reader.close()
    if decoded == 0:
        raise _decode_failure(path, log, code)
    # As ``decode_video``: a damaged tail is tolerated, the frames before it are the video.
    complete = (known or decoded == count) and filled == len(phases) * num_samples
    return decoded, reader.fps(), out if complete else None


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
    """THE preprocessing: RGB uint8 frames ``[..., H, W, 3]`` -> uint8 ``[..., size, size, 3]``.

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
    shape = tf.shape(frames)
    height, width = shape[-3], shape[-2]
    side = tf.minimum(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    cropped = frames[..., top:top + side, left:left + side, :]
    resized = tf.image.resize(tf.cast(cropped, tf.float32), (size, size), method="bilinear",
                              antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


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
    probe's count when the caller has probed already, so the file is not probed again)."""
    sampled = sample_video(path, num_frames, expected_frames=expected_frames)
    clip = compiled_preprocess(size)(sampled.frames[0]).numpy()
    return clip, DecodedVideo(np.empty((sampled.num_frames, 0, 0, 3), np.uint8), sampled.fps)


def sample_clip(frames: np.ndarray, num_frames: int = DEFAULT_NUM_FRAMES, size: int = DEFAULT_SIZE,
                phase: float = 0.5) -> np.ndarray:
    """All of a clip's decoded frames ``[N, H, W, 3]`` -> uint8 ``[num_frames, size, size, 3]``:
    ``sample_frame_indices`` (at ``phase``) + ``preprocess_frames``, as records and predict do
    (they decode only the sampled frames: ``sample_video``)."""
    indices = sample_frame_indices(len(frames), num_frames, phase)
    return compiled_preprocess(size)(frames[indices]).numpy()
