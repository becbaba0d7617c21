"""The ``addition`` task: ``a + b = s`` in base 10, the sum written with ``digits + 1`` digits."""

from __future__ import annotations

import torch

from core import limits, rng
from core.checks import check_int
from core.meta import DataMeta, Dataset
from core.tasks.base import Task, check_sizes, symbols, synthetic


def build(seed: int = 0, digits: int = 3, num_train: int = 20000, num_heldout: int = 2000) -> Dataset:
    """``a + b = s`` in base 10: a's digits, b's digits (most significant first), then the sum's ``digits+1``."""
    d = check_int("digits", digits, 1, limits.TASK_MAX_DIGITS)
    total = check_sizes(num_train, num_heldout, 3 * d + 1)
    x = rng.randint(10, (total, 2 * d), rng.make_generator(seed))  # [N, 2d] operand digits
    s = to_int(x[:, :d]) + to_int(x[:, d:])  # [N]
    x = torch.cat([x, to_digits(s, d + 1)], 1)  # [N, 3d + 1]
    params = dict(seed=seed, digits=digits, num_train=num_train, num_heldout=num_heldout)
    names = [f"a{i + 1}" for i in range(d)] + [f"b{i + 1}" for i in range(d)] + [f"s{i + 1}" for i in range(d + 1)]
    groups = [list(range(2 * d)), list(range(2 * d, 3 * d + 1))]
    order = groups[0] + groups[1][::-1]  # the sum from its least significant digit (carries flow left)
    return synthetic("addition", params, x, num_train, 10, names, groups, order)


def to_int(digits: torch.Tensor) -> torch.Tensor:
    """Base-10 digits ``[N, d]`` (most significant first) -> integers ``[N]``."""
    powers = 10 ** torch.arange(digits.shape[1] - 1, -1, -1, device=digits.device)
    return (digits * powers).sum(1)


def to_digits(n: torch.Tensor, d: int) -> torch.Tensor:
    """Integers ``[N]`` -> ``d`` base-10 digits ``[N, d]``, most significant first."""
    powers = 10 ** torch.arange(d - 1, -1, -1, device=n.device)
    return (n[:, None] // powers) % 10


def rule(params: dict, x: torch.Tensor) -> torch.Tensor:
    d = params["digits"]
    return to_int(x[:, :d]) + to_int(x[:, d:2 * d]) == to_int(x[:, 2 * d:])


def layout(params: dict) -> tuple[int, int]:
    return 3 * check_int("digits", params["digits"], 1, limits.TASK_MAX_DIGITS) + 1, 10


def format_sum(meta: DataMeta, values: list) -> str:
    """``123+456=0579``."""
    d = meta.params["digits"]
    return f"{symbols(values[:d])}+{symbols(values[d:2 * d])}={symbols(values[2 * d:])}"


TASK = Task("addition", build, layout, rule, format_sum, listed_at=4,
            words="Two numbers a and b written digit by digit (most significant first), then the digits of their "
                  "sum s.",
            formula=r"s = a + b \quad \text{(base 10)}",
            easy_order="the operands first, then the sum from its last digit (carries flow left).")
