"""The Train page's run settings (sidebar): task and its parameters or an uploaded CSV, schedule,
estimator, model size, steps, seed, baseline and the advanced settings, turned into a ``TrainConfig`` and a
dataset, with every widget bounded by ``core/limits.py``.

``PAGE`` is the page's starting configuration and ``DEFAULTS`` its widgets' first values; a setting that
cannot be built says why (``train_blocked``), and Start stays off.
"""

from __future__ import annotations

import math
from dataclasses import replace

import streamlit as st

from app import common, state, task_text
from app.training_runner import dataset_from_csv
from core import limits, meta, tasks
from core.train import TrainConfig

CSV_OPTION = "upload a CSV"
SKIP_PARAMS = {"seed", "num_train", "num_heldout"}
# Sudoku is not trained here: generating its 20,000 unique-solution puzzles alone takes about a CPU minute
# of the shared server. Its shipped checkpoints are on the Compare page; `python -m core.train --task sudoku`.
TRAIN_TASKS = [t for t in tasks.TASKS if t != "sudoku"]
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
    defaults = tasks.task_defaults(task)
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


DEFAULTS = {"train_task": PAGE.task, "train_schedule": PAGE.schedule,
            "train_estimator": PAGE.estimator, "train_K": PAGE.K, "train_d_model": PAGE.d_model,
            "train_layers": PAGE.n_layers, "train_steps": str(PAGE.steps), "train_baseline": True,
            "train_batch": PAGE.batch_size, "train_lr": PAGE.lr, "train_schedule_lr": PAGE.schedule_lr,
            "train_freeze": round(100 * PAGE.schedule_delay / PAGE.steps), "train_eval_every": 0,
            "train_eval_size": 128}


def settings() -> tuple[TrainConfig | None, meta.Dataset | None]:
    """Draw the settings; returns the config and the dataset, or (None, None) with an error shown."""
    sb = st.sidebar
    st.session_state.pop("train_blocked", None)
    sb.header("Run settings")
    task, params, dataset = task_box(sb)
    model = model_box(sb)
    steps = steps_box(sb)
    seed = common.seed_widget("train_seed", last_used=st.session_state.get("train_last_seed"), container=sb)
    sb.checkbox("Also train a linear baseline", key="train_baseline",
                help="Train a second model with the shared linear schedule and the same settings, side "
                     "by side, so the held-out NELBO curves can be compared (only for a learned schedule).")
    advanced = advanced_settings(sb)
    if steps is None or (task == CSV_OPTION and dataset is None):
        return None, None
    name = dataset.meta.name if dataset is not None else task
    config = TrainConfig(task=name, task_params=params, steps=steps, seed=seed, device="cpu",
                         warmup=max(1, round(steps * PAGE.warmup / PAGE.steps)), **model, **advanced)
    config.schedule_delay = round(steps * st.session_state["train_freeze"] / 100)
    if config.eval_every == 0:
        config.eval_every = max(1, steps // 40)
    if dataset is None:
        dataset = built_task(sb, task, seed, params)
    if dataset is None:
        return None, None
    problem = limits.snapshot_problem(config.steps, config.eval_every, dataset.meta.length)
    if problem:
        st.session_state["train_blocked"] = problem
        return None, None
    return config, dataset


def task_box(sb) -> tuple[str, dict, meta.Dataset | None]:
    """The task with its rule and parameters; ``(task, params, dataset)``, the dataset only for a CSV."""
    task = sb.selectbox("Task", TRAIN_TASKS + [CSV_OPTION], key="train_task",
                        help="A built-in task (each has a known easy order to compare against), or your "
                             "own table as a CSV file with a header row.")
    described = task_text.text(task)
    if described is not None:
        sb.caption(f"**Rule:** {described.words}")
        sb.latex(described.formula)
    if task == CSV_OPTION:
        return task, {}, csv_dataset(sb)
    return task, task_params(sb, task), None


def model_box(sb) -> dict:
    """Schedule, estimator, draws per sequence and model size, as ``TrainConfig`` fields."""
    schedule = sb.radio("Schedule", ["learned", "linear"], key="train_schedule", horizontal=True,
                        help="learned: one exponent w_l per position, alpha_l(t) = 1 - t^w_l, so the "
                             "decoding order is learned. linear: alpha(t) = 1 - t shared by all positions "
                             "(every order equally likely).")
    estimator = sb.radio("Estimator", ["discrete", "continuous"], key="train_estimator", horizontal=True,
                         help="discrete: pick a decoding step, score the masked positions (bounded "
                              "variance). continuous: the time integral with importance-sampled t.")
    K = sb.number_input("K (draws per sequence)", 2, limits.TRAIN_MAX_K, step=1, key="train_K",
                        help="Masks drawn per sequence; the schedule gradient (RLOO) needs at least 2.")
    widths = _options([d for d in (16, 32, 64, 128) if d <= limits.TRAIN_MAX_D_MODEL], "train_d_model")
    d_model = sb.select_slider("Model width (d_model)", widths, key="train_d_model",
                               help="Transformer width; larger learns more but each step is slower.")
    layers = sb.select_slider("Layers", list(range(1, limits.TRAIN_MAX_LAYERS + 1)), key="train_layers",
                              help="Transformer depth.")
    return dict(schedule=schedule, estimator=estimator, K=int(K), d_model=int(d_model), n_layers=int(layers))


def steps_box(sb) -> int | None:
    """The number of steps typed, or None with the reason shown (and Start off)."""
    steps = parse_steps(sb.text_input("Steps", key="train_steps",
                                      help=f"Optimizer steps for this run: a whole number from 1 to "
                                           f"{limits.TRAIN_MAX_STEPS:,} (1200, 1,200 and 1.2e3 all work)."))
    if isinstance(steps, str):
        sb.error(steps)
        st.session_state["train_blocked"] = steps
        return None
    return steps


def built_task(sb, task: str, seed: int, params: dict) -> meta.Dataset | None:
    """The built-in task's dataset (cached), or None with the reason shown (and Start off)."""
    try:
        return common.cached_task(task, seed, **params)
    except ValueError as e:
        sb.error(f"Cannot build the {task} task: {e}")
        st.session_state["train_blocked"] = f"the {task} task cannot be built with these settings: {e}"
        return None


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
    for name, default in tasks.task_defaults(task).items():
        if name in SKIP_PARAMS:
            continue
        key, text = f"train_param_{task}_{name}", PARAM_HELP.get(name, f"Parameter {name} of the task.")
        state.get(key, default)
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


def csv_dataset(box) -> meta.Dataset | None:
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
