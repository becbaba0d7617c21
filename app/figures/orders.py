"""Figures of order statistics: the expected decode step with its spread, the order entropy against its
uniform maximum, each policy's order NLL with its interval, and the label placement they share.

Pure functions: plain lists / arrays in, a ``go.Figure`` out; no streamlit, no state.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from app.figures.replay import EARLIER_BLUE, INK
from app.figures.style import HEIGHT, colour, layout


def rank_spread(mean_rank, std_rank, names: list[str], reference_order=None) -> go.Figure:
    """Expected decode step of each position (1 = first) with ±1 s.d. bars, sorted earliest first.

    ``reference_order`` (a list of positions) adds the task's reference step of each position."""
    mean_rank, std_rank = np.asarray(mean_rank, float), np.asarray(std_rank, float)
    if mean_rank.shape != std_rank.shape or mean_rank.shape != (len(names),):
        raise ValueError("mean_rank, std_rank and names must have one entry per position")
    idx = np.argsort(mean_rank, kind="stable")
    y = [names[i] for i in idx]
    fig = go.Figure(go.Scatter(
        x=mean_rank[idx], y=y, mode="markers", name="expected step ± s.d.",
        error_x=dict(type="data", array=std_rank[idx], thickness=2), marker=dict(size=10),
        hovertemplate="%{y}: step %{x:.2f} ± %{error_x.array:.2f}<extra></extra>"))
    if reference_order is not None:
        ref = np.empty(len(names))
        ref[np.asarray(reference_order, int)] = np.arange(1, len(names) + 1)
        fig.add_trace(go.Scatter(x=ref[idx], y=y, mode="markers", name="reference step",
                                 marker=dict(symbol="x", size=9, color="#dc2626"),
                                 hovertemplate="%{y}: reference step %{x}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0.5, len(names) + 0.5])
    return layout(fig, "When is each position decoded? (expected step ± spread)", x="decode step (1 = first)",
                   height=max(HEIGHT, 22 * len(names) + 80),
                   legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))


def entropy_meter(entropy: float, maximum: float) -> go.Figure:
    """Order entropy against the uniform maximum ``log L!`` as one horizontal bar.

    The bar carries its value in white; the maximum's label sits above the plot, ending at its dashed line,
    so it stays readable when the bar reaches the line."""
    fig = go.Figure(go.Bar(x=[entropy], y=["order entropy"], orientation="h", marker_color=EARLIER_BLUE,
                           text=[f"{entropy:.2f} nats"], textposition="inside", insidetextanchor="end",
                           textfont=dict(color="white", size=14),
                           hovertemplate="%{x:.2f} nats<extra></extra>", name="this schedule"))
    fig.add_vline(x=maximum, line_dash="dash", line_color=INK, line_width=2)
    fig.add_annotation(x=maximum, y=1, xref="x", yref="paper", xanchor="right", yanchor="bottom",
                       text=f"uniform maximum log L! = {maximum:.2f} ↓", showarrow=False,
                       font=dict(color=INK, size=13))
    fig.update_xaxes(range=[0, max(maximum, entropy) * 1.1 + 1e-9])
    fig = layout(fig, "", x="nats (0 = one fixed order)", height=180)
    return fig.update_layout(margin=dict(t=34))


def line_labels_in_margin(fig: go.Figure, margin: int = 80) -> go.Figure:
    """Move the label of a full-width horizontal line (``add_hline``) into the right margin, level with
    its line, so it never sits on the bars (e.g. the exponent chart's "geometric mean").

    The label's height is taken from the line itself: on a log axis a shape is placed by its value but an
    annotation by the value's log10, so a copied ``y`` would land elsewhere."""
    lines = [shape for shape in fig.layout.shapes
             if shape.type == "line" and shape.xref == "x domain" and shape.yref == "y" and shape.y0 == shape.y1]
    notes = [note for note in fig.layout.annotations if note.xref == "x domain" and note.yref == "y"]
    log = fig.layout.yaxis.type == "log"
    for line, note in zip(lines, notes):
        y = math.log10(line.y0) if log else line.y0
        note.update(x=1.0, y=y, xanchor="left", yanchor="middle", xshift=4, font=dict(color=INK, size=12),
                    text=(note.text or "").replace(" ", "<br>", 1))
    if notes:
        fig.update_layout(margin=dict(r=max(margin, fig.layout.margin.r or 0)))
    return fig


def policy_nll_points(labels: list[str], nll, lo, hi) -> go.Figure:
    """Order NLL per policy as a dot with its 95% interval as a horizontal bar (lower is better).

    The axis spans the intervals, not 0 to the largest value: policies 0.001 nats apart and intervals of
    a few hundredths stay distinguishable."""
    nll, lo, hi = (np.asarray(v, float) for v in (nll, lo, hi))
    fig = go.Figure(go.Scatter(
        x=nll, y=labels, mode="markers", marker=dict(size=13, color=[colour(i) for i in range(len(labels))]),
        error_x=dict(type="data", array=hi - nll, arrayminus=nll - lo, thickness=2, width=7, color="#374151"),
        customdata=np.stack([lo, hi], axis=-1),
        hovertemplate="%{y}: %{x:.3f} nats<br>95% interval %{customdata[0]:.3f} – %{customdata[1]:.3f}"
                      "<extra></extra>"))
    pad = 0.12 * max(float(hi.max() - lo.min()), 1e-3)
    fig.update_xaxes(range=[float(lo.min()) - pad, float(hi.max()) + pad], zeroline=False)
    fig.update_yaxes(type="category", autorange="reversed")
    return layout(fig, "Order NLL with 95% interval", x="nats per sequence (lower is better)",
                   height=max(220, 110 + 45 * len(labels)))
