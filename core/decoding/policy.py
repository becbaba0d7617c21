"""Decoding policies: which masked position the sampler reveals next (docs/design.md §3).

A :class:`Policy` is one value: a name from :data:`POLICIES`, a fixed order (``order``), or the learned +
adaptive ``hybrid`` with its weight ``beta``. :meth:`Policy.of` reads every spelling the library accepts (a
name, ``"hybrid:2.5"``, ``"order:3-0-2-1"``, a list or tensor of positions, a Policy); :meth:`Policy.parse`
reads command-line text (also ``"3,0,2,1"`` or ``"3-0-2-1"``); :attr:`Policy.label` writes it back.

What each policy does is one entry of :data:`KINDS`:

- a non-adaptive policy draws its orders up front, ``orders(policy, n, L, meta, generator, schedule)``:
  ``learned`` (masking times from the schedule, decoded by descending time), ``random`` (uniform orders),
  ``left_to_right``, ``reference`` (``meta.reference_order``), ``ancestral`` (the schedule's orders; its
  time grid is the decoding loop's ``Ancestral`` selector);
- an adaptive policy scores the masked positions at every step from the model's log-probabilities,
  ``score(policy, L, schedule, device) -> (log_probs [N, L, V] -> [N, L])``, largest first: ``confidence``
  (top-1 probability), ``margin`` (top-1 minus top-2), ``entropy`` (minus the entropy), ``hybrid``
  (``log w_l + beta * margin``).

Adding a policy is one entry in :data:`KINDS`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import torch

from core import orders as orders_lib
from core.schedules import Schedule

ORDER_PREFIX = "order:"
HYBRID_PREFIX = "hybrid:"  # "hybrid:2.5": score log w_l + 2.5 * margin


@dataclass(frozen=True)
class Kind:
    """What one policy does: draw its orders up front (``orders``) or score positions as it goes
    (``score``). ``fixed``: always the same order; ``time_grid``: decoded on the ancestral time grid."""

    orders: Callable | None = None
    score: Callable | None = None
    fixed: bool = False
    time_grid: bool = False


@dataclass(frozen=True)
class Policy:
    """A decoding policy. ``order``: the positions of a fixed order (name ``"order"``); ``beta``: the
    hybrid's weight on the margin (``None``: plain ``"hybrid"``, weight 1)."""

    name: str
    order: tuple[int, ...] | None = None
    beta: float | None = None

    @classmethod
    def of(cls, policy) -> "Policy":
        """A Policy from a name, a ``hybrid:``/``order:`` label, a list or tensor of positions, or a Policy."""
        if isinstance(policy, Policy):
            return policy
        if isinstance(policy, str):
            if policy.startswith(ORDER_PREFIX):
                return cls.parse(policy)
            if policy.startswith(HYBRID_PREFIX):
                return cls("hybrid", beta=hybrid_beta(policy))
            if policy not in KINDS:
                raise ValueError(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)} or a list")
            return cls(policy)
        try:
            order = torch.as_tensor(policy)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"a policy must be a name or a list of positions, got {policy!r}") from None
        if order.dim() != 1 or order.is_floating_point() or order.dtype == torch.bool:
            raise ValueError(f"a fixed order must be a 1-D list of ints, got {policy!r}")
        return cls("order", order=tuple(order.long().tolist()))

    @classmethod
    def parse(cls, text: str) -> "Policy":
        """A policy name, ``hybrid:<beta>``, or a fixed order written ``"3,0,2,1"``, ``"3-0-2-1"`` or
        ``"order:3-0-2-1"``."""
        if not isinstance(text, str):
            raise ValueError(f"a policy must be a string, got {type(text).__name__}")
        body = text.strip()
        if body in KINDS:
            return cls(body)
        if body.startswith(HYBRID_PREFIX):
            return cls("hybrid", beta=hybrid_beta(body))
        body = body[len(ORDER_PREFIX):] if body.startswith(ORDER_PREFIX) else body
        try:
            return cls("order", order=tuple(int(p) for p in re.split(r"[,\s-]+", body.strip())))
        except ValueError:
            raise ValueError(
                f"unknown policy {text!r}; expected one of {', '.join(POLICIES)} or a fixed order like 3-0-2-1"
            ) from None

    @property
    def label(self) -> str:
        """The policy as text: its name, ``"hybrid:2.5"``, or ``"order:3-0-2-1"`` (read back by :meth:`of`,
        and safe in a comma-separated list)."""
        if self.name == "order":
            return ORDER_PREFIX + "-".join(str(p) for p in self.order)
        if self.name == "hybrid" and self.beta is not None:
            return hybrid_label(self.beta)
        return self.name

    @property
    def kind(self) -> Kind:
        return FIXED_ORDER if self.name == "order" else KINDS[self.name]

    @property
    def adaptive(self) -> bool:
        """True when the order depends on the model's predictions (confidence, margin, entropy, hybrid)."""
        return self.kind.score is not None

    @property
    def fixed(self) -> bool:
        """True when the policy always decodes in one order (left_to_right, reference, a fixed order)."""
        return self.kind.fixed

    @property
    def time_grid(self) -> bool:
        """True for the ancestral sampler (a time grid, not ``k`` positions per step)."""
        return self.kind.time_grid

    @property
    def hybrid_beta(self) -> float:
        return 1.0 if self.beta is None else self.beta

    def orders(self, n: int, L: int, meta=None, generator=None, schedule=None) -> torch.Tensor:
        """Orders ``[n, L]`` of a non-adaptive policy."""
        if self.adaptive:
            raise ValueError(f"policy {self.label!r} is adaptive: its order depends on the model "
                             "(see teacher_forced)")
        return self.kind.orders(self, n, L, meta, generator, schedule)

    def scorer(self, L: int, schedule=None, device=None) -> Callable[[torch.Tensor], torch.Tensor]:
        """An adaptive policy's score ``log_probs [N, L, V] -> [N, L]`` (the largest is revealed first)."""
        return self.kind.score(self, L, schedule, device)


