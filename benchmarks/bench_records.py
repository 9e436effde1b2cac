"""Records benchmarks on the real cfmove clips, each a ratio measured in this one run.

1. corpus size: record bytes / source clip bytes (target <= 1.0; the original tool stored 25x)
2. build throughput: `write_records` clips/s vs pure ffmpeg decoding of the same clips
   (same worker count) (target >= 0.8)
3. read throughput: `load_dataset` clips/s vs decoding the same JPEGs alone (target >= 0.8)

    python benchmarks/bench_records.py [--clips ../shared/data/cfmove/clips] [--repeat 3]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import movinet_crossfit  # noqa: E402,F401
from movinet_crossfit.core import video
from movinet_crossfit.data import records  # noqa: E402


def pure_decode(path: Path) -> int:
    """ffmpeg decoding a clip to raw RGB and discarding it: the floor for any reader."""
    cmd = [video.ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
           "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    return len(subprocess.run(cmd, capture_output=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=Path, default=ROOT.parent / "shared" / "data" / "cfmove" / "clips")
    parser.add_argument("--repeat", type=int, default=3, help="best of N for each timing")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    import tensorflow as tf

    paths = sorted(args.clips.glob("*/*.mp4"))
    source_bytes = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} clips, {source_bytes / 1e6:.2f} MB, {args.workers} workers, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start")

    with tempfile.TemporaryDirectory() as tmp:
        config = records.RecordsConfig(workers=args.workers)
        records.write_records(Path(tmp) / "warm", clips_dir=args.clips, config=config)  # TF warm-up
        build = []
        for i in range(args.repeat):
            start = time.perf_counter()
            result = records.write_records(Path(tmp) / f"r{i}", clips_dir=args.clips, config=config)
            build.append(time.perf_counter() - start)
        encoded = sum(s["clips"] for s in result.info["splits"].values())
        decode = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(pure_decode, paths))
            decode.append(time.perf_counter() - start)
        # Records drops byte-identical duplicates before encoding, so compare clips/s.
        build_rate = encoded / min(build)
        decode_rate = len(paths) / min(decode)
        size_ratio = result.info["total_bytes"] / source_bytes

        out = result.out_dir
        info = records.read_info(out)

        # Both pipelines read the train split, repeated inside tf.data, for the same number of
        # batches: graph tracing and iterator start-up are paid once, not per epoch.
        batches = 200
        train_shards = [str(out / s) for s in info["splits"]["train"]["shards"]]
        pipelines = [records.load_dataset(out, "train", batch_size=8, shuffle=False, repeat=True).take(batches)]
        seq = {"image/encoded": tf.io.FixedLenSequenceFeature([], tf.string)}
        raw = [tf.io.parse_single_sequence_example(r, sequence_features=seq)[1]["image/encoded"]
               for r in tf.data.TFRecordDataset(train_shards)]
        n_frames, size = info["num_frames"], info["size"]
        # Only the JPEG decoding of the same frames, parsed beforehand, in the same tf.data setting.
        bare_ds = tf.data.Dataset.from_tensor_slices(tf.stack(raw)).repeat().map(
            lambda e: records.decode_frames(e, n_frames, size),
            num_parallel_calls=tf.data.AUTOTUNE).batch(8).prefetch(tf.data.AUTOTUNE).take(batches)

        def timed(datasets):
            start = time.perf_counter()
            n = sum(int(batch[0].shape[0]) if isinstance(batch, tuple) else int(batch.shape[0])
                    for ds in datasets for batch in ds)
            return n, time.perf_counter() - start

        timed(pipelines), timed([bare_ds])  # warm-up
        reads, bare = [], []
        for _ in range(args.repeat):
            n_read, seconds = timed(pipelines)
            reads.append(seconds)
            n_bare, seconds = timed([bare_ds])
            bare.append(seconds)
        read_rate = n_read / min(reads)
        bare_rate = n_bare / min(bare)

    print(f"corpus size   records {result.info['total_bytes'] / 1e6:.2f} MB / clips {source_bytes / 1e6:.2f} MB"
          f" = {size_ratio:.3f}  (target <= 1.0)")
    print(f"build         records {build_rate:.1f} clips/s / ffmpeg decode {decode_rate:.1f} clips/s"
          f" = {build_rate / decode_rate:.3f}  (target >= 0.8)")
    print(f"read          load_dataset {read_rate:.0f} clips/s / JPEG decode alone {bare_rate:.0f} clips/s"
          f" = {read_rate / bare_rate:.3f}  (target >= 0.8)")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end (1, 5, 15 min; "
          f"above {os.cpu_count()} other work shares the cores and every ratio is noisy)")


if __name__ == "__main__":
    main()
