"""What every command module shares: the Typer app, the console, option parsing, printing."""
from __future__ import annotations

import enum

import typer

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.progress import console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="CrossFit movement classification and rep counting: corpus -> MoViNet -> phone.")

__all__ = ["OutputFormat", "app", "console", "default", "finish_batch", "param_default", "parse_int_list",
           "parse_names", "print_metrics_table"]


class OutputFormat(str, enum.Enum):
    """``--format``: a table for people, JSON for programs (always on stdout)."""

    table = "table"
    json = "json"


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
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="print the version and exit")) -> None:
    """CrossFit movement classification and rep counting: corpus -> MoViNet -> phone."""


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
    console.print(table)
    return ", ".join(f"{k} {v:.3f}" for k, v in m.items() if k.startswith("top"))


def finish_batch(report, done: str) -> None:
    """The end of a batch command: the report's screen, where the outputs went, exit 1 if any item failed."""
    report.print()
    console.print(done, highlight=False)
    if not report.succeeded:
        raise typer.Exit(1)

