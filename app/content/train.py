"""Train page: train a small model live and watch each position's unmasking time move; replay a shipped
run from ``pretrained/`` (``app/train_replay.py``); compare the runs of this session.

Each browser session keeps its runs in the session (``app/state.py``: :func:`state.runs`). Each run trains
in its own worker thread, whichever page is shown; while it runs, a fragment redraws its latest snapshot
about once a second. Settings (``app/train_settings.py``) can be preset by ``?task=...&seed=...`` or by a
:class:`state.TrainPreset`, and survive visits to other pages and modes (:func:`state.keep`).
"""

from __future__ import annotations

import time
from dataclasses import asdict

import pandas as pd
import streamlit as st

from app import charts, class_mode, common, links, run_status, run_views, state, train_replay, train_settings
from app.figures import schedule as schedule_figures
from app.figures import training as training_figures
from app.train_settings import CSV_OPTION, TRAIN_TASKS, parse_steps
from app.training_runner import TrainingRun, run_label
from core import limits, meta
from core.train import TrainConfig

TICK_S = 1.0  # fragment refresh period while training
DOUBLE_CLICK_S = 2.0  # a second Start with the same settings this soon after the first is the same click
MODES = ("Train live", "Replay a shipped run", "Compare my runs")
DEFAULTS = {"train_mode": MODES[0], **train_settings.DEFAULTS, "replay_speed": train_replay.PLAYER.default_speed}
KEPT = tuple(DEFAULTS) + ("train_seed", "replay_name")  # widget values kept across modes and pages
KEPT_PREFIXES = ("train_param_",)
MODE_CAPTIONS = dict(zip(MODES, (
    "Pick a task and settings in the sidebar, then Start. Every Start adds a run to this session.",
    "Play back the snapshots recorded while a shipped checkpoint was trained; nothing is trained here.",
    "Two runs of this session side by side.")))


# Streamlit fades the elements of a running script (data-stale="true" on each element container, after
# half a second); the live views rerun every second, so without this the charts would blink on each tick.
STEADY_CSS = ('<style>[data-testid="stElementContainer"][data-stale="true"] '
              "{opacity: 1 !important; transition: none !important;}</style>")


# --- presets -------------------------------------------------------------------------------------------


def apply_presets() -> bool:
    """Fill widget state from query params (once per session) and a Train preset; True = autostart."""
    state.defaults(DEFAULTS)
    state.restore_once("train", {
        "task": ("train_task", state.one_of(TRAIN_TASKS)), "seed": ("train_seed", state.int_in(0, common.MAX_SEED)),
        "steps": ("train_steps", lambda raw: raw if isinstance(parse_steps(raw), int) else None),
        "mode": ("train_mode", state.one_of(MODES)), "replay": ("replay_name", state.one_of(common.list_pretrained())),
        "snapshot": ("replay_index", state.int_in(0, 100_000))})
    preset = state.take_train_preset()
    if preset is None:
        return False
    if preset.task in TRAIN_TASKS:
        st.session_state["train_task"] = preset.task
    if isinstance(preset.steps, int) and 1 <= preset.steps <= limits.TRAIN_MAX_STEPS:
        st.session_state["train_steps"] = str(preset.steps)
    if isinstance(preset.seed, int) and 0 <= preset.seed <= common.MAX_SEED:
        st.session_state["train_seed"] = preset.seed
    if preset.schedule in ("learned", "linear"):
        st.session_state["train_schedule"] = preset.schedule
    st.session_state["train_mode"] = MODES[0]
    return bool(preset.autostart)


# --- runs in the session ---------------------------------------------------------------------------------


