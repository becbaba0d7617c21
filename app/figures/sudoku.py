"""Figure builders for Sudoku decoding: one grid per policy, side by side, after any number of steps.

Pure functions: plain lists in, HTML (or plain data) out; no streamlit, no state. A row describes one
policy's decoding of one puzzle: ``{"label", "values" (final cell values 0..n-1), "step_of" (0-based step
that revealed each cell, -1 for a given)}``, optionally ``"solution"``. After ``step`` steps a cell is a
**given** (bold on grey), revealed **earlier** (blue), **just** revealed (orange), or still masked (empty);
a revealed cell whose value repeats in its row, column or box is a **conflict** (red).
"""

from __future__ import annotations

from html import escape

import torch

from core import sudoku

MASKED, GIVEN, EARLIER, JUST = "masked", "given", "earlier", "just"
GIVEN_BG, JUST_BG, EARLIER_INK, CONFLICT = "#e5e7eb", "#fed7aa", "#1d4ed8", "#dc2626"
INK, LINE = "#111827", "#9ca3af"


def cell_status(step_of: list[int], step: int) -> list[str]:
    """Status of every cell after ``step`` decoding steps."""
    out = []
    for s in step_of:
        if s < 0:
            out.append(GIVEN)
        elif s < step - 1:
            out.append(EARLIER)
        elif s == step - 1:
            out.append(JUST)
        else:
            out.append(MASKED)
    return out


def digit_rows(rows: list[dict]) -> list[dict]:
    """Copies of the rows with cell values (and the solution) as the digits the grids show, 1..n."""
    out = []
    for row in rows:
        row = {**row, "values": [v + 1 for v in row["values"]]}
        if "solution" in row:
            row["solution"] = [v + 1 for v in row["solution"]]
        out.append(row)
    return out


def visible_values(values: list[int], status: list[str]) -> list[int | None]:
    """The values shown after some steps (None where still masked)."""
    return [None if s == MASKED else v for v, s in zip(values, status)]


def conflict_cells(g: sudoku.Geometry, shown: list[int | None]) -> list[bool]:
    """Cells whose shown value appears again in their row, column or box."""
    x = torch.tensor([[-1 if v is None else int(v) for v in shown]])
    return sudoku.conflicts(g, x)[0].tolist()


def grid_html(g: sudoku.Geometry, shown: list[int | None], status: list[str], clash: list[bool],
              title: str, note: str = "") -> str:
    """One grid as an HTML table: thick lines between boxes, cells coloured by status and conflict."""
    rows = []
    for r in range(g.n):
        cells = []
        for c in range(g.n):
            i = r * g.n + c
            cells.append(f'<td title="{_tooltip(r, c, status[i], clash[i])}" style="{_cell_style(g, r, c, status[i], clash[i])}">'
                         f"{'' if shown[i] is None else shown[i] + 1}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f'<div class="ors-title">{escape(title)}</div>'
    foot = f'<div class="ors-note">{escape(note)}</div>' if note else ""
    return (f'<div class="ors-grid">{caption}<table style="border-collapse:collapse;border:2px solid {INK}">'
            + "".join(rows) + f"</table>{foot}</div>")


def _cell_style(g: sudoku.Geometry, r: int, c: int, status: str, clash: bool) -> str:
    right = 2 if (c + 1) % g.box_cols == 0 else 1
    bottom = 2 if (r + 1) % g.box_rows == 0 else 1
    line = lambda w: f"{w}px solid {INK if w == 2 else LINE}"  # noqa: E731
    style = [f"border-right:{line(right)}", f"border-bottom:{line(bottom)}", "width:2.1em", "height:2.1em",
             "text-align:center", "font-size:1.15em", "font-family:monospace"]
    if status == GIVEN:
        style += [f"background:{GIVEN_BG}", "font-weight:bold", f"color:{INK}"]
    elif status == JUST:
        style += [f"background:{JUST_BG}", f"color:{INK}", "font-weight:bold"]
    elif status == EARLIER:
        style.append(f"color:{EARLIER_INK}")
    if clash:
        style += [f"color:{CONFLICT}", f"outline:2px solid {CONFLICT}", "outline-offset:-3px"]
    return ";".join(style)


def _tooltip(r: int, c: int, status: str, clash: bool) -> str:
    words = {GIVEN: "given", EARLIER: "revealed earlier", JUST: "just revealed", MASKED: "masked"}[status]
    return f"r{r + 1}c{c + 1}: {words}" + (" — conflicts with a cell in its row, column or box" if clash else "")


def grid_view(g: sudoku.Geometry, row: dict, step: int) -> dict:
    """Plain data of one policy's grid after ``step`` steps: shown values, status, conflicts, counts."""
    status = cell_status(row["step_of"], step)
    shown = visible_values(row["values"], status)
    clash = conflict_cells(g, shown)
    done = all(s != MASKED for s in status)
    wrong = None
    if row.get("solution") is not None:
        wrong = sum(v is not None and v != t for v, t in zip(shown, row["solution"]))
    return {"shown": shown, "status": status, "conflicts": clash, "done": done, "wrong": wrong,
            "masked": status.count(MASKED)}


def verdict(view: dict) -> str:
    """A few words under a grid: cells left, conflicts, solved or not."""
    n_clash = sum(view["conflicts"])
    if not view["done"]:
        text = f"{view['masked']} cells left"
        return text + (f", {n_clash} in conflict" if n_clash else "")
    if n_clash or view["wrong"]:
        return f"finished: not solved ({n_clash} cells in conflict)" if n_clash else "finished: not solved"
    return "finished: solved ✓"


def side_by_side(g: sudoku.Geometry, rows: list[dict], step: int, title: str | None = None) -> str:
    """Every policy's grid after ``step`` steps, side by side, with a legend."""
    grids = []
    for row in rows:
        view = grid_view(g, row, step)
        grids.append(grid_html(g, view["shown"], view["status"], view["conflicts"], row["label"], verdict(view)))
    head = f'<div class="ors-head">{escape(title)}</div>' if title else ""
    return (f"{_CSS}<div>{head}<div class=\"ors-row\">" + "".join(grids) + f"</div>{_legend()}</div>")


def _legend() -> str:
    swatch = lambda style, text: (f'<span style="display:inline-block;padding:0 0.4em;margin-right:0.8em;{style}">'  # noqa: E731
                                  f"{text}</span>")
    return ('<div class="ors-legend">' + swatch(f"background:{GIVEN_BG};font-weight:bold", "given")
            + swatch(f"background:{JUST_BG}", "just revealed") + swatch(f"color:{EARLIER_INK}", "revealed earlier")
            + swatch(f"color:{CONFLICT};outline:2px solid {CONFLICT}", "conflict") + "</div>")


_CSS = """<style>
.ors-row { display:flex; flex-wrap:wrap; gap:1.5em; }
.ors-grid { display:inline-block; }
.ors-title { font-weight:600; margin-bottom:0.3em; }
.ors-note { font-size:0.85em; color:#374151; margin-top:0.3em; }
.ors-head { margin-bottom:0.5em; }
.ors-legend { font-size:0.85em; margin-top:0.6em; }
</style>"""
