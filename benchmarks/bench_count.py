"""RepNet counting speed and memory on this machine, at the real size (64 frames, 112x112).

1. frames/s of ``count_video`` (strides 1-4, the default) on a generated periodic video: Keras
   vs the exported TFLite fp32 (and fp16 / dynamic with --all-tflite); the ratio of the two.
2. peak memory of ``movinet-crossfit count`` on a long video vs a short one, each in its own
   process (peak RSS); the ratio says whether memory grows with the video (it should not).
   The default long video is 10 minutes; ``--memory-strides 4`` keeps it to minutes of CPU.

Random weights: speed and memory do not depend on the values.

    python benchmarks/bench_count.py [--seconds 20] [--minutes 10] [--memory-strides 4] [--skip-memory]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import movinet_crossfit  # noqa: E402,F401
from movinet_crossfit.synthetic.encode import write_mp4  # noqa: E402

SIZE, FPS = (320, 240), 30.0


def periodic_frames(n: int, period: int = 24):
    """A bright square circling once every ``period`` frames over a textured, noisy background."""
    width, height = SIZE
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    background = (60 + 40 * np.sin(xx / 17.0) * np.cos(yy / 23.0))[..., None].repeat(3, -1)
    for i in range(n):
        frame = background.copy()
        angle = 2 * np.pi * i / period
        cx, cy = int(width / 2 + 80 * np.cos(angle)), int(height / 2 + 60 * np.sin(angle))
        frame[max(cy - 20, 0):cy + 20, max(cx - 20, 0):cx + 20] = (230, 200, 40)
        frame += rng.normal(0, 3, frame.shape)
        yield np.clip(frame, 0, 255).astype(np.uint8)


MEMORY_SCRIPT = """
import resource, sys, time
import movinet_crossfit
from movinet_crossfit.repnet.infer import CountOptions, count_video
from movinet_crossfit.repnet.model import build_repnet
model = build_repnet()
strides = tuple(int(s) for s in sys.argv[2].split(","))
start = time.perf_counter()
result = count_video(sys.argv[1], model=model, options=CountOptions(strides=strides), show_progress=False)
seconds = time.perf_counter() - start
print(result.num_frames, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure_memory(path: Path, strides: str) -> tuple[int, float, float]:
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(path), strides], capture_output=True,
                          text=True, check=True)
    frames, seconds, rss_kb = done.stdout.split()[-3:]
    return int(frames), float(seconds), int(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="length of the speed video")
    parser.add_argument("--minutes", type=float, default=10, help="length of the long memory video")
    parser.add_argument("--memory-strides", default="4")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--all-tflite", action="store_true", help="also time fp16 and dynamic")
    args = parser.parse_args()
    from movinet_crossfit.repnet.infer import count_video
    from movinet_crossfit.repnet.export import export_repnet, load_runner
    from movinet_crossfit.repnet.model import build_repnet

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "speed.mp4"
        write_mp4(clip, periodic_frames(int(args.seconds * FPS)), SIZE, FPS)
        model = build_repnet()
        count_video(clip, model=model, show_progress=False)  # trace once
        start = time.perf_counter()
        keras = count_video(clip, model=model, show_progress=False)
        keras_s = time.perf_counter() - start
        print(f"Keras   : {keras.num_frames} frames in {keras_s:.1f} s = {keras.num_frames / keras_s:.1f} frames/s "
              f"({keras.num_frames / keras_s / FPS:.2f}x real time at {FPS:g} fps)")
        start = time.perf_counter()
        formats = ("fp32", "fp16", "dynamic") if args.all_tflite else ("fp32",)
        export_repnet(model, tmp / "export", formats=formats)
        print(f"export (TFLite {', '.join(formats)}): {time.perf_counter() - start:.0f} s")
        for fmt in formats:
            runner = load_runner(tmp / "export", "tflite", fmt)
            start = time.perf_counter()
            lite = count_video(clip, runner=runner, show_progress=False)
            lite_s = time.perf_counter() - start
            print(f"TFLite {fmt:7s}: {lite.num_frames / lite_s:.1f} frames/s; TFLite / Keras speed = "
                  f"{keras_s / lite_s:.2f}; count {lite.count:.2f} vs Keras {keras.count:.2f}")

        if args.skip_memory:
            return
        short_s = 60.0
        for name, seconds in (("short", short_s), ("long", args.minutes * 60)):
            write_mp4(tmp / f"{name}.mp4", periodic_frames(int(seconds * FPS)), SIZE, FPS)
        short = measure_memory(tmp / "short.mp4", args.memory_strides)
        long = measure_memory(tmp / "long.mp4", args.memory_strides)
        print(f"peak RSS, strides {args.memory_strides}: {short[0]} frames -> {short[2]:.0f} MB ({short[1]:.0f} s); "
              f"{long[0]} frames -> {long[2]:.0f} MB ({long[1]:.0f} s)")
        print(f"peak memory long / short = {long[2] / short[2]:.2f} for {long[0] / short[0]:.0f}x the frames "
              "(1.0 = bounded)")


if __name__ == "__main__":
    main()
