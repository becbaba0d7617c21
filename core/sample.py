"""Samplers that record every step: which positions were revealed, the tokens, their probabilities.

Entry points (``denoiser`` is any callable ``logits [N, L, V] = denoiser(z [N, L])``, mask id ``V``)::

    sample(denoiser, meta_or_num_positions, policy, n, generator=None, *, schedule=None,
           temperature=1.0, k=1, steps=None, forced=None) -> (samples [N, L], Trajectory)
    continue_from(denoiser, trajectory, step, policy=None, generator=None, *, next_position=None,
                  meta=None, schedule=None, temperature=1.0, k=1, steps=None,
                  forced=None) -> (samples [N, L], Trajectory)
    teacher_forced(denoiser, x, meta_or_num_positions, policy, generator=None, *, schedule=None,
                   k=1, steps=None, forced=None) -> Trajectory
    policy_orders(policy, n, meta_or_num_positions, generator=None, *, schedule=None) -> orders [n, L]

A :class:`Trajectory` holds, per sample and position, ``orders``, ``step_of``, ``tokens``, ``log_prob`` /
``prob``, ``entropy`` and the token ``uniforms``; ``state_at(step)`` rebuilds the partial state after any
step without calling the model, ``revealed_at(step)`` gives the positions of one step.

Policies (docs/design.md §3): ``learned`` (masking times from ``schedule``, decoded by descending time),
``random`` (uniform orders), ``left_to_right``, ``reference`` (``meta.reference_order``), any fixed order
given as a list of positions (or the label ``"order:3-0-2-1"``), the adaptive ``confidence`` / ``margin`` /
``entropy`` (reveal the masked position whose predictive distribution has the largest top-1 probability /
the largest top-1 minus top-2 gap / the smallest entropy), ``hybrid`` (learned + adaptive: the largest
``log w_l + beta * margin``, written ``"hybrid:2.5"`` for ``beta = 2.5``; plain ``hybrid`` is ``beta = 1``) and
``ancestral`` (time grid ``t_i = 1 - i/T``; a masked position is revealed between ``t`` and ``s`` with
probability ``(alpha_l(s) - alpha_l(t)) / (1 - alpha_l(t))``; everything left is revealed at the last step).
All but ``ancestral`` reveal ``k`` positions per step. Each step costs one forward pass for the whole batch
(ancestral steps that reveal nothing cost none).

Fair comparison: one ``U(0, 1)`` per position is drawn first, and position ``l``'s token is drawn by inverse
CDF with that uniform whenever it is revealed. The same seed therefore gives every policy the same random
numbers for the same positions: policies differ only through the order (and the context it gives).

Givens: ``puzzle`` (``sample``; the mask id at free positions) or ``given`` (``teacher_forced``) holds
positions that are conditioning, revealed before step 0 (``step_of = -1``, listed first in ``orders``), never
drawn nor scored; a policy orders only the free positions.

Overrides: ``forced={step: position}`` reveals ``position`` (an int, or one per sample) at ``step``, inside
that step's ``k`` slots; the policy chooses the rest. ``continue_from`` keeps the first ``step`` steps of a
recorded trajectory, reveals ``next_position`` next and lets a policy finish, reusing the trajectory's
token uniforms, so an app can answer "what if position j came next?" at any point of a replay.

Probabilities and entropies in a :class:`Trajectory` are the model's (temperature 1) at the moment each
position was revealed; ``temperature`` only changes the token draws (``0`` = greedy).

Command line: ``python -m core.sample --checkpoint PATH --policy learned --n 16 --seed 0`` prints the
decoded samples (``--show-order`` adds each decoding order).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
from dataclasses import dataclass, replace

import torch
from torch import nn

from core import limits
from core import orders as orders_lib
from core import rng
from core.elbo import resolve_mask_id
from core.schedules import LOG_T_MIN, Schedule

POLICIES = ("learned", "random", "left_to_right", "reference", "confidence", "margin", "entropy", "hybrid",
            "ancestral")
ADAPTIVE = ("confidence", "margin", "entropy", "hybrid")
ORDER_PREFIX = "order:"
HYBRID_PREFIX = "hybrid:"  # "hybrid:2.5": score log w_l + 2.5 * margin


# --- the record ----------------------------------------------------------------------------------


@dataclass
class Trajectory:
    """Everything a replay needs, per sample ``n`` and position ``l`` (no model calls required).

    ``orders[n, r]``: the position revealed ``r``-th (a permutation; positions revealed in one step are
    listed in their within-step order). ``step_of[n, l]``: the step (0-based) at which ``l`` was revealed.
    ``tokens``: the final sample. ``log_prob`` / ``entropy``: the model's log-probability of the chosen
    token and the entropy of its predictive distribution (nats) when ``l`` was revealed. ``uniforms``: the
    per-position token uniforms (reused by :func:`continue_from`).
    """

    orders: torch.Tensor  # [N, L] long
    step_of: torch.Tensor  # [N, L] long
    tokens: torch.Tensor  # [N, L] long
    log_prob: torch.Tensor  # [N, L] float
    entropy: torch.Tensor  # [N, L] float
    uniforms: torch.Tensor  # [N, L] float
    num_steps: int
    mask_id: int
    policy: str

    @property
    def prob(self) -> torch.Tensor:
        """Model probability of each chosen token when it was revealed: ``[N, L]``."""
        return self.log_prob.exp()

    @property
    def num_samples(self) -> int:
        return self.tokens.shape[0]

    @property
    def num_positions(self) -> int:
        return self.tokens.shape[1]

    @property
    def given(self) -> torch.Tensor:
        """Bool ``[N, L]``: the givens (revealed before step 0, ``step_of = -1``)."""
        return self.step_of < 0

    def calls(self) -> torch.Tensor:
        """Model calls each sample needs on its own ``[N]``: one forward pass per step that revealed one of
        its positions (``ceil(free / k)`` for the top-k policies)."""
        steps = self.step_of.sort(1).values  # [N, L]
        new = torch.ones_like(steps, dtype=torch.bool)
        new[:, 1:] = steps[:, 1:] != steps[:, :-1]
        return (new & (steps >= 0)).sum(1)

    def state_at(self, step: int) -> torch.Tensor:
        """The partially decoded state after ``step`` steps: ``[N, L]``, mask id where not yet revealed.

        ``state_at(0)`` is fully masked, ``state_at(num_steps)`` is the final sample.
        """
        self._check_step(step)
        return torch.where(self.step_of < step, self.tokens, self.mask_id)

    def revealed_at(self, step: int) -> torch.Tensor:
        """Bool ``[N, L]``: the positions revealed during step ``step`` (0-based)."""
        if not isinstance(step, int) or not 0 <= step < self.num_steps:
            raise ValueError(f"step must be an int in 0..{self.num_steps - 1}, got {step!r}")
        return self.step_of == step

    def nll(self) -> torch.Tensor:
        """``-sum_l log p(token_l | state when l was revealed)`` per sample ``[N]`` (nats)."""
        return -self.log_prob.sum(1)

    def select(self, index) -> "Trajectory":
        """The trajectories of some samples (``index``: int, slice, list or bool/long tensor)."""
        if isinstance(index, int):
            index = [index]
        pick = {f: getattr(self, f)[index] for f in ("orders", "step_of", "tokens", "log_prob", "entropy",
                                                      "uniforms")}
        return replace(self, **pick)

    def _check_step(self, step) -> None:
        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= self.num_steps:
            raise ValueError(f"step must be an int in 0..{self.num_steps}, got {step!r}")


# --- policies ------------------------------------------------------------------------------------


def parse_policy(text: str):
    """A policy name, or a fixed order written ``"3,0,2,1"``, ``"3-0-2-1"`` or ``"order:3-0-2-1"``
    (-> list of ints)."""
    if not isinstance(text, str):
        raise ValueError(f"a policy must be a string, got {type(text).__name__}")
    body = text.strip()
    if body in POLICIES:
        return body
    if body.startswith(HYBRID_PREFIX):
        return hybrid_label(hybrid_beta(body))
    body = body[len(ORDER_PREFIX):] if body.startswith(ORDER_PREFIX) else body
    try:
        return [int(p) for p in re.split(r"[,\s-]+", body.strip())]
    except ValueError:
        raise ValueError(
            f"unknown policy {text!r}; expected one of {', '.join(POLICIES)} or a fixed order like 3-0-2-1"
        ) from None


def policy_label(policy) -> str:
    """A string naming a policy: its name, or ``"order:3-0-2-1"`` for a fixed order (a label that
    :func:`parse_policy` reads back and that fits in a comma-separated list)."""
    policy = _resolve(policy)
    if isinstance(policy, str):
        return policy
    return ORDER_PREFIX + "-".join(str(int(p)) for p in policy.tolist())


def is_adaptive(policy) -> bool:
    """True when the policy's order depends on the model's predictions (confidence, margin, entropy,
    hybrid)."""
    return isinstance(policy, str) and (policy in ADAPTIVE or policy.startswith(HYBRID_PREFIX))


def hybrid_beta(policy: str) -> float:
    """The ``beta`` of ``"hybrid:<beta>"`` (``"hybrid"``: 1), a finite number >= 0."""
    if policy == "hybrid":
        return 1.0
    try:
        beta = float(policy[len(HYBRID_PREFIX):])
    except ValueError:
        beta = math.nan
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"a hybrid policy is written hybrid:<beta> with a finite beta >= 0, got {policy!r}")
    return beta


def hybrid_label(beta: float) -> str:
    """The policy string of the learned + adaptive hybrid with weight ``beta`` on the margin."""
    return f"{HYBRID_PREFIX}{beta:g}"

def is_deterministic_order(policy) -> bool:
    """True when the policy always decodes in one fixed order (left_to_right, reference, a list)."""
    return not isinstance(_resolve(policy), str) or policy in ("left_to_right", "reference")


def policy_orders(policy, n: int, meta_or_num_positions, generator=None, *, schedule=None) -> torch.Tensor:
    """Orders ``[n, L]`` of a non-adaptive policy (``ancestral`` decodes in the schedule's order
    distribution, so its orders are drawn from the schedule)."""
    L, meta = _positions(meta_or_num_positions)
    _check_count("n", n)
    policy = _resolve(policy)
    if isinstance(policy, torch.Tensor):
        return _check_order(policy, L).expand(n, L).clone()
    if policy == "left_to_right":
        return torch.arange(L).expand(n, L).clone()
    if policy == "reference":
        return _reference_order(meta, L).expand(n, L).clone()
    if policy == "random":
        return orders_lib.sample_orders(torch.ones(L), n, generator)
    if policy in ("learned", "ancestral"):
        return orders_lib.sample_schedule_orders(_check_schedule(schedule, L, policy), n, generator)
    raise ValueError(f"policy {policy!r} is adaptive: its order depends on the model (see teacher_forced)")


def confidence(log_probs: torch.Tensor, score: str = "confidence") -> torch.Tensor:
    """How sure the model is at each position: top-1 probability (``confidence``), top-1 minus top-2
    (``margin``) or minus the entropy (``entropy``). ``[N, L, V] -> [N, L]``."""
    if score == "entropy":  # smallest entropy first: minus the entropy is the score
        return -torch.special.entr(log_probs.exp()).sum(-1)
    top = log_probs.exp().topk(2, dim=-1).values  # [N, L, 2]
    if score == "margin":
        return top[..., 0] - top[..., 1]
    if score == "confidence":
        return top[..., 0]
    raise ValueError(f"score must be 'confidence', 'margin' or 'entropy', got {score!r}")


def _resolve(policy):
    """A policy name (validated) or a fixed order as a LongTensor ``[L]``."""
    if isinstance(policy, str):
        if policy.startswith(ORDER_PREFIX):
            return torch.tensor(parse_policy(policy))
        if policy.startswith(HYBRID_PREFIX):
            hybrid_beta(policy)
            return policy
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)} or a list")
        return policy
    try:
        order = torch.as_tensor(policy)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"a policy must be a name or a list of positions, got {policy!r}") from None
    if order.dim() != 1 or order.is_floating_point() or order.dtype == torch.bool:
        raise ValueError(f"a fixed order must be a 1-D list of ints, got {policy!r}")
    return order.long()


def _check_order(order: torch.Tensor, L: int) -> torch.Tensor:
    if order.numel() != L or not torch.equal(order.sort().values, torch.arange(L)):
        raise ValueError(f"a fixed order must be a permutation of 0..{L - 1}, got {order.tolist()}")
    return order


def _reference_order(meta, L: int) -> torch.Tensor:
    order = getattr(meta, "reference_order", None)
    if order is None:
        name = getattr(meta, "name", None)
        where = f"task {name!r}" if name else "this data (no task meta given)"
        raise ValueError(f"policy 'reference' needs a reference order, and {where} has none")
    return _check_order(torch.tensor(order), L)


def _check_schedule(schedule, L: int, policy: str) -> Schedule:
    if not isinstance(schedule, Schedule):
        raise ValueError(f"policy {policy!r} needs the schedule (e.g. a checkpoint's .schedule)")
    if schedule.num_positions != L:
        raise ValueError(f"the schedule has {schedule.num_positions} positions, the data has {L}")
    return schedule


def _schedule_scores(schedule: Schedule) -> torch.Tensor:
    """The Plackett–Luce scores ``w`` of a schedule's order (shared schedules: all 1)."""
    return schedule.order_scores().detach().float().cpu()


