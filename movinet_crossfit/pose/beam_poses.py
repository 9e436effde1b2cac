"""``poses`` on an Apache Beam runner (``--runner``): each video's poses by a worker, through the
library's own ``extract.write_poses`` for one input, so the ``.npz`` is the local path's.

The launcher lists the inputs and their outputs as ``poses`` does (``extract.output_paths``) and
skips outputs that exist; each worker writes its ``.npz`` atomically (``save_poses``), so a retried
worker rewrites the same file and a re-run does only what is missing. Inputs and outputs are paths
the workers share (a local disk for the DirectRunner, a mounted volume on a cluster).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

from movinet_crossfit.core import beam as core_beam
from movinet_crossfit.core.beam import BeamSettings
from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.progress import BatchReport
from movinet_crossfit.pose.extract import PosesResult, _is_video, make_backend, output_paths, write_poses


def _poses_of(item: tuple[int, str, str], options: dict) -> dict:
    order, source, target = item
    outcome = {"item": source, "order": order, "output": target, "status": "failed"}
    try:
        result = write_poses([source], target, **options)
    except Exception as exc:  # noqa: BLE001 - a bad input is reported, the others go on
        return {**outcome, "reason": f"{type(exc).__name__}: {exc}" if not isinstance(exc, UserError) else str(exc)}
    if result.report.failed:
        return {**outcome, "reason": result.report.failed[0][1]}
    if result.report.skipped:
        return {**outcome, "status": "skipped", "reason": result.report.skipped[0][1]}
    return {**outcome, "status": "ok", "summary": result.summaries.get(source, ""),
            "seconds": result.seconds.get(source, 0.0)}


def write_poses_beam(inputs: Sequence[str | os.PathLike], output: str | os.PathLike, *, settings: BeamSettings,
                     backend: str = "blazepose", import_format: Optional[str] = None, fps: Optional[float] = None,
                     every: int = 1, overwrite: bool = False, **backend_options) -> PosesResult:
    """``extract.write_poses`` on a Beam runner: the same ``.npz`` files where ``poses`` puts them."""
    import apache_beam as beam

    settings.flags()  # a mistaken runner or option is refused before any work
    sources = [Path(p) for p in inputs]
    if not sources:
        raise UserError("poses: give at least one VIDEO (or estimator output to import)")
    if any(core_beam.is_remote(p) for p in [*map(str, inputs), str(output)]):
        raise UserError("poses --runner: inputs and output must be paths the workers share (a local disk or "
                        "a mounted bucket); see docs/scale.md")
    targets = output_paths(sources, Path(output))
    result = PosesResult(BatchReport("poses"))
    if any(_is_video(p, import_format) for p in sources):
        make_backend(backend, **backend_options)  # missing model files stop here, once, not on every worker
    items = []
    for order, (source, target) in enumerate(zip(sources, targets)):
        if target.exists() and not overwrite:
            result.report.skip(str(source), f"{target} exists (pass --overwrite to redo)")
            result.outputs[str(source)] = str(target)
            continue
        items.append((order, str(source), str(target)))
    if not items:
        return result
    options = dict(backend=backend, import_format=import_format, fps=fps, every=every, overwrite=overwrite,
                   **backend_options)

    def build(pipeline):
        return (pipeline | "inputs" >> beam.Create(items) | "spread" >> beam.Reshuffle()
                | "poses" >> beam.Map(_poses_of, options))

    scratch = str(Path(output).parent if Path(output).suffix.lower() == ".npz" else Path(output))
    Path(scratch).mkdir(parents=True, exist_ok=True)
    for outcome in sorted(core_beam.run_collect(build, settings, scratch, "poses"), key=lambda o: o["order"]):
        if outcome["status"] == "failed":
            result.report.fail(outcome["item"], outcome["reason"])
            continue
        result.outputs[outcome["item"]] = outcome["output"]
        if outcome["status"] == "skipped":
            result.report.skip(outcome["item"], outcome["reason"])
            continue
        result.report.ok(outcome["item"])
        result.summaries[outcome["item"]] = outcome["summary"]
        result.seconds[outcome["item"]] = outcome["seconds"]
    return result
