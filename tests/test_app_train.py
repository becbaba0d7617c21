"""The Train page (AppTest) and the session training runner behind it, on tiny models.

``run_every`` fragments do not fire under AppTest, so each ``at.run()`` stands for one live tick. The page's
runs train in worker threads, so tests wait for a condition on the run (:func:`wait_for`) between ticks.
"""

import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import training_budget, training_runner
from app.training_runner import TrainingRun, dataset_from_csv
from core import checkpoint, tasks
from core.train import TrainConfig, Trainer


ROOT = Path(__file__).resolve().parents[1]
MAIN = str(ROOT / "app" / "main.py")
TINY = dict(task="pairs", task_params={"n": 4}, d_model=16, n_layers=1, n_heads=2, batch_size=16,
            eval_size=32, eval_every=2, warmup=1, device="cpu")


@pytest.fixture(scope="module")
def tiny_dataset():
    return tasks.make_task("pairs", n=4)


@pytest.fixture()
def shipped(tmp_path, monkeypatch, tiny_dataset):
    """A ``pretrained/`` directory with one tiny checkpoint trained for 5 steps."""
    trainer = Trainer(TrainConfig(steps=5, eval_every=1, **{k: v for k, v in TINY.items() if k != "eval_every"}),
                      tiny_dataset)
    trainer.run()
    trainer.save(tmp_path / "tiny-pairs-learned")
    monkeypatch.setenv("ORDERLAB_PRETRAINED_DIR", str(tmp_path))
    return tmp_path


def app(**state) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def small_settings(at: AppTest, steps: int = 8) -> AppTest:
    at.text_input(key="train_steps").input(str(steps))
    at.select_slider(key="train_d_model").set_value(16)
    at.select_slider(key="train_layers").set_value(1)
    at.number_input(key="train_param_lookup_n").set_value(4)
    at.select_slider(key="train_batch").set_value(16)
    at.select_slider(key="train_eval_size").set_value(32)
    at.number_input(key="train_eval_every").set_value(2)
    at.slider(key="train_freeze").set_value(0)
    return at.run()


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly specs by title."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {s["layout"]["title"]["text"]: s for s in specs}


def current(at: AppTest) -> TrainingRun:
    return at.session_state["train_runs"][-1]


def wait_for(at: AppTest, condition, timeout_s: float = 90.0) -> AppTest:
    """Rerun the page (one live tick each) until ``condition()`` holds: the worker thread trains meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the background run did not get there in time"
        time.sleep(0.2)
    return at.run()


# --- the page --------------------------------------------------------------------------------------


def test_live_training_grows_the_history_and_draws_the_views():
    at = small_settings(app())
    assert not at.exception
    widgets = [w for kind in ("number_input", "select_slider", "radio", "selectbox", "checkbox", "button")
               for w in getattr(at, kind)]
    assert len(widgets) > 10 and all(w.help for w in widgets)
    button(at, "Start").click()
    at.run()
    run = current(at)
    assert run.state in ("running", "done") and run.baseline is not None and run.background
    assert run.config.schedule_delay == 0 and run.config.eval_every == 2 and run.config.d_model == 16
    wait_for(at, lambda: run.trainer.history and run.baseline.history)
    first_tick = revisions(at)
    metric = next(m.proto for m in at.metric if m.proto.label == "Held-out NELBO")
    assert metric.delta.startswith(("≈ equal to linear baseline", "+", "-"))
    progress = at.get("progress")[0].proto.text
    assert "since Start (pauses not counted)" in progress and " / 8" in progress
    wait_for(at, lambda: run.state == "done")  # the worker may get there before the first tick: no growth check
    at.run()
    assert [s["step"] for s in run.trainer.history] == [0, 2, 4, 6, 8] and not at.exception
    figs = charts(at)
    heat = next(s for t, s in figs.items() if t.startswith("Expected decode step of each position"))
    assert heat["data"][0]["y"] == run.meta.position_names and len(run.meta.position_names) == 8
    nelbo = next(s for t, s in figs.items() if t.startswith("Held-out NELBO"))
    assert {d["name"] for d in nelbo["data"] if d.get("showlegend") is not False} == {"learned", "linear baseline"}
    assert any(t.startswith("alpha_l(t)") for t in figs) and any(t.startswith("Precedence") for t in figs)
    assert any(t.startswith("Entropy") for t in figs)
    for spec in (heat, nelbo):  # the step axes span the whole run from the first tick
        assert spec["layout"]["xaxis"]["range"][1] >= 8
    assert "step" in at.get("progress")[0].proto.text
    # zoom survives live updates: each live chart keeps one uirevision, a constant of its run and chart
    last_tick = revisions(at)
    assert len(last_tick) >= 6 and all(rev == f"{run.label}/{key}" for key, rev in last_tick.items())
    assert all(last_tick[key] == rev for key, rev in first_tick.items() if key in last_tick)
    assert {f"{key}_csv" for key in last_tick} <= {b.key for b in at.get("download_button")}  # a CSV per chart


def revisions(at: AppTest) -> dict[str, str]:
    """Each live chart's ``layout.uirevision`` by chart key."""
    return {c.key: json.loads(c.proto.spec)["layout"].get("uirevision") for c in at.get("plotly_chart")
            if c.key.startswith("live_")}


