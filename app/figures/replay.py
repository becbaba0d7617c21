"""Decoding replays: every policy's decoding of one sample after any number of steps, side by side, as
an HTML strip (sequences and tables) or pictures (image tasks), and the status colours they share.

Pure functions: plain lists in, HTML, a ``go.Figure`` or plain data out; no streamlit, no state. A row is
one policy's decoding: ``{"label", "values" (final decoded values), "step_of" (0-based step that revealed
each position), "confidence" (p of each revealed token)}``, optionally ``"entropy"`` and ``"names"``.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures.style import layout

MASKED, EARLIER, JUST = 0, 1, 2  # replay status of a position after some decoding steps
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
MAX_CELL_TEXT = 8


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
    return layout(fig, f"After {step} step(s)", height=330, showlegend=True,
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
