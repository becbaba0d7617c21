"""Sudoku: generation (valid, unique, minimal, seeded), the solver, validity and conflicts, the task, and
the conditioned NELBO (givens revealed, never scored) against an independent enumeration oracle."""

import itertools
import math

import pytest
import torch

from core import tasks
from core.meta import DataMeta
from core import sudoku as sd
from core.elbo import discrete_nelbo, exact_nelbo, heldout_nelbo, nelbo, objective, order_nll, token_nll
from core.decoding import sample, teacher_forced
from core.schedules import LearnedPolynomialSchedule
from core.toys import RandomDenoiser

Z = 4.5  # |estimate - exact| < Z * s.e., as in test_elbo.py; seeds are fixed


# --- generation and the solver -------------------------------------------------------------------


def test_an_empty_4x4_grid_has_288_completions():
    assert sd.count_solutions(sd.geometry(4), [0] * 16, limit=1000) == 288


@pytest.mark.parametrize("size, count", [(4, 30), (6, 8)])
def test_puzzles_are_valid_unique_and_minimal(size, count):
    g = sd.geometry(size)
    x, given = sd.generate(g, count, seed=3, split="train")
    assert x.shape == given.shape == (count, size * size) and sd.valid_grids(g, x).all()
    for row, mask in zip(x.tolist(), given.tolist()):
        puzzle = [v + 1 if m else 0 for v, m in zip(row, mask)]
        assert sd.count_solutions(g, puzzle) == 1
        assert sd.solve(g, puzzle) == [v + 1 for v in row]
        for cell in (c for c, m in enumerate(mask) if m):  # minimal: no given can go
            weaker = list(puzzle)
            weaker[cell] = 0
            assert sd.count_solutions(g, weaker) == 2


def test_generation_is_seeded_and_splits_are_independent_streams():
    g = sd.geometry(4)
    a, ga = sd.generate(g, 5, seed=1, split="heldout")
    b, gb = sd.generate(g, 9, seed=1, split="heldout")
    assert torch.equal(a, b[:5]) and torch.equal(ga, gb[:5])  # the first puzzles do not depend on the count
    c, _ = sd.generate(g, 5, seed=1, split="train")
    d, _ = sd.generate(g, 5, seed=2, split="heldout")
    assert not torch.equal(a, c) and not torch.equal(a, d)


def test_min_givens_stops_removing_early():
    g = sd.geometry(6)
    _, given = sd.generate(g, 4, seed=0, split="train", min_givens=20)
    assert (given.sum(1) == 20).all()


def test_validity_conflicts_and_solved():
    g = sd.geometry(4)
    x, given = sd.generate(g, 2, seed=0, split="train")
    bad = x.clone()
    bad[0, 0], bad[0, 1] = x[0, 1], x[0, 0]  # swapping two cells of a row breaks their columns
    assert sd.valid_grids(g, x).all() and not sd.valid_grids(g, bad)[0]
    assert not sd.conflicts(g, x).any()
    clash = sd.conflicts(g, bad)[0]
    assert clash[0] and clash[1]
    masked = torch.where(given, x, 4)
    assert not sd.conflicts(g, masked, mask_id=4).any()
    assert sd.solved(g, x, x, given).all()
    assert not sd.solved(g, (x + 1) % 4, x, given).any()  # a relabelled grid is valid but loses the givens
    assert sd.count_solutions(g, [1, 1] + [0] * 14) == 0 and sd.solve(g, [1, 1] + [0] * 14) is None


