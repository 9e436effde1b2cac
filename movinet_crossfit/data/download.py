"""Downloads through yt-dlp's Python API (``yt_dlp.YoutubeDL``), resumable and reported.

``download_sources`` reads SOURCES (``sources.read_sources``), fetches the items several at once,
and ends every item as downloaded, present (already there), unavailable (deleted, private: a
rerun will not help) or failed (with the reason). ``source_status`` says what a folder already
holds, without downloading.

On disk, in the output folder: ``<name>.mp4`` and ``<name>.info.json`` (``metadata``),
``download-archive.txt`` (yt-dlp's archive format, so ``yt-dlp --download-archive`` shares it),
``download-report.csv``/``.json``, and ``.downloading/`` where yt-dlp's ``.part`` files wait to
be resumed. A video appears under its final name only once it is complete and probed (staged,
then renamed), after its metadata.

yt-dlp itself is imported only inside the functions that use it.
"""
from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import atomic_path, write_json_atomic
from movinet_crossfit.core.progress import BatchReport, console, progress_enabled
from movinet_crossfit.data.metadata import metadata_path, read_metadata
from movinet_crossfit.data.sources import YOUTUBE_URL_TEMPLATE, SourceItem, read_sources

if TYPE_CHECKING:
    from rich.console import Console

# Best video <= 720 p (unknown heights allowed: direct links have none) with its audio; the sort
# prefers h264 in mp4/m4a, which every decoder here reads. Merged or remuxed into mp4.
DEFAULT_FORMAT = "bv*[height<=?720]+ba/b[height<=?720]"
FORMAT_SORT = ("res:720", "vcodec:h264", "ext:mp4:m4a")
ARCHIVE_NAME = "download-archive.txt"
REPORT_NAME = "download-report"
STAGING_DIR = ".downloading"
STATUSES = ("downloaded", "present", "unavailable", "failed")
logger = logging.getLogger(__name__)

# What yt-dlp says about a video that is gone for good (YouTube's wording, and HTTP 404/410).
_UNAVAILABLE = re.compile(r"video unavailable|this video is unavailable|private video|has been removed|"
                          r"no longer available|account associated with this video has been terminated|"
                          r"is not available|members-only|does not exist|HTTP Error 40[46]|HTTP Error 410",
                          re.IGNORECASE)


# --------------------------------------------------------------------------- the report

