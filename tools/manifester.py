#!/usr/bin/env python
"""`movinet-crossfit manifest` under its old name: Supervisely export -> manifest.json (`--help` lists the options).

    python tools/manifester.py EXPORT... -o manifest.json [--videos DIR] [--fps F] ...
"""
from _cli import run

if __name__ == "__main__":
    run("manifest")