def test_the_task_round_trips_and_checks_its_samples():
    ds = tasks.make_task("sudoku", size=4, num_train=6, num_heldout=4)
    assert ds.train_given.shape == ds.train.shape and ds.heldout_given.dtype == torch.bool
    meta = DataMeta.from_dict(ds.meta.to_dict())
    again = tasks.make_task(meta.name, **meta.params)
    assert torch.equal(again.heldout, ds.heldout) and torch.equal(again.heldout_given, ds.heldout_given)
    assert tasks.check_samples(meta, ds.heldout).all()
    assert not tasks.check_samples(meta, torch.zeros(1, 16, dtype=torch.long)).any()
    text = tasks.format_sample(meta, torch.where(ds.heldout_given[0], ds.heldout[0], 4))
    assert text.count("\n") == 4 and "." in text and "|" in text
    with pytest.raises(ValueError, match="size"):
        tasks.make_task("sudoku", size=5)
    with pytest.raises(ValueError, match="num_train"):
        tasks.make_task("sudoku", num_train=10**9)


# --- the conditioned NELBO -------------------------------------------------------------------------

W = torch.tensor([2.0, 0.4, 1.0, 3.0, 0.7])
X = torch.tensor([[1, 0, 2, 2, 1], [0, 2, 1, 0, 0], [2, 2, 0, 1, 1], [1, 1, 1, 0, 2], [0, 1, 2, 0, 1]])
GIVEN = torch.tensor([[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 1, 0],
                      [0, 0, 1, 0, 0]]).bool()


def _free_order_oracle(d, x, given, w):
    """E over Plackett–Luce orders of the free positions (scores w restricted to them) of the AR loss with
    the givens revealed: enumerated order by order, one position at a time."""
    out = []
    for row, mask in zip(x, given):
        free = [l for l in range(len(row)) if not mask[l]]
        total = 0.0
        for order in itertools.permutations(free):
            p = math.prod(float(w[j] / w[list(order[k:])].sum()) for k, j in enumerate(order))
            z = torch.where(mask, row, d.mask_id).clone()
            loss = 0.0
            for j in order:
                loss += float(token_nll(d, z[None], row[None])[0, j])
                z[j] = row[j]
            total += p * loss
        out.append(total)
    return torch.tensor(out)


def test_exact_conditioned_nelbo_is_the_ar_loss_over_orders_of_the_free_positions():
    d, schedule = RandomDenoiser(5, 3, seed=1), LearnedPolynomialSchedule(5, W)
    oracle = _free_order_oracle(d, X, GIVEN, W)
    assert torch.allclose(exact_nelbo(d, X, schedule, given=GIVEN).detach(), oracle, rtol=1e-5)
    # no givens: the unconditioned value, unchanged
    assert torch.allclose(exact_nelbo(d, X, schedule, given=torch.zeros_like(GIVEN)).detach(),
                          exact_nelbo(d, X, schedule).detach())


@pytest.mark.parametrize("estimator", [discrete_nelbo, nelbo])
def test_monte_carlo_conditioned_nelbo_matches_the_oracle(estimator):
    d, schedule = RandomDenoiser(5, 3, seed=1), LearnedPolynomialSchedule(5, W)
    oracle = _free_order_oracle(d, X, GIVEN, W)
    n = 30_000  # five rows: each row meets both halves of the time mixture and every stratum
    with torch.no_grad():
        f = estimator(d, X.repeat(n, 1), schedule, torch.Generator().manual_seed(7), given=GIVEN.repeat(n, 1))
    f = f.view(n, 5)
    mean, se = f.mean(0), f.std(0) / math.sqrt(n)
    assert ((mean - oracle).abs() < Z * se).all(), (mean, se, oracle)


def test_no_givens_and_all_free_givens_agree_exactly():
    d, schedule = RandomDenoiser(5, 3, seed=2), LearnedPolynomialSchedule(5, W)
    x, free = X.repeat(40, 1), torch.zeros(200, 5, dtype=torch.bool)
    for fn in (discrete_nelbo, nelbo):
        a = fn(d, x, schedule, torch.Generator().manual_seed(0)).detach()
        b = fn(d, x, schedule, torch.Generator().manual_seed(0), given=free).detach()
        assert torch.allclose(a, b, atol=1e-5)


