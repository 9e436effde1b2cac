"""The running count of a growing pose sequence (``OnlineCounter``), for the live session
(``analysis.live``). The pose counter is global (its period and typical swing come from the whole
sequence), so the running count is a re-count. Every ``RECOUNT_SECONDS`` of video the counter runs
on the last ``WINDOW_SECONDS`` of poses (of the person the tracker would choose now:
``PeopleTracker.provisional``), with ``COUNT_OPTIONS``: no secondary direction at a harmonic of the
body's period, which a short window would count at half the period. A window that finds no period
believed, or whose period jumped to a multiple of the last reported rep's (``JUMP_RATIO``), is
re-counted on its later half (on its last 3 s for a window of 4 to 6 s; a shorter one is not),
believed there only if clearly periodic, since movement before the set can hide the set's period.
A rep found is reported once its end lies ``GUARD_PERIODS`` periods behind the newest pose, its
middle after the last reported rep's end,
and two of the last few re-counts found it (each rep on its own evidence: an unsettled rep does not
hold back the next, and a fast movement's re-counts every ``MIN_RECOUNT_SECONDS`` keep up with it).
A rep found by counting large swings, before any period was believed, may span two fast reps: a
later periodic count that finds more reps in it reports the others (``SPLIT_PERIODS``).
A reported rep is never taken back (the live session's ``finish()`` reconciles it with the final
count). The window bounds the cost of a re-count, so a long stream costs time in proportion to its
length (docs/live.md has the measurements, docs/live-history.md how they got there).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

__all__ = ["COUNT_OPTIONS", "FINDING_RHYTHM", "OnlineCounter", "OnlineRep", "replay_counter"]

RECOUNT_SECONDS = 0.5  # video seconds between two re-counts at most
RECOUNT_PERIODS = 0.15  # ... or this share of the period found, when sooner
MIN_RECOUNT_SECONDS = 0.1  # ... but never more often than this (a re-count costs ~20 ms per 30 s window)
WINDOW_SECONDS = 30.0  # a re-count sees this many seconds of poses: its cost stays bounded
GUARD_PERIODS = 0.25  # a rep is reported once its end is this many periods behind the newest pose
MIN_GUARD_SECONDS = 0.05
CONFIRM = 2  # a rep is reported once this many re-counts found it (a glance can be wrong) ...
MEMORY = 3  # ... this one and any of the re-counts just before it
CONFIRM_PERIODS = 0.25  # ... with both ends within this share of the period (at least 2 poses)
MIN_PERIODS = 2.0  # a re-count is believed once its window holds this many of its periods
MIN_SCORE = 0.0  # ... and its periodicity is at least this
# A window that finds no believable period (movement before the set fills its first part) is
# re-counted on its later half, believed only when clearly periodic; a window of LATER_SECONDS +
# LATER_LEAD_SECONDS (4 s) up to 6 s on its last LATER_SECONDS, a shorter one not at all (at under
# ~3 fps the floors of 8 and 1 poses take over).
LATER_SECONDS = 3.0
LATER_LEAD_SECONDS = 1.0
LATER_MIN_SCORE = 0.5
# ... and so is a window whose period jumps to JUMP_RATIO times the last reported rep's or more: a
# multiple of the set's period, which a window holding the set-up or a rest as well can take (the
# set's reps are then missed until the period comes back).
JUMP_RATIO = 1.8
# Large swings (counted before any period is believed) are at least a second apart, so one of
# them can span two reps of a fast movement; a later periodic count that finds SPLIT_PERIODS of its
# period or more in such a rep, and more reps in it than were reported, reports the others.
SPLIT_PERIODS = 1.7
# The pace a display shows (``pace``): the newest believed re-count's period, while the latest rep
# end any believed re-count found is under RHYTHM_SECONDS or RHYTHM_PERIODS of that period old; else
# none: not repeated yet, or stopped.
RHYTHM_SECONDS = 3.0
RHYTHM_PERIODS = 2.5
# ... and what it says then: why the count stays at 0 through a set's first reps, or stands still.
FINDING_RHYTHM = "no rhythm yet, or resting: reps show once the movement repeats"
# The re-counts' counter settings (posecount.count.PoseCountConfig fields; the final count takes the
# defaults, as analyze does). A short window's secondary direction often repeats at half the period
# (a joint moving twice per rep) and ties the main one on periodicity: counted, it reports two reps
# per rep, so the re-counts leave such harmonics out (docs/live-history.md, session 11).
# The final count's step 8 (a stretch at a faster pace, counted on its own) is left out too: a
# 30-s window is local already, and in every re-count its windows made the RepCount replay over 6
# times slower (docs/live-history.md, session 19).
COUNT_OPTIONS: dict = {"skip_harmonics": True, "pace_min_score": 0.0}


@dataclass
class OnlineRep:
    """A rep the online counter reported: pose indices, inclusive; ``at``: the pose count then."""

    index: int
    start: int
    end: int
    period: float  # frames per rep of the count that found it
    at: int
    swings: bool = False  # found by counting large swings (no period believed yet)
    parts: int = 1  # reps of the running count this span stands for (a swings rep split later)


class OnlineCounter:
    """The running count of a growing pose sequence (see the module doc). ``due(n)``: whether a
    re-count is due with ``n`` poses; ``update(keypoints, start, n)``: re-count the window
    ``keypoints`` (poses ``start`` .. ``n - 1``) and return the reps that became safe to report."""

    def __init__(self, fps: float, layout: str = "mediapipe33", *, recount_s: float = RECOUNT_SECONDS,
                 window_s: float = WINDOW_SECONDS, guard_periods: float = GUARD_PERIODS, confirm: int = CONFIRM,
                 min_periods: float = MIN_PERIODS, min_score: float = MIN_SCORE,
                 count_options: dict | None = None, recount_later: bool = True, movement: str | None = None,
                 flip_rest: bool = False):
        self.fps, self.layout = float(fps), layout
        self.every = max(1, int(round(recount_s * self.fps)))
        self.least = max(1, int(round(MIN_RECOUNT_SECONDS * self.fps)))
        self.window = max(8, int(round(window_s * self.fps)))
        self.guard_periods, self.confirm = guard_periods, max(1, int(confirm))
        self.min_periods, self.min_score = min_periods, min_score
        self.count_options = dict(COUNT_OPTIONS if count_options is None else count_options)
        # The user's movement places every re-count's rest side as it does the final count's.
        if movement:
            self.count_options["movement"] = movement
        if flip_rest:  # ... and its other convention (the look's side is the rest)
            self.count_options["flip_rest"] = True
        self.later = max(8, int(round(LATER_SECONDS * self.fps))) if recount_later else None
        self.lead = max(1, int(round(LATER_LEAD_SECONDS * self.fps)))
        self.reps: list[OnlineRep] = []
        self._last_end = -1  # the latest end of a reported rep
        self._swings: list[OnlineRep] = []  # reported large-swings reps a re-count may still split
        self.last_count = None  # the newest re-count (a PoseCount of the window)
        self.last_start = 0
        self._counted_at = 0
        # (start, end, re-counts that found it) of the last MEMORY re-counts
        self._recent: list[list[tuple[int, int, int]]] = []
        self.recounts = 0
        self.seconds = 0.0
        # (period, the latest rep end any believed re-count found): the newest believed re-count's
        self.rhythm: tuple[float, int] | None = None

    def due(self, n: int) -> bool:
        """A re-count every ``recount_s``, or every ``RECOUNT_PERIODS`` of the period found last
        when that is sooner (a fast movement's reps are reported within a period of their end)."""
        period = self.last_count.period if self.last_count is not None and self.last_count.period > 0 else 0.0
        every = min(self.every, max(self.least, int(RECOUNT_PERIODS * period))) if period else self.every
        return n - self._counted_at >= every

    def pace(self, n: int) -> float | None:
        """Seconds per rep of the newest believed re-count while the latest rep end any believed
        re-count found is recent (``RHYTHM_SECONDS``, or ``RHYTHM_PERIODS`` of the period, before
        pose ``n``); None otherwise: the movement has not repeated yet (a set's first reps are
        reported together once it has) or has stopped (a rest: the window still holds the set, but
        no rep ends). A tracker that chooses the person only at the end is counted only then: None
        until the end."""
        if self.rhythm is None:
            return None
        period, last_end = self.rhythm
        if n - 1 - last_end > max(RHYTHM_SECONDS * self.fps, RHYTHM_PERIODS * period):
            return None
        return period / self.fps

    def window_start(self, n: int) -> int:
        return max(0, n - self.window)

    def _believed(self, count, poses: int) -> bool:
        """A period found in a short stretch is biased short (the counter looks for at most half
        the sequence): believed once the stretch holds ``min_periods`` of it."""
        return bool(count.reps) and count.period > 0 and count.score >= self.min_score and \
            poses >= self.min_periods * count.period

    def window_count(self, keypoints: np.ndarray, start: int) -> tuple:
        """``(count, its first pose index, believed)``: the re-count of the window ``keypoints``
        (poses ``start`` on), on its later half when the whole window finds no period believed or
        one that jumped to a multiple of the last reported rep's (see the module doc)."""
        from movinet_crossfit.posecount.count import count_repetitions

        count = count_repetitions(keypoints, self.fps, self.layout, **self.count_options)
        believed = self._believed(count, len(keypoints))
        # The period of the last reported rep is the set's, as far as the reports go.
        reference = self.reps[-1].period if self.reps and not self.reps[-1].swings else 0.0
        jumped = believed and reference > 0 and count.period >= JUMP_RATIO * reference
        if (not believed or jumped) and self.later is not None:
            # Movement before the set (walking in, setting up) can hide the set's period from a
            # window that holds both, or make it find a multiple of it; its later part may hold
            # the set alone.
            cut = min(len(keypoints) // 2, len(keypoints) - self.later)
            if cut >= self.lead:
                later = count_repetitions(keypoints[cut:], self.fps, self.layout, **self.count_options)
                if later.score >= LATER_MIN_SCORE and self._believed(later, len(keypoints) - cut):
                    count, start, believed = later, start + cut, True
        return count, start, believed

    def update(self, keypoints: np.ndarray, start: int, n: int) -> list[OnlineRep]:
        started = time.perf_counter()
        self._counted_at = n
        count, start, believed = self.window_count(keypoints, start)
        self.last_count, self.last_start = count, start
        self.recounts += 1
        if believed:  # the latest rep end any re-count found (one that misses the newest rep does not flicker it)
            latest = max(start + count.reps[-1].end_frame, self.rhythm[1] if self.rhythm else -1)
            self.rhythm = (float(count.period), latest)
        new = []
        candidates = []
        if believed:
            swings = count.method == "swings"
            guard = max(MIN_GUARD_SECONDS * self.fps, self.guard_periods * count.period)
            tolerance = max(2.0, CONFIRM_PERIODS * count.period)
            last_end = self._last_end
            self._swings = [r for r in self._swings if r.end >= start]  # only the window's can be split
            inside: dict[int, int] = {}  # reported swings rep -> this count's reps seen in it
            for rep in count.reps:
                a, b = start + rep.start_frame, start + rep.end_frame
                if b > n - 1 - guard:
                    break
                split = None
                if (a + b) / 2 <= last_end:
                    # Reported already (its bounds may have moved a little), unless a periodic
                    # count finds more reps in the span of a rep the large swings found.
                    split = next((r for r in self._swings if r.start <= (a + b) / 2 <= r.end
                                  and r.end - r.start >= SPLIT_PERIODS * count.period), None)
                    if swings or split is None:
                        continue
                    inside[split.index] = inside.get(split.index, 0) + 1
                    if inside[split.index] <= split.parts:
                        continue
                # Found before by one of the last few re-counts (one that glanced past it in
                # between does not start it over; fast movements flicker between re-counts).
                seen = 1 + max((hits for earlier in self._recent for c, d, hits in earlier
                                if abs(c - a) <= tolerance and abs(d - b) <= tolerance), default=0)
                candidates.append((a, b, seen))
                # Each rep on its own evidence: one the re-counts disagree on does not hold back
                # the next (it is left to the end, which reconciles).
                if seen >= self.confirm:
                    found = OnlineRep(len(self.reps) + 1, a, b, float(count.period), n, swings=swings)
                    self.reps.append(found)
                    new.append(found)
                    if split is not None:
                        split.parts += 1
                    if swings:
                        self._swings.append(found)
                    last_end = self._last_end = max(last_end, b)
        self._recent = (self._recent + [candidates])[-MEMORY:]
        self.seconds += time.perf_counter() - started
        return new


def replay_counter(keypoints: np.ndarray, fps: float, layout: str = "mediapipe33", *, movement: str | None = None,
                   flip_rest: bool = False, **options):
    """A known pose sequence played as if live: ``(OnlineCounter after the last pose, the final
    PoseCount)``: what a ``LiveSession`` reports and counts for these poses, without the poses'
    cost (benchmarks/bench_live.py on the RepCount pose files, the tests). ``movement``: the
    user's, as ``LiveSession(movement=)`` passes it (``flip_rest``: as ``LiveSession(flip_rest=)``)."""
    from movinet_crossfit.posecount.count import count_repetitions

    keypoints = np.asarray(keypoints)
    counter = OnlineCounter(fps, layout, movement=movement, flip_rest=flip_rest, **options)
    for n in range(1, len(keypoints) + 1):
        if counter.due(n):
            start = counter.window_start(n)
            counter.update(keypoints[start:n], start, n)
    return counter, count_repetitions(keypoints, fps, layout, movement=movement, flip_rest=flip_rest)