# --- step selectors: which masked positions to reveal at a step ----------------------------------


class _TopK:
    """Reveal the ``k`` masked positions with the smallest key: a fixed order's rank, or minus the
    model's confidence (adaptive; the hybrid adds a per-position ``prior``, ``log w``, and weighs the margin
    by ``beta``). A forced position takes one of the ``k`` slots."""

    def __init__(self, k: int, order: torch.Tensor | None = None, score: str | None = None,
                 prior: torch.Tensor | None = None, beta: float = 1.0):
        self.k, self.score, self.prior, self.beta = k, score, prior, beta
        self.adaptive = order is None
        self.rank = None if order is None else orders_lib.ranks_of(order).float()  # [N, L]

    def num_steps(self, masked: torch.Tensor, start: int) -> int:
        return math.ceil(int(masked.sum(1).max()) / self.k)

    def __call__(self, step, masked, log_probs, forced):
        key = -self._score(log_probs) if self.adaptive else self.rank.to(masked.device)
        key = torch.where(masked, key, math.inf)  # [N, L]
        if forced is not None:
            key = key.scatter(1, forced[:, None], -math.inf)
        rank = orders_lib.ranks_of(torch.argsort(key, dim=1, stable=True))  # ties: lowest position first
        return masked & (rank < self.k), rank.float()

    def _score(self, log_probs: torch.Tensor) -> torch.Tensor:
        if self.prior is None:
            return confidence(log_probs, self.score)
        return self.prior.to(log_probs.device)[None, :] + self.beta * confidence(log_probs, self.score)


