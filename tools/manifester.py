#!/usr/bin/env python
"""Supervisely export -> manifest.json (the same as `movinet-crossfit manifest`).

    python tools/manifester.py EXPORT... -o manifest.json [--videos DIR] [--fps F]
        [--alias FROM=TO ...] [--classes a,b,c] [--keep-unknown] [--keep-overlapping]

EXPORT: a Supervisely video project folder, a folder of <video>.mp4.json files, or single JSON files.
Exit status 1 only when no clip came out; 2 for bad options.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import movinet_crossfit  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from movinet_crossfit.data.annotations import summary_line, vocabulary_from_options, write_manifest
from movinet_crossfit.core.errors import UserError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("export", nargs="+", type=Path, metavar="EXPORT",
                        help="Supervisely project folder, folder of *.mp4.json files, or JSON file")
    parser.add_argument("-o", "--output", type=Path, default=Path("manifest.json"),
                        help="manifest to write (default: manifest.json); video paths are relative to its folder")
    parser.add_argument("--videos", type=Path, metavar="DIR",
                        help="folder of the source videos (matched by file name): fps, times, frame-count check")
    parser.add_argument("--fps", type=float, metavar="F", help="frame rate for videos that are not found")
    parser.add_argument("--alias", action="append", default=[], metavar="FROM=TO",
                        help="map an annotator's label onto a class (repeatable), e.g. hspu=shspu")
    parser.add_argument("--classes", metavar="a,b,c", help="the class list (default: the 9 default movements)")
    parser.add_argument("--keep-unknown", action="store_true", help="keep labels outside the classes")
    parser.add_argument("--keep-overlapping", action="store_true",
                        help="keep overlapping segments with different labels (default: drop both)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        vocabulary = vocabulary_from_options(args.classes, args.alias)
        manifest, report = write_manifest(args.export, args.output, videos_dir=args.videos, fps=args.fps,
                                          vocabulary=vocabulary, keep_unknown=args.keep_unknown,
                                          keep_overlapping=args.keep_overlapping)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report.print()
    if not manifest.clips:
        print(f"{args.output}: nothing written, no clips", file=sys.stderr)
        return 1
    print(summary_line(manifest, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
