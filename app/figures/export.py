"""The numbers a figure draws, as a table: one row per point of each trace (per cell of a heatmap), for the
CSV download under every chart (``app/charts.py``); and the decodings behind the HTML views (Compare's replay
strip, the Sudoku grids), one row per policy and position.

Pure functions: a ``go.Figure`` in, a ``pandas.DataFrame`` out; no streamlit, no state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.figures.style import SPAN

COLUMNS = ["chart", "trace", "x", "y"]


def figure_frame(fig: go.Figure, chart: str = "") -> pd.DataFrame:
    """Columns ``chart, trace, x, y`` and, where a trace has them, ``z`` (heatmaps), ``base`` (bars that
    start above 0), ``x_error_plus`` / ``x_error_minus`` / ``y_error_…`` (error bars). Legend-only traces
    (no data) and the invisible points of ``style.span_trace`` give no rows."""
    frames = [trace_frame(trace, trace.name or f"trace {i}") for i, trace in enumerate(fig.data)
              if trace.meta != SPAN]  # invisible points that only widen an axis
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "chart", chart or (fig.layout.title.text or ""))
    return frame


def trace_frame(trace, name: str) -> pd.DataFrame:
    if trace.type == "heatmap":
        return heatmap_frame(trace, name)
    x, y = _values(trace.x), _values(trace.y)
    n = len(x if x is not None else y if y is not None else [])
    x = x if x is not None else list(range(n))
    y = y if y is not None else list(range(n))
    columns = {"trace": name, "x": x, "y": y}
    if trace.type == "bar" and trace.base is not None:
        base = _values(trace.base) if not np.isscalar(trace.base) else [trace.base] * n
        columns["base"] = base
    for axis in ("x", "y"):
        error = getattr(trace, f"error_{axis}", None)
        if error is not None and error.array is not None:
            columns[f"{axis}_error_plus"] = _values(error.array)
            minus = error.arrayminus if error.arrayminus is not None else error.array
            columns[f"{axis}_error_minus"] = _values(minus)
    frame = pd.DataFrame(columns)
    return frame[~(frame["x"].isna() & frame["y"].isna())]  # legend entries drawn from [None]


def heatmap_frame(trace, name: str) -> pd.DataFrame:
    """One row per cell: its column label ``x``, row label ``y`` and value ``z``."""
    z = np.asarray(np.asarray(trace.z, dtype=object).tolist(), dtype=float)  # [rows, cols]
    if z.ndim != 2 or z.size == 0:
        return pd.DataFrame(columns=COLUMNS[1:])
    x, y = _labels(trace.x, z.shape[1]), _labels(trace.y, z.shape[0])
    rows, cols = np.indices(z.shape)
    return pd.DataFrame({"trace": name, "x": [x[c] for c in cols.ravel()], "y": [y[r] for r in rows.ravel()],
                         "z": z.ravel()})


def decoding_frame(rows: list[dict], names: list[str] | None = None) -> pd.DataFrame:
    """One row per policy and position of the replay rows the HTML views draw (``app/figures/replay.py``,
    ``app/figures/sudoku.py``): ``policy, position, step`` (the 1-based decoding step that revealed it; 0 =
    given), ``value``, and ``confidence`` / ``entropy`` / ``solution`` where the rows have them."""
    out = []
    for row in rows:
        for l, step in enumerate(row["step_of"]):
            record = {"policy": row["label"], "position": names[l] if names else l, "step": int(step) + 1,
                      "value": row["values"][l]}
            for field in ("confidence", "entropy", "solution"):
                if field in row:
                    record[field] = row[field][l]
            out.append(record)
    return pd.DataFrame(out, columns=None if out else ["policy", "position", "step", "value"])


def _values(v) -> list | None:
    return None if v is None else list(np.asarray(v, dtype=object).ravel())


def _labels(v, n: int) -> list:
    """Cell labels along one axis: the given ones, the midpoints of given cell edges, or 0..n-1."""
    if v is None:
        return list(range(n))
    v = _values(v)
    if len(v) == n + 1:  # edges (e.g. the rank heatmap's columns centred on their steps)
        edges = np.asarray(v, dtype=float)
        return ((edges[1:] + edges[:-1]) / 2).tolist()
    return v
