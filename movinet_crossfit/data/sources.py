"""Source lists -> ``SourceItem``s: the videos to fetch, each with its output name.

``read_sources`` reads SOURCES, each file by its shape:

* a URL list (``urls.txt``): ``#title`` comment lines, each naming the URL on the next line;
* a CSV with a ``url`` or ``video_id`` column (optional ``title``, ``athlete``, ``start_time``,
  ``end_time``);
* a Countix CSV (read by ``countix.read_countix``): one item per video id, to be cut to its
  Kinetics clip;
* or a URL given on the command line.

YouTube videos are named ``<video id>`` (what ``counting_manifest.from_countix`` expects as
``<video id>.mp4``); other URLs after their file name. ``download.download_sources`` fetches them.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence
from urllib.parse import unquote, urlparse

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.progress import BatchReport
from movinet_crossfit.data.countix import is_countix, read_countix

YOUTUBE_URL_TEMPLATE = "https://www.youtube.com/watch?v={id}"

_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_URL = re.compile(r"(?:youtube(?:-nocookie)?\.com/(?:watch\?(?:.*&)?v=|shorts/|embed/|live/|v/)|youtu\.be/)"
                          r"([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])")


# --------------------------------------------------------------------------- items

@dataclass(frozen=True)
class SourceItem:
    """One video to fetch. ``name`` is its file stem in the output folder."""

    name: str
    url: str
    origin: str                                   # "urls.txt:4", where it was read
    title: Optional[str] = None                   # from the list (#comment / title column)
    athlete: Optional[str] = None                 # the split group, when the list knows it
    youtube_id: Optional[str] = None
    time_ranges: tuple[tuple[float, float], ...] = ()   # seconds of the source video that matter
    cut_range: Optional[tuple[float, float]] = None      # what to download instead of the whole video
    countix: Optional[dict] = None                # rows, classes, split of a Countix video

    @property
    def archive_id(self) -> Optional[str]:
        """yt-dlp's archive line (``youtube <id>``); for other sites known only after extraction."""
        return f"youtube {self.youtube_id}" if self.youtube_id else None


def youtube_id(text: str) -> Optional[str]:
    """The 11-character video id of a YouTube URL (watch, youtu.be, shorts, embed) or a bare id."""
    text = text.strip()
    if _YOUTUBE_ID.match(text):
        return text
    match = _YOUTUBE_URL.search(text)
    return match.group(1) if match else None


def countix_cut(ranges: Sequence[tuple[float, float]]) -> Optional[tuple[float, float]]:
    """The part of a Countix video to download: its one Kinetics clip ``[k0, k1]``, or ``[0, k1]``
    when the clip starts early (``k0 <= (k1 - k0) + 0.5``: at most one clip length more).

    ``counting_manifest.from_countix`` tells a whole video from a cut clip by its duration; a clip
    cut at ``k0`` that early could pass for a whole video whose repetitions end within it, and its
    times would be read ``k0`` seconds off. Starting such files at 0 makes them whole-video-timed,
    so the duration test is right for every row. Several clips: the whole video (``None``).
    """
    if len(ranges) != 1:
        return None
    k0, k1 = ranges[0]
    return (0.0, k1) if k0 <= (k1 - k0) + 0.5 else (k0, k1)


def _is_url(text: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://\S+$", text.strip(), re.IGNORECASE))


def _name_for_url(url: str) -> str:
    stem = Path(unquote(urlparse(url).path)).stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")
    return stem or "video-" + hashlib.sha1(url.encode()).hexdigest()[:10]


def _item_for(url_or_id: str, origin: str, url_template: str, **fields: Any) -> SourceItem:
    vid = youtube_id(url_or_id)
    if vid is not None:  # canonical URL: no playlist or timestamp parameters ride along
        return SourceItem(name=vid, url=url_template.format(id=vid), origin=origin, youtube_id=vid, **fields)
    return SourceItem(name=_name_for_url(url_or_id), url=url_or_id.strip(), origin=origin, **fields)


def parse_url_list(path: str | os.PathLike, url_template: str = YOUTUBE_URL_TEMPLATE,
                   report: BatchReport | None = None) -> list[SourceItem]:
    """``#title`` lines name the URL on the next line; blank lines are ignored; anything else that
    is not a URL (or a bare YouTube id) is a failed line in ``report``."""
    path = Path(path)
    report = report if report is not None else BatchReport("sources")
    items, title = [], None
    for number, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            title = line.lstrip("#").strip() or None
            continue
        origin = f"{path.name}:{number}"
        if _is_url(line) or _YOUTUBE_ID.match(line):
            items.append(_item_for(line, origin, url_template, title=title))
        else:
            report.fail(origin, f"not a URL: {line[:60]!r} (expected http(s)://... or a #title line)")
        title = None
    return items


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"{path}: source list not found")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a text file ({exc}); give a URL list or a CSV") from exc


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        return columns, list(reader)


def _float(text: Any) -> Optional[float]:
    if text is None or not str(text).strip():
        return None
    return float(text)


