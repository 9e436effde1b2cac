"""The bottom layer: nothing here knows about corpora, models or commands.

    errors.py           UserError (one line, exit 2)
    fileio.py           atomic writes, figures, SHA-256 of a file
    progress.py         progress bars, BatchReport, the console
    video.py            ffmpeg lookup, probe, decoding
    clip_sampling.py    a clip to model input: sampled decoding, THE preprocessing (TensorFlow ops)
    numpy_preprocess.py the same preprocessing in numpy (TensorFlow-free runtimes)
    movements.py        the class vocabulary
    metrics.py          classification and counting metrics (one definition each)
    tflite.py           the one TFLite/LiteRT toolkit: convert, check, interpreters, parity, names
    runs.py             the run-folder and config contract shared by every model family
"""
