"""Progress bars and end-of-batch reports shared by every long-running stage.

A batch never stops at a bad item: each item ends as done, skipped (already there) or failed
(with the reason). The library returns the report (and logs it where nobody else will see it);
the command line prints it, one screen at the end.

``console`` is stderr: progress bars and diagnostics. Results go to stdout (the CLI's ``out``).
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=True, soft_wrap=True)
logger = logging.getLogger(__name__)


_shown: tuple[logging.Handler, int, bool] | None = None  # our handler, and the level and propagate it replaced


def show_logs(level: int | None = logging.INFO, on: Console | None = None) -> None:
    """Show the package's log records (``movinet_crossfit.*``) from ``level`` up on ``on`` (default:
    stderr), drawn by rich; ``None`` undoes it. The command line calls it; a notebook may. Importing
    the library never does: whoever embeds it decides what its logging shows."""
    global _shown
    package = logging.getLogger("movinet_crossfit")
    if _shown is not None:
        handler, old_level, old_propagate = _shown
        package.removeHandler(handler)
        package.setLevel(old_level)
        package.propagate = old_propagate
        _shown = None
    if level is None:
        return
    from rich.logging import RichHandler

    handler = RichHandler(console=on or console, show_time=False, show_path=False)
    _shown = (handler, package.level, package.propagate)
    package.addHandler(handler)
    package.setLevel(level)
    # Shown here, once: a root handler would print them again, and one appears uninvited (absl's
    # first log call, e.g. TensorFlow saving a checkpoint, runs logging.basicConfig()).
    package.propagate = False


def progress_enabled(on: Console | None = None) -> bool:
    """Bars on a terminal or in Jupyter/Colab (rich draws them as a live widget there); never in a
    log file or a pipe, nor with ``MOVINET_CROSSFIT_PROGRESS=0``."""
    if os.environ.get("MOVINET_CROSSFIT_PROGRESS", "1") == "0":
        return False
    on = on or console
    return on.is_terminal or on.is_jupyter


@contextlib.contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n=1)``; draws a bar on a terminal, stays silent otherwise."""
    if not progress_enabled():
        yield lambda n=1: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


@dataclass
class BatchReport:
    """What happened to each item of a batch."""

    title: str
    done: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def ok(self, item: str) -> None:
        self.done.append(item)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append((item, reason))

    def fail(self, item: str, reason: str) -> None:
        self.failed.append((item, reason))

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    @property
    def succeeded(self) -> bool:
        """True unless every item failed (a partly bad batch still produced something)."""
        return not self.failed or bool(self.done or self.skipped)

    @property
    def total(self) -> int:
        return len(self.done) + len(self.skipped) + len(self.failed)

    def headline(self) -> str:
        return (f"{self.title}: {len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed, "
                f"{len(self.warnings)} warnings")

    def to_dict(self) -> dict:
        return {"title": self.title, "done": self.done,
                "skipped": [{"item": i, "reason": r} for i, r in self.skipped],
                "failed": [{"item": i, "reason": r} for i, r in self.failed],
                "warnings": self.warnings}

    def print(self, out: Console | None = None, max_rows: int = 20) -> None:
        out = out or console
        out.print(f"[bold]{self.title}[/bold]{self.headline()[len(self.title):]}", highlight=False)
        for message in self.warnings[:max_rows]:
            out.print(f"  [yellow]warning[/yellow] {message}", highlight=False)
        if len(self.warnings) > max_rows:
            out.print(f"  ... and {len(self.warnings) - max_rows} more warnings")
        if self.failed:
            table = Table("failed", "reason", show_lines=False)
            for item, reason in self.failed[:max_rows]:
                table.add_row(item, reason)
            out.print(table)
            if len(self.failed) > max_rows:
                out.print(f"  ... and {len(self.failed) - max_rows} more failures")

    def log(self, to: logging.Logger | None = None, max_rows: int = 20) -> None:
        """The same screen through ``logging`` (for a library function that cannot return its
        report): the headline at INFO, or WARNING with each warning and failure when there are any."""
        to = to or logger
        level = logging.WARNING if self.failed or self.warnings else logging.INFO
        to.log(level, "%s", self.headline())
        for message in self.warnings[:max_rows]:
            to.warning("  warning: %s", message)
        for item, reason in self.failed[:max_rows]:
            to.warning("  failed: %s: %s", item, reason)
        hidden = max(0, len(self.warnings) - max_rows) + max(0, len(self.failed) - max_rows)
        if hidden:
            to.warning("  ... and %d more", hidden)
