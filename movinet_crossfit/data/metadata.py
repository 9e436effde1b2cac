"""The metadata file beside each downloaded video: ``videos/x.mp4`` -> ``videos/x.info.json``.

``download.download_sources`` writes it before the video gets its final name (title, uploader,
athlete, duration, fps, size, source URL, the time range wanted and whether the file was cut to
it, ``file_starts_at``, and for Countix the CSV rows). The manifest stage reads the split group
from it (``metadata_group``). Reading costs nothing: no downloader is imported here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

METADATA_SUFFIX = ".info.json"


def metadata_path(video: str | os.PathLike) -> Path:
    """``videos/x.mp4`` -> ``videos/x.info.json`` (the name yt-dlp's --write-info-json uses too)."""
    video = Path(video)
    return video.with_name(video.stem + METADATA_SUFFIX)


def read_metadata(video: str | os.PathLike) -> Optional[dict]:
    """The metadata beside a video, or ``None`` when there is none (or it is unreadable)."""
    path = metadata_path(video)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def metadata_group(video: str | os.PathLike) -> Optional[str]:
    """The split group a video's metadata names: its athlete when the list gave one, else the
    uploader. ``None`` without metadata."""
    data = read_metadata(video) or {}
    for key in ("athlete", "uploader"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
