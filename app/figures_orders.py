"""Figure builders for the Compare, Inspect and Lesson pages: decoding replays, rank spread, the forward
masking animation, masking times -> order, and Plackett–Luce checks.

Pure functions: plain lists / arrays in, a ``go.Figure`` (or plain data) out; no streamlit, no state.
Notation follows docs/design.md: ``t = 0`` clean, ``t = 1`` fully masked, position ``l`` is masked at times
``t >= tau_l`` and so revealed at ``tau_l`` during generation (largest ``tau`` first).
"""

from __future__ import annotations

import math
from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MASKED, EARLIER, JUST = 0, 1, 2  # replay status of a position after some decoding steps
STATUS_NAMES = {MASKED: "masked", EARLIER: "revealed earlier", JUST: "just revealed"}
MASK_GREY, EARLIER_BLUE, JUST_ORANGE = "#d1d5db", "#1d4ed8", "#ea580c"
# One heatmap colour axis for status and confidence: masked in [0, 1), earlier in [1, 2), just in [2, 3].
# Light = the model was unsure of the token it revealed, dark = sure.
STATUS_SCALE = [
    [0.0, MASK_GREY], [1 / 3 - 1e-6, MASK_GREY],
    [1 / 3, "#dbeafe"], [2 / 3 - 1e-6, EARLIER_BLUE],
    [2 / 3, "#fed7aa"], [1.0, JUST_ORANGE],
]
IMAGE_MASK = "#93c5fd"  # masked pixels in the image replay (pixels themselves are grey)
IMAGE_SCALE = [[0.0, IMAGE_MASK], [0.25 - 1e-6, IMAGE_MASK], [0.25, "#ffffff"], [1.0, "#000000"]]
INK = "#111827"  # text and lines that must stay readable on any background
CLEAN_GREEN, FUTURE = "#16a34a", "#f3f4f6"  # forward masking: clean so far; not reached yet
MAX_CELL_TEXT = 8
HEIGHT = 340


# --- replay: status of every position after `step` decoding steps -----------------------------------


def replay_status(step_of, step: int) -> list[int]:
    """Status per position after ``step`` steps (``step_of[l]`` = 0-based step that revealed ``l``)."""
    return [MASKED if s >= step else JUST if s == step - 1 else EARLIER for s in step_of]


def status_value(status: int, confidence: float) -> float:
    """Colour value of a cell: the status band plus the model's confidence (0..1) inside it."""
    if status == MASKED:
        return 0.5
    c = 0.0 if confidence is None or not math.isfinite(confidence) else min(max(confidence, 0.0), 0.999)
    return status + c


def cell_text(value, limit: int = MAX_CELL_TEXT) -> str:
    """A decoded value as short cell text (``""`` when masked, floats to 4 significant digits)."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = "?" if math.isnan(value) else f"{value:.4g}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def group_boundaries(names: list[str], max_groups: int = 4) -> list[int]:
    """Indices where the letter prefix of the position names changes (``b3 | c1``), for separators.

    Empty when every name is its own group or there are more than ``max_groups`` groups (tables)."""
    prefixes = [name.rstrip("0123456789") or name for name in names]
    cuts = [i for i in range(1, len(names)) if prefixes[i] != prefixes[i - 1]]
    return cuts if 0 < len(cuts) < max_groups else []


def _hover(label, names, values, status, step_of, confidence, entropy) -> list[str]:
    rows = []
    for l, name in enumerate(names):
        if status[l] == MASKED:
            rows.append(f"{label}<br>{name}: masked (revealed at step {step_of[l] + 1})")
            continue
        ent = "" if entropy is None else f", entropy {entropy[l]:.2f} nats"
        rows.append(f"{label}<br>{name} = {cell_text(values[l], 40)}<br>revealed at step {step_of[l] + 1}"
                    f"<br>p(token) = {confidence[l]:.3f}{ent}")
    return rows


def strip_cells(rows: list[dict], names: list[str], step: int) -> list[list[dict]]:
    """The replay strip as plain data: per policy row, per position ``{"text", "fill", "ink", "tip"}``.

    Each row dict holds ``label``, ``values`` (decoded final values), ``step_of``, ``confidence`` (p of
    each revealed token) and optionally ``entropy``. Cells show the value once revealed."""
    out = []
    for row in rows:
        status = replay_status(row["step_of"], step)
        tips = _hover(row["label"], names, row["values"], status, row["step_of"], row["confidence"],
                      row.get("entropy"))
        out.append([{"text": "" if s == MASKED else cell_text(v), "fill": status_colour(s, c),
                     "ink": INK if s == MASKED or status_value(s, c) % 1 < 0.5 else "#ffffff",
                     "tip": tip.replace("<br>", "\n")}
                    for s, v, c, tip in zip(status, row["values"], row["confidence"], tips)])
    return out


def status_colour(status: int, confidence: float) -> str:
    """The cell colour of :data:`STATUS_SCALE` for this status and confidence, as ``#rrggbb``."""
    value = status_value(status, confidence)
    band = int(value)
    if band == MASKED:
        return MASK_GREY
    light, dark = STATUS_SCALE[2 * band][1], STATUS_SCALE[2 * band + 1][1]
    return _mix(light, dark, value - band)


