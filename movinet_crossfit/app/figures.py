"""Plotly figures of a result: the pace of the set, the model's movement, RepNet's count, and a
camera session's count over time.

The pace and the model's chart are drawn from the result's JSON form (``FootageAnalysis.to_dict()``,
what the Lambda handler answers too), so they show exactly what the JSON says.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Enough points for a smooth line on a page; a long video's per-frame arrays are thinned to this.
MAX_POINTS = 1500
_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=40), font=dict(size=13))
# What a rep's verdict looks like, in the table and on the chart.
VERDICTS = {True: ("valid", "#2ca02c", "circle"), False: ("no rep", "#d62728", "x"),
            None: ("can't tell", "#8c8c8c", "circle-open")}


def _thin(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int)) if n else np.zeros(0, int)


def seconds_per_rep(result: dict) -> list[float]:
    """Each rep's seconds: the JSON's ``pace.seconds_per_rep`` (one per rep), else each rep's length."""
    reps = result.get("reps") or []
    pace = (result.get("pace") or {}).get("seconds_per_rep") or []
    if len(pace) == len(reps):
        return [float(s) for s in pace]
    return [float(rep["end_s"]) - float(rep["start_s"]) for rep in reps]


def pace_figure(result: dict) -> go.Figure:
    """Seconds per rep over the set, one marker per rep coloured by its verdict (no-reps a red x),
    the median as a dotted line."""
    reps = result.get("reps") or []
    seconds = seconds_per_rep(result)
    fig = go.Figure()
    if reps:  # first, so the markers are drawn over it
        fig.add_trace(go.Scatter(x=[r["index"] for r in reps], y=seconds, mode="lines", showlegend=False,
                                 line=dict(color="#9bb7d4", width=1), hoverinfo="skip"))
    for valid, (name, colour, symbol) in VERDICTS.items():
        chosen = [i for i, rep in enumerate(reps) if rep.get("valid") is valid]
        if not chosen:
            continue
        fig.add_trace(go.Scatter(
            x=[reps[i]["index"] for i in chosen], y=[seconds[i] for i in chosen], mode="markers", name=name,
            marker=dict(color=colour, symbol=symbol, size=11 if valid is False else 9, line=dict(width=2)),
            customdata=[[reps[i]["start_s"], reps[i].get("reason") or ""] for i in chosen],
            hovertemplate="rep %{x}: %{y:.2f} s (from %{customdata[0]:.1f} s)<br>" + name
                          + " %{customdata[1]}<extra></extra>"))
    if reps:
        median = float(np.median(seconds))
        fig.add_hline(y=median, line=dict(color="#999", dash="dot"),
                      annotation_text=f"median {median:.2f} s", annotation_position="top left")
    fig.update_xaxes(title_text="rep", dtick=1 if len(reps) <= 30 else None, rangemode="tozero")
    fig.update_yaxes(title_text="seconds per rep", rangemode="tozero")
    fig.update_layout(title="pace: seconds per rep over the set", height=320,
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"), **_LAYOUT)
    return fig


def model_figure(model_movement: dict) -> go.Figure:
    """The movement model's likeliest classes (``model_movement.top_k``), the winner highlighted."""
    top = sorted(((str(c), float(p)) for c, p in model_movement.get("top_k") or []), key=lambda kv: kv[1])
    names, values = [k for k, _ in top], [v for _, v in top]
    colours = ["#d62728" if name == model_movement.get("label") else "#9bb7d4" for name in names]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colours,
                           text=[f"{v:.1%}" for v in values], textposition="auto",
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_layout(title="movement model: likeliest movements", xaxis=dict(range=[0, 1], tickformat=".0%"),
                      height=max(200, 34 * len(names) + 90), **_LAYOUT)
    return fig


def count_figure(count) -> go.Figure:
    """RepNet's count (``repnet.infer.CountResult``): periodicity (and the 0.5 threshold) above, the
    cumulative count below, reps marked."""
    n = int(count.num_frames)
    keep = _thin(n)
    fps = count.fps or 30.0
    times = keep / fps
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("periodicity", "count so far"))
    fig.add_trace(go.Scatter(x=times, y=np.asarray(count.periodicity)[keep], mode="lines", name="periodicity",
                             line=dict(color="#1f77b4")), row=1, col=1)
    fig.add_hline(y=0.5, line=dict(color="#999", dash="dot"), row=1, col=1)
    fig.add_trace(go.Scatter(x=times, y=np.asarray(count.cumulative)[keep], mode="lines", name="count",
                             line=dict(color="#d62728", shape="hv")), row=2, col=1)
    if count.reps:
        ends = [rep.end_time for rep in count.reps]
        fig.add_trace(go.Scatter(x=ends, y=[rep.index for rep in count.reps], mode="markers", name="rep done",
                                 marker=dict(color="#d62728", size=7),
                                 hovertemplate="rep %{y} ends at %{x:.2f} s<extra></extra>"), row=2, col=1)
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_yaxes(range=[0, max(1.0, float(count.count)) * 1.08], row=2, col=1)
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(height=380, showlegend=False, **_LAYOUT)
    return fig


