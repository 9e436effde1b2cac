#!/usr/bin/env python
"""`movinet-crossfit download` under its old name: source lists -> videos with yt-dlp (`--help` lists the options).

    python tools/download.py SOURCES... -o videos/ [--workers N] [--status] ...
"""
from _cli import run

if __name__ == "__main__":
    run("download")