def _mix(a: str, b: str, f: float) -> str:
    ca, cb = ([int(c[k:k + 2], 16) for k in (1, 3, 5)] for c in (a, b))
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(ca, cb))


def replay_strip(rows: list[dict], names: list[str], step: int, title: str | None = None) -> str:
    """Side-by-side replay for sequences and tables as an HTML table: one row per policy, one column per
    position, a bar between groups of positions (``b | c``), the status legend below.

    HTML, not a chart: moving the step slider redraws it in the browser in milliseconds, where a plotly
    heatmap takes hundreds. Hovering a cell shows its value, the step that revealed it and the model's
    confidence."""
    cuts = set(group_boundaries(names))
    bar = '<td class="orl-bar"></td>'
    head = "".join((bar if l in cuts else "") + f"<th>{escape(name)}</th>" for l, name in enumerate(names))
    body = []
    for row, cells in zip(rows, strip_cells(rows, names, step)):
        tds = "".join((bar if l in cuts else "") + f'<td title="{escape(c["tip"])}" style="background:{c["fill"]};'
                      f'color:{c["ink"]}">{escape(c["text"])}</td>' for l, c in enumerate(cells))
        body.append(f'<tr><th class="orl-policy">{escape(row["label"])}</th>{tds}</tr>')
    size = "1.15rem" if _short(rows) else "0.8rem"
    return (f"<style>{_STRIP_CSS}.orl-strip td {{font-size:{size}}}</style>"
            f'<div class="orl-strip"><div class="orl-title">{escape(title or f"After {step} step(s)")}</div>'
            f'<div class="orl-scroll"><table><thead><tr><th></th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>{_legend_html()}</div>')


_STRIP_CSS = f"""
.orl-strip .orl-title {{font-weight:600; font-size:1rem; margin:0 0 0.3rem}}
.orl-strip .orl-scroll {{overflow-x:auto}}
.orl-strip table {{border-collapse:separate; border-spacing:2px 6px; width:100%; border:none; margin:0}}
.orl-strip th {{font-weight:400; font-size:0.8rem; color:#4b5563; text-align:center; padding:0 2px; border:none}}
.orl-strip th.orl-policy {{font-size:0.85rem; color:#374151; text-align:right; padding:0 8px 0 0;
                          white-space:nowrap; width:1%}}
.orl-strip td {{text-align:center; vertical-align:middle; height:2.6rem; min-width:2.2rem; padding:0 3px;
               border:none; border-radius:3px; font-variant-numeric:tabular-nums; white-space:nowrap}}
.orl-strip td.orl-bar {{width:3px; min-width:3px; padding:0; border-radius:0; background:{INK}}}
.orl-strip .orl-legend {{font-size:0.8rem; color:#4b5563; margin-top:0.2rem}}
.orl-strip .orl-swatch {{display:inline-block; width:0.9rem; height:0.9rem; border-radius:2px;
                        margin:0 0.3rem -0.1rem 0.9rem}}
"""


def _legend_html() -> str:
    items = "".join(f'<span class="orl-swatch" style="background:{colour}"></span>{name}' for name, colour in
                    [("masked", MASK_GREY), ("just revealed", JUST_ORANGE), ("revealed earlier", EARLIER_BLUE)])
    return (f'<div class="orl-legend">{items}<span style="margin-left:1.2rem">darker = model more sure of '
            f"the token</span></div>")


def _short(rows: list[dict]) -> bool:
    """True when every value is at most 3 characters (digits, bits, letters): large cell text."""
    return all(len(cell_text(v)) <= 3 for row in rows for v in row["values"])


