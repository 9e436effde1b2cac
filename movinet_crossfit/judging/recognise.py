"""Which movement, from poses alone: every movement's ``signature`` scored on the reps (zero-shot).

Each signature clause is decided on each rep window like a standard and gives a soft fit in
[0, 1] (a logistic of its margin in steps); a movement's fit on a rep is its weakest clause's (a
signature lists what the movement cannot do without), and its score the median over the reps. The
best movement is named when its score reaches ``MIN_SCORE`` and beats the next by ``MIN_LEAD``;
otherwise the label is None ("nothing fits well"). Without reps the whole sequence is one window. Poses whose
joints jump more than ``MAX_JUMP`` torso lengths a frame (noise, a tracker hopping between people)
are not recognised at all.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from movinet_crossfit.core.metrics import Rep
from movinet_crossfit.judging.body import Body
from movinet_crossfit.judging.conditions import decide
from movinet_crossfit.judging.judge import Window, rep_windows
from movinet_crossfit.judging.standards import MovementStandard, Standards, load_standards
from movinet_crossfit.judging.verdict import MovementGuess
from movinet_crossfit.pose.sequence import PoseSequence

MIN_SCORE = 0.5
MIN_LEAD = 0.02
MAX_WINDOWS = 40  # reps scored at most (spread over the set): enough to know, bounded for long videos
MAX_JUMP = 0.5  # torso lengths a joint moves in a frame (median) beyond which the poses are not one body


def _jumpiness(body: Body) -> float:
    """The median distance a joint moves between two frames, in torso lengths (0 when unknown):
    a body moves a fraction of a torso a frame; points that jump further are not one body."""
    points = np.concatenate([body.points[name] for name in ("shoulder", "hip", "knee", "wrist")], axis=1)
    torso = body.torso_length(0, max(0, body.frames - 1))
    if len(points) < 2 or not np.isfinite(torso) or torso <= 0:
        return 0.0
    step = np.linalg.norm(np.diff(points, axis=0), axis=-1)
    step = step[np.isfinite(step)]
    return float(np.median(step) / torso) if step.size else 0.0


def movement_fit(move: MovementStandard, body: Body, window: Window) -> float:
    """How well a rep's window looks like ``move`` (0..1); NaN when nothing could be measured."""
    torso = body.torso_length(window.a, window.b)
    fits = []
    for clause in move.signature:
        decision = decide(clause, body, *window.part(clause.part), torso)
        if np.isfinite(decision.score):
            fits.append(max(decision.soft, 1e-6))
    if not fits or len(fits) < max(1, len(move.signature) // 2):
        return float("nan")
    return float(np.min(fits))


def recognise_movement(poses: PoseSequence, reps: Sequence[Rep], standards: Standards | None = None, *,
                       candidates: Sequence[str] | None = None) -> MovementGuess:
    """The movement ``poses`` show (see the module docstring). ``candidates``: the movement names
    to choose among (default: every movement of ``standards`` with ``recognise: true``)."""
    standards = standards or load_standards()
    if candidates is None:
        moves = [m for m in standards.movements.values() if m.recognise and m.signature]
    else:
        moves = [standards.get(name) for name in candidates]
    body = Body(poses)
    if body.frames == 0 or not poses.detected.any():
        return MovementGuess(None, 0.0, {}, "no pose found: no movement to recognise")
    jump = _jumpiness(body)
    if jump > MAX_JUMP:
        return MovementGuess(None, 0.0, {}, f"the joints jump {jump:.1f} torso lengths a frame: not one body moving")
    reps = list(reps) or [Rep(1, 0, max(0, body.frames - 1), 0.0, 0.0)]
    if len(reps) > MAX_WINDOWS:
        reps = [reps[i] for i in np.linspace(0, len(reps) - 1, MAX_WINDOWS).round().astype(int)]
    scores = {}
    for move in moves:
        fits = np.array([movement_fit(move, body, w) for w in rep_windows(body, reps, move.turn)])
        fits = fits[np.isfinite(fits)]
        scores[move.name] = round(float(np.median(fits)), 4) if fits.size else 0.0
    if not scores or body.frames == 0:
        return MovementGuess(None, 0.0, scores, "no movement to recognise")
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    best, score = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    if score < MIN_SCORE:
        return MovementGuess(None, score, scores, f"nothing fits well (best: {best} {score:.2f} < {MIN_SCORE})")
    if score - second < MIN_LEAD:
        return MovementGuess(None, score, scores, f"{best} and {ranked[1][0]} fit alike ({score:.2f}, {second:.2f})")
    runner_up = ranked[1][0] if len(ranked) > 1 else "-"
    return MovementGuess(best, score, scores,
                         f"{best} fits best ({score:.2f}; next {runner_up} {second:.2f}) over {len(reps)} rep(s)")
