"""The Lesson page (AppTest): URL presets, the live ELBO identity, and the jump to a training run."""

import json
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = str(ROOT / "app" / "page_lesson.py")
MAIN = str(ROOT / "app" / "main.py")
STEPS = ["1 · Forward masking", "2 · Times → order", "3 · Plackett–Luce", "4 · ELBO = mean AR loss",
         "5 · Train one"]


def lesson(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_query_params_preset_task_seed_and_policy():
    at = lesson(task="parity", seed="17", policy="random")
    assert not at.exception
    assert len(at.title[0].value) <= 45  # one line at 1400 px wide
    assert at.selectbox(key="lesson_task").value == "parity"
    assert at.selectbox(key="lesson_policy").value == "random"
    assert at.number_input(key="lesson_seed").value == 17
    assert [at.select_slider(key=f"lesson_w_{l}").value for l in range(4)] == [1.0] * 4  # random: all equal
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"] == ["b1", "b2", "p1", "p2"]


def test_changing_settings_writes_the_url():
    at = lesson()
    at.selectbox(key="lesson_task").set_value("addition").run()
    at.number_input(key="lesson_seed").set_value(5).run()
    assert not at.exception
    assert at.query_params["task"] == "addition" and at.query_params["seed"] == "5"
    assert at.query_params["policy"] == "learned"


def test_bad_query_params_are_ignored():
    at = lesson(task="nonsense", seed="-3", policy="?")
    assert not at.exception
    assert at.selectbox(key="lesson_task").value == "pairs"
    assert at.number_input(key="lesson_seed").value == 0


@pytest.mark.parametrize("task, policy", [("pairs", "learned"), ("addition", "left_to_right")])
def test_enumerated_orders_sum_to_exact_nelbo_and_monte_carlo_agrees(task, policy):
    at = lesson(task=task, policy=policy, seed="3")
    at.radio(key="lesson_step").set_value(STEPS[3]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 24  # every order of 4 positions
    assert table["P(pi)"].sum() == pytest.approx(1.0, abs=1e-9)
    m = metrics(at)
    exact = float(m["exact_nelbo"])
    assert float(table["P × loss"].sum()) == pytest.approx(exact, abs=1e-3)
    assert float(m["Σ P(pi) × AR loss"]) == pytest.approx(exact, abs=1e-3)
    mc, se = (float(v) for v in m["Monte Carlo nelbo (20,000 draws)"].split(" ± "))
    assert abs(mc - exact) <= 4.5 * se


def test_plackett_luce_formula_matches_sampling():
    at = lesson(seed="1")
    at.radio(key="lesson_step").set_value(STEPS[2]).run()
    assert not at.exception
    values = list(metrics(at).values())
    p, freq = float(values[0]), float(values[1])
    assert abs(p - freq) <= 4.5 * (p * (1 - p) / 20000) ** 0.5
    assert "P(\\pi)" in at.latex[0].value


def test_every_step_draws_and_presenter_mode_enlarges_type():
    at = lesson()
    for step in STEPS:
        at.radio(key="lesson_step").set_value(step).run()
        assert not at.exception, step
    at.toggle(key="lesson_presenter").set_value(True).run()
    assert any("<style>" in md.value for md in at.markdown)
    assert at.query_params["presenter"] == "1"


def test_train_button_presets_and_opens_the_train_page():
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("page_lesson.py").run()
    at.selectbox(key="lesson_task").set_value("parity").run()
    at.radio(key="lesson_step").set_value(STEPS[4]).run()
    at.button(key="lesson_train").click().run()
    assert not at.exception
    assert at.session_state["train_task"] == "parity"
    assert at.session_state["train_steps"] == 300
    assert "train_preset" not in at.session_state  # consumed by the Train page


def test_settings_survive_a_visit_to_another_page():
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("page_lesson.py").run()
    at.selectbox(key="lesson_task").set_value("parity").run()
    at.select_slider(key="lesson_w_2").set_value(7.0).run()
    at.switch_page("page_inspect.py").run()
    at.switch_page("page_lesson.py").run()
    assert not at.exception
    assert at.selectbox(key="lesson_task").value == "parity"
    assert at.select_slider(key="lesson_w_2").value == 7.0
