"""The Lesson's numbers: a 4-position example of a small task, exponent presets, masking times and the
decoding order they give, Plackett–Luce probabilities against sampled frequencies, and the identity
"NELBO = autoregressive loss averaged over orders" checked by enumerating every order, exactly
(``elbo.exact_nelbo``) and by Monte Carlo (``elbo.nelbo``).

Pure functions (no streamlit): the Lesson page (``app/pages/lesson.py``) draws them. The fixed example
model is ``core.toys.RandomDenoiser``. Notation as in docs/design.md §2: ``tau_l = u_l^{1/w_l}`` is
position ``l``'s masking time, and generation reveals the largest ``tau`` first.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from core import elbo, meta, orders, tasks
from core.schedules import make_schedule
from core.toys import RandomDenoiser

TASKS = {"pairs": {"n": 2}, "addition": {"digits": 1}, "parity": {"n": 2}}  # each has 4 positions
POLICIES = ("learned", "random", "left_to_right")
CHAIN = (100.0, 10.0, 1.0, 0.1, 0.01)  # left_to_right preset: ratio 10 between neighbours
N_ORDER_DRAWS = 20000
N_MC = 20000
DENOISER_SCALE = 1.5  # logits of the example model: confident enough that orders differ visibly
TOP_ORDERS = 12  # orders shown in the Plackett–Luce bar chart


def example(task: str, seed: int) -> tuple[meta.DataMeta, torch.Tensor]:
    """The task's 4-position version and one sequence ``x: [1, L]`` of it."""
    ds = tasks.make_task(task, seed=seed, num_train=8, num_heldout=0, **TASKS[task])
    return ds.meta, ds.train[:1]


def preset_exponents(meta: meta.DataMeta, policy: str) -> list[float]:
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
    """The enumerated sum, ``exact_nelbo`` and a Monte Carlo ``nelbo`` with its standard error, and how
    many standard errors the Monte Carlo estimate lies from the exact value (``z``)."""
    schedule = make_schedule("learned", x.shape[1], init=w.float())
    table = enumerate_elbo(denoiser, x, w)
    with torch.no_grad():
        exact = float(elbo.exact_nelbo(denoiser, x, schedule)[0])
        mc = elbo.nelbo(denoiser, x.expand(n, -1), schedule, torch.Generator().manual_seed(seed))
    out = {"table": table, "sum": float(table["P × loss"].sum()), "exact": exact,
           "mc": float(mc.mean()), "mc_se": float(mc.std() / math.sqrt(n))}
    out["z"] = (out["mc"] - out["exact"]) / max(out["mc_se"], 1e-12)
    return out


def example_elbo_check(meta: meta.DataMeta, x: torch.Tensor, w: torch.Tensor, seed: int) -> dict:
    """:func:`elbo_check` of the Lesson's fixed example model (a seeded ``RandomDenoiser``)."""
    denoiser = RandomDenoiser(meta.length, meta.vocab_size, seed, scale=DENOISER_SCALE)
    return elbo_check(denoiser, x, w, seed)


def decoding_order(tau: torch.Tensor) -> torch.Tensor:
    """Positions by decreasing masking time: generation runs t from 1 to 0, so the largest tau goes first."""
    return torch.argsort(-tau)


def order_check(w: torch.Tensor, order: torch.Tensor, seed: int, n: int = N_ORDER_DRAWS) -> dict:
    """Plackett–Luce against sampling for one order: its probability ``p``, its frequency over ``n`` draws,
    and the ``TOP_ORDERS`` most likely orders with their probabilities and frequencies."""
    every, freq = order_frequencies(w, seed, n)
    prob = orders.order_log_prob(w, every).exp()
    index = int((every == order).all(1).nonzero()[0, 0])
    top = torch.argsort(-prob)[:TOP_ORDERS]
    return {"p": float(orders.order_log_prob(w, order).exp()), "frequency": float(freq[index]),
            "top": [every[i] for i in top], "top_p": prob[top].tolist(), "top_frequency": freq[top].tolist()}


def pl_formula(w: torch.Tensor, order: torch.Tensor, names: list[str]) -> str:
    """LaTeX of P(pi) = prod_k w_{pi_k} / sum_{j >= k} w_{pi_j} with the numbers filled in."""
    ws = [float(w[i]) for i in order]
    factors = [rf"\frac{{{ws[k]:.3g}}}{{{sum(ws[k:]):.3g}}}" for k in range(len(ws))]
    value = math.prod(ws[k] / sum(ws[k:]) for k in range(len(ws)))
    return (r"P(\pi) = \prod_k \frac{w_{\pi_k}}{\sum_{j \ge k} w_{\pi_j}} = " + r" \cdot ".join(factors)
            + f" = {value:.4f}")
