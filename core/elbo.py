"""The NELBO, its Monte Carlo estimators, schedule-gradient surrogates, order NLL and the exact oracle.

A denoiser is any callable ``logits = denoiser(z)`` with ``z: LongTensor [B, L]`` (mask id = vocab size)
and ``logits: [B, L, V]``; it is time-agnostic. Everything returns nats per sequence.

Two unbiased estimators of ``NELBO(x) = E_{pi ~ P_alpha}[sum_k -log p(x_{pi_k} | x_{pi_<k})]``:

* ``continuous`` — docs/design.md §2: antithetic ``t``, mask each position with prob ``1 - alpha_l(t)``,
  weight masked positions by ``-alpha_l'(t) / (1 - alpha_l(t))``. For exponents below 1 the weight's
  second moment diverges at ``t -> 0``; half of each batch draws ``t`` from ``c t^(c-1)`` with
  ``c = min(w) / 2`` and every term is importance weighted by the mixture density, so the variance is
  finite at every scale and no floor on ``t`` drops any of the loss.
* ``discrete`` — pick a step ``k`` uniformly, reveal the first ``k-1`` positions of a Plackett–Luce
  order, score every masked ``j`` with ``L w_j / sum_{i in M} w_i``. Bounded variance; depends only on
  ratios of ``w``, so it is exactly scale invariant.

**Givens** (``given``: bool ``[B, L]``, e.g. a Sudoku puzzle's cells) are conditioning: always revealed,
never masked nor scored. Every function then estimates the conditioned NELBO
``E_{pi ~ PL(w_F)}[sum_k -log p(x_{pi_k} | x_G, x_{pi_<k})]`` over orders ``pi`` of the free positions
``F`` (a Plackett–Luce order restricted to ``F`` is Plackett–Luce with the same scores); the discrete
estimator's step runs over ``1..|F|`` and its weights use ``|F|`` in place of ``L``. ``given=None``
(every existing task) runs exactly the unconditioned code.

The schedule gradient uses RLOO over ``K`` draws per sequence (docs/design.md §2): plain autodiff only sees
the weights and is biased; the score-function term ``stopgrad(f_k - mean_{j!=k} f_j) * log q(z_k)`` fixes
it. The reportable NELBO never includes that term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core import rng
from core.orders import Estimate, all_orders, order_log_prob, sample_schedule_orders
from core.runtime import resolve_mask_id
from core.schedules import Schedule

ESTIMATORS = ("discrete", "continuous")
EXACT_MAX_L = 6


@dataclass
class LossParts:
    """``nelbo``: per-sequence NELBO estimate ``[B]`` (detached, reportable). ``surrogate``: scalar to
    backpropagate (NELBO plus the score-function term when the schedule is learnable)."""

    nelbo: torch.Tensor
    surrogate: torch.Tensor


# --- shared pieces -------------------------------------------------------------------------------


def token_nll(denoiser, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``-log p_theta(x_l | z)`` for every position: ``[B, L]`` (float32)."""
    logits = denoiser(z).float()  # [B, L, V]
    return -torch.log_softmax(logits, -1).gather(-1, x[..., None]).squeeze(-1)