def test_pause_step_resume_stop_keep_state_and_save_downloads():
    at = small_settings(app(), steps=400)
    button(at, "Start").click()
    at.run()
    run = current(at)
    wait_for(at, lambda: run.trainer.step_count >= 2)
    button(at, "Pause").click()
    at.run()
    steps, snapshots = run.trainer.step_count, len(run.trainer.history)
    time.sleep(1.0)
    at.run()
    assert run.state == "paused" and run.trainer.step_count == steps  # the worker is parked
    button(at, "Step").click()
    at.run()
    assert run.trainer.step_count == steps + 1 and run.baseline.step_count == steps + 1
    button(at, "Resume").click()
    at.run()
    assert run.state == "running"
    wait_for(at, lambda: run.trainer.step_count > steps + 1)
    button(at, "Stop").click()
    at.run()
    assert run.state == "stopped" and len(run.trainer.history) >= snapshots
    stopped_at = run.trainer.step_count
    time.sleep(1.0)
    at.run()
    assert run.trainer.step_count == stopped_at
    button(at, "Save checkpoint").click()
    at.run()
    assert not at.exception
    labels = [d.label for d in at.get("download_button")]
    assert labels[:2] == ["Download checkpoint (.zip)", "Download linear baseline (.zip)"]
    assert "Download every snapshot (CSV)" in labels  # the numbers behind the charts
    files = at.session_state["train_zip"][2]
    with zipfile.ZipFile(io.BytesIO(files["run"])) as zf:
        ckpt = checkpoint.load_from_bytes(zf.read("config.json"), zf.read("model.safetensors"),
                                          zf.read("metrics.json"))
    assert ckpt.metrics["steps"] == stopped_at and ckpt.config["schedule"] == "learned"


def test_a_bad_csv_shows_an_error_and_a_good_one_can_start():
    at = app()
    at.selectbox(key="train_task").set_value("upload a CSV").run()
    assert button(at, "Start").disabled
    at.file_uploader(key="train_csv").set_value(("bad.csv", b"only\n1\n1\n1\n", "text/csv")).run()
    assert not at.exception
    assert any("bad.csv" in e.value and "column" in e.value for e in at.error)
    assert button(at, "Start").disabled
    good = b"colour,size,price\n" + b"".join(f"{c},{s},{p}\n".encode() for c, s, p in
                                            [("red", 1, 3.5), ("blue", 2, 1.0), ("red", 3, 2.2)] * 20)
    at.file_uploader(key="train_csv").set_value(("shop.csv", good, "text/csv")).run()
    assert not at.error and not button(at, "Start").disabled


