"""``movinet-crossfit demo``: the whole pipeline on a generated corpus, offline, step by step.

Every step calls the same library function as its CLI command, so the demo exercises the real
parsing, cutting and record code on data that looks like a labelling tool's output.
"""
from __future__ import annotations

import time
from pathlib import Path

from movinet_crossfit.progress import console


def _step(number: int, title: str) -> float:
    console.rule(f"[bold]{number}. {title}")
    return time.perf_counter()


def _done(started: float, where: Path | str) -> None:
    console.print(f"   done in {time.perf_counter() - started:.1f} s -> [bold]{where}[/bold]")


def run_demo(out: str | Path = "demo_out", *, clips_per_class: int = 20, size: int = 224, seed: int = 0) -> dict:
    from movinet_crossfit.annotations import write_manifest
    from movinet_crossfit.clips import split_clips
    from movinet_crossfit.records import RecordsConfig, write_records
    from movinet_crossfit.stats import corpus_stats, write_stats
    from movinet_crossfit.synthetic import generate_corpus

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()

    started = _step(1, "generate a labelled corpus (Supervisely video export)")
    corpus_dir = out / "corpus"
    summary = generate_corpus(corpus_dir, clips_per_class=clips_per_class, seed=seed)
    console.print(f"   {summary}")
    _done(started, corpus_dir)

    started = _step(2, "manifest: Supervisely export -> manifest.json")
    manifest_path = out / "manifest.json"
    manifest, report = write_manifest([corpus_dir], manifest_path)
    report.print()
    _done(started, manifest_path)

    started = _step(3, "split: cut clips with ffmpeg")
    clips_dir = out / "clips"
    report = split_clips(manifest_path, clips_dir)
    report.print()
    _done(started, clips_dir)

    started = _step(4, "records: sample 10 frames per clip, split by source video")
    records_dir = out / "tfrecords"
    result = write_records(records_dir, clips_dir=clips_dir, manifest=manifest_path,
                           config=RecordsConfig(size=size, seed=seed))
    result.report.print()
    for split, entry in result.info["splits"].items():
        console.print(f"   {split}: {entry['clips']} clips, {entry['bytes'] / 1e6:.1f} MB")
    _done(started, records_dir)

    started = _step(5, "stats: clips, frames and duration per class")
    stats = corpus_stats(manifest=manifest_path)
    paths = write_stats(stats, out / "stats")
    console.print(stats.table.round(3).to_string())
    _done(started, paths["png"])

    console.rule(f"[bold green]demo finished in {time.perf_counter() - total:.0f} s")
    return {"corpus": corpus_dir, "manifest": manifest_path, "clips": clips_dir, "records": records_dir,
            "stats": paths}
