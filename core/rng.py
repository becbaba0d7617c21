"""Explicit randomness: every sampling function takes an optional ``torch.Generator``.

Draws are made on the generator's device (CPU generators are the norm, so the same seed gives the same
numbers on CPU and GPU runs) and then moved to where the computation happens.
"""

from __future__ import annotations

import torch


def uniform(shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """U(0, 1) draws of ``shape`` on ``device``."""
    src = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=src).to(device)


def randint(high: int, shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Integers uniform in ``[0, high)``."""
    src = generator.device if generator is not None else device
    return torch.randint(high, shape, generator=generator, device=src).to(device)


def make_generator(seed: int | None) -> torch.Generator | None:
    """A CPU generator seeded with ``seed`` (``None`` means: use the global RNG)."""
    return None if seed is None else torch.Generator().manual_seed(int(seed))


def antithetic_uniform(n: int, generator=None, device=None) -> torch.Tensor:
    """Stratified U(0,1) draws: one random offset, ``n`` evenly spaced strata (``[n]``)."""
    u0 = uniform((1,), generator, device)
    return torch.remainder(u0 + torch.arange(n, device=device) / n, 1.0)
