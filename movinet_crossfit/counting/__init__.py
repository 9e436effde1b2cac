"""Repetition counting.

* ``count_video(path, weights=...)``: RepNet on a video, as the official inference does it
  (multi-speed, periodicity-gated), streaming frames in bounded memory.
* ``count_frames(frames, model, fps)``: the same on any iterable of RGB frames.
* ``preprocess_for_repnet`` (frame -> uint8 at the model size) and ``scale_for_repnet`` (-> [-1, 1]):
  the one preprocessing, shared by counting, training and the exported models.
* ``CountResult``: what both return and the CLI prints (count, per-frame periodicity, period and
  cumulative count, rep boundaries with timestamps, a plot).
"""
from movinet_crossfit.counting.repnet import (CountOptions, CountResult, Rep, count_frames, count_video,
                                              keras_runner, plot_count, preprocess_for_repnet, scale_for_repnet)

__all__ = ["CountOptions", "CountResult", "Rep", "count_frames", "count_video", "keras_runner", "plot_count",
           "preprocess_for_repnet", "scale_for_repnet"]