def test_an_invalid_task_parameter_is_reported_not_raised():
    at = app()
    # the page's defaults: a short lookup run whose schedule is frozen for its first 30 % of steps
    assert at.selectbox(key="train_task").value == "lookup" and at.text_input(key="train_steps").value == "600"
    assert at.slider(key="train_freeze").value == 30 and at.select_slider(key="train_d_model").value == 32
    assert "train_mode" in [r.key for r in at.sidebar.radio]  # not above the run buttons and their tooltips
    at.number_input(key="train_param_lookup_n").set_value(1).run()
    assert not at.exception and any("n must be" in e.value for e in at.error)
    assert button(at, "Start").disabled
    assert any("Start is off" in w.value and "n must be" in w.value for w in at.warning)  # beside Start


def test_a_run_that_would_record_too_many_snapshots_is_refused_before_start():
    """Every snapshot keeps each exponent and the live views redraw them all: a run is bounded in both."""
    at = app()
    at.text_input(key="train_steps").input("100000").run()
    assert not button(at, "Start").disabled  # auto: about 40 snapshots
    at.number_input(key="train_eval_every").set_value(5).run()  # 20,002 snapshots of 16 exponents
    assert not at.exception and button(at, "Start").disabled
    warning = next(w.value for w in at.warning if "Start is off" in w.value)
    assert "20,002 snapshots" in warning and "every 13 steps or more" in warning
    at.number_input(key="train_eval_every").set_value(13).run()
    assert not button(at, "Start").disabled


def test_a_run_built_elsewhere_in_the_app_is_held_to_the_same_snapshot_bound(tiny_dataset):
    config = TrainConfig(**{**TINY, "steps": 100_000, "eval_every": 1})
    with pytest.raises(ValueError, match="100,002 snapshots"):
        TrainingRun(config, tiny_dataset)


@pytest.mark.parametrize("typed, steps", [("1e9", None), ("1,200", 1200), ("1.2e3", 1200), ("abc", None),
                                          ("0", None), ("2.5", None), ("inf", None)])
def test_steps_typed_as_text_are_read_or_refused_with_a_reason(typed, steps):
    """Issue 13: typing 1e9 in Steps silently became 1."""
    at = app()
    at.text_input(key="train_steps").input(typed).run()
    assert not at.exception
    if steps is None:
        assert button(at, "Start").disabled and any("Start is off: Steps" in w.value for w in at.warning)
    else:
        assert not button(at, "Start").disabled and not at.warning


def test_replay_plays_a_shipped_run_through_the_same_views(shipped):
    at = app(train_mode="Replay a shipped run")
    assert not at.exception
    assert at.selectbox(key="replay_name").value == "tiny-pairs-learned"
    assert at.slider(key="replay_index").value == 0
    button(at, "Play").click()
    at.run()
    assert at.session_state["replay_index"] == 2  # default speed: two snapshots per tick
    at.run()
    assert at.session_state["replay_index"] == 4
    at.run()  # the last snapshot (step 5) stops the playback
    assert at.session_state["replay_index"] == 5 and not at.session_state["replay_playing"]
    heat = next(s for t, s in charts(at).items() if t.startswith("Expected decode step of each position"))
    assert heat["data"][0]["x"] == [k - 0.5 for k in range(7)]  # column edges around steps 0..5
    at.slider(key="replay_index").set_value(1).run()
    heat = next(s for t, s in charts(at).items() if t.startswith("Expected decode step of each position"))
    assert heat["data"][0]["x"] == [-0.5, 0.5, 1.5] and not at.exception


def test_replay_without_shipped_runs_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERLAB_PRETRAINED_DIR", str(tmp_path / "none"))
    at = app(train_mode="Replay a shipped run")
    assert not at.exception and "No shipped runs" in at.info[0].value


def test_lesson_preset_autostarts_and_query_params_preset_the_widgets():
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["task"] = "parity"
    at.query_params["seed"] = "7"
    at.run()
    assert at.selectbox(key="train_task").value == "parity" and at.number_input(key="train_seed").value == 7
    at.session_state["train_preset"] = {"task": "pairs", "steps": 3, "seed": 5, "schedule": "linear",
                                        "autostart": True}
    at.number_input(key="train_param_parity_n").set_value(3)
    at.run()
    run = current(at)
    assert (run.config.task, run.config.steps, run.config.seed, run.config.schedule) == ("pairs", 3, 5, "linear")
    assert run.config.schedule_delay == round(3 * 0.3)  # the page freezes the schedule for 30 % of the steps
    assert run.state in ("running", "done") and not at.exception


