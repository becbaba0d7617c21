"""The backbone: Monte Carlo estimators agree with the exact enumeration oracle within their s.e."""

import math

import pytest
import torch

from core.elbo import (
    discrete_nelbo,
    exact_nelbo,
    heldout_nelbo,
    nelbo,
    objective,
    order_nll,
)
from core.orders import all_orders, order_log_prob
from core.schedules import CosineSchedule, LearnedPolynomialSchedule, LinearSchedule
from core.toys import JointDenoiser, RandomDenoiser

Z = 4.5  # |estimate - exact| < Z * s.e.: a false alarm is ~1e-5 per check, and seeds are fixed


def _mc(estimator, denoiser, x, schedule, n, seed):
    with torch.no_grad():
        f = estimator(denoiser, x.expand(n, -1), schedule, torch.Generator().manual_seed(seed))
    return float(f.mean()), float(f.std() / math.sqrt(n))


def test_exact_nelbo_is_the_probability_weighted_order_nll():
    d = RandomDenoiser(4, 3, seed=1)
    x = torch.tensor([[0, 2, 1, 1], [2, 2, 0, 1]])
    w = torch.tensor([2.0, 0.3, 1.0, 5.0])
    perms = all_orders(4)
    p = order_log_prob(w, perms).exp()
    brute = torch.stack([(p * order_nll(d, xi.expand(24, -1), perms)).sum() for xi in x])
    assert torch.allclose(exact_nelbo(d, x, LearnedPolynomialSchedule(4, w)), brute, rtol=1e-5)


def test_order_nll_along_one_order_by_hand():
    d = RandomDenoiser(3, 2, seed=2)
    x = torch.tensor([[1, 0, 1]])
    M = 2

    def nll(z, l):
        return -torch.log_softmax(d(torch.tensor([z])), -1)[0, l, x[0, l]]

    by_hand = nll([M, M, M], 2) + nll([M, M, 1], 0) + nll([1, M, 1], 1)
    assert torch.allclose(order_nll(d, x, torch.tensor([2, 0, 1])), by_hand[None], atol=1e-5)


@pytest.mark.parametrize("w", [[2.0, 0.3, 1.0, 5.0], [20.0, 0.05, 1.0, 3.0], [1.0, 1.0, 1.0, 1.0]])
@pytest.mark.parametrize("estimator", [nelbo, discrete_nelbo])
def test_monte_carlo_nelbo_matches_exact(w, estimator):
    schedule = LearnedPolynomialSchedule(4, torch.tensor(w))
    for seed, d in enumerate([RandomDenoiser(4, 3, seed=0), JointDenoiser(4, 2, seed=1)]):
        x = torch.tensor([[1, 0, 1, 1]])
        exact = float(exact_nelbo(d, x, schedule).detach())
        mean, se = _mc(estimator, d, x, schedule, 100_000, seed)
        assert abs(mean - exact) < Z * se, (mean, se, exact)


@pytest.mark.parametrize("scale", [0.02, 1.0, 50.0])
@pytest.mark.parametrize("estimator", [nelbo, discrete_nelbo])
def test_training_estimators_are_scale_invariant(scale, estimator):
    """Only ratios of w matter; both estimators keep that in expectation at every scale."""
    d, x = RandomDenoiser(4, 3, seed=0), torch.tensor([[2, 0, 1, 1]])
    w = torch.tensor([2.0, 0.3, 1.0, 5.0])
    exact = float(exact_nelbo(d, x, LearnedPolynomialSchedule(4, w)).detach())
    schedule = LearnedPolynomialSchedule(4, scale * w)
    assert math.isclose(float(exact_nelbo(d, x, schedule).detach()), exact, rel_tol=1e-5)
    mean, se = _mc(estimator, d, x, schedule, 100_000, seed=7)
    assert abs(mean - exact) < Z * se, (mean, se, exact)


def test_floored_time_estimator_is_the_trap():
    """With t >= 1e-3 and small w most of the loss sits below the floor and is silently dropped."""
    d, x = RandomDenoiser(4, 3, seed=0), torch.tensor([[2, 0, 1, 1]])
    schedule = LearnedPolynomialSchedule(4, 0.02 * torch.tensor([2.0, 0.3, 1.0, 5.0]))
    exact = float(exact_nelbo(d, x, schedule).detach())
    with torch.no_grad():
        f = nelbo(d, x.expand(50_000, -1), schedule, torch.Generator().manual_seed(0), t_min=1e-3)
    mean, se = float(f.mean()), float(f.std() / math.sqrt(len(f)))
    assert mean < 0.5 * exact and exact - mean > 20 * se


def test_shared_schedules_give_the_same_nelbo():
    """Schedule invariance: linear and cosine are both the uniform average over orders."""
    d, x = RandomDenoiser(4, 3, seed=3), torch.tensor([[0, 1, 2, 0]])
    uniform = float(exact_nelbo(d, x, LearnedPolynomialSchedule(4, 1.0)).detach())
    for schedule in [LinearSchedule(4), CosineSchedule(4)]:
        assert math.isclose(float(exact_nelbo(d, x, schedule).detach()), uniform, rel_tol=1e-6)
        mean, se = _mc(nelbo, d, x, schedule, 100_000, seed=11)
        assert abs(mean - uniform) < Z * se, (type(schedule).__name__, mean, se, uniform)


def _gradient_chunks(d, x, w, estimator, K=2, chunks=30, batch=4000, score_term=True):
    """Per-chunk schedule gradients d(surrogate)/d(rho): mean and s.e. over independent chunks."""
    schedule = LearnedPolynomialSchedule(x.shape[1], w)
    g = torch.Generator().manual_seed(0)
    grads = []
    for _ in range(chunks):
        schedule.zero_grad()
        loss = objective(d, x.expand(batch, -1), schedule, K, estimator, g, score_term=score_term)
        loss.surrogate.backward()
        grads.append(schedule.rho.grad.clone())
    grads = torch.stack(grads)
    return grads.mean(0), grads.std(0) / math.sqrt(chunks), grads


