"""The denoiser: a small time-agnostic bidirectional transformer and its config.

``Denoiser(z)`` maps a partly masked sequence ``z: [B, L]`` (mask id ``V``) to logits ``[B, L, V]`` over the
shared vocabulary of ``V = max(num_categories)`` values; logits of categories a position does not have are
``-inf``. It sees no time and knows nothing about diffusion (docs/design.md §2, §4): losses and samplers take it
as a plain callable.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core import limits, rng
from core.checks import check_fields, check_int, is_int, is_number


@dataclass
class ModelConfig:
    num_categories: list[int]  # categories per position; the shared vocabulary is V = max
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.0

    @property
    def length(self) -> int:
        return len(self.num_categories)

    @property
    def vocab_size(self) -> int:
        return max(self.num_categories)

    @property
    def mask_id(self) -> int:
        return self.vocab_size

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every tensor in ``Denoiser(self).state_dict()``, computed without building it.

        Lets a checkpoint loader compare a file's tensors with the model before allocating anything;
        a test keeps it in step with :class:`Denoiser`.
        """
        d, V = self.d_model, self.vocab_size
        shapes = {"tok_emb.weight": (V + 1, d), "pos_emb.weight": (self.length, d)}
        block = {"ln_1.weight": (d,), "ln_1.bias": (d,), "attn.qkv.weight": (3 * d, d), "attn.qkv.bias": (3 * d,),
                 "attn.proj.weight": (d, d), "attn.proj.bias": (d,), "ln_2.weight": (d,), "ln_2.bias": (d,),
                 "mlp.0.weight": (4 * d, d), "mlp.0.bias": (4 * d,), "mlp.2.weight": (d, 4 * d),
                 "mlp.2.bias": (d,)}
        for i in range(self.n_layers):
            shapes.update({f"blocks.{i}.{k}": v for k, v in block.items()})
        shapes.update({"ln_f.weight": (d,), "ln_f.bias": (d,), "head.weight": (V, d), "head.bias": (V,)})
        return shapes

    def num_params(self) -> int:
        """Exact parameter count of :class:`Denoiser` built from this config (no tensors allocated)."""
        return sum(math.prod(shape) for shape in self.state_shapes().values())

    def validate(self) -> "ModelConfig":
        """Raise ValueError naming the first field that is out of bounds; return self."""
        cats = self.num_categories
        # the bounds of core/limits.py, checked before a model is built from an untrusted config
        if not isinstance(cats, (list, tuple)) or not 1 <= len(cats) <= limits.MAX_POSITIONS:
            raise ValueError(f"num_categories must be a list of 1..{limits.MAX_POSITIONS} ints")
        for i, k in enumerate(cats):
            if not is_int(k) or not 2 <= k <= limits.MAX_CATEGORIES:
                raise ValueError(f"num_categories[{i}] must be an int in 2..{limits.MAX_CATEGORIES}, got {k!r}")
        check_int("d_model", self.d_model, 8, limits.MAX_D_MODEL)
        check_int("n_layers", self.n_layers, 1, limits.MAX_LAYERS)
        check_int("n_heads", self.n_heads, 1, limits.MAX_HEADS)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if self.num_params() > limits.MAX_PARAMS:
            raise ValueError(f"model too large: {self.num_params():,} parameters > {limits.MAX_PARAMS:,}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Build and validate a config from a JSON dict; unknown or missing fields are errors."""
        check_fields(cls, d, "model config")
        if "num_categories" not in d:
            raise ValueError("model config is missing num_categories")
        cfg = cls(**d)
        cfg.validate()
        cfg.num_categories = [int(k) for k in cfg.num_categories]
        return cfg


class SeededDropout(nn.Module):
    """Dropout whose masks come from ``generator`` (set by :meth:`Denoiser.seed_dropout`) instead of the
    global RNG, so two runs training at once in one process each draw their own masks; without a generator
    it draws from the global RNG, as ``nn.Dropout`` does. Unbiased: kept values are scaled by ``1/(1-p)``."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)
        self.generator: torch.Generator | None = None

    @property
    def active(self) -> bool:
        return self.training and self.p > 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        keep = rng.uniform(x.shape, self.generator, x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


class SelfAttention(nn.Module):
    """Multi-head self-attention over all positions (no causal mask)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.attn_drop = SeededDropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)  # each [B, L, d]
        q, k, v = (y.view(B, L, self.n_heads, d // self.n_heads).transpose(1, 2) for y in (q, k, v))
        if self.attn_drop.active:  # written out: the fused kernel would draw its mask from the global RNG
            weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # [B, nh, L, L]
            y = self.attn_drop(weights) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=False)  # [B, nh, L, hs]
        return self.proj(y.transpose(1, 2).reshape(B, L, d))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.ln_1 = nn.LayerNorm(d)
        self.attn = SelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), SeededDropout(cfg.dropout))
        self.drop = SeededDropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.mlp(self.ln_2(x))


class Denoiser(nn.Module):
    """Time-agnostic bidirectional transformer: ``z: [B, L]`` -> logits ``[B, L, V]`` (float32)."""

    def __init__(self, config: ModelConfig, generator: torch.Generator | None = None):
        """``generator`` draws the initial weights (the global RNG if None): with one, two models built at
        once in two threads from the same seed are identical."""
        super().__init__()
        config.validate()
        self.config = config
        self.vocab_size = config.vocab_size
        self.mask_id = config.mask_id
        d = config.d_model
        self.tok_emb = nn.Embedding(self.vocab_size + 1, d)  # +1: the mask token
        self.pos_emb = nn.Embedding(config.length, d)
        self.drop = SeededDropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, self.vocab_size)
        # invalid[l, k]: position l has no category k. Derived from the config, so not saved.
        cats = torch.tensor(config.num_categories)
        invalid = torch.arange(self.vocab_size)[None, :] >= cats[:, None]  # [L, V]
        self.register_buffer("invalid", invalid, persistent=False)
        self.apply(lambda module: _init_weights(module, generator))

    def seed_dropout(self, seed: int) -> None:
        """Draw every dropout mask from one generator seeded with ``seed``, on the model's device. A run
        reseeds it from its own generator before each step, so its masks are its own and reproducible."""
        generator = torch.Generator(device=self.invalid.device).manual_seed(int(seed))
        for module in self.modules():
            if isinstance(module, SeededDropout):
                module.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.config.length:
            raise ValueError(f"z must have shape [B, {self.config.length}], got {tuple(z.shape)}")
        pos = torch.arange(z.shape[1], device=z.device)
        h = self.drop(self.tok_emb(z) + self.pos_emb(pos)[None])  # [B, L, d]
        for block in self.blocks:
            h = block(h)
        logits = self.head(self.ln_f(h)).float()  # [B, L, V], float32 even under autocast
        return logits.masked_fill(self.invalid, -math.inf)


def _init_weights(module: nn.Module, generator: torch.Generator | None = None) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02, generator=generator)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