class _Ancestral:
    """The time-grid sampler. Positions revealed in one step are ordered by masking times drawn from the
    schedule conditioned on that step's interval, so the recorded orders follow the schedule exactly."""

    adaptive = False

    def __init__(self, schedule: Schedule, total_steps: int, generator, device):
        self.schedule, self.T, self.generator, self.device = schedule, total_steps, generator, device
        self.schedule_device = schedule.device

    def num_steps(self, masked: torch.Tensor, start: int) -> int:
        if start >= self.T:
            raise ValueError(f"the ancestral grid has {self.T} steps; cannot resume at step {start}")
        return self.T - start

    def __call__(self, step, masked, log_probs, forced):
        # 1. P(revealed in (s, t] | masked at t) = 1 - m(s) / m(t), m = 1 - alpha, in log space.
        lm_t = self._log_mask(1.0 - step / self.T)  # [L]
        lm_s = self._log_mask(1.0 - (step + 1) / self.T)
        p = (-torch.expm1(lm_s - lm_t)).clamp(0.0, 1.0)
        u = rng.uniform(masked.shape, self.generator, self.device)
        reveal = masked & ((u < p) | (step == self.T - 1))  # [N, L]
        # 2. within-step order: tau | tau in (s, t] by inverse CDF, decoded by descending tau.
        v = rng.uniform(masked.shape, self.generator, self.device)
        m_s, m_t = lm_s.exp(), lm_t.exp()
        m = (m_s + v * (m_t - m_s)).clamp(1e-30, 1 - 1e-7)  # [N, L]
        priority = -self.schedule.masking_times(m.to(self.schedule_device)).to(self.device).float()
        # 3. a forced position is revealed now, first.
        if forced is not None:
            reveal = reveal.scatter(1, forced[:, None], True)
            priority = priority.scatter(1, forced[:, None], -math.inf)
        return reveal, priority

    def _log_mask(self, t: float) -> torch.Tensor:
        log_t = torch.tensor([math.log(t) if t > 0 else LOG_T_MIN]).clamp(min=LOG_T_MIN)
        return self.schedule.log_mask_prob(log_t.to(self.schedule_device))[0].to(self.device).float()


