"""Compare page: decode with two to four policies on the same seed and replay them side by side.

A model (shipped, this session's training run, or an upload) is decoded once per request with each policy;
``app/comparison.py`` keeps the trajectories in the session, so scrubbing or playing the replay
(``app/player.py``) never calls the model. The replay is one ``st.fragment``: moving its slider reruns only
the replay (an HTML strip, quick to redraw). "Reveal this position next" continues every policy from the
current step with that position forced next. Below the replay, each policy's held-out order NLL with its
95% interval and the validity of its samples. A Sudoku model gets its own view: the policies decode one
held-out puzzle from its givens, drawn as grids side by side, with solve rates on request.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, common, compare_link, comparison, presenter, state, sudoku_view, uploads
from app.comparison import Model
from app.figures import export
from app.figures import orders as order_figures
from app.figures import replay as replay_figures
from app.player import Player
from core import meta, tasks

DEFAULT_POLICIES = ["learned", "random", "left_to_right"]
# The first model shown, chosen by measurement (core.compare, 128 samples, seed 0): majority-learned decodes
# valid samples under its learned order (0.98) and clearly fewer at random (0.85; NLL 5.57 against 5.91), where
# addition-learned, the first name alphabetically, decoded invalid sums under every policy (0.00-0.02).
FIRST_MODEL = "shipped: majority-learned"
POLICY_HELP = ("learned = the model's own schedule (orders drawn from its exponents); random = every order "
               "equally likely (a shared schedule); left_to_right = positions in index order; reference = the "
               "task's known easy order; confidence = reveal whichever masked position the model is surest of.")
UPLOAD = "upload config.json + model.safetensors"
KEPT = ("compare_model", "compare_policies", "compare_seed", "compare_speed", "compare_shade", "compare_step")
AUTO_SCORE_MAX_LENGTH = 32  # longer sequences are scored on request (a few seconds per policy)
SUDOKU_POLICIES = ("learned", "random", "left_to_right", "confidence", "margin", "entropy", "hybrid")
SUDOKU_DEFAULT = ["learned", "random", "margin"]
PLAYER = Player(index_key="compare_step", playing_key="compare_playing", speed_key="compare_speed",
                speeds=(0.5, 1, 2, 4, 8), default_speed=2, speed_label="Speed (steps per second)",
                speed_help="How fast the replay advances while playing.", slider_label="Decoding step",
                slider_help="Scrub through the decoding: how the sequence looks after this many steps. "
                            "Replaying never runs the model again.",
                play_key="compare_play", play_labels=("▶ Play", "❚❚ Pause"),
                play_help="Play the decoding step by step; pause to look closely.")


# --- the model ------------------------------------------------------------------------------------------


def model_options() -> dict[str, object]:
    """Label -> source: a shipped name, a session run, or the upload marker."""
    options = {f"shipped: {name}": ("shipped", name) for name in common.list_pretrained()}
    for run in reversed(list(state.runs())):
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
        return comparison.shipped_model(value, label)
    if kind == "run":
        return comparison.from_run(value)
    return uploaded_model()


def uploaded_model() -> Model | None:
    result = uploads.upload_box(uploads.COMPARE, "config.json + model.safetensors (or the Train page's .zip)")
    if result is None:
        st.info("Upload both files of a checkpoint (or its .zip) to compare its decoding orders.")
        return None
    if "error" in result:
        uploads.show_error(result)
        return None
    return comparison.from_checkpoint(result["key"], f"upload {result['key'][7:15]}", result["ckpt"])


def show_replay(model: Model, rows: list[dict], step: int) -> None:
    """The side-by-side views after ``step`` steps: an HTML strip (sequences, tables) or pictures (images)."""
    meta = model.meta
    with st.container(key="compare_replay"):
        if meta.shape is not None:
            shade = st.session_state.get("compare_shade", "value")
            charts.plot(st, replay_figures.replay_images(rows, meta.shape, step, meta.vocab_size, shade=shade),
                        key="compare_replay_images", width="stretch")
        else:
            st.html(replay_figures.replay_strip(rows, meta.position_names, step))


def replay(model: Model, policies: list[str], seed: int, trajs: dict) -> None:
    """The replay as one fragment: play / pause, speed, step slider, the side-by-side views, the step notes
    and the intervention control. Moving the slider reruns only this fragment (not the score table or the
    model loading) and reads only the cached trajectories; while playing, the fragment ticks by itself."""
    last = max(t.num_steps for t in trajs.values())
    rows, hint = comparison.replay_rows(model, trajs), comparison.same_decoding_hint(model, trajs)
    PLAYER.setup()

    @st.fragment(run_every=PLAYER.tick_s())
    def view() -> None:
        PLAYER.advance(last)
        c1, c2, c3 = st.columns([1, 2, 2])
        PLAYER.controls(c1, c2, last)
        if model.meta.shape is not None:
            c3.radio("Shade pixels by", ("value", "confidence"), horizontal=True, key="compare_shade",
                     help="value: grey level of each revealed pixel (just revealed: orange outline); "
                          "confidence: orange = just revealed, blue = earlier, darker = the model was surer "
                          "of that pixel.")
        step = PLAYER.slider(last)
        compare_link.write_step(step)
        show_replay(model, rows, step)
        decodings_csv(model, rows)
        if hint:
            st.caption(hint)
        for note in comparison.step_notes(model, trajs, step):
            st.markdown(note)
        intervention(model, policies, seed, trajs, step)

    view()


def decodings_csv(model: Model, rows: list[dict]) -> None:
    """The numbers behind the replay strip or pictures, built only when clicked."""
    names = model.meta.position_names
    charts.csv_download(st, lambda: export.decoding_frame(rows, names), f"{model.meta.name}-decodings",
                        key="compare_replay_csv", label="Download every policy's decoding (CSV)",
                        help="One row per policy and position: the step that revealed it, its value, and the "
                             "model's confidence and entropy at that moment.")


def intervention(model: Model, policies: list[str], seed: int, trajs: dict, step: int) -> None:
    """"Reveal this position next": continue every policy from ``step`` with the chosen position forced."""
    names = model.meta.position_names
    # only positions no policy has revealed yet: forcing one then changes every row, not just a few
    masked = [l for l in range(len(names)) if all(int(t.step_of[0, l]) >= step for t in trajs.values())]
    chosen = comparison.interventions_of(model, policies, seed)
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
        PLAYER.jump(step + 1)
        st.rerun(scope="app")
    if chosen and c3.button("Undo my choices", key="compare_force_undo", help="Back to the policies' own decoding."):
        chosen.clear()
        st.rerun(scope="app")


def sudoku_panel(model: Model, seed: int) -> None:
    """The Sudoku view: policies, a puzzle, a step slider, the grids side by side, then solve rates."""
    c1, c2 = st.columns([3, 1])
    policies = c1.multiselect("Policies (two to four)", SUDOKU_POLICIES, default=SUDOKU_DEFAULT, max_selections=4,
                              key="compare_sudoku_policies",
                              help=POLICY_HELP + " margin = the largest top-1 minus top-2 probability; entropy = "
                                   "the smallest entropy; hybrid = log w_l + margin (learned + adaptive).")
    index = sudoku_view.puzzle_input(c2, "compare_puzzle", "Which held-out puzzle to decode (the first 50).")
    if len(policies) < 2:
        st.warning("Choose at least two policies to compare.")
        return
    try:
        sudoku_view.grids(model, tuple(policies), index, seed, "compare_sudoku_step",
                          "Scrub through the decoding; each step reveals one cell (greedy: the most likely "
                          "value). Replaying never runs the model again.",
                          lambda step, last, trajs: f"Puzzle {index}: {int(trajs[policies[0]].given.sum())} "
                                                    f"givens, step {step} of {last}")
    except ValueError as e:
        st.warning(str(e))
        return
    solve_rates(model, tuple(policies), seed)


def solve_rates(model: Model, policies: tuple[str, ...], seed: int) -> None:
    st.subheader("Solve rates")
    n = comparison.SUDOKU_SCORED
    if st.button(f"Solve {n} held-out puzzles with each policy", key="compare_sudoku_score",
                 help="Greedy decoding from the givens; solved = a valid grid that keeps every given.") \
            or comparison.sudoku_scored(model, policies, seed):
        result = comparison.sudoku_scores(model, policies, seed)
        if isinstance(result, str):
            st.warning(f"Solve rates are not available for this model: {result}")
            return
        charts.table(st, pd.DataFrame([{"policy": p, "solve rate": s.rate, "95% low": s.ci[0], "95% high": s.ci[1],
                                        "solved": f"{s.solved}/{s.puzzles}", "model calls": s.calls}
                                       for p, s in result.items()]), "compare_sudoku_table", "solve-rates",
                     hide_index=True)
        st.caption(f"95% Wilson intervals over {n} puzzles, seed {seed}; `python -m core.compare "
                   "--checkpoint … --puzzles 500` gives the same on more puzzles.")


def choose_policies(meta: meta.DataMeta) -> list[str]:
    allowed = comparison.available_policies(meta)
    current = [p for p in st.session_state.get("compare_policies", DEFAULT_POLICIES) if p in allowed]
    st.session_state["compare_policies"] = current or DEFAULT_POLICIES[:2]
    return st.multiselect("Policies (two to four)", allowed, key="compare_policies", max_selections=4,
                          help=POLICY_HELP)


def show_scores(model: Model, policies: list[str], seed: int) -> None:
    st.subheader("How good is each order?")
    if model.meta.length > AUTO_SCORE_MAX_LENGTH and not comparison.scored(model, policies, seed):
        if not st.button("Score the policies", key="compare_score", type="primary",
                         help="Teacher-forced order NLL on held-out data and the validity of 256 samples per "
                              "policy. With long sequences this takes a few seconds per policy."):
            return
    with st.spinner("Scoring the policies on held-out data…"):
        result = comparison.scores(model, policies, seed)
    if isinstance(result, str):
        st.warning(f"Held-out scores are not available for this model: {result}")
        return
    table = comparison.score_table(result)
    left, right = st.columns([3, 2])
    charts.table(left, table, "compare_table", "order-quality", hide_index=True, width="stretch", column_config={
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
    left.caption(f"Order NLL on up to {comparison.heldout_rows(model.meta.length)} held-out sequences "
                 f"({comparison.N_ORDERS} orders each for random policies); validity over "
                 f"{comparison.N_SCORE_SAMPLES} samples per policy, seed {seed}.")
    charts.plot(right, order_figures.policy_nll_points(table["policy"].tolist(), table["order NLL (nats)"],
                                                       table["95% low"], table["95% high"]),
                key="compare_points", width="stretch")


def draw() -> None:
    common.setup_torch()
    compare_link.restore()
    st.title("Compare decoding orders")
    st.markdown("Same model, same random numbers, different orders: watch each policy decode one sample, "
                "then see which order is easiest on held-out data.")
    # presenter type makes the policy chips wide; the seed box has no buttons there and needs less room
    top = st.columns([3, 5, 1] if presenter.on() else [3, 3, 2])
    with top[0]:
        model = choose_model()
    if model is None:
        return
    if model.meta.name == "sudoku" and tasks.task_layout_ok(model.meta):
        sudoku_panel(model, common.seed_widget("compare_seed", container=top[2]))
        return
    with top[1]:
        policies = choose_policies(model.meta)
    seed = common.seed_widget("compare_seed", container=top[2])
    compare_link.write(policies, seed)
    if len(policies) < 2:
        st.warning("Choose at least two policies to compare.")
        return
    interventions = tuple(comparison.interventions_of(model, policies, seed))
    try:
        comparison.check_decode_budget(model, policies)
    except ValueError as e:
        st.warning(f"{e}. Fewer policies may fit; `python -m core.sample` decodes it from the command line.")
        show_scores(model, policies, seed)
        return
    with st.spinner("Decoding…"):
        trajs = comparison.trajectories(model, policies, seed, interventions)
    if interventions:
        st.info("Showing your choices: " + "; ".join(f"step {s + 1}: {model.meta.position_names[p]}"
                                                    for s, p in interventions))
    replay(model, policies, seed, trajs)
    st.divider()
    show_scores(model, policies, seed)


def main() -> None:
    state.keep("compare", draw, KEPT)
    compare_link.box()


if __name__ == "__main__":
    main()
