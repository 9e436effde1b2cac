"""Progress bars and end-of-batch reports shared by every long-running stage.

A batch never stops at a bad item: each item ends as done, skipped (already there) or failed
(with the reason), and the report prints one screen at the end.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=True, soft_wrap=True)


def progress_enabled() -> bool:
    return os.environ.get("MOVINET_CROSSFIT_PROGRESS", "1") != "0" and sys.stderr.isatty()


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

    def to_dict(self) -> dict:
        return {"title": self.title, "done": self.done,
                "skipped": [{"item": i, "reason": r} for i, r in self.skipped],
                "failed": [{"item": i, "reason": r} for i, r in self.failed],
                "warnings": self.warnings}

    def print(self, out: Console | None = None, max_rows: int = 20) -> None:
        out = out or console
        out.print(f"[bold]{self.title}[/bold]: {len(self.done)} done, {len(self.skipped)} skipped, "
                  f"{len(self.failed)} failed, {len(self.warnings)} warnings")
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