def hybrid_beta(text: str) -> float:
    """The ``beta`` of ``"hybrid:<beta>"``, a finite number >= 0."""
    try:
        beta = float(text[len(HYBRID_PREFIX):])
    except ValueError:
        beta = math.nan
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"a hybrid policy is written hybrid:<beta> with a finite beta >= 0, got {text!r}")
    return beta


def hybrid_label(beta: float) -> str:
    """The policy label of the learned + adaptive hybrid with weight ``beta`` on the margin."""
    return f"{HYBRID_PREFIX}{beta:g}"


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


def check_schedule(schedule, L: int, policy: str) -> Schedule:
    """The schedule a policy needs, checked against the data's length."""
    if not isinstance(schedule, Schedule):
        raise ValueError(f"policy {policy!r} needs the schedule (e.g. a checkpoint's .schedule)")
    if schedule.num_positions != L:
        raise ValueError(f"the schedule has {schedule.num_positions} positions, the data has {L}")
    return schedule


def check_order(order: torch.Tensor, L: int) -> torch.Tensor:
    """A fixed order, checked to be a permutation of ``0..L-1``."""
    if order.numel() != L or not torch.equal(order.sort().values, torch.arange(L)):
        raise ValueError(f"a fixed order must be a permutation of 0..{L - 1}, got {order.tolist()}")
    return order


# --- what each policy does -----------------------------------------------------------------------


def _schedule_orders(policy: Policy, n, L, meta, generator, schedule) -> torch.Tensor:
    return orders_lib.sample_schedule_orders(check_schedule(schedule, L, policy.name), n, generator)


def _random_orders(policy: Policy, n, L, meta, generator, schedule) -> torch.Tensor:
    return orders_lib.sample_orders(torch.ones(L), n, generator)


def _left_to_right(policy: Policy, n, L, meta, generator, schedule) -> torch.Tensor:
    return torch.arange(L).expand(n, L).clone()


def _reference(policy: Policy, n, L, meta, generator, schedule) -> torch.Tensor:
    order = getattr(meta, "reference_order", None)
    if order is None:
        name = getattr(meta, "name", None)
        where = f"task {name!r}" if name else "this data (no task meta given)"
        raise ValueError(f"policy 'reference' needs a reference order, and {where} has none")
    return check_order(torch.tensor(order), L).expand(n, L).clone()


def _fixed_order(policy: Policy, n, L, meta, generator, schedule) -> torch.Tensor:
    return check_order(torch.tensor(policy.order, dtype=torch.long), L).expand(n, L).clone()


def _model_score(policy: Policy, L, schedule, device):
    return lambda log_probs: confidence(log_probs, policy.name)


def _hybrid_score(policy: Policy, L, schedule, device):
    w = check_schedule(schedule, L, "hybrid").order_scores().detach().float().cpu()  # [L]
    prior, beta = torch.log(w).to(device), policy.hybrid_beta  # log w_l: the learned order's preference
    return lambda log_probs: prior.to(log_probs.device)[None, :] + beta * confidence(log_probs, "margin")


KINDS: dict[str, Kind] = {
    "learned": Kind(orders=_schedule_orders),
    "random": Kind(orders=_random_orders),
    "left_to_right": Kind(orders=_left_to_right, fixed=True),
    "reference": Kind(orders=_reference, fixed=True),
    "confidence": Kind(score=_model_score),
    "margin": Kind(score=_model_score),
    "entropy": Kind(score=_model_score),
    "hybrid": Kind(score=_hybrid_score),
    "ancestral": Kind(orders=_schedule_orders, time_grid=True),
}
FIXED_ORDER = Kind(orders=_fixed_order, fixed=True)  # Policy("order", order=...): not a name of its own
POLICIES = tuple(KINDS)
ADAPTIVE = tuple(name for name, kind in KINDS.items() if kind.score is not None)
