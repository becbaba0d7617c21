"""Step selectors: which masked positions the decoding loop reveals at each step.

A selector is called as ``selector(step, masked [N, L], log_probs [N, L, V] or None, forced [N] or None)``
and returns ``(reveal [N, L] bool, priority [N, L])`` (the within-step order, smallest first); ``adaptive``
says whether it needs the model's log-probabilities before choosing. :func:`selector_for` builds the one a
:class:`~core.decoding.policy.Policy` needs.
"""

from __future__ import annotations

import math

import torch

from core import orders as orders_lib
from core import rng
from core.checks import check_count
from core.decoding.policy import Policy, check_schedule
from core.schedules import LOG_T_MIN, Schedule


class TopK:
    """Reveal the ``k`` masked positions with the smallest key: a fixed order's rank, or minus an adaptive
    policy's ``score`` of the model's log-probabilities. A forced position takes one of the ``k`` slots."""

    def __init__(self, k: int, order: torch.Tensor | None = None, score=None):
        self.k, self.score = k, score
        self.adaptive = order is None
        self.rank = None if order is None else orders_lib.ranks_of(order).float()  # [N, L]

    def num_steps(self, masked: torch.Tensor, start: int) -> int:
        return math.ceil(int(masked.sum(1).max()) / self.k)

    def __call__(self, step, masked, log_probs, forced):
        key = -self.score(log_probs) if self.adaptive else self.rank.to(masked.device)
        key = torch.where(masked, key, math.inf)  # [N, L]
        if forced is not None:
            key = key.scatter(1, forced[:, None], -math.inf)
        rank = orders_lib.ranks_of(torch.argsort(key, dim=1, stable=True))  # ties: lowest position first
        return masked & (rank < self.k), rank.float()


class Ancestral:
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


def selector_for(policy: Policy, n, L, meta, schedule, k, steps, generator, device):
    if policy.time_grid:
        if k != 1:
            raise ValueError("k does not apply to the ancestral sampler (its time grid sets the steps)")
        steps = L if steps is None else check_count("steps", steps)
        return Ancestral(check_schedule(schedule, L, policy.name), steps, generator, device)
    if steps is not None:
        raise ValueError("steps only applies to the ancestral sampler; use k for positions per step")
    check_count("k", k)
    if policy.adaptive:
        return TopK(k, score=policy.scorer(L, schedule, device))
    return TopK(k, order=policy.orders(n, L, meta, generator, schedule))
