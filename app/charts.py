"""Drawing a figure or a table on a page: presenter fonts, a small toolbar, PNG and CSV export.

Every chart of the lab goes through :func:`plot`: presenter mode enlarges it (``app/presenter.py``), the
plotly toolbar keeps only what helps (PNG download, zoom, pan, reset) and shows on hover only, placed
where it does not cover the title (titles are left-aligned, the toolbar sits at the right), and the PNG
is named after the chart. :func:`csv_download` offers the numbers behind a chart or a table.
"""

from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go

from app import presenter

REMOVED_BUTTONS = ["lasso2d", "select2d", "autoScale2d", "zoomIn2d", "zoomOut2d", "toggleSpikelines",
                   "hoverClosestCartesian", "hoverCompareCartesian"]


def slug(text: str) -> str:
    """``Held-out NELBO (nats…)`` -> ``held-out-nelbo-nats``: a file name from a chart title."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "chart"


def config(fig: go.Figure) -> dict:
    name = slug(fig.layout.title.text or "chart")
    return {"displaylogo": False, "displayModeBar": "hover", "modeBarButtonsToRemove": REMOVED_BUTTONS,
            "toImageButtonOptions": {"format": "png", "filename": f"orderlab-{name}", "scale": 2}}


def plot(box, fig: go.Figure, key: str, **kwargs) -> None:
    """Draw ``fig`` in ``box`` (``st``, a column, a container) with the lab's toolbar and presenter fonts
    (on a copy: a figure the caller keeps or caches is never changed)."""
    fig = go.Figure(fig)
    fig.update_layout(title_x=0, title_xanchor="left")
    presenter.style(fig)
    box.plotly_chart(fig, key=key, config=config(fig), **kwargs)


def csv_download(box, frame: pd.DataFrame, name: str, key: str, label: str = "CSV") -> None:
    """A download button with ``frame`` as CSV (``orderlab-<name>.csv``)."""
    box.download_button(label, frame.to_csv(index=False).encode(), file_name=f"orderlab-{slug(name)}.csv",
                        mime="text/csv", key=key, on_click="ignore",
                        help="Download the numbers behind this chart or table as CSV.")


def history_frame(curves: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per snapshot of each curve: step, held-out NELBO and its error, entropy, precedence, and
    every position's exponent (``w_<position index>``)."""
    rows = []
    for label, history in curves.items():
        for s in history:
            row = {"run": label, "step": s["step"], "heldout_nelbo": s.get("heldout_nelbo"),
                   "heldout_se": s.get("heldout_se"), "order_entropy": s.get("order_entropy"),
                   "group_precedence": s.get("group_precedence"), "kendall_tau": s.get("kendall_tau")}
            row.update({f"w_{i}": w for i, w in enumerate(s.get("exponents", []))})
            rows.append(row)
    return pd.DataFrame(rows)
