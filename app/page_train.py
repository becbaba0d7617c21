"""Train page: train a small model live and watch each position's unmasking time move; replay a shipped
run from ``pretrained/``; compare the runs of this session.

Each browser session keeps its runs in ``st.session_state`` (``train_runs``: a list of
:class:`app.training_runner.TrainingRun`). Each run trains in its own worker thread, whichever page is
shown; while it runs, a fragment redraws its latest snapshot about once a second. Settings can be preset by
``?task=...&seed=...`` or by ``st.session_state["train_preset"]``, and survive visits to other pages and
modes (saved aside after every run of the page, ``common.run_page``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, replace

import pandas as pd

import streamlit as st

from app import charts, class_mode, common, figures, links, run_status, run_views, task_text
from app.training_runner import TrainingRun, dataset_from_csv, run_label
from core import data, limits
from core.train import TrainConfig

TICK_S = 1.0  # fragment refresh period while training or replaying
DOUBLE_CLICK_S = 2.0  # a second Start with the same settings this soon after the first is the same click
MAX_RUNS = 8  # runs kept per session (oldest dropped first)
CSV_OPTION = "upload a CSV"
MODES = ("Train live", "Replay a shipped run", "Compare my runs")
SKIP_PARAMS = {"seed", "num_train", "num_heldout"}
# Sudoku is not trained here: generating its 20,000 unique-solution puzzles alone takes about a CPU minute
# of the shared server. Its shipped checkpoints are on the Compare page; `python -m core.train --task sudoku`.
TRAIN_TASKS = [t for t in data.TASKS if t != "sudoku"]
PARAM_HELP = {
    "n": "How many free positions b₁…bₙ (pairs, lookup and majority; parity: bits); the sequence has 2n "
         "positions with the c's.",
    "table_seed": "Seed of the fixed random table T[b_i, b_i+1] that gives each c_i.",
    "V": "How many values each position can take (2 = bits).",
    "digits": "Digits per operand.",
    "length": "Word length (letters).",
    "heldout_fraction": "Fraction of rows kept aside for the held-out NELBO.",
    "columns": "Comma-separated columns of the table to model.",
    "num_bins": "Quantile bins for numerical columns.",
}
# The largest value each integer task parameter's widget offers: what the task builders accept (core/limits.py)
# at the page's data sizes, so every setting the page allows can be built (a test builds each maximum).
PARAM_MAX = {"n": limits.TASK_MAX_N, "V": limits.TASK_MAX_V, "digits": limits.TASK_MAX_DIGITS,
             "length": limits.TASK_MAX_WORD_LENGTH, "table_seed": common.MAX_SEED, "num_bins": limits.CSV_MAX_BINS}


def param_max(task: str, name: str) -> int:
    """The widget maximum of an integer task parameter: its bound, and for ``n`` (2n positions) also the
    largest that keeps the task's default rows x positions within ``limits.TASK_MAX_CELLS``."""
    hi = PARAM_MAX[name]
    defaults = data.task_defaults(task)
    if name == "n" and "num_train" in defaults:
        rows = defaults["num_train"] + defaults.get("num_heldout", 0)
        hi = min(hi, limits.TASK_MAX_CELLS // (2 * rows))
    return hi
LIB = TrainConfig()  # the library's defaults: a 1200-step command-line run of about ten CPU minutes
# The page trains live, next to a linear baseline, on a CPU shared with other sessions: it starts from a smaller,
# shorter run of the lookup task, whose only easy order is its reference groups (b's before c's), with the
# schedule frozen for its first 30 % of steps (the library: 500 of 1200). Measured with Trainer alone (learned
# schedule, these settings, seeds 0-4): lookup's group precedence is 0.61-0.70 at step 300 and 0.91-0.94 at
# step 600 in four seeds of five (seed 2 learns the reverse, 0.10); pairs stays at 0.48-0.51 by step 600, its
# model still on the uniform plateau. A 40 % freeze gave 0.54-0.55 at step 300 and 0.88-0.93 at step 600.
PAGE = replace(LIB, task="lookup", steps=600, d_model=32, batch_size=64, warmup=100, schedule_delay=180)
DEFAULTS = {"train_mode": MODES[0], "train_task": PAGE.task, "train_schedule": PAGE.schedule,
            "train_estimator": PAGE.estimator, "train_K": PAGE.K, "train_d_model": PAGE.d_model,
            "train_layers": PAGE.n_layers, "train_steps": str(PAGE.steps), "train_baseline": True,
            "train_batch": PAGE.batch_size, "train_lr": PAGE.lr, "train_schedule_lr": PAGE.schedule_lr,
            "train_freeze": round(100 * PAGE.schedule_delay / PAGE.steps), "train_eval_every": 0,
            "train_eval_size": 128, "replay_speed": 2}
KEPT = ("train_seed", "replay_name")  # other widget values kept across modes and pages
SAVED = "train_saved_settings"
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
    """Fill widget state from query params (once per session) and a Lesson preset; True = autostart."""
    common.restore_settings(SAVED)
    for key, value in DEFAULTS.items():
        common.state(key, value)
    links.restore_once("train", {
        "task": ("train_task", links.one_of(TRAIN_TASKS)), "seed": ("train_seed", links.int_in(0, common.MAX_SEED)),
        "steps": ("train_steps", lambda raw: raw if isinstance(parse_steps(raw), int) else None),
        "mode": ("train_mode", links.one_of(MODES)), "replay": ("replay_name", links.one_of(common.list_pretrained())),
        "snapshot": ("replay_index", links.int_in(0, 100_000))})
    preset = st.session_state.pop("train_preset", None)
    if not isinstance(preset, dict):
        return False
    if preset.get("task") in TRAIN_TASKS:
        st.session_state["train_task"] = preset["task"]
    if isinstance(preset.get("steps"), int) and 1 <= preset["steps"] <= limits.TRAIN_MAX_STEPS:
        st.session_state["train_steps"] = str(preset["steps"])
    if isinstance(preset.get("seed"), int) and 0 <= preset["seed"] <= common.MAX_SEED:
        st.session_state["train_seed"] = preset["seed"]
    if preset.get("schedule") in ("learned", "linear"):
        st.session_state["train_schedule"] = preset["schedule"]
    st.session_state["train_mode"] = MODES[0]
    return bool(preset.get("autostart"))


# --- settings (sidebar) --------------------------------------------------------------------------------


def settings() -> tuple[TrainConfig | None, data.Dataset | None]:
    """Draw the settings; returns the config and the dataset, or (None, None) with an error shown."""
    sb = st.sidebar
    st.session_state.pop("train_blocked", None)
    sb.header("Run settings")
    task = sb.selectbox("Task", TRAIN_TASKS + [CSV_OPTION], key="train_task",
                        help="A built-in task (each has a known easy order to compare against), or your "
                             "own table as a CSV file with a header row.")
    described = task_text.text(task)
    if described is not None:
        sb.caption(f"**Rule:** {described.words}")
        sb.latex(described.formula)
    if task == CSV_OPTION:
        dataset, params = csv_dataset(sb), {}
    else:
        params, dataset = task_params(sb, task), None
    schedule = sb.radio("Schedule", ["learned", "linear"], key="train_schedule", horizontal=True,
                        help="learned: one exponent w_l per position, alpha_l(t) = 1 - t^w_l, so the "
                             "decoding order is learned. linear: alpha(t) = 1 - t shared by all positions "
                             "(every order equally likely).")
    estimator = sb.radio("Estimator", ["discrete", "continuous"], key="train_estimator", horizontal=True,
                         help="discrete: pick a decoding step, score the masked positions (bounded "
                              "variance). continuous: the time integral with importance-sampled t.")
    K = sb.number_input("K (draws per sequence)", 2, limits.TRAIN_MAX_K, step=1, key="train_K",
                        help="Masks drawn per sequence; the schedule gradient (RLOO) needs at least 2.")
    d_model = sb.select_slider("Model width (d_model)", _options([d for d in (16, 32, 64, 128)
                                                                   if d <= limits.TRAIN_MAX_D_MODEL], "train_d_model"),
                               key="train_d_model",
                               help="Transformer width; larger learns more but each step is slower.")
    layers = sb.select_slider("Layers", list(range(1, limits.TRAIN_MAX_LAYERS + 1)), key="train_layers", help="Transformer depth.")
    steps = parse_steps(sb.text_input("Steps", key="train_steps",
                                      help=f"Optimizer steps for this run: a whole number from 1 to "
                                           f"{limits.TRAIN_MAX_STEPS:,} (1200, 1,200 and 1.2e3 all work)."))
    if isinstance(steps, str):
        sb.error(steps)
        st.session_state["train_blocked"] = steps
        steps = None
    last = st.session_state.get("train_last_seed")
    seed = common.seed_widget("train_seed", last_used=last, container=sb)
    sb.checkbox("Also train a linear baseline", key="train_baseline",
                help="Train a second model with the shared linear schedule and the same settings, side "
                     "by side, so the held-out NELBO curves can be compared (only for a learned schedule).")
    advanced = advanced_settings(sb)
    if steps is None or (task == CSV_OPTION and dataset is None):
        return None, None
    name = dataset.meta.name if dataset is not None else task
    config = TrainConfig(task=name, task_params=params, schedule=schedule, estimator=estimator, K=int(K),
                         steps=int(steps), d_model=int(d_model), n_layers=int(layers), seed=seed,
                         warmup=max(1, round(int(steps) * PAGE.warmup / PAGE.steps)), device="cpu", **advanced)
    config.schedule_delay = round(int(steps) * st.session_state["train_freeze"] / 100)
    if config.eval_every == 0:
        config.eval_every = max(1, int(steps) // 40)
    if dataset is None:
        try:
            dataset = common.cached_task(task, seed, **params)
        except ValueError as e:
            sb.error(f"Cannot build the {task} task: {e}")
            st.session_state["train_blocked"] = f"the {task} task cannot be built with these settings: {e}"
            return None, None
    return config, dataset


def parse_steps(text: str) -> int | str:
    """The number of steps typed, or a message saying why it is not one (``1e9`` is too many, not 1)."""
    cleaned = (text or "").strip().replace(",", "").replace("_", "")
    try:
        value = float(cleaned)
    except ValueError:
        return f"Steps: {text!r} is not a number"
    if not math.isfinite(value) or value != int(value) or not 1 <= value <= limits.TRAIN_MAX_STEPS:
        return (f"Steps: {text} is not a whole number from 1 to {limits.TRAIN_MAX_STEPS:,} (the most this "
                "server trains in one run)")
    return int(value)


def task_params(box, task: str) -> dict:
    """One input per parameter of a built-in task (sizes of the generated data are left at defaults)."""
    params = {}
    for name, default in data.task_defaults(task).items():
        if name in SKIP_PARAMS:
            continue
        key, text = f"train_param_{task}_{name}", PARAM_HELP.get(name, f"Parameter {name} of the task.")
        common.state(key, default)
        if isinstance(default, bool) or default is None:
            continue
        if isinstance(default, int):  # seeds may be 0, sizes start at 1
            params[name] = int(box.number_input(task_text.param_label(name), min_value=min(1, default), max_value=param_max(task, name),
                                                step=1, key=key, help=text))
        elif isinstance(default, float):
            params[name] = float(box.number_input(task_text.param_label(name), 0.0, 0.9, step=0.05, key=key, help=text))
        else:
            params[name] = box.text_input(task_text.param_label(name), key=key, help=text)
    return params


def csv_dataset(box) -> data.Dataset | None:
    """The uploaded CSV as a dataset (parsed once per file), or None with the problem shown."""
    upload = box.file_uploader("CSV file", type=["csv"], key="train_csv",
                               help="A table with a header row: categorical columns become categories, "
                                    "numerical columns are cut into quantile bins. At most 50 MB.")
    if upload is None:
        box.info("Upload a CSV file to train on it.")
        st.session_state["train_blocked"] = "upload a CSV file first (in the sidebar)"
        return None
    cache = st.session_state.get("train_csv_cache")
    if cache is None or cache[0] != upload.file_id:
        try:
            cache = (upload.file_id, dataset_from_csv(upload.getvalue(), upload.name), None)
        except ValueError as e:
            cache = (upload.file_id, None, str(e))
        st.session_state["train_csv_cache"] = cache
    if cache[2] is not None:
        box.error(f"Cannot use this CSV: {cache[2]}")
        st.session_state["train_blocked"] = f"this CSV cannot be used: {cache[2]}"
    else:
        box.caption(f"{cache[1].meta.length} columns, {len(cache[1].train):,} training rows")
    return cache[1]


def advanced_settings(box) -> dict:
    with box.expander("Advanced"):
        st.slider("Schedule frozen for the first (% of steps)", 0, 90, key="train_freeze",
                  help="The exponents stay at w = 1 (linear) while the denoiser leaves its initial plateau; "
                       "learning them from step 0 lets them drift on noise (measured on pairs, see the "
                       "README). Warm-up also scales with the number of steps.")
        batch = st.select_slider("Batch size", _options([b for b in (16, 32, 64, 128, 256)
                                                          if b <= limits.TRAIN_MAX_BATCH], "train_batch"),
                                 key="train_batch", help="Sequences per optimizer step.")
        lr = st.select_slider("Model learning rate", _options([5e-4, 1e-3, 2e-3, 5e-3], "train_lr"),
                              key="train_lr", help="Peak AdamW learning rate of the denoiser.")
        schedule_lr = st.select_slider("Schedule learning rate",
                                       _options([5e-3, 1e-2, 2e-2, 5e-2, 1e-1], "train_schedule_lr"),
                                       key="train_schedule_lr",
                                       help="Learning rate of the log-exponents rho_l = log w_l.")
        eval_every = st.number_input("Evaluate every (0 = auto)", 0, 10_000, step=5, key="train_eval_every",
                                     help="Steps between held-out evaluations (each adds a snapshot); "
                                          "auto gives about 40 snapshots per run.")
        eval_size = st.select_slider("Held-out sequences", [v for v in (32, 64, 128, 256, 512)
                                                            if v <= limits.TRAIN_MAX_EVAL_SIZE], key="train_eval_size",
                                     help="Sequences in each exact held-out NELBO evaluation; more is "
                                          "more precise and slower.")
    return dict(batch_size=int(batch), lr=float(lr), schedule_lr=float(schedule_lr),
                eval_every=int(eval_every), eval_size=int(eval_size), eval_orders=1)


def _options(values: list, key: str) -> list:
    """Slider options that always include the library default of ``key``."""
    return sorted(set(values) | {DEFAULTS[key]})


# --- runs in the session ---------------------------------------------------------------------------------


def runs() -> list[TrainingRun]:
    return common.state("train_runs", [])


def current_run() -> TrainingRun | None:
    return runs()[-1] if runs() else None


def start_run(config: TrainConfig, dataset: data.Dataset) -> None:
    """Create a run from the settings, keep it in the session and start it in its own worker thread.
    A second Start with the same settings within ``DOUBLE_CLICK_S`` (a double click) starts nothing."""
    previous = current_run()
    if (previous is not None and previous.config == config
            and time.monotonic() - st.session_state.get("train_started_at", 0.0) < DOUBLE_CLICK_S):
        return
    if previous is not None and previous.state == "running":
        previous.pause()
    count = common.state("train_run_count", 0) + 1
    st.session_state["train_run_count"] = count
    try:
        run = TrainingRun(config, dataset, baseline=st.session_state["train_baseline"],
                          label=run_label(config, count), background=True)
    except ValueError as e:
        st.session_state["train_error"] = str(e)
        return
    st.session_state.pop("train_error", None)
    st.session_state.pop("train_zip", None)
    runs().append(run)
    for old in runs()[:-MAX_RUNS]:
        old.stop()  # dropped from the session: its worker ends
    del runs()[:-MAX_RUNS]
    run.start()
    st.session_state["train_started_at"] = time.monotonic()
    st.session_state["train_started_now"] = True
    st.session_state["train_last_seed"] = config.seed


def controls(config: TrainConfig | None, dataset) -> None:
    run = current_run()
    state = run.state if run else None
    cols = st.columns(5)
    start = cols[0].button("Start", type="primary", width="stretch", disabled=config is None,
                           help="Start a new run with the settings in the sidebar.")
    cols[1].button("Pause", on_click=_call, args=("pause",), disabled=state != "running", width="stretch",
                   help="Stop pulling training steps; the run keeps its state and can resume.")
    cols[2].button("Resume", on_click=_call, args=("resume",), disabled=state not in ("paused", "ready"),
                   width="stretch", help="Continue a paused run.")
    cols[3].button("Stop", on_click=_call, args=("stop",), disabled=state not in ("running", "paused"),
                   width="stretch", help="End the run now; its latest state stays here and can be saved.")
    cols[4].button("Step", on_click=_call, args=("step_once",), disabled=state not in ("paused", "ready"),
                   width="stretch", help="Take one optimizer step of a paused run (and its baseline).")
    if config is None and st.session_state.get("train_blocked"):  # beside Start, not at the sidebar's bottom
        st.warning(f"Start is off: {st.session_state['train_blocked']}.")
    if start and config is not None:
        start_run(config, dataset)
        st.rerun()
    if "train_error" in st.session_state:
        st.error(f"Could not start the run: {st.session_state['train_error']}")


def _call(method: str) -> None:
    run = current_run()
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


# --- live views (app/run_views.py, shared with the class view) -----------------------------------------

views = run_views.views


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
    run = current_run()
    if run is None:
        return
    run.touch()
    if timed and not run.active:  # finished or paused elsewhere since the last tick: stop the timer
        st.rerun()
    progress_bar(run)
    frozen_note(run)
    # While running, every view follows the latest evaluation (so the figures change only when a snapshot
    # arrives); a paused or stopped run shows the exponents of its latest step.
    curves = run.histories()
    history = curves[run.config.schedule]
    exponents = history[-1]["exponents"] if run.active and history else run.exponents()
    views(curves, history, exponents, run.meta, key="live", total_steps=run.config.steps)


# --- modes ---------------------------------------------------------------------------------------------------


def train_mode(autostart: bool) -> None:
    config, dataset = settings()
    if autostart and config is not None:
        start_run(config, dataset)
    controls(config, dataset)
    run = current_run()
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
             **{k: (v if not isinstance(v, dict) else str(v)) for k, v in asdict(r.config).items()}} for r in runs()]
    with st.expander(f"Runs of this session ({len(rows)}), with every setting"):
        frame = pd.DataFrame(rows)
        st.dataframe(frame, hide_index=True, key="train_run_table")
        charts.csv_download(st, frame, "runs", key="train_run_table_csv")


