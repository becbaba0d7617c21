import math

import pytest
import torch

from core.orders import (
    all_orders,
    empirical_precedence,
    empirical_rank,
    expected_kendall_tau,
    expected_rank,
    group_precedence,
    kendall_tau,
    max_order_entropy,
    most_likely_order,
    order_entropy,
    order_log_prob,
    precedence_matrix,
    rank_std,
    sample_orders,
    sample_schedule_orders,
)
from core.schedules import CosineSchedule, LearnedPolynomialSchedule, LinearSchedule

W = torch.tensor([2.0, 0.3, 1.0, 5.0])
N = 100_000


def _frequencies(orders, L):
    perms = all_orders(L)
    index = {tuple(p.tolist()): i for i, p in enumerate(perms)}
    counts = torch.zeros(len(perms))
    for o in orders.tolist():
        counts[index[tuple(o)]] += 1
    return counts / len(orders), perms


def _binomial_ok(freq, p, n, z=4.5):
    return ((freq - p).abs() <= z * torch.sqrt(p * (1 - p) / n) + 1e-6).all()


def test_order_probabilities_sum_to_one_and_match_sampling():
    orders = sample_orders(W, N, torch.Generator().manual_seed(0))
    freq, perms = _frequencies(orders, 4)
    p = order_log_prob(W, perms).exp()
    assert math.isclose(float(p.sum()), 1.0, rel_tol=1e-5)
    assert _binomial_ok(freq, p, N)


def test_precedence_matrix_matches_pair_frequencies():
    orders = sample_orders(W, N, torch.Generator().manual_seed(1))
    emp = empirical_precedence(orders)
    exact = precedence_matrix(W)
    off = ~torch.eye(4, dtype=torch.bool)
    assert _binomial_ok(emp[off], exact[off], N)
    assert torch.allclose(exact + exact.T + torch.eye(4), torch.ones(4, 4))


def test_expected_rank_and_spread_match_sampling():
    orders = sample_orders(W, N, torch.Generator().manual_seed(2))
    mean, std = empirical_rank(orders)
    # s.e. of a mean of ranks is std / sqrt(N); of a std roughly std / sqrt(2N).
    assert ((mean - expected_rank(W)).abs() < 4.5 * std / math.sqrt(N)).all()
    assert ((std - rank_std(W)).abs() < 4.5 * std / math.sqrt(2 * N) + 1e-3).all()
    assert math.isclose(float(expected_rank(W).sum()), 1 + 2 + 3 + 4, rel_tol=1e-6)


def test_most_likely_order_is_the_mode():
    perms = all_orders(4)
    best = perms[order_log_prob(W, perms).argmax()]
    assert most_likely_order(W).tolist() == best.tolist() == [3, 0, 2, 1]


def test_scaling_w_changes_nothing():
    perms = all_orders(4)
    assert torch.allclose(order_log_prob(W, perms), order_log_prob(50 * W, perms), atol=1e-5)
    assert torch.allclose(precedence_matrix(W), precedence_matrix(0.02 * W))


def test_entropy_exact_and_monte_carlo():
    assert math.isclose(order_entropy(torch.ones(5)).value, max_order_entropy(5), rel_tol=1e-6)
    exact = order_entropy(W)
    assert exact.stderr == 0 and exact.value < max_order_entropy(4)
    mc = order_entropy(W, n_samples=50_000, generator=torch.Generator().manual_seed(3), exact=False)
    assert 0 < mc.stderr < 0.02
    assert abs(mc.value - exact.value) < 4.5 * mc.stderr


def test_shared_schedules_give_uniform_orders():
    for schedule in [LinearSchedule(4), CosineSchedule(4)]:
        orders = sample_schedule_orders(schedule, N, torch.Generator().manual_seed(4))
        freq, _ = _frequencies(orders, 4)
        assert _binomial_ok(freq, torch.full((24,), 1 / 24), N)


def test_learned_schedule_orders_follow_its_exponents():
    schedule = LearnedPolynomialSchedule(4, W)
    orders = sample_schedule_orders(schedule, N, torch.Generator().manual_seed(5))
    freq, perms = _frequencies(orders, 4)
    assert _binomial_ok(freq, order_log_prob(W, perms).exp(), N)


def test_kendall_tau():
    a = [0, 1, 2, 3]
    assert kendall_tau(a, a) == 1.0
    assert kendall_tau(a, a[::-1]) == -1.0
    assert kendall_tau(a, [1, 0, 2, 3]) == pytest.approx(1 - 2 * 1 / 6)
    with pytest.raises(ValueError, match="order_a and order_b"):
        kendall_tau([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="permutations"):
        kendall_tau([0, 0, 1], [0, 1, 2])


def test_group_precedence():
    p = precedence_matrix(torch.tensor([10.0, 10.0, 1.0, 1.0]))
    assert group_precedence(p, [[0, 1], [2, 3]]) == pytest.approx(10 / 11)
    assert group_precedence(p, [[2, 3], [0, 1]]) == pytest.approx(1 / 11)


def test_bad_arguments():
    with pytest.raises(ValueError, match="w must be positive"):
        sample_orders(torch.tensor([1.0, -1.0]), 3)
    with pytest.raises(ValueError, match="n must be"):
        sample_orders(W, 0)
    with pytest.raises(ValueError, match="orders must have shape"):
        order_log_prob(W, torch.zeros(2, 3, dtype=torch.long))


def test_expected_kendall_tau_matches_sampling():
    orders = sample_orders(W, N, torch.Generator().manual_seed(6))
    ref = [3, 0, 2, 1]
    taus = torch.tensor([kendall_tau(o, ref) for o in orders[:4000].tolist()])
    exact = expected_kendall_tau(precedence_matrix(W), ref)
    assert abs(float(taus.mean()) - exact) < 4.5 * float(taus.std()) / math.sqrt(len(taus))
    assert expected_kendall_tau(precedence_matrix(torch.ones(4)), ref) == 0.0
