"""Lesson page: a guided classroom walk from per-position masking to learned decoding orders.

Steps on a 4-position example drawn from a small task, with Back / Next: (0) from one fixed order
(autoregressive) to every order (masked diffusion), with the task's rule in words and as a formula, (1) forward
masking with per-position schedules, (2) masking times -> decoding order, (3) the Plackett–Luce formula against
sampling, (4) "NELBO = average autoregressive loss over orders" checked live by enumerating every order,
(5) a live training run of a preset that learns its order in under a minute (``app/lesson_live.py``), or the
replay of a shipped one, (6) when a fixed order is not enough: a shipped Sudoku model decoded in its learned
(fixed) order beside the adaptive margin policy on the same puzzle. A presenter mode enlarges the type and
collapses the controls; task, seed, policy, step and exponents live in the URL (``app/lesson_link.py``) so a
teacher can share a link. Widgets only: the numbers come from ``core/lesson.py``.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import streamlit as st
import torch

from app import charts, common, comparison, inspection, lesson_intro, lesson_link, lesson_live, lesson_nav, presenter
from app import state, sudoku_view, task_text
from app.figures import lesson as lesson_figures
from app.figures import replay as replay_figures
from app.figures import schedule as schedule_figures
from core import meta, tasks
from core import lesson as lesson_math
from core.lesson import N_MC, N_ORDER_DRAWS, POLICIES, order_label

STEPS = ("0 · One order → every order", "1 · Forward masking", "2 · Times → order", "3 · Plackett–Luce",
         "4 · ELBO = mean AR loss", "5 · Train live", "6 · When a fixed order is not enough")
SUDOKU_RESULTS = common.ROOT / "bench" / "results" / "sudoku.json"
W_CHOICES = (0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 30.0, 100.0)
TITLE = "Lesson: how masked diffusion learns an order"  # one line at 1400 px
KEPT = ("lesson_task", "lesson_seed", "lesson_policy", "lesson_presenter", "lesson_step")
KEPT_PREFIXES = ("lesson_w_",)


# --- settings ------------------------------------------------------------------------------------------


def settings() -> tuple[str, int, str, bool]:
    """Presenter toggle, task, seed and policy (controls collapse in presenter mode)."""
    presenter = st.toggle("Presenter mode", key="lesson_presenter",
                          help="Large type for a projector; the sidebar and settings are tucked away. "
                               "Toggle off to get them back.")
    with st.expander("Lesson settings (task, seed, policy)", expanded=not presenter):
        c1, c2, c3 = st.columns(3)
        task = c1.selectbox("Task", list(lesson_math.TASKS), key="lesson_task",
                            help="Which toy task the 4-position example comes from; it is also the task "
                                 "trained in step 5.")
        seed = common.seed_widget("lesson_seed", container=c2)
        policy = c3.selectbox("Policy", POLICIES, key="lesson_policy",
                              help="Preset for the exponents below: learned = earlier reference groups get "
                                   "larger w; random = one shared schedule (all w equal, every order equally "
                                   "likely); left_to_right = a chain, which needs very unequal w.")
    lesson_link.write_settings(task, int(seed), policy, presenter)
    return task, int(seed), policy, presenter


def exponent_sliders(meta: meta.DataMeta, policy: str, presenter: bool) -> torch.Tensor:
    """One slider per position; reset to the policy's preset when task or policy changes."""
    names = meta.position_names
    if st.session_state.get("lesson_preset_for") != (meta.name, policy):
        for l, w in enumerate(lesson_math.preset_exponents(meta, policy)):
            st.session_state[f"lesson_w_{l}"] = w
        st.session_state["lesson_preset_for"] = (meta.name, policy)
    with st.expander("Exponents w_l (alpha_l(t) = 1 - t^w_l)", expanded=not presenter):
        cols = st.columns(len(names))
        w = [col.select_slider(f"w for {name}", W_CHOICES, key=f"lesson_w_{l}",
                               help=f"Exponent of position {name}: larger w = masked later in the forward "
                                    "process = revealed earlier in generation.")
             for l, (col, name) in enumerate(zip(cols, names))]
    return torch.tensor(w, dtype=torch.float64)


def chart(box, fig, key: str) -> None:
    """Draw a figure; in presenter mode with larger type to match the page."""
    charts.plot(box, fig, key, width="stretch")


# --- the steps ------------------------------------------------------------------------------------


