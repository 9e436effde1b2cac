"""Speed and memory of `analyze` (analysis.analyse_footage) on a 1-minute 30 fps 854x480 real video.

The video: the real cfmove thruster clips (one Games rep each) joined into one set, looped to 60 s
and re-encoded at 30 fps 854x480 with ffmpeg (a 20 s one the same way, for memory). Each analysis
runs in its own process so that its peak RSS (``resource.getrusage``) is its own; printed per run:
the time of each stage (decode + poses, count, recognise, judge), the total, the share of real
time, the peak RSS, and the reps found. Runs: the default ``--pose-fps 30`` (every frame of a 30
fps video) and ``--pose-fps 15`` (every 2nd frame) on the 60 s video, and the default on the 20 s one.
Target: the default on the 60 s video in <= 60 s on 2 cores; memory that does not grow with the
video's length (poses only: the 60 s / 20 s RSS ratio near 1).

    python benchmarks/bench_analyze.py [--movement thruster|chest-to-bar] [--overlay]
"""
from __future__ import annotations

import argparse
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

SHARED = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def looped_video(label: str, seconds: int, out: Path) -> tuple[Path, float]:
    """The real clips of ``label`` joined, looped to ``seconds`` at 30 fps 854x480; and how many
    reps that holds (the unique clips, one rep each, times the loops)."""
    from movinet_crossfit.core.video import ffmpeg_executable, probe
    from movinet_crossfit.data.clips import join_clips

    joined = out / f"{label}_set.mp4"
    paths = sorted((SHARED / "cfmove" / "clips" / label).glob("*.mp4"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    _, used = join_clips(paths, joined)
    reps = len(used) * seconds / probe(joined).duration
    target = out / f"{label}_{seconds}s.mp4"
    subprocess.run([ffmpeg_executable(), "-y", "-loglevel", "error", "-stream_loop", "-1", "-i", str(joined),
                    "-t", str(seconds), "-vf", "fps=30,scale=854:480", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", str(target)], check=True)
    return target, reps


def child(path: str, pose_fps: float, movement: str | None, overlay: bool) -> None:
    """One analysis in this process; prints its numbers as one JSON line."""
    import movinet_crossfit  # noqa: F401  (environment before any import)
    from movinet_crossfit.analysis import analyse_footage, write_overlay

    started = time.perf_counter()
    result = analyse_footage(path, movement=movement, pose_fps=pose_fps)
    total = time.perf_counter() - started
    timings = dict(result.timings)
    if overlay:
        tick = time.perf_counter()
        write_overlay(path, result, Path(path).with_suffix(".overlay.mp4"))
        timings["overlay"] = time.perf_counter() - tick
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"total": total, "timings": timings, "rss_mb": rss_mb,
                      "count": len(result.reps), "valid": result.valid_count, "no_rep": result.no_rep_count,
                      "movement": result.movement, "every": result.every, "duration": result.info.duration,
                      "pose_frames": result.poses.num_frames}))


def run(path: Path, pose_fps: float, movement: str | None, overlay: bool) -> dict:
    command = [sys.executable, __file__, "--child", str(path), "--pose-fps", str(pose_fps)]
    command += ["--judge-as", movement] if movement else []
    command += ["--overlay"] if overlay else []
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movement", default="thruster", choices=["thruster", "chest-to-bar"])
    parser.add_argument("--judge-as", default=None, help="pass this --movement (default: recognised from poses)")
    parser.add_argument("--overlay", action="store_true", help="also time writing the overlay video")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pose-fps", type=float, default=30.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.pose_fps, args.judge_as, args.overlay)
        return
    print(f"machine: {os.cpu_count()} cores; load average at start: {os.getloadavg()[0]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        long, reps = looped_video(args.movement, 60, Path(tmp))
        short, short_reps = looped_video(args.movement, 20, Path(tmp))
        print(f"{args.movement}: the real clips joined and looped to 60 s and 20 s, 30 fps 854x480 "
              f"(~{reps:.0f} and ~{short_reps:.0f} reps)")
        for label, path, pose_fps in (("60 s, default (30/s)", long, 30.0), ("60 s, --pose-fps 15", long, 15.0),
                                      ("20 s, default (30/s)", short, 30.0)):
            rows.append((label, run(path, pose_fps, args.judge_as, args.overlay)))
            print(f"  done: {label} (load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    header = (f"{'run':22s} {'poses':>7s} {'count':>6s} {'recog':>6s} {'judge':>6s} {'total':>7s} {'x real':>7s} "
              f"{'RSS MB':>7s} {'reps':>5s} {'valid':>6s}" + (f" {'overlay':>8s}" if args.overlay else ""))
    print(header)
    for label, r in rows:
        t = r["timings"]
        print(f"{label:22s} {t['poses']:7.1f} {t['count']:6.2f} {t.get('recognise', 0):6.2f} {t['judge']:6.2f} "
              f"{r['total']:7.1f} {r['total'] / r['duration']:7.2f} {r['rss_mb']:7.0f} {r['count']:5d} {r['valid']:6d}"
              + (f" {t['overlay']:8.1f}" if args.overlay else ""))
    base, half, short_run = rows[0][1], rows[1][1], rows[2][1]
    print(f"--pose-fps 15 / default: time {half['total'] / base['total']:.2f}x; "
          f"peak RSS 60 s / 20 s: {base['rss_mb'] / short_run['rss_mb']:.2f}x; "
          f"target (default, 60 s video) <= 60 s: {'met' if base['total'] <= 60 else 'NOT met'} "
          f"({base['total']:.1f} s)")


if __name__ == "__main__":
    main()
