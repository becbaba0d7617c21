import math

import pytest
import torch

from core.schedules import (
    CosineSchedule,
    LearnedPolynomialSchedule,
    LinearSchedule,
    PolynomialSchedule,
    make_schedule,
)

T = torch.tensor([0.0, 1e-4, 0.1, 0.5, 0.9, 1.0])


def test_alpha_boundaries_and_monotone():
    for s in [LinearSchedule(3), CosineSchedule(3), PolynomialSchedule(2.0, 3),
              LearnedPolynomialSchedule(3, torch.tensor([0.2, 1.0, 5.0]))]:
        a = s.alpha(T)
        assert a.shape == (6, 3)
        assert torch.allclose(a[0], torch.ones(3)) and torch.allclose(a[-1], torch.zeros(3), atol=1e-6)
        assert (a[1:] <= a[:-1] + 1e-7).all()


@pytest.mark.parametrize("s", [LinearSchedule(2), CosineSchedule(2), PolynomialSchedule(0.3, 2),
                               LearnedPolynomialSchedule(2, torch.tensor([0.5, 3.0]))])
def test_weight_is_minus_dalpha_over_one_minus_alpha(s):
    t = torch.tensor([0.05, 0.3, 0.7], requires_grad=True)
    alpha = s.alpha(t)
    d_alpha = torch.stack([torch.autograd.grad(alpha[:, l].sum(), t, retain_graph=True)[0]
                           for l in range(2)], 1)  # [B, L]
    expected = -d_alpha / (1 - alpha.detach())
    assert torch.allclose(s.weight(t.detach()), expected, rtol=1e-3)


def test_polynomial_closed_forms():
    w = torch.tensor([0.5, 2.0])
    s = LearnedPolynomialSchedule(2, w)
    t = torch.tensor([0.25])
    assert torch.allclose(s.alpha(t), 1 - t[:, None] ** w)
    assert torch.allclose(s.weight(t), w / 0.25)
    assert torch.allclose(s.exponents, w)


@pytest.mark.parametrize("s", [LinearSchedule(3), CosineSchedule(3),
                               LearnedPolynomialSchedule(3, torch.tensor([0.3, 1.0, 4.0]))])
def test_masking_times_have_cdf_one_minus_alpha(s):
    # P(tau_l <= t) = 1 - alpha_l(t): compare the empirical CDF at a few t (binomial s.e.).
    n = 40000
    tau = s.sample_masking_times(n, torch.Generator().manual_seed(0))
    for t in [0.2, 0.5, 0.8]:
        p = 1 - s.alpha(torch.tensor([t]))[0]
        freq = (tau <= t).float().mean(0)
        assert ((freq - p).abs() < 4.5 * torch.sqrt(p * (1 - p) / n) + 1e-4).all()


def test_sample_mask_rate_and_log_q():
    s = LearnedPolynomialSchedule(3, torch.tensor([0.5, 1.0, 2.0]))
    n = 40000
    t = torch.full((n,), 0.4)
    mask = s.sample_mask(t, torch.Generator().manual_seed(1))
    p = 1 - s.alpha(t[:1])[0]
    assert ((mask.float().mean(0) - p).abs() < 4.5 * torch.sqrt(p * (1 - p) / n)).all()
    # log q of a pattern = sum of per-position Bernoulli log-probabilities.
    m = torch.tensor([[True, False, True]])
    expected = torch.log(p[0]) + torch.log(1 - p[1]) + torch.log(p[2])
    assert torch.allclose(s.log_q(m, t[:1]), expected[None], atol=1e-5)


def test_sample_mask_is_reproducible_with_generator():
    s = LinearSchedule(5)
    t = torch.full((4,), 0.5)
    a = s.sample_mask(t, torch.Generator().manual_seed(3))
    b = s.sample_mask(t, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_recenter_keeps_ratios_and_fixes_gauge():
    s = LearnedPolynomialSchedule(3, torch.tensor([2.0, 4.0, 8.0]))
    ratio = s.exponents[1:] / s.exponents[:-1]
    s.recenter_()
    assert abs(float(s.rho.detach().mean())) < 1e-6
    assert torch.allclose(s.exponents[1:] / s.exponents[:-1], ratio)
    s2 = LearnedPolynomialSchedule(2, torch.tensor([math.exp(-10), math.exp(10)]))
    s2.recenter_(clip=3.0)
    assert float(s2.rho.detach().abs().max()) <= 3.0


def test_make_schedule():
    assert isinstance(make_schedule("linear", 4), LinearSchedule)
    assert isinstance(make_schedule("cosine", 4), CosineSchedule)
    assert make_schedule("polynomial", 4, w=3.0).exponents.tolist() == [3.0] * 4
    learned = make_schedule("learned", 4, init=torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert torch.allclose(learned.exponents, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="unknown schedule 'sqrt'"):
        make_schedule("sqrt", 4)


def test_bad_arguments_name_the_argument():
    s = LinearSchedule(2)
    with pytest.raises(ValueError, match="init"):
        LearnedPolynomialSchedule(2, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="init"):
        LearnedPolynomialSchedule(3, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="w must be"):
        PolynomialSchedule(-2.0, 3)
    with pytest.raises(ValueError, match="num_positions"):
        LinearSchedule(0)
    with pytest.raises(ValueError, match=r"^t must lie in \[0, 1\]"):
        s.alpha(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="t must have shape"):
        s.weight(torch.ones(2, 2) * 0.5)
    with pytest.raises(ValueError, match="u must have shape"):
        s.masking_times(torch.full((4, 3), 0.5))
    with pytest.raises(ValueError, match="mask must have shape"):
        s.log_q(torch.ones(1, 3, dtype=torch.bool), torch.tensor([0.5]))
