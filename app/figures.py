"""Figure builders for the lab: pure functions from numbers to plotly figures.

No streamlit here and no state: each builder takes plain lists / arrays (exponents ``w``, snapshot dicts
from ``Trainer.history`` or a checkpoint's ``metrics.json``) and returns a ``go.Figure``. Notation follows
docs/design.md: ``alpha_l(t) = 1 - t^{w_l}``, position ``l`` is revealed at its masking time ``tau_l`` during
generation, and Plackett–Luce with scores ``w`` gives the order distribution.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.colors import sample_colorscale

from core.orders import expected_rank, max_order_entropy

HEIGHT = 340
LEGEND_MAX = 8  # more distinct alpha curves than this: a colour bar and hover names instead of a legend
RANK_SCALE = "Viridis"  # dark = decoded early
TIME_SCALE = "Viridis_r"  # high median masking time = decoded early = dark, matching RANK_SCALE
COLOR_MODES = ("rank", "median_time")
EQUAL_RATIO = 1.01  # exponents within 1 % of each other are shown as "all equal"
LOG_TICKS = [m * 10.0**e for e in range(-4, 5) for m in (1, 2, 5)]


# --- helpers ---------------------------------------------------------------------------------------


def position_names(names, L: int) -> list[str]:
    """``names`` as strings, or ``p0 .. p{L-1}`` when not given."""
    if names is None:
        return [f"p{i}" for i in range(L)]
    names = [str(n) for n in names]
    if len(names) != L:
        raise ValueError(f"expected {L} position names, got {len(names)}")
    return names


def _exponents(w) -> torch.Tensor:
    w = torch.as_tensor(np.asarray(w, dtype=float), dtype=torch.float64)
    if w.dim() != 1 or w.numel() == 0 or not torch.isfinite(w).all() or (w <= 0).any():
        raise ValueError("exponents must be a non-empty list of positive finite numbers")
    return w


def ranks(w) -> list[float]:
    """Expected decode step of each position (1 = first) for exponents ``w``."""
    return expected_rank(_exponents(w)).tolist()


def median_times(w) -> list[float]:
    """Median masking time ``0.5^{1/w_l}`` of each position (larger = revealed earlier)."""
    return (0.5 ** (1.0 / _exponents(w))).tolist()


def _layout(fig: go.Figure, title: str, x: str, y: str, **kw) -> go.Figure:
    # uirevision: zoom and hidden traces survive the live updates of the same figure
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=kw.pop("height", HEIGHT),
                      margin=dict(l=10, r=10, t=40, b=10), uirevision=title, **kw)
    return fig


def tall(L: int) -> int:
    """Figure height for one row per position: ``HEIGHT`` up to ~20 positions, then growing, capped."""
    return int(min(900, max(HEIGHT, 12 * L + 100)))


def _step_axis(fig: go.Figure, steps: list[int], total_steps: int | None, pad: float | None = None) -> None:
    """x axis from step 0 to the run's last step, so a live run fills its charts from left to right."""
    if not total_steps:
        return
    right = max(int(total_steps), max(steps, default=0))
    pad = 0.02 * right if pad is None else pad
    fig.update_xaxes(range=[-pad, right + pad], autorange=False)


def _log_range(w: np.ndarray) -> tuple[float, float]:
    """log10 range around the geometric mean of ``w``, at least a factor 2 each way (fixed colours at step 0)."""
    mean = float(np.log10(w).mean())
    half = max(float(np.abs(np.log10(w) - mean).max()), np.log10(2.0))
    return mean - half, mean + half


def _log_ticks(lo: float, hi: float) -> list[float]:
    return [v for v in LOG_TICKS if lo <= np.log10(v) <= hi]


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, "", "")


# --- schedule and order of one set of exponents ----------------------------------------------------


