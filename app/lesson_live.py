"""The Lesson's live step: train a preset that visibly learns its order in well under 90 s, or replay a
shipped run at once.

The preset (``PRESET``) trains ``majority`` (bits, then majority votes of three neighbours) without a
baseline, in a worker thread like every run (``app/training_runner.py``), so the class can read on while it
trains and the sidebar badge follows it. Measured on this project's shared 2-core server (load average 8-10,
one thread, ``Trainer`` alone, seeds 0-4): group precedence at step 400 of 0.973 / 0.959 / 0.976 / 0.965 /
0.965, first at or above 0.75 after 45 / 45 / 26 / 31 / 32 s, 65 / 61 / 53 / 42 / 50 s in all. With 300
steps (and the schedule freed at step 75) seed 3 ended at 0.58, so the preset keeps 400. The shipped
``majority-learned`` run is the instant fallback: it opens on its last recorded snapshot, and the shared
player (``app/player.py``) plays its training back from the first.
"""

from __future__ import annotations

import time
from dataclasses import replace

import streamlit as st

from app import charts, common, state, task_text
from app.figures import training as training_figures
from app.player import Player
from app.training_runner import TrainingRun
from core.train import TrainConfig

TASK = "majority"
TARGET = 0.75  # group precedence the preset must reach: bits before votes three times in four
PRESET = TrainConfig(task=TASK, steps=400, d_model=32, n_layers=2, n_heads=4, batch_size=64, warmup=50,
                     schedule_delay=100, schedule_lr=0.05, eval_every=25, eval_size=128, eval_orders=1,
                     device="cpu")
REPLAY = "majority-learned"
TICK_S = 1.0
DOUBLE_CLICK_S = 2.0
PLAYER = Player(index_key="lesson_replay_index", playing_key="lesson_replay_playing",
                speed_key="lesson_replay_speed", speeds=(1, 2, 4, 8), default_speed=2,
                speed_label="Speed (snapshots per second)", play_key="lesson_replay_play",
                speed_help="How many recorded snapshots to advance per second while playing.",
                slider_label="Recorded snapshot", slider_help="Scrub through the training of the shipped model.",
                play_help="Play the shipped model's training from its first snapshot, or pause it.",
                min_tick_s=TICK_S, play_width="stretch")


def lesson_run() -> TrainingRun | None:
    """The session's latest run started from the Lesson (it also appears on the Train page)."""
    return next((r for r in reversed(state.runs()) if r.label.startswith("lesson")), None)


def start(seed: int) -> None:
    """Start the preset with ``seed`` as the session's current run (a double click starts one)."""
    if time.monotonic() - st.session_state.get("lesson_started_at", 0.0) < DOUBLE_CLICK_S:
        return
    run = TrainingRun(replace(PRESET, seed=seed), common.cached_task(TASK, seed), background=True,
                      label=f"lesson {TASK} seed {seed} ({PRESET.steps} steps)")
    state.add_run(run)
    st.session_state["lesson_started_at"] = time.monotonic()
    st.session_state["lesson_source"] = "live"


def draw(seed: int) -> None:
    rule = task_text.text(TASK)
    st.markdown(f"Now a real model learns the exponents. The task is **{TASK}**: {rule.words} The easy order: "
                f"{rule.easy_order}")
    st.latex(rule.formula)
    st.markdown(f"**Group precedence** is the probability that a bit is revealed before a vote (0.5 = no "
                f"preference). Watch it climb past **{TARGET}**: the model has learned to write the bits first.")
    left, right = st.columns(2)
    left.button(f"Train live ({PRESET.steps} steps, under a minute)", type="primary", key="lesson_train",
                on_click=start, args=(seed,), width="stretch",
                help="Starts a small run in the background; it keeps training if you change step or page.")
    right.button("Replay a finished run instead (instant)", key="lesson_replay", width="stretch",
                 on_click=_use_replay,
                 help=f"Plays back the snapshots recorded while the shipped {REPLAY} model was trained.")
    source = st.session_state.get("lesson_source")
    if source == "replay":
        replay()
    elif lesson_run() is not None:
        run = lesson_run()
        st.fragment(live, run_every=TICK_S if run.active else None)(run.active)


def _use_replay() -> None:
    st.session_state["lesson_source"] = "replay"


def live(timed: bool) -> None:
    run = lesson_run()
    if run is None:
        return
    run.touch()
    p = run.progress()
    history = run.history()
    st.progress(p.fraction, text=f"{run.state} · step {p.step} / {p.total}")
    show(history, run.meta, PRESET.steps, "lesson_live", run.config.schedule_delay, revision=run.label)
    reached = next((s for s in history if s.get("group_precedence", 0) >= TARGET and s["step"] > 0), None)
    if reached is not None:
        st.success(f"Group precedence passed {TARGET} at step {reached['step']} "
                   f"({reached['elapsed']:.0f} s of training): the bits now come before the votes.")
    if timed and not run.active:  # finished since the last tick: stop the timer, after drawing the last state
        st.rerun()


def replay() -> None:
    """The shipped run's recorded training, shown finished at first; Play runs it from its first snapshot."""
    if REPLAY not in common.list_pretrained():
        st.info(f"The shipped run {REPLAY} is not here; train live instead.")
        return
    history = common.pretrained_history(REPLAY)
    meta = common.load_pretrained(REPLAY).meta
    last = len(history) - 1
    st.session_state.setdefault(PLAYER.index_key, last)  # the instant fallback: the learned order at once
    left, right = st.columns([1, 3])
    PLAYER.controls(left, right, last)
    st.fragment(replay_view, run_every=PLAYER.tick_s())(history, meta)


def replay_view(history: list[dict], meta) -> None:
    last = len(history) - 1
    PLAYER.advance(last)
    index = PLAYER.slider(last)
    show(history[: index + 1], meta, history[-1]["step"], "lesson_replay", None)


def show(history: list[dict], meta, total: int, key: str, delay: int | None, revision: str | None = None) -> None:
    if not history:
        st.caption("Building the model and its first evaluation…")
        return
    last = history[-1]
    c1, c2, c3 = st.columns(3)
    c1.metric("Evaluated at step", f"{last['step']:,}", help="The step of the latest evaluation (every 25 steps).")
    c2.metric("Group precedence", f"{last.get('group_precedence', 0.5):.2f}", help="P(bit before vote).")
    c3.metric("Held-out loss (nats)", f"{last['heldout_nelbo']:.2f}", help="Lower is better.")
    if delay and last["step"] < delay:
        st.caption(f"The exponents are held still for the first {delay} steps while the model learns to predict "
                   "at all; then the order starts to move.")
    left, right = st.columns(2)
    charts.plot(left, training_figures.metric_curve(history, "group_precedence", "Bits before votes: group precedence",
                                           "P(bit before vote)", TARGET, total, (0, 1)), key=f"{key}_prec",
                revision=revision)
    charts.plot(right, training_figures.rank_heatmap(history, meta.position_names, total_steps=total),
                key=f"{key}_rank", revision=revision)