@dataclass
class DownloadRecord:
    name: str
    url: str
    status: str                        # one of STATUSES
    origin: str = ""
    file: str = ""
    reason: str = ""
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class DownloadReport:
    records: list[DownloadRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def by_status(self, status: str) -> list[DownloadRecord]:
        return [r for r in self.records if r.status == status]

    def counts(self) -> dict[str, int]:
        return {s: len(self.by_status(s)) for s in STATUSES}

    @property
    def succeeded(self) -> bool:
        """Something could be done: at least one video downloaded or already there."""
        return bool(self.by_status("downloaded") or self.by_status("present"))

    def summary(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in self.counts().items())

    def batch_report(self) -> BatchReport:
        """The shared one-screen view: unavailable and failed items both list as failed."""
        report = BatchReport("download", warnings=list(self.warnings))
        for r in self.records:
            if r.status == "downloaded":
                report.ok(r.name)
            elif r.status == "present":
                report.skip(r.name, r.reason)
            else:
                report.fail(f"{r.name} ({r.origin})" if r.origin else r.name, f"{r.status}: {r.reason}")
        return report

    def print(self, out: Console | None = None) -> None:
        """The failures and warnings table (when there are any), then one line of counts, on ``out``
        (default: stderr); the library itself never prints it."""
        out = out or console
        if self.warnings or any(r.status in ("unavailable", "failed") for r in self.records):
            self.batch_report().print(out)
        out.print(f"download: {self.summary()}", highlight=False)

    def write(self, stem: str | os.PathLike) -> dict[str, Path]:
        """``<stem>.csv`` and ``<stem>.json``, atomically."""
        stem = Path(stem)
        csv_path, json_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".json")
        columns = list(DownloadRecord.__dataclass_fields__)
        with atomic_path(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(asdict(r) for r in self.records)
        write_json_atomic(json_path, {"counts": self.counts(), "warnings": self.warnings,
                                      "items": [asdict(r) for r in self.records]})
        self.files = {"csv": csv_path, "json": json_path}
        return self.files


# --------------------------------------------------------------------------- downloading

@dataclass(frozen=True)
class DownloadOptions:
    """How to fetch. Times in seconds; ``rate_limit`` in bytes/s or yt-dlp's ``"2M"`` form."""

    format: str = DEFAULT_FORMAT
    workers: int = 2
    retries: int = 5                   # per transfer (HTTP, fragments, extraction), resuming each time
    backoff: float = 2.0               # first retry waits this long, then doubling, up to 60 s
    rate_limit: Optional[int | str] = None
    sleep: float = 0.0                 # before each download (yt-dlp sleep_interval)
    max_sleep: Optional[float] = None  # random sleep in [sleep, max_sleep]
    sleep_requests: float = 0.0        # between extraction requests
    socket_timeout: float = 30.0
    cut_ranges: bool = True            # fetch only the wanted range when yt-dlp can cut it
    cookies: Optional[str] = None      # Netscape cookie file (age-restricted or bot-checked videos)
    url_template: str = YOUTUBE_URL_TEMPLATE

    def validate(self) -> "DownloadOptions":
        if self.workers < 1:
            raise UserError(f"--workers {self.workers}: must be at least 1")
        if self.retries < 0 or self.backoff < 0 or self.sleep < 0 or self.sleep_requests < 0:
            raise UserError("--retries, --backoff, --sleep and --sleep-requests must not be negative")
        if self.max_sleep is not None and self.max_sleep < self.sleep:
            raise UserError(f"--max-sleep {self.max_sleep}: must be at least --sleep {self.sleep}")
        if "{id}" not in self.url_template:
            raise UserError(f"--url-template {self.url_template!r}: must contain {{id}}")
        if self.cookies is not None and not Path(self.cookies).is_file():
            raise UserError(f"{self.cookies}: cookie file not found (--cookies)")
        return self

    def rate_limit_bytes(self) -> Optional[int]:
        if self.rate_limit is None or isinstance(self.rate_limit, int):
            return self.rate_limit
        from yt_dlp.utils import parse_bytes

        value = parse_bytes(str(self.rate_limit).strip())
        if not value:
            raise UserError(f"--rate-limit {self.rate_limit!r}: expected bytes per second, e.g. 500K or 2M")
        return value


@contextlib.contextmanager
def _ffmpeg_for_ytdlp(ffmpeg: str) -> Iterator[bool]:
    """Point yt-dlp at our ffmpeg for this thread and say whether it can cut ranges.

    ``ffmpeg_location`` reaches the post-processors, but yt-dlp's check that ffmpeg can download a
    range (``FFmpegFD.available``) reads a context variable that only its own CLI sets; set it
    the same way (per thread: worker threads start with a fresh context).
    """
    from yt_dlp.downloader.external import FFmpegFD
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    variable = getattr(FFmpegPostProcessor, "_ffmpeg_location", None)
    token = variable.set(ffmpeg) if variable is not None else None
    try:
        yield bool(FFmpegFD.available())
    finally:
        if token is not None:
            variable.reset(token)


class _Archive:
    """yt-dlp's download archive (one ``<extractor> <id>`` per line), shared by the workers."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        self.ids = {line.strip() for line in lines if line.strip()}

    def __contains__(self, archive_id: Optional[str]) -> bool:
        return archive_id in self.ids

    def add(self, archive_id: str) -> None:
        with self.lock:
            if archive_id in self.ids:
                return
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(archive_id + "\n")
            self.ids.add(archive_id)


class _Logger:
    """yt-dlp's messages kept off the screen (the report says what matters; ``-v`` shows them as
    debug records); errors remembered."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def debug(self, message: str) -> None:
        logger.debug("yt-dlp: %s", _clean(message))

    def info(self, message: str) -> None:
        logger.debug("yt-dlp: %s", _clean(message))

    def warning(self, message: str) -> None:
        self.warnings.append(_clean(message))

    def error(self, message: str) -> None:
        self.errors.append(_clean(message))


