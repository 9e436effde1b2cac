"""Records benchmarks on the real cfmove clips, each a ratio measured in this one run.

1. corpus size: record bytes / source clip bytes (target <= 1.0; the original tool stored 25x)
2. build throughput: `write_records` clips/s vs pure ffmpeg decoding of the same clips, every
   frame to raw RGB, same worker count (target >= 0.9, issue 20); also vs the decoder records
   uses alone (`clip_sampling.sample_video`), which says what the rest (preprocess, JPEG) costs
3. read throughput: `load_dataset` clips/s vs decoding the same JPEGs alone, in the same tf.data
   setting (target >= 0.9, issue 20), as `train` and `evaluate` read it: uint8 frames, batched, in
   file order (the model converts them inside its step). The float32 path (the library default, and
   training with augmentation) is measured beside it and labelled so. A profile in CPU ms per clip
   says what limits each: parsing alone, JPEG decoding alone, the two together unbatched, then the
   batching copies and the float32 conversion as the differences between pipelines.

Every timing is the best of ``--repeat`` rounds, the two sides of a ratio interleaved round after
round (other load on the machine then hits both alike). CPU seconds per clip are printed beside
the wall-clock ratios: they hardly move with other load, so they tell what limits each side on a
busy machine. The load average is printed with every number: on a loaded machine (load above the
core count) the ratios are noisy; the targets are judged on a quiet one.

    python benchmarks/bench_records.py [--clips ../shared/data/cfmove/clips] [--repeat 3] [--quick] [--json]
                                       [--read-only]

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
READ_AS_USED = "load_dataset(uint8=True) as train/evaluate read"
READ_FLOAT = "load_dataset float32 (library default; augmented training)"


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
    parser.add_argument("--read-only", action="store_true",
                        help="build the records once, untimed, and measure only reading (no size or build lines)")
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
        if args.read_only:
            build(0)()
        for i in range(0 if args.read_only else args.repeat):
            sides["build"].append(timed(build(i)))
            sides["ffmpeg decode"].append(timed(decode_all(pure_decode)))
            sides["sampling decoder"].append(timed(decode_all(
                lambda p: clip_sampling.sample_video(p, config.num_frames, square=True))))
        result = results[-1]
        encoded = sum(s["clips"] for s in result.info["splits"].values())
        if not args.read_only:
            # Records drops byte-identical duplicates before encoding, so compare clips/s.
            build_rate = encoded / min(w for w, _ in sides["build"])
            decode_rate = len(paths) / min(w for w, _ in sides["ffmpeg decode"])
            sampler_rate = len(paths) / min(w for w, _ in sides["sampling decoder"])
            cpu_ms = {k: 1e3 * min(c for _, c in v) / (encoded if k == "build" else len(paths))
                      for k, v in sides.items()}
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

        def parse_alone(serialized):
            return tf.io.parse_single_sequence_example(serialized, sequence_features=seq)[1]["image/encoded"]

        autotune = tf.data.AUTOTUNE

        def read(**options):
            return records.load_dataset(out, "train", shuffle=False, repeat=True, **options)

        pipelines = {
            # As train (no augmentation) and evaluate read: uint8, batched, converted in the model's step.
            READ_AS_USED: read(batch_size=8, uint8=True).take(batches),
            # The library default and training with augmentation: float32 frames out of tf.data.
            READ_FLOAT: read(batch_size=8).take(batches),
            # Only the JPEG decoding of the same frames, parsed beforehand, in the same tf.data setting.
            "JPEG decode alone": tf.data.Dataset.from_tensor_slices(tf.stack(raw)).repeat().map(
                decode_alone, num_parallel_calls=autotune).batch(8).prefetch(autotune).take(batches),
            # The profile's other stages: parsing the records alone (no decoding), and parse + decode
            # per clip without the batching copy.
            "parse alone": tf.data.TFRecordDataset(train_shards).repeat().map(
                parse_alone, num_parallel_calls=autotune).prefetch(autotune).take(batches * 8),
            "parse + decode, unbatched": read(batch_size=None, uint8=True).take(batches * 8),
        }

        def drain(dataset):
            # Counted inside TensorFlow, as Keras's compiled steps take their batches: a Python loop
            # would add its own cost per element, 8x more of it to the unbatched profile pipeline.
            return lambda: int(dataset.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))

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
    read_ratio = read_rate[READ_AS_USED] / bare
    float_ratio = read_rate[READ_FLOAT] / bare
    # The same ratios from CPU time per clip: what each side costs, whatever else the cores run.
    read_cpu_ratio = read_cpu_ms["JPEG decode alone"] / read_cpu_ms[READ_AS_USED]
    float_cpu_ratio = read_cpu_ms["JPEG decode alone"] / read_cpu_ms[READ_FLOAT]
    if not args.read_only:
        build_ratio = build_rate / decode_rate
        build_cpu_ratio = cpu_ms["ffmpeg decode"] / cpu_ms["build"]
        print(f"corpus size   records {result.info['total_bytes'] / 1e6:.2f} MB / clips {source_bytes / 1e6:.2f} MB"
              f" = {size_ratio:.3f}  (target <= 1.0)")
        print(f"build         records {build_rate:.1f} clips/s / ffmpeg decode {decode_rate:.1f} clips/s"
              f" = {build_ratio:.3f}  (target >= {BUILD_TARGET})  [load {build_load}]")
        print(f"              records / its own sampling decoder alone ({sampler_rate:.1f} clips/s) = "
              f"{build_rate / sampler_rate:.3f}; CPU ms per clip: build {cpu_ms['build']:.1f}, sampling decoder "
              f"{cpu_ms['sampling decoder']:.1f}, ffmpeg decode {cpu_ms['ffmpeg decode']:.1f} "
              f"(CPU ratio {build_cpu_ratio:.3f})")
    print(f"read          {READ_AS_USED} {read_rate[READ_AS_USED]:.0f} clips/s / JPEG decode alone {bare:.0f} "
          f"clips/s = {read_ratio:.3f}  (target >= {READ_TARGET}); CPU ratio {read_cpu_ratio:.3f}")
    print(f"              {READ_FLOAT} {read_rate[READ_FLOAT]:.0f} clips/s = {float_ratio:.3f} "
          f"(no target); CPU ratio {float_cpu_ratio:.3f}")
    print("              " + profile(read_cpu_ms))
    print(f"load average {load()} at the end (1, 5, 15 min; above {os.cpu_count()} other work shares the cores "
          "and every ratio is noisy)")
    if args.json:
        if not args.read_only:
            print(bench_line("records size / clips", size_ratio, "<= 1.0", size_ratio <= 1.0))
            print(bench_line("records build / ffmpeg decode", build_ratio, f">= {BUILD_TARGET}",
                             build_ratio >= BUILD_TARGET, cpu_ratio=round(build_cpu_ratio, 3)))
        # One target row, for the reader train and evaluate use; the float32 path rides along as fields.
        print(bench_line("load_dataset (uint8, as train/evaluate read) / JPEG decode", read_ratio, f">= {READ_TARGET}",
                         read_ratio >= READ_TARGET, cpu_ratio=round(read_cpu_ratio, 3),
                         float32_path_ratio=round(float_ratio, 3), float32_path_cpu_ratio=round(float_cpu_ratio, 3),
                         cpu_ms_per_clip={k: round(v, 3) for k, v in read_cpu_ms.items()}))


def profile(cpu_ms: dict[str, float]) -> str:
    """What limits each read path, in CPU ms per clip: the stages measured alone, and the batching
    copy and the float32 conversion as differences between pipelines that differ by them only."""
    decode, parse = cpu_ms["JPEG decode alone"], cpu_ms["parse alone"]
    unbatched = cpu_ms["parse + decode, unbatched"]
    batching = cpu_ms[READ_AS_USED] - unbatched
    conversion = cpu_ms[READ_FLOAT] - cpu_ms[READ_AS_USED]
    return (f"CPU ms per clip: JPEG decode alone {decode:.2f} (decode + batching), parse alone {parse:.2f}, "
            f"parse + decode unbatched {unbatched:.2f}; so batching copies {batching:+.2f}, float32 conversion "
            f"{conversion:+.2f}; uint8 path {cpu_ms[READ_AS_USED]:.2f} = {cpu_ms[READ_AS_USED] / decode:.2f}x "
            f"decode, float32 path {cpu_ms[READ_FLOAT]:.2f} = {cpu_ms[READ_FLOAT] / decode:.2f}x decode")


if __name__ == "__main__":
    main()