def step_forward(meta, x, w, tau) -> None:
    st.markdown("Each position **l** is masked at its own random time **tau_l** (the black tick), with "
                "P(tau_l ≤ t) = 1 − alpha_l(t) = t^w_l. Press ▶ to run time forward from clean data "
                "(t = 0) to all masked (t = 1): each bar fills up to now, green while its position is still "
                "clean, grey once it is masked. Move a w slider and watch that position's tick move.")
    tokens = [replay_figures.cell_text(v) for v in tasks.decode_samples(meta, x)[0]]
    left, right = st.columns([3, 2])
    chart(left, lesson_figures.forward_masking_animation(tau.tolist(), meta.position_names, tokens), "lesson_forward")
    chart(right, schedule_figures.alpha_curves(w.tolist(), meta.position_names), "lesson_alpha")


def draw_button() -> None:
    if st.button("Draw new masking times", key="lesson_redraw",
                 help="Draw fresh uniforms u_l; the masking times are tau_l = u_l^(1/w_l)."):
        st.session_state["lesson_draw"] = st.session_state.get("lesson_draw", 0) + 1


def step_order(meta, tau) -> None:
    st.markdown("Generation runs time **backwards**, from t = 1 to 0, so the position with the **largest** "
                "masking time is revealed first. Sorting the times gives the decoding order.")
    draw_button()
    names = meta.position_names
    order = lesson_math.decoding_order(tau)
    left, right = st.columns([3, 2])
    chart(left, lesson_figures.times_to_order(tau.tolist(), names), "lesson_sort")
    charts.table(right, pd.DataFrame({"decode step": range(1, len(names) + 1),
                                      "position": [names[i] for i in order],
                                      "tau": [round(float(tau[i]), 4) for i in order]}),
                 "lesson_order_table", "decoding-order", hide_index=True, width="stretch")
    right.markdown(f"**Order:** {order_label(order, names)}")


def step_plackett_luce(meta, w, tau, seed) -> None:
    names = meta.position_names
    order = lesson_math.decoding_order(tau)
    st.markdown("Because −log tau_l is exponential with rate w_l, the order is **Plackett–Luce**: pick the "
                "first position with probability proportional to w, then the next among the rest, and so on.")
    draw_button()
    st.latex(lesson_math.pl_formula(w, order, names))
    check = lesson_math.order_check(w, order, seed)
    c1, c2 = st.columns(2)
    c1.metric(f"P(pi) for {order_label(order, names)}", f"{check['p']:.4f}", help="order_log_prob(w, pi).exp()")
    c2.metric(f"frequency over {N_ORDER_DRAWS:,} draws", f"{check['frequency']:.4f}",
              help="How often sample_orders(w, n) produced this exact order.")
    labels = [order_label(o, names) for o in check["top"]]
    chart(st, lesson_figures.order_frequency_bars(labels, check["top_p"], check["top_frequency"],
                                                  order_label(order, names)), "lesson_pl")


def step_elbo(meta, x, w, seed) -> None:
    st.markdown("When the denoiser is not told the time t (only which positions are masked), the NELBO equals the **autoregressive loss averaged over "
                "orders** drawn from Plackett–Luce. Here a fixed random denoiser scores the sequence "
                f"**{tasks.format_sample(meta, x[0])}** along every one of the {math.factorial(meta.length)} "
                "orders.")
    check = lesson_math.example_elbo_check(meta, x, w, seed)
    c1, c2, c3 = st.columns(3)
    c1.metric("Σ P(pi) × AR loss", f"{check['sum']:.4f}", help="Weighted sum of the table below.")
    c2.metric("Exact value", f"{check['exact']:.4f}", help="The same sum computed another way, over every "
                                                           "set of revealed positions (core.elbo.exact_nelbo).")
    c3.metric("Random-draw estimate", f"{check['mc']:.3f} ± {check['mc_se']:.3f}",
              delta=f"{check['z']:+.1f} standard errors", delta_color="off",
              help=f"Draw a random time t and random masks, score the masked positions, average over {N_MC:,} "
                   "draws "
                   "(core.elbo.nelbo), ± its standard error. Within a few standard errors of the exact value = "
                   "the identity holds.")
    table = check["table"].assign(order=lambda f: [order_label(o, meta.position_names) for o in f["order"]])
    left, right = st.columns([3, 2])
    if presenter.on():  # a table of text scales with the page; the interactive grid draws small type
        left.table(table.head(8).style.format({c: "{:.4f}" for c in table.columns[1:]}).hide(axis="index"))
    else:
        charts.table(left, table, "lesson_elbo_table", "elbo-over-orders", hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns[1:]})
    chart(right, lesson_figures.elbo_terms(table["order"].tolist(), table["P(pi)"], table["AR loss (nats)"], check["exact"]),
          "lesson_terms")