def start_run(config: TrainConfig, dataset: meta.Dataset) -> None:
    """Create a run from the settings, keep it in the session and start it in its own worker thread.
    A second Start with the same settings within ``DOUBLE_CLICK_S`` (a double click) starts nothing."""
    previous = state.current_run()
    if (previous is not None and previous.config == config
            and time.monotonic() - st.session_state.get("train_started_at", 0.0) < DOUBLE_CLICK_S):
        return
    if previous is not None and previous.active:
        previous.pause()  # one run per student at a time, even if the new one cannot start
    count = state.get("train_run_count", 0) + 1
    st.session_state["train_run_count"] = count
    try:
        run = TrainingRun(config, dataset, baseline=st.session_state["train_baseline"],
                          label=run_label(config, count), background=True)
    except ValueError as e:
        st.session_state["train_error"] = str(e)
        return
    st.session_state.pop("train_error", None)
    st.session_state.pop("train_zip", None)
    state.add_run(run)  # runs dropped from the session stop
    st.session_state["train_started_at"] = time.monotonic()
    st.session_state["train_started_now"] = True
    st.session_state["train_last_seed"] = config.seed


def controls(config: TrainConfig | None, dataset) -> None:
    run = state.current_run()
    now = run.state if run else None
    cols = st.columns(5)
    start = cols[0].button("Start", type="primary", width="stretch", disabled=config is None,
                           help="Start a new run with the settings in the sidebar.")
    cols[1].button("Pause", on_click=_call, args=("pause",), disabled=now != "running", width="stretch",
                   help="Stop pulling training steps; the run keeps its state and can resume.")
    cols[2].button("Resume", on_click=_call, args=("resume",), disabled=now not in ("paused", "ready"),
                   width="stretch", help="Continue a paused run.")
    cols[3].button("Stop", on_click=_call, args=("stop",), disabled=now not in ("running", "paused"),
                   width="stretch", help="End the run now; its latest state stays here and can be saved.")
    cols[4].button("Step", on_click=_call, args=("step_once",), disabled=now not in ("paused", "ready"),
                   width="stretch", help="Take one optimizer step of a paused run (and its baseline).")
    if config is None and st.session_state.get("train_blocked"):  # beside Start, not at the sidebar's bottom
        st.warning(f"Start is off: {st.session_state['train_blocked']}.")
    if start and config is not None:
        start_run(config, dataset)
        st.rerun()
    if "train_error" in st.session_state:
        st.error(f"Could not start the run: {st.session_state['train_error']}")


def _call(method: str) -> None:
    run = state.current_run()
    if run is not None:
        getattr(run, method)()


def save_area(run: TrainingRun) -> None:
    """Save the current run as a checkpoint zip and offer it (and its baseline) for download."""
    if run.state == "running":
        st.caption("Pause or stop the run to save it as a checkpoint.")
        return
    left, right = st.columns([1, 3])
    if left.button("Save checkpoint", help="Write config.json, model.safetensors and metrics.json of this "
                                           "run (and its baseline) into a zip to download."):
        files = {"run": run.checkpoint_zip("trainer")}
        if run.baseline is not None:
            files["baseline"] = run.checkpoint_zip("baseline")
        st.session_state["train_zip"] = (run.label, run.trainer.step_count, files)
    saved = st.session_state.get("train_zip")
    if saved and saved[0] == run.label:
        stem = f"orderlab-{run.config.task}-{run.config.schedule}-seed{run.config.seed}-step{saved[1]}"
        right.download_button("Download checkpoint (.zip)", saved[2]["run"], file_name=f"{stem}.zip",
                              mime="application/zip", on_click="ignore",
                              help="config.json + model.safetensors + metrics.json; load it on the Inspect "
                                   "page or with core.checkpoint.load after unzipping.")
        if "baseline" in saved[2]:
            right.download_button("Download linear baseline (.zip)", saved[2]["baseline"],
                                  file_name=f"{stem}-linear-baseline.zip", mime="application/zip",
                                  on_click="ignore", help="The linear-schedule model trained alongside.")


def frozen_note(run: TrainingRun) -> None:
    """Say why the exponents do not move during the first steps (the schedule delay)."""
    delay, step = run.config.schedule_delay or 0, run.trainer.step_count
    if run.config.schedule == "learned" and step < delay:
        st.caption(f"Steps 0–{delay}: the exponents are held at w = 1 on purpose while the model first learns to "
                   "predict at all (learned from step 0 they would drift on noise). The order starts to move at "
                   f"step {delay}; until then every order is equally likely and the heatmap stays flat.")


