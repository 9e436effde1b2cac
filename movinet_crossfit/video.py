"""Video I/O and THE frame preprocessing shared by every stage.

* ``ffmpeg_executable`` / ``ffprobe_executable``: the one place that finds ffmpeg. A system
  ffmpeg on ``PATH`` wins; otherwise the static binary that the ``imageio-ffmpeg`` wheel ships
  is used, so a fresh machine needs no manual step. That wheel has no ffprobe, so ``probe``
  falls back to reading ffmpeg's own stream report.
* ``read_frames`` / ``iter_frames``: decode to RGB uint8 through ffmpeg-python.
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

from movinet_crossfit.errors import UserError

DEFAULT_NUM_FRAMES = 10
DEFAULT_SIZE = 224


class VideoError(UserError):
    """A video that cannot be probed or decoded. The message names the file."""


@functools.lru_cache(maxsize=None)
def ffmpeg_executable() -> str:
    """Path of the ffmpeg binary: ``$MOVINET_CROSSFIT_FFMPEG``, then ``PATH``, then imageio-ffmpeg."""
    override = os.environ.get("MOVINET_CROSSFIT_FFMPEG")
    if override:
        return override
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise UserError(
            "ffmpeg not found: install it (apt-get install ffmpeg) or `pip install imageio-ffmpeg`"
        ) from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.lru_cache(maxsize=None)
def ffprobe_executable() -> str | None:
    """Path of ffprobe beside the chosen ffmpeg or on ``PATH``; ``None`` when there is none."""
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


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, expected a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes); re-download or re-cut it")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate, exact frame count and duration of the first video stream."""
    path = Path(path)
    _check_readable(path)
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
        raise VideoError(f"{path}: no video stream (ffprobe)")
    stream = streams[0]
    fps = _fraction(stream.get("avg_frame_rate")) or _fraction(stream.get("r_frame_rate"))
    frames = int(stream.get("nb_read_packets") or stream.get("nb_frames") or 0)
    duration = float(stream.get("duration") or meta.get("format", {}).get("duration") or 0.0)
    if frames <= 0:
        raise VideoError(f"{path}: video stream holds no frames (ffprobe)")
    return VideoInfo(str(path), int(stream["width"]), int(stream["height"]), fps, frames, duration,
                     stream.get("codec_name", "?"))


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<codec>\w+).*?, (?P<w>\d{2,5})x(?P<h>\d{2,5})")
_FPS_RE = re.compile(r"(?P<fps>[\d.]+) fps")
_TBR_RE = re.compile(r"(?P<tbr>[\d.]+)k? tbr")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_FRAMES_RE = re.compile(r"frame=\s*(\d+)")


def _probe_with_ffmpeg(path: Path) -> VideoInfo:
    # Copying the packets to the null muxer reads the container without decoding: exact
    # packet (= frame) count at disk speed.
    cmd = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-c", "copy", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    log = proc.stderr
    stream = _STREAM_RE.search(log)
    if proc.returncode != 0 or stream is None:
        last = [line for line in log.strip().splitlines() if line.strip()]
        reason = last[-1] if last else f"exit code {proc.returncode}"
        if stream is None and proc.returncode == 0:
            reason = "no video stream"
        raise VideoError(f"{path}: not a readable video (ffmpeg: {reason})")
    line = log[stream.start():log.find("\n", stream.start())]
    fps_match = _FPS_RE.search(line) or _TBR_RE.search(line)
    fps = float(fps_match.group(1)) if fps_match else 0.0
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


def _decode_command(path: Path, size: tuple[int, int] | None):
    import ffmpeg

    stream = ffmpeg.input(str(path))
    if size is not None:
        stream = stream.filter("scale", size[0], size[1])
    # passthrough: every decoded frame exactly once, no duplication or dropping by ffmpeg.
    return stream.output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough",
                         loglevel="error")


def iter_frames(path: str | os.PathLike, info: VideoInfo | None = None,
                size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames ``(H, W, 3)`` one at a time; memory stays at one frame."""
    path = Path(path)
    info = info or probe(path)
    width, height = size or (info.width, info.height)
    frame_bytes = width * height * 3
    process = _decode_command(path, size).run_async(cmd=ffmpeg_executable(), pipe_stdout=True,
                                                    pipe_stderr=True, quiet=False)
    try:
        while True:
            chunk = process.stdout.read(frame_bytes)
            if len(chunk) < frame_bytes:
                break
            yield np.frombuffer(chunk, np.uint8).reshape(height, width, 3)
    finally:
        process.stdout.close()
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        code = process.wait()
    if code != 0:
        raise VideoError(f"{path}: decoding failed (ffmpeg: {stderr.strip().splitlines()[-1:] or code})")


def read_frames(path: str | os.PathLike, indices: Sequence[int] | None = None,
                info: VideoInfo | None = None) -> np.ndarray:
    """Decode a clip to ``(T, H, W, 3)`` uint8 RGB; with ``indices``, only those frames (in order,
    repeats allowed) are kept, so memory is bounded by the frames asked for."""
    path = Path(path)
    info = info or probe(path)
    if indices is None:
        frames = list(iter_frames(path, info))
    else:
        wanted = np.asarray(indices, dtype=np.int64)
        needed = set(int(i) for i in wanted)
        last = max(needed) if needed else -1
        kept: dict[int, np.ndarray] = {}
        for index, frame in enumerate(iter_frames(path, info)):
            if index in needed:
                kept[index] = frame
            if index >= last:
                break
        missing = needed - kept.keys()
        if missing and kept:
            # The container promised more frames than it decoded (a truncated file): the
            # nearest earlier frame stands in, which is what a player would show.
            available = np.array(sorted(kept))
            for index in missing:
                kept[index] = kept[int(available[available <= index][-1]) if (available <= index).any()
                                   else int(available[0])]
        frames = [kept[int(i)] for i in wanted if int(i) in kept]
    if not frames:
        raise VideoError(f"{path}: no decodable frames")
    return np.stack(frames)


def sample_frame_indices(num_frames: int, num_samples: int = DEFAULT_NUM_FRAMES) -> np.ndarray:
    """Indices of ``num_samples`` frames spread evenly over a clip of ``num_frames``.

    Each sample is the middle frame of one of ``num_samples`` equal slices of the clip, so the
    samples are symmetric about the clip's centre and never crowd one end. A clip shorter than
    ``num_samples`` repeats frames evenly (each frame about ``num_samples/num_frames`` times)
    instead of padding one end with the last frame.
    """
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    centres = (np.arange(num_samples) + 0.5) * num_frames / num_samples
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


def to_model_input(frames):
    """uint8 frames -> float32 in [0, 1], the range MoViNet was trained on."""
    import tensorflow as tf

    return tf.cast(frames, tf.float32) / 255.0


def load_clip(path: str | os.PathLike, num_frames: int = DEFAULT_NUM_FRAMES,
              size: int = DEFAULT_SIZE) -> np.ndarray:
    """Decode a clip, sample ``num_frames`` evenly and preprocess: uint8 ``[num_frames, size, size, 3]``.

    This is the path from a video file to model input used by records and predict alike.
    """
    info = probe(path)
    indices = sample_frame_indices(info.num_frames, num_frames)
    frames = read_frames(path, indices, info)
    return np.asarray(preprocess_frames(frames, size))
