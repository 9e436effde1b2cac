"""Predict benchmark: one clip end to end (decode + sample + preprocess + forward) per backend.

MoViNet-A2 base, 10 frames at 224 px, 9 classes, on real cfmove clips. Backends, all measured in
this one run:

1. original  Model Garden's Conv3D graph (``fast_ops.use_fast_ops(model, False)``), Keras: the baseline
2. fast      the builtin-op graph, Keras
3. saved_model, tflite fp32 / fp16 / dynamic / int8: the files ``export_run`` writes, through
   ``predict.predict_video``

Prints seconds per clip end to end and forward only (median over the clips; the original graph
on one clip after one warm-up, since its forward takes seconds), ratios against the original,
TFLite forward times from interleaved rounds (min and median: robust to other load on the machine),
and top-1 agreement of each file with Keras fp32. No pretrained weights are available offline, so the model
has seeded random weights (residual scales opened, batch-norm statistics re-estimated on 12 real
clips so activations have a trained network's scale): timings are representative, agreement
numbers are only a rough guide to a trained model's.

Targets: <= 1 s per clip end to end, <= 0.3 s TFLite forward, int8 or dynamic faster than fp32.

    python benchmarks/bench_predict.py [--clips ../shared/data/cfmove/clips] [--n-clips 10]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import movinet_crossfit  # noqa: E402,F401

MODEL_ID, FRAMES, SIZE, NUM_CLASSES = "a2", 10, 224, 9


def make_run(run_dir: Path, clips: list[Path], seed: int = 0) -> None:
    """A run folder like `train` writes, with seeded random weights whose batch-norm statistics
    are re-estimated on real clips, so activations keep a trained network's scale (raw random
    statistics let them grow block after block, which no quantizer survives)."""
    import numpy as np
    import tensorflow as tf
    import tf_keras
    import yaml

    from movinet_crossfit.core import video
    from movinet_crossfit.movinet.model import build_classifier
    from movinet_crossfit.core.runs import write_labels

    tf_keras.utils.set_random_seed(seed)
    model = build_classifier(MODEL_ID, NUM_CLASSES, FRAMES, SIZE)
    model.build([None, FRAMES, SIZE, SIZE, 3])
    rng = np.random.default_rng(seed)
    for var in model.variables:  # residual scales start at zero: open every block
        if var.name.endswith("/scale:0"):
            var.assign(rng.uniform(0.3, 1.0, var.shape).astype(np.float32))
    batch = np.stack([video.load_clip(p, FRAMES, SIZE) for p in clips])
    norms = [m for m in model.submodules if isinstance(m, tf_keras.layers.BatchNormalization)]
    assert norms, "no BatchNormalization layers found"
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.momentum = 0.0  # one training-mode pass sets the moving statistics to this batch's
    model(video.to_model_input(tf.constant(batch)), training=True)
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    (run_dir / "best").mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(
        {"model_id": MODEL_ID, "num_frames": FRAMES, "size": SIZE, "dropout_rate": 0.5}))
    write_labels(run_dir / "labels.txt", [f"movement_{i}" for i in range(NUM_CLASSES)])
    tf.train.Checkpoint(model=model).save(str(run_dir / "best" / "ckpt"))


def median(values):
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=Path, default=ROOT.parent / "shared" / "data" / "cfmove" / "clips")
    parser.add_argument("--n-clips", type=int, default=10, help="clips timed per backend")
    parser.add_argument("--calibration-clips", type=int, default=100)
    parser.add_argument("--work", type=Path, default=None, help="keep the run/records/export here")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved TFLite forward rounds")
    parser.add_argument("--skip-original", action="store_true")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from movinet_crossfit.core import video
    from movinet_crossfit.core.tflite import make_interpreter, tflite_filename
    from movinet_crossfit.movinet import export, predict
    from movinet_crossfit.movinet.model import load_trained_classifier
    from movinet_crossfit.movinet import fast_ops
    from movinet_crossfit.data.records import RecordsConfig, write_records

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-predict-"))
    paths = sorted(args.clips.glob("*/*.mp4"))
    timed = paths[:: max(1, len(paths) // args.n_clips)][: args.n_clips]
    print(f"MoViNet-{MODEL_ID} base, {FRAMES} frames x {SIZE}px, {NUM_CLASSES} classes, SEEDED RANDOM "
          f"WEIGHTS (no pretrained weights offline); {len(timed)} cfmove clips timed; "
          f"{os.cpu_count()} CPU cores; TF {tf.__version__}")

    started = time.perf_counter()
    if not (work / "export" / "export_report.json").is_file():
        make_run(work / "run", paths[1::2][:12])
        write_records(work / "records", clips_dir=args.clips, config=RecordsConfig(num_frames=FRAMES, size=SIZE))
        report = export.export_run(work / "run", work / "export", records_dir=work / "records",
                                   calibration_clips=args.calibration_clips, parity_clips=16)
        print(report.summary())
        print(f"(run + records + export: {time.perf_counter() - started:.0f} s)")
    out = work / "export"
    model = load_trained_classifier(work / "run")[0]

    rows: dict[str, dict] = {}
    probs: dict[str, list] = {}

    def time_keras(name: str, clips_to_time) -> None:
        forward = tf.function(lambda x: tf.nn.softmax(model(video.to_model_input(x), training=False)))
        tick = time.perf_counter()
        forward(tf.constant(video.load_clip(clips_to_time[0], FRAMES, SIZE)[None]))  # trace (+ XLA)
        warm = time.perf_counter() - tick
        totals, forwards, outs = [], [], []
        for path in clips_to_time:
            t0 = time.perf_counter()
            clip = video.load_clip(path, FRAMES, SIZE)
            t1 = time.perf_counter()
            outs.append(forward(tf.constant(clip[None])).numpy()[0])
            t2 = time.perf_counter()
            totals.append(t2 - t0)
            forwards.append(t2 - t1)
        rows[name] = {"total": median(totals), "forward": median(forwards), "first_call": warm,
                      "clips": len(clips_to_time)}
        probs[name] = outs

    time_keras("keras fast", timed)
    for name, backend, variant in [("saved_model", "saved_model", "fp32"), ("tflite fp32", "tflite", "fp32"),
                                   ("tflite fp16", "tflite", "fp16"), ("tflite dynamic", "tflite", "dynamic"),
                                   ("tflite int8", "tflite", "int8")]:
        tick = time.perf_counter()
        predict.predict_video(timed[0], out, backend=backend, variant=variant)  # load + warm-up
        warm = time.perf_counter() - tick
        results = [predict.predict_video(p, out, backend=backend, variant=variant, top_k=1) for p in timed]
        rows[name] = {"total": median([r.timings["total"] for r in results]),
                      "forward": median([r.timings["infer"] for r in results]), "first_call": warm,
                      "clips": len(results)}
        probs[name] = [np.array(list(r.probabilities.values())) for r in results]
    if not args.skip_original:
        fast_ops.use_fast_ops(model, False)
        time_keras("keras original", timed[:1])
        fast_ops.use_fast_ops(model, True)

    # Forward only, TFLite files interleaved round after round on one clip: other load on the
    # machine then hits every file alike, so their order is trustworthy (min is the cleanest).
    clip = video.load_clip(timed[0], FRAMES, SIZE)
    interpreters = {f: make_interpreter(out / tflite_filename(export.TFLITE_PREFIX, f)) for f in export.TFLITE_FORMATS}
    for interpreter in interpreters.values():
        export.run_tflite(interpreter, [clip])
    invokes: dict[str, list] = {f: [] for f in interpreters}
    for _ in range(args.rounds):
        for fmt, interpreter in interpreters.items():
            tick = time.perf_counter()
            interpreter.invoke()
            invokes[fmt].append(time.perf_counter() - tick)
    print(f"\nTFLite forward, {args.rounds} interleaved rounds: " + ", ".join(
        f"{f} min {min(v):.3f} / median {median(v):.3f} s" for f, v in invokes.items()))

    base = rows.get("keras original")
    reference = np.stack(probs["keras fast"])
    print(f"\n{'backend':16s} {'end-to-end s':>12s} {'forward s':>10s} {'first call s':>12s} "
          f"{'speed-up e2e':>12s} {'speed-up fwd':>12s} {'top-1 = keras':>13s} {'max |dp|':>9s}")
    for name, row in rows.items():
        got = np.stack(probs[name])
        n = len(got)
        agree = float(np.mean(got.argmax(-1) == reference[:n].argmax(-1)))
        diff = float(np.abs(got - reference[:n]).max())
        ratio_e2e = f"{base['total'] / row['total']:.1f}x" if base else "-"
        ratio_fwd = f"{base['forward'] / row['forward']:.1f}x" if base else "-"
        print(f"{name:16s} {row['total']:12.3f} {row['forward']:10.3f} {row['first_call']:12.2f} "
              f"{ratio_e2e:>12s} {ratio_fwd:>12s} {agree:13.0%} {diff:9.1e}")
    margins = np.sort(reference, -1)
    print(f"\nkeras fp32 over the timed clips: {len(set(reference.argmax(-1).tolist()))} distinct top-1 "
          f"classes, median top-1 margin {float(np.median(margins[:, -1] - margins[:, -2])):.3f} "
          "(random weights: agreement is a rough guide, not a trained model's accuracy)")
    decode = median([predict.predict_video(p, out, backend="tflite", variant="int8").timings["decode"]
                     for p in timed[:3]])
    print(f"decode + sample + preprocess alone: {decode:.3f} s per clip")
    fastest = min((min(v), f) for f, v in invokes.items())
    quantized_faster = min(min(invokes["int8"]), min(invokes["dynamic"])) < min(invokes["fp32"])
    print(f"targets: end to end <= 1 s: {'met' if min(r['total'] for r in rows.values()) <= 1 else 'MISSED'} "
          f"(best {min(r['total'] for r in rows.values()):.3f} s); TFLite forward <= 0.3 s: "
          f"{'met' if fastest[0] <= 0.3 else 'MISSED'} (best {fastest[1]} {fastest[0]:.3f} s); "
          f"int8 or dynamic faster than fp32 (interleaved min): {'yes' if quantized_faster else 'NO'}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