def _clean(message: str) -> str:
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(message)).strip()
    message = re.sub(r"^(ERROR|WARNING):\s*", "", message)
    message = re.sub(r"^\[[\w:]+\]\s*[^:\s]*:\s*", "", message)  # "[generic] id: "
    return re.sub(r"\s*\(caused by .*\)$", "", message, flags=re.DOTALL).strip()


def classify_error(exc: BaseException) -> tuple[str, str]:
    """``("unavailable" | "failed", reason)`` for an exception out of yt-dlp."""
    from yt_dlp.networking.exceptions import HTTPError
    from yt_dlp.utils import UnsupportedError

    cause = getattr(exc, "exc_info", None)
    cause = cause[1] if cause else exc
    message = _clean(str(exc))
    if isinstance(cause, HTTPError) and cause.status in (404, 410):
        return "unavailable", f"HTTP {cause.status} {cause.reason} at the URL"
    if isinstance(cause, UnsupportedError) or message.startswith("Unsupported URL"):
        return "failed", "no video at this URL (not a video file, and no site yt-dlp knows)"
    if re.search(r"bytes read, \d+ more expected|Did not get any data", message):
        return "failed", f"transfer incomplete ({message}); a rerun resumes the .part file"
    if _UNAVAILABLE.search(message):
        return "unavailable", message
    if "confirm your age" in message or "not a bot" in message:
        return "failed", f"{message} (pass a cookie file with --cookies)"
    return "failed", message or type(exc).__name__


class _Progress:
    """One bar for the batch (videos) and one per running download (bytes), on a terminal only."""

    def __init__(self, total: int):
        self.enabled = progress_enabled()
        self.lock = threading.Lock()
        self.tasks: dict[str, int] = {}
        self.finished, self.total = 0, total
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                     TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                                     console=console, transient=False)
            self.batch = self.progress.add_task("download", total=total, detail=f"0/{total} videos")

    def __enter__(self) -> "_Progress":
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.progress.stop()

    def hook(self, name: str, status: dict) -> None:
        if not self.enabled:
            return
        done = status.get("downloaded_bytes") or 0
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        speed = status.get("speed")
        detail = f"{done / 1e6:.1f}" + (f"/{total / 1e6:.1f}" if total else "") + " MB" + \
            (f" {speed / 1e6:.2f} MB/s" if speed else "")
        with self.lock:
            if name not in self.tasks:
                self.tasks[name] = self.progress.add_task(f"  {name}", total=None, detail="")
            self.progress.update(self.tasks[name], completed=done, total=total, detail=detail)

    def done(self, name: str) -> None:
        if not self.enabled:
            return
        with self.lock:
            task = self.tasks.pop(name, None)
            if task is not None:
                self.progress.remove_task(task)
            self.finished += 1
            self.progress.update(self.batch, completed=self.finished, detail=f"{self.finished}/{self.total} videos")