def test_a_run_keeps_training_on_other_pages_and_the_badge_says_so():
    """Issue 13: training stopped when the student left the Train page, while the status said "running"."""
    at = small_settings(app(), steps=200)
    button(at, "Start").click()
    at.run()
    run = current(at)
    at.switch_page("content/lesson.py").run()
    before = run.trainer.step_count
    deadline = time.monotonic() + 60
    while run.trainer.step_count < before + 5:  # no rerun of any page: the worker thread trains alone
        assert time.monotonic() < deadline
        time.sleep(0.2)
    at.run()
    badge = [p.proto.text for p in at.get("progress")]
    assert badge and "running" in badge[0] and "steps/s" in badge[0] and not at.exception
    run.stop()


def test_a_double_click_on_start_makes_one_run():
    at = small_settings(app(), steps=50)
    button(at, "Start").click()
    at.run()
    button(at, "Start").click()  # the second click of a double click, within a second
    at.run()
    assert len(at.session_state["train_runs"]) == 1
    current(at).stop()


def test_settings_survive_other_pages_and_modes():
    """Issue 13: pairs, 1000 steps, seed 3, n = 6 came back as lookup, 600, 0, 8."""
    at = app()
    at.selectbox(key="train_task").set_value("pairs").run()
    at.text_input(key="train_steps").input(str(1000))
    at.number_input(key="train_seed").set_value(3)
    at.number_input(key="train_param_pairs_n").set_value(6)
    at.run()
    for page in ("content/compare.py", "content/inspect.py", "content/lesson.py", "content/train.py"):
        at.switch_page(page).run()
    at.radio(key="train_mode").set_value("Replay a shipped run").run()
    at.radio(key="train_mode").set_value("Train live").run()
    assert not at.exception
    assert at.selectbox(key="train_task").value == "pairs" and at.text_input(key="train_steps").value == "1000"
    assert at.number_input(key="train_seed").value == 3 and at.number_input(key="train_param_pairs_n").value == 6


def test_the_worker_trains_without_calls_and_pause_waits_for_the_round(tiny_dataset):
    run = TrainingRun(TrainConfig(steps=10_000, **TINY), tiny_dataset, background=True)
    run.start()
    deadline = time.monotonic() + 60
    while run.trainer.step_count < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run.pause()
    paused_at = run.trainer.step_count
    time.sleep(0.5)
    assert run.trainer.step_count == paused_at and run.state == "paused"
    run.resume()
    while run.trainer.step_count == paused_at:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert run.steps_per_second() is None or run.steps_per_second() > 0
    run.stop()
    run._worker.join(10)
    assert not run._worker.is_alive()


def test_compare_two_runs_of_the_session():
    at = small_settings(app(), steps=2)
    at.checkbox(key="train_baseline").uncheck()
    for _ in range(2):
        button(at, "Start").click()
        at.run()
        wait_for(at, lambda: current(at).state == "done")
        at.session_state["train_started_at"] = 0.0  # not a double click
    assert len(at.session_state["train_runs"]) == 2
    at.radio(key="train_mode").set_value("Compare my runs").run()
    assert not at.exception
    nelbo = next(s for t, s in charts(at).items() if t.startswith("Held-out NELBO"))
    assert len([d for d in nelbo["data"] if d.get("showlegend") is not False]) == 2
    at.radio(key="train_mode").set_value("Train live").run()
    assert at.text_input(key="train_steps").value == "2"  # settings survive the mode switch


# --- the runner, directly -------------------------------------------------------------------------