def _check_x(x: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long:
        raise ValueError(f"x must be a LongTensor [B, L], got {getattr(x, 'shape', type(x))}")
    if x.shape[1] != schedule.num_positions:
        raise ValueError(f"x has {x.shape[1]} positions but the schedule has {schedule.num_positions}")
    return x


def _check_given(given, x: torch.Tensor):
    """``given`` as a bool ``[B, L]`` on ``x``'s device (or None)."""
    if given is None:
        return None
    if not isinstance(given, torch.Tensor) or given.dtype != torch.bool or given.shape != x.shape:
        raise ValueError(f"given must be a BoolTensor of shape {tuple(x.shape)}, got {getattr(given, 'shape', given)}")
    return given.to(x.device)


# --- continuous-time estimator -------------------------------------------------------------------


def time_proposal(schedule: Schedule) -> float | None:
    """Exponent ``c`` of the ``c t^(c-1)`` half of the time mixture, or ``None`` for plain U(0,1)."""
    if not schedule.is_polynomial:
        return None
    c = 0.5 * float(schedule.exponents.detach().min())
    return c if c < 1.0 else None


def sample_log_times(n, schedule, generator=None, device=None, t_min: float = 0.0):
    """Antithetic times as ``(log_t [n], log_iw [n])``: ``log_iw`` is the importance weight ``1/p(t)``.

    ``t_min > 0`` gives the floored estimator (``t ~ U(t_min, 1)``, no correction). It drops the loss
    below the floor and is biased; it exists to demonstrate that trap, never for training.
    """
    u = rng.antithetic_uniform(n, generator, device).clamp_min(1e-12)
    c = time_proposal(schedule)
    if t_min > 0:
        return torch.log(t_min + (1 - t_min) * u), torch.full_like(u, math.log(1 - t_min))
    if c is None:
        return torch.log(u), torch.zeros_like(u)
    power = mixture_components(n, generator, device)
    log_t = torch.where(power, torch.log(u) / c, torch.log(u))  # no clamp: tiny t matter here
    log_p = torch.logaddexp(
        torch.full_like(u, math.log(0.5)), math.log(0.5 * c) + (c - 1) * log_t
    )
    return log_t, -log_p


def mixture_components(n: int, generator=None, device=None) -> torch.Tensor:
    """``[n]`` bool, True where a sequence draws ``t`` from ``c t^(c-1)`` rather than U(0, 1).

    Every sequence takes either component with probability 1/2, so each row's estimate is unbiased on its
    own (even a batch of one); the two rows of each consecutive pair take different components, so a batch
    stays balanced between them.
    """
    coin = (rng.uniform(((n + 1) // 2,), generator, device) < 0.5).repeat_interleave(2)[:n]
    first_of_pair = torch.arange(n, device=device) % 2 == 0
    return torch.where(first_of_pair, coin, ~coin)


def _continuous_draws(denoiser, x, schedule, K, generator, mask_id, t_min, given=None):
    """K masks per sequence at one shared t: ``f [B, K]``, ``log q(z) [B, K]``."""
    B, L = x.shape
    log_t, log_iw = sample_log_times(B, schedule, generator, x.device, t_min)
    log_t_k = log_t.repeat_interleave(K)  # [B*K]
    mask = schedule.sample_mask_log_t(log_t_k, generator)  # [B*K, L]
    if given is not None:
        mask = mask & ~given.repeat_interleave(K, 0)  # givens are never masked
    xk = x.repeat_interleave(K, 0)
    nll = token_nll(denoiser, torch.where(mask, mask_id, xk), xk)  # [B*K, L]
    log_w = schedule.log_weight(log_t_k) + log_iw.repeat_interleave(K)[:, None]
    f = (torch.exp(log_w) * mask * nll).sum(-1)
    log_q = schedule.log_q_log_t(mask, log_t_k)
    if given is not None:  # a given's mask is not drawn: drop its log alpha term from log q(z)
        log_kept = torch.log(-torch.expm1(schedule.log_mask_prob(log_t_k)).clamp_min(1e-30))  # [B*K, L]
        log_q = log_q - (log_kept * given.repeat_interleave(K, 0)).sum(-1)
    return f.view(B, K), log_q.view(B, K)


def nelbo(
    denoiser,
    x: torch.Tensor,
    schedule: Schedule,
    generator: torch.Generator | None = None,
    *,
    mask_id: int | None = None,
    t_min: float = 0.0,
    given: torch.Tensor | None = None,
) -> torch.Tensor:
    """Continuous-time Monte Carlo NELBO per sequence ``[B]`` (antithetic, importance-sampled ``t``)."""
    _check_x(x, schedule)
    if not 0.0 <= t_min < 1.0:
        raise ValueError(f"t_min must lie in [0, 1), got {t_min}")
    f, _ = _continuous_draws(denoiser, x, schedule, 1, generator, resolve_mask_id(denoiser, mask_id), t_min,
                             _check_given(given, x))
    return f[:, 0]


# --- discrete-step estimator ---------------------------------------------------------------------


def _discrete_draws(denoiser, x, schedule, K, generator, mask_id, given=None):
    """K Plackett–Luce prefixes per sequence at one shared step: ``f [B, K]``, ``log P(prefix) [B, K]``.

    With givens the order runs over the free positions only: ``L`` below becomes ``|F|`` per sequence.
    """
    if given is not None:
        return _discrete_draws_given(denoiser, x, schedule, K, generator, mask_id, given)
    B, L = x.shape
    w = schedule.order_scores()  # [L], differentiable for learned schedules
    # 1. step k per sequence (stratified): r = k - 1 positions already revealed.
    r = (rng.antithetic_uniform(B, generator, x.device) * L).long().clamp_max(L - 1)
    r = r.repeat_interleave(K)[:, None]  # [B*K, 1]
    # 2. a Plackett–Luce order per draw; its first r positions are revealed.
    orders = sample_schedule_orders(schedule, B * K, generator).to(x.device)  # [B*K, L]
    steps = torch.arange(L, device=x.device)[None, :]
    mask = torch.empty_like(orders, dtype=torch.bool).scatter_(1, orders, steps >= r)  # [B*K, L]
    # 3. score masked positions with L * w_j / sum_{i in M} w_i, one forward pass.
    xk = x.repeat_interleave(K, 0)
    nll = token_nll(denoiser, torch.where(mask, mask_id, xk), xk)
    weight = L * w[None, :] * mask / (w[None, :] * mask).sum(-1, keepdim=True)
    f = (weight * nll).sum(-1)
    # 4. log-probability of the revealed prefix (closed form) for the score term.
    log_w = torch.log(w)[orders]  # [B*K, L] in decoding order
    log_remaining = torch.logcumsumexp(log_w.flip(1), 1).flip(1)
    log_prefix = ((log_w - log_remaining) * (steps < r)).sum(-1)
    return f.view(B, K), log_prefix.view(B, K)


def _discrete_draws_given(denoiser, x, schedule, K, generator, mask_id, given):
    """The discrete-step draws when ``given [B, L]`` positions are conditioning: the same steps with the
    Plackett–Luce order restricted to the free positions ``F`` and ``|F|`` (per sequence) in place of ``L``."""
    B, L = x.shape
    w = schedule.order_scores()  # [L]
    # 1. step k in 1..|F| per sequence (stratified): r = k - 1 free positions already revealed.
    n_free = (~given).sum(1).clamp_min(1)  # [B]
    r = (rng.antithetic_uniform(B, generator, x.device) * n_free).long().clamp_max(n_free - 1)
    r = r.repeat_interleave(K)[:, None]  # [B*K, 1]
    # 2. a Plackett–Luce order per draw; a slot's step counts only the free positions before it.
    orders = sample_schedule_orders(schedule, B * K, generator).to(x.device)  # [B*K, L]
    free = (~given).repeat_interleave(K, 0).gather(1, orders)  # [B*K, L] in decoding order
    steps = free.long().cumsum(1) - 1
    mask = torch.empty_like(free).scatter_(1, orders, free & (steps >= r))  # [B*K, L]
    # 3. score masked positions with |F| * w_j / sum_{i in M} w_i.
    xk = x.repeat_interleave(K, 0)
    nll = token_nll(denoiser, torch.where(mask, mask_id, xk), xk)
    scale = n_free.repeat_interleave(K)[:, None]
    weight = scale * w[None, :] * mask / (w[None, :] * mask).sum(-1, keepdim=True).clamp_min(1e-30)
    f = (weight * nll).sum(-1)
    # 4. log-probability of the revealed free prefix: only free positions compete.
    log_free = torch.log(w)[orders].masked_fill(~free, -math.inf)  # [B*K, L]
    log_remaining = torch.logcumsumexp(log_free.flip(1), 1).flip(1)
    log_prefix = torch.where(free & (steps < r), log_free - log_remaining, 0.0).sum(-1)
    return f.view(B, K), log_prefix.view(B, K)


def discrete_nelbo(
    denoiser, x, schedule, generator: torch.Generator | None = None, *, mask_id: int | None = None,
    given: torch.Tensor | None = None,
) -> torch.Tensor:
    """Discrete-step Monte Carlo NELBO per sequence ``[B]`` (bounded variance, scale invariant)."""
    _check_x(x, schedule)
    f, _ = _discrete_draws(denoiser, x, schedule, 1, generator, resolve_mask_id(denoiser, mask_id),
                           _check_given(given, x))
    return f[:, 0]


# --- training objective --------------------------------------------------------------------------


def objective(
    denoiser,
    x: torch.Tensor,
    schedule: Schedule,
    K: int = 2,
    estimator: str = "discrete",
    generator: torch.Generator | None = None,
    *,
    mask_id: int | None = None,
    score_term: bool = True,
    given: torch.Tensor | None = None,
) -> LossParts:
    """Training loss: mean NELBO over the batch plus the RLOO score-function term for learned schedules.

    ``score_term=False`` gives naive autodiff (biased for the schedule; kept to document why).
    """
    _check_x(x, schedule)
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    learnable = schedule.is_learned and score_term
    if not isinstance(K, int) or K < 1 or (learnable and K < 2):
        raise ValueError(f"K must be an int >= 2 for a learned schedule (>= 1 otherwise), got {K!r}")
    mask_id = resolve_mask_id(denoiser, mask_id)
    given = _check_given(given, x)
    if estimator == "discrete":
        f, log_q = _discrete_draws(denoiser, x, schedule, K, generator, mask_id, given)
    else:
        f, log_q = _continuous_draws(denoiser, x, schedule, K, generator, mask_id, 0.0, given)
    surrogate = f.mean()
    if learnable:
        fd = f.detach()
        baseline = (fd.sum(1, keepdim=True) - fd) / (K - 1)  # mean of the other K-1 draws
        surrogate = surrogate + ((fd - baseline) * log_q).mean()
    return LossParts(nelbo=f.detach().mean(1), surrogate=surrogate)


# --- teacher-forced order NLL and the exact oracle -----------------------------------------------


def order_nll(
    denoiser, x: torch.Tensor, orders: torch.Tensor, *, mask_id: int | None = None, chunk: int = 8192,
    given: torch.Tensor | None = None,
) -> torch.Tensor:
    """Autoregressive NLL along ``orders`` (``[L]`` or ``[B, L]``), teacher forced: ``[B]``.

    All ``L`` prefix states of every sequence go through the denoiser in batched chunks. With ``given``
    (bool ``[B, L]``) the givens are revealed in every state and only the free positions are scored: the AR
    loss along the order's free positions.
    """
    if x.dim() != 2:
        raise ValueError(f"x must have shape [B, L], got {tuple(x.shape)}")
    B, L = x.shape
    orders = torch.as_tensor(orders, dtype=torch.long, device=x.device).expand(B, L)
    mask_id = resolve_mask_id(denoiser, mask_id)
    ranks = torch.argsort(orders, 1)  # [B, L] step at which each position is revealed
    steps = torch.arange(L, device=x.device)
    revealed = ranks[:, None, :] < steps[None, :, None]  # [B, step, L]
    given = _check_given(given, x)
    if given is not None:
        revealed = revealed | given[:, None, :]
    z = torch.where(revealed, x[:, None, :], mask_id).view(B * L, L)
    target = x.repeat_interleave(L, 0)
    nll = torch.cat([token_nll(denoiser, zc, tc) for zc, tc in zip(z.split(chunk), target.split(chunk))])
    nll = nll.view(B, L, L)  # [B, step, position]
    per_step = nll.gather(2, orders[:, :, None]).squeeze(-1)  # [B, step]
    if given is not None:
        per_step = per_step * ~given.gather(1, orders)
    return per_step.sum(1)


@torch.no_grad()
def heldout_nelbo(
    denoiser, x, schedule, n_orders: int = 4, generator=None, *, mask_id=None, given=None
) -> Estimate:
    """Held-out NELBO per sequence: teacher-forced AR loss along ``n_orders`` orders drawn from the
    schedule for every sequence; the mean with its standard error. With ``given`` the givens are
    conditioning (revealed, not scored).

    The orders of one sequence share its data, so they are not independent draws: the standard error is
    the cluster one, from the spread of the per-sequence means over the ``B`` sequences.
    """
    _check_x(x, schedule)
    B = x.shape[0]
    given = _check_given(given, x)
    orders = sample_schedule_orders(schedule, B * n_orders, generator).to(x.device)
    values = order_nll(denoiser, x.repeat_interleave(n_orders, 0), orders, mask_id=mask_id,
                       given=None if given is None else given.repeat_interleave(n_orders, 0))
    per_sequence = values.view(B, n_orders).mean(1)  # [B]
    stderr = float(per_sequence.std() / math.sqrt(B)) if B > 1 else math.nan
    return Estimate(float(per_sequence.mean()), stderr)


def exact_nelbo(denoiser, x: torch.Tensor, schedule: Schedule, *, mask_id: int | None = None, given=None):
    """Exact NELBO ``[B]`` for ``L <= 6``: every order weighted by its probability (differentiable in
    the schedule's exponents). Each of the ``2^L`` revealed sets is evaluated once. With ``given`` every
    revealed set includes the givens and only free positions are scored (the conditioned NELBO)."""
    _check_x(x, schedule)
    B, L = x.shape
    if L > EXACT_MAX_L:
        raise ValueError(f"exact_nelbo needs L <= {EXACT_MAX_L}, got {L}")
    mask_id = resolve_mask_id(denoiser, mask_id)
    # 1. NLL of every position given every revealed subset: [B, 2^L, L].
    bits = (torch.arange(2**L)[:, None] >> torch.arange(L)[None, :]) & 1  # [2^L, L]
    revealed = bits.bool().to(x.device)
    z = torch.where(revealed[None], x[:, None, :], mask_id).view(-1, L)
    nll = token_nll(denoiser, z, x.repeat_interleave(2**L, 0)).view(B, 2**L, L)
    # 2. for each order and step, the revealed subset before that step.
    orders = all_orders(L).to(x.device)  # [P, L]
    prefix = torch.cumsum(2 ** orders, 1) - 2 ** orders  # [P, L] subset id before step k
    given = _check_given(given, x)
    if given is None:
        ar = nll[:, prefix, orders].sum(-1)  # [B, P]
    else:  # the givens join every revealed set; only free positions are scored
        given_id = (given.long() << torch.arange(L, device=x.device)).sum(1)  # [B] subset id of the givens
        rows = torch.arange(B, device=x.device)[:, None, None]
        ar = (nll[rows, prefix[None] | given_id[:, None, None], orders[None]] * ~given[:, orders]).sum(-1)
    # 3. weight by the order probabilities.
    log_p = order_log_prob(schedule.order_scores(), orders)  # [P]
    return (ar * log_p.exp()[None, :]).sum(1)