def sudoku_checkpoint() -> str | None:
    """The shipped Sudoku checkpoint to show (the learned one first), or None."""
    names = [n for n in common.list_pretrained() if n.startswith("sudoku")]
    return next((n for n in names if n.endswith("learned")), names[0] if names else None)


def step_sudoku(seed: int) -> None:
    st.markdown("Every task so far has **one** easy order for all sequences (the b's before the c's), and a "
                "learned schedule finds it. In Sudoku the cell you can be sure of next depends on **this** "
                "puzzle's givens, so no single order serves every puzzle. The learned schedule gives each "
                "*cell* one exponent w_l; an **adaptive** policy instead asks the model at every step and "
                "reveals the cell it is surest of (**margin**: the largest gap between its top two values).")
    name = sudoku_checkpoint()
    if name is None:
        st.info("No Sudoku checkpoint is shipped here; make one with `python -m core.train --task sudoku "
                "--out pretrained/sudoku6-learned` (see pretrained/README.md).")
        return
    model = comparison.shipped_model(name, name)
    index = sudoku_view.puzzle_input(st, "lesson_puzzle", "A held-out puzzle the model never trained on.")
    sudoku_view.grids(model, ("learned", "margin"), index, seed, "lesson_sudoku_step",
                      "Scrub through both decodings; orange = the cell revealed at this step, red = a conflict.",
                      lambda step, last, trajs: f"{name}, puzzle {index}")
    w, _ = inspection.scores_of(model.schedule)
    first = ", ".join(model.meta.position_names[int(i)] for i in torch.argsort(-w)[:6])
    st.markdown(f"The learned schedule is one preference for **every** puzzle: cells such as {first} tend to "
                f"come first (the most uneven pair is decoded in one order "
                f"**{inspection.most_uneven_pair(w):.0%}** of the time). Such a fixed order can lower the "
                "average loss, but it cannot look at this puzzle's givens, so it reveals cells the model cannot "
                "be sure of yet. Learning one order helps when the data share one; when the easy next step "
                "depends on the sample, the order has to look at the sample.")
    results = sudoku_results()
    if results:
        st.markdown(f"Measured on {results[0]['puzzles']} held-out puzzles (`python bench/sudoku.py`):")
        charts.table(st, pd.DataFrame(results), "lesson_sudoku_table", "sudoku-solve-rates", hide_index=True)


def sudoku_results() -> list[dict]:
    """The shipped bench table (``bench/results/sudoku.json``) as rows, empty when it is missing."""
    try:
        found = json.loads(SUDOKU_RESULTS.read_text())["results"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [{"model": r["checkpoint"].split("/")[-1], "policy": p, "solve rate": s["solve_rate"],
             "95% interval": f"[{s['solve_ci'][0]:.3f}, {s['solve_ci'][1]:.3f}]", "model calls": s["calls"],
             "puzzles": s["puzzles"]} for r in found for p, s in r["scores"].items()]


def draw() -> None:
    lesson_link.read(STEPS, W_CHOICES)
    st.title(TITLE)
    task, seed, policy, presenter = settings()
    meta, x = lesson_math.example(task, seed)
    w = exponent_sliders(meta, policy, presenter)
    tau = lesson_math.masking_times(w, seed, st.session_state.get("lesson_draw", 0))
    step = st.radio("Lesson step", STEPS, horizontal=True, key="lesson_step",
                    help="Walk through the lesson one idea at a time.")
    lesson_link.write(STEPS, step, w.tolist())
    st.header(step)
    lesson_nav.buttons("lesson_step", STEPS, "top")
    rule = task_text.text(task)
    if step == STEPS[0]:
        lesson_intro.draw(meta.position_names, w, seed, rule.words, rule.formula)
    elif step == STEPS[1]:
        step_forward(meta, x, w, tau)
    elif step == STEPS[2]:
        step_order(meta, tau)
    elif step == STEPS[3]:
        step_plackett_luce(meta, w, tau, seed)
    elif step == STEPS[4]:
        step_elbo(meta, x, w, seed)
    elif step == STEPS[5]:
        lesson_live.draw(seed)
    else:
        step_sudoku(seed)
    lesson_nav.buttons("lesson_step", STEPS, "bottom")
    lesson_link.box()


def main() -> None:
    state.keep("lesson", draw, KEPT, KEPT_PREFIXES)


if __name__ == "__main__":
    main()
