"""The lecture's video classifiers against MoViNet, in one table: accuracy, size, cost and speed.

Every architecture (``train --arch``) trains on the same records through the same harness (train ->
evaluate on the held-out test videos -> export fp32 TFLite), and the table gives per architecture:
test accuracy (mean ± std over the corpus seeds), parameters, FLOPs per clip, CPU milliseconds per
clip through the fp32 TFLite file (LiteRT, 2 threads, median of ``--runs``; the load average is
printed, as the machine is shared), the TFLite size and the training time. Ratios are against
``single-frame``, measured in the same run. It writes ``OUT/bench_architectures.json`` and
``OUT/accuracy_vs_latency.png``.

Corpus: the demo's (``movinet_crossfit.demo.DemoConfig``: 50 clips per class, one segment of a
class per generated video, 10 frames of 48 px, 30 epochs, batch 8, RMSprop at 0.03, dropout 0.1,
no label smoothing), one corpus per seed shared by every architecture, generated with the same
library calls as the demo's steps 1-4. MoViNets train as the demo trains them (from random weights,
every layer: ``fine_tune=all``); the classic ones train every layer for ``--epochs`` from random
weights (no ImageNet weights offline). ``--records DIR`` runs once on a given records folder (a
user's real corpus) instead.

FLOPs: ``tf.compat.v1.profiler`` ``float_operation`` on the frozen Keras forward graph (the fast
builtin-op graph for MoViNet) at batch 1: multiply-adds count 2; ops without a registered count
(element-wise activations, pooling) are left out.

    python benchmarks/bench_architectures.py                       # 3 seeds x 8 archs, 30 epochs
    python benchmarks/bench_architectures.py --seeds 1 --epochs 2 --archs single-frame,c3d
    # one process runs its seeds one after another; one process per seed uses more cores:
    python benchmarks/bench_architectures.py --seed-ids 1 --out o1 &
    python benchmarks/bench_architectures.py --seed-ids 2 --out o2; wait; \
        python benchmarks/bench_architectures.py --merge o1/*.json o2/*.json --out all   # then one table
                                                 [--retime 50]  # latencies re-timed together, here
    python benchmarks/bench_architectures.py --records tfrecords --epochs 30
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARCHS = ("single-frame", "late-fusion-fc", "late-fusion-pool", "early-fusion", "c3d", "cnn-lstm",
         "movinet-a0", "movinet-a2")
BASELINE = "single-frame"
THREADS = 2


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_records(out: Path, seed: int, demo) -> Path:
    """The demo's steps 1-4 (generate -> manifest -> split -> records) for one corpus seed."""
    from movinet_crossfit.data.annotations import write_manifest
    from movinet_crossfit.data.clips import split_clips
    from movinet_crossfit.data.records import RecordsConfig, write_records
    from movinet_crossfit.synthetic import generate_corpus

    records = out / "tfrecords"
    if (records / "dataset_info.json").is_file():
        return records
    generate_corpus(out / "corpus", clips_per_class=demo.clips_per_class, seed=seed, size=tuple(demo.video_size),
                    max_per_video=demo.max_per_video)
    write_manifest([out / "corpus"], out / "manifest.json")
    split_clips(out / "manifest.json", out / "clips")
    write_records(records, clips_dir=out / "clips", manifest=out / "manifest.json",
                  config=RecordsConfig(num_frames=demo.num_frames, size=demo.size, seed=seed))
    return records


def train_config(arch: str, records: Path, run: Path, epochs: int, seed: int, demo):
    from movinet_crossfit.movinet.config import TrainConfig

    common = dict(records=str(records), out=str(run), arch=arch, batch_size=demo.batch_size, optimizer=demo.optimizer,
                  dropout_rate=demo.dropout_rate, label_smoothing=demo.label_smoothing, early_stopping_patience=0,
                  select_best=False, seed=seed)
    if arch.startswith("movinet"):  # exactly the demo's recipe
        return TrainConfig(**common, from_scratch=True, epochs=0, fine_tune="all", fine_tune_epochs=epochs,
                           fine_tune_learning_rate=demo.learning_rate)
    return TrainConfig(**common, epochs=epochs, learning_rate=demo.learning_rate)


