"""Lesson page: a guided classroom walk from per-position masking to learned decoding orders.

Steps on a 4-position example drawn from a small task, with Back / Next: (0) from one fixed order
(autoregressive) to every order (masked diffusion), with the task's rule in words and as a formula, (1) forward
masking with per-position schedules, (2) masking times -> decoding order, (3) the Plackett–Luce formula against
sampling, (4) "NELBO = average autoregressive loss over orders" checked live by enumerating every order,
(5) a live training run of a preset that learns its order in under a minute (``app/lesson_live.py``), or the
replay of a shipped one, (6) when a fixed order is not enough: a shipped Sudoku model
decoded in its learned (fixed) order beside the adaptive margin policy on the same puzzle. A presenter mode enlarges the type and collapses the
controls; task, seed and policy live in the URL so a teacher can share a link.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import streamlit as st
import torch

from app import charts, common, figures, lesson_intro, lesson_link, lesson_live, lesson_nav, presenter, task_text
from app import figures_orders as fo
from app import figures_sudoku as fs
from core import data, elbo, orders, sudoku
from core.schedules import make_schedule
from core.toys import RandomDenoiser

LESSON_TASKS = {"pairs": {"n": 2}, "addition": {"digits": 1}, "parity": {"n": 2}}
POLICIES = ("learned", "random", "left_to_right")
STEPS = ("0 · One order → every order", "1 · Forward masking", "2 · Times → order", "3 · Plackett–Luce", "4 · ELBO = mean AR loss",
         "5 · Train live", "6 · When a fixed order is not enough")
SUDOKU_RESULTS = common.ROOT / "bench" / "results" / "sudoku.json"
W_CHOICES = (0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 30.0, 100.0)
CHAIN = (100.0, 10.0, 1.0, 0.1, 0.01)  # left_to_right preset: ratio 10 between neighbours
N_ORDER_DRAWS = 20000
N_MC = 20000
TRAIN_STEPS = 300
TITLE = "Lesson: how masked diffusion learns an order"  # one line at 1400 px
KEPT = ("lesson_task", "lesson_seed", "lesson_policy", "lesson_presenter", "lesson_step")
SAVED = "lesson_saved_settings"
KEPT_PREFIXES = ("lesson_w_",)


# --- the example: data and exponents (the fixed random denoiser is core.toys.RandomDenoiser) --------------------------------------------


def example(task: str, seed: int) -> tuple[data.DataMeta, torch.Tensor]:
    """The task's 4-position version and one sequence ``x: [1, L]`` of it."""
    ds = data.make_task(task, seed=seed, num_train=8, num_heldout=0, **LESSON_TASKS[task])
    return ds.meta, ds.train[:1]


def preset_exponents(meta: data.DataMeta, policy: str) -> list[float]:
    """Slider presets: ``learned`` favours the task's earlier reference groups, ``random`` is one shared
    schedule (all equal), ``left_to_right`` approximates a chain with ratio-10 steps."""
    L = meta.length
    if policy == "random":
        return [1.0] * L
    if policy == "left_to_right":
        return [CHAIN[min(l, len(CHAIN) - 1)] for l in range(L)]
    group_of = {p: g for g, group in enumerate(meta.reference_groups or [list(range(L))]) for p in group}
    return [3.0 if group_of[l] == 0 else 0.5 for l in range(L)]


def masking_times(w: torch.Tensor, seed: int, draw: int) -> torch.Tensor:
    """A fixed draw ``u`` of uniforms turned into masking times ``tau_l = u_l^{1/w_l}`` (docs/design.md §2)."""
    g = torch.Generator().manual_seed(seed * 1000 + draw)
    u = torch.rand(w.numel(), generator=g).clamp(1e-6, 1 - 1e-6)
    return u ** (1.0 / w)


def order_label(order, names: list[str]) -> str:
    return " → ".join(names[int(p)] for p in order)


def order_frequencies(w: torch.Tensor, seed: int, n: int = N_ORDER_DRAWS) -> tuple[torch.Tensor, torch.Tensor]:
    """Every order ``[P, L]`` with its empirical frequency ``[P]`` over ``n`` Plackett–Luce draws."""
    L = w.numel()
    every = orders.all_orders(L)
    drawn = orders.sample_orders(w, n, torch.Generator().manual_seed(seed))
    code = lambda o: (o * L ** torch.arange(L - 1, -1, -1)).sum(-1)  # noqa: E731  base-L id of an order
    counts = torch.bincount(code(drawn), minlength=L**L)[code(every)]
    return every, counts.double() / n