def preview(dataset: data.Dataset | None) -> None:
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
    charts.plot(right, figures.alpha_curves([1.0] * meta.length, meta.position_names), key="preview_alpha")


UPLOADED = "the checkpoint uploaded on Inspect"


def uploaded_with_history():
    """The checkpoint last uploaded on the Inspect page, when its metrics.json holds a snapshot history."""
    result = st.session_state.get("inspect_upload_result") or {}
    ckpt = result.get("ckpt")
    history = [s for s in ((ckpt.metrics or {}).get("history") or []) if isinstance(s, dict)
               and "exponents" in s and "step" in s] if ckpt is not None else []
    return (ckpt, history) if history else (None, [])


def replay_mode() -> None:
    names = common.list_pretrained()
    uploaded, uploaded_history = uploaded_with_history()
    if uploaded is not None:
        names = [UPLOADED] + names
    if not names:
        st.info(f"No shipped runs in {common.pretrained_dir()} yet. Train one live instead.")
        return
    name = st.selectbox("Shipped run", names, key="replay_name",
                        help="A checkpoint in pretrained/ (or the one you uploaded on the Inspect page with its "
                             "metrics.json); its snapshot history recorded during training plays back here "
                             "without any training.")
    try:
        ckpt, history = ((uploaded, uploaded_history) if name == UPLOADED else
                         (common.load_pretrained(name), common.pretrained_history(name)))
    except ValueError as e:
        st.error(f"Cannot load {name}: {e}")
        return
    if not history:
        st.warning(f"{name} has no snapshot history in its metrics.json.")
        return
    if st.session_state.get("replay_loaded") != name:
        if st.session_state.get("replay_loaded") is not None:  # another run chosen: from its start
            st.session_state["replay_index"] = 0
        st.session_state.update(replay_loaded=name, replay_playing=False)
    st.session_state["replay_index"] = min(common.state("replay_index", 0), len(history) - 1)  # a link's may be past
    left, right = st.columns([1, 3])
    playing = st.session_state["replay_playing"]
    left.button("Pause" if playing else "Play", on_click=_toggle_play, args=(len(history),), width="stretch",
                help="Play the recorded training back, or pause it.")
    right.select_slider("Speed (snapshots per second)", [1, 2, 4, 8], key="replay_speed",
                        help="How many recorded snapshots to advance per second while playing.")
    st.caption(f"Task **{ckpt.meta.name}**, schedule **{ckpt.config.get('schedule', '?')}**, "
               f"seed {ckpt.config.get('seed', '?')}, {len(history)} snapshots.")
    companions = companion_histories(name, ckpt)
    if name != UPLOADED:
        seeds_band(name)
    if name != UPLOADED and st.button("Share this replay with the class", key="replay_share",
                 help="Every student who opens the link watches the same snapshot as you, from now on."):
        code = class_mode.REGISTRY.share_replay(name, float(st.session_state["replay_speed"]), name)
        st.session_state["replay_share_code"] = code
    code = st.session_state.get("replay_share_code")
    if class_mode.REGISTRY.get(code) is not None:
        st.markdown(f"Class code **{code}**")
        links.link_box("class", {"code": code}, key="replay_share_link", label="Link for the class")
    st.fragment(replay_view, run_every=TICK_S if playing else None)(name, history, ckpt.meta, companions)


