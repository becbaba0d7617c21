"""Compare page: decode with two to four policies on the same seed and replay them side by side.

A model (shipped, this session's training run, or an upload) is decoded once per request with each policy
(learned, random, left_to_right, reference, confidence); the trajectories are kept in
``st.session_state["compare_cache"]`` keyed by (model, policies, seed, interventions), so scrubbing or
playing the replay never calls the model; the replay is one ``st.fragment``, so moving its slider reruns
only the replay (an HTML strip, quick to redraw), not the rest of the page. "Reveal this position next"
continues every policy from the current step with that position forced next
(``core.sample.continue_from``). Below the replay, each policy's held-out order NLL with its 95% interval
and the validity of its samples (``core.quality.compare_policies``), also computed once per key.
Decoding and scoring are estimated first (``core.limits.decode_seconds`` / ``score_seconds``); a model too
large for the page's budget gets a message saying what is not computed and why, never a stalled server.
A Sudoku model gets its own view instead (:func:`sudoku_panel`): the policies decode one held-out puzzle
from its givens, drawn as grids side by side (``app/figures_sudoku.py``), and solve rates with 95% Wilson
intervals on held-out puzzles come on request.
Helpers here are importable (``from app import page_compare``) without drawing the page.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pandas as pd
import streamlit as st
import torch

from app import common, compare_link, page_inspect, uploads
from app import figures_orders as fo
from app import figures_sudoku as fs
from core import checkpoint, data, limits, quality, sample, sudoku
from core.schedules import LearnedPolynomialSchedule

POLICIES = ("learned", "random", "left_to_right", "reference", "confidence")
DEFAULT_POLICIES = ["learned", "random", "left_to_right"]
# The first model shown, chosen by measurement (core.compare, 128 samples, seed 0): majority-learned decodes
# valid samples under its learned order (0.98) and clearly fewer at random (0.85; NLL 5.57 against 5.91), where
# addition-learned, the first name alphabetically, decoded invalid sums under every policy (0.00-0.02).
FIRST_MODEL = "shipped: majority-learned"
POLICY_HELP = ("learned = the model's own schedule (orders drawn from its exponents); random = every order "
               "equally likely (a shared schedule); left_to_right = positions in index order; reference = the "
               "task's known easy order; confidence = reveal whichever masked position the model is surest of.")
SPEEDS = (0.5, 1, 2, 4, 8)  # replay steps per second
UPLOAD = "upload config.json + model.safetensors"
CACHE, SCORES = "compare_cache", "compare_scores"
MAX_CACHED = 48
KEPT = ("compare_model", "compare_policies", "compare_seed", "compare_speed", "compare_shade", "compare_step")
SAVED = "compare_saved_settings"
KEPT_PREFIXES = ()
MAX_HELDOUT, N_SCORE_SAMPLES, N_ORDERS = 256, 256, 2
HELDOUT_BUDGET = 8192  # held-out rows x positions scored per policy, so long sequences stay quick
AUTO_SCORE_MAX_LENGTH = 32  # longer sequences are scored on request (a few seconds per policy)
NEAR_UNIFORM_P = 0.6  # no P(i before j) above this: the learned order is close to uniform


@dataclass
class Model:
    """A model to compare: ``key`` names it in the caches (same key = same weights)."""

    key: str
    label: str
    denoiser: torch.nn.Module
    schedule: torch.nn.Module
    meta: data.DataMeta
    heldout: torch.Tensor | None = None


# --- models ---------------------------------------------------------------------------------------------


def session_runs() -> list:
    """The Train page's runs in this session (``st.session_state["train_runs"]``)."""
    return list(st.session_state.get("train_runs") or [])


def from_checkpoint(key: str, label: str, ckpt: checkpoint.Checkpoint) -> Model:
    return Model(key, label, ckpt.model, ckpt.schedule, ckpt.meta)