def enumerate_elbo(denoiser, x: torch.Tensor, w: torch.Tensor) -> pd.DataFrame:
    """One row per order: P(pi) (Plackett–Luce) and the AR loss along it, most likely orders first."""
    every = orders.all_orders(x.shape[1])
    prob = orders.order_log_prob(w.double(), every).exp()
    loss = elbo.order_nll(denoiser, x.expand(len(every), -1), every)
    frame = pd.DataFrame({"order": [o.tolist() for o in every], "P(pi)": prob.numpy(),
                          "AR loss (nats)": loss.double().numpy()})
    frame["P × loss"] = frame["P(pi)"] * frame["AR loss (nats)"]
    return frame.sort_values("P(pi)", ascending=False, ignore_index=True)


def elbo_check(denoiser, x: torch.Tensor, w: torch.Tensor, seed: int, n: int = N_MC) -> dict:
    """The enumerated sum, ``exact_nelbo`` and a Monte Carlo ``nelbo`` with its standard error."""
    schedule = make_schedule("learned", x.shape[1], init=w.float())
    table = enumerate_elbo(denoiser, x, w)
    with torch.no_grad():
        exact = float(elbo.exact_nelbo(denoiser, x, schedule)[0])
        mc = elbo.nelbo(denoiser, x.expand(n, -1), schedule, torch.Generator().manual_seed(seed))
    return {"table": table, "sum": float(table["P × loss"].sum()), "exact": exact,
            "mc": float(mc.mean()), "mc_se": float(mc.std() / math.sqrt(n))}


# --- URL and presenter mode ----------------------------------------------------------------------------


def read_url() -> None:
    """Preset task / seed / policy / presenter from the URL once per session."""
    if st.session_state.get("lesson_url_read"):
        return
    presets = {"lesson_task": common.query_choice("task", LESSON_TASKS),
               "lesson_policy": common.query_choice("policy", POLICIES),
               "lesson_seed": common.query_int("seed"),
               "lesson_presenter": True if common.query_choice("presenter", ("1", "true")) else None}
    for key, value in presets.items():
        if value is not None:
            st.session_state[key] = value
    st.session_state["lesson_url_read"] = True


def write_url(task: str, seed: int, policy: str, presenter: bool) -> None:
    wanted = {"task": task, "seed": str(seed), "policy": policy}
    if presenter:
        wanted["presenter"] = "1"
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    if not presenter and "presenter" in st.query_params:
        del st.query_params["presenter"]


def settings() -> tuple[str, int, str, bool]:
    """Presenter toggle, task, seed and policy (controls collapse in presenter mode)."""
    presenter = st.toggle("Presenter mode", key="lesson_presenter",
                          help="Large type for a projector; the sidebar and settings are tucked away. "
                               "Toggle off to get them back.")
    with st.expander("Lesson settings (task, seed, policy)", expanded=not presenter):
        c1, c2, c3 = st.columns(3)
        task = c1.selectbox("Task", list(LESSON_TASKS), key="lesson_task",
                            help="Which toy task the 4-position example comes from; it is also the task "
                                 "trained in step 5.")
        seed = common.seed_widget("lesson_seed", container=c2)
        policy = c3.selectbox("Policy", POLICIES, key="lesson_policy",
                              help="Preset for the exponents below: learned = earlier reference groups get "
                                   "larger w; random = one shared schedule (all w equal, every order equally "
                                   "likely); left_to_right = a chain, which needs very unequal w.")
    write_url(task, int(seed), policy, presenter)
    return task, int(seed), policy, presenter


def exponent_sliders(meta: data.DataMeta, policy: str, presenter: bool) -> torch.Tensor:
    """One slider per position; reset to the policy's preset when task or policy changes."""
    names = meta.position_names
    if st.session_state.get("lesson_preset_for") != (meta.name, policy):
        for l, w in enumerate(preset_exponents(meta, policy)):
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


