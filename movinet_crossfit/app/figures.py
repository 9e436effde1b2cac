"""Plotly figures of an ``Analysis``: class probabilities, count over time, movement timeline."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from movinet_crossfit.app.analysis import Analysis

# Enough points for a smooth line on a page; a long video's per-frame arrays are thinned to this.
MAX_POINTS = 1500
_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=40), font=dict(size=13))
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf")


def _thin(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int)) if n else np.zeros(0, int)


def probabilities_figure(analysis: Analysis) -> go.Figure:
    """Every class's probability, largest on top, the winner highlighted."""
    items = sorted(analysis.probabilities.items(), key=lambda kv: kv[1])
    names, values = [k for k, _ in items], [v for _, v in items]
    colours = ["#d62728" if name == analysis.label else "#9bb7d4" for name in names]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colours,
                           text=[f"{v:.1%}" for v in values], textposition="auto",
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    title = "probability per movement" + (" (mean over the timeline's windows)" if analysis.mode == "timeline" else "")
    fig.update_layout(title=title, xaxis=dict(range=[0, 1], tickformat=".0%"),
                      height=max(220, 34 * len(names) + 90), **_LAYOUT)
    return fig


def count_figure(count) -> go.Figure:
    """Periodicity (and the 0.5 threshold) above, the cumulative count below, reps marked."""
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


def timeline_figure(timeline) -> go.Figure:
    """Each class's probability per window over time, and the merged segments as a band."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.06)
    centres = [(w.start + w.end) / 2 for w in timeline.windows]
    for index, name in enumerate(timeline.classes):
        fig.add_trace(go.Scatter(x=centres, y=[w.probabilities[index] for w in timeline.windows],
                                 mode="lines+markers", name=name, line=dict(color=_COLOURS[index % 10]),
                                 marker=dict(size=4)), row=1, col=1)
    for seg in timeline.segments:
        colour = _COLOURS[timeline.classes.index(seg.label) % 10]
        fig.add_trace(go.Bar(x=[seg.end - seg.start], base=[seg.start], y=["segments"], orientation="h",
                             marker_color=colour, showlegend=False, text=[seg.label], textposition="inside",
                             hovertemplate=f"{seg.label} {seg.start:.1f}-{seg.end:.1f} s ({seg.probability:.2f})"
                                           "<extra></extra>"), row=2, col=1)
    fig.update_yaxes(range=[0, 1.02], title_text="probability", row=1, col=1)
    fig.update_yaxes(showticklabels=False, row=2, col=1)
    fig.update_xaxes(title_text="time (s)", range=[0, max(timeline.duration, 1e-3)], row=2, col=1)
    fig.update_layout(title=f"movement over time: {timeline.window_seconds:g} s windows every "
                            f"{timeline.stride_seconds:g} s", height=360, barmode="overlay", **_LAYOUT)
    return fig