def from_run(run) -> Model:
    """A frozen copy of a session run at its current step (training may go on afterwards)."""
    trainer = run.trainer
    key = f"run:{id(run)}@{trainer.step_count}"
    frozen = st.session_state.setdefault("compare_frozen", {})
    if key not in frozen:
        frozen.clear()
        frozen[key] = (copy.deepcopy(trainer.model).eval(), copy.deepcopy(trainer.schedule))
    denoiser, schedule = frozen[key]
    return Model(key, f"{run.label} (step {trainer.step_count})", denoiser, schedule, trainer.meta,
                 trainer.dataset.heldout)


def model_options() -> dict[str, object]:
    """Label -> source: a shipped name, a session run, or the upload marker."""
    options = {f"shipped: {name}": ("shipped", name) for name in common.list_pretrained()}
    for run in reversed(session_runs()):
        options[f"this session: {run.label}"] = ("run", run)
    options[UPLOAD] = ("upload", None)
    return options


def choose_model() -> Model | None:
    options = model_options()
    if st.session_state.get("compare_model") not in options and FIRST_MODEL in options:
        st.session_state["compare_model"] = FIRST_MODEL
    label = st.selectbox("Model", list(options), key="compare_model",
                         help="A checkpoint shipped with the lab, a run trained on the Train page in this "
                              "session, or the two files of a checkpoint you upload.")
    kind, value = options[label]
    if kind == "shipped":
        return from_checkpoint(f"shipped:{value}", label, common.load_pretrained(value))
    if kind == "run":
        return from_run(value)
    return uploaded_model()


def uploaded_model() -> Model | None:
    with st.container(key="compare_upload"):
        result = uploads.uploader("config.json + model.safetensors (or the Train page's .zip)", "compare_upload")
    if result is None:
        st.info("Upload both files of a checkpoint (or its .zip) to compare its decoding orders.")
        return None
    if "error" in result:
        st.error(f"This upload cannot be used: {result['error']}")
        return None
    return from_checkpoint(result["key"], f"upload {result['key'][7:15]}", result["ckpt"])


def available_policies(meta: data.DataMeta) -> list[str]:
    return [p for p in POLICIES if p != "reference" or meta.reference_order is not None]


# --- decoding, cached -----------------------------------------------------------------------------------


def replay_key(model: Model, policies, seed: int, interventions=()) -> tuple:
    return (model.key, tuple(policies), int(seed), tuple(interventions))


def decode(model: Model, policy: str, seed: int) -> sample.Trajectory:
    """One sample decoded with ``policy``; the same seed gives every policy the same token uniforms."""
    _, trajectory = sample.sample(model.denoiser, model.meta, policy, 1, torch.Generator().manual_seed(seed),
                                  schedule=model.schedule)
    return trajectory


def intervene(model: Model, trajectories: dict, step: int, position: int, seed: int) -> dict:
    """Every policy continued from ``step`` with ``position`` revealed next (unchanged where it is
    already revealed)."""
    out = {}
    for policy, traj in trajectories.items():
        if int(traj.step_of[0, position]) < step:
            out[policy] = traj
            continue
        _, out[policy] = sample.continue_from(
            model.denoiser, traj, step, generator=torch.Generator().manual_seed(seed + 1), next_position=position,
            meta=model.meta, schedule=model.schedule)
    return out


def check_decode_budget(model: Model, policies) -> None:
    """ValueError, before decoding, when one sample per policy would take longer than the page's budget."""
    config = model.denoiser.config
    seconds = len(policies) * limits.decode_seconds(config, 1)
    limits.check_seconds(f"Decoding {len(policies)} policies one position at a time ({config.length:,} steps "
                         f"of a {config.length:,}-position model)", seconds, limits.DECODE_SECONDS)