def progress_bar(run: TrainingRun) -> None:
    if run.waiting:
        training, queued = run.budget.status()
        st.info(f"Waiting for a training slot: this server trains {run.budget.slots} run(s) at once (one per "
                f"CPU core) and {training} are training now. Your run is number {run.queue_place} of {queued} "
                "in the queue and starts by itself; pausing it gives up its place.")
    st.progress(run.progress().fraction, text=run_status.status_line(run, since_start=True))


def live(timed: bool) -> None:
    """Draw the current run's latest state (its worker thread trains it; this only reads)."""
    run = state.current_run()
    if run is None:
        return
    run.touch()
    progress_bar(run)
    frozen_note(run)
    # While running, every view follows the latest evaluation (so the figures change only when a snapshot
    # arrives); a paused or stopped run shows the exponents of its latest step.
    curves = run.histories()
    history = curves[run.config.schedule]
    exponents = history[-1]["exponents"] if run.active and history else run.exponents()
    run_views.views(curves, history, exponents, run.meta, key="live", total_steps=run.config.steps,
                    revision=run.label)
    if timed and not run.active:  # finished or paused elsewhere since the last tick: stop the timer, after
        st.rerun()  # drawing the last state (a rerun raised before drawing left the views empty meanwhile)


# --- modes ---------------------------------------------------------------------------------------------------


def train_mode(autostart: bool) -> None:
    config, dataset = train_settings.settings()
    if autostart and config is not None:
        start_run(config, dataset)
    controls(config, dataset)
    run = state.current_run()
    if run is None:
        preview(dataset)
        return
    save_area(run)
    share_area(run)
    st.fragment(live, run_every=TICK_S if run.active else None)(run.active)
    run_table()


def share_area(run: TrainingRun) -> None:
    """Class mode: share this run under a short code; students follow it on the Class page, read-only."""
    left, right = st.columns([1, 3])
    if left.button("Share with the class", key="train_share", help="Get a four-letter code and a link: every "
                   "student who opens it watches this run live, without training anything."):
        st.session_state["train_share_code"] = class_mode.REGISTRY.share_run(run, run.label)
    code = st.session_state.get("train_share_code")
    share = class_mode.REGISTRY.get(code)
    if share is not None and share.run is run:
        with right:
            st.markdown(f"Class code **{code}** — students open the Class page and type it, or use the link.")
            links.link_box("class", {"code": code}, key="train_share_link", label="Link for the class")


def run_table() -> None:
    """Every run of this session with its full configuration (CSV too)."""
    rows = [{"run": r.label, "state": r.state, "step": r.trainer.step_count, "baseline": r.baseline is not None,
             **{k: (v if not isinstance(v, dict) else str(v)) for k, v in asdict(r.config).items()}}
            for r in state.runs()]
    with st.expander(f"Runs of this session ({len(rows)}), with every setting"):
        frame = pd.DataFrame(rows)
        charts.table(st, frame, "train_run_table", "runs", hide_index=True)


def preview(dataset: meta.Dataset | None) -> None:
    """Before the first run: the starting point, every position on the linear schedule."""
    st.info("Nothing trained yet: press **Start**, or choose **Replay a shipped run** under Mode (top of the "
            "sidebar) to watch a finished training at once.")
    if dataset is None:
        return
    meta = dataset.meta
    left, right = st.columns(2)
    left.markdown(f"**{meta.name}**: {meta.length} positions. At step 0 every position has the same schedule "
                  "alpha_l(t) = 1 - t, so all decoding orders are equally likely. Training the learned "
                  "schedule moves each position's curve: positions whose curves drop later (larger w) are "
                  "decoded earlier.")
    charts.plot(right, schedule_figures.alpha_curves([1.0] * meta.length, meta.position_names), key="preview_alpha")