def test_runner_trains_both_models_to_the_end_and_zips_a_loadable_checkpoint(tiny_dataset):
    run = TrainingRun(TrainConfig(steps=4, **TINY), tiny_dataset, baseline=True)
    assert run.advance(10.0) == 0  # not started: nothing happens
    run.start()
    while run.state == "running":
        run.advance(0.2)
    assert run.state == "done"
    assert run.trainer.step_count == run.baseline.step_count == 4
    assert [s["step"] for s in run.trainer.history] == [0, 2, 4]
    assert run.progress().fraction == 1.0 and run.progress().remaining == 0
    assert set(run.histories()) == {"learned", "linear baseline"}
    with zipfile.ZipFile(io.BytesIO(run.checkpoint_zip("baseline"))) as zf:
        assert sorted(zf.namelist()) == ["config.json", "metrics.json", "model.safetensors"]
        ckpt = checkpoint.load_from_bytes(zf.read("config.json"), zf.read("model.safetensors"))
    assert checkpoint.schedule_name(ckpt.schedule) == "linear"


def test_runner_counts_wall_clock_time_without_pauses_and_estimates_from_the_recent_pace(tiny_dataset):
    now = [0.0]
    run = TrainingRun(TrainConfig(steps=500, **TINY), tiny_dataset, clock=lambda: now[0])
    run.start()
    for t in (1.0, 3.0, 5.0):  # page reruns between ticks take wall-clock time too
        now[0] = t
        run.advance(0.05)
    p = run.progress()
    assert p.wall == 5.0 and p.step > 0 and p.elapsed < p.wall
    rate = p.step / 4.0  # steps between the first tick (step 0, at 1 s) and the last (at 5 s)
    assert p.remaining == pytest.approx((500 - p.step) / rate)
    now[0] = 6.0
    run.pause()
    now[0] = 100.0  # a long pause is not counted
    assert run.progress().wall == 6.0 and run.progress().remaining is None
    run.resume()
    now[0] = 102.0
    assert run.progress().wall == 8.0
    run.stop()
    now[0] = 200.0
    assert run.progress().wall == 8.0


def test_runner_pause_step_and_stop(tiny_dataset):
    run = TrainingRun(TrainConfig(steps=50, **TINY), tiny_dataset)
    assert run.baseline is None and run.step_once() == 1 and run.state == "paused"
    assert run.trainer.step_count == 1 and len(run.trainer.history) == 1  # the step-0 evaluation
    run.stop()
    assert run.advance(1.0) == 0 and run.step_once() == 0 and run.trainer.step_count == 1
    run.start()
    assert run.state == "stopped"


def test_dataset_from_csv_names_the_problem():
    with pytest.raises(ValueError, match="x.csv is empty"):
        dataset_from_csv(b"  \n", "x.csv")
    with pytest.raises(ValueError, match="x.csv: .*usable column"):
        dataset_from_csv(b"a,b\n1,1\n1,1\n", "x.csv")
    with pytest.raises(ValueError, match="MB"):
        dataset_from_csv(b"a" * (training_runner.MAX_CSV_BYTES + 1), "x.csv")
    ds = dataset_from_csv(b"a,b\n1,x\n2,y\n1,y\n", "shop.csv")
    assert ds.meta.name == "shop" and ds.meta.position_names == ["a", "b"]


# --- issue 12: one table of limits (finding 7) and a server-wide training budget (finding 8) ------------


def test_every_task_parameter_the_widgets_allow_builds(monkeypatch):
    """Finding 7: the Train widgets allowed n and V up to 4096 while the tasks accepted n <= 2048, V <= 64.
    Now each integer widget's maximum builds, and one more is refused by the builder itself."""
    at = app()
    checked = 0
    offered = at.selectbox(key="train_task").options
    assert "sudoku" not in offered  # its puzzles take a CPU minute to generate: CLI only
    assert all(task in offered for task in ("pairs", "lookup", "majority", "parity", "addition", "words"))
    for task in ("pairs", "lookup", "majority", "parity", "addition", "words"):
        at.selectbox(key="train_task").set_value(task).run()
        for widget in at.number_input:
            prefix = f"train_param_{task}_"
            if not (widget.key or "").startswith(prefix):
                continue
            name, hi = widget.key[len(prefix):], int(widget.max)
            tasks.make_task(task, **{name: hi})
            if name != "table_seed":
                with pytest.raises(ValueError):
                    tasks.make_task(task, **{name: hi + 1})
            checked += 1
    assert checked >= 7