def _toggle_play(n: int) -> None:
    playing = not st.session_state["replay_playing"]
    if playing and st.session_state.get("replay_index", 0) >= n - 1:
        st.session_state["replay_index"] = 0  # play again from the start
    st.session_state["replay_playing"] = playing


def replay_view(name: str, history: list[dict], meta: data.DataMeta, companions: dict) -> None:
    last = len(history) - 1
    if st.session_state["replay_playing"]:
        index = min(st.session_state["replay_index"] + st.session_state["replay_speed"], last)
        st.session_state["replay_index"] = index
        if index == last:
            st.session_state["replay_playing"] = False
            st.rerun()
    if last > 0:
        st.slider("Snapshot", 0, last, key="replay_index",
                  help="Scrub through the recorded snapshots (training steps).")
    index = min(st.session_state["replay_index"], last)
    shown = history[: index + 1]
    step = shown[-1]["step"]
    curves = {f"{name}": shown, **{k: [s for s in h if s["step"] <= step] for k, h in companions.items()}}
    views(curves, shown, shown[-1]["exponents"], meta, key="replay", total_steps=history[-1]["step"])


def shipped_seeds(name: str) -> dict[str, list[dict]]:
    """The run ``name`` and its other shipped seeds (``pretrained/seeds/<name>-<seed>/metrics.json``)."""
    out = {f"{name} (seed 0)": common.pretrained_history(name)}
    for path in sorted((common.pretrained_dir() / "seeds").glob(f"{name}-*/metrics.json")):
        try:
            history = json.loads(path.read_text()).get("history") or []
        except (OSError, ValueError):
            continue
        out[f"{name} (seed {path.parent.name.rsplit('-', 1)[-1]})"] = [s for s in history if isinstance(s, dict)]
    return out


