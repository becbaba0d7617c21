"""Order distributions: which position is decoded at which step.

An order ``pi`` is a LongTensor ``[L]`` (or ``[n, L]``) whose entry ``k`` is the position decoded at step
``k``. For the polynomial family the order distribution is Plackett–Luce with scores ``w`` (docs/design.md §2):
``P(pi) = prod_k w_{pi_k} / sum_{j>=k} w_{pi_j}``; closed forms below. For any other schedule the same
statistics are estimated from sampled masking times (``sample_schedule_orders`` + the ``empirical_*``).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch

from core import limits, rng
from core.schedules import Schedule, check_exponents

EXACT_ENTROPY_MAX_L = 8
ROW_CHUNK = 256  # rows of an [L, L] quantity computed at once where only a sum is needed


class Estimate(NamedTuple):
    """A value with its standard error (0 when exact)."""

    value: float
    stderr: float


# --- Plackett–Luce closed forms ------------------------------------------------------------------


def sample_orders(w: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``n`` orders ``[n, L]``: ``-log tau_l ~ Exp(w_l)``, decode by descending ``tau``."""
    w = check_exponents(w)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    u = rng.uniform((n, w.numel()), generator, w.device).clamp_min(1e-30)
    neg_log_tau = -torch.log(u) / w[None, :]  # [n, L]; smallest = largest tau = decoded first
    return torch.argsort(neg_log_tau, dim=1)


