"""The ``parity`` task: ``b_1..b_n`` then the prefix parities ``p_i = b_1 xor ... xor b_i``."""

from __future__ import annotations

import torch

from core import limits, rng
from core.checks import check_int
from core.meta import DataMeta, Dataset
from core.tasks.base import Task, check_sizes, format_two_groups, layout_n, two_groups


def build(seed: int = 0, n: int = 6, num_train: int = 20000, num_heldout: int = 2000) -> Dataset:
    """Prefix parity: ``b_1..b_n`` then ``p_i = b_1 xor ... xor b_i``.

    The reference order ``b's, p_1, p_2, ...`` is kept as a strict chain on purpose: it is the teaching case of
    an order that a position-wise schedule expresses badly (docs/design.md §5).
    """
    check_int("n", n, 1, limits.TASK_MAX_N)
    total = check_sizes(num_train, num_heldout, 2 * n)
    b = rng.randint(2, (total, n), rng.make_generator(seed))  # [N, n]
    x = torch.cat([b, b.cumsum(1) % 2], 1)  # [N, 2n]
    params = dict(seed=seed, n=n, num_train=num_train, num_heldout=num_heldout)
    return two_groups("parity", params, x, num_train, 2, "p")


def rule(params: dict, x: torch.Tensor) -> torch.Tensor:
    n = params["n"]
    return (x[:, n:] == x[:, :n].cumsum(1) % 2).all(1)


def layout(params: dict) -> tuple[int, int]:
    return 2 * layout_n(params), 2


def format_parity(meta: DataMeta, values: list) -> str:
    """``b=0110 p=0100``."""
    return format_two_groups(meta, values, second="p")


TASK = Task("parity", build, layout, rule, format_parity, listed_at=5,
            words="Random bits b₁…bₙ, then running parities: pᵢ says whether b₁…bᵢ hold an odd number of ones.",
            formula=r"p_i = b_1 \oplus b_2 \oplus \dots \oplus b_i",
            easy_order="bits first, then the parities one after another: a strict chain, hard for one exponent per "
                       "position.")