def parse_csv(path: str | os.PathLike, url_template: str = YOUTUBE_URL_TEMPLATE,
              report: BatchReport | None = None) -> list[SourceItem]:
    """A CSV with a ``url`` or ``video_id`` column; a Countix CSV is handed to ``parse_countix``."""
    path = Path(path)
    report = report if report is not None else BatchReport("sources")
    columns, rows = _read_csv(path)
    if is_countix(columns):
        return parse_countix(path, url_template, report)
    key = "url" if "url" in columns else "video_id" if "video_id" in columns else None
    if key is None:
        raise UserError(f"{path}: no 'url' or 'video_id' column (found: {', '.join(columns) or 'none'}); "
                        f"add one, or give a URL list")
    items = []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        origin, value = f"{path.name}:{number}", (row.get(key) or "").strip()
        if not value:
            report.fail(origin, f"empty {key}")
            continue
        if key == "video_id" and youtube_id(value) is None:
            report.fail(origin, f"video_id {value!r} is not an 11-character YouTube id")
            continue
        if key == "url" and not _is_url(value):
            report.fail(origin, f"not a URL: {value[:60]!r}")
            continue
        try:
            start, end = _float(row.get("start_time")), _float(row.get("end_time"))
        except ValueError as exc:
            report.fail(origin, f"start_time/end_time not numbers ({exc})")
            continue
        ranges = ()
        if start is not None or end is not None:
            if start is None or end is None or end <= start or start < 0:
                report.fail(origin, f"time range {row.get('start_time')!r}-{row.get('end_time')!r}: give both, "
                                    "start_time < end_time, in seconds")
                continue
            ranges = ((start, end),)
        items.append(_item_for(value, origin, url_template, title=(row.get("title") or "").strip() or None,
                               athlete=(row.get("athlete") or row.get("group") or "").strip() or None,
                               time_ranges=ranges, cut_range=ranges[0] if ranges else None))
    return items


def parse_countix(path: str | os.PathLike, url_template: str = YOUTUBE_URL_TEMPLATE,
                  report: BatchReport | None = None) -> list[SourceItem]:
    """One item per video id; its rows' Kinetics clips are the ranges to download (a video whose
    rows name one clip is cut to it; one with several is fetched whole)."""
    report = report if report is not None else BatchReport("sources")
    table = read_countix(path)
    by_id: dict[str, dict] = {}
    for row in table.rows:
        vid, origin = row.video_id, f"{table.path.name}:{row.line}"
        if youtube_id(vid) != vid:
            report.fail(origin, f"video_id {vid!r} is not an 11-character YouTube id")
            continue
        try:
            k0, k1 = row.kinetics()
        except ValueError as exc:
            report.fail(origin, f"kinetics_start/kinetics_end not numbers ({exc})")
            continue
        if not 0 <= k0 < k1:
            report.fail(origin, f"empty Kinetics clip {k0}-{k1} s")
            continue
        entry = by_id.setdefault(vid, {"origin": origin, "ranges": [], "rows": [], "classes": []})
        if (k0, k1) not in entry["ranges"]:
            entry["ranges"].append((k0, k1))
        entry["rows"].append(row.line)
        if row.label and row.label not in entry["classes"]:
            entry["classes"].append(row.label)
    return [_item_for(vid, e["origin"], url_template, title=None, time_ranges=tuple(sorted(e["ranges"])),
                      cut_range=countix_cut(e["ranges"]),
                      countix={"split": table.split, "csv": table.path.name, "rows": e["rows"],
                               "classes": e["classes"]})
            for vid, e in by_id.items()]


def read_sources(sources: Sequence[str | os.PathLike], url_template: str = YOUTUBE_URL_TEMPLATE,
                 report: BatchReport | None = None) -> list[SourceItem]:
    """Every item of every source (files by their shape, or URLs), one per output name.

    An item seen twice is kept once (a Countix video in two CSVs gets the ranges of both); two
    different URLs that would land on the same file name are told apart by a hash of the URL.
    """
    report = report if report is not None else BatchReport("sources")
    if not sources:
        raise UserError("no SOURCES given: a URL list, a CSV (url or video_id column), a Countix CSV or a URL")
    items: list[SourceItem] = []
    for source in sources:
        text = str(source)
        if _is_url(text) and not Path(text).exists():
            items.append(_item_for(text, "command line", url_template))
        elif Path(text).suffix.lower() == ".csv":
            if not Path(text).is_file():
                raise UserError(f"{text}: CSV not found")
            items += parse_csv(text, url_template, report)
        else:
            items += parse_url_list(text, url_template, report)
    by_name: dict[str, SourceItem] = {}
    for item in items:
        seen = by_name.get(item.name)
        if seen is None:
            by_name[item.name] = item
        elif seen.url == item.url:
            ranges = tuple(sorted(set(seen.time_ranges) | set(item.time_ranges)))
            if not seen.time_ranges or not item.time_ranges:
                ranges = ()  # one of them wants the whole video
            countix = seen.countix or item.countix
            if seen.countix and item.countix:
                countix = {**seen.countix, "also": [*seen.countix.get("also", []), item.countix]}
            cut = seen.cut_range if ranges == seen.time_ranges else None
            if countix and len(ranges) == 1:
                cut = countix_cut(ranges)
            by_name[item.name] = replace(seen, time_ranges=ranges, cut_range=cut, countix=countix,
                                         title=seen.title or item.title, athlete=seen.athlete or item.athlete)
        else:
            renamed = replace(item, name=f"{item.name}-{hashlib.sha1(item.url.encode()).hexdigest()[:8]}")
            report.warn(f"{item.origin}: {item.url} and {seen.url} ({seen.origin}) would both be "
                        f"{item.name}.mp4; this one is {renamed.name}.mp4")
            by_name[renamed.name] = renamed
    if not by_name and not report.failed:
        raise UserError(f"{', '.join(map(str, sources))}: no URLs or video ids found")
    return list(by_name.values())