def _ydl_options(item: SourceItem, staging: Path, options: DownloadOptions, ffmpeg: str, can_cut: bool,
                 hook, logger: _Logger) -> dict:
    from yt_dlp.utils import download_range_func

    def backoff(n: int) -> float:
        return min(options.backoff * 2 ** n, 60.0)

    escaped = item.name.replace("%", "%%")
    opts: dict[str, Any] = {
        "outtmpl": {"default": str(staging / f"{escaped}.%(ext)s")},
        "format": options.format, "format_sort": list(FORMAT_SORT), "merge_output_format": "mp4",
        "postprocessors": [{"key": "FFmpegVideoRemuxer", "preferedformat": "mp4"}],
        "ffmpeg_location": ffmpeg, "noplaylist": True, "continuedl": True, "overwrites": False,
        "retries": options.retries, "fragment_retries": options.retries, "extractor_retries": options.retries,
        "file_access_retries": 3,
        "retry_sleep_functions": {"http": backoff, "fragment": backoff, "extractor": backoff},
        "socket_timeout": options.socket_timeout, "ratelimit": options.rate_limit_bytes(),
        "sleep_interval_requests": options.sleep_requests or None,
        "quiet": True, "no_warnings": False, "noprogress": True, "logger": logger,
        "progress_hooks": [hook], "color": {"stdout": "no_color", "stderr": "no_color"},
    }
    if options.sleep or options.max_sleep:
        opts["sleep_interval"] = options.sleep
        if options.max_sleep:
            opts["max_sleep_interval"] = options.max_sleep
    if options.cookies:
        opts["cookiefile"] = options.cookies
    if item.cut_range is not None and options.cut_ranges and can_cut:
        opts["download_ranges"] = download_range_func(None, [item.cut_range])
        opts["force_keyframes_at_cuts"] = True  # re-encode at the cut: the range starts on a frame, not a keyframe
    return opts


def _present(item: SourceItem, output: Path, archive: _Archive) -> Optional[DownloadRecord]:
    """A record when the item's file is already in the folder (or another source holds its name)."""
    video = output / f"{item.name}.mp4"
    if not video.is_file():
        return None
    meta = read_metadata(video)
    if meta is not None and meta.get("source_url") not in (None, item.url):
        return DownloadRecord(item.name, item.url, "failed", item.origin, str(video),
                              f"{video.name} holds another source ({meta['source_url']}); move it away to "
                              "download this one")
    archived = (meta or {}).get("archive_id") or item.archive_id
    reason = "in the download archive" if archived in archive else "file already there (not in the download archive)"
    return DownloadRecord(item.name, item.url, "present", item.origin, str(video), reason, video.stat().st_size)


