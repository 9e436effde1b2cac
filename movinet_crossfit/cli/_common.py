"""What every command module shares: the Typer app, the two consoles, logging, option parsing,
printing.

Output conventions: a command's result (a table, a label, a count, where its outputs went) goes to
stdout through ``out``, so it can be piped or captured; progress bars, batch reports, warnings and
log records go to stderr through ``console``. ``--format json`` writes pure JSON to stdout.
"""
from __future__ import annotations

import enum
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterable

import typer
from rich.console import Console

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.progress import console, show_logs
from movinet_crossfit.movinet.predict import BACKENDS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="CrossFit movement classification and rep counting: corpus -> MoViNet -> phone.")

# Results on stdout; rich leaves out colours and styles when stdout is not a terminal.
out = Console(soft_wrap=True, highlight=False)

__all__ = ["Backend", "OutputFormat", "app", "choices", "console", "default", "finish_batch",
           "out", "param_default", "parse_int_list", "parse_names", "print_metrics_table", "results_console",
           "strict_option"]


class OutputFormat(str, enum.Enum):
    """``--format``: a table for people, JSON for programs (always on stdout)."""

    table = "table"
    json = "json"


def choices(name: str, values: Iterable[str]) -> type[enum.Enum]:
    """A string Enum of a library's ``values`` for an option: typer lists them in --help and
    refuses anything else (exit 2, naming the valid choices). Pass ``.value`` on to the library."""
    return enum.Enum(name, [(value, value) for value in values], type=str)


# The runtimes of an export folder (MoViNet and RepNet exports alike).
Backend = choices("Backend", BACKENDS)


def results_console(output_format: "OutputFormat | str") -> Console:
    """Where a command's side lines (``result -> FILE``) go: stdout with the table, stderr beside
    JSON, so that stdout stays one JSON document."""
    return console if output_format == OutputFormat.json else out


def param_default(function, name: str):
    """The default of a library function's parameter, for an option: defined once, in the library."""
    import inspect

    return inspect.signature(function).parameters[name].default


def default(config_class, name: str) -> str:
    """``"default X"`` for a config field, for help texts: the value is the library's, never a copy."""
    return f"default {config_class.model_fields[name].get_default(call_default_factory=True)}"


def _print_version(value: bool) -> None:
    if value:
        from movinet_crossfit import __version__

        print(f"movinet-crossfit {__version__}")
        raise typer.Exit()


@app.callback()
def _options(ctx: typer.Context,
             version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="print the version and exit"),
             verbose: bool = typer.Option(False, "-v", "--verbose", help="debug messages as well"),
             quiet: bool = typer.Option(False, "-q", "--quiet", help="warnings and errors only")) -> None:
    """CrossFit movement classification and rep counting: corpus -> MoViNet -> phone."""
    # The package's records on stderr, drawn by rich, for this command only.
    show_logs(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    # Undone when the command ends, so that a program running commands in-process (tests, a
    # notebook) gets its logging back as it was.
    ctx.call_on_close(lambda: show_logs(None))


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """``"1,2,3"`` -> ``(1, 2, 3)``; anything else is a UserError naming the option."""
    try:
        values = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise UserError(f"{option} {text!r}: expected comma-separated integers, e.g. 1,2,3,4") from None
    if not values:
        raise UserError(f"{option} {text!r}: give at least one integer")
    return values


def parse_names(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def print_metrics_table(m: dict, unit: str) -> str:
    """The per-class table of ``metrics.classification_metrics`` output; returns the top-k summary."""
    from rich.table import Table

    table = Table("class", unit, "precision", "recall", "F1", "p(true) mean ± std")
    for name, row in m["per_class"].items():
        mean, std = row["true_class_probability_mean"], row["true_class_probability_std"]
        table.add_row(name, str(row["support"]), f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                      "-" if mean is None else f"{mean:.3f} ± {std or 0:.3f}")
    out.print(table)
    return ", ".join(f"{k} {v:.3f}" for k, v in m.items() if k.startswith("top"))


def strict_option():
    return typer.Option(False, "--strict", help="exit 1 when any item failed (default: only when every item did)")


def finish_batch(report, done: str | None, strict: bool = False, noun: str = "items", *,
                 print_report: bool = True) -> None:
    """The end of a batch command: the report's screen (stderr; ``print_report=False`` when the
    command printed it already), where the outputs went (stdout), and exit 1 when every item failed
    or, with ``strict``, when any did, saying how many. ``report``: a ``BatchReport``, or anything
    with ``print()``, ``succeeded`` and ``batch_report()`` (the download report)."""
    if print_report:
        report.print()
    if done:
        out.print(done, highlight=False)
    counted = report.batch_report() if hasattr(report, "batch_report") else report
    failed = len(counted.failed)
    if report.succeeded and not (strict and failed):
        return
    if failed:
        console.print(f"[bold red]{failed} of {counted.total} {noun} failed[/bold red]"
                      + (" (--strict)" if report.succeeded else ""), highlight=False)
    raise typer.Exit(1)


OVERLAY_SUFFIXES = (".mp4", ".m4v", ".mov")  # what an H.264 MP4 may be called without lying
PLOT_SUFFIXES = (".png", ".svg", ".pdf")  # what matplotlib writes by the name


def check_output(path: Path | None, option: str, video_path: Path,
                 other: tuple[str, Path | None] = ("", None)) -> None:
    """Refuse, before minutes of poses (``analyze``) or a camera session (``live``), an output that
    cannot be written or would destroy an input."""
    if path is None:
        return
    if path.is_dir():
        example = path / {"--overlay": "overlay.mp4", "--plot": "live.png"}.get(option, "result.json")
        raise UserError(f"{option} {path}: is a folder; give a file name (e.g. {example})")
    if path.exists() and video_path.exists() and os.path.samefile(path, video_path):
        raise UserError(f"{option} {path}: is the input video; write to another file")
    if other[1] is not None and path.resolve() == other[1].resolve():
        raise UserError(f"{option} {path}: is also {other[0]}; give each its own file")
    if option == "--overlay" and path.suffix.lower() not in OVERLAY_SUFFIXES:
        raise UserError(f"{option} {path}: the overlay is an H.264 MP4; name it .mp4")
    if option == "--plot" and path.suffix.lower() not in PLOT_SUFFIXES:
        raise UserError(f"{option} {path}: a picture; name it .png (or .svg, .pdf)")
    above = next((folder for folder in path.parents if folder.exists()), None)
    if above is not None and not above.is_dir():
        raise UserError(f"{option} {path}: {above} is a file, not a folder; choose another path")
    try:  # the folder must take the hidden temp file the atomic write renames into place
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write there ({exc.strerror or exc}); choose another path") from None


def check_movement_given(movement: str | None, standards) -> None:
    """``--movement ''`` is a mistake (not "no movement"): one line listing the known names."""
    if movement is not None and not movement.strip():
        from movinet_crossfit.analysis.footage import counted_only

        raise UserError(f"--movement {movement!r}: empty; give a movement name ({', '.join(standards.names())}; "
                        f"counted without judging: {', '.join(counted_only(standards))}) or leave the option out")
