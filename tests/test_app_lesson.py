"""The Lesson page (AppTest): URL presets, the live ELBO identity, and the jump to a training run."""

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]

PAGE = str(ROOT / "app" / "content" / "lesson.py")
MAIN = str(ROOT / "app" / "main.py")
STEPS = ["0 · One order → every order", "1 · Forward masking", "2 · Times → order", "3 · Plackett–Luce",
         "4 · ELBO = mean AR loss", "5 · Train live"]


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
    assert set(at.dataframe[0].value["autoregressive (one fixed order)"]) == {"b1 → b2 → p1 → p2"}
    at.radio(key="lesson_step").set_value(STEPS[1]).run()
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
    at.radio(key="lesson_step").set_value(STEPS[4]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 24  # every order of 4 positions
    assert table["P(pi)"].sum() == pytest.approx(1.0, abs=1e-9)
    m = metrics(at)
    exact = float(m["Exact value"])
    assert float(table["P × loss"].sum()) == pytest.approx(exact, abs=1e-3)
    assert float(m["Σ P(pi) × AR loss"]) == pytest.approx(exact, abs=1e-3)
    mc, se = (float(v) for v in m["Random-draw estimate"].split(" ± "))
    assert abs(mc - exact) <= 4.5 * se


def test_plackett_luce_formula_matches_sampling():
    at = lesson(seed="1")
    at.radio(key="lesson_step").set_value(STEPS[3]).run()
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
    # the CSS itself comes from app/presenter.py on every page (tests/test_app_class.py)
    assert at.query_params["presenter"] == "1"


def test_the_live_step_trains_in_the_background_and_reaches_the_target():
    """Issue 13: step 5 ended at group precedence 0.49 in front of the class. The preset (majority, 400 steps)
    reaches 0.75 on seeds 0-4 (measured, see app/lesson_live.py); here seed 0 trains to the end."""
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("content/lesson.py").run()
    at.radio(key="lesson_step").set_value(STEPS[5]).run()
    at.button(key="lesson_train").click().run()
    assert not at.exception
    run = at.session_state["train_runs"][-1]
    assert run.background and run.config.task == "majority" and run.baseline is None
    at.button(key="lesson_train").click().run()  # a double click starts one run
    assert len(at.session_state["train_runs"]) == 1
    deadline = time.monotonic() + 300
    while run.state != "done":
        assert time.monotonic() < deadline
        time.sleep(1.0)
    at.run()
    assert run.trainer.history[-1]["group_precedence"] >= 0.75
    assert any("passed 0.75" in s.value for s in at.success)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any(t.startswith("Bits before votes") for t in titles)


def test_next_and_back_walk_every_step():
    from app.content.lesson import STEPS as ALL  # the Sudoku step follows step 5

    at = lesson()
    assert next(b for b in at.button if b.label == "← Back").disabled  # the first step
    for step in ALL[1:]:
        next(b for b in at.button if b.label == "Next →").click().run()
        assert at.radio(key="lesson_step").value == step and not at.exception
    assert next(b for b in at.button if b.label == "Next →").disabled  # the last step
    next(b for b in at.button if b.label == "← Back").click().run()
    assert at.radio(key="lesson_step").value == ALL[-2] and not at.exception


def test_step_zero_states_the_rule_and_contrasts_one_order_with_every_order():
    at = lesson(task="pairs")
    assert at.radio(key="lesson_step").value == STEPS[0]
    frame = at.dataframe[0].value
    assert set(frame["autoregressive (one fixed order)"]) == {"b1 → b2 → c1 → c2"}
    assert frame["masked diffusion, shared schedule (every order)"].nunique() > 1
    assert any("c_i" in latex.value for latex in at.latex)


def test_the_replay_fallback_shows_a_shipped_run_at_once():
    at = lesson()
    at.radio(key="lesson_step").set_value(STEPS[5]).run()
    at.button(key="lesson_replay").click().run()
    assert not at.exception
    slider = at.slider(key="lesson_replay_index")
    last = slider.max
    assert last > 4 and slider.value == last  # the finished run at once
    at.button(key="lesson_replay_play").click().run()  # from the first snapshot, and its first tick:
    assert at.session_state["lesson_replay_playing"]  # two snapshots per second at the default speed
    assert at.slider(key="lesson_replay_index").value == 2
    at.run()  # the next tick (timers do not fire here)
    assert at.session_state["lesson_replay_index"] == 4
    at.button(key="lesson_replay_play").click().run()  # pause
    at.run()
    assert at.session_state["lesson_replay_index"] == 4 and not at.session_state["lesson_replay_playing"]


def test_settings_survive_a_visit_to_another_page():
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("content/lesson.py").run()
    at.selectbox(key="lesson_task").set_value("parity").run()
    at.select_slider(key="lesson_w_2").set_value(7.0).run()
    at.switch_page("content/inspect.py").run()
    at.switch_page("content/lesson.py").run()
    assert not at.exception
    assert at.selectbox(key="lesson_task").value == "parity"
    assert at.select_slider(key="lesson_w_2").value == 7.0
