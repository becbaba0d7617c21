"""The ``majority`` task: ``b_1..b_n`` fair bits around a circle, then ``c_i = majority(b_i, b_{i+1}, b_{i+2})``."""

from __future__ import annotations

import torch

from core import limits, rng
from core.checks import check_int
from core.meta import Dataset
from core.tasks.base import Task, check_sizes, format_two_groups, layout_n, two_groups


def build(seed: int = 0, n: int = 8, num_train: int = 20000, num_heldout: int = 2000) -> Dataset:
    """``b_1..b_n`` fair bits around a circle, then ``c_i = majority(b_i, b_{i+1}, b_{i+2})`` (indices mod n).

    A vote is easy to count once its three bits are known; going back from votes to bits is an inference
    over overlapping, many-to-one constraints. Reference groups: the b's, then the c's.
    """
    check_int("n", n, 3, limits.TASK_MAX_N)
    total = check_sizes(num_train, num_heldout, 2 * n)
    b = rng.randint(2, (total, n), rng.make_generator(seed))  # [N, n]
    x = torch.cat([b, majority3(b)], 1)  # [N, 2n]
    params = dict(seed=seed, n=n, num_train=num_train, num_heldout=num_heldout)
    return two_groups("majority", params, x, num_train, 2, "c")


def majority3(b: torch.Tensor) -> torch.Tensor:
    """Majority of each position and its two successors around the circle: ``[N, n]`` -> ``[N, n]``."""
    return ((b + b.roll(-1, dims=1) + b.roll(-2, dims=1)) >= 2).long()


def rule(params: dict, x: torch.Tensor) -> torch.Tensor:
    n = params["n"]
    return (x[:, n:] == majority3(x[:, :n])).all(1)


def layout(params: dict) -> tuple[int, int]:
    return 2 * layout_n(params), 2


TASK = Task("majority", build, layout, rule, format_two_groups, listed_at=3,
            words="Fair bits b₁…bₙ around a circle, then cᵢ is the majority vote of bᵢ and its two right neighbours.",
            formula=r"c_i = \mathbb{1}\left[b_i + b_{i+1} + b_{i+2} \ge 2\right], \quad \text{indices mod } n",
            easy_order="bits first, then each vote is easy to count; the votes alone hardly tell the bits.")