def order_log_prob(w: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """log P(pi) under Plackett–Luce: ``[n]`` (differentiable in ``w``)."""
    w = check_exponents(w)
    orders = _check_orders(orders, w.numel())
    log_w = torch.log(w)[orders]  # [n, L] scores in decoding order
    # log of the sum of the scores not yet decoded: reverse cumulative logsumexp.
    log_remaining = torch.logcumsumexp(log_w.flip(1), dim=1).flip(1)
    return (log_w - log_remaining).sum(1)


def precedence_matrix(w: torch.Tensor) -> torch.Tensor:
    """``P[i, j]`` = probability that i is decoded before j = ``w_i / (w_i + w_j)``; diagonal 0."""
    w = check_exponents(w)
    p = w[:, None] / (w[:, None] + w[None, :])
    return p.fill_diagonal_(0.0)


def expected_rank(w: torch.Tensor) -> torch.Tensor:
    """Expected decode step of each position (1 = first): ``1 + sum_{j != i} w_j / (w_i + w_j)``
    (in row chunks: O(L) extra memory for any L)."""
    w = check_exponents(w)
    out = torch.empty_like(w)
    for start in range(0, w.numel(), ROW_CHUNK):
        wi = w[start:start + ROW_CHUNK, None]  # [c, 1]
        out[start:start + ROW_CHUNK] = 0.5 + (w[None, :] / (wi + w[None, :])).sum(1)  # j = i adds 1/2
    return out


def rank_std(w: torch.Tensor) -> torch.Tensor:
    """Standard deviation of each position's decode step, exact for Plackett–Luce, in O(L^2) memory.

    ``rank_i = 1 + sum_{j != i} B_j`` with ``B_j = 1{j before i}``, so
    ``Var(rank_i) = sum_j Var(B_j) + sum_{j != k} Cov(B_j, B_k)``. With exponential clocks
    (``-log tau_l ~ Exp(w_l)``, decoded in increasing order), inclusion–exclusion over the events "i before
    j" and "i before k" gives ``P(j and k both before i) = 1 - q_ij - q_ik + w_i / (w_i + w_j + w_k)`` with
    ``q_ij = w_i / (w_i + w_j) = P(i before j)``, hence ``Cov(B_j, B_k) = w_i / (w_i + w_j + w_k) - q_ij q_ik``.
    The triple sum is taken over chunks of ``i`` (time O(L^3)); refused above ``RANK_STD_EXACT_MAX_L``
    (use :func:`rank_spread`, which switches to a sampled estimate there).
    """
    w = check_exponents(w).double().cpu()
    L = w.numel()
    if L > limits.RANK_STD_EXACT_MAX_L:
        raise ValueError(f"the exact rank spread is computed for at most {limits.RANK_STD_EXACT_MAX_L} "
                         f"positions (O(L^3) time), got {L}; use rank_spread for a sampled estimate")
    q = w[:, None] / (w[:, None] + w[None, :])  # q[i, j] = P(i before j)
    q.fill_diagonal_(0.0)
    p = (1.0 - q).fill_diagonal_(0.0)  # p[i, j] = P(j before i)
    var_b = (p * (1 - p)).sum(1)  # sum_j Var(B_j)
    cross_q = q.sum(1) ** 2 - (q * q).sum(1)  # sum_{j != k} q_ij q_ik
    var = var_b + triple_sum(w) - cross_q
    return var.clamp_min(0).sqrt().float()


def triple_sum(w: torch.Tensor) -> torch.Tensor:
    """``sum_{j != k; j, k != i} w_i / (w_i + w_j + w_k)`` for every ``i``: ``[L]``, chunked over ``i`` so
    that at most about 2^22 float64 values exist at once."""
    L = w.numel()
    chunk = max(1, (1 << 22) // (L * L))
    out = torch.empty(L, dtype=torch.float64)
    buffer = torch.empty(min(chunk, L), L, L, dtype=torch.float64)  # reused: in-place ops only
    for start in range(0, L, chunk):
        wi = w[start:start + chunk, None]  # [c, 1]
        b = buffer[:wi.shape[0]]
        torch.add((wi + w[None, :])[:, :, None], w[None, None, :], out=b)  # w_i + w_j + w_k
        full = b.reciprocal_().sum((1, 2)) * wi[:, 0]  # all j, k
        # remove j = i or k = i (both: 1/3; one of them: 2 sum_{k != i} w_i / (2 w_i + w_k)) and j = k != i
        one = (wi / (2 * wi + w[None, :])).sum(1) - 1.0 / 3.0
        same = (wi / (wi + 2 * w[None, :])).sum(1) - 1.0 / 3.0
        out[start:start + chunk] = full - 1.0 / 3.0 - 2 * one - same
    return out


def rank_spread(w: torch.Tensor, generator: torch.Generator | None = None,
                n_samples: int = 4096) -> tuple[torch.Tensor, float]:
    """``(std [L], stderr)``: the exact :func:`rank_std` (stderr 0) up to ``RANK_STD_EXACT_MAX_L``
    positions, else the standard deviation of the ranks in sampled orders (as many as
    ``limits.ORDER_SAMPLE_CELLS`` allows, drawn in chunks) with the largest standard error of those
    estimates, ``max std / sqrt(2 (n - 1))``."""
    w = check_exponents(w)
    L = w.numel()
    if L <= limits.RANK_STD_EXACT_MAX_L:
        return rank_std(w), 0.0
    n = limits.orders_to_sample(L, n_samples)
    total = torch.zeros(L, dtype=torch.float64)
    squares = torch.zeros(L, dtype=torch.float64)
    for size in _chunks(n, max(1, (1 << 20) // L)):
        ranks = ranks_of(sample_orders(w, size, generator)).double()  # [size, L]
        total += ranks.sum(0)
        squares += (ranks * ranks).sum(0)
    mean = total / n
    std = ((squares / n - mean * mean) * n / (n - 1)).clamp_min(0).sqrt()
    return std.float(), float(std.max() / math.sqrt(2 * (n - 1)))


def _chunks(n: int, size: int) -> list[int]:
    return [min(size, n - start) for start in range(0, n, size)]


def most_likely_order(w: torch.Tensor) -> torch.Tensor:
    """The mode of Plackett–Luce: positions sorted by ``w`` descending (ties by position)."""
    w = check_exponents(w)
    return torch.argsort(-w, stable=True)


def order_entropy(
    w: torch.Tensor,
    n_samples: int = 20000,
    generator: torch.Generator | None = None,
    exact: bool | None = None,
) -> Estimate:
    """Entropy of the order distribution in nats: exact for ``L <= 8`` (or when ``exact``), else Monte
    Carlo over ``n_samples`` orders (fewer for long sequences: ``limits.orders_to_sample``) with its
    standard error."""
    w = check_exponents(w)
    if exact is None:
        exact = w.numel() <= EXACT_ENTROPY_MAX_L
    if exact:
        logp = order_log_prob(w.double(), all_orders(w.numel()))
        return Estimate(float(-(logp.exp() * logp).sum()), 0.0)
    n_samples = limits.orders_to_sample(w.numel(), n_samples)
    logp = order_log_prob(w.double(), sample_orders(w, n_samples, generator))
    return Estimate(float(-logp.mean()), float(logp.std() / math.sqrt(n_samples)))


def max_order_entropy(num_positions: int) -> float:
    """Entropy of the uniform order distribution, ``log L!``."""
    return math.lgamma(num_positions + 1)


def all_orders(num_positions: int) -> torch.Tensor:
    """Every permutation of ``range(L)`` as ``[L!, L]`` (small ``L`` only)."""
    if num_positions > EXACT_ENTROPY_MAX_L:
        raise ValueError(f"num_positions must be <= {EXACT_ENTROPY_MAX_L} to enumerate orders")
    return torch.tensor(list(itertools.permutations(range(num_positions))), dtype=torch.long)


# --- order comparison ----------------------------------------------------------------------------


def ranks_of(orders: torch.Tensor) -> torch.Tensor:
    """Inverse permutation: ``rank[..., l]`` = step at which position ``l`` is decoded (0-based)."""
    return torch.argsort(orders, dim=-1)


def kendall_tau(order_a, order_b) -> float:
    """Kendall rank correlation between two orders of the same positions (+1 same, -1 reversed)."""
    a = torch.as_tensor(order_a, dtype=torch.long)
    b = torch.as_tensor(order_b, dtype=torch.long)
    if a.dim() != 1 or a.shape != b.shape or a.numel() < 2:
        raise ValueError("order_a and order_b must be 1-D orders of the same length >= 2")
    _check_orders(a[None], a.numel())
    _check_orders(b[None], b.numel())
    ra, rb = ranks_of(a).float(), ranks_of(b).float()
    sign = torch.sign(ra[:, None] - ra[None, :]) * torch.sign(rb[:, None] - rb[None, :])
    n = a.numel()
    return float(sign.sum() / (n * (n - 1)))


def expected_kendall_tau(precedence: torch.Tensor, reference_order) -> float:
    """E[Kendall tau(pi, reference)] for pi from the distribution with this precedence matrix.

    Mean over reference-ordered pairs (i before j) of ``P(i before j) - P(j before i)``: 0 for the uniform
    distribution, 1 when every order agrees with the reference.
    """
    ref = torch.as_tensor(reference_order, dtype=torch.long)
    _check_orders(ref[None], precedence.shape[0])
    L = len(ref)
    total = 0.0
    for start in range(0, L, ROW_CHUNK):  # rows of Q = P[ref][:, ref], a chunk at a time
        q = precedence[ref[start:start + ROW_CHUNK]][:, ref].double()  # [c, L]
        later = torch.arange(L)[None, :] > torch.arange(start, start + q.shape[0])[:, None]  # [c, L]
        earlier = torch.arange(L)[None, :] < torch.arange(start, start + q.shape[0])[:, None]
        total += float(q[later].sum() - q[earlier].sum())
    return total / (L * (L - 1) / 2)


def group_precedence(precedence: torch.Tensor, groups: list[list[int]]) -> float:
    """Mean P(i before j) over pairs with i in an earlier reference group than j (random = 0.5).

    Positions in no group are left out; computed with an ``[L, L]`` mask, never a list of pairs."""
    L = precedence.shape[0]
    group_of = torch.full((L,), -1, dtype=torch.long)
    for a, members in enumerate(groups):
        group_of[torch.as_tensor(list(members), dtype=torch.long)] = a
    inside = group_of >= 0
    earlier = (group_of[:, None] < group_of[None, :]) & inside[:, None] & inside[None, :]  # [L, L]
    if not bool(earlier.any()):
        raise ValueError("groups must contain at least two non-empty groups")
    return float(precedence[earlier].double().mean())


# --- the summary of a schedule's orders --------------------------------------------------------


def order_summary(schedule, meta, entropy_samples: int = 4000) -> dict:
    """Order statistics of a schedule for a training snapshot and for Inspect: the exponents, the order
    entropy (from ``entropy_samples`` orders; none when 0, for a caller with its own estimate), and the
    agreement with the task's reference groups and order (when it has them)."""
    w = schedule.order_scores().detach().float().cpu()
    summary = {"exponents": [round(v, 6) for v in w.tolist()]}
    if entropy_samples:
        summary["order_entropy"] = order_entropy(w, entropy_samples, torch.Generator().manual_seed(0)).value
    precedence = precedence_matrix(w)
    if meta.reference_groups:
        summary["group_precedence"] = group_precedence(precedence, meta.reference_groups)
    if meta.reference_order:  # expected tau over the order distribution (0 for a shared schedule)
        summary["kendall_tau"] = expected_kendall_tau(precedence, meta.reference_order)
    return summary



# --- any schedule: estimates from sampled masking times ------------------------------------------


def sample_schedule_orders(
    schedule: Schedule, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Orders ``[n, L]`` induced by any schedule: decode by descending masking time."""
    if schedule.is_polynomial:
        return sample_orders(schedule.exponents.detach().cpu(), n, generator)
    tau = schedule.sample_masking_times(n, generator)  # [n, L]
    return torch.argsort(-tau, dim=1).cpu()


def empirical_precedence(orders: torch.Tensor) -> torch.Tensor:
    """Fraction of orders in which i precedes j: ``[L, L]``."""
    ranks = ranks_of(orders).float()  # [n, L]
    return (ranks[:, :, None] < ranks[:, None, :]).float().mean(0)


def empirical_rank(orders: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each position's decode step (1 = first)."""
    ranks = ranks_of(orders).float() + 1
    return ranks.mean(0), ranks.std(0)


def _check_orders(orders: torch.Tensor, num_positions: int) -> torch.Tensor:
    orders = torch.as_tensor(orders, dtype=torch.long)
    if orders.dim() == 1:
        orders = orders[None]
    if orders.dim() != 2 or orders.shape[1] != num_positions:
        raise ValueError(f"orders must have shape [n, {num_positions}], got {tuple(orders.shape)}")
    expected = torch.arange(num_positions, device=orders.device)
    if not (orders.sort(1).values == expected).all():
        raise ValueError("orders must be permutations of range(L)")
    return orders