def alpha_curves(exponents: list[float], names: list[str] | None = None, points: int = 101) -> go.Figure:
    """``alpha_l(t) = 1 - t^{w_l}``: one line per distinct exponent, coloured by ``w`` (dark = decoded early).

    Positions with the same exponent (to two significant digits) share one line and one legend entry such
    as ``b1..b8: w=1.00``. With at most ``LEGEND_MAX`` distinct lines there is a legend; with more (e.g. 64
    trained digits pixels) a colour bar of ``w`` instead, and every line names its positions on hover.
    """
    w = _exponents(exponents).numpy()
    names = position_names(names, len(w))
    t = np.linspace(0.0, 1.0, points)
    lo, hi = _log_range(w)
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
        ticks = _log_ticks(lo, hi)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(color=[lo], cmin=lo, cmax=hi, colorscale=TIME_SCALE, showscale=True,
                                             colorbar=dict(title="w", tickvals=np.log10(ticks).tolist(),
                                                           ticktext=[f"{v:g}" for v in ticks]))))
    fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, "alpha_l(t): probability position l is still unmasked", "t (0 = clean, 1 = masked)",
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
    return _layout(fig, "Precedence: P(row decoded before column)", "column j", "row i",
                   height=tall(len(names)))


def exponent_bars(exponents: list[float], names: list[str] | None = None) -> go.Figure:
    """Bar chart of the exponents ``w_l`` on a log scale, each bar drawn from the geometric mean to ``w_l``
    (only ratios of ``w`` matter, so above the mean = decoded earlier than average, below = later)."""
    w = _exponents(exponents).numpy()
    names = position_names(names, len(w))
    mean = float(np.exp(np.log(w).mean()))
    fig = go.Figure(go.Bar(x=names, y=w - mean, base=mean, customdata=w,
                           hovertemplate="%{x}: w=%{customdata:.3g}<extra></extra>"))
    fig.add_hline(y=mean, line_dash="dash", line_color="gray", annotation_text="geometric mean",
                  annotation_position="top left")
    half = max(float(np.abs(np.log10(w / mean)).max()), np.log10(2.0)) * 1.15
    lo, hi = np.log10(mean) - half, np.log10(mean) + half
    ticks = _log_ticks(lo, hi)  # plain numbers, not plotly's "2" for 0.2
    fig.update_yaxes(type="log", range=[lo, hi], tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])
    # a marker at each w: bars of zero height (every w equal, e.g. at step 0) would leave the chart empty
    fig.add_trace(go.Scatter(x=names, y=w, mode="markers", marker=dict(symbol="diamond", size=9, color="#1F2430"),
                             name="w_l", hoverinfo="skip", showlegend=False))
    if float(w.max() / w.min()) < EQUAL_RATIO:
        fig.add_annotation(text=f"every w = {mean:.3g}: all orders equally likely", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.15, font=dict(size=13, color="#555"))
    return _layout(fig, "Exponents w_l (larger = decoded earlier)", "position", "w_l (log scale)",
                   showlegend=False)


def exponent_trajectories(history: list[dict], names: list[str] | None = None,
                          total_steps: int | None = None) -> go.Figure:
    """Every position's exponent ``w_l`` over training (log scale), one line per position; positions of
    one reference group share a colour family when the names say so (``b1``, ``b2`` …, ``c1`` …)."""
    if not history:
        return _empty("Exponents over training", "no snapshots yet")
    L = len(history[0]["exponents"])
    names = position_names(names, L)
    steps = [s["step"] for s in history]
    w = np.array([s["exponents"] for s in history], dtype=float)  # [S, L]
    fig = go.Figure()
    for l, name in enumerate(names):
        fig.add_trace(go.Scatter(x=steps, y=w[:, l], mode="lines", name=name, line=dict(color=_colour(l)),
                                 hovertemplate=f"{name}<br>step %{{x}}: w=%{{y:.3g}}<extra></extra>"))
    lo, hi = _log_range(w.ravel())  # at least a factor 2 each way: a flat start does not crowd the ticks
    ticks = _log_ticks(lo, hi)
    fig.update_yaxes(type="log", range=[lo, hi], tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])
    _step_axis(fig, steps, total_steps)
    return _layout(fig, "Exponents w_l over training (log scale)", "training step", "w_l",
                   legend=dict(title="position"))


def metric_curve(history: list[dict], key: str, title: str, y_title: str, target: float | None = None,
                 total_steps: int | None = None, y_range: tuple[float, float] | None = None) -> go.Figure:
    """One snapshot statistic (e.g. ``group_precedence``) against step, with an optional target line."""
    points = [(s["step"], s[key]) for s in history if key in s]
    if not points:
        return _empty(title, "no snapshots yet")
    fig = go.Figure(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                               name=y_title, line=dict(color=_colour(0), width=3),
                               hovertemplate="step %{x}: %{y:.3f}<extra></extra>"))
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color="#2E7D32", annotation_text=f"target {target:g}",
                      annotation_position="bottom right")
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    _step_axis(fig, [p[0] for p in points], total_steps)
    return _layout(fig, title, "training step", y_title, showlegend=False)


