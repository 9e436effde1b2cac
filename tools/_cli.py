"""What each script here does: run one `movinet-crossfit` command with the script's own arguments,
so the old tool names keep working with exactly the command's options, output and exit status."""
from __future__ import annotations

import sys
from pathlib import Path


def run(command: str) -> None:
    try:
        import movinet_crossfit  # noqa: F401
    except ImportError:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from movinet_crossfit.cli import main

    main([command, *sys.argv[1:]])
