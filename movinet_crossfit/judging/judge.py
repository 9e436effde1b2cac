"""Rep-by-rep judging: every rep checked against every standard of its movement.

A rep's frames come from the counter, whose bounds run from one extreme of *its* signal to the
next, not necessarily where the movement's rep starts. So when the movement names its ``turn``
(the bottom of a squat, the top of a pull), the rep is judged on one typical rep's length (the
median of ``reps``) placed around its turn as the movement's rep is (``at``: the share of the rep
before the turn), the turn being the one whose window covers most of the counted rep: the same
frames whatever the counter's phase. Without a turn, the bounds widened by ``WIDEN`` of the rep's
length on both sides are judged. A standard with ``part: before`` / ``after`` looks only at the
frames before / after the turn.

The rep is valid when every standard passes, a no-rep when one fails (the clearest miss is the
reason), and unjudged (``valid=None``) when none fails but one cannot be told: its joints hidden,
or the camera angle hiding it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.signal import find_peaks

from movinet_crossfit.core.metrics import Rep
from movinet_crossfit.judging.body import Body, combine_sides
from movinet_crossfit.judging.conditions import decide, view_blocks
from movinet_crossfit.judging.standards import MovementStandard, Standard, Standards, Turn, load_standards
from movinet_crossfit.judging.verdict import Check, RepVerdict
from movinet_crossfit.pose.sequence import PoseSequence

WIDEN = 0.15
PROMINENCE = 0.3  # a turn stands out by this share of the range of its point near the rep


@dataclass
class Window:
    """Frames ``a..b`` (inclusive) judged for one rep; ``turn`` its turning frame, or None."""

    a: int
    b: int
    turn: int | None = None

    def part(self, part: str) -> tuple[int, int]:
        if self.turn is None or part == "rep":
            return self.a, self.b
        return (self.a, self.turn) if part == "before" else (self.turn, self.b)


def rep_window(rep: Rep, frames: int, widen: float = WIDEN) -> tuple[int, int]:
    """The frames ``a..b`` (inclusive) of ``rep`` widened by ``widen`` of its length (at least one
    frame) on both sides, kept in the video."""
    start, end = int(rep.start_frame), int(rep.end_frame)
    pad = max(1, int(round(widen * (end - start + 1))))
    return max(0, start - pad), min(frames - 1, end + pad)


def rep_windows(body: Body, reps: Sequence[Rep], turn: Turn | None, widen: float = WIDEN) -> list[Window]:
    """The window judged for each rep (see the module docstring)."""
    frames = body.frames
    if not reps:
        return []
    if turn is None:
        return [Window(*rep_window(rep, frames, widen)) for rep in reps]
    length = max(2, int(round(float(np.median([int(r.end_frame) - int(r.start_frame) + 1 for r in reps])))))
    before = int(round(turn.at * length))
    height = combine_sides(body.points[turn.point][..., 1], body.weight[turn.point])  # image y: down
    depth = height if turn.lowest else -height
    out = []
    for rep in reps:
        centre = _turn_frame(depth, int(rep.start_frame), int(rep.end_frame), length, before)
        if centre is None:  # the point is never seen: the rep's own bounds, widened
            out.append(Window(*rep_window(rep, frames, widen)))
            continue
        lo, hi = centre - before, centre - before + length - 1
        if lo < 0:  # at an end of the video, keep the length on the other side
            lo, hi = 0, min(frames - 1, hi - lo)
        if hi > frames - 1:
            lo, hi = max(0, lo - (hi - frames + 1)), frames - 1
        out.append(Window(lo, hi, centre))
    return out


def _turn_frame(depth: np.ndarray, start: int, end: int, length: int, before: int) -> int | None:
    """The turn of the rep ``start..end``: among the peaks of ``depth`` near the rep that stand out
    by ``PROMINENCE`` of its range there, the one whose window (``before`` frames before it,
    ``length`` in all) covers most of the rep, the deeper on a tie; a shallow rep's own turn so wins
    over a deeper neighbour's. When no peak's window covers half the rep (a rep with no turn of
    its own, a jump that did not happen), the turn is put where ``before`` puts it in the rep's
    bounds. None when the point is never seen near the rep."""
    lo = max(0, start - (length - before))
    hi = min(len(depth) - 1, end + before)
    span = depth[lo:hi + 1]
    seen = np.isfinite(span)
    if not seen.any():
        return None
    floor, deepest = float(np.nanmin(span)), float(np.nanmax(span))
    filled = np.interp(np.arange(len(span)), np.flatnonzero(seen), span[seen])
    smooth = np.convolve(np.pad(filled, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    # A range edge that is the video's own end may hold a turn: pad it with the floor.
    padded = np.concatenate([[floor] if lo == 0 else [], smooth, [floor] if hi == len(depth) - 1 else []])
    offset = 1 if lo == 0 else 0
    peaks, _ = find_peaks(padded, prominence=max(PROMINENCE * (deepest - floor), 1e-9), plateau_size=(1, None))
    peaks = [int(p) - offset for p in peaks if 0 <= int(p) - offset < len(span)]

    def covered(i: int) -> int:
        a = lo + i - before
        return max(0, min(end, a + length - 1) - max(start, a) + 1)

    need = 0.5 * min(length, end - start + 1)
    good = [i for i in peaks if covered(i) >= need]
    if good:
        return lo + max(good, key=lambda i: (covered(i), smooth[i]))
    centre = (start + end) // 2 - (length // 2 - before)
    return int(min(max(centre, 0), len(depth) - 1))


def judge_standard(standard: Standard, body: Body, window: Window, torso: float) -> tuple[Check, float]:
    """One standard on a rep's window: its ``Check`` (passed None when it cannot be told) and the
    deciding frame's score in steps (how clearly it passed or missed)."""
    decision = decide(standard, body, *window.part(standard.part), torso)
    passed, detail = decision.passed, decision.detail
    if passed is False and standard.view and decision.frame is not None:
        blocked = view_blocks(standard.view, body, decision.frame)
        if blocked:
            passed, detail = None, f"{blocked} ({detail})"
    value = None if decision.value is None else round(decision.value, 3)
    return Check(standard.id, standard.text, passed, decision.frame, value, detail), decision.score


