"""MoViNet forward time on CPU: Model Garden's graph vs the fast builtin-op graph, same weights.

Both graphs run the one a2 classifier (10 frames, 224x224, batch 1, 9 classes) inside a
`tf.function`, as training, evaluation and export do; the fast one is switched on with
`fast_ops.use_fast_ops` on the very same variables, so the outputs are also compared. The ReZero
scales (zero at initialisation) are set non-zero so that every depthwise kernel reaches the output.

    python benchmarks/bench_movinet.py [--model-id a2] [--frames 10] [--size 224] [--repeat 3]
                                       [--eager] [--train] [--tflite]

--eager   also time a plain eager `model(x)` call (how Model Garden's graph is slowest: its
          per-layer XLA functions are re-created on every eager call)
--train   also time one training step (forward + backward + SGD update) at batch 2
--tflite  also convert the fast graph with TFLite builtins only and time it in LiteRT
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import movinet_crossfit  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from movinet_crossfit.movinet import fast_ops
from movinet_crossfit.movinet import model as movinet  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(first call s, best of `repeat` further calls s, last result)."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return first, best, result


def train_step_fn(model, batch):
    optimizer = tf_keras.optimizers.SGD(1e-3)
    labels = tf.zeros([batch.shape[0]], tf.int32)
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(batch, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return lambda: step().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="a2")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=3, help="best of N steady-state calls")
    parser.add_argument("--eager", action="store_true")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--tflite", action="store_true")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}")
    start = time.perf_counter()
    tf_keras.utils.set_random_seed(0)
    model = movinet.build_classifier(args.model_id, 9, args.frames, args.size, fast=False, dropout_rate=0.0)
    for var in model.variables:
        if var.name.endswith("/scale:0"):
            var.assign(0.5)
    print(f"built MoViNet-{args.model_id} base in {time.perf_counter() - start:.1f} s")
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (1, args.frames, args.size, args.size, 3)),
                    tf.float32)

    rows = []
    outputs = {}
    graphs = (("Model Garden 3-D graph", False), ("fast builtin-op graph", True))
    for name, fast in graphs:
        fast_ops.use_fast_ops(model, fast)
        forward = tf.function(lambda v: model(v, training=False))
        first, best, outputs[fast] = timed(lambda: forward(x).numpy(), args.repeat)
        rows.append((f"forward, tf.function  [{name}]", first, best))
    if args.eager:
        for name, fast in graphs:
            fast_ops.use_fast_ops(model, fast)
            first, best, _ = timed(lambda: model(x, training=False).numpy(), 1)
            rows.append((f"forward, eager        [{name}]", first, best))
    if args.train:
        weights = [v.numpy() for v in model.variables]
        for name, fast in graphs:
            fast_ops.use_fast_ops(model, fast)
            first, best, _ = timed(train_step_fn(model, tf.concat([x, x], axis=0)), 1)
            rows.append((f"train step, batch 2   [{name}]", first, best))
            for var, value in zip(model.variables, weights):  # the steps moved the weights
                var.assign(value)

    shape = f"{args.frames}x{args.size}x{args.size}"
    print(f"\nMoViNet-{args.model_id} base, {shape}, batch 1 (seconds; first call includes tracing)")
    print(f"{'':44s} {'first':>8s} {'steady':>8s}")
    for label, first, best in rows:
        print(f"{label:44s} {first:8.2f} {best:8.3f}")
    slow = [r for r in rows if "Model Garden" in r[0]]
    quick = [r for r in rows if "fast" in r[0]]
    for (label, _, b_slow), (_, _, b_fast) in zip(slow, quick):
        print(f"ratio (Model Garden / fast), {label.split('[')[0].strip():24s} {b_slow / b_fast:8.1f}x")
    print(f"max |logits difference| between the graphs: {np.abs(outputs[True] - outputs[False]).max():.2e}"
          f" (logit scale {np.abs(outputs[False]).max():.2f})")

    if args.tflite:
        tflite(model, x, outputs[True], args.repeat)


def tflite(model, x, expected, repeat: int) -> None:
    from ai_edge_litert.interpreter import Interpreter

    fast_ops.use_fast_ops(model, True)
    forward = tf.function(lambda v: model(v, training=False),
                          input_signature=[tf.TensorSpec(x.shape, tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([forward.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex
    start = time.perf_counter()
    blob = converter.convert()
    print(f"\nTFLite (builtins only): converted in {time.perf_counter() - start:.0f} s, "
          f"{len(blob) / 1e6:.1f} MB")
    interpreter = Interpreter(model_content=blob, num_threads=os.cpu_count())
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def run():
        interpreter.set_tensor(inp, x.numpy())
        interpreter.invoke()
        return interpreter.get_tensor(out)

    first, best, result = timed(run, repeat)
    ops = sorted({d["op_name"] for d in interpreter._get_ops_details()})
    print(f"LiteRT forward: first {first:.3f} s, steady {best:.3f} s; "
          f"max |difference| to TensorFlow {np.abs(result - expected).max():.2e}")
    print(f"ops: {', '.join(ops)}")


if __name__ == "__main__":
    main()