def _selector(policy, n, L, meta, schedule, k, steps, generator, device):
    policy = _resolve(policy)
    if policy == "ancestral":
        if k != 1:
            raise ValueError("k does not apply to the ancestral sampler (its time grid sets the steps)")
        steps = L if steps is None else _check_count("steps", steps)
        return _Ancestral(_check_schedule(schedule, L, policy), steps, generator, device)
    if steps is not None:
        raise ValueError("steps only applies to the ancestral sampler; use k for positions per step")
    _check_count("k", k)
    if isinstance(policy, str) and policy.startswith("hybrid"):
        w = _schedule_scores(_check_schedule(schedule, L, "hybrid"))  # [L]
        return _TopK(k, score="margin", prior=torch.log(w).to(device), beta=hybrid_beta(policy))
    if is_adaptive(policy):
        return _TopK(k, score=policy)
    order = policy_orders(policy, n, meta if meta is not None else L, generator, schedule=schedule)
    return _TopK(k, order=order)


# --- the decoding loop ---------------------------------------------------------------------------


@dataclass
class _State:
    """Mutable decoding state; ``step_of`` / ``rank`` are -1 where not yet revealed."""

    z: torch.Tensor  # [N, L]
    step_of: torch.Tensor  # [N, L]
    rank: torch.Tensor  # [N, L] position's index in the order
    log_prob: torch.Tensor  # [N, L]
    entropy: torch.Tensor  # [N, L]
    uniforms: torch.Tensor  # [N, L]
    mask_id: int
    categories: torch.Tensor | None  # [L] categories per position (from the meta), if known

    @classmethod
    def empty(cls, uniforms: torch.Tensor, mask_id: int, meta, puzzle: torch.Tensor | None = None) -> "_State":
        """Nothing revealed, or a ``puzzle``'s givens (its non-mask entries) revealed before step 0."""
        n, L = uniforms.shape
        minus_one = torch.full((n, L), -1, dtype=torch.long, device=uniforms.device)
        zeros = torch.zeros(n, L, device=uniforms.device)
        z, rank = torch.full_like(minus_one, mask_id), minus_one.clone()
        if puzzle is not None:
            given = puzzle != mask_id
            z = torch.where(given, puzzle, mask_id)
            rank = torch.where(given, given.long().cumsum(1) - 1, -1)  # givens first in the order
        return cls(z, minus_one, rank, zeros, zeros.clone(), uniforms, mask_id, _categories(meta, uniforms.device))

    @classmethod
    def from_trajectory(cls, traj: Trajectory, step: int, meta) -> "_State":
        kept = traj.step_of < step  # [N, L]
        rank = orders_lib.ranks_of(traj.orders)
        return cls(traj.state_at(step), torch.where(kept, traj.step_of, -1), torch.where(kept, rank, -1),
                   torch.where(kept, traj.log_prob, 0.0), torch.where(kept, traj.entropy, 0.0),
                   traj.uniforms, traj.mask_id, _categories(meta, traj.tokens.device))

    @property
    def masked(self) -> torch.Tensor:
        return self.rank < 0  # givens have step -1 but a rank

    def reveal(self, step, reveal, priority, tokens, log_probs) -> None:
        """Write the positions revealed at ``step`` (``tokens``: ``[R]`` in ``reveal.nonzero()`` order)."""
        rows = log_probs[reveal]  # [R, V]
        self.z[reveal] = tokens
        self.step_of[reveal] = step
        self.log_prob[reveal] = rows.gather(1, tokens[:, None]).squeeze(1)
        self.entropy[reveal] = torch.special.entr(rows.exp()).sum(-1)
        key = torch.where(reveal, priority, math.inf)  # [N, L] revealed now first, in priority order
        within = orders_lib.ranks_of(torch.argsort(key, dim=1, stable=True))
        before = (self.rank >= 0).sum(1, keepdim=True)  # [N, 1] positions revealed earlier
        self.rank[reveal] = (before + within)[reveal]

    def to_trajectory(self, num_steps: int, policy) -> Trajectory:
        if (self.rank < 0).any():
            raise RuntimeError("decoding ended with masked positions left")
        return Trajectory(torch.argsort(self.rank, 1), self.step_of, self.z, self.log_prob, self.entropy,
                          self.uniforms, num_steps, self.mask_id, policy_label(policy))


