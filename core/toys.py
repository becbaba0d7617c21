"""Tiny hand-made denoisers, ``logits = denoiser(z)`` with mask id V, and the meta of their toy data: the math
tests drive ``elbo`` and ``decoding`` with them, and the Lesson page uses ``RandomDenoiser`` as its fixed
example model."""

import itertools

import torch

from core.meta import DataMeta


def toy_meta(L: int, V: int) -> DataMeta:
    """The meta of toy data: ``L`` positions ``p1..pL`` with ``V`` categories each, no reference order."""
    return DataMeta(name="toy", params={}, num_categories=[V] * L, position_names=[f"p{i + 1}" for i in range(L)])


class RandomDenoiser:
    """A fixed random function of the whole input: logits_l = sum_m E[m, z_m, l] (bidirectional, seeded)."""

    def __init__(self, L: int, V: int, seed: int = 0, scale: float = 1.0):
        g = torch.Generator().manual_seed(seed)
        self.table = scale * torch.randn(L, V + 1, L, V, generator=g)
        self.mask_id, self.vocab_size = V, V

    def __call__(self, z):
        one_hot = torch.nn.functional.one_hot(z, self.mask_id + 1).to(self.table.dtype)  # [B, L, V+1]
        return torch.einsum("bmv,mvlk->blk", one_hot, self.table)


class JointDenoiser:
    """Exact conditionals p(x_l | revealed) of a fixed joint distribution over V^L.

    Its AR loss is -log p(x) along every order, so the NELBO does not depend on the order at all.
    """

    def __init__(self, L: int, V: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.states = torch.tensor(list(itertools.product(range(V), repeat=L)))  # [S, L]
        self.p = torch.softmax(2 * torch.randn(len(self.states), generator=g), 0)  # [S]
        self.mask_id, self.vocab_size = V, V

    def __call__(self, z):
        masked = z == self.mask_id  # [B, L]
        consistent = ((self.states[None] == z[:, None]) | masked[:, None]).all(-1)  # [B, S]
        mass = consistent * self.p[None]  # [B, S]
        onehot = torch.nn.functional.one_hot(self.states, self.vocab_size).float()  # [S, L, V]
        return torch.log(torch.einsum("bs,slv->blv", mass, onehot).clamp_min(1e-30))
