"""Figures of the Lesson: forward masking over time (an animation), masking times sorted into a decoding
order, Plackett–Luce probabilities against sampled frequencies, and the ELBO as a sum over orders.

Pure functions: plain lists / arrays in, a ``go.Figure`` out. ``t = 0`` is clean, ``t = 1`` fully masked;
position ``l`` is masked at times ``t >= tau_l`` and so revealed at ``tau_l`` during generation.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app.figures.replay import EARLIER_BLUE, INK, MASK_GREY
from app.figures.style import layout

CLEAN_GREEN, FUTURE = "#16a34a", "#f3f4f6"  # forward masking: clean so far; not reached yet
LABEL_ROOM = 0.8  # category widths kept free right of the last bar
LEGEND_ORDERS = 6  # orders named in the stacked bar's legend


def forward_masking_animation(tau, names: list[str], tokens: list[str] | None = None,
                              frames: int = 21) -> go.Figure:
    """Forward masking over time for fixed masking times ``tau``: position ``l`` is masked once
    ``t >= tau_l``. Each position's bar fills up to the current ``t`` (the "now" line): green while it is
    still clean, grey from its masking time on; above the line lies the future (pale), where a black tick
    marks ``tau_l``. At ``t = 0`` nothing is masked yet, exactly like the row of cells on top, which shows
    the sequence at ``t``. Play button and slider run ``t`` from 0 to 1."""
    tau = np.asarray(tau, float)
    tokens = tokens or ["x"] * len(tau)
    times = np.linspace(0.0, 1.0, frames)
    fig = go.Figure(_masking_frame(tau, names, tokens, 0.0))
    # every frame carries all traces and redraws: partial frames made plotly drop the bars
    fig.frames = [go.Frame(data=_masking_frame(tau, names, tokens, t), name=f"{t:.3f}") for t in times]
    fig.update_layout(barmode="overlay", sliders=[_time_slider(times)], updatemenus=[_play_buttons()])
    span = [-0.5, len(names) - 0.5 + LABEL_ROOM]  # room right of the bars for the "t = ..." label
    fig.update_xaxes(type="category", range=span)
    fig.update_layout(xaxis2=dict(overlaying="x", range=span, visible=False, fixedrange=True))
    fig.update_yaxes(range=[0, 1.22], tickvals=[0, 0.25, 0.5, 0.75, 1.0])
    fig = layout(fig, "Forward masking: each position is masked at its own time tau_l",
                  y="time t (0 = clean, 1 = all masked)", height=500,
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"))
    return fig.update_layout(margin=dict(t=90, b=10))


def _masking_frame(tau, names, tokens, t: float) -> list:
    """The picture at time ``t``: history up to ``t`` (clean / masked), the future, the masking times,
    the "now" line with its label (on a hidden numeric axis, so the label sits right of the bars) and
    the sequence at ``t``."""
    masked = tau <= t
    L = len(names)
    clean = go.Bar(x=names, y=np.minimum(tau, t), name="clean (t < tau_l)", marker_color=CLEAN_GREEN,
                   hoverinfo="skip")
    gone = go.Bar(x=names, y=np.maximum(t - tau, 0.0), base=np.minimum(tau, t), name="masked (t >= tau_l)",
                  marker_color=MASK_GREY, hoverinfo="skip")
    future = go.Bar(x=names, y=[1.0 - t] * L, base=[t] * L, name="not reached yet", showlegend=False,
                    marker=dict(color=FUTURE, line=dict(color="#e5e7eb", width=1)), hoverinfo="skip")
    marks = go.Scatter(x=names, y=tau, mode="markers", name="masking time tau_l",
                       marker=dict(symbol="line-ew", size=34, line=dict(color=INK, width=3)),
                       hovertemplate="%{x}: masked at tau = %{y:.3f}<extra></extra>")
    now = go.Scatter(x=[-0.5, L - 0.5], y=[t, t], xaxis="x2", mode="lines", name="now",
                     line=dict(color=INK, width=2, dash="dot"), hoverinfo="skip")
    label = go.Scatter(x=[L - 0.5], y=[t], xaxis="x2", mode="text", text=[f"t = {t:.2f}"],
                       textposition="top right", textfont=dict(size=14, color=INK), showlegend=False,
                       hoverinfo="skip", cliponaxis=False)
    cells = go.Scatter(
        x=names, y=[1.12] * L, mode="markers+text", showlegend=False, hoverinfo="skip",
        text=["M" if m else tok for m, tok in zip(masked, tokens)], textfont=dict(size=15, color="white"),
        marker=dict(symbol="square", size=30, color=[MASK_GREY if m else CLEAN_GREEN for m in masked]))
    return [clean, gone, future, marks, now, label, cells]


def _time_slider(times) -> dict:
    # every step labelled: plotly thins the labels to fit, and would otherwise land on blank ones
    steps = [dict(method="animate", label=f"{t:.2f}",
                  args=[[f"{t:.3f}"], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                           transition=dict(duration=0))]) for t in times]
    return dict(active=0, steps=steps, currentvalue=dict(visible=False), x=0.33, len=0.67, xanchor="left",
                y=0, yanchor="top", pad=dict(t=36, r=10))


def _play_buttons() -> dict:
    """Play / pause on the slider's row, left of its track (the slider starts at x = 0.33)."""
    play = dict(label="▶ play", method="animate",
                args=[None, dict(frame=dict(duration=150, redraw=True), fromcurrent=True,
                                 transition=dict(duration=0))])
    pause = dict(label="❚❚ pause", method="animate",
                 args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
    return dict(type="buttons", direction="left", buttons=[play, pause], x=0.0, xanchor="left", y=0,
                yanchor="top", showactive=False, pad=dict(t=36))


def times_to_order(tau, names: list[str]) -> go.Figure:
    """Masking times on a time axis with each position's decode step: largest ``tau`` first.

    The dotted path joins the positions in decoding order (from t = 1 down to t = 0)."""
    tau = np.asarray(tau, float)
    order = np.argsort(-tau, kind="stable")
    step = np.empty(len(tau), int)
    step[order] = np.arange(1, len(tau) + 1)
    fig = go.Figure([
        go.Scatter(x=tau[order], y=[names[i] for i in order], mode="lines", hoverinfo="skip",
                   line=dict(color="#9ca3af", dash="dot"), showlegend=False),
        go.Scatter(x=tau, y=names, mode="markers+text", text=[f"step {s}" for s in step],
                   textposition="top center", marker=dict(size=14, color=step, colorscale="Viridis",
                                                            cmin=1, cmax=max(2, len(tau))),
                   showlegend=False,
                   hovertemplate="%{y}: tau = %{x:.3f}, decoded at %{text}<extra></extra>"),
    ])
    fig.update_xaxes(range=[1.08, -0.08])  # generation runs from t = 1 (left) down to t = 0 (right)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=names[::-1],
                     range=[-0.5, len(names) - 0.2])  # room above the top label
    return layout(fig, "Sorting masking times gives the decoding order (generation runs t = 1 → 0)",
                   x="masking time tau_l", y="position", height=max(260, 40 * len(tau) + 100))