def seeds_band(name: str) -> None:
    """Researchers: the shipped seeds of this run overlaid, with the band they span."""
    seeds = shipped_seeds(name)
    if len(seeds) < 2:
        return
    with st.expander(f"All {len(seeds)} shipped seeds of {name}, overlaid"):
        left, right = st.columns(2)
        charts.plot(left, figures.seed_band(seeds, "group_precedence", "Group precedence, every shipped seed"),
                    key="replay_seeds_prec")
        charts.plot(right, figures.seed_band(seeds, "heldout_nelbo", "Held-out NELBO, every shipped seed"),
                    key="replay_seeds_nelbo")


def companion_histories(name: str, ckpt) -> dict[str, list[dict]]:
    """Other shipped runs of the same task and data (e.g. its linear baseline), for the NELBO overlay."""
    out = {}
    for other in common.list_pretrained():
        if other == name:
            continue
        try:
            o = common.load_pretrained(other)
        except ValueError:
            continue
        if o.meta.to_dict() == ckpt.meta.to_dict():
            out[other] = common.pretrained_history(other)
    return out


def compare_mode() -> None:
    done = [r for r in runs() if r.trainer.history]
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
    charts.plot(st, figures.nelbo_curves({a: ra.history(), b: rb.history()}, total), key="compare_nelbo")
    for column, r in zip(st.columns(2), (ra, rb)):
        history = r.history()  # each chart titled with its run, so the two columns cannot be confused
        heat = figures.rank_heatmap(history, r.meta.position_names, total_steps=total)
        charts.plot(column, heat.update_layout(title_text=f"{r.label}: decode order"), key=f"compare_rank_{r.label}")
        entropy = figures.entropy_curve(history, r.meta.length, total)
        charts.plot(column, entropy.update_layout(title_text=f"{r.label}: order entropy"),
                    key=f"compare_entropy_{r.label}")


