"""Video I/O: finding ffmpeg, probing, decoding.

* ``ffmpeg_executable`` / ``ffprobe_executable``: the one place that finds ffmpeg. A system
  ffmpeg on ``PATH`` wins; otherwise the static binary that the ``imageio-ffmpeg`` wheel ships
  is used, so a fresh machine needs no manual step. That wheel has no ffprobe, so ``probe``
  falls back to reading ffmpeg's own stream report.
* ``read_frames`` / ``iter_frames``: decode to RGB uint8 through ffmpeg, streaming, so memory
  holds the frames kept, not the video (``decode_video`` holds it all: short clips only).

How a clip becomes model input (sampled decoding, THE preprocessing) is ``core.clip_sampling``,
built on this module.
"""
from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from movinet_crossfit.core.errors import UserError

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


# A rate above this that a video gives only as its tbr, with no fps, is a time base, not a frame rate
# (an RTSP camera's, or its recording's, "90k tbr, 90k tbn"; a Matroska file's "1k tbr"): not said.
MAX_TBR_FPS = 240.0


def frame_rate(info: VideoInfo) -> tuple[float, str]:
    """The rate to time a file's frames at, and how it was found: ``(fps, "said")`` where the file says
    its rate; ``(frames / duration, "counted")`` where it does not and that gives 1 to ``MAX_TBR_FPS``
    frames a second; else ``(0.0, "none")``. ``analyze`` and ``live`` on a file both time it so."""
    if info.fps and math.isfinite(info.fps) and info.fps > 0:
        return float(info.fps), "said"
    if info.duration and info.num_frames > 1:
        counted = info.num_frames / info.duration
        if 1.0 <= counted <= MAX_TBR_FPS:
            return counted, "counted"
    return 0.0, "none"


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
    fps = _fraction(stream.get("avg_frame_rate"))
    if not fps:  # r_frame_rate is ffmpeg's tbr
        fps = _tbr_rate(_fraction(stream.get("r_frame_rate")))
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
    """The frame rate of ffmpeg's ``Stream #0:0: Video: ...`` line: its fps, else its tbr where that
    is not a time base (at most ``MAX_TBR_FPS``); 0 if none."""
    match = _FPS_RE.search(line)
    if match:
        return _rate(match)
    match = _TBR_RE.search(line)
    return _tbr_rate(_rate(match)) if match else 0.0


def _tbr_rate(tbr: float) -> float:
    """A tbr as a frame rate: 0 (not said) where it is a time base, over ``MAX_TBR_FPS``."""
    return tbr if tbr <= MAX_TBR_FPS else 0.0


def _rate(match: re.Match) -> float:
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

    def __init__(self, path: Path, select: Sequence[int] | None = None):
        import threading

        import ffmpeg

        self.path = path
        # passthrough: every decoded frame exactly once, none duplicated or dropped by ffmpeg.
        # rgb24: 8 bits whatever the source's depth (a 10-bit video would get 16-bit PPM).
        options = dict(format="image2pipe", vcodec="ppm", pix_fmt="rgb24", fps_mode="passthrough",
                       map="0:v:0")
        log = []
        if select is not None:
            # Only the frames numbered in ``select`` are converted to RGB and piped (every frame is
            # still decoded: they reference each other); the verbose log's "N frames decoded"
            # then tells the decoded count (``decoded_count``).
            terms = "+".join(f"eq(n\\,{int(i)})" for i in sorted(set(select)))
            options["vf"] = f"select='{terms or 0}'"
            log = ["-loglevel", "verbose"]
        stream = ffmpeg.input(str(path)).output("pipe:", **options)
        args = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-nostats", *log, *stream.get_args()]
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

    def decoded_count(self) -> int | None:
        """Frames the decoder output, from the verbose log (``select`` runs); ``None`` if not said."""
        found = re.findall(rb"(\d+) frames decoded", self._stderr)
        return int(found[0]) if found else None

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
    short clips. Model input comes from ``clip_sampling.sample_video`` (bounded memory); long
    videos stream through ``iter_frames``.

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
