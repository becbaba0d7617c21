"""The ``pairs`` task: ``b_1..b_n`` uniform in Z_V, then ``c_i = (b_i + b_{i+1 mod n}) mod V``."""

from __future__ import annotations

import torch

from core import limits, rng
from core.checks import check_int
from core.meta import Dataset
from core.tasks.base import Task, check_sizes, format_two_groups, layout_n, two_groups


def build(seed: int = 0, n: int = 8, V: int = 2, num_train: int = 20000, num_heldout: int = 2000) -> Dataset:
    """``b_1..b_n`` uniform in Z_V, ``c_i = (b_i + b_{i+1 mod n}) mod V``; positions b's then c's."""
    check_int("n", n, 2, limits.TASK_MAX_N)
    check_int("V", V, 2, limits.TASK_MAX_V)
    total = check_sizes(num_train, num_heldout, 2 * n)
    b = rng.randint(V, (total, n), rng.make_generator(seed))  # [N, n]
    x = torch.cat([b, (b + b.roll(-1, dims=1)) % V], 1)  # [N, 2n]
    params = dict(seed=seed, n=n, V=V, num_train=num_train, num_heldout=num_heldout)
    return two_groups("pairs", params, x, num_train, V, "c")


def rule(params: dict, x: torch.Tensor) -> torch.Tensor:
    n, V = params["n"], params["V"]
    b, c = x[:, :n], x[:, n:]
    return (c == (b + b.roll(-1, dims=1)) % V).all(1)


def layout(params: dict) -> tuple[int, int]:
    return 2 * layout_n(params), check_int("V", params["V"], 2, limits.TASK_MAX_V)


TASK = Task("pairs", build, layout, rule, format_two_groups, listed_at=1,
            words="Random bits b₁…bₙ, then one check bit per neighbouring pair: cᵢ is bᵢ plus its right neighbour, "
                  "modulo V (with V = 2: their exclusive or).",
            formula=r"c_i = (b_i + b_{i+1}) \bmod V, \quad b_{n+1} = b_1",
            easy_order="b's first, then every c is a sum; but a sum can also be undone, so other orders are easy "
                       "too.")
