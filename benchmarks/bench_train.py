"""Training speed on this CPU: MoViNet-A2 (10x224x224, fast graph, random weights) at batch 8.

Prints, measured in one run:
  * a full training step (whole network trainable),
  * a head-only step with the frozen backbone recomputed every step (what a GPU run does),
  * a head-only step on cached backbone features (what `train` does without a GPU),
and the feature cache's speed-up = frozen-backbone step / cached-feature step, plus the one-off
cost of computing the features, per clip.

    python benchmarks/bench_train.py [--model-id a2] [--size 224] [--frames 10] [--batch 8] [--steps 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import movinet_crossfit  # noqa: E402,F401


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="a2")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    import tensorflow as tf
    import tf_keras

    from movinet_crossfit.movinet.model import backbone_of, build_backbone_features, build_classifier, build_head
    from movinet_crossfit.movinet.train import make_loss, make_optimizer

    tf_keras.utils.set_random_seed(0)
    classes = 9
    x = tf.random.uniform([args.batch, args.frames, args.size, args.size, 3])
    y = tf.one_hot(tf.range(args.batch) % classes, classes)
    model = build_classifier(args.model_id, classes, args.frames, args.size, fast=True)

    def timed_step(fit_model, inputs):
        fit_model.compile(optimizer=make_optimizer(0.01, 100), loss=make_loss(0.1))
        fit_model.train_on_batch(inputs, y)  # trace
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            fit_model.train_on_batch(inputs, y)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    full = timed_step(model, x)
    backbone_of(model).trainable = False
    frozen = timed_step(model, x)
    extractor = tf.function(build_backbone_features(model))
    extractor(x)
    start = time.perf_counter()
    features = extractor(x)
    feature_seconds = time.perf_counter() - start
    cached = timed_step(build_head(model), features)
    print(f"MoViNet-{args.model_id} {args.frames}x{args.size}x{args.size}, batch {args.batch}, "
          f"{os.cpu_count()} cores, fast graph, random weights")
    print(f"full training step           {full:8.3f} s")
    print(f"head-only, backbone per step {frozen:8.3f} s")
    print(f"head-only, cached features   {cached:8.4f} s   (+ {feature_seconds / args.batch:.3f} s per clip once)")
    print(f"feature-cache speed-up per step = {frozen:.3f} / {cached:.4f} = {frozen / cached:.0f}x")
    print(f"over 10 epochs: {10 * frozen:.1f} s vs {feature_seconds + 10 * cached:.1f} s per batch of clips "
          f"= {10 * frozen / (feature_seconds + 10 * cached):.1f}x")


if __name__ == "__main__":
    main()