def seed_band(runs: dict[str, list[dict]], key: str = "group_precedence", title: str = "") -> go.Figure:
    """``key`` over training for several runs (e.g. the shipped seeds of one task): one thin line per run
    and the band from the lowest to the highest run at each step they share."""
    fig = go.Figure()
    drawn = {label: [(s["step"], s[key]) for s in h if key in s] for label, h in runs.items()}
    drawn = {label: points for label, points in drawn.items() if points}
    if not drawn:
        return _empty(title or key, f"no {key} in these runs")
    common = sorted(set.intersection(*(set(step for step, _ in p) for p in drawn.values())))
    if common and len(drawn) > 1:
        values = np.array([[dict(p)[step] for step in common] for p in drawn.values()])  # [R, S]
        fig.add_trace(go.Scatter(x=common + common[::-1], y=np.concatenate([values.max(0), values.min(0)[::-1]]),
                                 fill="toself", fillcolor=_rgba(_colour(0), 0.18), line=dict(width=0),
                                 name=f"range over {len(drawn)} seeds", hoverinfo="skip"))
    for i, (label, points) in enumerate(drawn.items()):
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                 name=label, line=dict(color=_colour(i), width=1.5), marker=dict(size=4)))
    return _layout(fig, title or f"{key} over training", "training step", key,
                   legend=dict(orientation="h", yanchor="top", y=-0.28, xanchor="left", x=0))


def grid_rank_image(exponents: list[float], shape) -> go.Figure:
    """Expected decode step drawn as an image of ``shape`` (rows, cols), e.g. the 8x8 digits."""
    w = _exponents(exponents)
    rows, cols = (int(s) for s in shape)
    if rows * cols != w.numel():
        raise ValueError(f"shape {rows}x{cols} does not match {w.numel()} positions")
    z = expected_rank(w).numpy().reshape(rows, cols)
    fig = go.Figure(go.Heatmap(z=z, colorscale=RANK_SCALE, zmin=1, zmax=w.numel(), colorbar=dict(title="step"),
                               text=np.round(z).astype(int), texttemplate="%{text}",
                               hovertemplate="row %{y}, col %{x}: expected step %{z:.1f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    return _layout(fig, "Expected decode step as a picture (1 = first)", "column", "row")


# --- over training: snapshot histories -------------------------------------------------------------


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
        return _empty("Decode order over training", "no snapshots yet")
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
    title = "Expected decode step of each position" if color == "rank" else "Median masking time of each position"
    return _layout(fig, f"{title} over training", "training step", "position", height=tall(L))


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
                                 fill="toself", fillcolor=_rgba(_colour(i), 0.15), line=dict(width=0),
                                 hoverinfo="skip", showlegend=False, name=f"{label} ±s.e."))
    for i, label, history in reversed(drawn):  # lines: the first run last, so on top
        x, y, se = _nelbo_xy(history)
        first = i == 0
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name=label, legendrank=i + 1, customdata=se,
            line=dict(color=_colour(i), dash="solid" if first else "dash", width=2.5 if first else 2),
            marker=dict(symbol="circle" if first else "diamond-open", size=7 if first else 9),
            hovertemplate=f"{label}<br>step %{{x}}: %{{y:.3f}} ± %{{customdata:.3f}}<extra></extra>"))
    if not fig.data:
        return _empty("Held-out NELBO", "no evaluations yet")
    _step_axis(fig, [s["step"] for _, _, h in drawn for s in h], total_steps)
    return _layout(fig, "Held-out NELBO (nats per sequence, lower is better)", "training step", "NELBO",
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
    _step_axis(fig, steps, total_steps)
    return _layout(fig, "Entropy of the order distribution", "training step", "nats")


# plotly's default qualitative colours, so bands match their lines
_PALETTE = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880"]


def _colour(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def entropy_fraction(entropy: float, L: int) -> float:
    """Order entropy as a fraction of the uniform maximum (1 = uniform, 0 = one fixed order)."""
    top = max_order_entropy(int(L))
    return float(entropy / top) if top > 0 else 0.0
