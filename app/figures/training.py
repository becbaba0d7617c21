"""Figures of training histories: snapshot dicts (``Trainer.history`` or a checkpoint's ``metrics.json``)
against the step — decode order over training, held-out NELBO curves, order entropy, exponents, any
snapshot statistic, and the band of several seeds.

Pure functions: plain lists in, a ``go.Figure`` out. ``total_steps`` (the run's length) fixes the step
axes, so a live run fills its charts from left to right.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app.figures.schedule import RANK_SCALE, TIME_SCALE, median_times, ranks
from app.figures.style import (colour, empty, live_layout, log_range, log_ticks, position_names, rgba, span_trace,
                               step_axis, tall)
from core.orders import max_order_entropy

COLOR_MODES = ("rank", "median_time")
# Titles, the same before the first snapshot and after: a live figure's uirevision is its title (style.py)
TRAJECTORIES = "Exponents w_l over training (log scale)"
NELBO = "Held-out NELBO (nats per sequence, lower is better)"
ENTROPY = "Entropy of the order distribution"
RANK_TITLES = {"rank": "Expected decode step of each position over training",
               "median_time": "Median masking time of each position over training"}


def exponent_trajectories(history: list[dict], names: list[str] | None = None,
                          total_steps: int | None = None) -> go.Figure:
    """Every position's exponent ``w_l`` over training (log scale), one line per position; positions of
    one reference group share a colour family when the names say so (``b1``, ``b2`` …, ``c1`` …).

    The y axis autoranges over the data and always includes a factor 2 each way around the first
    snapshot's geometric mean (a flat start does not crowd the ticks); no explicit range, so a zoom is
    kept when a live run adds snapshots (plotly drops it when the figure's own range changes)."""
    if not history:
        return empty(TRAJECTORIES, "no snapshots yet")
    L = len(history[0]["exponents"])
    names = position_names(names, L)
    steps = [s["step"] for s in history]
    w = np.array([s["exponents"] for s in history], dtype=float)  # [S, L]
    fig = go.Figure()
    for l, name in enumerate(names):
        fig.add_trace(go.Scatter(x=steps, y=w[:, l], mode="lines", name=name, line=dict(color=colour(l)),
                                 hovertemplate=f"{name}<br>step %{{x}}: w=%{{y:.3g}}<extra></extra>"))
    centre = float(np.log10(w[0]).mean())  # the first snapshot's: the same on every redraw of a run
    ticks = log_ticks(*log_range(np.concatenate([w.ravel(), 10 ** np.array([centre - 1, centre + 1])])))
    fig.add_trace(span_trace(steps[0], 10 ** centre / 2, 10 ** centre * 2))
    fig.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])
    step_axis(fig, steps, total_steps)
    return live_layout(fig, TRAJECTORIES, "training step", "w_l",
                   legend=dict(title="position"))


def metric_curve(history: list[dict], key: str, title: str, y_title: str, target: float | None = None,
                 total_steps: int | None = None, y_range: tuple[float, float] | None = None) -> go.Figure:
    """One snapshot statistic (e.g. ``group_precedence``) against step, with an optional target line."""
    points = [(s["step"], s[key]) for s in history if key in s]
    if not points:
        return empty(title, "no snapshots yet")
    fig = go.Figure(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                               name=y_title, line=dict(color=colour(0), width=3),
                               hovertemplate="step %{x}: %{y:.3f}<extra></extra>"))
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color="#2E7D32", annotation_text=f"target {target:g}",
                      annotation_position="bottom right")
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    step_axis(fig, [p[0] for p in points], total_steps)
    return live_layout(fig, title, "training step", y_title, showlegend=False)


def seed_band(runs: dict[str, list[dict]], key: str = "group_precedence", title: str = "") -> go.Figure:
    """``key`` over training for several runs (e.g. the shipped seeds of one task): one thin line per run
    and the band from the lowest to the highest run at each step they share."""
    fig = go.Figure()
    drawn = {label: [(s["step"], s[key]) for s in h if key in s] for label, h in runs.items()}
    drawn = {label: points for label, points in drawn.items() if points}
    if not drawn:
        return empty(title or key, f"no {key} in these runs")
    common = sorted(set.intersection(*(set(step for step, _ in p) for p in drawn.values())))
    if common and len(drawn) > 1:
        values = np.array([[dict(p)[step] for step in common] for p in drawn.values()])  # [R, S]
        fig.add_trace(go.Scatter(x=common + common[::-1], y=np.concatenate([values.max(0), values.min(0)[::-1]]),
                                 fill="toself", fillcolor=rgba(colour(0), 0.18), line=dict(width=0),
                                 name=f"range over {len(drawn)} seeds", hoverinfo="skip"))
    for i, (label, points) in enumerate(drawn.items()):
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                 name=label, line=dict(color=colour(i), width=1.5), marker=dict(size=4)))
    return live_layout(fig, title or f"{key} over training", "training step", key,
                   legend=dict(orientation="h", yanchor="top", y=-0.28, xanchor="left", x=0))


