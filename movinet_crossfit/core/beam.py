"""Apache Beam for the corpus stages (``split``, ``records``, ``poses`` with ``--runner``): the
runner and its options, paths through Beam's FileSystems, and running a pipeline whose elements
are per-item outcomes that come back to the launching process.

Beam is imported lazily (the ``[beam]`` extra): without ``--runner`` nothing here is imported.
Outcomes return through files (``WriteToText`` into a hidden scratch folder beside the output,
read and removed after the run) because on a real runner the workers share no memory with the
launcher; the same code serves the DirectRunner and Dataflow.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from movinet_crossfit.core.errors import UserError

# Local runners first; the others are documented targets (docs/scale.md).
RUNNERS = ("DirectRunner", "PrismRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")
LOCAL_RUNNERS = ("DirectRunner", "PrismRunner")
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_OPTION_RE = re.compile(r"^-{0,2}(?P<key>[A-Za-z_][A-Za-z0-9_]*)(=(?P<value>.*))?$")


@dataclass(frozen=True)
class BeamSettings:
    """Where a corpus stage runs: ``runner`` and Beam pipeline options as ``KEY=VALUE`` strings
    (``project=P``, ``region=R``, ``temp_location=gs://...``, ``direct_running_mode=multi_processing``).
    ``workers``: the DirectRunner's ``direct_num_workers`` (default: one per core)."""

    runner: str = "DirectRunner"
    options: tuple[str, ...] = ()
    workers: Optional[int] = None

    @property
    def local(self) -> bool:
        return self.runner in LOCAL_RUNNERS

    def flags(self) -> list[str]:
        """The command-line flags Beam's ``PipelineOptions`` parses."""
        if self.runner not in RUNNERS and "." not in self.runner:  # a dotted name: a runner class
            raise UserError(f"--runner {self.runner!r}: unknown Beam runner; choose one of {', '.join(RUNNERS)}")
        given: dict[str, Optional[str]] = {}
        for option in self.options:
            match = _OPTION_RE.match(option.strip())
            if not match:
                raise UserError(f"--beam-option {option!r}: expected KEY=VALUE, e.g. temp_location=gs://bucket/tmp")
            given[match.group("key")] = match.group("value")
        if "runner" in given:
            raise UserError("--beam-option runner=...: give the runner with --runner")
        flags = [f"--runner={self.runner}"]
        if self.runner == "DirectRunner":
            # Threads by default: the work is ffmpeg processes and TensorFlow ops, which release the
            # GIL, and worker processes would each pay Beam's and TensorFlow's start-up.
            given.setdefault("direct_num_workers", str(self.workers or os.cpu_count() or 1))
            given.setdefault("direct_running_mode", "multi_threading")
        flags += [f"--{key}" if value is None else f"--{key}={value}" for key, value in given.items()]
        return flags

    def pipeline_options(self):
        from apache_beam.options.pipeline_options import PipelineOptions

        return PipelineOptions(self.flags())


# --- paths: local, or anything Beam's FileSystems reads (gs:// with apache-beam[gcp]) -------------

def is_remote(path: str | os.PathLike) -> bool:
    return bool(_SCHEME_RE.match(str(path)))


def join(base: str | os.PathLike, *parts: str) -> str:
    if not is_remote(base):
        return str(Path(base).joinpath(*parts))
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(str(base), *parts)


def exists(path: str | os.PathLike) -> bool:
    if not is_remote(path):
        return Path(path).exists()
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(str(path))


def remove(paths: Sequence[str]) -> None:
    """Delete files (local or remote); missing ones are fine."""
    for path in paths:
        if not is_remote(path):
            Path(path).unlink(missing_ok=True)
            continue
        from apache_beam.io.filesystems import FileSystems

        if FileSystems.exists(path):
            FileSystems.delete([path])


def matching(pattern: str) -> list[str]:
    """The files matching a glob (local or remote), sorted."""
    if not is_remote(pattern):
        import glob

        return sorted(glob.glob(pattern))
    from apache_beam.io.filesystems import FileSystems

    return sorted(meta.path for result in FileSystems.match([pattern]) for meta in result.metadata_list)


@contextlib.contextmanager
def local_copy(path: str | os.PathLike) -> Iterator[Path]:
    """A local file with ``path``'s bytes for tools that read files (ffmpeg): the file itself when
    local, else a download into a temp folder removed afterwards."""
    if not is_remote(path):
        yield Path(path)
        return
    from apache_beam.io.filesystems import FileSystems

    folder = Path(tempfile.mkdtemp(prefix="movinet-crossfit-"))
    try:
        target = folder / Path(str(path).rstrip("/")).name
        with FileSystems.open(str(path)) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(local_file: str | os.PathLike, final: str) -> None:
    """Move a finished local file to ``final`` so that ``final`` is never partial: a rename on a
    local disk; remotely an upload under a hidden unique name, then a rename (an object store's
    object appears whole or not at all). A retried worker writes the same ``final`` again."""
    if not is_remote(final):
        Path(final).parent.mkdir(parents=True, exist_ok=True)
        os.replace(local_file, final)
        return
    from apache_beam.io.filesystems import FileSystems

    head, name = final.rsplit("/", 1)
    temp = f"{head}/.{name}.part-{uuid.uuid4().hex}"
    with open(local_file, "rb") as source, FileSystems.create(temp) as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([temp], [final])
    Path(local_file).unlink(missing_ok=True)


def write_bytes_atomic(path: str, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(delete=False, dir=None if is_remote(path) else Path(path).parent,
                                     prefix=f".{Path(path).name}.", suffix=f".part-{os.getpid()}") as handle:
        handle.write(data)
    publish(handle.name, path)


def read_bytes(path: str) -> bytes:
    if not is_remote(path):
        return Path(path).read_bytes()
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as handle:
        return handle.read()


# --- running --------------------------------------------------------------------------------------

def run_collect(build: Callable[[object], object], settings: BeamSettings, scratch_base: str,
                what: str) -> list[dict]:
    """Run the pipeline ``build(pipeline)`` makes (it returns a PCollection of JSON-able dicts, one
    per item) and return those dicts. ``scratch_base``: a folder the workers can write (the output)."""
    import apache_beam as beam

    scratch = join(scratch_base, f".beam-outcomes-{uuid.uuid4().hex[:12]}")
    prefix = join(scratch, "part")
    beam_logger = logging.getLogger("apache_beam")
    level = beam_logger.level
    if settings.local:  # a local run's worker chatter is noise; a cluster's says where the job is
        beam_logger.setLevel(logging.ERROR)
    try:
        with beam.Pipeline(options=settings.pipeline_options()) as pipeline:
            outcomes = build(pipeline)
            _ = (outcomes | "to json" >> beam.Map(lambda item: json.dumps(item, sort_keys=True))
                 | "outcomes" >> beam.io.WriteToText(prefix))
    except UserError:
        raise
    except Exception as exc:  # the runner's own failure (a worker lost, a quota): finished items stay
        raise UserError(f"{what} on {settings.runner} failed ({type(exc).__name__}: {str(exc)[:300]}); "
                        "what finished is kept: rerun the same command to do the rest") from exc
    finally:
        beam_logger.setLevel(level)
        found = matching(prefix + "*")
        items = [json.loads(line) for path in found for line in read_bytes(path).decode().splitlines() if line]
        remove(found)
        if not is_remote(scratch):
            shutil.rmtree(scratch, ignore_errors=True)
    return items
