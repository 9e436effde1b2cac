"""What every analysis of a video shares: progress callbacks, errors that name the sender's file,
and when a long video is streamed through a movement model.

``analysis.footage.analyse_footage`` is THE analysis (the CLI's ``analyze``, the app, the Lambda
handler, the notebook); these are its pieces that the app and the handler use too.

A short video is one clip for a MoViNet export, the way the training clips were cut (one or two
repetitions). One longer than ``DEFAULT_CLIP_SECONDS``, or too big to decode whole (4K at 60 fps),
is streamed through the model's timeline instead (memory: one window).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Callable, Iterator

from movinet_crossfit.core import video
from movinet_crossfit.core.errors import UserError

log = logging.getLogger("movinet_crossfit.analysis")

ProgressFn = Callable[[str, float], None]  # (what is happening, fraction done in [0, 1])

DEFAULT_CLIP_SECONDS = 4.0
# A "short" video that would still need more than this to decode whole (4K at 60 fps) is streamed.
MAX_DECODE_BYTES = 768 * 2**20
TOP_K = 5


@contextlib.contextmanager
def user_names(path: Path, name: str) -> Iterator[None]:
    """Errors about the temp file ``path`` name the file the user sent (``name``) instead."""
    try:
        yield
    except UserError as exc:
        message = str(exc).replace(str(path), name)
        try:
            renamed = type(exc)(message)
        except TypeError:  # a subclass with another signature: the message is what matters
            renamed = UserError(message)
        raise renamed from exc


def needs_timeline(info: video.VideoInfo, clip_seconds: float | None) -> bool:
    """Longer than ``clip_seconds`` (``None``: never), or too big to decode whole."""
    if clip_seconds is None:
        return False
    return info.duration > clip_seconds or info.num_frames * info.width * info.height * 3 > MAX_DECODE_BYTES
