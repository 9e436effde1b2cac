"""``movinet-crossfit``: one subcommand per pipeline stage. No logic lives here: each command
parses its options, calls one library function, and prints what it did and where it went.

    _common.py   the Typer app, option parsing, printing helpers
    data.py      download, manifest, split, records, stats, counting-manifest
    movinet.py   train, evaluate, export, predict
    counting.py  count, export-counter, train-counter, evaluate-counter
    poses.py     poses, train-poses, evaluate-poses
    analyze.py   analyze (movement, reps and rep-by-rep judging of real footage)
    run.py       demo, app
"""
from __future__ import annotations

import sys

import movinet_crossfit  # noqa: F401  (environment before TensorFlow)
from movinet_crossfit.cli import data, movinet, counting, poses, analyze, run  # noqa: F401,I001  (registers the commands, in pipeline order)
from movinet_crossfit.cli._common import app, console
from movinet_crossfit.core.errors import UserError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point (``argv``: the arguments, default ``sys.argv[1:]``): user errors print one clear
    line (no traceback) and exit with status 2."""
    try:
        app(args=argv)
    except UserError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted; finished outputs are kept, partial ones were not written")
        sys.exit(130)