def _metadata(item: SourceItem, info: dict, video_info, size: int, rng: Optional[tuple[float, float]],
              cut: Optional[bool], archive_id: str) -> dict:
    data = {
        "id": item.name, "title": info.get("title") or item.title, "list_title": item.title,
        "uploader": info.get("uploader"), "uploader_id": info.get("uploader_id"), "channel": info.get("channel"),
        "athlete": item.athlete,
        "duration": round(video_info.duration, 6), "fps": video_info.fps, "num_frames": video_info.num_frames,
        "width": video_info.width, "height": video_info.height, "codec": video_info.codec, "size_bytes": size,
        "source_url": item.url, "webpage_url": info.get("webpage_url"), "extractor": info.get("extractor_key"),
        "archive_id": archive_id, "format_id": info.get("format_id"), "source_duration": info.get("duration"),
        "time_range": list(rng) if rng else None,
        "time_ranges": [list(r) for r in item.time_ranges],
        "cut": cut,
        # Where t=0 of this file sits in the source video (the Countix CSV's times are in the source).
        "file_starts_at": rng[0] if cut else 0.0,
        "origin": item.origin,
        "downloaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if item.countix:
        data["countix"] = item.countix
    return data


def _download_one(item: SourceItem, output: Path, options: DownloadOptions, archive: _Archive, ffmpeg: str,
                  progress: _Progress, stop: threading.Event) -> DownloadRecord:
    import yt_dlp
    from yt_dlp.utils import DownloadCancelled

    from movinet_crossfit.core.video import VideoError, probe

    started = time.monotonic()
    record = _present(item, output, archive)
    if record is not None:
        return record
    staging = output / STAGING_DIR
    staging.mkdir(parents=True, exist_ok=True)
    ytdlp_log = _Logger()

    def hook(status: dict) -> None:
        if stop.is_set():
            raise DownloadCancelled("interrupted")
        progress.hook(item.name, status)

    def result(status: str, reason: str = "", file: str = "", size: int = 0) -> DownloadRecord:
        return DownloadRecord(item.name, item.url, status, item.origin, file, reason, size,
                              round(time.monotonic() - started, 3))

    with _ffmpeg_for_ytdlp(ffmpeg) as can_cut:
        opts = _ydl_options(item, staging, options, ffmpeg, can_cut, hook, ytdlp_log)
        try:
            with yt_dlp.YoutubeDL(opts) as ydl:
                info = ydl.extract_info(item.url, download=True)
        except DownloadCancelled:
            return result("failed", "interrupted; a rerun resumes the .part file")
        except yt_dlp.utils.YoutubeDLError as exc:
            return result(*classify_error(exc))
        except Exception as exc:  # a bug or an unforeseen site answer: this item fails, the batch goes on
            return result("failed", f"{type(exc).__name__}: {exc}")
    downloads = (info or {}).get("requested_downloads") or []
    staged = Path(downloads[0]["filepath"]) if downloads and downloads[0].get("filepath") else None
    if staged is None or not staged.is_file():
        return result("failed", "; ".join(ytdlp_log.errors) or "yt-dlp finished without a file")
    try:
        video_info = probe(staged)
    except VideoError as exc:
        staged.unlink(missing_ok=True)
        return result("failed", f"not a playable video ({str(exc).split(': ', 1)[-1]}); discarded")
    wanted = item.cut_range if options.cut_ranges else None
    cut = None
    if wanted is not None:  # yt-dlp downloads the whole video when it cannot cut: tell by the duration
        cut = abs(video_info.duration - (wanted[1] - wanted[0])) <= max(1.0, 0.1 * (wanted[1] - wanted[0]))
    final = output / f"{item.name}{staged.suffix}"
    archive_id = item.archive_id or f"{str(info.get('extractor_key', 'generic')).lower()} {info.get('id')}"
    size = staged.stat().st_size
    # Metadata first: a video under its final name always has its metadata beside it.
    write_json_atomic(metadata_path(final), _metadata(item, info, video_info, size, wanted, cut, archive_id))
    os.replace(staged, final)
    archive.add(archive_id)
    reason = ""
    if wanted is not None and not cut:
        reason = (f"whole video ({video_info.duration:.1f} s): yt-dlp could not cut "
                  f"{wanted[0]:g}-{wanted[1]:g} s; the range is in the metadata")
    elif len(item.time_ranges) > 1:
        reason = f"whole video: {len(item.time_ranges)} ranges wanted, listed in the metadata"
    return result("downloaded", reason, str(final), size)


def download_sources(sources: Sequence[str | os.PathLike], output_dir: str | os.PathLike,
                     options: DownloadOptions = DownloadOptions(),
                     report_path: str | os.PathLike | None = None) -> DownloadReport:
    """Fetch every item of ``sources`` into ``output_dir``; never stops at a bad item.

    Writes the report to ``report_path`` (``.csv`` + ``.json``; default
    ``<output_dir>/download-report``). ``DownloadReport.succeeded`` is false only when nothing
    could be downloaded or was already there.
    """
    from movinet_crossfit.core.video import ffmpeg_executable

    options = options.validate()
    options.rate_limit_bytes()  # a bad --rate-limit is a user error before any download
    output = Path(output_dir)
    if output.exists() and not output.is_dir():
        raise UserError(f"{output}: exists and is not a folder (-o/--output)")
    parse_report = BatchReport("sources")
    items = read_sources(sources, options.url_template, parse_report)
    output.mkdir(parents=True, exist_ok=True)
    report = DownloadReport(warnings=list(parse_report.warnings))
    report.records += [DownloadRecord(origin, "", "failed", origin, reason=reason)
                       for origin, reason in parse_report.failed]
    ffmpeg = ffmpeg_executable()
    with _ffmpeg_for_ytdlp(ffmpeg) as can_cut:
        if not can_cut and options.cut_ranges and any(i.cut_range for i in items):
            report.warnings.append(f"yt-dlp cannot run {ffmpeg} to cut ranges: whole videos are downloaded "
                                   "and the ranges kept in their metadata")
    archive = _Archive(output / ARCHIVE_NAME)
    stop = threading.Event()
    records: dict[str, DownloadRecord] = {}
    with _Progress(len(items)) as progress, ThreadPoolExecutor(options.workers) as pool:
        def run(item: SourceItem) -> None:
            try:
                records[item.name] = _download_one(item, output, options, archive, ffmpeg, progress, stop)
            except Exception as exc:  # e.g. a full disk at the rename: this item fails, the batch goes on
                records[item.name] = DownloadRecord(item.name, item.url, "failed", item.origin,
                                                    reason=f"{type(exc).__name__}: {exc}")
            finally:
                progress.done(item.name)
            done = records[item.name]
            logger.debug("%s: %s%s", item.name, done.status, f" ({done.reason})" if done.reason else "")

        futures = [pool.submit(run, item) for item in items]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            stop.set()  # running downloads stop at their next progress callback; .part files stay
            for future in futures:
                future.cancel()
    interrupted = stop.is_set()
    report.records += [records.get(item.name) or DownloadRecord(item.name, item.url, "failed", item.origin,
                                                                reason="interrupted before it started")
                       for item in items]
    report.write(report_path if report_path is not None else output / REPORT_NAME)
    if interrupted:  # the report of what did finish is written; the caller still learns of the interrupt
        raise KeyboardInterrupt
    return report


# --------------------------------------------------------------------------- what is there

@dataclass
class SourceStatus:
    """Which items of a source list are in a videos folder; for Countix also the rows covered."""

    present: list[SourceItem] = field(default_factory=list)
    missing: list[tuple[SourceItem, str]] = field(default_factory=list)   # with the last report's reason
    countix_rows: tuple[int, int] = (0, 0)                                # (rows with a video, all rows)

    def summary(self) -> str:
        total = len(self.present) + len(self.missing)
        line = f"{len(self.present)} of {total} videos present, {len(self.missing)} missing"
        rows, all_rows = self.countix_rows
        return line + (f"; Countix rows with a video: {rows} of {all_rows}" if all_rows else "")

    def write_missing(self, path: str | os.PathLike) -> Path:
        """The missing items as a URL list (``#name: reason`` before each): a SOURCES file to retry."""
        lines = []
        for item, reason in self.missing:
            lines += [f"#{item.name}: {reason}" if reason else f"#{item.name}", item.url]
        with atomic_path(path) as tmp:
            Path(tmp).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
        return Path(path)


def source_status(sources: Sequence[str | os.PathLike], videos_dir: str | os.PathLike,
                  url_template: str = YOUTUBE_URL_TEMPLATE) -> SourceStatus:
    """Present / missing per item, by the file name the downloader gives it (``<video_id>.mp4``
    for YouTube and Countix, which is what ``counting_manifest.from_countix`` reads). A missing
    item carries its status and reason from the folder's last download report, when there is one."""
    videos = Path(videos_dir)
    if not videos.is_dir():
        raise UserError(f"{videos}: videos folder not found (download into it first)")
    last: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads((videos / f"{REPORT_NAME}.json").read_text(encoding="utf-8"))
        last = {r["name"]: f"{r['status']}: {r['reason']}" if r["reason"] else r["status"] for r in data["items"]}
    status = SourceStatus()
    rows = all_rows = 0
    for item in read_sources(sources, url_template):
        here = (videos / f"{item.name}.mp4").is_file()
        if here:
            status.present.append(item)
        else:
            status.missing.append((item, last.get(item.name, "not downloaded yet")))
        if item.countix:
            n = sum(len(c["rows"]) for c in [item.countix, *item.countix.get("also", [])])
            all_rows += n
            rows += n if here else 0
    status.countix_rows = (rows, all_rows)
    return status
