"""Quantization that pays: size, forward time and top-1 agreement with Keras of the four TFLite files.

Models (``--models``, both by default):

* ``demo``: the demo's trained run (``demo_out/runs/demo`` with its records ``demo_out/tfrecords``,
  written by ``movinet-crossfit demo``): a real-weights model (MoViNet-A0, small input);
* ``a2``: MoViNet-A2 base, 10 frames x 224 px, 9 classes, seeded random weights whose batch-norm
  statistics are re-estimated on real clips (``bench_predict.make_run``), records of the real cfmove
  clips for calibration and parity.

Each is exported with ``export.export_run`` (every format; int8 as every export builds it: per-channel
weights, calibrated on up to ``--calibration-clips`` train clips, MoViNet's stem and first block
float, ADD/MUL constants fitted to XNNPACK's bounds by ``core.tflite``). ``--variants`` also converts
other int8 files from the same run (``VARIANTS``: ``unfitted``, the plain converter output as before
issue 20 (``--before``); ``measured-ranges``, every activation range measured by running the float
graph (``Int8Options.measure_ranges``); ``float-stem-block0``, MoViNet's stem and first block in
float; ``int8-everywhere``, no float scopes; ``all-train``, calibrated on the whole train split; ``per-tensor`` weights; ``float-head``, the
classifier's last layer and softmax in float; ``all-train+float-head``). Per file: MB, how many pieces
XNNPACK runs it in and which ops it leaves to LiteRT's own kernels, forward time (the files
interleaved round after round on one clip, so other load hits all alike: min and median), and
top-1 agreement with Keras on the export's parity clips (test split first, topped up from val and
train: ``--parity-clips``).

Targets (issue 20): int8 faster than fp32 (interleaved min) with top-1 agreement >= 99 %.

A run folder in ``--models`` is measured like ``demo``, on the demo's records: another trained model,
e.g. the demo's settings with another seed (``movinet-crossfit train --config <the demo run's
config.yaml without records/out/seed> --records demo_out/tfrecords --seed 1 --out runs/seed1``).
Agreement moves by whole clips, so each file's mean |p - Keras| over the parity clips is printed too.

    python benchmarks/bench_quant.py [--models demo,a2,RUN...] [--rounds 30] [--variants all-train,float-head]
                                     [--before] [--work DIR] [--parity-clips 100] [--threads 2]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import movinet_crossfit  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from movinet_crossfit.core.tflite import Int8Options  # noqa: E402
from movinet_crossfit.movinet.export import MOVINET_INT8  # noqa: E402

SHARED = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
TOP1_TARGET = 0.99


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def outside_xnnpack(path: Path, threads: int) -> tuple[int, dict[str, int]]:
    """(pieces XNNPACK runs, {op: count} left to LiteRT's kernels). An op is left out when its output
    tensor is allocated (a delegated op's outputs live inside XNNPACK) and no delegate produces it."""
    from movinet_crossfit.core.tflite import make_interpreter

    interpreter = make_interpreter(path, num_threads=threads)
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    from_delegates = {t for op in delegates for t in op["outputs"]}
    left: dict[str, int] = {}
    for op in ops:
        outputs = [t for t in op["outputs"] if t >= 0]
        if op["op_name"] == "DELEGATE" or not outputs or outputs[0] in from_delegates:
            continue
        try:
            interpreter.get_tensor(outputs[0])
        except ValueError:  # no buffer: the tensor lives inside a delegate
            continue
        left[op["op_name"]] = left.get(op["op_name"], 0) + 1
    return len(delegates), dict(sorted(left.items()))


# int8 variants beside the export's own (``--variants``): name -> (calibration clips, None: the export's
# count, 0: the whole train split; the quantization options).
VARIANTS = {
    "unfitted": (None, Int8Options(fit_xnnpack=False)),  # the plain converter output (before issue 20)
    "measured-ranges": (None, Int8Options(measure_ranges=True)),  # every range measured on the clips
    "float-stem-block0": (None, MOVINET_INT8),  # MoViNet's stem and first block float (what its export ships)
    "int8-everywhere": (None, Int8Options()),  # no float scopes (what a MoViNet export shipped before session 11)
    "all-train": (0, Int8Options()),
    "per-tensor": (None, Int8Options(per_channel=False)),
    "float-head": (None, Int8Options(float_head=True)),
    "all-train+float-head": (0, Int8Options(float_head=True)),
}


def int8_variants(run_dir: Path, records_dir: Path, out: Path, names: list[str], calibration_clips: int) -> dict:
    """{variant: path} of the int8 files converted as ``VARIANTS`` says (kept in ``out``, reused)."""
    from movinet_crossfit.core.tflite import conversion_source, quiet_tensorflow
    from movinet_crossfit.movinet import export
    from movinet_crossfit.movinet.model import load_trained_classifier

    paths = {name: out / f"model_int8_{name}.tflite" for name in names}
    todo = [name for name, path in paths.items() if not path.is_file()]
    if not todo:
        return paths
    model, classes, config = load_trained_classifier(run_dir)
    frames, size = int(config["num_frames"]), int(config["size"])
    module = export.build_export_module(model, classes, frames, size)
    calibration = {}
    with quiet_tensorflow(), conversion_source(module, module.preprocessed.get_concrete_function()) as source:
        for name in todo:
            clips, options = VARIANTS[name]
            clips = calibration_clips if clips is None else clips or 1_000_000
            if clips not in calibration:
                calibration[clips] = export._records_frames(records_dir, ["train"], clips, frames, size)[0]
            tick = time.perf_counter()
            data = export.convert_int8(source, calibration[clips], options)
            paths[name].write_bytes(data)
            print(f"int8 {name}: {len(data) / 1e6:.2f} MB, calibrated on {len(calibration[clips])} clips, "
                  f"{time.perf_counter() - tick:.0f} s", flush=True)
    return paths


def measure(name: str, run_dir: Path, records_dir: Path, work: Path, args) -> dict:
    import numpy as np

    from movinet_crossfit.core.tflite import make_interpreter, tflite_filename
    from movinet_crossfit.movinet import export

    out = work / name / "export"
    started = time.perf_counter()
    if not (out / export.REPORT_FILE).is_file():
        report = export.export_run(run_dir, out, records_dir=records_dir, parity_clips=args.parity_clips,
                                   calibration_clips=args.calibration_clips)
        print(report.summary(), flush=True)
        print(f"(export: {time.perf_counter() - started:.0f} s; {load()})", flush=True)
    report = json.loads((out / export.REPORT_FILE).read_text())
    files = {fmt: out / tflite_filename(export.TFLITE_PREFIX, fmt) for fmt in export.TFLITE_FORMATS}
    if args.variants:
        for variant, path in int8_variants(run_dir, records_dir, out, args.variants, args.calibration_clips).items():
            files[f"int8 {variant}"] = path
    # Every file against Keras on the same parity clips: top-1 agreement, and the mean |p - Keras|
    # (a continuous measure: agreement moves by whole clips).
    from movinet_crossfit.movinet.model import load_trained_classifier

    clips, _ = export._parity_clips(records_dir, args.parity_clips, report["num_frames"], report["size"])
    reference = export.keras_probabilities(load_trained_classifier(run_dir)[0], clips)
    agreement, mean_dp = {}, {}
    for fmt, path in files.items():
        probabilities = export.run_tflite(make_interpreter(path, num_threads=args.threads), clips)
        agreement[fmt] = float(np.mean(probabilities.argmax(-1) == reference.argmax(-1)))
        mean_dp[fmt] = float(np.abs(probabilities - reference).mean())

    # Forward only, interleaved: one clip, every file once per round.
    clip = np.random.default_rng(0).integers(0, 256, (1, report["num_frames"], report["size"],
                                                      report["size"], 3), np.uint8)
    interpreters = {}
    for fmt, path in files.items():
        interpreter = make_interpreter(path, num_threads=args.threads)
        runner = export.tflite_runner(interpreter, str(path))
        runner(**{export.INPUT_NAME: clip})
        del runner  # it holds views of the interpreter's tensors, which invoke() refuses
        gc.collect()
        interpreters[fmt] = interpreter
    times: dict[str, list[float]] = {fmt: [] for fmt in files}
    for _ in range(args.rounds):
        for fmt, interpreter in interpreters.items():
            tick = time.perf_counter()
            interpreter.invoke()
            times[fmt].append(time.perf_counter() - tick)
    rows = {}
    for fmt, path in files.items():
        pieces, left = outside_xnnpack(path, args.threads)
        rows[fmt] = {"mb": path.stat().st_size / 1e6, "min_s": min(times[fmt]),
                     "median_s": statistics.median(times[fmt]), "top1": agreement[fmt], "mean_dp": mean_dp[fmt],
                     "xnnpack_pieces": pieces, "outside_xnnpack": left}
    return {"model": f"{report['model_id']} {report['num_frames']}x{report['size']}px, {len(report['classes'])} classes",
            "parity_clips": report["parity"]["clips"], "parity_source": report["parity"].get("source"),
            "keras_top1_margin_median": report["parity"].get("keras_top1_margin_median"),
            "rows": rows, "load": os.getloadavg()}


def a2_run(work: Path, calibration_clips: int) -> tuple[Path, Path]:
    from bench_predict import make_run

    from movinet_crossfit.data.records import RecordsConfig, write_records

    clips = SHARED / "cfmove" / "clips"
    run, records = work / "a2" / "run", work / "a2" / "records"
    if not (run / "config.yaml").is_file():
        make_run(run, sorted(clips.glob("*/*.mp4"))[1::2][:12])
    if not (records / "dataset_info.json").is_file():
        write_records(records, clips_dir=clips, config=RecordsConfig(num_frames=10, size=224))
    return run, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="demo,a2")
    parser.add_argument("--demo", type=Path, default=ROOT / "demo_out", help="the demo's output folder")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved forward rounds")
    parser.add_argument("--threads", type=int, default=2, help="LiteRT threads")
    parser.add_argument("--parity-clips", type=int, default=100)
    parser.add_argument("--calibration-clips", type=int, default=100)
    parser.add_argument("--variants", default="", help="int8 variants to convert and time beside the export's: "
                        f"{', '.join(VARIANTS)} (comma-separated)")
    parser.add_argument("--before", action="store_true", help="the same as --variants unfitted")
    parser.add_argument("--work", type=Path, default=None, help="keep runs/records/exports here (reused)")
    args = parser.parse_args()
    args.variants = [v for v in args.variants.split(",") if v] + (["unfitted"] if args.before else [])
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)} (choose from {', '.join(VARIANTS)})")
    args.variants = list(dict.fromkeys(args.variants))

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-quant-"))
    print(f"{os.cpu_count()} CPU cores, {args.threads} LiteRT threads; {load()}", flush=True)
    results = {}
    for name in args.models.split(","):
        if name == "demo":
            run, records = args.demo / "runs" / "demo", args.demo / "tfrecords"
            if not (run / "config.yaml").is_file():
                print(f"no demo run under {args.demo}: run `movinet-crossfit demo` first; skipped")
                continue
        elif name == "a2":
            run, records = a2_run(work, args.calibration_clips)
        elif (Path(name) / "config.yaml").is_file():  # another run trained on the demo's records
            run, records = Path(name), args.demo / "tfrecords"
            name = run.name
        else:
            raise SystemExit(f"--models: unknown {name!r} (demo, a2, or a run folder trained on the demo's records)")
        results[name] = measure(name, run, records, work, args)
        r = results[name]
        print(f"\n{name}: {r['model']}; agreement on {r['parity_clips']} clips ({r['parity_source']}), "
              f"Keras median top-1 margin {r['keras_top1_margin_median']:.3f}; {load()}")
        print(f"{'file':26s} {'MB':>7s} {'min s':>8s} {'median s':>9s} {'vs fp32':>8s} {'top-1':>7s} {'mean|dp|':>9s} "
              f"{'pieces':>6s}  outside XNNPACK")
        fp32 = r["rows"]["fp32"]["min_s"]
        for fmt, row in r["rows"].items():
            print(f"{fmt:26s} {row['mb']:7.2f} {row['min_s']:8.4f} {row['median_s']:9.4f} "
                  f"{fp32 / row['min_s']:7.2f}x {row['top1']:7.1%} {row['mean_dp']:9.5f} {row['xnnpack_pieces']:6d}  "
                  f"{', '.join(f'{k} {v}' for k, v in row['outside_xnnpack'].items()) or '-'}")
    print(f"\ntargets (issue 20): int8 faster than fp32 (interleaved min), top-1 agreement >= {TOP1_TARGET:.0%}")
    for name, r in results.items():
        fp32 = r["rows"]["fp32"]
        for fmt, row in r["rows"].items():
            if fmt.startswith("int8"):
                speed, top1 = fp32["min_s"] / row["min_s"], row["top1"]
                print(f"  {name:5s} {fmt:26s} {speed:.2f}x fp32 ({'met' if speed > 1 else 'MISSED'}), top-1 "
                      f"{top1:.1%} ({'met' if top1 >= TOP1_TARGET else 'MISSED'}) on {r['parity_clips']} clips")
    print(load())
    (work / "bench_quant.json").write_text(json.dumps(results, indent=2))
    print(f"-> {work / 'bench_quant.json'}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
