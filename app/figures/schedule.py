"""Figures of one set of exponents ``w``: the schedules ``alpha_l(t) = 1 - t^{w_l}``, the exponents, the
precedence matrix and the expected decode step as a picture.

Pure functions: plain lists / arrays in, a ``go.Figure`` out. Position ``l`` is revealed at its masking
time ``tau_l`` during generation, and Plackett–Luce with scores ``w`` gives the order distribution.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from app.figures.style import exponents as check_exponents
from app.figures.style import live_layout, log_range, log_ticks, position_names, span_trace, tall
from core.orders import expected_rank

LEGEND_MAX = 8  # more distinct alpha curves than this: a colour bar and hover names instead of a legend
RANK_SCALE = "Viridis"  # dark = decoded early
TIME_SCALE = "Viridis_r"  # high median masking time = decoded early = dark, matching RANK_SCALE
EQUAL_RATIO = 1.01  # exponents within 1 % of each other are shown as "all equal"


def ranks(w) -> list[float]:
    """Expected decode step of each position (1 = first) for exponents ``w``."""
    return expected_rank(check_exponents(w)).tolist()


def median_times(w) -> list[float]:
    """Median masking time ``0.5^{1/w_l}`` of each position (larger = revealed earlier)."""
    return (0.5 ** (1.0 / check_exponents(w))).tolist()


def alpha_curves(exponents: list[float], names: list[str] | None = None, points: int = 101) -> go.Figure:
    """``alpha_l(t) = 1 - t^{w_l}``: one line per distinct exponent, coloured by ``w`` (dark = decoded early).

    Positions with the same exponent (to two significant digits) share one line and one legend entry such
    as ``b1..b8: w=1.00``. With at most ``LEGEND_MAX`` distinct lines there is a legend; with more (e.g. 64
    trained digits pixels) a colour bar of ``w`` instead, and every line names its positions on hover.
    """
    w = check_exponents(exponents).numpy()
    names = position_names(names, len(w))
    t = np.linspace(0.0, 1.0, points)
    lo, hi = log_range(w)
    groups = _equal_groups(w)
    fig = go.Figure()
    for key in sorted(groups, key=lambda k: -w[groups[k]].mean()):  # legend: decoded earliest first
        members = groups[key]
        wl = float(np.exp(np.log(w[members]).mean()))
        colour = sample_colorscale(TIME_SCALE, [(np.log10(wl) - lo) / (hi - lo)])[0]
        label = f"{compact_names([names[i] for i in members], members)}: w={wl:.2f}"
        hover = _wrap([names[i] for i in members])
        fig.add_trace(go.Scatter(x=t, y=1.0 - t**wl, mode="lines", name=label, line=dict(color=colour, width=2),
                                 hovertemplate=f"{hover} (w={wl:.3g})<br>t=%{{x:.2f}}<br>alpha=%{{y:.3f}}"
                                               "<extra></extra>"))
    legend = len(groups) <= LEGEND_MAX
    if not legend:  # an invisible marker carries the colour bar
        ticks = log_ticks(lo, hi)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(color=[lo], cmin=lo, cmax=hi, colorscale=TIME_SCALE, showscale=True,
                                             colorbar=dict(title="w", tickvals=np.log10(ticks).tolist(),
                                                           ticktext=[f"{v:g}" for v in ticks]))))
    fig.update_yaxes(range=[0, 1.02])
    return live_layout(fig, "alpha_l(t): probability position l is still unmasked", "t (0 = clean, 1 = masked)",
                   "alpha_l(t)", showlegend=legend, legend=dict(title="positions", tracegroupgap=2))


def _equal_groups(w: np.ndarray) -> dict[str, list[int]]:
    """Positions whose exponents agree to two significant digits (their curves coincide on screen)."""
    groups: dict[str, list[int]] = {}
    for i, wl in enumerate(w):
        groups.setdefault(f"{wl:.2g}", []).append(i)
    return groups


def compact_names(names: list[str], positions: list[int], max_parts: int = 3) -> str:
    """``b1..b8`` for runs of three or more consecutive positions, commas otherwise, ``+N more`` past
    ``max_parts`` parts."""
    parts, start = [], 0
    for k in range(1, len(positions) + 1):
        if k == len(positions) or positions[k] != positions[k - 1] + 1:
            run = names[start:k]
            parts += [f"{run[0]}..{run[-1]}"] if len(run) >= 3 else run
            start = k
    shown = ", ".join(parts[:max_parts])
    return shown if len(parts) <= max_parts else f"{shown} +{len(parts) - max_parts} more"


def _wrap(names: list[str], per_line: int = 8) -> str:
    return "<br>".join(", ".join(names[i:i + per_line]) for i in range(0, len(names), per_line))


def precedence_heatmap(P, names: list[str] | None = None) -> go.Figure:
    """``P[i, j]`` = probability that row position i is decoded before column position j."""
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[0] != P.shape[1]:
        raise ValueError(f"P must be a square matrix, got shape {P.shape}")
    names = position_names(names, P.shape[0])
    P = P.copy()
    np.fill_diagonal(P, np.nan)  # a position is not decoded before itself: leave the diagonal blank
    fig = go.Figure(go.Heatmap(z=P, x=names, y=names, zmin=0, zmax=1, colorscale="RdBu_r",
                               colorbar=dict(title="P(i first)"),
                               hovertemplate="P(%{y} before %{x}) = %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return live_layout(fig, "Precedence: P(row decoded before column)", "column j", "row i",
                   height=tall(len(names)))


def exponent_bars(exponents: list[float], names: list[str] | None = None) -> go.Figure:
    """Bar chart of the exponents ``w_l`` on a log scale, each bar drawn from the geometric mean to ``w_l``
    (only ratios of ``w`` matter, so above the mean = decoded earlier than average, below = later)."""
    w = check_exponents(exponents).numpy()
    names = position_names(names, len(w))
    mean = float(np.exp(np.log(w).mean()))
    fig = go.Figure(go.Bar(x=names, y=w - mean, base=mean, customdata=w,
                           hovertemplate="%{x}: w=%{customdata:.3g}<extra></extra>"))
    fig.add_hline(y=mean, line_dash="dash", line_color="gray", annotation_text="geometric mean",
                  annotation_position="top left")
    # on a log axis an annotation is placed by log10 of its value (a shape by the value): at y = mean it
    # would sit at 10^mean and stretch the autorange up to it
    fig.layout.annotations[-1].y = float(np.log10(mean))
    half = max(float(np.abs(np.log10(w / mean)).max()), np.log10(2.0)) * 1.15
    lo, hi = np.log10(mean) - half, np.log10(mean) + half
    ticks = log_ticks(lo, hi)  # plain numbers, not plotly's "2" for 0.2
    fig.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])
    # a marker at each w: bars of zero height (every w equal, e.g. at step 0) would leave the chart empty
    fig.add_trace(go.Scatter(x=names, y=w, mode="markers", marker=dict(symbol="diamond", size=9, color="#1F2430"),
                             name="w_l", hoverinfo="skip", showlegend=False))
    # autorange over the bars and at least a factor 2 (and a bit) each way around the mean; no explicit
    # range, which a live run would change on every snapshot and so reset a user's zoom
    near = 10 ** (np.log10(2.0) * 1.15)
    fig.add_trace(span_trace(names[0], mean / near, mean * near))
    if float(w.max() / w.min()) < EQUAL_RATIO:
        fig.add_annotation(text=f"every w = {mean:.3g}: all orders equally likely", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.15, font=dict(size=13, color="#555"))
    return live_layout(fig, "Exponents w_l (larger = decoded earlier)", "position", "w_l (log scale)",
                   showlegend=False)


def grid_rank_image(exponents: list[float], shape) -> go.Figure:
    """Expected decode step drawn as an image of ``shape`` (rows, cols), e.g. the 8x8 digits."""
    w = check_exponents(exponents)
    rows, cols = (int(s) for s in shape)
    if rows * cols != w.numel():
        raise ValueError(f"shape {rows}x{cols} does not match {w.numel()} positions")
    z = expected_rank(w).numpy().reshape(rows, cols)
    fig = go.Figure(go.Heatmap(z=z, colorscale=RANK_SCALE, zmin=1, zmax=w.numel(), colorbar=dict(title="step"),
                               text=np.round(z).astype(int), texttemplate="%{text}",
                               hovertemplate="row %{y}, col %{x}: expected step %{z:.1f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    return live_layout(fig, "Expected decode step as a picture (1 = first)", "column", "row")
