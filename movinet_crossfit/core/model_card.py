"""The parts every export folder's model card (``README.md``) shares: tables, the files with their
sizes, the signature a phone app calls, the license note, the atomic write.

Each family writes its own card (``movinet.card``, ``repnet.export``) from what its export measured:
a developer who takes the folder and nothing else finds there what the model expects and gives.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from movinet_crossfit.core.fileio import write_text_atomic

MODEL_CARD_FILE = "README.md"
CODE_LICENSE = ("The code that wrote these files is movinet-crossfit (MIT license, `LICENSE` in its "
                "repository).")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; ``|`` inside a cell is escaped."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(map(cell, row)) + " |" for row in rows)
    return "\n".join(lines)


def format_bytes(count: int) -> str:
    return f"{count / 1e6:.2f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def folder_files(folder: str | os.PathLike) -> dict[str, int]:
    """Each visible file or folder in ``folder`` (not the card itself) -> its size in bytes (a
    folder's: all files in it)."""
    folder = Path(folder)
    sizes = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == MODEL_CARD_FILE:
            continue
        sizes[path.name + ("/" if path.is_dir() else "")] = (
            sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size)
    return sizes


def files_table(folder: str | os.PathLike, describe: Mapping[str, str]) -> str:
    """Name, size and what each file is (``describe``: name -> text; a name may end with ``/``)."""
    return markdown_table(["file", "size", "what it is"],
                          [(f"`{name}`", format_bytes(size), describe.get(name, describe.get(name.rstrip("/"), "")))
                           for name, size in folder_files(folder).items()])


def signature_table(signature: Mapping[str, Mapping]) -> str:
    """The rows of one signature (``core.tflite.describe_signature``'s ``{inputs, outputs}``)."""
    rows = [(kind, f"`{name}`", spec["dtype"], str(spec["shape"]))
            for kind in ("inputs", "outputs") for name, spec in signature.get(kind, {}).items()]
    return markdown_table(["", "name", "dtype", "shape"], [(k[:-1], n, d, s) for k, n, d, s in rows])


def write_model_card(folder: str | os.PathLike, text: str) -> Path:
    """``folder/README.md``, written atomically (temp file, then rename)."""
    path = Path(folder) / MODEL_CARD_FILE
    write_text_atomic(path, text.rstrip() + "\n")
    return path