def _categories(meta, device) -> torch.Tensor | None:
    return None if meta is None else torch.tensor(meta.num_categories, device=device)


def _log_probs(denoiser, z: torch.Tensor, categories: torch.Tensor | None) -> torch.Tensor:
    """Log-probabilities ``[N, L, V]``; categories a position does not have get probability 0."""
    logits = denoiser(z).float()  # [N, L, V]
    if logits.dim() != 3 or logits.shape[:2] != z.shape:
        raise ValueError(f"the denoiser returned logits of shape {tuple(logits.shape)} for input "
                         f"{tuple(z.shape)}; expected [N, L, V]")
    if categories is not None:
        invalid = torch.arange(logits.shape[-1], device=z.device)[None, :] >= categories[:, None]  # [L, V]
        logits = logits.masked_fill(invalid, -math.inf)
    return torch.log_softmax(logits, -1)


def _draw_tokens(rows: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
    """Inverse-CDF draw from ``softmax(log p / T)``, one uniform per row: ``[R, V], [R] -> [R]``."""
    if temperature == 0:
        return rows.argmax(-1)
    cdf = torch.softmax(rows / temperature, -1).cumsum(-1)  # [R, V]
    # u * total < total, and a zero-probability token never has cdf > u * total first.
    idx = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None].contiguous(), right=True).squeeze(1)
    return idx.clamp_max(rows.shape[-1] - 1)