def trajectories(model: Model, policies, seed: int, interventions=()) -> dict[str, sample.Trajectory]:
    """The decoded trajectories for this request, computed at most once and kept in the session
    (ValueError when over the decoding budget)."""
    check_decode_budget(model, policies)
    cache = st.session_state.setdefault(CACHE, {})
    key = replay_key(model, policies, seed, interventions)
    if key not in cache:
        if interventions:
            base = trajectories(model, policies, seed, interventions[:-1])
            cache[key] = intervene(model, base, *interventions[-1], seed)
        else:
            cache[key] = {p: decode(model, p, seed) for p in policies}
        while len(cache) > MAX_CACHED:
            cache.pop(next(iter(cache)))
    return cache[key]


def scores(model: Model, policies, seed: int) -> dict | str:
    """``compare_policies`` for this request (cached), or the reason it cannot be computed."""
    cache = st.session_state.setdefault(SCORES, {})
    key = replay_key(model, policies, seed)
    if key not in cache:
        cache[key] = compute_scores(model, policies, seed)
    return cache[key]


def compute_scores(model: Model, policies, seed: int) -> dict | str:
    """``compare_policies`` within the page's budget (checked before the data are even rebuilt), or the
    reason it cannot be computed."""
    try:
        rows = heldout_rows(model.meta.length)
        quality.check_score_budget(model.denoiser.config, rows, N_ORDERS, N_SCORE_SAMPLES, len(policies),
                                   limits.SCORE_SECONDS)
        heldout = model.heldout if model.heldout is not None else quality.heldout_data(model.meta)
        return quality.compare_policies((model.denoiser, model.schedule, model.meta), heldout[:rows],
                                        list(policies), N_SCORE_SAMPLES, N_ORDERS, seed,
                                        budget_s=limits.SCORE_SECONDS)
    except ValueError as e:
        return str(e)


