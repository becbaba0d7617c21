"""The look every figure of the lab shares: default height, colour palette, title and margins, and the
small axis helpers (step axis, log ranges and ticks, position names) that several figure modules use.

Pure functions; no streamlit, no state.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

HEIGHT = 340
# plotly's default qualitative colours, so bands match their lines
PALETTE = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880"]
LOG_TICKS = [m * 10.0**e for e in range(-4, 5) for m in (1, 2, 5)]
SPAN = "axis span"  # the ``meta`` of :func:`span_trace`'s invisible points (left out of CSV exports)


def colour(i: int) -> str:
    """The ``i``-th colour of :data:`PALETTE` (cycling)."""
    return PALETTE[i % len(PALETTE)]


def rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def layout(fig: go.Figure, title: str, x: str = "", y: str = "", top: int | None = None, **kw) -> go.Figure:
    """Title, axis titles, height (``HEIGHT`` unless given) and tight margins; ``top`` is the top margin
    (room for the title: 50 px with a title, 10 without, unless given)."""
    top = (50 if title else 10) if top is None else top
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=kw.pop("height", HEIGHT),
                      margin=dict(l=10, r=10, t=top, b=10), **kw)
    return fig


def live_layout(fig: go.Figure, title: str, x: str, y: str, **kw) -> go.Figure:
    """:func:`layout` for figures a live run redraws: ``uirevision`` keeps zoom and hidden traces across
    the updates of the same figure."""
    return layout(fig, title, x, y, top=40, uirevision=title, **kw)


def span_trace(x, lo: float, hi: float) -> go.Scatter:
    """Two invisible points at ``y = lo`` and ``hi``: plotly's autorange then always covers ``[lo, hi]``.

    Live figures use it instead of an explicit axis range: plotly drops a user's zoom when the figure's own
    range changes between redraws, and a range that follows the data changes with every snapshot.
    (``autorangeoptions.include`` would say the same, but plotly.js ignores its lower end on log axes.)"""
    return go.Scatter(x=[x, x], y=[lo, hi], mode="markers", marker=dict(opacity=0), hoverinfo="skip",
                      showlegend=False, name=SPAN, meta=SPAN)


def empty(title: str, message: str) -> go.Figure:
    """A blank live figure saying ``message`` (e.g. before the first snapshot)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return live_layout(fig, title, "", "")


def tall(L: int) -> int:
    """Figure height for one row per position: ``HEIGHT`` up to ~20 positions, then growing, capped."""
    return int(min(900, max(HEIGHT, 12 * L + 100)))


def position_names(names, L: int) -> list[str]:
    """``names`` as strings, or ``p0 .. p{L-1}`` when not given."""
    if names is None:
        return [f"p{i}" for i in range(L)]
    names = [str(n) for n in names]
    if len(names) != L:
        raise ValueError(f"expected {L} position names, got {len(names)}")
    return names


def exponents(w) -> torch.Tensor:
    """``w`` as a float64 vector, or ValueError unless it is a non-empty list of positive finite numbers."""
    w = torch.as_tensor(np.asarray(w, dtype=float), dtype=torch.float64)
    if w.dim() != 1 or w.numel() == 0 or not torch.isfinite(w).all() or (w <= 0).any():
        raise ValueError("exponents must be a non-empty list of positive finite numbers")
    return w


def log_range(w: np.ndarray) -> tuple[float, float]:
    """log10 range around the geometric mean of ``w``, at least a factor 2 each way (fixed colours at step 0)."""
    mean = float(np.log10(w).mean())
    half = max(float(np.abs(np.log10(w) - mean).max()), np.log10(2.0))
    return mean - half, mean + half


def log_ticks(lo: float, hi: float) -> list[float]:
    return [v for v in LOG_TICKS if lo <= np.log10(v) <= hi]


def step_axis(fig: go.Figure, steps: list[int], total_steps: int | None, pad: float | None = None) -> None:
    """x axis from step 0 to the run's last step, so a live run fills its charts from left to right."""
    if not total_steps:
        return
    right = max(int(total_steps), max(steps, default=0))
    pad = 0.02 * right if pad is None else pad
    fig.update_xaxes(range=[-pad, right + pad], autorange=False)
