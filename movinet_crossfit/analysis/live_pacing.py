"""How far a live analysis is behind a source that comes at its own pace (a camera, a live stream,
a file played with ``--realtime``): ``Pacing`` measures it frame by frame from when each frame was
due (``core.capture``'s ``arrived_at``), ``behind_note`` and ``Pacing.held_back_note`` word the
result's notes, ``speed_hint`` what would make the pipeline faster (docs/live.md, "Falling behind").
"""
from __future__ import annotations

import time

__all__ = ["BEHIND_NOTE_S", "BEHIND_SHOW_S", "Pacing", "behind_note", "speed_hint"]

# A camera, a stream or a file played at its own pace faster than the analysis: the display says
# how far behind the source it is from BEHIND_SHOW_S on, and the result notes it from BEHIND_NOTE_S.
BEHIND_SHOW_S = 1.0
BEHIND_NOTE_S = 2.0


def speed_hint(pose_fps: float, person) -> str:
    """What would make the live pipeline faster, from the settings it ran with ("" when neither)."""
    ways = (["--pose-fps 15"] if pose_fps > 15 else []) + (["--person first"] if str(person) != "first" else [])
    return f"{' or '.join(ways)} is faster" if ways else ""


def behind_note(worst_s: float | None, worst_at_s: float, last_s: float, rate: float, fps: float, interrupted: bool,
                hint: str) -> str | None:
    """The result's note on a source that came at its own pace and outran the analysis: how far
    behind it fell at worst (``worst_s``, ``worst_at_s`` seconds of video in), the frames per second
    analysed (``rate``) against the source's (``fps``) with ``hint`` when slower, and the last
    ``last_s`` seconds left unanalysed where an interrupt ended it behind."""
    if worst_s is None or worst_s < BEHIND_NOTE_S:
        return None
    said = (f"the analysis fell up to {worst_s:.1f} s behind the source ({worst_at_s:.0f} s in): the running count "
            "and verdicts came that much late")
    if rate < 0.95 * fps:
        said += f"; it analysed {rate:.1f} frames/s against the source's {fps:.1f}" + (f" ({hint})" if hint else "")
    if interrupted and last_s >= 0.5:
        said += f"; the last {last_s:.1f} s before the stop were not analysed"
    return said


class Pacing:
    """How far the analysis is behind a source that comes at its own pace (``core.capture``'s
    ``paced``): how long ago the frame just analysed was due, the worst of it and when. A frame is
    due when it came, or, where frames came faster than their rate (the start-up's backlog: frames
    that came while BlazePose loaded, a stream's first frames together once ffmpeg has probed it),
    when its place in the stream says: frame n is due ``n / fps`` after a schedule's start, which is
    the first analysed frame's time at first and moves earlier whenever the analysis gets ahead of
    it (``min`` over frames of their analysis time less ``n / fps``). So the start-up's backlog is not
    falling behind, and once the analysis has caught up every later delay counts whole. A source
    whose frames all came in under half their duration (a short file served over HTTP) was not paced
    after all: nothing is said of it. A source that says a lower frame rate than it sends hides its
    delay (its frames look early)."""

    def __init__(self, paced: bool):
        self.paced, self.hint = paced, ""
        self.behind = self.worst = self.worst_at = 0.0
        self._first = self._first_arrived = self._last_arrived = self._last = self._origin = None
        self._frames = (0, 0)  # the frame count at the first and the last measure

    def analysed(self, arrived: float | None, frames: int, fps: float) -> None:
        if not self.paced or arrived is None:
            return
        self._last = time.monotonic()
        if self._first is None:
            self._first, self._first_arrived, self._frames = self._last, arrived, (frames, frames)
        self._frames = (self._frames[0], frames)
        self._last_arrived = arrived
        placed = self._last - frames / fps  # the schedule's start if this frame were on time
        self._origin = placed if self._origin is None else min(self._origin, placed)
        due = max(arrived, self._origin + frames / fps)
        self.behind = max(0.0, self._last - due)
        if self.behind > self.worst:
            self.worst, self.worst_at = self.behind, frames / fps

    def shown(self, state: dict) -> dict:
        """A display's state with how far behind the source the analysis is, and what is faster."""
        if self.paced:
            state["behind_s"], state["speed_hint"] = round(self.behind, 2), self.hint
        return state

    def settle(self, fps: float) -> None:
        """The stream ended: a source whose frames all came in under half their duration was not paced."""
        analysed = self._frames[1] - self._frames[0]
        if self.paced and self._first is not None and analysed >= fps and \
                self._last_arrived - self._first_arrived < 0.5 * analysed / fps:
            self.paced = False

    def note(self, fps: float, interrupted: bool) -> str | None:
        if not self.paced or self._first is None:
            return None
        seconds = self._last - self._first
        rate = (self._frames[1] - self._frames[0]) / seconds if seconds > 0 else fps
        return behind_note(self.worst, self.worst_at, self.behind, rate, fps, interrupted, self.hint)

    def held_back_note(self, capture, fps: float) -> str | None:
        """The frames waiting filled what may wait (``capture.queue_frames``) after the start-up: the
        source was held back (``capture.held_back_s`` in all, from ``capture.held_back_at``), and
        how far behind is not measured whole there."""
        if not self.paced or self._first is None or not capture.held_back_s:
            return None
        waiting = capture.queue_frames or 0
        return (f"from {max(0.0, capture.held_back_at - self._first_arrived):.0f} s in, the frames came faster than "
                f"they were analysed for longer than {waiting} of them ({waiting / fps:.1f} s) may wait: the source "
                f"was held back for {capture.held_back_s:.1f} s in all (a camera drops frames then, and the frames "
                "before a gap are repeated to keep its clock, as a live stream's that says its rate; another stream "
                "falls further behind than measured)")