def order_frequency_bars(labels: list[str], formula, empirical, highlight: str | None = None) -> go.Figure:
    """Plackett–Luce probability of each order next to its empirical frequency over many draws."""
    fig = go.Figure([
        go.Bar(x=labels, y=formula, name="P(pi) from the formula", marker_color=EARLIER_BLUE),
        go.Bar(x=labels, y=empirical, name="frequency over draws", marker_color="#f59e0b"),
    ])
    if highlight in labels:
        fig.add_vrect(x0=labels.index(highlight) - 0.5, x1=labels.index(highlight) + 0.5,
                      fillcolor="#fde68a", opacity=0.4, line_width=0, layer="below",
                      annotation_text="the order just drawn", annotation_position="top")
    fig.update_xaxes(type="category")
    return layout(fig, "Plackett–Luce: formula vs. what sampling gives", x="order (decoded first → last)",
                   y="probability", barmode="group", height=360,
                   legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))


def elbo_terms(labels: list[str], prob, loss, exact: float) -> go.Figure:
    """Each order's contribution P(pi) * AR loss(pi), stacked: the stack's height is the exact NELBO."""
    prob, loss = np.asarray(prob, float), np.asarray(loss, float)
    fig = go.Figure([go.Bar(x=["sum over orders"], y=[p * l], name=lab,
                            hovertemplate=f"{lab}: P={p:.3f} × loss {l:.3f} = {p * l:.3f}<extra></extra>")
                     for lab, p, l in zip(labels, prob, loss)])
    fig.add_hline(y=exact, line_dash="dash", line_color="#dc2626", annotation_text=f"exact value = {exact:.4f}",
                  annotation_position="top left")
    # a legend of the most likely orders (the largest slices); the rest are named on hover
    for trace in fig.data[LEGEND_ORDERS:]:
        trace.showlegend = False
    return layout(fig, "NELBO = Σ over orders of P(pi) × AR loss(pi)", y="nats", barmode="stack",
                   height=360, showlegend=True,
                   legend=dict(title=f"order (top {min(LEGEND_ORDERS, len(labels))} by P)", traceorder="normal",
                               font=dict(size=11)))
