"""The corpus stages on Apache Beam's DirectRunner against the local pool, on the same input, in one run.

Input: the real cfmove clips, each taken as a source video whose middle 80 % is one clip (so `split`
re-encodes real footage), then `records` of the cut clips at the default 8 frames x 224.

1. clips/s: `split --runner DirectRunner` / `split` and `records --runner DirectRunner` / `records`,
   the same worker count (a ratio; 1.0 = no cost for running on Beam)
2. Beam's overhead per element: (Beam seconds - local seconds) / clips, and the start-up of an empty
   pipeline (what every `--runner` run pays once)
3. CPU seconds per clip of the local path (this process + its ffmpeg children): what the cost
   estimate in docs/scale.md is built from

    python benchmarks/bench_beam.py [--clips ../shared/data/cfmove/clips] [--limit 24] [--workers 2]

On a loaded machine the ratios are "under load": the load average is printed with every number.
"""
from __future__ import annotations

import argparse
import importlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from movinet_crossfit.core.beam import BeamSettings, run_collect  # noqa: E402
from movinet_crossfit.core.video import probe  # noqa: E402
from movinet_crossfit.data.beam_pipeline import split_clips_beam, write_records_beam  # noqa: E402
from movinet_crossfit.data.clips import split_clips  # noqa: E402
from movinet_crossfit.data.manifest import ClipEntry, Manifest, clip_id  # noqa: E402
from movinet_crossfit.data.records import RecordsConfig, write_records  # noqa: E402


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(function, *args, **kwargs):
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def write_manifest(paths: list[Path], target: Path) -> int:
    clips = []
    for path in paths:
        info = probe(path)
        start, end = info.num_frames // 10, max(info.num_frames // 10 + 1, info.num_frames * 9 // 10)
        video = os.path.relpath(path, target.parent)
        label = path.parent.name
        clips.append(ClipEntry(id=clip_id(video, start, end, label), video=video, label=label, start_frame=start,
                               end_frame=end, fps=info.fps or None, group=path.stem))
    Manifest(classes=sorted({c.label for c in clips}), clips=clips).save(target)
    return len(clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=Path, default=ROOT.parent / "shared" / "data" / "cfmove" / "clips")
    parser.add_argument("--limit", type=int, default=24, help="source videos (clips) to use")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    paths = sorted(args.clips.glob("*/*.mp4"))[:args.limit]
    settings = BeamSettings("DirectRunner", workers=args.workers)
    print(f"{len(paths)} source videos, {args.workers} workers, {os.cpu_count()} cores, {load()} at start")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = write_manifest(paths, tmp / "manifest.json")

        import apache_beam as beam

        _, empty, _ = timed(run_collect, lambda p: p | beam.Create([{"item": 0}]), settings, str(tmp), "empty")
        print(f"empty pipeline: {empty:.2f} s start-up per run ({load()})")

        local, local_s, local_cpu = timed(split_clips, tmp / "manifest.json", tmp / "clips_local", workers=args.workers)
        on_beam, beam_s, _ = timed(split_clips_beam, tmp / "manifest.json", tmp / "clips_beam", settings=settings)
        assert len(local.done) == len(on_beam.done) == n, (local.headline(), on_beam.headline())
        print(f"split:   local {n / local_s:.2f} clips/s, Beam {n / beam_s:.2f} clips/s, ratio {local_s / beam_s:.2f}; "
              f"overhead {(beam_s - local_s) / n * 1000:+.0f} ms/clip; local CPU {local_cpu / n:.2f} s/clip ({load()})")

        importlib.import_module("tensorflow")  # imported once here, so neither side pays it

        config = dict(workers=args.workers)
        result, local_s, local_cpu = timed(write_records, tmp / "records_local", clips_dir=tmp / "clips_local",
                                           manifest=tmp / "manifest.json", config=RecordsConfig(**config))
        on_beam, beam_s, _ = timed(write_records_beam, tmp / "records_beam", clips_dir=tmp / "clips_local",
                                   manifest=tmp / "manifest.json", config=RecordsConfig(**config), settings=settings)
        m = len(result.report.done)
        same = result.info["content_sha256"] == on_beam.info["content_sha256"]
        print(f"records: local {m / local_s:.2f} clips/s, Beam {m / beam_s:.2f} clips/s, ratio {local_s / beam_s:.2f}; "
              f"overhead {(beam_s - local_s) / m * 1000:+.0f} ms/clip; local CPU {local_cpu / m:.2f} s/clip; "
              f"identical shards: {same} ({load()})")


if __name__ == "__main__":
    main()
