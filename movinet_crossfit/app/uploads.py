"""Uploaded files: size limit, sanitised temp names, and a content check instead of the file name.

The browser sends a ``data:<type>;base64,<bytes>`` URL (``dcc.Upload``). Its decoded size is known
from the text length, so an oversize upload is refused before anything is decoded or written. A
file that passes is written under a random name (plus a sanitised form of the user's name, for
the logs) in its own fresh folder, which the job removes when it ends. Whether it is a video is
decided by ``analysis.inputs.check_video`` (``video.probe`` on its content, never its name or
type), whose probe the analysis is then given. The name, size and content rules are
``analysis.inputs``, shared with the Lambda handler; what is the app's own is here: the data URL,
the upload folders, the limits on a video's size (bytes, then gigapixels from its probe), the
messages that tell a person at the page what to do, and the app's log, whose records stay one line
whatever a file name holds (``EscapeControls``).
"""
from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

from movinet_crossfit.analysis import inputs
from movinet_crossfit.analysis.inputs import decoded_size, format_mb, safe_name
from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError

DEFAULT_MAX_UPLOAD_MB = 100.0
# Width x height x frames, in billions: what decoding, the poses' resizing and the overlay's encode
# cost grows with, whatever the file's size in bytes (a 100 kB still 8K video of 90 frames is 3.0).
# 2.5 is 40 s of 1080p at 30 fps, 80 s of 720p, 3.4 minutes of 480p.
DEFAULT_MAX_GIGAPIXELS = 2.5
DEFAULT_MAX_QUEUE = 4  # uploads that may wait behind the one being analysed
# Where `movinet-crossfit app` listens: this machine only, unless told otherwise.
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8050
# The Camera tab's defaults (app.live; here so the CLI reads them without importing Flask).
DEFAULT_LIVE_FPS = 15.0  # what the page sends: the pose model keeps up on 2 cores with room to spare
DEFAULT_LIVE_SESSIONS = 2  # each one is a pose model busy in real time

__all__ = ["DEFAULT_MAX_GIGAPIXELS", "DEFAULT_MAX_QUEUE", "DEFAULT_MAX_UPLOAD_MB", "EscapeControls", "UploadError",
           "app_logger", "check_gigapixels", "check_limits", "check_video", "decoded_size", "display_name",
           "escape_controls", "format_mb", "new_upload_dir", "oversize_message", "remove_upload_dir", "safe_name",
           "save_upload", "split_data_url"]

# Control characters (newlines above all) and the Unicode line breaks: a file name holding them
# would start forged lines in the server's log.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class UploadError(UserError):
    """An upload the app refuses; the message names the file and says what to do."""


def display_name(filename: str | None) -> str:
    """The user's file name as shown back to them: no path, bounded length, and control characters
    drawn as their Unicode pictures (a newline as ``␊``), so the name is one line wherever it goes
    (the page, the log) and stays the same when shown again."""
    name = _CONTROLS.sub(_picture, re.split(r"[\\/]", str(filename or "upload"))[-1].strip()) or "upload"
    return name if len(name) <= 120 else name[:117] + "..."


def _picture(match: re.Match) -> str:
    code = ord(match.group())
    return chr(0x2400 + code) if code < 0x20 else "\u2421" if code == 0x7F else "\ufffd"


def escape_controls(text: object) -> str:
    """``str(text)`` with each control character written as an escape (``\\n``, ``\\x1b``, ...)."""
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


class EscapeControls(logging.Filter):
    """Escapes control characters in the arguments of a log record (a user's file name, an error
    quoting it), so one record stays one line; the format string (ours) and a traceback (``exc_info``)
    are left as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(escape_controls(a) if isinstance(a, (str, BaseException, os.PathLike)) else a
                                for a in record.args)
        return True


def app_logger() -> logging.Logger:
    """``movinet_crossfit.app``, the app's log, with ``EscapeControls`` on it (once)."""
    logger = logging.getLogger("movinet_crossfit.app")
    if not any(isinstance(f, EscapeControls) for f in logger.filters):
        logger.addFilter(EscapeControls())
    return logger