# --- the five steps ------------------------------------------------------------------------------------


def step_forward(meta, x, w, tau) -> None:
    st.markdown("Each position **l** is masked at its own random time **tau_l** (the black tick), with "
                "P(tau_l ≤ t) = 1 − alpha_l(t) = t^w_l. Press ▶ to run time forward from clean data "
                "(t = 0) to all masked (t = 1): each bar fills up to now, green while its position is still "
                "clean, grey once it is masked. Move a w slider and watch that position's tick move.")
    tokens = [fo.cell_text(v) for v in data.decode_samples(meta, x)[0]]
    left, right = st.columns([3, 2])
    chart(left, fo.forward_masking_animation(tau.tolist(), meta.position_names, tokens), "lesson_forward")
    chart(right, figures.alpha_curves(w.tolist(), meta.position_names), "lesson_alpha")


def draw_button() -> None:
    if st.button("Draw new masking times", key="lesson_redraw",
                 help="Draw fresh uniforms u_l; the masking times are tau_l = u_l^(1/w_l)."):
        st.session_state["lesson_draw"] = st.session_state.get("lesson_draw", 0) + 1


def step_order(meta, tau) -> None:
    st.markdown("Generation runs time **backwards**, from t = 1 to 0, so the position with the **largest** "
                "masking time is revealed first. Sorting the times gives the decoding order.")
    draw_button()
    names = meta.position_names
    order = torch.argsort(-tau)
    left, right = st.columns([3, 2])
    chart(left, fo.times_to_order(tau.tolist(), names), "lesson_sort")
    right.dataframe(pd.DataFrame({"decode step": range(1, len(names) + 1),
                                  "position": [names[i] for i in order],
                                  "tau": [round(float(tau[i]), 4) for i in order]}),
                    hide_index=True, width="stretch")
    right.markdown(f"**Order:** {order_label(order, names)}")


def step_plackett_luce(meta, w, tau, seed) -> None:
    names = meta.position_names
    order = torch.argsort(-tau)
    st.markdown("Because −log tau_l is exponential with rate w_l, the order is **Plackett–Luce**: pick the "
                "first position with probability proportional to w, then the next among the rest, and so on.")
    draw_button()
    st.latex(pl_formula(w, order, names))
    p = float(orders.order_log_prob(w, order).exp())
    every, freq = order_frequencies(w, seed)
    prob = orders.order_log_prob(w, every).exp()
    index = int((every == order).all(1).nonzero()[0, 0])
    c1, c2 = st.columns(2)
    c1.metric(f"P(pi) for {order_label(order, names)}", f"{p:.4f}", help="order_log_prob(w, pi).exp()")
    c2.metric(f"frequency over {N_ORDER_DRAWS:,} draws", f"{float(freq[index]):.4f}",
              help="How often sample_orders(w, n) produced this exact order.")
    top = torch.argsort(-prob)[:12]
    labels = [order_label(every[i], names) for i in top]
    chart(st, fo.order_frequency_bars(labels, prob[top].tolist(), freq[top].tolist(), order_label(order, names)),
          "lesson_pl")


def pl_formula(w: torch.Tensor, order: torch.Tensor, names: list[str]) -> str:
    """LaTeX of P(pi) = prod_k w_{pi_k} / sum_{j >= k} w_{pi_j} with the numbers filled in."""
    ws = [float(w[i]) for i in order]
    factors = [rf"\frac{{{ws[k]:.3g}}}{{{sum(ws[k:]):.3g}}}" for k in range(len(ws))]
    value = math.prod(ws[k] / sum(ws[k:]) for k in range(len(ws)))
    return (r"P(\pi) = \prod_k \frac{w_{\pi_k}}{\sum_{j \ge k} w_{\pi_j}} = " + r" \cdot ".join(factors)
            + f" = {value:.4f}")


