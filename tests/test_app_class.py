"""Class mode (AppTest and the registry): a teacher shares a run under a short code, students follow it
read-only; links restore the Lesson's whole state.

``run_every`` fragments do not fire under AppTest: each ``at.run()`` stands for one tick of a follower.
"""

import json
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app import class_mode


ROOT = Path(__file__).resolve().parents[1]
MAIN = str(ROOT / "app" / "main.py")


def teacher_with_a_run(steps: int = 200) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.text_input(key="train_steps").input(str(steps))
    at.select_slider(key="train_d_model").set_value(16)
    at.select_slider(key="train_layers").set_value(1)
    at.checkbox(key="train_baseline").uncheck()
    at.run()
    next(b for b in at.button if b.label == "Start").click()
    return at.run()


def student(code: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("content/classroom.py")
    at.query_params["code"] = code
    return at.run()


def reopened(query: dict, script: str = MAIN, page: str | None = None) -> AppTest:
    """A fresh session opened on a shared link: ``script`` (switched to ``page`` first) with ``query``."""
    fresh = AppTest.from_file(script, default_timeout=60)
    if page is not None:
        fresh.run().switch_page(page)
    for k, v in query.items():
        fresh.query_params[k] = v
    fresh.run()
    assert not fresh.exception
    return fresh


def shown_step(at: AppTest) -> int:
    text = at.get("progress")[0].proto.text
    return int(text.split("step ")[1].split(" /")[0].replace(",", ""))


def test_students_follow_the_teachers_run_without_training():
    teacher = teacher_with_a_run()
    teacher.button(key="train_share").click().run()
    code = teacher.session_state["train_share_code"]
    assert class_mode.valid_code(code) and any(f"code={code}" in c.value for c in teacher.code)
    run = teacher.session_state["train_runs"][-1]
    students = [student(code) for _ in range(2)]
    deadline = time.monotonic() + 90
    while run.trainer.step_count < 5:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    for at in students:
        before = run.trainer.step_count
        at.run()
        after = run.trainer.step_count
        assert not at.exception
        assert before <= shown_step(at) <= after  # the teacher's run as it was during this tick
        assert not at.session_state["train_runs"] if "train_runs" in at.session_state else True
        assert not [b for b in at.button if b.label in ("Pause", "Stop", "Start")]  # read-only
    run.stop()


def test_an_unknown_code_says_so():
    at = student("ZZZZ")
    assert not at.exception and any("No shared run" in w.value for w in at.warning)


def test_the_registry_is_bounded_and_replays_agree_on_the_snapshot():
    now = [0.0]
    registry = class_mode.ClassRegistry(max_shared=3, clock=lambda: now[0])
    codes = [registry.share_replay(f"run{i}", 2.0, f"run{i}") for i in range(5)]
    assert len(registry) == 3 and registry.get(codes[0]) is None and registry.get(codes[-1]) is not None
    now[0] = 4.0
    replay = registry.get(codes[-1]).replay
    assert replay.index(registry.now(), 100) == 8 and replay.index(registry.now(), 5) == 4
    now[0] += class_mode.SHARE_TTL_S + 1
    assert registry.get(codes[-1]) is None
    assert registry.get(codes[-1].lower()) is None and not class_mode.valid_code("O0I1")


def test_a_lesson_link_restores_step_exponents_task_and_seed_without_presenter_mode():
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("content/lesson.py").run()
    at.selectbox(key="lesson_task").set_value("parity").run()
    at.number_input(key="lesson_seed").set_value(9).run()
    at.select_slider(key="lesson_w_1").set_value(7.0).run()
    at.radio(key="lesson_step").set_value(at.radio(key="lesson_step").options[3]).run()
    query = {k: at.query_params[k] for k in at.query_params}
    assert "presenter" not in query and query["step"] == "3"
    fresh = reopened(query, page="content/lesson.py")
    assert fresh.selectbox(key="lesson_task").value == "parity" and fresh.number_input(key="lesson_seed").value == 9
    assert fresh.select_slider(key="lesson_w_1").value == 7.0
    assert fresh.radio(key="lesson_step").value == at.radio(key="lesson_step").value
    assert not fresh.session_state["lesson_presenter"] if "lesson_presenter" in fresh.session_state else True


def test_presenter_mode_only_when_the_link_asks():
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["presenter"] = "1"
    at.run()
    assert at.session_state["lesson_presenter"] and any("stMetricValue" in h.value for h in at.get("html"))


def test_a_train_link_restores_mode_task_seed_steps_and_the_replayed_snapshot(monkeypatch):
    monkeypatch.delenv("ORDERLAB_PRETRAINED_DIR", raising=False)
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.radio(key="train_mode").set_value("Replay a shipped run").run()
    at.selectbox(key="replay_name").set_value("majority-learned").run()
    at.slider(key="replay_index").set_value(5).run()
    query = {k: at.query_params[k] for k in at.query_params}
    assert query["mode"] == "Replay a shipped run" and query["replay"] == "majority-learned" and query["snapshot"] == "5"
    fresh = reopened(query)
    assert fresh.radio(key="train_mode").value == "Replay a shipped run"
    assert fresh.selectbox(key="replay_name").value == "majority-learned" and fresh.slider(key="replay_index").value == 5


def test_a_compare_link_restores_model_policies_seed_and_step(monkeypatch):
    monkeypatch.delenv("ORDERLAB_PRETRAINED_DIR", raising=False)
    page = str(ROOT / "app" / "content" / "compare.py")
    at = AppTest.from_file(page, default_timeout=60).run()
    at.multiselect(key="compare_policies").set_value(["learned", "confidence"]).run()
    at.number_input(key="compare_seed").set_value(4).run()
    at.slider(key="compare_step").set_value(3).run()
    query = {k: at.query_params[k] for k in at.query_params}
    assert query == {"model": "majority-learned", "policies": "learned,confidence", "seed": "4", "step": "3"}
    fresh = reopened(query, script=page)
    assert fresh.selectbox(key="compare_model").value == "shipped: majority-learned"
    assert fresh.multiselect(key="compare_policies").value == ["learned", "confidence"]
    assert fresh.number_input(key="compare_seed").value == 4 and fresh.slider(key="compare_step").value == 3


def test_a_shared_replay_is_followed_at_the_same_snapshot(monkeypatch):
    monkeypatch.delenv("ORDERLAB_PRETRAINED_DIR", raising=False)
    teacher = AppTest.from_file(MAIN, default_timeout=60).run()
    teacher.radio(key="train_mode").set_value("Replay a shipped run").run()
    teacher.selectbox(key="replay_name").set_value("majority-learned").run()
    teacher.button(key="replay_share").click().run()
    code = teacher.session_state["replay_share_code"]
    followers = [student(code) for _ in range(2)]
    texts = [at.get("progress")[0].proto.text for at in followers]
    assert all("replay of **majority-learned**" in t for t in texts) and not any(at.exception for at in followers)
    snapshots = [int(t.split("snapshot ")[1].split(" /")[0]) for t in texts]
    assert abs(snapshots[0] - snapshots[1]) <= 2  # the same clock: at most a tick or two apart


def test_sessions_showing_the_same_snapshot_share_one_build_of_each_figure(monkeypatch):
    """A class on one replay costs the server one figure build per snapshot, not one per student per tick;
    another snapshot, or presenter mode, is a figure of its own."""
    from app import charts
    from app.figures import training as training_figures
    from core import limits

    monkeypatch.delenv("ORDERLAB_PRETRAINED_DIR", raising=False)
    built = []  # the number of snapshots drawn, per build of the NELBO chart
    original = training_figures.nelbo_curves
    monkeypatch.setattr(training_figures, "nelbo_curves",
                        lambda curves, *a, **k: built.append(len(curves["majority-learned"])) or original(curves, *a, **k))
    charts._shared.clear()

    def at_snapshot(index: int, query: dict | None = None) -> AppTest:
        at = reopened({"mode": "Replay a shipped run", "replay": "majority-learned", "snapshot": str(index),
                       **(query or {})})
        assert at.slider(key="replay_index").value == index
        return at

    sessions = [at_snapshot(5) for _ in range(3)]
    assert built.count(6) == 1  # three sessions, one build
    sessions[0].slider(key="replay_index").set_value(6).run()
    sessions[1].slider(key="replay_index").set_value(6).run()
    assert built.count(7) == 1
    spec = lambda at: json.loads(next(c for c in at.get("plotly_chart") if c.key == "replay_nelbo").proto.spec)
    assert spec(sessions[0]) == spec(sessions[1]) != spec(sessions[2])  # what each session shows is its own
    at_snapshot(6, {"presenter": "1"})
    assert built.count(7) == 2  # presenter fonts: another figure
    monkeypatch.setattr(limits, "SHARED_FIGURE_MAX_INPUT_BYTES", 100)  # every input too large to keep
    at_snapshot(6)
    at_snapshot(6)
    assert built.count(7) == 4  # each session built its own


def test_figures_of_very_large_inputs_are_not_kept_for_sharing(monkeypatch):
    from app import charts
    from core import limits

    small = charts.digest([{"step": 0, "exponents": [1.0] * 16}])
    assert isinstance(small, str) and small == charts.digest([{"step": 0, "exponents": [1.0] * 16}])
    assert small != charts.digest([{"step": 0, "exponents": [2.0] * 16}])
    monkeypatch.setattr(limits, "SHARED_FIGURE_MAX_INPUT_BYTES", 100)
    assert charts.digest([{"step": 0, "exponents": [1.0] * 16}]) is None  # drawn for its session only
