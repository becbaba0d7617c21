"""The views of a training run: metrics, NELBO curves, order heatmaps, exponents, their trajectories.

Drawn the same for a live run (the Train page), a shipped run's replay and a run followed by a class
(``app/content/classroom.py``); every view reads snapshot histories and exponents only, never a trainer.
"""

from __future__ import annotations

import streamlit as st
import torch

from app import charts
from app.figures import schedule as schedule_figures
from app.figures import training as training_figures
from core import limits, meta
from core.orders import max_order_entropy, precedence_matrix


def views(curves: dict[str, list[dict]], history: list[dict], exponents: list[float], meta: meta.DataMeta,
          key: str, total_steps: int | None = None, revision: str | None = None) -> None:
    """The live figures: NELBO curves, rank heatmap, alpha curves, precedence, entropy, exponents, their
    trajectories, grid. ``total_steps`` (the run's length) fixes the step axes, so the charts fill in from
    left to right; ``revision`` names the run shown, so a zoom lasts while that run is redrawn. The figures
    are built once per snapshot for every session that shows it (``charts.plot_shared``): a class of
    followers costs the server one build per snapshot, not one per student per second."""
    names, L = meta.position_names, meta.length
    content = charts.digest(curves, history, exponents, names, meta.shape, total_steps)

    def draw(box, build, name: str, *extra) -> None:
        charts.plot_shared(box, build, key=f"{key}_{name}", content=content and f"{content}/{extra}",
                           revision=revision)

    metric_row(curves, history, L)
    left, right = st.columns(2)
    draw(left, lambda: training_figures.nelbo_curves(curves, total_steps), "nelbo")
    with right:
        colour = st.radio("Heatmap colour", training_figures.COLOR_MODES, horizontal=True, key=f"{key}_colour",
                          format_func=lambda c: "expected decode step" if c == "rank" else "median masking time",
                          help="Expected decode step from Plackett-Luce (1 = first), or the median masking "
                               "time 0.5^(1/w) (revealed later during generation when smaller).")
        draw(st, lambda: training_figures.rank_heatmap(history, names, colour, total_steps), "rank", colour)
    left, right = st.columns(2)
    if L <= limits.MAX_PLOT_CURVES:
        draw(left, lambda: schedule_figures.alpha_curves(exponents, names), "alpha")
    if limits.plot_positions_ok(L):
        w = torch.tensor(exponents, dtype=torch.float64)
        draw(right, lambda: schedule_figures.precedence_heatmap(precedence_matrix(w).numpy(), names), "prec")
    else:
        right.caption(f"The precedence heatmap is drawn for at most {int(limits.MAX_PLOT_CELLS ** 0.5)} "
                      f"positions; this run has {L:,}.")
    left, right = st.columns(2)
    if history:
        draw(left, lambda: training_figures.entropy_curve(history, L, total_steps), "entropy")
    draw(right, lambda: schedule_figures.exponent_bars(exponents, names), "bars")
    if history and L <= limits.MAX_PLOT_CURVES:
        draw(st, lambda: training_figures.exponent_trajectories(history, names, total_steps), "traj")
    if meta.shape:
        draw(st, lambda: schedule_figures.grid_rank_image(exponents, meta.shape), "grid")
    if history:
        charts.csv_download(st, lambda: charts.history_frame(curves), f"{meta.name}-snapshots", key=f"{key}_csv",
                            label="Download every snapshot (CSV)")


def metric_row(curves: dict[str, list[dict]], history: list[dict], L: int) -> None:
    if not history:
        return
    last = history[-1]
    cols = st.columns(5)
    cols[0].metric("Step", f"{last['step']:,}")
    delta, significant = nelbo_delta(curves, history)
    cols[1].metric("Held-out NELBO", f"{last['heldout_nelbo']:.3f}", delta=delta,
                   delta_color="inverse" if significant else "off", delta_arrow="auto" if significant else "off",
                   help=f"Nats per sequence, ± {last.get('heldout_se') or 0:.3f} (standard error); lower is "
                        "better. The delta compares with the other curve at the same step (green = lower); "
                        "within one standard error of the difference (both errors combined) it reads ≈ equal.")
    cols[2].metric("Order entropy", f"{100 * last['order_entropy'] / max_order_entropy(L):.0f} %",
                   help=f"{last['order_entropy']:.2f} nats of the uniform maximum log L! = "
                        f"{max_order_entropy(L):.2f}: 100 % = every order equally likely, 0 % = one order.")
    if "group_precedence" in last:
        cols[3].metric("Group precedence", f"{last['group_precedence']:.2f}",
                       help="Mean P(earlier reference group before later group); 0.5 = no preference.")
    if "kendall_tau" in last:
        cols[4].metric("Kendall tau vs reference", f"{round(last['kendall_tau'], 2) + 0.0:+.2f}",  # no "-0.00"
                       help="Agreement of the most likely order with the task's reference order.")


def nelbo_delta(curves: dict[str, list[dict]], history: list[dict]) -> tuple[str | None, bool]:
    """The held-out NELBO difference to the other curve at the latest step both have evaluated, and
    whether it exceeds the standard error of the difference (the two estimates taken as independent)."""
    others = [(label, h) for label, h in curves.items() if h is not history and h]
    if not others:
        return None, False
    label, other = others[0]
    theirs = {s["step"]: s for s in other}
    mine = next((s for s in reversed(history) if s["step"] in theirs), None)
    if mine is None:
        return None, False
    ref = theirs[mine["step"]]
    diff = mine["heldout_nelbo"] - ref["heldout_nelbo"]
    se = ((mine.get("heldout_se") or 0.0) ** 2 + (ref.get("heldout_se") or 0.0) ** 2) ** 0.5
    at = f" at step {mine['step']:,}" if mine is not history[-1] else ""
    if abs(diff) <= se:
        return f"≈ equal to {label}{at}", False
    return f"{diff:+.3f} vs {label}{at}", True