def share_link(mode: str) -> None:
    """The URL carries the visible settings; the sidebar offers the link (no runs travel with it)."""
    params = {"mode": mode, "task": st.session_state.get("train_task"), "seed": st.session_state.get("train_seed"),
              "steps": st.session_state.get("train_steps")}
    if mode == MODES[1]:
        params.update(replay=st.session_state.get("replay_name"), snapshot=st.session_state.get("replay_index"))
    if params["task"] == CSV_OPTION:
        params["task"] = None
    written = links.write(params)
    with st.sidebar.expander("Link to these settings"):
        links.link_box("train", written, key="train_link")


def welcome() -> None:
    """What the lab is about, for a student who knows autoregressive models (open until the first run)."""
    with st.expander("New here? What masked diffusion and “the order” are", expanded=not runs()):
        st.markdown(
            "An **autoregressive** model writes a sequence in one fixed order, left to right. A **masked diffusion** "
            "model starts from a fully masked sequence and reveals one position at a time, in *any* order: at "
            "each step it predicts the masked positions from the ones already revealed. **The order** is which "
            "position gets revealed when. Give each position l its own exponent w_l (larger = revealed earlier): "
            "training those exponents learns an order, and here you watch it happen. Start with the **Lesson** "
            "(left sidebar) for the idea in six short steps, or press **Start** to train one now.")
        st.page_link("page_lesson.py", label="Open the Lesson", icon=":material/school:")


def main() -> None:
    autostart = apply_presets()
    common.run_page(lambda: draw(autostart), SAVED, tuple(DEFAULTS) + KEPT, KEPT_PREFIXES)
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
        replay_mode()
    else:
        compare_mode()


main()
