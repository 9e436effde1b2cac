"""A keypoint classifier -> ``model.tflite`` for phones, checked against Keras.

```
RUN/
  model.tflite           float32, builtin ops only; signature serving_default:
                         keypoints (1, length, K x 2) prepared sequence -> probabilities (1, C)
  export_report.json     ops, size, parity against Keras, seconds per sequence
```
The input row is ``features.prepare_sequence``'s; the output follows ``labels.txt``. A recurrent
model keeps its state in TFLite variable tensors: reset them before each sequence (below).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from movinet_crossfit.core.fileio import atomic_path
from movinet_crossfit.core.tflite import (check_builtin_only, compare_outputs, convert_function, describe_signature,
                                          make_interpreter, signature_runner, tflite_filename)

TFLITE_FILE = tflite_filename("model")
REPORT_FILE = "export_report.json"
PARITY_TOLERANCE = 1e-4
# The file's serving_default signature: what an app codes against.
INPUT_NAME = "keypoints"
OUTPUT_NAME = "probabilities"


def export_tflite(model, path: Path, sample: np.ndarray, length: int, features: int) -> dict:
    """float32 TFLite of the classifier on builtin ops only, checked against Keras on ``sample``."""
    import tensorflow as tf

    # The argument's name and the returned key become the signature's input and output names.
    forward = tf.function(lambda keypoints: {OUTPUT_NAME: model(keypoints, training=False)},
                          input_signature=[tf.TensorSpec([1, length, features], tf.float32, name=INPUT_NAME)],
                          autograph=False)
    started = time.perf_counter()
    data = convert_function(forward.get_concrete_function(), "fp32", trackable=model, label=str(path))
    convert_seconds = time.perf_counter() - started
    ops = check_builtin_only(data, str(path))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    interpreter = make_interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    run = signature_runner(interpreter, str(path), [INPUT_NAME], [OUTPUT_NAME])
    lite = []
    started = time.perf_counter()
    for row in sample:
        # The LSTM's state lives in TFLite variable tensors that survive invoke(): start each
        # sequence from zeros, as Keras does (on Android: Interpreter.resetVariableTensors()).
        interpreter.reset_all_variables()
        lite.append(np.array(run(**{INPUT_NAME: np.asarray(row, np.float32)[None]})[OUTPUT_NAME][0]))
    per_sequence = (time.perf_counter() - started) / max(1, len(sample))
    parity = compare_outputs(model.predict(sample, verbose=0), np.stack(lite), max_abs_diff=PARITY_TOLERANCE)
    return {"file": str(path), "bytes": len(data), "ops": sorted(set(ops)), "convert_seconds": round(convert_seconds, 2),
            "input": [1, length, features], "signature": describe_signature(data),
            "parity_sequences": int(len(sample)),
            "max_abs_diff": parity.max_abs_diff, "argmax_agreement": parity.top1_agreement,
            "seconds_per_sequence": per_sequence, "within_tolerance": parity.passed}
