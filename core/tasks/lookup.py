"""The ``lookup`` task: ``b_1..b_n`` uniform in Z_V, then ``c_i = T[b_i, b_{i+1 mod n}]`` for a fixed random
table ``T``."""

from __future__ import annotations

import torch

from core import limits, rng
from core.checks import check_int
from core.meta import Dataset
from core.tasks import pairs
from core.tasks.base import Task, check_sizes, format_two_groups, two_groups


def build(seed: int = 0, n: int = 8, V: int = 4, table_seed: int = 0, num_train: int = 20000,
          num_heldout: int = 2000) -> Dataset:
    """``b_1..b_n`` uniform in Z_V, ``c_i = T[b_i, b_{i+1 mod n}]`` for a fixed random table ``T``.

    Unlike ``pairs`` (an invertible sum, so c's-first orders are as easy as b's-first), ``T`` is not
    invertible: the b's are the only easy start, so the reference groups are the one easy order.
    """
    check_int("n", n, 2, limits.TASK_MAX_N)
    check_int("V", V, 2, limits.TASK_MAX_V)
    check_int("table_seed", table_seed, 0, limits.MAX_SEED)
    total = check_sizes(num_train, num_heldout, 2 * n)
    b = rng.randint(V, (total, n), rng.make_generator(seed))  # [N, n]
    x = torch.cat([b, lookup_table(V, table_seed)[b, b.roll(-1, dims=1)]], 1)  # [N, 2n]
    params = dict(seed=seed, n=n, V=V, table_seed=table_seed, num_train=num_train,
                  num_heldout=num_heldout)
    return two_groups("lookup", params, x, num_train, V, "c")


def lookup_table(V: int, table_seed: int) -> torch.Tensor:
    """The fixed random combining table ``T: [V, V]`` of the ``lookup`` task."""
    return rng.randint(V, (V, V), rng.make_generator(table_seed))


def rule(params: dict, x: torch.Tensor) -> torch.Tensor:
    n, table = params["n"], lookup_table(params["V"], params["table_seed"])
    b, c = x[:, :n], x[:, n:]
    return (c == table[b, b.roll(-1, dims=1)]).all(1)


def layout(params: dict) -> tuple[int, int]:
    check_int("table_seed", params["table_seed"], 0, limits.MAX_SEED)
    return pairs.layout(params)


TASK = Task("lookup", build, layout, rule, format_two_groups, listed_at=2,
            words="Random symbols b₁…bₙ, then cᵢ is read from a fixed random table at row bᵢ and column bᵢ₊₁. "
                  "The table is not invertible: the c's do not tell you the b's.",
            formula=r"c_i = T[b_i,\, b_{i+1}], \quad b_{n+1} = b_1",
            easy_order="b's first, then every c is one look-up.")