def rank_heatmap(history: list[dict], names: list[str] | None = None, color: str = "rank",
                 total_steps: int | None = None) -> go.Figure:
    """Every position's unmasking time over training: x = step, y = position.

    ``color="rank"``: expected decode step (1 = first); ``"median_time"``: median masking time
    ``0.5^{1/w}``. Both are drawn so that dark = decoded early. Each snapshot is a column centred on its
    step; ``total_steps`` fixes the x axis to the whole run, which the columns fill as training goes on.
    """
    if color not in COLOR_MODES:
        raise ValueError(f"color must be one of {COLOR_MODES}, got {color!r}")
    if not history:
        return empty(RANK_TITLES[color], "no snapshots yet")
    L = len(history[0]["exponents"])
    names = position_names(names, L)
    values = ranks if color == "rank" else median_times
    z = np.array([values(s["exponents"]) for s in history]).T  # [L, S]
    steps = [s["step"] for s in history]
    edges = column_edges(steps, total_steps)
    label = "expected step" if color == "rank" else "median tau"
    # fixed ranges: the colours mean the same at step 0 (all equal) and after training
    zmin, zmax = (1, L) if color == "rank" else (0, 1)
    fig = go.Figure(go.Heatmap(
        z=z, x=edges, y=names, customdata=np.tile(steps, (L, 1)),
        colorscale=RANK_SCALE if color == "rank" else TIME_SCALE, zmin=zmin, zmax=zmax,
        colorbar=dict(title=label),
        hovertemplate=f"step %{{customdata}}<br>%{{y}}: {label} %{{z:.2f}}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    if total_steps:
        fig.update_xaxes(range=[min(edges[0], 0), max(edges[-1], total_steps)], autorange=False)
    return live_layout(fig, RANK_TITLES[color], "training step", "position", height=tall(L))


def column_edges(steps: list[int], total_steps: int | None = None) -> list[float]:
    """Edges of heatmap columns centred on ``steps`` (one more than steps). A lone snapshot gets the width
    of 1/40 of the run, the spacing the Train page's automatic evaluations use."""
    s = np.asarray(steps, dtype=float)
    if len(s) == 1:
        half = max(1.0, (total_steps or 40) / 40) / 2
        return [float(s[0] - half), float(s[0] + half)]
    mids = (s[1:] + s[:-1]) / 2
    return [float(2 * s[0] - mids[0]), *mids.tolist(), float(2 * s[-1] - mids[-1])]


def nelbo_curves(runs: dict[str, list[dict]], total_steps: int | None = None) -> go.Figure:
    """Held-out NELBO against step, one line per run, with a ±1 standard-error band.

    The first run is drawn on top (solid, filled markers); the others are dashed with open markers, so two
    equal curves stay visible. The legend sits under the plot, clear of the title.
    """
    fig = go.Figure()
    drawn = [(i, label, history) for i, (label, history) in enumerate(runs.items()) if history]
    for i, label, history in drawn:  # bands first, under every line
        x, y, se = _nelbo_xy(history)
        fig.add_trace(go.Scatter(x=x + x[::-1], y=np.concatenate([y + se, (y - se)[::-1]]), mode="lines",
                                 fill="toself", fillcolor=rgba(colour(i), 0.15), line=dict(width=0),
                                 hoverinfo="skip", showlegend=False, name=f"{label} ±s.e."))
    for i, label, history in reversed(drawn):  # lines: the first run last, so on top
        x, y, se = _nelbo_xy(history)
        first = i == 0
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name=label, legendrank=i + 1, customdata=se,
            line=dict(color=colour(i), dash="solid" if first else "dash", width=2.5 if first else 2),
            marker=dict(symbol="circle" if first else "diamond-open", size=7 if first else 9),
            hovertemplate=f"{label}<br>step %{{x}}: %{{y:.3f}} ± %{{customdata:.3f}}<extra></extra>"))
    if not fig.data:
        return empty(NELBO, "no evaluations yet")
    step_axis(fig, [s["step"] for _, _, h in drawn for s in h], total_steps)
    return live_layout(fig, NELBO, "training step", "NELBO",
                   legend=dict(orientation="h", yanchor="top", y=-0.28, xanchor="left", x=0))


def _nelbo_xy(history: list[dict]) -> tuple[list[int], np.ndarray, np.ndarray]:
    x = [s["step"] for s in history]
    y = np.array([s["heldout_nelbo"] for s in history], dtype=float)
    se = np.array([s.get("heldout_se") or 0.0 for s in history], dtype=float)
    return x, y, se


def entropy_curve(history: list[dict], L: int, total_steps: int | None = None) -> go.Figure:
    """Order entropy (nats) against step, with the uniform maximum ``log L!``."""
    top = max_order_entropy(int(L))
    steps = [s["step"] for s in history]
    fig = go.Figure(go.Scatter(x=steps, y=[s["order_entropy"] for s in history],
                               mode="lines+markers", name="order entropy",
                               hovertemplate="step %{x}: %{y:.2f} nats<extra></extra>"))
    fig.add_hline(y=top, line_dash="dash", line_color="gray", annotation_text=f"uniform: log {L}! = {top:.2f}",
                  annotation_position="top right")
    fig.update_yaxes(range=[0, top * 1.15 + 1e-9])
    step_axis(fig, steps, total_steps)
    return live_layout(fig, ENTROPY, "training step", "nats")
