"""Every benchmark that has a target, quickly, in sequence, and one table of what is met.

    python -m benchmarks [--full] [--only records,decode] [--timeout 1200] [--list]

Each benchmark runs as its own process with small arguments (``--quick`` sizes), so one that
fails or runs out of time is a row saying so and the rest still run. A benchmark that prints
``BENCH {json}`` lines (``--json``) gives its rows exactly; the others' target lines ("... (met)",
"(MISSED)", "(target >= 100x)") are read from their output. Benchmarks too long for a quick run are
listed with the command that measures them. Every row carries the load average when it was
measured: on a machine whose load is above its core count the ratios are noisy, and the issue's
targets are judged on a quiet one. ``--full`` drops the quick sizes (many minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Bench:
    name: str
    script: str
    quick: list[str]
    full: list[str] = field(default_factory=list)
    note: str = ""


BENCHES = [
    Bench("records", "bench_records.py", ["--quick", "--json"], ["--json"],
          "size, build vs ffmpeg decode, load_dataset vs JPEG decode"),
    Bench("decode", "bench_predict.py", ["--decode-only", "--quick", "--json"], ["--decode-only", "--json"],
          "file -> model input per clip"),
    Bench("poses", "bench_poses.py", ["--speed", "--rounds", "1", "--person", "first"], ["--speed"],
          "poses frames/s on the joined real clips"),
    Bench("repcount", "bench_repcount.py", ["--no-cv"], [], "rep counter x real time"),
    Bench("judging", "bench_judging.py", ["--quick"], [], "no-rep judging precision/recall"),
]

# Too long for a quick run, or someone else's to run: the command that measures each target.
SEPARATELY = [
    ("predict end to end", "python benchmarks/bench_predict.py --json", "<= 0.13 s fp32 TFLite; builds and exports A2 (~10 min)"),
    ("quantization", "python benchmarks/bench_quant.py", "int8 faster than fp32, top-1 >= 99 %; exports A2 + demo"),
    ("stream", "python benchmarks/bench_stream.py", "stream MoViNet ms per frame: A0 <= 10, A2 <= 30"),
    ("live", "python benchmarks/bench_live.py", "online count = offline, reps within a period, live fps"),
    ("architectures", "python benchmarks/bench_architectures.py", "the lecture's classifiers against MoViNet (hours)"),
    ("analyze", "python benchmarks/bench_analyze.py", "<= 60 s for a 60 s video"),
    ("synthetic", "python benchmarks/bench_synthetic.py", "corpus generation within its budget"),
    ("demo", "python benchmarks/bench_demo.py", "demo accuracy >= 0.90 (trains)"),
]

_MET = re.compile(r"\b(met|meets target|yes)\b")
_MISSED = re.compile(r"MISSED|NOT met|BELOW TARGET|\bNO\b")
_TARGET = re.compile(r"\(target ([^)]*)\)")


@dataclass
class Row:
    benchmark: str
    value: str
    target: str
    met: str
    load: str


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rows_from_output(bench: Bench, output: str, at_load: str) -> list[Row]:
    """``BENCH {json}`` lines exactly; else every line that states a target, as printed."""
    rows = []
    for line in output.splitlines():
        if line.startswith("BENCH "):
            data = json.loads(line[len("BENCH "):])
            cpu = f" (CPU {data['cpu_ratio']:g})" if "cpu_ratio" in data else ""
            rows.append(Row(data["benchmark"], f"{data['value']:g}{cpu}", data["target"],
                            "yes" if data["met"] else "NO", data.get("load", at_load)))
    if rows:
        return rows
    for line in output.splitlines():
        text = line.strip()
        target = _TARGET.search(text)
        states = _MET.search(text) or _MISSED.search(text)
        if not (target or (states and ("target" in text.lower() or re.search(r"\((met|MISSED)\)", text)))):
            continue
        if text.lower().startswith("targets"):
            continue  # the heading that lists the targets, not a measurement
        met = "NO" if _MISSED.search(text) else "yes" if _MET.search(text) else "?"
        if target and met == "?":
            met = _compare(text, target.group(1))
        rows.append(Row(bench.name, text[:70], target.group(1) if target else "see line", met, at_load))
    return rows or [Row(bench.name, "no target line in its output", "-", "?", at_load)]


def _compare(text: str, target: str) -> str:
    """'(target >= 100x)' after '... 120x real time': compare the number before it."""
    bound = re.match(r"([<>]=?)\s*([\d.]+)", target)
    numbers = re.findall(r"([\d.]+)x?\b", text[:text.find("(target")])
    if not bound or not numbers:
        return "?"
    value, limit = float(numbers[-1]), float(bound.group(2))
    ok = {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[bound.group(1)]
    return "yes" if ok else "NO"


def run(bench: Bench, full: bool, timeout: float) -> tuple[list[Row], float]:
    args = bench.full if full else bench.quick
    cmd = [sys.executable, str(HERE / bench.script), *args]
    print(f"== {bench.name}: {' '.join(cmd[1:])}  (load {load()})", flush=True)
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return [Row(bench.name, f"timed out after {timeout:.0f} s", "-", "?", load())], time.perf_counter() - started
    seconds = time.perf_counter() - started
    at_load = load()
    if proc.returncode != 0:
        last = [line for line in (proc.stderr or proc.stdout).strip().splitlines() if line.strip()]
        return [Row(bench.name, f"failed (exit {proc.returncode}): {(last[-1] if last else '')[:60]}",
                    "-", "?", at_load)], seconds
    return rows_from_output(bench, proc.stdout, at_load), seconds


def table(rows: list[Row]) -> str:
    header = Row("benchmark", "measured", "target", "met?", "load average (1/5/15 min)")
    cells = [header, *rows]
    widths = [max(len(getattr(r, f)) for r in cells) for f in ("benchmark", "value", "target", "met")]
    lines = []
    for i, r in enumerate(cells):
        lines.append(f"{r.benchmark:{widths[0]}s}  {r.value:{widths[1]}s}  {r.target:{widths[2]}s}  "
                     f"{r.met:{widths[3]}s}  {r.load}")
        if i == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="each benchmark at its own default size")
    parser.add_argument("--only", default="", help="comma-separated names: " + ",".join(b.name for b in BENCHES))
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per benchmark")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    if args.list:
        for b in BENCHES:
            print(f"{b.name:10s} {b.script} {' '.join(b.quick)}  ({b.note})")
        for name, command, note in SEPARATELY:
            print(f"{name:10s} separately: {command}  ({note})")
        return 0
    unknown = set(filter(None, args.only.split(","))) - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"--only {','.join(sorted(unknown))}: no such benchmark; --list names them")
    print(f"{os.cpu_count()} CPU cores, load average {load()} at start")
    rows: list[Row] = []
    for bench in chosen:
        got, seconds = run(bench, args.full, args.timeout)
        print(f"   {len(got)} row(s) in {seconds:.0f} s", flush=True)
        rows.extend(got)
    print("\n" + table(rows))
    print("\nrun separately (too long for a quick run, or not this summary's to run):")
    for name, command, note in SEPARATELY:
        print(f"  {name:14s} {command}  ({note})")
    print(f"\nload average {load()} at the end; above {os.cpu_count()} the cores are shared with other work and "
          "the ratios are noisy: the targets are judged on a quiet machine")
    return 1 if any(r.value.startswith(("failed", "timed out")) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
