"""The Countix CSV: counted repetitions in YouTube videos (RepNet's dataset), and its one reader.

One row per counted range: ``video_id, [class,] kinetics_start, kinetics_end, repetition_start,
repetition_end, count``, times in seconds of the YouTube video (``class`` is absent from the test
split). ``kinetics_*`` is the 10 s Kinetics clip the repetitions lie in.

``read_countix`` checks the file and its columns and returns the rows as text, each with its line
number; every consumer parses the fields it needs (``CountixRow.kinetics`` / ``repetitions``), in
its own order, so a bad number fails one row in that consumer's report, not the file:

* ``sources.parse_countix``: one download per video, cut to its Kinetics clip;
* ``counting_manifest.from_countix``: one counting item per row whose video is there.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from movinet_crossfit.core.errors import UserError

COUNTIX_COLUMNS = ("video_id", "kinetics_start", "kinetics_end", "repetition_start", "repetition_end", "count")


@dataclass(frozen=True)
class CountixRow:
    line: int                     # line number in the CSV (the header is line 1)
    video_id: str
    label: Optional[str]          # the ``class`` column; None when empty or absent
    fields: dict                  # every column, as text

    def _number(self, column: str) -> float:
        value = self.fields.get(column)
        if value is None:
            raise ValueError(f"no {column}")
        return float(value)

    def kinetics(self) -> tuple[float, float]:
        """``(kinetics_start, kinetics_end)`` in seconds; ``ValueError`` when not numbers."""
        return self._number("kinetics_start"), self._number("kinetics_end")

    def repetitions(self) -> tuple[float, float, float]:
        """``(repetition_start, repetition_end, count)``; ``ValueError`` when not numbers."""
        return self._number("repetition_start"), self._number("repetition_end"), self._number("count")


@dataclass(frozen=True)
class CountixCsv:
    path: Path
    split: str                    # the file name without "countix_": train, val, test
    rows: list[CountixRow]


def is_countix(columns: Iterable[str]) -> bool:
    """Whether a CSV header has every Countix column."""
    columns = set(columns)
    return all(c in columns for c in COUNTIX_COLUMNS)


def countix_split(path: str | os.PathLike) -> str:
    """``countix_val.csv`` -> ``val``; another name -> its lower-case stem."""
    return Path(path).stem.lower().removeprefix("countix_")


def read_countix(path: str | os.PathLike) -> CountixCsv:
    """Every row of a Countix CSV; a missing file or column is a ``UserError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: Countix CSV not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            reader.fieldnames = [c.strip() for c in reader.fieldnames or []]
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a text file ({exc}); give a Countix CSV") from exc
    missing = [c for c in COUNTIX_COLUMNS if c not in reader.fieldnames]
    if missing:
        raise UserError(f"{path}: not a Countix CSV, missing column(s) {', '.join(missing)} "
                        f"(expected {', '.join(COUNTIX_COLUMNS)})")
    return CountixCsv(path, countix_split(path), [
        CountixRow(line, (row.get("video_id") or "").strip(), (row.get("class") or None), row)
        for line, row in enumerate(rows, start=2)])