def replay_images(rows: list[dict], shape, step: int, num_categories: int,
                  shade: str = "value") -> go.Figure:
    """Side-by-side replay for image tasks (digits): one ``shape`` picture per policy.

    ``shade="value"``: revealed pixels in grey levels, masked pixels blue, the pixels just revealed
    outlined in orange. ``shade="confidence"``: the status colours of :func:`replay_strip`.
    """
    if shade not in ("value", "confidence"):
        raise ValueError(f"shade must be 'value' or 'confidence', got {shade!r}")
    n_rows, n_cols = (int(s) for s in shape)
    fig = make_subplots(rows=1, cols=len(rows), subplot_titles=[row["label"] for row in rows],
                        horizontal_spacing=0.03)
    for i, row in enumerate(rows, start=1):
        status = replay_status(row["step_of"], step)
        if shade == "value":
            z = [0.5 if s == MASKED else 1 + 3 * _pixel(v, num_categories) for s, v in zip(status, row["values"])]
            trace = dict(colorscale=IMAGE_SCALE, zmin=0, zmax=4)
        else:
            z = [status_value(s, c) for s, c in zip(status, row["confidence"])]
            trace = dict(colorscale=STATUS_SCALE, zmin=0, zmax=3)
        hover = _hover(row["label"], row.get("names") or [f"r{l // n_cols}c{l % n_cols}" for l in range(len(z))],
                       row["values"], status, row["step_of"], row["confidence"], row.get("entropy"))
        fig.add_trace(go.Heatmap(z=np.reshape(z, (n_rows, n_cols)), customdata=np.reshape(hover, (n_rows, n_cols)),
                                 hovertemplate="%{customdata}<extra></extra>", showscale=False, xgap=1, ygap=1,
                                 **trace), row=1, col=i)
        if shade == "value":
            _outline_just(fig, status, n_cols, i)
    fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor="x", constrain="domain")
    fig.update_xaxes(showticklabels=False, constrain="domain")
    for i in range(2, len(rows) + 1):
        fig.update_yaxes(scaleanchor=f"x{i}", row=1, col=i)
    _image_legend(fig, shade)
    return _layout(fig, f"After {step} step(s)", height=330, showlegend=True,
                   legend=dict(orientation="h", yanchor="top", y=-0.02, xanchor="left", x=0))


IMAGE_LEGEND = {"value": ((IMAGE_MASK, "still masked"), ("#ffffff", "revealed: light = low value"),
                          ("#000000", "revealed: dark = high value"), (JUST_ORANGE, "just revealed (outline)")),
                "confidence": ((MASK_GREY, "still masked"), (JUST_ORANGE, "revealed at this step"),
                               (EARLIER_BLUE, "revealed earlier (darker = more confident)"))}


def _image_legend(fig: go.Figure, shade: str) -> None:
    """Legend entries for the image replay's colours (heatmaps have none of their own)."""
    for colour, label in IMAGE_LEGEND[shade]:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label, hoverinfo="skip",
                                 marker=dict(symbol="square", size=12, color=colour,
                                             line=dict(color="#888", width=1))))


def _pixel(value, num_categories: int) -> float:
    """A pixel value as a grey level in [0, 1]."""
    if value is None or isinstance(value, str):
        return 0.0
    return float(value) / max(1, num_categories - 1)


def _outline_just(fig: go.Figure, status: list[int], n_cols: int, col: int) -> None:
    for l, s in enumerate(status):
        if s == JUST:
            r, c = divmod(l, n_cols)
            fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5, row=1, col=col,
                          line=dict(color=JUST_ORANGE, width=3))


# --- order statistics ------------------------------------------------------------------------------


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
    return _layout(fig, "When is each position decoded? (expected step ± spread)", x="decode step (1 = first)",
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
    fig = _layout(fig, "", x="nats (0 = one fixed order)", height=180)
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
        x=nll, y=labels, mode="markers", marker=dict(size=13, color=[_colour(i) for i in range(len(labels))]),
        error_x=dict(type="data", array=hi - nll, arrayminus=nll - lo, thickness=2, width=7, color="#374151"),
        customdata=np.stack([lo, hi], axis=-1),
        hovertemplate="%{y}: %{x:.3f} nats<br>95% interval %{customdata[0]:.3f} – %{customdata[1]:.3f}"
                      "<extra></extra>"))
    pad = 0.12 * max(float(hi.max() - lo.min()), 1e-3)
    fig.update_xaxes(range=[float(lo.min()) - pad, float(hi.max()) + pad], zeroline=False)
    fig.update_yaxes(type="category", autorange="reversed")
    return _layout(fig, "Order NLL with 95% interval", x="nats per sequence (lower is better)",
                   height=max(220, 110 + 45 * len(labels)))


# --- the lesson ------------------------------------------------------------------------------------


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
    fig = _layout(fig, "Forward masking: each position is masked at its own time tau_l",
                  y="time t (0 = clean, 1 = all masked)", height=500,
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"))
    return fig.update_layout(margin=dict(t=90, b=10))


LABEL_ROOM = 0.8  # category widths kept free right of the last bar


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
    return _layout(fig, "Sorting masking times gives the decoding order (generation runs t = 1 → 0)",
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
    return _layout(fig, "Plackett–Luce: formula vs. what sampling gives", x="order (decoded first → last)",
                   y="probability", barmode="group", height=360,
                   legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))


LEGEND_ORDERS = 6  # orders named in the stacked bar's legend


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
    return _layout(fig, "NELBO = Σ over orders of P(pi) × AR loss(pi)", y="nats", barmode="stack",
                   height=360, showlegend=True,
                   legend=dict(title=f"order (top {min(LEGEND_ORDERS, len(labels))} by P)", traceorder="normal",
                               font=dict(size=11)))


# --- helpers ---------------------------------------------------------------------------------------

_PALETTE = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880"]


def _colour(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def _layout(fig: go.Figure, title: str, x: str = "", y: str = "", **kw) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=kw.pop("height", HEIGHT),
                      margin=dict(l=10, r=10, t=50 if title else 10, b=10), **kw)
    return fig
