"""Honest statistics: per-sequence estimators are unbiased per sequence, and standard errors are clustered."""

import math

import torch

from core.elbo import exact_nelbo, heldout_nelbo, mixture_components, nelbo
from core.schedules import LearnedPolynomialSchedule
from core.toys import JointDenoiser, RandomDenoiser

Z = 4.5  # as in test_elbo.py: a false alarm is ~1e-5 per check, and seeds are fixed


def test_every_row_takes_each_time_component_half_the_time():
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([mixture_components(5, g) for _ in range(20_000)]).float()  # [draws, rows]
    assert torch.all((draws.mean(0) - 0.5).abs() < Z * 0.5 / math.sqrt(20_000))
    assert torch.all(draws[:, :4].sum(1) == 2)  # each pair is balanced


def test_continuous_nelbo_is_unbiased_for_every_row_and_for_a_batch_of_one():
    """The time mixture used to alternate by row, so row 0 always drew t ~ U(0, 1): a batch of one was
    biased (30.5 against an exact 21.0 on a case like this one)."""
    d = RandomDenoiser(4, 3, seed=0)
    schedule = LearnedPolynomialSchedule(4, torch.tensor([20.0, 0.05, 1.0, 3.0]))
    x = torch.tensor([[1, 0, 1, 1]])
    exact = float(exact_nelbo(d, x, schedule).detach())
    with torch.no_grad():
        f = nelbo(d, x.expand(200_000, -1), schedule, torch.Generator().manual_seed(1)).view(-1, 2)
        single = torch.cat([nelbo(d, x, schedule, torch.Generator().manual_seed(s)) for s in range(3000)])
    for values in (f[:, 0], f[:, 1], single):  # even rows, odd rows, one sequence per call
        se = float(values.std() / math.sqrt(values.numel()))
        assert abs(float(values.mean()) - exact) < Z * se, (float(values.mean()), se, exact)


def test_heldout_standard_error_is_the_cluster_one():
    """With exact conditionals every order of a sequence has the same AR loss, so the orders of one
    sequence add no information: the reported s.e. must match the spread of the estimate over resampled
    data, which treating B x n_orders values as independent understates by sqrt(n_orders) = 2."""
    d = JointDenoiser(4, 2, seed=1)
    schedule = LearnedPolynomialSchedule(4, torch.tensor([2.0, 0.5, 1.0, 1.0]))
    g = torch.Generator().manual_seed(2)
    values, errors = [], []
    for _ in range(300):
        x = torch.randint(2, (64, 4), generator=g)
        est = heldout_nelbo(d, x, schedule, 4, g)
        values.append(est.value)
        errors.append(est.stderr)
    spread = float(torch.tensor(values).std())
    mean_error = sum(errors) / len(errors)
    assert abs(mean_error / spread - 1) < 0.15, (mean_error, spread)
