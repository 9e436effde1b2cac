"""Atomic file writing (nothing half-written is ever left where a good file is expected), the clean-up
of what killed writers left behind, one writer per output folder, and the SHA-256 of a file."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Iterator

from movinet_crossfit.core.errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer per folder is then the user's care
    fcntl = None

LOCK_FILE = ".movinet-crossfit.lock"
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.part-(?P<pid>\d+)$")


def temp_path_for(path: str | os.PathLike) -> Path:
    """A hidden temp name beside ``path`` (same folder, so the final rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.part-{os.getpid()}")


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, names: str = "*") -> list[Path]:
    """Delete the temp files (``temp_path_for``) in ``folder`` of final names matching the glob
    ``names`` that writers no longer running left behind (a SIGKILL or a power cut skips every
    ``finally``); returns them. A temp file of a live process is another writer's work and stays.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for part in folder.glob(f".{names}.part-*"):
        match = _TEMP_RE.match(part.name)
        if not match or not part.is_file():
            continue
        pid = int(match.group("pid"))
        if pid != os.getpid() and not process_alive(pid):
            with contextlib.suppress(OSError):
                part.unlink()
                removed.append(part)
    return removed


def _lock_holder(fd: int, wait_s: float = 1.0) -> str:
    """What the lock file says holds it: "<what> (pid N)". The holder writes that just after taking
    the lock, so a second writer arriving in between reads an empty (or a previous holder's) line;
    it re-reads for up to ``wait_s`` until the line names a live process."""
    deadline = time.monotonic() + wait_s
    while True:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
        match = re.search(r"\(pid (\d+)\)$", text)
        if match and process_alive(int(match.group(1))):
            return text
        if time.monotonic() >= deadline:
            return "another process"
        time.sleep(0.02)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold the one-writer lock of ``folder`` (an advisory ``flock`` on a hidden file in it) while
    ``what`` writes there. A second writer fails at once with a ``UserError`` naming the holder;
    the kernel drops the lock when its holder exits, however it ends (no stale locks after a kill).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    if fcntl is None:
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            raise UserError(f"{folder}: {holder} is writing here; wait for it to finish, or write "
                            f"to another folder (-o)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what} (pid {os.getpid()})\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # still held: a later second writer reads no finished holder's line
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race the next writer)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path to write; on success it is renamed to ``path``, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def replace_dir(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Move a finished folder into place; a previous one is swapped out first, then removed."""
    tmp, final = Path(tmp), Path(final)
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read 1 MiB at a time (large videos never sit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: str | os.PathLike, data) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically (format from the suffix, PNG by default) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