def step_elbo(meta, x, w, seed) -> None:
    st.markdown("When the denoiser is not told the time t (only which positions are masked), the NELBO equals the **autoregressive loss averaged over "
                "orders** drawn from Plackett–Luce. Here a fixed random denoiser scores the sequence "
                f"**{data.format_sample(meta, x[0])}** along every one of the {math.factorial(meta.length)} "
                "orders.")
    denoiser = RandomDenoiser(meta.length, meta.vocab_size, seed, scale=1.5)
    check = elbo_check(denoiser, x, w, seed)
    c1, c2, c3 = st.columns(3)
    c1.metric("Σ P(pi) × AR loss", f"{check['sum']:.4f}", help="Weighted sum of the table below.")
    c2.metric("Exact value", f"{check['exact']:.4f}", help="The same sum computed another way, over every "
                                                           "set of revealed positions (core.elbo.exact_nelbo).")
    z = (check["mc"] - check["exact"]) / max(check["mc_se"], 1e-12)
    c3.metric("Random-draw estimate", f"{check['mc']:.3f} ± {check['mc_se']:.3f}",
              delta=f"{z:+.1f} standard errors", delta_color="off",
              help=f"Draw a random time t and random masks, score the masked positions, average over {N_MC:,} "
                   "draws "
                   "(core.elbo.nelbo), ± its standard error. Within a few standard errors of the exact value = "
                   "the identity holds.")
    table = check["table"].assign(order=lambda f: [order_label(o, meta.position_names) for o in f["order"]])
    left, right = st.columns([3, 2])
    if presenter.on():  # a table of text scales with the page; the interactive grid draws small type
        left.table(table.head(8).style.format({c: "{:.4f}" for c in table.columns[1:]}).hide(axis="index"))
    else:
        left.dataframe(table, hide_index=True, width="stretch",
                       column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns[1:]})
    chart(right, fo.elbo_terms(table["order"].tolist(), table["P(pi)"], table["AR loss (nats)"], check["exact"]),
          "lesson_terms")


def step_train(task: str, seed: int, policy: str) -> None:
    lesson_live.draw(seed)


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
    from app import page_compare, page_inspect  # the Compare page's cached Sudoku decoding

    model = page_compare.from_checkpoint(f"shipped:{name}", name, common.load_pretrained(name))
    index = int(st.number_input("Puzzle", 0, page_compare.SUDOKU_PUZZLES - 1, 0, key="lesson_puzzle",
                                help="A held-out puzzle the model never trained on."))
    trajs = page_compare.sudoku_trajectories(model, ("learned", "margin"), index, seed)
    last = max(t.num_steps for t in trajs.values())
    step = st.slider("Decoding step", 0, last, last, key="lesson_sudoku_step",
                     help="Scrub through both decodings; orange = the cell revealed at this step, red = a "
                          "conflict.")
    g = sudoku.geometry(model.meta.params["size"])
    st.html(fs.side_by_side(g, page_compare.sudoku_rows(model, trajs, index), step, f"{name}, puzzle {index}"))
    w, _ = page_inspect.scores_of(model.schedule, model.meta.length)
    first = ", ".join(model.meta.position_names[int(i)] for i in torch.argsort(-w)[:6])
    st.markdown(f"The learned schedule is one preference for **every** puzzle: cells such as {first} tend to "
                f"come first (the most uneven pair is decoded in one order "
                f"**{float(w.max() / (w.max() + w.min())):.0%}** of the time). Such a fixed order can lower the "
                "average loss, but it cannot look at this puzzle's givens, so it reveals cells the model cannot "
                "be sure of yet. Learning one order helps when the data share one; when the easy next step "
                "depends on the sample, the order has to look at the sample.")
    results = sudoku_results()
    if results:
        st.markdown(f"Measured on {results[0]['puzzles']} held-out puzzles (`python bench/sudoku.py`):")
        st.dataframe(pd.DataFrame(results), hide_index=True, key="lesson_sudoku_table")


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
    common.restore_settings(SAVED)
    read_url()
    lesson_link.read(STEPS, W_CHOICES)
    st.title(TITLE)
    task, seed, policy, presenter = settings()
    meta, x = example(task, seed)
    w = exponent_sliders(meta, policy, presenter)
    tau = masking_times(w, seed, st.session_state.get("lesson_draw", 0))
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
        step_train(task, seed, policy)
    else:
        step_sudoku(seed)
    lesson_nav.buttons("lesson_step", STEPS, "bottom")
    lesson_link.box()


def main() -> None:
    common.run_page(draw, SAVED, KEPT, KEPT_PREFIXES)


if __name__ == "__main__":
    main()
