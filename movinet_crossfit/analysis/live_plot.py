"""A live session on one picture (``live --plot``): when the running count reached each rep against
when the rep ended, over the counted movement, so a coach can see at a glance how far behind the
athlete the count ran, and which reps came only with the stream's end.

``rep_delays(run)``: per final rep, seconds from its end to the moment the running count reached its
number (negative: the count got there early; docs/live.md measures the same on RepCount).
``describe(run)``: the picture's one-line verdict on timeliness. ``plot_live(run, png)``: the picture.
``movement_spans`` and ``verdicts_changed``: the running movement and the verdicts the end changed,
shared with the app's camera card.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np

from movinet_crossfit.analysis.live import listed

__all__ = ["describe", "movement_spans", "plot_live", "reach_delays", "rep_delays", "session_figure",
           "verdicts_changed"]

MAX_LABELS = 60  # rep numbers on the picture at most (a long session's are thinned)
VERDICT_COLOURS = {True: "tab:green", False: "tab:red", None: "0.6"}


def _steps(run) -> tuple[np.ndarray, np.ndarray]:
    """The running count as the display showed it: (when, count), one step per rep event."""
    reps = [e for e in run.events if e.kind == "rep"]
    when = np.array([e.reported_at_s for e in reps], float)
    count = np.array([e.count for e in reps], float)
    return when, count


def reach_delays(ends, when, count, end_time: float) -> list[float]:
    """Per final rep k (``ends``: their end times, in time order): seconds from its end until the
    running count (``count`` shown from ``when`` on, one per rep event) first showed k or more;
    ``end_time`` for a rep it never showed. Shared by the picture and the app's camera card."""
    when, count = np.asarray(when, float), np.asarray(count, float)
    delays = []
    for k, end in enumerate(ends, 1):
        reached = when[count >= k]
        delays.append(float((reached.min() if len(reached) else end_time) - end))
    return delays


def movement_spans(events, movement_source: str | None,
                   end_time: float) -> list[tuple[float, float, str, float | None]]:
    """The running movement as a display showed it: ``(from_s, to_s, label, probability)`` per
    ``movement`` event (``events``: ``LiveEvent``s or their dicts), each until the next change or
    ``end_time``; none where the user named the movement (``movement_source`` "user": the display
    showed that one throughout)."""
    if movement_source == "user":
        return []
    fields = [(e.get("kind"), e.get("reported_at_s"), e.get("movement"), e.get("probability")) if isinstance(e, dict)
              else (e.kind, e.reported_at_s, e.movement, e.probability) for e in events]
    changes = sorted(((float(at), label, p) for kind, at, label, p in fields
                      if kind == "movement" and label and at is not None), key=lambda c: c[0])
    ends = [c[0] for c in changes[1:]] + [end_time]
    return [(at, float(max(to, at)), label, probability) for (at, label, probability), to in zip(changes, ends)]


def verdicts_changed(events) -> list[int]:
    """The final rep numbers whose verdict the end changed from the one shown live (the ``end``
    event's ``verdicts_changed``); ``events``: ``LiveEvent``s or their dicts."""
    for event in reversed(list(events)):
        kind = event.get("kind") if isinstance(event, dict) else event.kind
        if kind == "end":
            detail = event if isinstance(event, dict) else event.detail
            return [int(k) for k in detail.get("verdicts_changed") or []]
    return []


def rep_delays(run) -> list[float]:
    """Per final rep k (time order): seconds from its end until the running count first showed k or
    more (the stream's end reports any rep the count had not reached, so every rep gets one)."""
    when, count = _steps(run)
    end_time = run.events[-1].reported_at_s if run.events else 0.0
    return reach_delays([v.end_frame / run.analysis.fps for v in run.analysis.reps], when, count, end_time)


def describe(run) -> str:
    """The picture's verdict on timeliness, one line: the median delay, how many reps came over a
    period late, and whether the end corrected the running count."""
    analysis = run.analysis
    period_s = analysis.count.period / analysis.pose_fps if analysis.count.period else 0.0
    delays = rep_delays(run)
    end = run.events[-1] if run.events and run.events[-1].kind == "end" else None
    reported = end.detail.get("reported", 0) if end is not None else 0
    if not delays:
        return f"no final rep (the running count showed {reported})" if reported else "no rep counted"
    median = float(np.median(delays))
    side = "after its end" if median >= 0 else "before its end (ahead)"
    said = f"the running count reached each rep a median {abs(median):.2f} s {side}"
    if period_s:
        over = sum(d > period_s for d in delays)
        said += f" ({abs(median) / period_s:.2f} periods); {over} of {len(delays)} over a period late"
    if end is not None and end.detail.get("corrected"):
        said += f"; it said {reported} live, corrected at the end"
    if any(e.kind == "rep" and e.detail.get("late") for e in run.events):
        said += "; x: reported only at the end"
    changed = verdicts_changed(run.events)
    if changed:
        said += f"; *: verdict changed at the end (rep{'s' if len(changed) > 1 else ''} {listed(changed)})"
    return said