def test_runs_beyond_the_server_budget_wait_in_a_visible_queue():
    """Finding 8: nothing limited how many runs a server trained at once. With two slots, a third run waits
    (place 1) and starts as soon as one of the others pauses; an abandoned run's slot expires."""
    now = [0.0]
    budget = training_budget.TrainingBudget(2, clock=lambda: now[0])
    config = TrainConfig(steps=50, **TINY)
    runs = [TrainingRun(config, budget=budget, label=f"r{i}") for i in range(3)]
    for run in runs:
        run.start()
        run.advance(0.05)
    assert [r.waiting for r in runs] == [False, False, True] and runs[2].queue_place == 1
    assert runs[0].trainer.history and not runs[2].trainer.history  # the queued run has not trained
    assert budget.status() == (2, 1)
    runs[0].pause()
    runs[2].advance(0.05)
    assert not runs[2].waiting and runs[2].trainer.history
    now[0] += training_budget.LEASE_S + 1  # the other pages stopped asking (closed tabs)
    runs[0].resume()
    runs[0].advance(0.05)
    assert not runs[0].waiting and budget.status() == (1, 0)


def test_the_default_budget_is_one_run_per_core(monkeypatch):
    import os

    from core import limits

    monkeypatch.delenv(limits.CONCURRENT_RUNS_ENV, raising=False)
    assert limits.max_concurrent_runs() == max(1, os.cpu_count() or 1)
    monkeypatch.setenv(limits.CONCURRENT_RUNS_ENV, "5")
    assert limits.max_concurrent_runs() == 5


def test_a_csv_with_long_names_trains_into_a_checkpoint_inspect_loads():
    """Finding 5: 256 long category names (and a 10 MB cell) trained, but the downloaded config.json was
    over the loader's 1 MB; names are now shortened when the CSV is encoded."""
    from app import uploads

    rows = "\n".join(f"{'n' * 5000}{i % 60},{i % 2},{'x' * (1 << 20) if i == 0 else 'y'}" for i in range(256))
    ds = dataset_from_csv(("a,b,c\n" + rows).encode(), "long.csv")
    run = TrainingRun(TrainConfig(steps=2, schedule_delay=0, **TINY), ds)
    run.step_once()
    key, ckpt = uploads.load([_Upload("run.zip", run.checkpoint_zip())])
    assert ckpt.meta.length == ds.meta.length and key.startswith("upload:")


class _Upload:
    def __init__(self, name, data):
        self.name, self._data = name, data

    def getvalue(self):
        return self._data


def test_replay_overlays_the_shipped_seeds_with_a_band(monkeypatch):
    monkeypatch.delenv("ORDERLAB_PRETRAINED_DIR", raising=False)
    at = app(train_mode="Replay a shipped run", replay_name="majority-learned")
    assert not at.exception
    band = next(s for t, s in charts(at).items() if t.startswith("Group precedence, every shipped seed"))
    names = {d.get("name") for d in band["data"]}
    assert "range over 3 seeds" in names and {"majority-learned (seed 1)", "majority-learned (seed 2)"} <= names


def test_an_abandoned_background_run_pauses_and_its_worker_ends(tiny_dataset, monkeypatch):
    monkeypatch.setattr(training_runner, "PARK_S", 0.05)
    now = [0.0]
    run = TrainingRun(TrainConfig(steps=10_000, **TINY), tiny_dataset, background=True, clock=lambda: now[0])
    run.start()
    deadline = time.monotonic() + 60
    while run.trainer.step_count < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    now[0] = training_runner.ABANDON_S + 1  # no page looked at it for that long (a closed browser)
    run._worker.join(30)
    assert run.state == "paused" and not run._worker.is_alive()
    run.touch()
    run.resume()  # a page came back: a new worker trains it again
    steps = run.trainer.step_count
    while run.trainer.step_count == steps:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run.stop()