def _decode(denoiser, state: _State, selector, start: int, forced, temperature, targets=None) -> int:
    """Run the selector from ``start`` until every position is revealed; return the final step count."""
    end = start + selector.num_steps(state.masked, start)
    forced = _check_forced(forced, start, end, state.z)
    with eval_mode(denoiser), torch.no_grad():
        for step in range(start, end):
            masked, pinned = state.masked, forced.get(step)
            if pinned is not None and not masked.gather(1, pinned[:, None]).all():
                raise ValueError(f"forced position at step {step} is already revealed")
            # 1. choose positions (adaptive policies look at the model first).
            log_probs = _log_probs(denoiser, state.z, state.categories) if selector.adaptive else None
            reveal, priority = selector(step, masked, log_probs, pinned)
            if not reveal.any():
                continue
            # 2. one forward pass, then the tokens: drawn with each position's own uniform, or the targets.
            if log_probs is None:
                log_probs = _log_probs(denoiser, state.z, state.categories)
            if targets is None:
                tokens = _draw_tokens(log_probs[reveal], state.uniforms[reveal], temperature)
            else:
                tokens = targets[reveal]
            state.reveal(step, reveal, priority, tokens, log_probs)
    return end


def _check_forced(forced, start: int, end: int, z: torch.Tensor) -> dict[int, torch.Tensor]:
    """``{step: position or [N] positions}`` -> ``{step: LongTensor [N]}``, validated."""
    if forced is None:
        return {}
    if not isinstance(forced, dict):
        raise ValueError("forced must be a dict {step: position}")
    n, L = z.shape
    out = {}
    for step, pos in forced.items():
        if not isinstance(step, int) or not start <= step < end:
            raise ValueError(f"forced step {step!r} is outside the steps {start}..{end - 1} left to decode")
        p = torch.as_tensor(pos)
        if p.is_floating_point() or p.dim() > 1 or (p.dim() == 1 and p.numel() != n):
            raise ValueError(f"forced[{step}] must be a position or one position per sample ({n})")
        p = p.long().expand(n).to(z.device)
        if (p < 0).any() or (p >= L).any():
            raise ValueError(f"forced[{step}] must be a position in 0..{L - 1}, got {p.unique().tolist()}")
        out[step] = p
    return out


# --- public entry points -------------------------------------------------------------------------


def sample(denoiser, meta_or_num_positions, policy, n: int, generator=None, *, schedule=None,
           temperature: float = 1.0, k: int = 1, steps: int | None = None, forced=None, puzzle=None):
    """Draw ``n`` samples with ``policy``; return ``(samples [n, L], Trajectory)``.

    ``puzzle``: LongTensor ``[n, L]``, givens where it is not the mask id (they start revealed and stay).

    ``meta_or_num_positions``: a ``DataMeta`` (needed for ``reference``; categories a position does not
    have are never drawn) or the number of positions.
    ``schedule``: needed for ``learned`` and ``ancestral``. ``k``: positions per step; ``steps``: the
    ancestral grid size (default ``L``). ``forced``: ``{step: position}`` overrides.
    """
    L, meta = _positions(meta_or_num_positions)
    _check_count("n", n)
    _check_temperature(temperature)
    device = device_of(denoiser)
    uniforms = rng.uniform((n, L), generator, device)  # 1. token uniforms first: shared across policies
    selector = _selector(policy, n, L, meta, schedule, k, steps, generator, device)  # 2. the order's draws
    mask_id = resolve_mask_id(denoiser, None)
    state = _State.empty(uniforms, mask_id, meta, _check_puzzle(puzzle, n, L, mask_id, device))
    num_steps = _decode(denoiser, state, selector, 0, forced, temperature)  # 3. decode
    return state.z.clone(), state.to_trajectory(num_steps, policy)


