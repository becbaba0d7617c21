"""The Sudoku decoding view shared by the Compare page and the Lesson's last step: the chosen policies'
greedy decodings of one held-out puzzle (``app/comparison.py``, cached), a step slider, and the grids side by
side (``app/figures/sudoku.py``). Scrubbing never runs the model again."""

from __future__ import annotations

import streamlit as st

from app import charts, comparison
from app.comparison import Model
from app.figures import export
from app.figures import sudoku as sudoku_figures
from core import sudoku


def puzzle_input(box, key: str, help: str) -> int:
    """Which held-out puzzle to decode (the first ``comparison.SUDOKU_PUZZLES``)."""
    return int(box.number_input("Puzzle", 0, comparison.SUDOKU_PUZZLES - 1, 0, key=key, help=help))


def grids(model: Model, policies: tuple[str, ...], index: int, seed: int, slider_key: str, slider_help: str,
          title) -> dict:
    """Decode (cached), draw the step slider and the grids; returns the trajectories. ``title(step, last,
    trajectories)`` is the heading above the grids. ValueError when over the decoding budget."""
    trajs = comparison.sudoku_trajectories(model, policies, index, seed)
    last = max(t.num_steps for t in trajs.values())
    step = st.slider("Decoding step", 0, last, last, key=slider_key, help=slider_help)
    g = sudoku.geometry(model.meta.params["size"])
    rows = comparison.sudoku_rows(model, trajs, index)
    st.html(sudoku_figures.side_by_side(g, rows, step, title(step, last, trajs)))
    names = model.meta.position_names
    charts.csv_download(st, lambda: export.decoding_frame(sudoku_figures.digit_rows(rows), names),
                        f"sudoku-{index}-decodings", key=f"{slider_key}_csv", label="Download the decodings (CSV)",
                        help="One row per policy and cell: the step that filled it (0 = given), its value and "
                             "the solution's.")
    return trajs