def oversize_message(filename: str, size: int | str, max_bytes: int) -> str:
    """``size``: bytes, or already formatted (the browser's copy of this message fills it in)."""
    shown = size if isinstance(size, str) else format_mb(size)
    return (f"{display_name(filename)}: {shown} is over the {format_mb(max_bytes)} upload limit; "
            "upload a shorter or smaller video (e.g. `ffmpeg -i in.mp4 -t 60 -vf scale=-2:480 out.mp4`) "
            "or start the app with a larger --max-upload-mb")


def split_data_url(contents: str, filename: str) -> tuple[str, str]:
    """``(media type, base64 text)`` of a ``data:`` URL."""
    if not isinstance(contents, str) or not contents.startswith("data:") or "," not in contents:
        raise UploadError(f"{display_name(filename)}: the upload did not arrive as a file; try again")
    header, payload = contents.split(",", 1)
    if not header.endswith(";base64"):
        raise UploadError(f"{display_name(filename)}: the upload is not base64-encoded; try again")
    return header[5:-7], payload


def new_upload_dir(root: str | os.PathLike) -> Path:
    """A fresh, private folder under ``root`` for one upload (removed by ``remove_upload_dir``)."""
    Path(root).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="upload-", dir=root))


def remove_upload_dir(folder: str | os.PathLike) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def save_upload(contents: str, filename: str, folder: str | os.PathLike, max_bytes: int) -> Path:
    """Write the file of a ``data:`` URL into ``folder``; ``UploadError`` for an oversize, empty or
    garbled upload. The written name is random plus ``safe_name(filename)``."""
    _, payload = split_data_url(contents, filename)
    size = decoded_size(payload)
    if size > max_bytes:
        raise UploadError(oversize_message(filename, size, max_bytes))
    if size <= 0:
        raise UploadError(f"{display_name(filename)}: empty file (0 bytes); choose a video file")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(f"{display_name(filename)}: the upload was garbled in transit; try again") from None
    path = Path(folder) / f"{secrets.token_hex(8)}-{safe_name(filename)}"
    with open(path, "xb") as handle:  # "x": never follows or replaces an existing file
        handle.write(data)
    return path


def check_gigapixels(info: video.VideoInfo, filename: str, max_gigapixels: float) -> None:
    """``UploadError`` when width x height x frames of the probed video is over ``max_gigapixels``
    billion: known from the probe, before a frame is decoded."""
    gigapixels = info.width * info.height * info.num_frames / 1e9
    if gigapixels > max_gigapixels:
        raise UploadError(
            f"{display_name(filename)}: {info.width}x{info.height}, {info.num_frames} frames is {gigapixels:.1f} "
            f"gigapixels of video (width x height x frames), over this server's {max_gigapixels:g}; upload a "
            "shorter or smaller video (e.g. `ffmpeg -i in.mp4 -t 60 -vf scale=-2:480 out.mp4`) or start the app "
            "with a larger --max-gigapixels")


def check_limits(*, max_upload_mb: float | None = None, max_gigapixels: float | None = None,
                 max_queue: int | None = None) -> None:
    """``UserError`` naming the option when a limit given is not a positive number (the queue: a
    whole number, 0 or more)."""
    for option, value in (("--max-upload-mb", max_upload_mb), ("--max-gigapixels", max_gigapixels)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise UserError(f"{option} {value}: must be a positive number")
    if max_queue is not None and (isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 0):
        raise UserError(f"--max-queue {max_queue}: must be a whole number, 0 or more")


def check_video(path: Path, filename: str) -> video.VideoInfo:
    """The upload's one probe (``inputs.check_video``); ``UploadError`` naming the user's file when
    it is no video."""
    try:
        return inputs.check_video(path, display_name(filename), verb="upload")
    except inputs.NotAVideoError as exc:
        raise UploadError(str(exc)) from exc
