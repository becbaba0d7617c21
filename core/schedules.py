"""Noise schedules: alpha_l(t), the ELBO weight, masking times and masks.

Notation (docs/design.md §2): ``t = 0`` is clean data, ``t = 1`` fully masked; ``alpha_l(t)`` is the probability
that position ``l`` is still unmasked at time ``t``. Every schedule maps ``t: [B]`` to ``[B, L]``.

Univariate schedules (one alpha shared by every position) give the uniform order distribution; the
per-position :class:`LearnedPolynomialSchedule` ``alpha_l(t) = 1 - t^{w_l}`` learns the decoding order.
All schedules are ``nn.Module`` so they move with ``.to(device)`` and are saved with the model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core import rng
from core.checks import check_count

# Clamp for log(t) so that t = 0 never produces -inf * 0 = nan; exp(-80) ~ 1.8e-35 is below any
# time the samplers draw but still representable in float32.
LOG_T_MIN = -80.0
RHO_CLIP = 3.0


def check_times(t: torch.Tensor, name: str = "t") -> torch.Tensor:
    """Validate a 1-D tensor of times in [0, 1]."""
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != 1:
        raise ValueError(f"{name} must have shape [B], got {tuple(t.shape)}")
    if torch.isnan(t).any() or (t < 0).any() or (t > 1).any():
        raise ValueError(f"{name} must lie in [0, 1]")
    return t


def check_exponents(w: torch.Tensor, name: str = "w") -> torch.Tensor:
    """Validate a vector of positive, finite polynomial exponents."""
    w = torch.as_tensor(w)
    if not w.is_floating_point():
        w = w.float()
    if w.dim() != 1 or w.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all() or (w <= 0).any():
        raise ValueError(f"{name} must be positive and finite, got {w.tolist()}")
    return w


class Schedule(nn.Module):
    """Base class. Subclasses define ``log_mask_prob(log_t)`` = log(1 - alpha) and ``log_weight(log_t)``.

    Working in ``log t`` keeps very small times (which matter when exponents are below 1) exact.
    """

    num_positions: int
    # alpha_l(t) = 1 - t^{w_l}: then -log tau_l ~ Exp(w_l) and the order distribution is Plackett–Luce in w
    is_polynomial: bool = False

    # --- to be provided by subclasses -----------------------------------------------------------
    def log_mask_prob(self, log_t: torch.Tensor) -> torch.Tensor:  # [B] -> [B, L]
        raise NotImplementedError

    def log_weight(self, log_t: torch.Tensor) -> torch.Tensor:  # [B] -> [B, L]
        raise NotImplementedError

    def masking_times(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # --- shared interface -----------------------------------------------------------------------
    def order_scores(self) -> torch.Tensor:
        """The Plackett–Luce scores ``w: [L]`` of the decoding-order distribution: the exponents of a
        polynomial schedule, all ones for a shared schedule (every order equally likely)."""
        return torch.ones(self.num_positions, device=self.device)

    @property
    def is_learned(self) -> bool:
        """Whether training moves the schedule (it has parameters that require a gradient)."""
        return any(p.requires_grad for p in self.parameters())

    @property
    def device(self) -> torch.device:
        """Where the schedule's tensors live (its buffers, else its parameters; CPU when it has none)."""
        return next(iter(self.buffers()), next(iter(self.parameters()), torch.zeros(()))).device

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """P(position unmasked at time t): ``[B] -> [B, L]``."""
        return 1.0 - torch.exp(self.log_mask_prob(self._log_t(t)))

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        """ELBO weight ``-alpha'(t) / (1 - alpha(t))``: ``[B] -> [B, L]``."""
        return torch.exp(self.log_weight(self._log_t(t)))

    def sample_mask(self, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Bool mask ``[B, L]``, True where masked at time ``t`` (independently per position)."""
        return self.sample_mask_log_t(self._log_t(t), generator)

    def sample_mask_log_t(self, log_t: torch.Tensor, generator: torch.Generator | None = None):
        p = torch.exp(self.log_mask_prob(log_t))  # [B, L]
        return rng.uniform(p.shape, generator, p.device) < p

    def log_q(self, mask: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log-probability of a mask pattern at time t, summed over positions: ``[B]``."""
        return self.log_q_log_t(mask, self._log_t(t))

    def log_q_log_t(self, mask: torch.Tensor, log_t: torch.Tensor) -> torch.Tensor:
        log_masked = self.log_mask_prob(log_t)  # [B, L]
        if mask.shape != log_masked.shape:
            raise ValueError(f"mask must have shape {tuple(log_masked.shape)}, got {tuple(mask.shape)}")
        log_kept = torch.log(-torch.expm1(log_masked).clamp(max=-1e-30))  # log alpha, stable
        return torch.where(mask, log_masked, log_kept).sum(-1)

    def sample_masking_times(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw masking times ``tau: [n, L]`` (position l is revealed at time tau_l during generation)."""
        u = rng.uniform((n, self.num_positions), generator, self.device)
        return self.masking_times(u.clamp(1e-12, 1 - 1e-7))

    def _log_t(self, t: torch.Tensor) -> torch.Tensor:
        check_times(t)
        return torch.log(t.to(self.device, torch.float32)).clamp(min=LOG_T_MIN)

    def _check_u(self, u: torch.Tensor) -> None:
        if u.dim() != 2 or u.shape[1] != self.num_positions:
            raise ValueError(f"u must have shape [B, {self.num_positions}], got {tuple(u.shape)}")
        if (u <= 0).any() or (u >= 1).any():
            raise ValueError("u must lie in the open interval (0, 1)")


class _PolynomialBase(Schedule):
    """``alpha_l(t) = 1 - t^{w_l}``; subclasses say where ``w`` comes from."""

    is_polynomial = True

    @property
    def exponents(self) -> torch.Tensor:
        raise NotImplementedError

    def order_scores(self) -> torch.Tensor:
        """The exponents ``w`` (with their gradient, for the estimators' score-function term)."""
        return self.exponents

    def log_mask_prob(self, log_t):
        return log_t[:, None] * self.exponents[None, :]  # [B, L]

    def log_weight(self, log_t):
        # weight = w / t, exact in log space.
        return torch.log(self.exponents)[None, :] - log_t[:, None]

    def masking_times(self, u):
        self._check_u(u)
        return u ** (1.0 / self.exponents[None, :])


class PolynomialSchedule(_PolynomialBase):
    """Shared polynomial schedule ``alpha(t) = 1 - t^w`` (``w = 1`` is linear)."""

    def __init__(self, w: float = 1.0, num_positions: int = 1):
        super().__init__()
        if not (isinstance(w, (int, float)) and math.isfinite(w) and w > 0):
            raise ValueError(f"w must be a positive finite number, got {w!r}")
        self.num_positions = check_count("num_positions", num_positions)
        self.register_buffer("_w", torch.full((num_positions,), float(w)))

    @property
    def exponents(self):
        return self._w


class LinearSchedule(PolynomialSchedule):
    """``alpha(t) = 1 - t``, shared by every position; weight ``1/t``."""

    def __init__(self, num_positions: int = 1):
        super().__init__(1.0, num_positions)


class CosineSchedule(Schedule):
    """``alpha(t) = cos(pi t / 2)``, shared by every position."""

    def __init__(self, num_positions: int = 1):
        super().__init__()
        self.num_positions = check_count("num_positions", num_positions)
        self.register_buffer("_anchor", torch.zeros(()))

    def log_mask_prob(self, log_t):
        half_angle = math.pi / 4 * torch.exp(log_t)  # 1 - cos(x) = 2 sin^2(x/2), stable near 0
        lp = math.log(2.0) + 2 * torch.log(torch.sin(half_angle).clamp(min=1e-38))
        return lp[:, None].expand(-1, self.num_positions)

    def log_weight(self, log_t):
        # -alpha'/(1-alpha) = (pi/2) sin(x) / (1 - cos x) = (pi/2) cot(x/2), x = pi t / 2.
        half_angle = math.pi / 4 * torch.exp(log_t)
        lw = math.log(math.pi / 2) - torch.log(torch.tan(half_angle).clamp(min=1e-38))
        return lw[:, None].expand(-1, self.num_positions)

    def masking_times(self, u):
        self._check_u(u)
        return (2 / math.pi) * torch.arccos(1 - u)


class LearnedPolynomialSchedule(_PolynomialBase):
    """One learnable exponent per position: ``alpha_l(t) = 1 - t^{w_l}``, ``w_l = exp(rho_l)``.

    Only ratios of ``w`` matter, so :meth:`recenter_` fixes the gauge (mean ``rho`` = 0) and clips ``rho``.
    """

    def __init__(self, num_positions: int, init: float | torch.Tensor = 1.0):
        super().__init__()
        self.num_positions = check_count("num_positions", num_positions)
        w0 = torch.as_tensor(init, dtype=torch.float32)
        if w0.dim() == 0:
            w0 = w0.expand(num_positions).clone()
        w0 = check_exponents(w0, "init")
        if w0.numel() != num_positions:
            raise ValueError(f"init must have {num_positions} entries, got {w0.numel()}")
        self.rho = nn.Parameter(torch.log(w0))

    @property
    def exponents(self) -> torch.Tensor:
        return torch.exp(self.rho)

    @torch.no_grad()
    def recenter_(self, clip: float = RHO_CLIP) -> None:
        """Fix the scale gauge (mean rho = 0) and keep rho in [-clip, clip]; the order is unchanged."""
        self.rho.sub_(self.rho.mean()).clamp_(-clip, clip)


SCHEDULES = ("linear", "cosine", "polynomial", "learned")


def make_schedule(name: str, num_positions: int, **kwargs) -> Schedule:
    """Build a schedule by name: ``linear``, ``cosine``, ``polynomial`` (``w=``) or ``learned`` (``init=``)."""
    if name == "linear":
        return LinearSchedule(num_positions)
    if name == "cosine":
        return CosineSchedule(num_positions)
    if name == "polynomial":
        return PolynomialSchedule(kwargs.get("w", 1.0), num_positions)
    if name == "learned":
        return LearnedPolynomialSchedule(num_positions, kwargs.get("init", 1.0))
    raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
