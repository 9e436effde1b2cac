"""Records benchmarks on the real cfmove clips, each a ratio measured in this one run.

1. corpus size: record bytes / source clip bytes (target <= 1.0; the original tool stored 25x)
2. build throughput: `write_records` clips/s vs pure ffmpeg decoding of the same clips, every
   frame to raw RGB, same worker count (target >= 0.9, issue 20); also vs the decoder records
   uses alone (`clip_sampling.sample_video`), which says what the rest (preprocess, JPEG) costs
3. read throughput: `load_dataset` clips/s vs decoding the same JPEGs alone, in the same tf.data
   setting (target >= 0.9, issue 20): evaluation order (deterministic, float32 frames), and with
   `uint8=True` (the model converts the frames itself)

Every timing is the best of ``--repeat`` rounds, the two sides of a ratio interleaved round after
round (other load on the machine then hits both alike). CPU seconds per clip are printed beside
the wall-clock ratios: they hardly move with other load, so they tell what limits each side on a
busy machine. The load average is printed with every number: on a loaded machine (load above the
core count) the ratios are noisy; the targets are judged on a quiet one.

    python benchmarks/bench_records.py [--clips ../shared/data/cfmove/clips] [--repeat 3] [--quick] [--json]

``--json``: also one ``BENCH {...}`` line per target (``python -m benchmarks`` reads them).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from movinet_crossfit.core import clip_sampling, video  # noqa: E402
from movinet_crossfit.data import records  # noqa: E402

BUILD_TARGET = READ_TARGET = 0.9


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds() -> float:
    """This process's and its finished children's CPU time (ffmpeg runs as children)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(work) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``work()``."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    work()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def pure_decode(path: Path) -> int:
    """ffmpeg decoding a clip to raw RGB and discarding it: the floor for any reader."""
    cmd = [video.ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
           "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    return len(subprocess.run(cmd, capture_output=True, check=True).stdout)


def bench_line(name: str, value: float, target: str, met: bool, **extra) -> str:
    return "BENCH " + json.dumps({"benchmark": name, "value": round(value, 4), "target": target,
                                  "met": bool(met), "load": load(), **extra})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=Path, default=ROOT.parent / "shared" / "data" / "cfmove" / "clips")
    parser.add_argument("--repeat", type=int, default=3, help="best of N for each timing")
    parser.add_argument("--batches", type=int, default=200, help="batches of 8 clips read per timing")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="2 rounds, 60 batches: a minute, noisier")
    parser.add_argument("--json", action="store_true", help="also print BENCH {...} lines")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.batches = 2, 60
    import tensorflow as tf

    paths = sorted(args.clips.glob("*/*.mp4"))
    source_bytes = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} clips, {source_bytes / 1e6:.2f} MB, {args.workers} workers, {os.cpu_count()} cores, "
          f"sampling decoder {'opencv (in process)' if clip_sampling.in_process_decoding() else 'ffmpeg CLI'}, "
          f"load average {load()} at start")

    with tempfile.TemporaryDirectory() as tmp:
        config = records.RecordsConfig(workers=args.workers)
        records.write_records(Path(tmp) / "warm", clips_dir=args.clips, config=config)  # TF warm-up

        def build(i: int):
            return lambda: results.append(records.write_records(Path(tmp) / f"r{i}", clips_dir=args.clips,
                                                                config=config))

        def decode_all(one):
            def run():
                with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
                    list(pool.map(one, paths))
            return run

        results: list = []
        sides = {"build": [], "ffmpeg decode": [], "sampling decoder": []}
        for i in range(args.repeat):
            sides["build"].append(timed(build(i)))
            sides["ffmpeg decode"].append(timed(decode_all(pure_decode)))
            sides["sampling decoder"].append(timed(decode_all(
                lambda p: clip_sampling.sample_video(p, config.num_frames, square=True))))
        result = results[-1]
        encoded = sum(s["clips"] for s in result.info["splits"].values())
        # Records drops byte-identical duplicates before encoding, so compare clips/s.
        build_rate = encoded / min(w for w, _ in sides["build"])
        decode_rate = len(paths) / min(w for w, _ in sides["ffmpeg decode"])
        sampler_rate = len(paths) / min(w for w, _ in sides["sampling decoder"])
        cpu_ms = {k: 1e3 * min(c for _, c in v) / (encoded if k == "build" else len(paths)) for k, v in sides.items()}
        size_ratio = result.info["total_bytes"] / source_bytes
        build_load = load()

        out = result.out_dir
        info = records.read_info(out)
        # Every pipeline reads the train split, repeated inside tf.data, for the same number of
        # batches: graph tracing and iterator start-up are paid once, not per epoch.
        batches = args.batches
        train_shards = [str(out / s) for s in info["splits"]["train"]["shards"]]
        seq = {"image/encoded": tf.io.FixedLenSequenceFeature([], tf.string)}
        raw = [tf.io.parse_single_sequence_example(r, sequence_features=seq)[1]["image/encoded"]
               for r in tf.data.TFRecordDataset(train_shards)]
        n_frames, size = info["num_frames"], info["size"]

        def decode_alone(encoded):
            return records.decode_frames(encoded, n_frames, size)

        pipelines = {
            "load_dataset": records.load_dataset(out, "train", batch_size=8, shuffle=False, repeat=True).take(batches),
            "load_dataset uint8": records.load_dataset(out, "train", batch_size=8, shuffle=False, repeat=True,
                                                       uint8=True).take(batches),
            # Only the JPEG decoding of the same frames, parsed beforehand, in the same tf.data setting.
            "JPEG decode alone": tf.data.Dataset.from_tensor_slices(tf.stack(raw)).repeat().map(
                decode_alone, num_parallel_calls=tf.data.AUTOTUNE).batch(8).prefetch(tf.data.AUTOTUNE).take(batches),
        }

        def drain(dataset):
            return lambda: sum(1 for _ in dataset)

        for dataset in pipelines.values():
            drain(dataset)()  # warm-up: tracing, thread pools
        reads: dict[str, list] = {name: [] for name in pipelines}
        for _ in range(args.repeat):
            for name, dataset in pipelines.items():
                reads[name].append(timed(drain(dataset)))
        clips_read = batches * 8
        read_rate = {name: clips_read / min(w for w, _ in v) for name, v in reads.items()}
        read_cpu_ms = {name: 1e3 * min(c for _, c in v) / clips_read for name, v in reads.items()}

    bare = read_rate["JPEG decode alone"]
    build_ratio = build_rate / decode_rate
    read_ratio = read_rate["load_dataset"] / bare
    read_uint8_ratio = read_rate["load_dataset uint8"] / bare
    # The same ratios from CPU time per clip: what each side costs, whatever else the cores run.
    build_cpu_ratio = cpu_ms["ffmpeg decode"] / cpu_ms["build"]
    read_cpu_ratio = read_cpu_ms["JPEG decode alone"] / read_cpu_ms["load_dataset"]
    read_uint8_cpu_ratio = read_cpu_ms["JPEG decode alone"] / read_cpu_ms["load_dataset uint8"]
    print(f"corpus size   records {result.info['total_bytes'] / 1e6:.2f} MB / clips {source_bytes / 1e6:.2f} MB"
          f" = {size_ratio:.3f}  (target <= 1.0)")
    print(f"build         records {build_rate:.1f} clips/s / ffmpeg decode {decode_rate:.1f} clips/s"
          f" = {build_ratio:.3f}  (target >= {BUILD_TARGET})  [load {build_load}]")
    print(f"              records / its own sampling decoder alone ({sampler_rate:.1f} clips/s) = "
          f"{build_rate / sampler_rate:.3f}; CPU ms per clip: build {cpu_ms['build']:.1f}, sampling decoder "
          f"{cpu_ms['sampling decoder']:.1f}, ffmpeg decode {cpu_ms['ffmpeg decode']:.1f} "
          f"(CPU ratio {build_cpu_ratio:.3f})")
    print(f"read          load_dataset {read_rate['load_dataset']:.0f} clips/s / JPEG decode alone {bare:.0f} clips/s"
          f" = {read_ratio:.3f}  (target >= {READ_TARGET})")
    print(f"              load_dataset(uint8=True) {read_rate['load_dataset uint8']:.0f} clips/s = "
          f"{read_uint8_ratio:.3f}; CPU ms per clip: " + ", ".join(f"{k} {v:.2f}" for k, v in read_cpu_ms.items())
          + f" (CPU ratios {read_cpu_ratio:.3f}, uint8 {read_uint8_cpu_ratio:.3f})")
    print(f"load average {load()} at the end (1, 5, 15 min; above {os.cpu_count()} other work shares the cores "
          "and every ratio is noisy)")
    if args.json:
        print(bench_line("records size / clips", size_ratio, "<= 1.0", size_ratio <= 1.0))
        print(bench_line("records build / ffmpeg decode", build_ratio, f">= {BUILD_TARGET}", build_ratio >= BUILD_TARGET,
                         cpu_ratio=round(build_cpu_ratio, 3)))
        print(bench_line("load_dataset / JPEG decode", read_ratio, f">= {READ_TARGET}", read_ratio >= READ_TARGET,
                         cpu_ratio=round(read_cpu_ratio, 3)))
        print(bench_line("load_dataset uint8 / JPEG decode", read_uint8_ratio, f">= {READ_TARGET}",
                         read_uint8_ratio >= READ_TARGET, cpu_ratio=round(read_uint8_cpu_ratio, 3)))


if __name__ == "__main__":
    main()
