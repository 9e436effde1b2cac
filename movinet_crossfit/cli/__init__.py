"""``movinet-crossfit``: one subcommand per pipeline stage. No logic lives here: each command
parses its options, calls one library function, and prints what it did and where it went: the
result on stdout, progress, reports and the library's log records on stderr.

    _common.py   the Typer app, option parsing, printing helpers
    data.py      download, manifest, split, records, stats, counting-manifest
    movinet.py   train, evaluate, export, predict
    counting.py  count, export-counter, train-counter, evaluate-counter
    poses.py     poses, train-poses, evaluate-poses
    analyze.py   analyze (movement, reps and rep-by-rep judging of real footage)
    live.py      live (the running count and verdicts from a camera, a stream or a file)
    run.py       demo, app
"""
from __future__ import annotations

import sys

from rich.markup import escape

import movinet_crossfit  # noqa: F401  (environment before TensorFlow)
from movinet_crossfit.cli import data, movinet, counting, poses, analyze, live, run  # noqa: F401,I001  (registers the commands, in pipeline order)
from movinet_crossfit.cli._common import app, console
from movinet_crossfit.core.errors import UserError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point (``argv``: the arguments, default ``sys.argv[1:]``): user errors print one clear
    line (no traceback) and exit with status 2."""
    try:
        app(args=argv)
    except UserError as exc:
        console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except ModuleNotFoundError as exc:  # a command whose extra is not installed: name the extra
        from movinet_crossfit.core.extras import missing_extra_message

        message = missing_extra_message(exc)
        if message is None:
            raise
        console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
        sys.exit(2)
    except (KeyboardInterrupt, SystemExit) as exc:
        # typer turns Ctrl-C into a silent Exit(130) before it gets here: find it in the chain.
        interrupt = exc
        while interrupt is not None and not isinstance(interrupt, KeyboardInterrupt):
            interrupt = interrupt.__cause__ or interrupt.__context__
        if interrupt is None:
            raise
        # A library that knows what it kept says so in the interrupt's message.
        console.print(f"interrupted; {str(interrupt) or 'finished outputs are kept, partial ones were not written'}",
                      highlight=False)
        sys.exit(130)