def test_conditioned_schedule_gradient_is_unbiased():
    d, w = RandomDenoiser(4, 3, seed=4), torch.tensor([2.0, 0.5, 1.0, 3.0])
    x, given = torch.tensor([[2, 0, 1, 1]]), torch.tensor([[False, True, False, False]])
    exact_schedule = LearnedPolynomialSchedule(4, w)
    exact_nelbo(d, x, exact_schedule, given=given).sum().backward()
    exact = exact_schedule.rho.grad
    assert exact.abs().max() > 0.05 and abs(float(exact[1])) < 1e-6  # a given gets no gradient
    for estimator in ("discrete", "continuous"):
        schedule, g, grads = LearnedPolynomialSchedule(4, w), torch.Generator().manual_seed(0), []
        for _ in range(30):
            schedule.zero_grad()
            objective(d, x.expand(4000, -1), schedule, 2, estimator, g, given=given.expand(4000, -1)).surrogate.backward()
            grads.append(schedule.rho.grad.clone())
        grads = torch.stack(grads)
        mean, se = grads.mean(0), grads.std(0) / math.sqrt(len(grads))
        assert ((mean - exact).abs() < Z * se + 1e-4).all(), (estimator, mean, se, exact)


def test_order_nll_and_heldout_nelbo_with_givens():
    d, schedule = RandomDenoiser(5, 3, seed=1), LearnedPolynomialSchedule(5, W)
    order = torch.tensor([4, 0, 3, 1, 2])
    by_hand = []
    for row, mask in zip(X, GIVEN):
        z, total = torch.where(mask, row, 3).clone(), 0.0
        for j in (j for j in order.tolist() if not mask[j]):
            total += float(token_nll(d, z[None], row[None])[0, j])
            z[j] = row[j]
        by_hand.append(total)
    assert torch.allclose(order_nll(d, X, order, given=GIVEN), torch.tensor(by_hand), atol=1e-5)
    oracle = _free_order_oracle(d, X, GIVEN, W).mean()
    est = heldout_nelbo(d, X.repeat(2000, 1), schedule, 4, torch.Generator().manual_seed(3),
                        given=GIVEN.repeat(2000, 1))
    assert abs(est.value - float(oracle)) < Z * est.stderr


# --- decoding with givens --------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["random", "learned", "margin", "entropy", "confidence", "hybrid:2",
                                    "ancestral"])
def test_samplers_keep_the_givens_and_decode_only_the_free_cells(policy):
    ds = tasks.make_task("sudoku", size=4, num_train=4, num_heldout=6)
    x, given = ds.heldout, ds.heldout_given
    d, schedule = RandomDenoiser(16, 4, seed=0), LearnedPolynomialSchedule(16, torch.rand(16) + 0.5)
    puzzle = torch.where(given, x, 4)
    samples, traj = sample(d, ds.meta, policy, 6, torch.Generator().manual_seed(0), schedule=schedule,
                           puzzle=puzzle)
    assert ((samples == x) | ~given).all() and torch.equal(traj.given, given)
    assert torch.equal(traj.state_at(0), puzzle) and (traj.log_prob[given] == 0).all()
    if policy == "ancestral":  # several cells per step: the trajectory's NLL is not an order NLL
        return
    assert torch.equal(traj.calls(), (~given).sum(1))
    forced = teacher_forced(d, x, ds.meta, policy, torch.Generator().manual_seed(0), schedule=schedule,
                            given=given)
    assert torch.allclose(forced.nll(), order_nll(d, x, forced.orders, given=given), atol=1e-4)


# --- solve rates -----------------------------------------------------------------------------------


class EliminationDenoiser:
    """Rules, not learning: a value seen among a cell's revealed peers gets logit -10, the others 0."""

    def __init__(self, g: sd.Geometry):
        self.g, self.mask_id, self.vocab_size = g, g.n, g.n
        units = g.units()
        self.peers = torch.zeros(g.cells, g.cells, dtype=torch.bool)
        for unit in units:
            self.peers[unit[:, None], unit[None, :]] = True
        self.peers.fill_diagonal_(False)

    def __call__(self, z):
        onehot = torch.nn.functional.one_hot(z, self.g.n + 1)[..., : self.g.n].float()  # [N, L, n]
        seen = torch.einsum("lm,nmv->nlv", self.peers.float(), onehot) > 0
        return torch.where(seen, -10.0, 0.0)