def heldout_rows(length: int) -> int:
    """How many held-out sequences to score: up to MAX_HELDOUT, fewer for long sequences."""
    return max(32, min(MAX_HELDOUT, HELDOUT_BUDGET // length))


def score_table(result: dict) -> pd.DataFrame:
    """One row per policy: order NLL, its 95% interval and the valid fraction of samples."""
    rows = [{"policy": name, "order NLL (nats)": s.nll, "95% low": s.nll_ci[0], "95% high": s.nll_ci[1],
             "valid samples": s.valid_fraction, "shape": s.shape, "trend": s.trend} for name, s in result.items()]
    table = pd.DataFrame(rows)
    empty = [c for c in ("valid samples", "shape", "trend") if table[c].isna().all()]
    return table.drop(columns=empty)


# --- the replay -----------------------------------------------------------------------------------------


def replay_rows(model: Model, trajs: dict) -> list[dict]:
    """Figure rows (plain lists) for :mod:`app.figures_orders` from each policy's trajectory."""
    rows = []
    for policy, traj in trajs.items():
        rows.append({"label": policy, "values": data.decode_samples(model.meta, traj.tokens)[0],
                     "step_of": traj.step_of[0].tolist(), "confidence": traj.prob[0].tolist(),
                     "entropy": traj.entropy[0].tolist(), "names": model.meta.position_names})
    return rows


def show_replay(model: Model, rows: list[dict], step: int) -> None:
    """The side-by-side views after ``step`` steps: an HTML strip (sequences, tables) or pictures (images)."""
    meta = model.meta
    with st.container(key="compare_replay"):
        if meta.shape is not None:
            shade = st.session_state.get("compare_shade", "value")
            st.plotly_chart(fo.replay_images(rows, meta.shape, step, meta.vocab_size, shade=shade),
                            width="stretch", key="compare_replay_images")
        else:
            st.html(fo.replay_strip(rows, meta.position_names, step))


def step_notes(model: Model, trajs: dict, step: int) -> list[str]:
    """What each policy revealed at this step, in words."""
    if step == 0:
        return ["Nothing revealed yet: every position is masked."]
    names, notes = model.meta.position_names, []
    for policy, traj in trajs.items():
        if step > traj.num_steps:
            continue
        revealed = traj.revealed_at(step - 1)[0].nonzero().flatten().tolist()
        values = data.decode_samples(model.meta, traj.tokens)[0]
        parts = [f"{names[l]} = {fo.cell_text(values[l], 24)} (p = {float(traj.prob[0, l]):.2f})" for l in revealed]
        note = f"**{policy}** revealed " + ", ".join(parts)
        if step == traj.num_steps:
            note += " — " + final_note(model.meta, traj.tokens)
        notes.append(note)
    return notes


def final_note(meta: data.DataMeta, tokens: torch.Tensor) -> str:
    """The finished sample in words, with its validity when the task has a rule."""
    valid = data.check_samples(meta, tokens)
    verdict = "" if valid is None else (" ✓ valid" if bool(valid[0]) else " ✗ breaks the task's rule")
    text = "" if meta.shape is not None else f"`{data.format_sample(meta, tokens[0])}`"
    return f"finished: {text}{verdict}"


def toggle_play(last: int) -> None:
    playing = not st.session_state.get("compare_playing", False)
    if playing and st.session_state.get("compare_step", 0) >= last:
        st.session_state["compare_step_next"] = 0  # play again from the start
    st.session_state["compare_playing"] = playing


def replay(model: Model, policies: list[str], seed: int, trajs: dict) -> None:
    """The replay as one fragment: play / pause, speed, step slider, the side-by-side views, the step notes
    and the intervention control. Moving the slider reruns only this fragment (not the score table or the
    model loading) and reads only the cached trajectories; while playing, the fragment ticks by itself."""
    last = max(t.num_steps for t in trajs.values())
    playing = st.session_state.get("compare_playing", False)
    speed = st.session_state.get("compare_speed", 2)
    rows, hint = replay_rows(model, trajs), same_decoding_hint(model, trajs)

    @st.fragment(run_every=1.0 / speed if playing else None)
    def view() -> None:
        if "compare_step_next" in st.session_state:  # set by an intervention or by play from the end
            st.session_state["compare_step"] = st.session_state.pop("compare_step_next")
        if st.session_state.get("compare_playing"):
            st.session_state["compare_step"] = min(st.session_state.get("compare_step", 0) + 1, last)
            if st.session_state["compare_step"] >= last:
                st.session_state["compare_playing"] = False
                st.rerun(scope="app")  # stop the timer
        st.session_state["compare_step"] = min(st.session_state.get("compare_step", 0), last)
        c1, c2, c3 = st.columns([1, 2, 2])
        if c1.button("❚❚ Pause" if playing else "▶ Play", key="compare_play",
                     help="Play the decoding step by step; pause to look closely."):
            toggle_play(last)
            st.rerun(scope="app")  # the fragment's timer starts or stops with a full run
        c2.select_slider("Speed (steps per second)", SPEEDS, value=2, key="compare_speed",
                         help="How fast the replay advances while playing.")
        if playing and st.session_state["compare_speed"] != speed:
            st.rerun(scope="app")  # a new tick interval
        if model.meta.shape is not None:
            c3.radio("Shade pixels by", ("value", "confidence"), horizontal=True, key="compare_shade",
                     help="value: grey level of each revealed pixel (just revealed: orange outline); "
                          "confidence: orange = just revealed, blue = earlier, darker = the model was surer "
                          "of that pixel.")
        step = st.slider("Decoding step", 0, last, key="compare_step",
                         help="Scrub through the decoding: how the sequence looks after this many steps. "
                              "Replaying never runs the model again.")
        compare_link.write_step(step)
        show_replay(model, rows, step)
        if hint:
            st.caption(hint)
        for note in step_notes(model, trajs, step):
            st.markdown(note)
        intervention(model, policies, seed, trajs, step)

    view()


def same_decoding_hint(model: Model, trajs: dict) -> str | None:
    """A short explanation when two policies decoded this sample identically (same order, same tokens)."""
    pairs = [(a, b) for i, a in enumerate(trajs) for b in list(trajs)[i + 1:]
             if torch.equal(trajs[a].step_of, trajs[b].step_of) and torch.equal(trajs[a].tokens, trajs[b].tokens)]
    if not pairs:
        return None
    a, b = pairs[0]
    why = "they pick the same positions at every step"
    if {a, b} == {"learned", "random"}:
        w, _ = page_inspect.scores_of(model.schedule, model.meta.length)
        top = float(w.max() / (w.max() + w.min()))  # the largest P(i before j)
        if top <= NEAR_UNIFORM_P:
            cause = (f"the learned exponents are about equal (no position comes before another more than "
                     f"{top:.0%} of the time: the model is barely trained)"
                     if isinstance(model.schedule, LearnedPolynomialSchedule) else
                     "this model's schedule is shared by every position")
            why = (f"{cause}, so the learned order is (close to) uniform, like random, and with the same seed "
                   "both draw the same orders")
    elif {a, b} == {"left_to_right", "reference"}:
        why = "this task's reference order is left to right"
    return f"**{a}** and **{b}** give identical rows: {why}."


def intervention(model: Model, policies: list[str], seed: int, trajs: dict, step: int) -> None:
    """"Reveal this position next": continue every policy from ``step`` with the chosen position forced."""
    names = model.meta.position_names
    # only positions no policy has revealed yet: forcing one then changes every row, not just a few
    masked = [l for l in range(len(names)) if all(int(t.step_of[0, l]) >= step for t in trajs.values())]
    chosen = interventions_of(model, policies, seed)
    if chosen:
        st.caption("Your choices: " + "; ".join(f"{names[l]} revealed at step {k + 1} in every row" for k, l in chosen))
    if not masked:
        st.caption("Every position is revealed by at least one policy at this step: move the slider back to "
                   "choose a position to reveal next.")
        return
    c1, c2, c3 = st.columns([2, 1, 1])
    position = c1.selectbox("Reveal this position next", masked, format_func=lambda l: names[l],
                            key="compare_force",
                            help="What if the model decoded this position now? Every policy keeps its first "
                                 "steps, reveals this position next, then carries on with its own rule. Only "
                                 "positions that every policy still has masked are offered.")
    if c2.button("Reveal it next", key="compare_force_go", help="Decode from here with your choice."):
        chosen.append((step, int(position)))
        st.session_state["compare_step_next"] = step + 1
        st.rerun(scope="app")
    if chosen and c3.button("Undo my choices", key="compare_force_undo", help="Back to the policies' own decoding."):
        chosen.clear()
        st.rerun(scope="app")


def interventions_of(model: Model, policies, seed: int) -> list[tuple[int, int]]:
    """The student's (step, position) choices for this request (a list kept in the session)."""
    store = st.session_state.setdefault("compare_interventions", {})
    return store.setdefault(replay_key(model, policies, seed), [])


# --- sudoku: policies side by side on one puzzle ------------------------------------------------------

SUDOKU_POLICIES = ("learned", "random", "left_to_right", "confidence", "margin", "entropy", "hybrid")
SUDOKU_DEFAULT = ["learned", "random", "margin"]
SUDOKU_PUZZLES, SUDOKU_SCORED = 50, 100  # puzzles to pick from; puzzles per policy for the solve rates


def sudoku_trajectories(model: Model, policies, index: int, seed: int) -> dict[str, sample.Trajectory]:
    """Each policy's greedy decoding of held-out puzzle ``index`` from its givens (cached)."""
    check_decode_budget(model, policies)
    cache = st.session_state.setdefault(CACHE, {})
    key = ("sudoku",) + replay_key(model, policies, seed, (index,))
    if key not in cache:
        x, given = sudoku.task_puzzles(model.meta.params, "heldout", SUDOKU_PUZZLES)
        puzzle = torch.where(given[index:index + 1], x[index:index + 1], model.denoiser.mask_id)
        cache[key] = {p: sample.sample(model.denoiser, model.meta, p, 1, torch.Generator().manual_seed(seed),
                                       schedule=model.schedule, temperature=0.0, puzzle=puzzle)[1]
                      for p in policies}
        while len(cache) > MAX_CACHED:
            cache.pop(next(iter(cache)))
    return cache[key]


def sudoku_rows(model: Model, trajs: dict, index: int) -> list[dict]:
    solution = sudoku.task_puzzles(model.meta.params, "heldout", SUDOKU_PUZZLES)[0][index].tolist()
    return [{"label": p, "values": t.tokens[0].tolist(), "step_of": t.step_of[0].tolist(), "solution": solution}
            for p, t in trajs.items()]


def sudoku_scores(model: Model, policies, seed: int) -> dict | str:
    """Solve rates on ``SUDOKU_SCORED`` held-out puzzles (cached), or why they cannot be computed."""
    cache = st.session_state.setdefault(SCORES, {})
    key = ("sudoku",) + replay_key(model, policies, seed)
    if key not in cache:
        try:
            x, given = sudoku.task_puzzles(model.meta.params, "heldout", SUDOKU_SCORED)
            cache[key] = quality.solve_rates((model.denoiser, model.schedule, model.meta), x, given, policies,
                                             seed, budget_s=limits.SCORE_SECONDS)
        except ValueError as e:
            cache[key] = str(e)
    return cache[key]


def sudoku_panel(model: Model, seed: int) -> None:
    """The Sudoku view: policies, a puzzle, a step slider, the grids side by side, then solve rates."""
    g = sudoku.geometry(model.meta.params["size"])
    c1, c2 = st.columns([3, 1])
    policies = c1.multiselect("Policies (two to four)", SUDOKU_POLICIES, default=SUDOKU_DEFAULT, max_selections=4,
                              key="compare_sudoku_policies",
                              help=POLICY_HELP + " margin = the largest top-1 minus top-2 probability; entropy = "
                                   "the smallest entropy; hybrid = log w_l + margin (learned + adaptive).")
    index = int(c2.number_input("Puzzle", 0, SUDOKU_PUZZLES - 1, 0, key="compare_puzzle",
                                help="Which held-out puzzle to decode (the first 50)."))
    if len(policies) < 2:
        st.warning("Choose at least two policies to compare.")
        return
    try:
        trajs = sudoku_trajectories(model, tuple(policies), index, seed)
    except ValueError as e:
        st.warning(str(e))
        return
    last = max(t.num_steps for t in trajs.values())
    step = st.slider("Decoding step", 0, last, last, key="compare_sudoku_step",
                     help="Scrub through the decoding; each step reveals one cell (greedy: the most likely "
                          "value). Replaying never runs the model again.")
    st.html(fs.side_by_side(g, sudoku_rows(model, trajs, index), step,
                            f"Puzzle {index}: {int(trajs[policies[0]].given.sum())} givens, step {step} of {last}"))
    st.subheader("Solve rates")
    done = ("sudoku",) + replay_key(model, tuple(policies), seed) in st.session_state.get(SCORES, {})
    if st.button(f"Solve {SUDOKU_SCORED} held-out puzzles with each policy", key="compare_sudoku_score",
                 help="Greedy decoding from the givens; solved = a valid grid that keeps every given.") or done:
        result = sudoku_scores(model, tuple(policies), seed)
        if isinstance(result, str):
            st.warning(f"Solve rates are not available for this model: {result}")
            return
        st.dataframe(pd.DataFrame([{"policy": p, "solve rate": s.rate, "95% low": s.ci[0], "95% high": s.ci[1],
                                    "solved": f"{s.solved}/{s.puzzles}", "model calls": s.calls}
                                   for p, s in result.items()]), hide_index=True, key="compare_sudoku_table")
        st.caption(f"95% Wilson intervals over {SUDOKU_SCORED} puzzles, seed {seed}; `python -m core.compare "
                   "--checkpoint … --puzzles 500` gives the same on more puzzles.")


# --- page -----------------------------------------------------------------------------------------------


def choose_policies(meta: data.DataMeta) -> list[str]:
    allowed = available_policies(meta)
    current = [p for p in st.session_state.get("compare_policies", DEFAULT_POLICIES) if p in allowed]
    st.session_state["compare_policies"] = current or DEFAULT_POLICIES[:2]
    return st.multiselect("Policies (two to four)", allowed, key="compare_policies", max_selections=4,
                          help=POLICY_HELP)


def show_scores(model: Model, policies: list[str], seed: int) -> None:
    st.subheader("How good is each order?")
    key = replay_key(model, policies, seed)
    if model.meta.length > AUTO_SCORE_MAX_LENGTH and key not in st.session_state.get(SCORES, {}):
        if not st.button("Score the policies", key="compare_score", type="primary",
                         help="Teacher-forced order NLL on held-out data and the validity of 256 samples per "
                              "policy. With long sequences this takes a few seconds per policy."):
            return
    with st.spinner("Scoring the policies on held-out data…"):
        result = scores(model, policies, seed)
    if isinstance(result, str):
        st.warning(f"Held-out scores are not available for this model: {result}")
        return
    table = score_table(result)
    left, right = st.columns([3, 2])
    left.dataframe(table, hide_index=True, width="stretch", key="compare_table", column_config={
        "order NLL (nats)": st.column_config.NumberColumn(format="%.3f", help="Teacher-forced AR loss along "
                                                          "the policy's orders; lower = an easier order."),
        "95% low": st.column_config.NumberColumn(format="%.3f"),
        "95% high": st.column_config.NumberColumn(format="%.3f"),
        "valid samples": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f",
                                                         help="Fraction of samples obeying the task's rule."),
        "shape": st.column_config.NumberColumn(format="%.3f", help="Tables: mean over columns of 1 - total "
                                               "variation between sample and held-out marginals (1 = same)."),
        "trend": st.column_config.NumberColumn(format="%.3f", help="Tables: mean over column pairs of 1 - "
                                               "|Cramér's V difference| (1 = same dependence)."),
    })
    if "valid samples" not in table:
        left.caption("This task has no validity rule, so there is no validity column.")
    left.caption(f"Order NLL on up to {heldout_rows(model.meta.length)} held-out sequences ({N_ORDERS} orders "
                 f"each for random policies); validity over {N_SCORE_SAMPLES} samples per policy, seed {seed}.")
    right.plotly_chart(fo.policy_nll_points(table["policy"].tolist(), table["order NLL (nats)"],
                                            table["95% low"], table["95% high"]), width="stretch",
                       key="compare_points")


def draw() -> None:
    common.setup_torch()
    common.restore_settings(SAVED)
    compare_link.restore()
    st.title("Compare decoding orders")
    st.markdown("Same model, same random numbers, different orders: watch each policy decode one sample, "
                "then see which order is easiest on held-out data.")
    top = st.columns([3, 3, 2])
    with top[0]:
        model = choose_model()
    if model is None:
        return
    if model.meta.name == "sudoku" and data.task_layout_ok(model.meta):
        sudoku_panel(model, common.seed_widget("compare_seed", container=top[2]))
        return
    with top[1]:
        policies = choose_policies(model.meta)
    seed = common.seed_widget("compare_seed", container=top[2])
    compare_link.write(policies, seed)
    if len(policies) < 2:
        st.warning("Choose at least two policies to compare.")
        return
    interventions = tuple(interventions_of(model, policies, seed))
    try:
        check_decode_budget(model, policies)
    except ValueError as e:
        st.warning(f"{e}. Fewer policies may fit; `python -m core.sample` decodes it from the command line.")
        show_scores(model, policies, seed)
        return
    with st.spinner("Decoding…"):
        trajs = trajectories(model, policies, seed, interventions)
    if interventions:
        st.info("Showing your choices: " + "; ".join(f"step {s + 1}: {model.meta.position_names[p]}"
                                                    for s, p in interventions))
    replay(model, policies, seed, trajs)
    st.divider()
    show_scores(model, policies, seed)


def main() -> None:
    common.run_page(draw, SAVED, KEPT, KEPT_PREFIXES)
    compare_link.box()


if __name__ == "__main__":
    main()
