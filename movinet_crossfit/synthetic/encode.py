"""Raw RGB frames -> h264 mp4 through one ffmpeg process, written atomically and reproducibly."""
from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Iterable

import numpy as np

from movinet_crossfit.core.fileio import atomic_path
from movinet_crossfit.core.video import VideoError, ffmpeg_executable


def encoder_command(path: str | os.PathLike, size: tuple[int, int], fps: float, crf: int = 23,
                    preset: str = "veryfast") -> list[str]:
    """The ffmpeg command line (built with ffmpeg-python) that reads rgb24 frames on stdin.

    One thread and bit-exact flags make the same frames give the same bytes; a keyframe every
    second keeps later cutting accurate and cheap.
    """
    import ffmpeg

    width, height = size
    stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps)
    stream = stream.output(str(path), format="mp4", vcodec="libx264", pix_fmt="yuv420p", preset=preset,
                           crf=crf, g=max(1, int(round(fps))), threads=1, movflags="+faststart",
                           map_metadata=-1, an=None, **{"fflags": "+bitexact", "flags:v": "+bitexact"})
    stream = stream.global_args("-hide_banner", "-loglevel", "error").overwrite_output()
    return ffmpeg.compile(stream, cmd=ffmpeg_executable())


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], size: tuple[int, int], fps: float,
              crf: int = 23, preset: str = "veryfast") -> int:
    """Encode ``frames`` (uint8 RGB ``(H, W, 3)``) to ``path``; returns how many were written."""
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"{path}: h264 in yuv420p needs an even size, got {width}x{height}")
    count = 0
    with atomic_path(path) as tmp, tempfile.TemporaryFile() as log:
        process = subprocess.Popen(encoder_command(tmp, size, fps, crf, preset), stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=log)
        try:
            for frame in frames:
                if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                    raise ValueError(f"{path}: frame {count} is {frame.shape} {frame.dtype}, "
                                     f"expected ({height}, {width}, 3) uint8")
                process.stdin.write(memoryview(np.ascontiguousarray(frame)))
                count += 1
        except BrokenPipeError:
            pass
        finally:
            try:
                process.stdin.close()
            except BrokenPipeError:  # pragma: no cover - ffmpeg already gone
                pass
            code = process.wait()
        if code != 0:
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines()
            raise VideoError(f"{path}: ffmpeg encoding failed ({lines[-1] if lines else f'exit code {code}'})")
    return count
