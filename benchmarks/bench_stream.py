"""Milliseconds per frame of the MoViNet stream TFLite models (A0 at 172 px, A2 at 224 px) on this
machine, fp32 / fp16 / dynamic-range, one frame a call with the states fed back.

The models have RANDOM weights (the speed of a stream model does not depend on its weights; no
trained causal A0/A2 run is needed), built and converted exactly as ``export RUN --stream`` does
(``movinet.stream``). Each file runs in LiteRT with 2 threads (the issue's machine: 2 cores) and
1 thread (Model Garden's table: one x86 core): a warm-up, then ``--frames`` frames; the median is
printed, with the ratios to the issue's goals (A0 <= 10 ms, A2 <= 30 ms per frame, 2 cores) and to
Model Garden's table (A0-stream 16 ms, A2-stream 66 ms, fp32, one x86 Xeon core). The load average
is printed before and after: on a shared machine the numbers are only as quiet as it was.

    python benchmarks/bench_stream.py [--frames 100] [--models a0,a2]

``pipeline_section()`` then runs ``live`` on the real joined 854x480 sets (``bench_live``) without
and with a random-weight A0 stream model: frames per second against the issue's 30 fps goal.
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

SIZES = {"a0": 172, "a1": 172, "a2": 224}
GOAL_MS = {"a0": 10.0, "a2": 30.0}  # the goals, per frame on 2 cores
MODEL_GARDEN_MS = {"a0": 16.0, "a1": 33.0, "a2": 66.0}  # Model Garden's README, fp32, 1 x86 core
VARIANTS = ("fp32", "fp16", "dynamic")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def stream_files(model_id: str, num_classes: int = 9) -> dict[str, bytes]:
    """The stream TFLite files of a random-weight causal ``model_id``, as ``export --stream`` converts them."""
    import tf_keras

    from movinet_crossfit.movinet.stream import build_stream_classifier, build_stream_module, convert_stream

    tf_keras.utils.set_random_seed(0)
    size = SIZES[model_id]
    model = build_stream_classifier(model_id, size, num_classes)
    module, _ = build_stream_module(model, [f"class{i}" for i in range(num_classes)], size)
    return convert_stream(module, VARIANTS)


def ms_per_frame(data: bytes, threads: int, frames: int, warm_up: int = 10) -> float:
    """Median ms of one call (one frame + the states), states fed back, after ``warm_up`` calls."""
    import numpy as np

    from movinet_crossfit.core.tflite import make_interpreter
    from movinet_crossfit.movinet.stream import IMAGE_INPUT, OUTPUT_NAME

    interpreter = make_interpreter(model_content=data, num_threads=threads)
    runner = interpreter.get_signature_runner("serving_default")
    inputs = runner.get_input_details()
    states = {name: np.zeros(d["shape"], d["dtype"]) for name, d in inputs.items() if name != IMAGE_INPUT}
    shape = inputs[IMAGE_INPUT]["shape"]
    rng = np.random.default_rng(0)
    times = []
    for i in range(warm_up + frames):
        frame = rng.integers(0, 256, shape, dtype=np.uint8)
        start = time.perf_counter()
        result = runner(**{IMAGE_INPUT: frame}, **states)
        elapsed = time.perf_counter() - start
        result.pop(OUTPUT_NAME)
        states = result
        if i >= warm_up:
            times.append(elapsed * 1000.0)
    return statistics.median(times)


def model_section(model_ids: list[str], frames: int) -> list[dict]:
    rows = []
    for model_id in model_ids:
        tick = time.perf_counter()
        files = stream_files(model_id)
        print(f"{model_id}: built and converted {', '.join(files)} in {time.perf_counter() - tick:.0f} s "
              f"(random weights)", flush=True)
        for variant, data in files.items():
            row = {"model": model_id, "size": SIZES[model_id], "variant": variant, "mb": len(data) / 1e6}
            for threads in (2, 1):
                row[f"ms_{threads}"] = ms_per_frame(data, threads, frames)
            rows.append(row)
            print(_format(row), flush=True)
    return rows


def _format(row: dict) -> str:
    goal = GOAL_MS.get(row["model"])
    garden = MODEL_GARDEN_MS.get(row["model"])
    goal_text = f"{row['ms_2'] / goal:5.2f}x goal ({goal:.0f} ms)" if goal else ""
    garden_text = f"{row['ms_1'] / garden:5.2f}x Model Garden 1-core ({garden:.0f} ms)" if garden else ""
    return (f"  {row['model']} {row['size']}px {row['variant']:8s} {row['mb']:6.2f} MB  "
            f"2 threads {row['ms_2']:7.2f} ms/frame  {goal_text}   1 thread {row['ms_1']:7.2f} ms/frame  {garden_text}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--models", default="a0,a2")
    parser.add_argument("--pipeline", default="thruster", help="real sets for the live pipeline ('' skips it)")
    args = parser.parse_args(argv)
    from movinet_crossfit import __version__  # the package's environment, before TensorFlow loads

    print(f"movinet-crossfit {__version__}; cpus {os.cpu_count()}, load average before: {load_average()}")
    print("MoViNet stream TFLite, RANDOM weights (speed does not depend on them), median ms per frame; "
          "ratios < 1 beat the target")
    model_section([m.strip() for m in args.models.split(",") if m.strip()], args.frames)
    print(f"load average after: {load_average()}")
    if args.pipeline:
        pipeline_section("a0", args.pipeline)


# ------------------------------------------------------------------------------------------------
# The live pipeline (decode + poses + counter + the stream model) on the real 854x480 sets.

def random_stream_export(folder: Path, data: bytes, model_id: str = "a0", frame_rate: float = 10.0) -> Path:
    """An ``export --stream`` folder around a random-weight stream TFLite (``StreamClassifier.load``
    reads it): the states' names, shapes and dtypes read from the file's own signature."""
    import json

    from movinet_crossfit.core.movements import DEFAULT_CLASSES
    from movinet_crossfit.core.tflite import describe_signature
    from movinet_crossfit.movinet.stream import IMAGE_INPUT, STREAM_FILE, stream_filename

    folder.mkdir(parents=True, exist_ok=True)
    (folder / stream_filename("fp32")).write_bytes(data)
    inputs = describe_signature(data)["serving_default"]["inputs"]
    states = {name: spec for name, spec in inputs.items() if name != IMAGE_INPUT}
    (folder / STREAM_FILE).write_text(json.dumps({
        "classes": list(DEFAULT_CLASSES), "size": SIZES[model_id], "frame_rate": frame_rate, "model_id": model_id,
        "variants": {"fp32": stream_filename("fp32")}, "state_names": sorted(states), "states": states,
        "signature": "serving_default", "note": "random weights: for speed only"}))
    return folder


def pipeline_section(model_id: str = "a0", classes: str = "thruster") -> None:
    """``live`` on the real joined set (``bench_live.bench_video``) with and without a random-weight
    stream model: frames per second against the 30 fps goal, and where the time goes."""
    import tempfile

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_live

    clips = bench_live.SHARED / "cfmove" / "clips"
    if not clips.is_dir():
        print(f"live pipeline: skipped, no real clips at {clips}")
        return
    export = random_stream_export(Path(tempfile.mkdtemp(prefix="bench_stream_")) / "export_stream",
                                  stream_files(model_id)["fp32"], model_id)
    print(f"\nlive pipeline on the real joined sets ({classes}), without and with the {model_id} stream model "
          f"(random weights, fed at its 10 frames/s):")
    chosen = [c for c in classes.split(",") if c]
    bench_live.bench_video(clips, chosen, None)
    bench_live.bench_video(clips, chosen, str(export))


if __name__ == "__main__":
    main()
