"""The Sudoku figure builders are pure functions: cell status, conflicts and the side-by-side HTML."""

import re

from app.figures import sudoku as fs
from core import sudoku

G = sudoku.geometry(4)
SOLUTION = [0, 1, 2, 3, 2, 3, 0, 1, 1, 0, 3, 2, 3, 2, 1, 0]  # a valid 4x4 grid (values 0..3)


def test_cell_status_marks_givens_earlier_just_and_masked():
    step_of = [-1, 0, 1, 2]
    assert fs.cell_status(step_of, 0) == [fs.GIVEN, fs.MASKED, fs.MASKED, fs.MASKED]
    assert fs.cell_status(step_of, 2) == [fs.GIVEN, fs.EARLIER, fs.JUST, fs.MASKED]
    assert fs.cell_status(step_of, 3) == [fs.GIVEN, fs.EARLIER, fs.EARLIER, fs.JUST]


def test_conflicts_are_repeats_in_a_row_column_or_box():
    shown = [None] * 16
    assert not any(fs.conflict_cells(G, shown))
    shown[0], shown[3] = 2, 2  # same row
    shown[5] = 1
    clash = fs.conflict_cells(G, shown)
    assert clash[0] and clash[3] and not clash[5] and sum(clash) == 2
    assert not any(fs.conflict_cells(G, SOLUTION))


def test_grid_view_and_verdict():
    step_of = [-1] * 4 + list(range(12))
    row = {"label": "margin", "values": SOLUTION, "step_of": step_of, "solution": SOLUTION}
    start = fs.grid_view(G, row, 0)
    assert start["masked"] == 12 and start["shown"][:4] == SOLUTION[:4] and start["shown"][4] is None
    assert fs.verdict(start) == "12 cells left"
    assert fs.verdict(fs.grid_view(G, row, 12)) == "finished: solved ✓"
    wrong = dict(row, values=SOLUTION[:15] + [3])  # the last cell repeats a 4 of its row
    view = fs.grid_view(G, wrong, 12)
    assert view["wrong"] == 1 and "not solved" in fs.verdict(view) and view["conflicts"][15]


def test_side_by_side_draws_one_grid_per_policy_with_the_step_state():
    step_of = [-1] * 4 + list(range(12))
    rows = [{"label": "random", "values": SOLUTION, "step_of": step_of},
            {"label": "margin", "values": SOLUTION, "step_of": step_of[:4] + step_of[4:][::-1]}]
    html = fs.side_by_side(G, rows, 1, title="Puzzle 0")
    assert re.findall(r'<div class="ors-title">([^<]*)</div>', html) == ["random", "margin"]
    assert html.count("<td") == 32 and "Puzzle 0" in html and "conflict" in html
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert cells[:5] == ["1", "2", "3", "4", "3"] and cells[5] == ""  # givens, then the first revealed cell
    assert cells[16 + 4] == "" and cells[16 + 15] == "1"  # margin revealed the last cell first
    assert html.count("just revealed") >= 2  # each grid has one just-revealed cell (+ the legend)
