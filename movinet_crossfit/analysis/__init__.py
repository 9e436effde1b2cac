"""One video in, one result out: THE analysis (``footage``), which the CLI's ``analyze``, the app,
the Lambda handler and the notebook share.

Layer: above the model families (``movinet``, ``repnet``), below ``app``, ``serverless`` and the CLI.
Nothing in it imports TensorFlow, Dash or the app; TensorFlow runs only if the models passed in
need it (``PredictMovement``, a Keras counter).

* ``inputs``: what arrives from outside: ``safe_name``, ``format_mb``, ``decoded_size`` and
  ``check_video`` (the content check whose probe the analysis is then given).
* ``movement``: ``PredictMovement`` (``movinet.predict``, TensorFlow preprocessing; clips and
  timelines) and ``NumpyMovement`` (TFLite + ``numpy_preprocess``; clips, no TensorFlow).
* ``counter``: ``Counter`` / ``load_counter`` (RepNet weights or export); ``Counter.count_beside``
  is RepNet's count next to the pose count (the app and the handler with a counter).
* ``flow``: the shared pieces: ``ProgressFn``, ``user_names`` (errors name the sender's file), and
  when a long video is streamed through a MoViNet export.
* ``footage``: ``analyse_footage(path)`` -> ``FootageAnalysis``: real footage from poses (BlazePose,
  the pose counter, ``judging``): movement, reps and each rep's verdict; ``to_dict()`` is
  docs/analyze.md's JSON.
* ``live``: ``LiveSession`` (frames pushed one at a time -> each rep reported and judged as it
  ends; ``finish()`` -> the ``FootageAnalysis`` ``analyse_footage`` gives for the same frames) and
  ``run_live`` (a camera, a stream or a file through it: the ``live`` command).
* ``overlay``: ``write_overlay`` (the video with skeleton, rep numbers and verdicts) and
  ``rep_thumbnails`` (each rep's deciding frame as a JPEG).
"""
from movinet_crossfit.analysis.counter import Counter, load_counter
from movinet_crossfit.analysis.flow import DEFAULT_CLIP_SECONDS, ProgressFn, user_names
from movinet_crossfit.analysis.inputs import NotAVideoError, check_video, decoded_size, format_mb, safe_name
from movinet_crossfit.analysis.footage import FootageAnalysis, analyse_footage, analyse_poses
from movinet_crossfit.analysis.live import LiveEvent, LiveSession, run_live
from movinet_crossfit.analysis.movement import NumpyMovement, PredictMovement
from movinet_crossfit.analysis.overlay import rep_thumbnails, write_overlay

__all__ = ["Counter", "DEFAULT_CLIP_SECONDS", "FootageAnalysis", "LiveEvent", "LiveSession", "NotAVideoError",
           "NumpyMovement", "PredictMovement", "ProgressFn", "analyse_footage", "analyse_poses", "check_video",
           "decoded_size", "format_mb", "load_counter", "rep_thumbnails", "safe_name", "user_names",
           "run_live", "write_overlay"]