def _verdict(index: int, rep: Rep, window: Window, checks: list[Check], frames: int,
             scores: dict[str, float]) -> RepVerdict:
    failed = [c for c in checks if c.passed is False]
    unknown = [c for c in checks if c.passed is None]
    if failed:
        worst = min(failed, key=lambda c: scores.get(c.id, 0.0))
        valid, reason, decider = False, f"{worst.id}: {worst.text} (not met)", worst
    elif unknown:
        decider = unknown[0]
        valid, reason = None, f"{decider.id} not judged: {decider.detail}"
    else:
        decider = checks[-1]
        valid, reason = True, None
    frame = decider.frame if decider.frame is not None else int(rep.end_frame)
    frame = min(max(int(frame), 0), max(frames - 1, 0))
    return RepVerdict(index, int(rep.start_frame), int(rep.end_frame), valid, reason, frame, checks,
                      reason_id=decider.id if valid is not True else None, window_start=window.a,
                      window_end=window.b)


def judge_reps(poses: PoseSequence, reps: Sequence[Rep], movement: str | MovementStandard,
               standards: Standards | None = None, *, widen: float = WIDEN) -> list[RepVerdict]:
    """Judge each rep of ``poses`` (frames are pose indices) against ``movement``'s standards
    (a name or alias looked up in ``standards``, default the built-in ones, or the standards
    themselves). Works on either layout; keypoints without visibility count as seen."""
    if isinstance(movement, MovementStandard):
        move = movement
    else:
        move = (standards or load_standards()).get(movement)
    body = Body(poses)
    out = []
    for k, (rep, window) in enumerate(zip(reps, rep_windows(body, reps, move.turn, widen)), 1):
        torso = body.torso_length(window.a, window.b)
        checks, scores = [], {}
        for standard in move.standards:
            check, scores[standard.id] = judge_standard(standard, body, window, torso)
            checks.append(check)
        out.append(_verdict(getattr(rep, "index", k) or k, rep, window, checks, body.frames, scores))
    return out