def compare_mode() -> None:
    done = [r for r in state.runs() if r.trainer.history]
    if len(done) < 2:
        st.info("Train at least two runs in this session to compare them here (each Start adds a run).")
        return
    labels = [r.label for r in done]
    left, right = st.columns(2)
    a = left.selectbox("First run", labels, index=len(labels) - 2, key="compare_a",
                       help="A run of this session.")
    b = right.selectbox("Second run", labels, index=len(labels) - 1, key="compare_b",
                        help="Another run of this session.")
    ra, rb = done[labels.index(a)], done[labels.index(b)]
    total = max(ra.config.steps, rb.config.steps)
    pair = f"{a} | {b}"  # zoom kept while the same two runs are shown
    charts.plot(st, training_figures.nelbo_curves({a: ra.history(), b: rb.history()}, total), key="compare_nelbo",
                revision=pair)
    for column, r in zip(st.columns(2), (ra, rb)):
        history = r.history()  # each chart titled with its run, so the two columns cannot be confused
        heat = training_figures.rank_heatmap(history, r.meta.position_names, total_steps=total)
        charts.plot(column, heat.update_layout(title_text=f"{r.label}: decode order"), key=f"compare_rank_{r.label}",
                    revision=pair)
        entropy = training_figures.entropy_curve(history, r.meta.length, total)
        charts.plot(column, entropy.update_layout(title_text=f"{r.label}: order entropy"),
                    key=f"compare_entropy_{r.label}", revision=pair)


def share_link(mode: str) -> None:
    """The URL carries the visible settings; the sidebar offers the link (no runs travel with it)."""
    params = {"mode": mode, "task": st.session_state.get("train_task"), "seed": st.session_state.get("train_seed"),
              "steps": st.session_state.get("train_steps")}
    if mode == MODES[1]:
        params.update(replay=st.session_state.get("replay_name"), snapshot=st.session_state.get("replay_index"))
    if params["task"] == CSV_OPTION:
        params["task"] = None
    written = state.write_url(params)
    with st.sidebar.expander("Link to these settings"):
        links.link_box("train", written, key="train_link")


def welcome() -> None:
    """What the lab is about, for a student who knows autoregressive models (open until the first run)."""
    with st.expander("New here? What masked diffusion and “the order” are", expanded=not state.runs()):
        st.markdown(
            "An **autoregressive** model writes a sequence in one fixed order, left to right. A **masked diffusion** "
            "model starts from a fully masked sequence and reveals one position at a time, in *any* order: at "
            "each step it predicts the masked positions from the ones already revealed. **The order** is which "
            "position gets revealed when. Give each position l its own exponent w_l (larger = revealed earlier): "
            "training those exponents learns an order, and here you watch it happen. Start with the **Lesson** "
            "(left sidebar) for the idea in six short steps, or press **Start** to train one now.")
        st.page_link("content/lesson.py", label="Open the Lesson", icon=":material/school:")


def main() -> None:
    state.restore("train")  # before the presets: a link or a preset wins over the values kept aside
    autostart = apply_presets()
    state.keep("train", lambda: draw(autostart), KEPT, KEPT_PREFIXES)
    if st.session_state.pop("train_started_now", False):
        # the double-click window counts from when the page that started the run has been drawn: the second
        # click of a double click waits for that rerun, however long drawing took on a loaded server
        st.session_state["train_started_at"] = time.monotonic()


def draw(autostart: bool) -> None:
    st.html(STEADY_CSS)
    st.title("Train and watch the order emerge")
    welcome()
    # In the sidebar, not above the run buttons, whose help tooltips open upwards and would cover it.
    mode = st.sidebar.radio("Mode", MODES, key="train_mode",
                            help="Train a model live, replay a shipped training run instantly, or compare two "
                                 "runs of this session.")
    st.caption(MODE_CAPTIONS[mode])
    share_link(mode)
    if mode == MODES[0]:
        train_mode(autostart)
    elif mode == MODES[1]:
        train_replay.replay_mode()
    else:
        compare_mode()


if __name__ == "__main__":
    main()
