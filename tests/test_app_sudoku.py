"""The Sudoku views (AppTest): the Compare page's grids side by side and solve rates, and the Lesson step
"when a fixed order is not enough", on a tiny 4x4 checkpoint."""

import io
import re
from pathlib import Path

import pandas as pd

import pytest
from streamlit.testing.v1 import AppTest

from conftest import save_tiny


ROOT = Path(__file__).resolve().parents[1]
COMPARE = str(ROOT / "app" / "content" / "compare.py")
LESSON = str(ROOT / "app" / "content" / "lesson.py")
SUDOKU_STEP = "6 · When a fixed order is not enough"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    save_tiny(root / "sudoku4-learned", task="sudoku", task_params={"size": 4, "num_train": 64, "num_heldout": 8})
    return root


@pytest.fixture()
def env(shipped, monkeypatch):
    monkeypatch.setenv("ORDERLAB_PRETRAINED_DIR", str(shipped))


def grids(at: AppTest) -> dict[str, list[str]]:
    """Policy label -> the 16 cell texts of its grid, read from the page's HTML."""
    body = at.get("html")[0].proto.body
    labels = re.findall(r'<div class="ors-title">([^<]*)</div>', body)
    parts = body.split('<div class="ors-title">')[1:]
    return {label: re.findall(r"<td[^>]*>([^<]*)</td>", part) for label, part in zip(labels, parts)}


def test_compare_draws_the_policies_side_by_side_on_one_puzzle(env, deferred):
    at = AppTest.from_file(COMPARE, default_timeout=60).run()
    assert not at.exception
    shown = grids(at)
    assert list(shown) == ["learned", "random", "margin"]
    assert all(len(cells) == 16 and "" not in cells for cells in shown.values())  # decoded to the end
    at.slider(key="compare_sudoku_step").set_value(0).run()
    start = grids(at)
    givens = [c for c in start["learned"] if c]
    assert 0 < len(givens) < 16 and start["learned"] == start["margin"]  # only the givens, for every policy
    at.slider(key="compare_sudoku_step").set_value(1).run()
    assert all(sum(c != "" for c in cells) == len(givens) + 1 for cells in grids(at).values())
    button = next(b for b in at.get("download_button") if b.key == "compare_sudoku_step_csv")
    cells = pd.read_csv(io.StringIO(deferred[button.proto.deferred_file_id]()))
    assert len(cells) == 16 * 3 and list(cells["policy"].unique()) == list(shown)
    learned = cells[cells["policy"] == "learned"]
    assert (learned["step"] == 0).sum() == len(givens)  # the givens, then one cell per step
    assert sorted(learned.loc[learned["step"] > 0, "step"]) == list(range(1, 17 - len(givens)))
    assert [str(v) for v in learned["value"]] == shown["learned"] and "solution" in cells


def test_compare_solve_rates_and_another_puzzle(env):
    at = AppTest.from_file(COMPARE, default_timeout=60).run()
    at.number_input(key="compare_puzzle").set_value(3).run()
    assert not at.exception and "Puzzle 3" in at.get("html")[0].proto.body
    at.button(key="compare_sudoku_score").click().run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    table = at.dataframe[0].value
    assert list(table["policy"]) == ["learned", "random", "margin"]
    assert ((table["95% low"] <= table["solve rate"]) & (table["solve rate"] <= table["95% high"])).all()
    assert (table["model calls"] > 0).all()


def test_lesson_step_shows_learned_beside_margin(env):
    at = AppTest.from_file(LESSON, default_timeout=60).run()
    at.radio(key="lesson_step").set_value(SUDOKU_STEP).run()
    assert not at.exception
    assert list(grids(at)) == ["learned", "margin"]
    assert any("fixed order" in m.value or "adaptive" in m.value for m in at.markdown)


def test_lesson_step_without_a_sudoku_checkpoint_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERLAB_PRETRAINED_DIR", str(tmp_path))
    at = AppTest.from_file(LESSON, default_timeout=60).run()
    at.radio(key="lesson_step").set_value(SUDOKU_STEP).run()
    assert not at.exception and any("--task sudoku" in i.value for i in at.info)
