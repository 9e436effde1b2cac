"""A video that arrives from outside (an upload, a request body, an S3 object): its name on disk,
its size before decoding, and the content check that decides whether it is a video at all.

The app (``app.uploads``) and the Lambda handler (``serverless``) both take files from strangers;
what they check is the same, only how they answer differs (a message on the page, an HTTP status).
Whether a file is a video is decided by ``video.probe`` (ffprobe, or ffmpeg) on its content, never
by its name or type, and that one probe is what the analysis then runs on (``analyse_footage`` is
given it and never probes again).
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_LENGTH = 60
VIDEO_KINDS = "MP4, MOV, WebM, AVI, ..."


class NotAVideoError(UserError):
    """A file whose content is not a readable video; the message names the file and says what to do."""


def safe_name(filename: str | None) -> str:
    """A file name with no path, no leading dots and only ``[A-Za-z0-9._-]``; never empty."""
    name = unicodedata.normalize("NFKD", str(filename or "")).encode("ascii", "ignore").decode()
    name = re.split(r"[\\/]", name)[-1]  # a path (Windows or POSIX) keeps only its last part
    name = _UNSAFE.sub("_", name).lstrip(".-_")
    if len(name) > _NAME_LENGTH:
        stem, dot, suffix = name.rpartition(".")
        suffix = suffix[:10] if dot else ""
        name = (stem if dot else name)[:_NAME_LENGTH - len(suffix) - 1] + (f".{suffix}" if suffix else "")
    return name or "upload"


def format_mb(size: int) -> str:
    """``12.3 MB`` (from 100 kB up), else ``45 kB``."""
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def decoded_size(payload: str) -> int:
    """Bytes that the base64 text ``payload`` decodes to, without decoding it."""
    return len(payload) * 3 // 4 - payload[-2:].count("=")


def check_video(path: str | Path, name: str, *, verb: str = "send") -> video.VideoInfo:
    """``video.probe`` of the content at ``path`` (a temp file): the probe the analysis is then given.

    Not a video: ``NotAVideoError`` naming ``name`` (the user's name for it, never the temp path)
    and ending "``verb`` a video file (MP4, MOV, WebM, AVI, ...)".
    """
    path = Path(path)
    try:
        return video.probe(path)
    except video.VideoError as exc:
        reason = str(exc).replace(f"{path}: ", "").replace(str(path), name)
        raise NotAVideoError(f"{name}: {reason}; {verb} a video file ({VIDEO_KINDS})") from exc