def continue_from(denoiser, trajectory: Trajectory, step: int, policy=None, generator=None, *,
                  next_position=None, meta=None, schedule=None, temperature: float = 1.0, k: int = 1,
                  steps: int | None = None, forced=None):
    """Keep the first ``step`` steps of ``trajectory``, reveal ``next_position`` (int or one per sample) at
    step ``step``, and let ``policy`` (default: the trajectory's) decode the rest.

    Token uniforms are the trajectory's, so a position whose context is unchanged gets the same token.
    Returns ``(samples [N, L], Trajectory)`` whose first ``step`` steps equal the original's.
    """
    if not isinstance(trajectory, Trajectory):
        raise ValueError(f"trajectory must be a Trajectory, got {type(trajectory).__name__}")
    trajectory._check_step(step)
    policy = trajectory.policy if policy is None else policy
    forced = dict(forced or {})
    if next_position is not None:
        if step in forced:
            raise ValueError(f"step {step} is given both as next_position and in forced")
        forced[step] = next_position
    _check_temperature(temperature)
    if _resolve(policy) == "ancestral" and steps is None and trajectory.policy == "ancestral":
        steps = trajectory.num_steps  # resume on the same time grid
    n, L = trajectory.tokens.shape
    if meta is not None and _positions(meta)[0] != L:
        raise ValueError(f"meta has {_positions(meta)[0]} positions, the trajectory has {L}")
    selector = _selector(policy, n, L, meta, schedule, k, steps, generator, trajectory.tokens.device)
    state = _State.from_trajectory(trajectory, step, meta)
    if not state.masked.any():
        if forced:
            raise ValueError(f"nothing is left to decode after step {step}")
        return state.z.clone(), state.to_trajectory(step, policy)
    num_steps = _decode(denoiser, state, selector, step, forced, temperature)
    return state.z.clone(), state.to_trajectory(num_steps, policy)


def teacher_forced(denoiser, x: torch.Tensor, meta_or_num_positions, policy, generator=None, *,
                   schedule=None, k: int = 1, steps: int | None = None, forced=None, given=None) -> Trajectory:
    """Reveal the true tokens ``x [N, L]`` along ``policy``: the trajectory's ``log_prob`` holds the model's
    teacher-forced conditionals, so ``.nll()`` is the order NLL (for ``k = 1``) and, for adaptive policies,
    ``.orders`` is the order the policy picks given the true tokens revealed so far.

    The generator is consumed exactly as by :func:`sample`, so the same seed gives the same orders.
    ``given``: bool ``[N, L]``, positions revealed from the start (conditioning, not scored).
    """
    L, meta = _positions(meta_or_num_positions)
    x = _check_tokens(x, L)
    device = device_of(denoiser)
    x = x.to(device)
    uniforms = rng.uniform(tuple(x.shape), generator, device)
    selector = _selector(policy, x.shape[0], L, meta, schedule, k, steps, generator, device)
    mask_id = resolve_mask_id(denoiser, None)
    puzzle = None if given is None else torch.where(_check_given(given, x).to(device), x, mask_id)
    state = _State.empty(uniforms, mask_id, meta, puzzle)
    num_steps = _decode(denoiser, state, selector, 0, forced, 1.0, targets=x)
    return state.to_trajectory(num_steps, policy)


@contextlib.contextmanager
def eval_mode(denoiser):
    """Run a module in eval mode (no dropout) and restore its training flag afterwards."""
    was_training = isinstance(denoiser, nn.Module) and denoiser.training
    if was_training:
        denoiser.eval()
    try:
        yield denoiser
    finally:
        if was_training:
            denoiser.train()


# --- argument checks -----------------------------------------------------------------------------


