#!/usr/bin/env python
"""`movinet-crossfit split` under its old name: manifest -> clips (`--help` lists the options).

    python tools/ffmpeg-split.py MANIFEST [--videos DIR] [-o OUT] [--copy] ...
"""
from _cli import run

if __name__ == "__main__":
    run("split")
