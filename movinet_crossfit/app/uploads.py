"""Uploaded files: size limit, sanitised temp names, and a content check instead of the file name.

The browser sends a ``data:<type>;base64,<bytes>`` URL (``dcc.Upload``). Its decoded size is known
from the text length, so an oversize upload is refused before anything is decoded or written. A
file that passes is written under a random name (plus a sanitised form of the user's name, for
the logs) in its own fresh folder, which the job removes when it ends. Whether it is a video is
decided by ``analysis.inputs.check_video`` (``video.probe`` on its content, never its name or
type), whose probe the analysis is then given. The name, size and content rules are
``analysis.inputs``, shared with the Lambda handler; what is the app's own is here: the data URL,
the upload folders, and the messages that tell a person at the page what to do.
"""
from __future__ import annotations

import base64
import binascii
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
# Where `movinet-crossfit app` listens: this machine only, unless told otherwise.
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8050

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "UploadError", "check_video", "decoded_size", "display_name", "format_mb",
           "new_upload_dir", "oversize_message", "remove_upload_dir", "safe_name", "save_upload",
           "split_data_url"]


class UploadError(UserError):
    """An upload the app refuses; the message names the file and says what to do."""


def display_name(filename: str | None) -> str:
    """The user's file name as shown back to them (no path, bounded length)."""
    name = re.split(r"[\\/]", str(filename or "upload"))[-1].strip() or "upload"
    return name if len(name) <= 120 else name[:117] + "..."


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


def check_video(path: Path, filename: str) -> video.VideoInfo:
    """The upload's one probe (``inputs.check_video``); ``UploadError`` naming the user's file when
    it is no video."""
    try:
        return inputs.check_video(path, display_name(filename), verb="upload")
    except inputs.NotAVideoError as exc:
        raise UploadError(str(exc)) from exc