def _exact_gradient(d, x, w):
    schedule = LearnedPolynomialSchedule(x.shape[1], w)
    exact_nelbo(d, x, schedule).sum().backward()
    return schedule.rho.grad


@pytest.mark.parametrize("estimator", ["discrete", "continuous"])
def test_rloo_schedule_gradient_is_unbiased(estimator):
    d, x, w = RandomDenoiser(3, 3, seed=4), torch.tensor([[2, 0, 1]]), torch.tensor([2.0, 0.5, 1.0])
    exact = _exact_gradient(d, x, w)
    assert exact.abs().max() > 0.05  # a real gradient to match
    mean, se, _ = _gradient_chunks(d, x, w, estimator)
    assert ((mean - exact).abs() < Z * se + 1e-4).all(), (mean, se, exact)


@pytest.mark.parametrize("estimator", ["discrete", "continuous"])
def test_naive_autodiff_is_biased(estimator):
    """Without the score term the gradient misses how the mask depends on w: this is why it exists."""
    d, x, w = RandomDenoiser(3, 3, seed=4), torch.tensor([[2, 0, 1]]), torch.tensor([2.0, 0.5, 1.0])
    exact = _exact_gradient(d, x, w)
    mean, se, _ = _gradient_chunks(d, x, w, estimator, score_term=False)
    assert ((mean - exact).abs() > 10 * se).any(), (mean, se, exact)


@pytest.mark.parametrize("estimator", ["discrete", "continuous"])
def test_zero_gradient_at_equal_w_for_an_order_consistent_denoiser(estimator):
    """Equal w: by symmetry (sum_l dL/drho_l = 0) the true gradient vanishes when every order gives the
    same AR loss, as for exact conditionals of a joint distribution. RLOO finds 0, naive does not."""
    d, x, w = JointDenoiser(3, 2, seed=5), torch.tensor([[1, 0, 1]]), torch.ones(3)
    assert _exact_gradient(d, x, w).abs().max() < 1e-5
    mean, se, _ = _gradient_chunks(d, x, w, estimator)
    assert (mean.abs() < Z * se + 1e-4).all(), (mean, se)
    if estimator == "continuous":  # the discrete estimator's pathwise part is zero at equal w
        naive, naive_se, _ = _gradient_chunks(d, x, w, estimator, score_term=False)
        assert (naive.abs() > 10 * naive_se).all(), (naive, naive_se)


def test_gradient_sums_to_zero_over_rho():
    """sum_l w_l dL/dw_l = 0 (only ratios matter): exact, per draw for discrete, in mean for continuous."""
    d, x, w = RandomDenoiser(3, 3, seed=4), torch.tensor([[2, 0, 1]]), torch.tensor([2.0, 0.5, 1.0])
    assert abs(float(_exact_gradient(d, x, w).sum())) < 1e-5
    _, _, grads = _gradient_chunks(d, x, w, "discrete", chunks=5)
    assert grads.sum(1).abs().max() < 1e-4
    _, _, grads = _gradient_chunks(d, x, w, "continuous")
    total = grads.sum(1)
    assert abs(float(total.mean())) < Z * float(total.std()) / math.sqrt(len(total))


def test_objective_reports_nelbo_without_score_term():
    d, x = RandomDenoiser(3, 3, seed=4), torch.tensor([[2, 0, 1]]).expand(64, -1)
    schedule = LearnedPolynomialSchedule(3, torch.tensor([2.0, 0.5, 1.0]))
    parts = objective(d, x, schedule, K=4, generator=torch.Generator().manual_seed(0))
    assert parts.nelbo.shape == (64,) and not parts.nelbo.requires_grad
    assert parts.surrogate.requires_grad
    fixed = objective(d, x, LinearSchedule(3), K=1, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(fixed.surrogate, fixed.nelbo.mean())


def test_heldout_nelbo_matches_exact():
    d = RandomDenoiser(4, 3, seed=6)
    x = torch.randint(0, 3, (200, 4), generator=torch.Generator().manual_seed(1))
    schedule = LearnedPolynomialSchedule(4, torch.tensor([3.0, 0.5, 1.0, 2.0]))
    exact = float(exact_nelbo(d, x, schedule).detach().mean())
    est = heldout_nelbo(d, x, schedule, n_orders=64, generator=torch.Generator().manual_seed(2))
    assert 0 < est.stderr and abs(est.value - exact) < Z * est.stderr


def test_bad_arguments():
    d, schedule = RandomDenoiser(3, 3), LinearSchedule(3)
    with pytest.raises(ValueError, match="x has 4 positions"):
        nelbo(d, torch.zeros(2, 4, dtype=torch.long), schedule)
    with pytest.raises(ValueError, match="x must be a LongTensor"):
        nelbo(d, torch.zeros(2, 3), schedule)
    with pytest.raises(ValueError, match="estimator must be"):
        objective(d, torch.zeros(2, 3, dtype=torch.long), schedule, estimator="exact")
    with pytest.raises(ValueError, match="K must be"):
        objective(d, torch.zeros(2, 3, dtype=torch.long), LearnedPolynomialSchedule(3), K=1)
    with pytest.raises(ValueError, match="t_min"):
        nelbo(d, torch.zeros(2, 3, dtype=torch.long), schedule, t_min=1.5)
    with pytest.raises(ValueError, match="L <= 6"):
        exact_nelbo(RandomDenoiser(7, 2), torch.zeros(1, 7, dtype=torch.long), LinearSchedule(7))
