"""What Compare computes: a model to compare (shipped, a session run frozen at its step, or an upload),
each policy's decoding of one sample, kept in the session so scrubbing a replay never calls the model,
"reveal this position next" continuations, held-out scores, and the same for Sudoku puzzles. A shipped
model is the same for every session, so its decodings and scores are computed once for all of them (a
class opening Compare together costs one computation, not thirty); a session run or an upload stays its
session's own.

No widgets here (``app/content/compare.py`` draws them; the Lesson's Sudoku step reuses the Sudoku decoding).
Decoding and scoring are estimated first (``core.limits.decode_seconds`` / ``score_seconds``): over the
page's budget they raise ValueError with the reason instead of stalling the server.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pandas as pd
import streamlit as st
import torch

from app import common, inspection
from app.figures import replay as replay_figures
from core import checkpoint, decoding, limits, meta, quality, sudoku, tasks
from core.schedules import LearnedPolynomialSchedule

POLICIES = ("learned", "random", "left_to_right", "reference", "confidence")
CACHE, SCORES = "compare_cache", "compare_scores"
MAX_CACHED = 48
MAX_HELDOUT, N_SCORE_SAMPLES, N_ORDERS = 256, 256, 2
HELDOUT_BUDGET = 8192  # held-out rows x positions scored per policy, so long sequences stay quick
NEAR_UNIFORM_P = 0.6  # no P(i before j) above this: the learned order is close to uniform
SUDOKU_PUZZLES, SUDOKU_SCORED = 50, 100  # puzzles to pick from; puzzles per policy for the solve rates


@dataclass
class Model:
    """A model to compare: ``key`` names it in the caches (same key = same weights)."""

    key: str
    label: str
    denoiser: torch.nn.Module
    schedule: torch.nn.Module
    meta: meta.DataMeta
    heldout: torch.Tensor | None = None


def from_checkpoint(key: str, label: str, ckpt: checkpoint.Checkpoint) -> Model:
    return Model(key, label, ckpt.model, ckpt.schedule, ckpt.meta)


def shipped_model(name: str, label: str) -> Model:
    """A shipped checkpoint, keyed by its folder (the same weights for every session of this server)."""
    return from_checkpoint(f"shipped:{common.pretrained_dir() / name}", label, common.load_pretrained(name))


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


def available_policies(meta: meta.DataMeta) -> list[str]:
    return [p for p in POLICIES if p != "reference" or meta.reference_order is not None]


def replay_key(model: Model, policies, seed: int, interventions=()) -> tuple:
    return (model.key, tuple(policies), int(seed), tuple(interventions))


def decode(model: Model, policy: str, seed: int) -> decoding.Trajectory:
    """One sample decoded with ``policy``; the same seed gives every policy the same token uniforms."""
    _, trajectory = decoding.sample(model.denoiser, model.meta, policy, 1, torch.Generator().manual_seed(seed),
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
        _, out[policy] = decoding.continue_from(
            model.denoiser, traj, step, generator=torch.Generator().manual_seed(seed + 1), next_position=position,
            meta=model.meta, schedule=model.schedule)
    return out


def check_decode_budget(model: Model, policies) -> None:
    """ValueError, before decoding, when one sample per policy would take longer than the page's budget."""
    config = model.denoiser.config
    seconds = len(policies) * limits.decode_seconds(config, 1)
    limits.check_seconds(f"Decoding {len(policies)} policies one position at a time ({config.length:,} steps "
                         f"of a {config.length:,}-position model)", seconds, limits.DECODE_SECONDS)


def shared(model: Model) -> bool:
    """Whether every session sees the same weights under this key (a shipped checkpoint)."""
    return model.key.startswith("shipped:")


@st.cache_resource(max_entries=limits.SHARED_RESULT_ENTRIES, show_spinner=False)
def _for_every_session(key: tuple, _compute):
    """One result per key for the whole server (read, never changed); concurrent requests wait for it."""
    return _compute()


def clear_shared() -> None:
    _for_every_session.clear()


def cached(name: str, key: tuple, model: Model, compute, for_everyone: bool = True):
    """``compute()`` once per key in this session's cache ``name`` (bounded), and once for every session
    when the model is shipped and the result is not this session's own (``for_everyone``)."""
    cache = st.session_state.setdefault(name, {})
    if key not in cache:
        share = for_everyone and shared(model)
        cache[key] = _for_every_session((name,) + key, compute) if share else compute()
        while len(cache) > MAX_CACHED:
            cache.pop(next(iter(cache)))
    return cache[key]


def trajectories(model: Model, policies, seed: int, interventions=()) -> dict[str, decoding.Trajectory]:
    """The decoded trajectories for this request, computed at most once (ValueError when over the
    decoding budget). A student's interventions stay in the session; they continue the shared decoding."""
    check_decode_budget(model, policies)
    key = replay_key(model, policies, seed, interventions)
    if interventions:
        return cached(CACHE, key, model, for_everyone=False, compute=lambda: intervene(
            model, trajectories(model, policies, seed, interventions[:-1]), *interventions[-1], seed))
    return cached(CACHE, key, model, lambda: {p: decode(model, p, seed) for p in policies})


