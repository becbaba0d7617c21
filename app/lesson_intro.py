"""Lesson step 0: from one fixed order (an autoregressive model) to every order (masked diffusion).

Three ways to write the same 4-position sequence, side by side: left to right always; any order, all
equally likely (one shared masking schedule); any order, but the likely ones chosen by exponents ``w``
(the sliders). Five orders drawn from each make the difference visible at a glance.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from app import charts
from core import orders

DRAWS = 5


def drawn_orders(w: torch.Tensor, names: list[str], seed: int, n: int = DRAWS) -> list[str]:
    """``n`` Plackett–Luce orders for exponents ``w`` as ``b1 → c1 → …`` strings."""
    drawn = orders.sample_orders(w.double(), n, torch.Generator().manual_seed(seed))
    return [" → ".join(names[int(p)] for p in order) for order in drawn]


def table(w: torch.Tensor, names: list[str], seed: int) -> pd.DataFrame:
    L = len(names)
    fixed = " → ".join(names)
    return pd.DataFrame({
        "draw": range(1, DRAWS + 1),
        "autoregressive (one fixed order)": [fixed] * DRAWS,
        "masked diffusion, shared schedule (every order)": drawn_orders(torch.ones(L), names, seed),
        "masked diffusion, your exponents w": drawn_orders(w, names, seed + 1)})


def draw(names: list[str], w: torch.Tensor, seed: int, rule_words: str | None, formula: str | None) -> None:
    st.markdown(
        "An **autoregressive** model (a GPT) writes a sequence in **one fixed order**: position 1, then 2, then "
        "3 … Each step predicts the next position from the ones before it. A **masked diffusion** model starts "
        "from a fully masked sequence and reveals positions **in any order**: each step predicts the still "
        "masked positions from the revealed ones, whatever they are. With one masking schedule shared by all "
        "positions every order is equally likely. Give each position l its own exponent **w_l** and the likely "
        "orders become those that reveal large-w positions first: training the w's *learns the order*.")
    if rule_words:
        st.markdown(f"**The example task.** {rule_words}")
        st.latex(formula)
    charts.table(st, table(w, names, seed), "lesson_intro_orders", "orders-drawn", hide_index=True, width="stretch")
    st.caption("Five orders from each model. Move the exponent sliders (under Exponents, above) and the right "
               "column changes; the next steps show why this is exactly an average of autoregressive models.")
