#!/usr/bin/env python
"""Source lists -> videos with yt-dlp (the same as `movinet-crossfit download`).

    python tools/download.py SOURCES... -o videos/ [--format F] [--workers N] [--retries N]
        [--backoff S] [--rate-limit 2M] [--sleep S] [--max-sleep S] [--sleep-requests S]
        [--whole-videos] [--cookies FILE] [--url-template T] [--report STEM] [--status]

SOURCES: URL lists (#title lines before URLs), CSVs with a url or video_id column, Countix CSVs, or URLs.
Exit status 1 only when nothing could be downloaded or was already there; 2 for bad input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import movinet_crossfit  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.progress import console
from movinet_crossfit.data.sources import (DEFAULT_FORMAT, YOUTUBE_URL_TEMPLATE, DownloadOptions, download_sources,
                                      source_status)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = DownloadOptions()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sources", nargs="+", metavar="SOURCES", help="URL list, CSV, Countix CSV or URL")
    parser.add_argument("-o", "--output", type=Path, default=Path("videos"), help="videos folder (default: videos)")
    parser.add_argument("--format", default=DEFAULT_FORMAT, help=f"yt-dlp format (default: {DEFAULT_FORMAT})")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="parallel downloads")
    parser.add_argument("--retries", type=int, default=defaults.retries, help="retries per transfer")
    parser.add_argument("--backoff", type=float, default=defaults.backoff, help="first retry wait (s), doubling")
    parser.add_argument("--rate-limit", help="bytes per second per download, e.g. 2M")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to wait before each download")
    parser.add_argument("--max-sleep", type=float, help="wait a random time in [--sleep, --max-sleep]")
    parser.add_argument("--sleep-requests", type=float, default=0.0, help="seconds between extraction requests")
    parser.add_argument("--whole-videos", action="store_true", help="never cut to the Countix/CSV time range")
    parser.add_argument("--cookies", help="Netscape cookie file for yt-dlp")
    parser.add_argument("--url-template", default=YOUTUBE_URL_TEMPLATE, help="URL of a video id, with {id}")
    parser.add_argument("--report", type=Path, help="report stem (default: OUTPUT/download-report)")
    parser.add_argument("--status", action="store_true",
                        help="download nothing: list present/missing videos, write OUTPUT/missing.txt")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.status:
            status = source_status(args.sources, args.output, url_template=args.url_template)
            missing = status.write_missing(args.output / "missing.txt")
            print(f"{status.summary()}; missing -> {missing}")
            return 0
        options = DownloadOptions(format=args.format, workers=args.workers, retries=args.retries,
                                  backoff=args.backoff, rate_limit=args.rate_limit, sleep=args.sleep,
                                  max_sleep=args.max_sleep, sleep_requests=args.sleep_requests,
                                  cut_ranges=not args.whole_videos, cookies=args.cookies,
                                  url_template=args.url_template)
        report = download_sources(args.sources, args.output, options, report_path=args.report)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the report lists what finished; rerun to resume the rest", file=sys.stderr)
        return 130
    report.print()
    console.print(f"videos -> {args.output}, report -> {report.files['csv']}", highlight=False)
    return 0 if report.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