def scores(model: Model, policies, seed: int) -> dict | str:
    """``compare_policies`` for this request (cached), or the reason it cannot be computed."""
    return cached(SCORES, replay_key(model, policies, seed), model, lambda: compute_scores(model, policies, seed))


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


def replay_rows(model: Model, trajs: dict) -> list[dict]:
    """Figure rows (plain lists) for :mod:`app.figures.replay` from each policy's trajectory."""
    rows = []
    for policy, traj in trajs.items():
        rows.append({"label": policy, "values": tasks.decode_samples(model.meta, traj.tokens)[0],
                     "step_of": traj.step_of[0].tolist(), "confidence": traj.prob[0].tolist(),
                     "entropy": traj.entropy[0].tolist(), "names": model.meta.position_names})
    return rows


def step_notes(model: Model, trajs: dict, step: int) -> list[str]:
    """What each policy revealed at this step, in words."""
    if step == 0:
        return ["Nothing revealed yet: every position is masked."]
    names, notes = model.meta.position_names, []
    for policy, traj in trajs.items():
        if step > traj.num_steps:
            continue
        revealed = traj.revealed_at(step - 1)[0].nonzero().flatten().tolist()
        values = tasks.decode_samples(model.meta, traj.tokens)[0]
        parts = [f"{names[l]} = {replay_figures.cell_text(values[l], 24)} (p = {float(traj.prob[0, l]):.2f})"
                 for l in revealed]
        note = f"**{policy}** revealed " + ", ".join(parts)
        if step == traj.num_steps:
            note += " — " + final_note(model.meta, traj.tokens)
        notes.append(note)
    return notes


def final_note(meta: meta.DataMeta, tokens: torch.Tensor) -> str:
    """The finished sample in words, with its validity when the task has a rule."""
    valid = tasks.check_samples(meta, tokens)
    verdict = "" if valid is None else (" ✓ valid" if bool(valid[0]) else " ✗ breaks the task's rule")
    text = "" if meta.shape is not None else f"`{tasks.format_sample(meta, tokens[0])}`"
    return f"finished: {text}{verdict}"


def same_decoding_hint(model: Model, trajs: dict) -> str | None:
    """A short explanation when two policies decoded this sample identically (same order, same tokens)."""
    pairs = [(a, b) for i, a in enumerate(trajs) for b in list(trajs)[i + 1:]
             if torch.equal(trajs[a].step_of, trajs[b].step_of) and torch.equal(trajs[a].tokens, trajs[b].tokens)]
    if not pairs:
        return None
    a, b = pairs[0]
    why = "they pick the same positions at every step"
    if {a, b} == {"learned", "random"}:
        w, _ = inspection.scores_of(model.schedule)
        top = inspection.most_uneven_pair(w)
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


def interventions_of(model: Model, policies, seed: int) -> list[tuple[int, int]]:
    """The student's (step, position) choices for this request (a list kept in the session)."""
    store = st.session_state.setdefault("compare_interventions", {})
    return store.setdefault(replay_key(model, policies, seed), [])


def sudoku_trajectories(model: Model, policies, index: int, seed: int) -> dict[str, decoding.Trajectory]:
    """Each policy's greedy decoding of held-out puzzle ``index`` from its givens (cached)."""
    check_decode_budget(model, policies)

    def compute() -> dict:
        x, given = sudoku.task_puzzles(model.meta.params, "heldout", SUDOKU_PUZZLES)
        puzzle = torch.where(given[index:index + 1], x[index:index + 1], model.denoiser.mask_id)
        return {p: decoding.sample(model.denoiser, model.meta, p, 1, torch.Generator().manual_seed(seed),
                                   schedule=model.schedule, temperature=0.0, puzzle=puzzle)[1] for p in policies}

    return cached(CACHE, ("sudoku",) + replay_key(model, policies, seed, (index,)), model, compute)


def sudoku_rows(model: Model, trajs: dict, index: int) -> list[dict]:
    solution = sudoku.task_puzzles(model.meta.params, "heldout", SUDOKU_PUZZLES)[0][index].tolist()
    return [{"label": p, "values": t.tokens[0].tolist(), "step_of": t.step_of[0].tolist(), "solution": solution}
            for p, t in trajs.items()]


def scored(model: Model, policies, seed: int) -> bool:
    """Whether this request's scores are in the session already."""
    return replay_key(model, policies, seed) in st.session_state.get(SCORES, {})


def sudoku_scored(model: Model, policies, seed: int) -> bool:
    return ("sudoku",) + replay_key(model, policies, seed) in st.session_state.get(SCORES, {})


def sudoku_scores(model: Model, policies, seed: int) -> dict | str:
    """Solve rates on ``SUDOKU_SCORED`` held-out puzzles (cached), or why they cannot be computed."""
    def compute() -> dict | str:
        try:
            x, given = sudoku.task_puzzles(model.meta.params, "heldout", SUDOKU_SCORED)
            return quality.solve_rates((model.denoiser, model.schedule, model.meta), x, given, policies, seed,
                                       budget_s=limits.SCORE_SECONDS)
        except ValueError as e:
            return str(e)

    return cached(SCORES, ("sudoku",) + replay_key(model, policies, seed), model, compute)