def live_figure(result: dict, events: list[dict]) -> go.Figure:
    """A camera session's count over time (``live.CameraSession.stop()``'s answer): the running count
    as the page showed it (ending on the final count, as the page does at Stop), the final reps
    counted as each ended (the best a live count could do) and a period later (the median seconds
    per rep: the goal), a marker per rep reported live in its live verdict's colour, a ring on each
    final rep whose verdict the end changed, and a dotted line where the running movement changed
    (unless the movement was named); the title says how long after its end each rep was shown
    (median)."""
    from movinet_crossfit.analysis.live_plot import movement_spans, reach_delays, verdicts_changed

    ends = [float(rep["end_s"]) for rep in result.get("reps") or []]
    shown = [e for e in events if e.get("kind") == "rep" and e.get("reported_at_s") is not None]
    when, counts = [float(e["reported_at_s"]) for e in shown], [int(e["count"]) for e in shown]
    last = max([float(result.get("duration") or 0.0), *when, *ends, 0.0])
    period = (result.get("pace") or {}).get("median_s")
    fig = go.Figure()

    def steps(times, name, values=None, **line):  # a count over time, ending on the final count
        y = list(range(1, len(times) + 1)) if values is None else values
        fig.add_trace(go.Scatter(x=[0.0, *times, last], y=[0, *y, len(ends)], mode="lines", name=name,
                                 line=dict(shape="hv", **line), hoverinfo="skip"))

    steps(ends, "final reps, as each ended", color="#999", dash="dash", width=1.5)
    if period:
        steps([end + float(period) for end in ends], "a period later (the goal)", color="#ccc", dash="dot", width=1.5)
    steps(when, "running count, as shown", values=counts, color="#1f77b4", width=2.5)
    for valid, (name, colour, symbol) in VERDICTS.items():
        chosen = [e for e in shown if e.get("valid") is valid]
        if chosen:
            fig.add_trace(go.Scatter(
                x=[float(e["reported_at_s"]) for e in chosen], y=[int(e["count"]) for e in chosen], mode="markers",
                name=name, marker=dict(color=colour, symbol=symbol, size=9, line=dict(width=2)),
                customdata=[[e.get("t_s"), e.get("rep")] for e in chosen],
                hovertemplate="rep %{customdata[1]} (ended at %{customdata[0]:.1f} s) shown at %{x:.1f} s"
                              "<extra></extra>"))
    changed = [k for k in verdicts_changed(events) if 1 <= k <= len(ends)]
    if changed:
        fig.add_trace(go.Scatter(x=[ends[k - 1] for k in changed], y=changed, mode="markers",
                                 name="verdict changed at the end", customdata=changed,
                                 marker=dict(color="rgba(0,0,0,0)", symbol="circle-open", size=16,
                                             line=dict(color="#444", width=2)),
                                 hovertemplate="rep %{customdata}: the whole set changed its verdict<extra></extra>"))
    for start, _end, label, probability in movement_spans(events, result.get("movement_source"), last):
        fig.add_vline(x=start, line=dict(color="#888", dash="dot", width=1), annotation_position="bottom right",
                      annotation_text=label + (f" {probability:.2f}" if probability is not None else ""),
                      annotation_font=dict(size=11, color="#555"))
    delays = reach_delays(ends, when, counts, last)
    title = (f"the count over the session: each rep shown a median {float(np.median(delays)):.2f} s after it ended"
             if delays else "the count over the session: no rep counted")
    fig.update_xaxes(title_text="time (s)", rangemode="tozero")
    fig.update_yaxes(title_text="reps", rangemode="tozero")
    fig.update_layout(title=title, height=320,
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"), **_LAYOUT)
    return fig
