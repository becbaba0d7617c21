"""The decoding loop: reveal positions step by step with a policy, recording a :class:`Trajectory`.

Entry points (``denoiser`` is any callable ``logits [N, L, V] = denoiser(z [N, L])``, mask id ``V``)::

    sample(denoiser, meta, policy, n, generator=None, *, schedule=None,
           temperature=1.0, k=1, steps=None, forced=None, puzzle=None) -> (samples [N, L], Trajectory)
    continue_from(denoiser, trajectory, step, policy=None, generator=None, *, next_position=None,
                  meta=None, schedule=None, temperature=1.0, k=1, steps=None,
                  forced=None) -> (samples [N, L], Trajectory)
    teacher_forced(denoiser, x, meta, policy, generator=None, *, schedule=None,
                   k=1, steps=None, forced=None, given=None) -> Trajectory
    policy_orders(policy, n, meta, generator=None, *, schedule=None) -> orders [n, L]

``policy`` is anything :meth:`Policy.of` reads (``core/decoding/policy.py``). Each step (1) asks the
selector which positions to reveal (:class:`TopK`: ``k`` per step by rank or adaptive score;
:class:`Ancestral`: the time grid ``t_i = 1 - i/T``, revealing a masked position between ``t`` and ``s``
with probability ``(alpha_l(s) - alpha_l(t)) / (1 - alpha_l(t))``, everything left at the last step), then
(2) calls the model once for the whole batch and draws the tokens. Ancestral steps that reveal nothing
cost no call.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core import orders as orders_lib
from core import rng
from core.checks import check_count
from core.decoding.policy import Policy
from core.decoding.selectors import selector_for
from core.decoding.trajectory import Trajectory
from core.meta import DataMeta
from core.runtime import device_of, eval_mode, resolve_mask_id


def policy_orders(policy, n: int, meta: DataMeta, generator=None, *, schedule=None) -> torch.Tensor:
    """Orders ``[n, L]`` of a non-adaptive policy (``ancestral`` decodes in the schedule's order
    distribution, so its orders are drawn from the schedule)."""
    L = _length(meta)
    check_count("n", n)
    return Policy.of(policy).orders(n, L, meta, generator, schedule)


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
                          self.uniforms, num_steps, self.mask_id, policy.label)


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


def sample(denoiser, meta: DataMeta, policy, n: int, generator=None, *, schedule=None,
           temperature: float = 1.0, k: int = 1, steps: int | None = None, forced=None, puzzle=None):
    """Draw ``n`` samples with ``policy``; return ``(samples [n, L], Trajectory)``.

    ``puzzle``: LongTensor ``[n, L]``, givens where it is not the mask id (they start revealed and stay).

    ``meta``: the data's :class:`~core.meta.DataMeta` (its length, the categories of each position, which
    are the only tokens drawn, and the reference order; ``core.toys.toy_meta`` for toy data).
    ``schedule``: needed for ``learned`` and ``ancestral``. ``k``: positions per step; ``steps``: the
    ancestral grid size (default ``L``). ``forced``: ``{step: position}`` overrides.
    """
    L = _length(meta)
    check_count("n", n)
    _check_temperature(temperature)
    policy = Policy.of(policy)
    device = device_of(denoiser)
    uniforms = rng.uniform((n, L), generator, device)  # 1. token uniforms first: shared across policies
    selector = selector_for(policy, n, L, meta, schedule, k, steps, generator, device)  # 2. the order's draws
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
    trajectory.check_step(step)
    policy = trajectory.policy if policy is None else policy
    forced = dict(forced or {})
    if next_position is not None:
        if step in forced:
            raise ValueError(f"step {step} is given both as next_position and in forced")
        forced[step] = next_position
    _check_temperature(temperature)
    policy = Policy.of(policy)
    if policy.time_grid and steps is None and trajectory.policy == "ancestral":
        steps = trajectory.num_steps  # resume on the same time grid
    n, L = trajectory.tokens.shape
    if meta is not None and _length(meta) != L:
        raise ValueError(f"meta has {meta.length} positions, the trajectory has {L}")
    selector = selector_for(policy, n, L, meta, schedule, k, steps, generator, trajectory.tokens.device)
    state = _State.from_trajectory(trajectory, step, meta)
    if not state.masked.any():
        if forced:
            raise ValueError(f"nothing is left to decode after step {step}")
        return state.z.clone(), state.to_trajectory(step, policy)
    num_steps = _decode(denoiser, state, selector, step, forced, temperature)
    return state.z.clone(), state.to_trajectory(num_steps, policy)


def teacher_forced(denoiser, x: torch.Tensor, meta: DataMeta, policy, generator=None, *,
                   schedule=None, k: int = 1, steps: int | None = None, forced=None, given=None) -> Trajectory:
    """Reveal the true tokens ``x [N, L]`` along ``policy``: the trajectory's ``log_prob`` holds the model's
    teacher-forced conditionals, so ``.nll()`` is the order NLL (for ``k = 1``) and, for adaptive policies,
    ``.orders`` is the order the policy picks given the true tokens revealed so far.

    The generator is consumed exactly as by :func:`sample`, so the same seed gives the same orders.
    ``given``: bool ``[N, L]``, positions revealed from the start (conditioning, not scored).
    """
    L = _length(meta)
    x = _check_tokens(x, L)
    policy = Policy.of(policy)
    device = device_of(denoiser)
    x = x.to(device)
    uniforms = rng.uniform(tuple(x.shape), generator, device)
    selector = selector_for(policy, x.shape[0], L, meta, schedule, k, steps, generator, device)
    mask_id = resolve_mask_id(denoiser, None)
    puzzle = None if given is None else torch.where(_check_given(given, x).to(device), x, mask_id)
    state = _State.empty(uniforms, mask_id, meta, puzzle)
    num_steps = _decode(denoiser, state, selector, 0, forced, 1.0, targets=x)
    return state.to_trajectory(num_steps, policy)


# --- argument checks -----------------------------------------------------------------------------


def _length(meta) -> int:
    """The number of positions of the data ``meta`` describes (ValueError if it is not a DataMeta)."""
    if not isinstance(meta, DataMeta):
        raise ValueError(f"meta must be a DataMeta (core.meta; core.toys.toy_meta for toy data), got "
                         f"{type(meta).__name__}")
    return meta.length


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