def _positions(meta_or_num_positions):
    """``(L, meta or None)`` from a DataMeta-like object or an int."""
    x = meta_or_num_positions
    if isinstance(x, int) and not isinstance(x, bool):
        return _check_count("num_positions", x), None
    if hasattr(x, "num_categories"):
        return len(x.num_categories), x
    raise ValueError(f"expected a DataMeta or a number of positions, got {type(x).__name__}")


def _check_count(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_temperature(temperature) -> None:
    ok = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not ok or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")


def _check_puzzle(puzzle, n: int, L: int, mask_id: int, device) -> torch.Tensor | None:
    if puzzle is None:
        return None
    if not isinstance(puzzle, torch.Tensor) or puzzle.dtype != torch.long or tuple(puzzle.shape) != (n, L):
        raise ValueError(f"puzzle must be a LongTensor [{n}, {L}], got {getattr(puzzle, 'shape', type(puzzle))}")
    if (puzzle < 0).any() or (puzzle > mask_id).any():
        raise ValueError(f"puzzle values must be tokens 0..{mask_id - 1} or the mask id {mask_id}")
    return puzzle.to(device)


def _check_given(given, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(given, torch.Tensor) or given.dtype != torch.bool or given.shape != x.shape:
        raise ValueError(f"given must be a BoolTensor of shape {tuple(x.shape)}")
    return given


def _check_tokens(x, L: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != L or x.dtype != torch.long:
        raise ValueError(f"x must be a LongTensor [N, {L}], got {getattr(x, 'shape', type(x).__name__)}")
    return x


def device_of(denoiser) -> torch.device:
    """Where a denoiser's parameters live (CPU for plain callables)."""
    if isinstance(denoiser, nn.Module):
        for tensor in denoiser.parameters():
            return tensor.device
        for tensor in denoiser.buffers():
            return tensor.device
    return torch.device("cpu")


# --- command line --------------------------------------------------------------------------------


def open_checkpoint(path: str):
    """Load a checkpoint for a command line tool; ValueError with a readable message when it cannot be."""
    from pathlib import Path

    from core import checkpoint

    local = Path(path).expanduser()
    looks_local = local.is_absolute() or path.startswith((".", "~")) or path.count("/") != 1
    if not local.exists() and looks_local:
        raise ValueError(f"checkpoint not found: {path} (no such directory)")
    return checkpoint.load(path)


def main(argv=None) -> int:
    from core.data import check_samples, format_sample

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        limits.check_int("--n", args.n, 1, limits.MAX_SAMPLES)
        ckpt = open_checkpoint(args.checkpoint)
        policy = parse_policy(args.policy)
        limits.check_seconds(f"decoding {args.n} samples", limits.decode_seconds(ckpt.model.config, args.n,
                                                                               args.steps), limits.CLI_SECONDS)
        samples, traj = sample(ckpt.model, ckpt.meta, policy, args.n, rng.make_generator(args.seed),
                               schedule=ckpt.schedule, temperature=args.temperature, k=args.k,
                               steps=args.steps)
    except ValueError as e:
        parser.error(str(e))
    meta = ckpt.meta
    print(f"# {args.n} samples of {meta.name!r}, policy {traj.policy}, seed {args.seed}, "
          f"{traj.num_steps} steps")
    texts = [format_sample(meta, s) for s in samples]
    gap = "\n" if any("\n" in t for t in texts) else ""
    for text, order in zip(texts, traj.orders.tolist()):
        print(text + gap)
        if args.show_order:
            print("  order: " + " ".join(meta.position_names[p] for p in order))
    valid = check_samples(meta, samples)
    if valid is not None:
        print(f"# valid: {int(valid.sum())}/{len(valid)}")
    return 0


CHECKPOINT_HELP = "checkpoint directory (config.json + model.safetensors) or a Hugging Face Hub repo id"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.sample",
                                description="Draw samples from a checkpoint with a decoding policy and print "
                                            "them decoded.")
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--policy", default="learned",
                   help=f"decoding policy: one of {', '.join(POLICIES)}, or a fixed order such as 3-0-2-1 "
                        "(default: learned)")
    p.add_argument("--n", type=int, default=16, help="number of samples (default: 16)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--k", type=int, default=1, help="positions revealed per step (default: 1)")
    p.add_argument("--steps", type=int, default=None,
                   help="time-grid steps of the ancestral sampler (default: the sequence length)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature; 0 picks the most likely token (default: 1.0)")
    p.add_argument("--show-order", action="store_true", help="also print each sample's decoding order")
    return p


if __name__ == "__main__":
    sys.exit(main())