def test_wilson_interval_known_values():
    from core.quality import wilson_interval

    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and math.isclose(hi, 0.27753, abs_tol=1e-4)
    lo, hi = wilson_interval(5, 10)
    assert math.isclose(lo, 0.23659, abs_tol=1e-4) and math.isclose(hi, 0.76341, abs_tol=1e-4)
    assert wilson_interval(10, 10)[1] == 1.0


def test_adaptive_decoding_solves_what_a_fixed_order_cannot():
    from core.quality import solve_rates

    ds = tasks.make_task("sudoku", size=6, num_train=1, num_heldout=60)
    d, schedule = EliminationDenoiser(sd.geometry(6)), LearnedPolynomialSchedule(36)
    scores = solve_rates((d, schedule, ds.meta), ds.heldout, ds.heldout_given,
                         ["random", "left_to_right", "margin", "entropy", "hybrid:8"])
    # naked singles alone (what this denoiser knows) solve ~80% of minimal 6x6 puzzles when picked first
    assert min(scores[p].rate for p in ("margin", "entropy", "hybrid:8")) > 0.7
    assert scores["random"].rate < 0.1 and scores["random"].ci[1] < scores["margin"].ci[0]
    assert math.isclose(scores["margin"].calls, float((~ds.heldout_given).sum(1).float().mean()))


# --- training on puzzles and the comparison CLI ------------------------------------------------------

TINY_SUDOKU = dict(task="sudoku", task_params={"size": 4, "num_train": 64, "num_heldout": 16}, steps=10,
                   batch_size=8, d_model=16, n_layers=1, eval_every=4, eval_size=16, warmup=2, schedule_delay=3,
                   seed=1)


def test_a_run_on_puzzles_resumes_bit_identically(tmp_path):
    from core.train import Trainer, TrainConfig

    whole = Trainer(TrainConfig(**TINY_SUDOKU))
    whole.run()
    first = Trainer(TrainConfig(**TINY_SUDOKU))
    for _ in first.events():
        if first.step_count == 6:
            break
    first.save(tmp_path / "part", evaluate=False)
    second = Trainer(TrainConfig(**TINY_SUDOKU))
    second.resume_from(tmp_path / "part")
    second.run()
    second.save(tmp_path / "part")
    a, b = whole.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [h["heldout_nelbo"] for h in second.history] == [h["heldout_nelbo"] for h in whole.history]
    # the held-out NELBO scores the free cells only: at most log(4) nats per free cell
    free = (~whole.dataset.heldout_given).sum(1).float().mean()
    assert 0 < whole.history[0]["heldout_nelbo"] < 1.5 * math.log(4) * float(free)


def test_compare_cli_solves_held_out_puzzles(tmp_path, capsys):
    import json

    from core import compare
    from core.train import Trainer, TrainConfig

    trainer = Trainer(TrainConfig(**{**TINY_SUDOKU, "steps": 2, "schedule": "linear"}))
    trainer.run()
    trainer.save(tmp_path / "ckpt")
    compare.main(["--checkpoint", str(tmp_path / "ckpt"), "--policies", "random,margin,hybrid:2", "--puzzles",
                  "20", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["random", "margin", "hybrid:2"]
    for score in out.values():
        assert score["puzzles"] == 20 and score["solve_ci"][0] <= score["solve_rate"] <= score["solve_ci"][1]
        assert 0 < score["calls"] <= 16
    compare.main(["--checkpoint", str(tmp_path / "ckpt"), "--policies", "random,entropy", "--puzzles", "10"])
    assert "solve rate" in capsys.readouterr().out