def count_flops(model, num_frames: int, size: int) -> int:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    forward = tf.function(tf.autograph.experimental.do_not_convert(lambda x: model(x, training=False)))
    concrete = forward.get_concrete_function(tf.TensorSpec([1, num_frames, size, size, 3], tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, options=options)
    return int(profile.total_float_ops)


def warm_runner(path: Path, num_frames: int, size: int):
    """A no-argument call that runs the fp32 file once on a fixed random clip (warmed up: 3 calls)."""
    import numpy as np

    from movinet_crossfit.core.tflite import make_interpreter
    from movinet_crossfit.movinet.export import INPUT_NAME, tflite_runner

    run = tflite_runner(make_interpreter(path, num_threads=THREADS), str(path))
    clip = np.random.default_rng(0).integers(0, 256, (1, num_frames, size, size, 3), dtype=np.uint8)

    def once():
        run(**{INPUT_NAME: clip})

    for _ in range(3):
        once()
    return once


def timed_ms(once) -> float:
    t0 = time.perf_counter()
    once()
    return (time.perf_counter() - t0) * 1000


def tflite_ms(path: Path, num_frames: int, size: int, runs: int) -> float:
    once = warm_runner(path, num_frames, size)
    return statistics.median(timed_ms(once) for _ in range(runs))


def measure(arch: str, records: Path, work: Path, epochs: int, seed: int, runs: int, demo) -> dict:
    from movinet_crossfit.movinet.evaluate import evaluate_run
    from movinet_crossfit.movinet.export import export_run
    from movinet_crossfit.movinet.model import load_trained_classifier
    from movinet_crossfit.movinet.train import train

    import tf_keras

    # A fresh Keras session per architecture: in one long process, early-fusion once picked up a
    # 3-channel graph left by an earlier backbone named alike ("expected 30 channels, got 3").
    tf_keras.backend.clear_session()
    run = work / "runs" / arch
    if run.exists():  # an interrupted earlier attempt: train refuses a non-empty run folder
        import shutil

        shutil.rmtree(run)
    t0 = time.perf_counter()
    result = train(train_config(arch, records, run, epochs, seed, demo))
    train_seconds = time.perf_counter() - t0
    metrics = evaluate_run(run, split="test").metrics
    report = export_run(run, work / "exports" / arch, formats=["fp32"])
    model, classes, config = load_trained_classifier(run)
    num_frames, size = int(config["num_frames"]), int(config["size"])
    return {"arch": arch, "seed": seed, "accuracy": metrics["accuracy"], "test_clips": metrics["clips"],
            "classes": classes, "confusion_matrix": metrics["confusion_matrix"],
            "parameters": int(model.count_params()), "flops": count_flops(model, num_frames, size),
            "tflite_ms": tflite_ms(work / "exports" / arch / report.files["fp32"], num_frames, size, runs),
            "tflite_bytes": report.bytes["fp32"], "fp32_parity": report.parity["formats"]["fp32"]["max_abs_diff"],
            "train_seconds": round(train_seconds, 1), "weights": result.summary.get("weights"),
            "num_frames": num_frames, "size": size, "load_average": load_average()}


def summarise(results: list[dict], archs: list[str]) -> list[dict]:
    rows = []
    for arch in archs:
        mine = [r for r in results if r["arch"] == arch]
        if not mine:
            continue
        accuracies = [r["accuracy"] for r in mine]
        rows.append({"arch": arch, "seeds": len(mine), "accuracy_mean": statistics.mean(accuracies),
                     "accuracy_std": statistics.stdev(accuracies) if len(mine) > 1 else 0.0,
                     "parameters": mine[0]["parameters"], "flops": mine[0]["flops"],
                     "tflite_ms": statistics.median(r["tflite_ms"] for r in mine),
                     "tflite_bytes": mine[0]["tflite_bytes"],
                     "train_seconds": statistics.mean(r["train_seconds"] for r in mine),
                     "confusion_matrix": [[sum(r["confusion_matrix"][i][j] for r in mine)
                                           for j in range(len(mine[0]["classes"]))]
                                          for i in range(len(mine[0]["classes"]))],
                     "classes": mine[0]["classes"]})
    return rows


def pair_confusion(row: dict, a: str = "power-clean", b: str = "deadlift") -> str:
    """``a->b x/n, b->a y/m``: how often the two movements that differ mainly in motion are swapped."""
    classes, cm = row["classes"], row["confusion_matrix"]
    if a not in classes or b not in classes:
        return ""
    i, j = classes.index(a), classes.index(b)
    return f"{a}->{b} {cm[i][j]}/{sum(cm[i])}, {b}->{a} {cm[j][i]}/{sum(cm[j])}"


def print_table(rows: list[dict]) -> None:
    base = next((r for r in rows if r["arch"] == BASELINE), rows[0])
    print(f"\n{'arch':18s} {'test acc':>15s} {'params':>9s} {'MFLOPs':>9s} {'ms/clip':>8s} {'x base':>7s} "
          f"{'MB':>6s} {'train s':>8s}  power-clean/deadlift swaps")
    for r in rows:
        print(f"{r['arch']:18s} {r['accuracy_mean']:7.3f} ± {r['accuracy_std']:.3f} {r['parameters'] / 1e6:8.2f}M "
              f"{r['flops'] / 1e6:9.1f} {r['tflite_ms']:8.2f} {r['tflite_ms'] / base['tflite_ms']:7.2f} "
              f"{r['tflite_bytes'] / 1e6:6.2f} {r['train_seconds']:8.0f}  {pair_confusion(r)}")


def plot(rows: list[dict], png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        ax.errorbar(r["tflite_ms"], r["accuracy_mean"], yerr=r["accuracy_std"], fmt="o", capsize=3)
        ax.annotate(r["arch"], (r["tflite_ms"], r["accuracy_mean"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"CPU ms per clip, TFLite fp32, {THREADS} threads (log)")
    ax.set_ylabel("test accuracy (held-out videos)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def retime(runs: list[dict], roots: dict[int, Path], rounds: int) -> dict[str, float]:
    """{arch: median ms per clip} of each arch's fp32 file (the first seed's that is on disk), timed
    round after round, every file once a round: one quiet, comparable latency column for results
    that were trained, and first timed, at different times under different loads."""
    runners = {}
    for r in runs:
        path = roots.get(r["seed"], Path()) / f"seed{r['seed']}" / "exports" / r["arch"] / "model_fp32.tflite"
        if r["arch"] not in runners and path.is_file():
            runners[r["arch"]] = warm_runner(path, r["num_frames"], r["size"])
    times = {arch: [] for arch in runners}
    for _ in range(rounds):
        for arch, once in runners.items():
            times[arch].append(timed_ms(once))
    return {arch: statistics.median(t) for arch, t in times.items()}


def merge(paths: list[Path], archs: list[str], out: Path, rounds: int = 0) -> None:
    """One table and plot from several runs' JSON (a (seed, arch) result found twice is kept once);
    ``rounds`` > 0: the latency column re-timed here, every file interleaved (``retime``)."""
    import json

    results, setups, roots = {}, [], {}
    for path in paths:
        data = json.loads(path.read_text())
        setups.append(data.get("setup", {}))
        for r in data.get("runs", []):
            results.setdefault((r["seed"], r["arch"]), r)
            roots.setdefault(r["seed"], path.parent)  # each run's exports lie beside its JSON
    epochs = {s.get("epochs") for s in setups}
    if len(epochs) > 1:
        sys.exit(f"--merge: the runs were trained for different epochs {sorted(epochs)}; not one comparison")
    runs = [results[k] for k in sorted(results)]
    rows = summarise(runs, archs)
    if not rows:
        sys.exit("--merge: no runs of these archs in " + ", ".join(map(str, paths)))
    seeds = sorted({r["seed"] for r in runs})
    print(f"merged {len(runs)} (seed, arch) results, seeds {seeds}, from {len(paths)} file(s)")
    retimed = {}
    if rounds > 0:
        print(f"re-timing the fp32 files, {rounds} interleaved rounds (load before: {load_average()})", flush=True)
        retimed = retime(runs, roots, rounds)
        for row in rows:
            if row["arch"] in retimed:
                row["tflite_ms_trained_runs"], row["tflite_ms"] = row["tflite_ms"], retimed[row["arch"]]
        print(f"load after: {load_average()}; archs without a file on disk keep their runs' times: "
              f"{sorted(set(r['arch'] for r in rows) - set(retimed)) or 'none'}")
    print_table(rows)
    from movinet_crossfit.core.fileio import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    setup = dict(setups[0], seeds=seeds, merged_from=[str(p) for p in paths])
    if retimed:
        setup["latency"] = (f"TFLite fp32, LiteRT {THREADS} threads, median of {rounds} rounds, every file once a "
                            f"round, re-timed by --merge --retime (load after {load_average()})")
    write_json_atomic(out / "bench_architectures.json", {"setup": setup, "rows": rows, "runs": runs, "failures": []})
    png = out / "accuracy_vs_latency.png"
    plot(rows, png, f"{len(seeds)} seed(s), {epochs.pop()} epochs, generated corpus")
    print(f"-> {out / 'bench_architectures.json'}, {png}")


def main() -> None:
    from movinet_crossfit.demo import DemoConfig  # the package sets TF_USE_LEGACY_KERAS first

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, help="one run on this records folder instead of generated corpora")
    parser.add_argument("--seeds", type=int, default=3, help="corpus seeds (0..N-1), generated corpora only")
    parser.add_argument("--seed-ids", help="these seeds instead (e.g. 1,2: one after another; start a process "
                        "per seed to run them side by side)")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="no training: one table and plot from the runs in these bench_architectures.json "
                             "files (seeds run in parallel processes or sessions)")
    parser.add_argument("--retime", type=int, default=0, metavar="ROUNDS",
                        help="with --merge: re-time every arch's fp32 file here, interleaved, ROUNDS rounds")
    parser.add_argument("--epochs", type=int, default=DemoConfig.epochs)
    parser.add_argument("--archs", default=",".join(ARCHS), help="comma-separated (default: all)")
    parser.add_argument("--clips-per-class", type=int, default=DemoConfig.clips_per_class)
    parser.add_argument("--runs", type=int, default=30, help="timed TFLite invokes per model")
    parser.add_argument("--out", type=Path, default=Path("bench_architectures_out"))
    parser.add_argument("--fresh", action="store_true", help="ignore results already in OUT (default: resume)")
    args = parser.parse_args()
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    unknown = [a for a in archs if a not in ARCHS]
    if unknown:
        parser.error(f"unknown archs {unknown}: choose from {', '.join(ARCHS)}")
    demo = DemoConfig(clips_per_class=args.clips_per_class)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {load_average()}", flush=True)
    started = time.perf_counter()
    results: list[dict] = []
    failures: list[dict] = []
    try:
        seeds = [int(s) for s in args.seed_ids.split(",") if s.strip()] if args.seed_ids else list(range(args.seeds))
    except ValueError:
        parser.error(f"--seed-ids: comma-separated seed numbers, got {args.seed_ids!r}")
    seeds = [0] if args.records else seeds
    if args.retime and not args.merge:
        parser.error("--retime re-times the files of runs given to --merge; a training run times its own")
    if args.merge:
        merge(args.merge, archs, args.out, args.retime)
        return
    json_path = args.out / "bench_architectures.json"
    if json_path.is_file() and not args.fresh:  # resume: hours of CPU are not thrown away by a stop
        import json

        earlier = json.loads(json_path.read_text())
        if earlier.get("setup", {}).get("epochs") == args.epochs:
            results = [r for r in earlier.get("runs", []) if r["arch"] in archs and r["seed"] in seeds]
            print(f"resuming: {len(results)} (seed, arch) results kept from {json_path} (--fresh to redo)",
                  flush=True)
    done = {(r["seed"], r["arch"]) for r in results}
    for seed in seeds:
        work = args.out / f"seed{seed}"
        if all((seed, arch) in done for arch in archs):
            continue
        records = args.records or make_records(work, seed, demo)
        for arch in archs:
            if (seed, arch) in done:
                continue
            t0 = time.perf_counter()
            try:
                result = measure(arch, records, work, args.epochs, seed, args.runs, demo)
            except Exception as exc:  # noqa: BLE001 - one arch failing must not cost the others' hours
                import traceback

                print(f"seed {seed} {arch}: FAILED {type(exc).__name__}: {str(exc).splitlines()[0][:300]}", flush=True)
                traceback.print_exc()  # the whole story on stderr: a failure after hours must be diagnosable
                failures.append({"arch": arch, "seed": seed, "error": traceback.format_exc()[-4000:]})
                continue
            results.append(result)
            print(f"seed {seed} {arch}: test accuracy {result['accuracy']:.3f} on {result['test_clips']} clips, "
                  f"{result['tflite_ms']:.2f} ms/clip, {time.perf_counter() - t0:.0f} s "
                  f"(load {result['load_average']})", flush=True)
            rows = summarise(results, archs)
            setup = {"records": str(args.records) if args.records else "generated (demo corpus)", "seeds": seeds,
                     "epochs": args.epochs, "clips_per_class": args.clips_per_class,
                     "flops": "tf.profiler float_operation, frozen Keras graph, batch 1 (MAC = 2 FLOPs)",
                     "latency": f"TFLite fp32, LiteRT {THREADS} threads, median of {args.runs}"}
            from movinet_crossfit.core.fileio import write_json_atomic

            write_json_atomic(json_path, {"setup": setup, "rows": rows, "runs": results, "failures": failures,
                                          "seconds": round(time.perf_counter() - started, 1)})
    rows = summarise(results, archs)
    if not rows:
        sys.exit("every architecture failed; see above")
    print_table(rows)
    png = args.out / "accuracy_vs_latency.png"
    plot(rows, png, f"{len(seeds)} seed(s), {args.epochs} epochs, "
                    f"{'records ' + str(args.records) if args.records else 'generated corpus'}")
    print(f"\nload average after: {load_average()}; {time.perf_counter() - started:.0f} s -> {json_path}, {png}")


if __name__ == "__main__":
    main()
