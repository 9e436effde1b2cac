"""Peak memory of a video -> model input (``predict`` and ``records``): decode everything, then
sample (before issue 16) vs sample while streaming (``clip_sampling.sample_video``).

Generates the issue's video (``testsrc2``, 1280x720, 30 fps, 20 s by default) and one half as long,
and runs each way in its own process, reporting peak RSS minus that of a process that imported the
same modules and traced the same resize on one small frame (the baseline, measured each time), in MB
and in frames of the video. Streamed, the extra is the kept frames plus TensorFlow's float copies
for the resize of those frames: the same for both lengths.

    python benchmarks/bench_decode_memory.py [--size 1280x720] [--seconds 20] [--frames 10]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WAYS = ("baseline", "whole", "streamed")


def child(way: str, path: str, frames: int) -> None:
    import numpy as np

    from movinet_crossfit.core import clip_sampling, video

    clip_sampling.compiled_preprocess(224)(np.zeros((1, 8, 8, 3), np.uint8))  # trace: the same in every way
    started = time.perf_counter()
    if way == "whole":
        decoded = video.decode_video(path)
        clip_sampling.sample_clip(decoded.frames, frames, 224)
    elif way == "streamed":
        clip_sampling.load_clip_with_fps(path, frames, 224)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"peak_mb": peak_kb / 1024, "seconds": seconds}))


def measure(way: str, path: Path, frames: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", way, str(path), "--frames", str(frames)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--frames", type=int, default=10, help="frames the model takes")
    parser.add_argument("--child", nargs=2, metavar=("WAY", "VIDEO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.frames)
        return

    from movinet_crossfit.core import video

    width, height = (int(v) for v in args.size.split("x"))
    frame_mb = width * height * 3 / 2 ** 20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Half the length, then the whole: the streamed cost must not grow with the video.
        for seconds in (args.seconds / 2, args.seconds):
            path = Path(tmp) / f"long-{seconds:g}.mp4"
            subprocess.run([video.ffmpeg_executable(), "-y", "-nostdin", "-loglevel", "error", "-f", "lavfi",
                            "-i", f"testsrc2=s={args.size}:r=30", "-t", str(seconds), "-c:v", "libx264",
                            "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
            results = {way: measure(way, path, args.frames) for way in WAYS}
            rows.append((seconds, video.probe(path).num_frames, results))
    print(f"{args.size} ({frame_mb:.2f} MB a frame), the model takes {args.frames} frames; extra peak RSS over a "
          "process that imported the same modules and traced the resize (measured each time)")
    print(f"{'video':>14s} {'way':>9s} {'extra MB':>9s} {'frames':>7s} {'seconds':>8s}")
    for seconds, total, results in rows:
        base = results["baseline"]["peak_mb"]
        for way in WAYS[1:]:
            extra = results[way]["peak_mb"] - base
            print(f"{seconds:5g} s {total:4d} fr {way:>9s} {extra:9.1f} {extra / frame_mb:7.1f} "
                  f"{results[way]['seconds']:8.2f}")
        ratio = (results["whole"]["peak_mb"] - base) / max(results["streamed"]["peak_mb"] - base, 1e-9)
        print(f"{'':14s} whole / streamed: {ratio:.0f}x")

if __name__ == "__main__":
    main()
