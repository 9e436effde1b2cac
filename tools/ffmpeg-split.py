#!/usr/bin/env python
"""Cut a manifest's clips out of the source videos (the same as `movinet-crossfit split`).

    python tools/ffmpeg-split.py MANIFEST [--videos DIR] [-o OUT] [--copy] [--workers N] [--overwrite]
        [--crf N] [--preset NAME]

Writes OUT/<label>/<clip id>.mp4 holding exactly the manifest's frames [start_frame, end_frame)
(re-encoded with libx264); clips already in OUT are skipped, so an interrupted run resumes.
--copy stream-copies instead: fast, but cuts at keyframes (not frame-accurate).
Exit status 1 when every clip failed, 2 for bad options or an unreadable manifest.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import movinet_crossfit  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from movinet_crossfit.data.clips import DEFAULT_CRF, DEFAULT_PRESET, split_clips
from movinet_crossfit.core.errors import UserError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path, metavar="MANIFEST", help="manifest.json")
    parser.add_argument("--videos", type=Path, metavar="DIR",
                        help="folder of the source videos (default: paths relative to the manifest)")
    parser.add_argument("-o", "--output", type=Path, default=Path("clips"), metavar="OUT",
                        help="folder for <label>/<clip id>.mp4 (default: clips)")
    parser.add_argument("--copy", action="store_true",
                        help="stream-copy: fast, but cuts at keyframes, NOT frame-accurate")
    parser.add_argument("--workers", type=int, metavar="N", help="parallel ffmpeg processes (default: cores)")
    parser.add_argument("--overwrite", action="store_true", help="re-cut clips that already exist")
    parser.add_argument("--crf", type=int, default=DEFAULT_CRF,
                        help=f"x264 quality, 0 = lossless (default: {DEFAULT_CRF})")
    parser.add_argument("--preset", default=DEFAULT_PRESET, help=f"x264 preset (default: {DEFAULT_PRESET})")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = split_clips(args.manifest, args.output, videos_dir=args.videos, reencode=not args.copy,
                             workers=args.workers, overwrite=args.overwrite, crf=args.crf, preset=args.preset)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report.print()
    print(f"clips -> {args.output}")
    return 0 if report.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
