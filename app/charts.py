"""Drawing a figure or a table on a page: presenter fonts, a small toolbar, PNG and CSV export.

Every chart of the lab goes through :func:`plot` and every table through :func:`table`. A chart gets
presenter fonts when presenter mode is on (``app/presenter.py``), the plotly toolbar with only what helps
(PNG download, zoom, pan, reset), shown on hover and placed where it does not cover the title (titles are
left-aligned, the toolbar sits at the right), a PNG named after the chart, and a CSV button
(key ``<chart key>_csv``) with the numbers it draws (``app/figures/export.py``), built only when clicked.
A table gets its CSV button the same way. In presenter mode the CSV buttons are left out (no controls on
the projector). ``revision`` makes a chart's ``uirevision`` a constant of the run it shows, so a zoom
survives the redraws of a live run and a new run starts unzoomed.

:func:`plot_shared` is :func:`plot` for figures many sessions redraw every second from the same data (a
class following one run, a shipped replay): the finished figure is built once per content digest
(:func:`digest`) and shared by every session, in a cache of ``core.limits.FIGURE_CACHE_ENTRIES`` figures;
figures of inputs over ``SHARED_FIGURE_MAX_INPUT_BYTES`` are built per session, so the cache stays small.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import presenter
from app.figures import export
from core import limits

REMOVED_BUTTONS = ["lasso2d", "select2d", "autoScale2d", "zoomIn2d", "zoomOut2d", "toggleSpikelines",
                   "hoverClosestCartesian", "hoverCompareCartesian"]


def slug(text: str) -> str:
    """``Held-out NELBO (nats…)`` -> ``held-out-nelbo-nats``: a file name from a chart title."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "chart"


def config(fig: go.Figure) -> dict:
    name = slug(fig.layout.title.text or "chart")
    return {"displaylogo": False, "displayModeBar": "hover", "modeBarButtonsToRemove": REMOVED_BUTTONS,
            "toImageButtonOptions": {"format": "png", "filename": f"orderlab-{name}", "scale": 2}}


def plot(box, fig: go.Figure, key: str, revision: str | None = None, **kwargs) -> None:
    """Draw ``fig`` in ``box`` (``st``, a column, a container) with the lab's toolbar, presenter fonts and
    a CSV button (on a copy: a figure the caller keeps or caches is never changed). ``revision`` (e.g. the
    run's label) keeps zoom and hidden traces across redraws of the same chart of the same run."""
    show(box, finished(fig, key, revision, presenter.on()), key, **kwargs)


def plot_shared(box, build: Callable[[], go.Figure], key: str, content: str | None, revision: str | None = None,
                **kwargs) -> None:
    """:func:`plot` of ``build()``, built once for every session that draws the same ``content`` (a
    :func:`digest` of everything ``build`` reads) under the same key, revision and presenter mode; built
    for this session only when ``content`` is None (inputs too large to keep)."""
    if content is None:
        plot(box, build(), key, revision, **kwargs)
        return
    show(box, _shared(content, key, revision, presenter.on(), build), key, **kwargs)


def digest(*parts) -> str | None:
    """A content key for :func:`plot_shared`: the hash of ``parts`` (JSON-able: snapshots, exponents,
    names), or None when their JSON is over ``limits.SHARED_FIGURE_MAX_INPUT_BYTES``."""
    text = json.dumps(parts, sort_keys=True, default=str)
    if len(text) > limits.SHARED_FIGURE_MAX_INPUT_BYTES:
        return None
    return hashlib.sha1(text.encode()).hexdigest()


def finished(fig: go.Figure, key: str, revision: str | None, large: bool) -> go.Figure:
    """A styled copy of ``fig``: left-aligned title, the run's ``uirevision``, presenter fonts if ``large``."""
    fig = go.Figure(fig)
    fig.update_layout(title_x=0, title_xanchor="left")
    if revision is not None:
        fig.update_layout(uirevision=f"{revision}/{key}")
    return presenter.large(fig) if large else fig


@st.cache_resource(max_entries=limits.FIGURE_CACHE_ENTRIES, show_spinner=False)
def _shared(content: str, key: str, revision: str | None, large: bool, _build) -> go.Figure:
    """One finished figure per content, key, revision and mode, for every session (read, never changed)."""
    return finished(_build(), key, revision, large)


def show(box, fig: go.Figure, key: str, **kwargs) -> None:
    """Draw a finished figure and its CSV button."""
    box.plotly_chart(fig, key=key, config=config(fig), **kwargs)
    title = fig.layout.title.text or key
    csv_download(box, lambda: export.figure_frame(fig, title), title, key=f"{key}_csv",
                 help="Download the numbers this chart draws as CSV (one row per point or cell).")


def table(box, frame: pd.DataFrame, key: str, name: str, **kwargs) -> None:
    """Draw ``frame`` with ``st.dataframe`` in ``box`` and a CSV button (key ``<key>_csv``) under it. In
    presenter mode a plain table instead (its text scales with the page; the interactive grid's does not)."""
    if presenter.on():
        box.table(frame.style.format(precision=3).hide(axis="index"))
        return
    box.dataframe(frame, key=key, **kwargs)
    csv_download(box, frame, name, key=f"{key}_csv", help="Download this table as CSV.")


def csv_download(box, frame: pd.DataFrame | Callable[[], pd.DataFrame], name: str, key: str, label: str = "CSV",
                 help: str = "Download the numbers behind this chart or table as CSV.") -> None:
    """A download button with ``frame`` as CSV (``orderlab-<name>.csv``); a callable ``frame`` is only
    called when the button is clicked (live charts redraw every second). None in presenter mode (no
    controls on the projector)."""
    if presenter.on():
        return
    data = (lambda: frame().to_csv(index=False)) if callable(frame) else frame.to_csv(index=False).encode()
    box.download_button(label, data, file_name=f"orderlab-{slug(name)}.csv", mime="text/csv", key=key,
                        on_click="ignore", type="tertiary", help=help)


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
