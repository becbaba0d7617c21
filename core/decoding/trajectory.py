"""The record of one decoding run: :class:`Trajectory`, everything a replay needs without calling the model.

Per sample and position it holds the order, the step each position was revealed at, the tokens, the
model's log-probability and entropy when the position was revealed, and the token uniforms (reused by
``continue_from``); ``state_at(step)`` rebuilds the partial state after any step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
        self.check_step(step)
        return torch.where(self.step_of < step, self.tokens, self.mask_id)

    def revealed_at(self, step: int) -> torch.Tensor:
        """Bool ``[N, L]``: the positions revealed during step ``step`` (0-based)."""
        if not isinstance(step, int) or not 0 <= step < self.num_steps:
            raise ValueError(f"step must be an int in 0..{self.num_steps - 1}, got {step!r}")
        return self.step_of == step

    def nll(self) -> torch.Tensor:
        """``-sum_l log p(token_l | state when l was revealed)`` per sample ``[N]`` (nats)."""
        return -self.log_prob.sum(1)

    def check_step(self, step) -> None:
        """ValueError unless ``step`` is an int in ``0..num_steps`` (a state the trajectory can rebuild)."""
        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= self.num_steps:
            raise ValueError(f"step must be an int in 0..{self.num_steps}, got {step!r}")