def plot_live(run, png: str | os.PathLike, title: str = "") -> Path:
    """``session_figure(run, title)`` written to ``png`` (.png, .svg or .pdf), atomically."""
    from movinet_crossfit.core.fileio import save_figure

    return save_figure(session_figure(run, title), png)


def session_figure(run, title: str = ""):
    """The matplotlib figure of ``plot_live``. Top: the final count's movement signal, each final rep
    shaded in its verdict's colour and numbered (``*`` and hatched: the end changed the verdict shown
    live), and the running movement as it was shown (a dotted line where it changed; not drawn
    when the movement was named, the display showing that one throughout). Bottom: the
    running count over video time (ending on the final count, as the display does) beside the final
    reps counted as each ends (the best a live count could do) and a period later (the goal:
    docs/live.md), with a mark where each rep was reported live in its live verdict's colour (x: only
    the stream's end reported it). Title: ``describe(run)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    analysis = run.analysis
    count, fps = analysis.count, analysis.fps
    duration = max(analysis.info.duration or 0.0, run.events[-1].reported_at_s if run.events else 0.0)
    period_s = count.period / analysis.pose_fps if count.period else 0.0
    # A long session: every k-th rep numbered, smaller marks (600 labels overprint into a band).
    label_every = max(1, int(np.ceil(len(analysis.reps) / MAX_LABELS)))
    mark = 5 if len(analysis.reps) <= MAX_LABELS else 2
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True, constrained_layout=True,
                                      gridspec_kw={"height_ratios": [1.4, 1]})
    t = np.arange(len(count.signal)) / analysis.pose_fps
    top.plot(t, count.signal, color="tab:purple", lw=1.2)
    changed = set(verdicts_changed(run.events))
    for verdict in analysis.reps:
        a, b = verdict.start_frame / fps, verdict.end_frame / fps
        top.axvspan(a, b, color=VERDICT_COLOURS[verdict.valid], alpha=0.18)
        if verdict.index in changed:
            top.axvspan(a, b, fill=False, hatch="//", edgecolor=VERDICT_COLOURS[verdict.valid], lw=0)
        if verdict.index % label_every == 0 or verdict.index == 1 or verdict.index in changed:
            top.text(0.5 * (a + b), 1.0, f"{verdict.index}{'*' if verdict.index in changed else ''}", ha="center",
                     va="top", fontsize=8, transform=top.get_xaxis_transform())
    labelled = -np.inf  # a movement that keeps changing: a line at every change, a name at most every 5 %
    movements = movement_spans(run.events, analysis.movement_source, duration)
    for k, (start, _end, label, probability) in enumerate(movements):
        if start > 0:
            top.axvline(start, color="0.4", ls=":", lw=1)
        if start - labelled < 0.05 * (duration or 1.0):
            continue
        labelled = start
        top.text(start, 0.02, (" running movement: " if k == 0 else " ") + label
                 + (f" {probability:.2f}" if probability is not None else ""), fontsize=7, color="0.3", ha="left",
                 va="bottom", transform=top.get_xaxis_transform(),
                 bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1))
    top.set_ylabel("movement")
    judged = (f" ({analysis.valid_count} valid, {analysis.no_rep_count} no-rep, {analysis.unjudged_count} can't "
              "tell)") if analysis.standard else ""
    top.set_title((title + ": " if title else "") + f"{count.count} reps{judged}"
                  + (f", movement {analysis.movement}" if analysis.movement else ""), fontsize=10)

    ends = np.array([v.end_frame / fps for v in analysis.reps])
    bottom.step(np.r_[0.0, ends, duration], np.r_[0, np.arange(1, len(ends) + 1), len(ends)], where="post",
                color="0.5", ls="--", lw=1.2, label="final reps, as each ended")
    if period_s:
        bottom.step(np.r_[0.0, ends + period_s, duration], np.r_[0, np.arange(1, len(ends) + 1), len(ends)],
                    where="post", color="0.75", ls=":", lw=1.2, label="a period after each end (the goal)")
    when, shown = _steps(run)
    # The display ends on the final count (a running count that ran ahead steps down at the end).
    final_at = run.events[-1].reported_at_s if run.events else duration
    bottom.step(np.r_[0.0, when, final_at, duration], np.r_[0, shown, len(ends), len(ends)], where="post",
                color="tab:blue", lw=1.8, label="running count, as shown live")
    for event in (e for e in run.events if e.kind == "rep"):
        late = event.detail.get("late", False)
        bottom.plot(event.reported_at_s, event.count, "x" if late else "o", ms=mark,
                    color=VERDICT_COLOURS[event.valid])
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_ylabel("count")
    bottom.set_xlabel("video time (s)")
    bottom.set_xlim(0, duration or 1.0)
    bottom.legend(loc="upper left", fontsize=8, frameon=False)
    bottom.set_title(textwrap.fill(describe(run), 150), fontsize=9)  # a long verdict on two lines
    return fig
