"""Samplers: every policy decodes each position once, trajectories replay, orders follow the math."""

import math

import pytest
import torch

from core.elbo import order_nll
from core.meta import DataMeta
from core.tasks import check_samples, make_task
from core.model import Denoiser, ModelConfig
from core.orders import all_orders, order_log_prob
from core.decoding import POLICIES, Policy, confidence, continue_from, policy_orders, sample, teacher_forced
from core.schedules import LearnedPolynomialSchedule, LinearSchedule
from core.toys import RandomDenoiser, toy_meta

Z = 4.5  # binomial checks: |freq - p| < Z * s.e.; seeds are fixed
W = torch.tensor([2.0, 0.3, 1.0, 5.0])


class IndependentDenoiser:
    """Fixed logits per position, whatever the context: every order has the same conditionals."""

    def __init__(self, L: int, V: int, seed: int = 0):
        self.logits = 1.5 * torch.randn(L, V, generator=torch.Generator().manual_seed(seed))
        self.mask_id = self.vocab_size = V

    def __call__(self, z):
        return self.logits.expand(z.shape[0], -1, -1)


class OneHotDenoiser:
    """Probability one on a fixed target sequence (logits 0 there, -inf elsewhere)."""

    def __init__(self, target, V: int):
        self.target = torch.tensor(target)
        self.mask_id = self.vocab_size = V

    def __call__(self, z):
        one_hot = torch.nn.functional.one_hot(self.target, self.vocab_size).bool()  # [L, V]
        logits = torch.where(one_hot, 0.0, -math.inf)
        return logits.expand(z.shape[0], -1, -1)


class PeakDenoiser:
    """Position l puts logit ``s_l`` on token 0 (V = 3); once position ``trigger`` is revealed,
    position ``boosted`` gets logit 10. Confidences are known by hand."""

    def __init__(self, strengths, trigger=None, boosted=None):
        self.s = torch.tensor(strengths)
        self.trigger, self.boosted = trigger, boosted
        self.mask_id = self.vocab_size = 3

    def __call__(self, z):
        s = self.s.expand(z.shape[0], -1).clone()  # [B, L]
        if self.trigger is not None:
            s[:, self.boosted] = torch.where(z[:, self.trigger] != self.mask_id, 10.0, s[:, self.boosted])
        zeros = torch.zeros_like(s)
        return torch.stack([s, zeros, zeros], -1)


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _all_policies(L):
    """(policy, options) pairs covering every policy, k > 1 and a fixed order."""
    schedule = LearnedPolynomialSchedule(L, torch.linspace(0.3, 3.0, L))
    learned = {"schedule": schedule}
    return [
        ("learned", learned), ("learned", {**learned, "k": 2}), ("random", {}), ("left_to_right", {}),
        ("confidence", {}), ("margin", {"k": 3}), ("ancestral", learned),
        ("ancestral", {**learned, "steps": 2}), (list(reversed(range(L))), {}),
    ]


def _frequencies(orders, L):
    index = {tuple(p): i for i, p in enumerate(all_orders(L).tolist())}
    counts = torch.zeros(math.factorial(L))
    for o in orders.tolist():
        counts[index[tuple(o)]] += 1
    return counts / len(orders)


def _binomial_ok(freq, p, n):
    return bool(((freq - p).abs() <= Z * torch.sqrt(p * (1 - p) / n) + 1e-6).all())


# --- every policy: a permutation, a faithful record, a replay --------------------------------------


@pytest.mark.parametrize("case", range(9))
def test_every_policy_reveals_each_position_once_and_replays(case):
    L, V, n = 5, 3, 64
    policy, options = _all_policies(L)[case]
    d = RandomDenoiser(L, V, seed=1)
    samples, traj = sample(d, toy_meta(L, d.vocab_size), policy, n, _g(case), **options)
    # a permutation, consistent with the step index of every position
    assert torch.equal(traj.orders.sort(1).values, torch.arange(L).expand(n, L))
    steps_in_order = traj.step_of.gather(1, traj.orders)  # [n, L]
    assert (steps_in_order.diff(dim=1) >= 0).all()
    assert ((traj.step_of >= 0) & (traj.step_of < traj.num_steps)).all()
    # replay
    assert (traj.state_at(0) == V).all()
    assert torch.equal(traj.state_at(traj.num_steps), samples)
    assert torch.equal(traj.tokens, samples) and (samples < V).all()
    for s in range(traj.num_steps):
        before, after = traj.state_at(s), traj.state_at(s + 1)
        revealed = traj.revealed_at(s)
        assert torch.equal(after != before, revealed)
        assert torch.equal(torch.where(revealed, before, after), before)


@pytest.mark.parametrize("case", [0, 2, 4, 6])
def test_recorded_probabilities_and_entropies_are_the_models_at_reveal_time(case):
    L, V = 5, 3
    policy, options = _all_policies(L)[case]
    d = RandomDenoiser(L, V, seed=2)
    _, traj = sample(d, toy_meta(L, d.vocab_size), policy, 16, _g(3), **options)
    for s in range(traj.num_steps):
        log_p = torch.log_softmax(d(traj.state_at(s)), -1)  # [n, L, V]
        now = traj.revealed_at(s)
        chosen = log_p.gather(2, traj.tokens[..., None]).squeeze(-1)
        entropy = -(log_p.exp() * log_p).sum(-1)
        assert torch.allclose(traj.log_prob[now], chosen[now], atol=1e-5)
        assert torch.allclose(traj.entropy[now], entropy[now], atol=1e-5)
    assert torch.allclose(traj.prob, traj.log_prob.exp())


def test_k_per_step_reveals_k_positions_per_step():
    _, traj = sample(RandomDenoiser(5, 3), toy_meta(5, 3), "random", 8, _g(), k=2)
    counts = [int(traj.revealed_at(s).sum(1).unique().item()) for s in range(traj.num_steps)]
    assert traj.num_steps == 3 and counts == [2, 2, 1]


def test_state_at_rejects_steps_out_of_range():
    _, traj = sample(RandomDenoiser(3, 2), toy_meta(3, 2), "random", 2, _g())
    for bad in (-1, 4, 1.0):
        with pytest.raises(ValueError, match="step must be an int"):
            traj.state_at(bad)


def test_same_seed_same_trajectory_and_another_seed_differs():
    L = 5
    d = RandomDenoiser(L, 3, seed=4)
    for policy, options in _all_policies(L):
        a = sample(d, toy_meta(L, d.vocab_size), policy, 32, _g(7), **options)[1]
        b = sample(d, toy_meta(L, d.vocab_size), policy, 32, _g(7), **options)[1]
        c = sample(d, toy_meta(L, d.vocab_size), policy, 32, _g(8), **options)[1]
        for field in ("orders", "step_of", "tokens", "log_prob", "entropy", "uniforms"):
            assert torch.equal(getattr(a, field), getattr(b, field)), (policy, field)
        assert not torch.equal(a.tokens, c.tokens)


# --- orders follow the schedule ------------------------------------------------------------------


def test_learned_order_frequencies_match_plackett_luce():
    n = 20_000
    _, traj = sample(IndependentDenoiser(4, 2), toy_meta(4, 2), "learned", n, _g(11),
                     schedule=LearnedPolynomialSchedule(4, W))
    p = order_log_prob(W, all_orders(4)).exp()
    assert _binomial_ok(_frequencies(traj.orders, 4), p, n)
    assert not _binomial_ok(_frequencies(traj.orders, 4), torch.full((24,), 1 / 24), n)


def test_ancestral_with_a_shared_schedule_gives_uniform_orders():
    n = 20_000
    _, traj = sample(IndependentDenoiser(4, 2), toy_meta(4, 2), "ancestral", n, _g(12), schedule=LinearSchedule(4))
    assert traj.num_steps == 4
    assert _binomial_ok(_frequencies(traj.orders, 4), torch.full((24,), 1 / 24), n)
    assert traj.revealed_at(0).sum(1).float().mean() > 0.5  # several positions share steps


def test_ancestral_with_a_learned_schedule_reveals_on_its_grid_and_in_its_order():
    n, T = 20_000, 3
    _, traj = sample(IndependentDenoiser(4, 2), toy_meta(4, 2), "ancestral", n, _g(13),
                     schedule=LearnedPolynomialSchedule(4, W), steps=T)
    # P(revealed at step i) = P(tau in (t_{i+1}, t_i]) = t_i^w - t_{i+1}^w, t_i = 1 - i/T
    t = 1 - torch.arange(T + 1) / T
    expected = (t[:-1, None] ** W[None] - t[1:, None] ** W[None])  # [T, L]
    freq = torch.stack([(traj.step_of == i).float().mean(0) for i in range(T)])
    assert _binomial_ok(freq, expected, n)
    # within-step order drawn from the conditioned masking times: the orders are exactly Plackett–Luce
    assert _binomial_ok(_frequencies(traj.orders, 4), order_log_prob(W, all_orders(4)).exp(), n)


def test_fixed_orders_and_the_reference_order():
    meta = make_task("pairs", n=3, num_train=8, num_heldout=8).meta
    d = RandomDenoiser(6, 2)
    _, traj = sample(d, meta, "reference", 4, _g())
    assert (traj.orders == torch.tensor(meta.reference_order)).all()
    _, traj = sample(d, meta, "left_to_right", 4, _g())
    assert (traj.orders == torch.arange(6)).all()
    _, traj = sample(d, toy_meta(6, d.vocab_size), "order:5-3-1-0-2-4", 4, _g())
    assert (traj.orders == torch.tensor([5, 3, 1, 0, 2, 4])).all()
    assert traj.policy == "order:5-3-1-0-2-4" and Policy.parse(traj.policy).order == (5, 3, 1, 0, 2, 4)


def test_a_policy_reads_every_spelling_and_writes_one_label():
    assert Policy.of("learned") == Policy.parse(" learned ") == Policy("learned")
    assert Policy.parse("3,0,2,1") == Policy.parse("3-0-2-1") == Policy.of([3, 0, 2, 1]) == Policy.of(
        torch.tensor([3, 0, 2, 1])) == Policy.of("order:3-0-2-1")
    assert Policy.of([3, 0, 2, 1]).label == "order:3-0-2-1" and Policy.of([3, 0, 2, 1]).fixed
    assert Policy.parse("hybrid:2.50").label == "hybrid:2.5" and Policy.of("hybrid:2.5").hybrid_beta == 2.5
    assert Policy.of("hybrid").label == "hybrid" and Policy.of("hybrid").hybrid_beta == 1.0
    assert [p for p in POLICIES if Policy.of(p).adaptive] == ["confidence", "margin", "entropy", "hybrid"]
    assert [p for p in POLICIES if Policy.of(p).fixed] == ["left_to_right", "reference"]
    for bad in ("hybrid:-1", "hybrid:x", "order:a-b", "best"):
        with pytest.raises(ValueError):
            Policy.parse(bad)


def test_bad_policies_are_refused_with_clear_messages():
    d = RandomDenoiser(4, 2)
    meta = DataMeta(name="toy", params={}, num_categories=[2] * 4, position_names=list("abcd"))
    with pytest.raises(ValueError, match="task 'toy' has none"):
        sample(d, meta, "reference", 2, _g())
    with pytest.raises(ValueError, match="reference order"):
        sample(d, toy_meta(4, d.vocab_size), "reference", 2, _g())
    with pytest.raises(ValueError, match="needs the schedule"):
        sample(d, toy_meta(4, d.vocab_size), "learned", 2, _g())
    with pytest.raises(ValueError, match="unknown policy"):
        sample(d, toy_meta(4, d.vocab_size), "best", 2, _g())
    with pytest.raises(ValueError, match="permutation"):
        sample(d, toy_meta(4, d.vocab_size), [0, 1, 1, 2], 2, _g())
    with pytest.raises(ValueError, match="adaptive"):
        policy_orders("confidence", 2, toy_meta(4, 2))
    with pytest.raises(ValueError, match="must be a DataMeta"):
        sample(d, 4, "random", 2, _g())  # a bare length: the meta says what the positions are
    with pytest.raises(ValueError, match="steps only applies"):
        sample(d, toy_meta(4, d.vocab_size), "random", 2, _g(), steps=3)


# --- fair comparison -----------------------------------------------------------------------------


def test_a_deterministic_denoiser_gives_the_same_sample_under_every_policy():
    target = [2, 0, 1, 2, 1]
    d = OneHotDenoiser(target, 3)
    for policy, options in _all_policies(5):
        samples, traj = sample(d, toy_meta(5, d.vocab_size), policy, 8, _g(5), **options)
        assert (samples == torch.tensor(target)).all(), policy
        assert torch.allclose(traj.prob, torch.ones(8, 5)) and torch.allclose(traj.entropy, torch.zeros(8, 5))


def test_same_seed_gives_every_policy_the_same_uniform_per_position():
    """Context-free conditionals: the token at position l depends only on l's uniform, so every policy
    draws the very same samples with one seed, and they follow the model's marginals."""
    L, V, n = 5, 4, 4000
    d = IndependentDenoiser(L, V, seed=3)
    reference, _ = sample(d, toy_meta(L, d.vocab_size), "left_to_right", n, _g(21))
    for policy, options in _all_policies(L):
        samples, _ = sample(d, toy_meta(L, d.vocab_size), policy, n, _g(21), **options)
        assert torch.equal(samples, reference), policy
    p = torch.softmax(d.logits, -1)  # [L, V]
    freq = torch.stack([torch.bincount(reference[:, l], minlength=V) for l in range(L)]).float() / n
    assert _binomial_ok(freq, p, n)


def test_a_meta_keeps_each_position_inside_its_own_categories():
    meta = DataMeta(name="toy", params={}, num_categories=[2, 3, 2, 3], position_names=list("abcd"))
    d = RandomDenoiser(4, 3, seed=8, scale=3.0)  # knows nothing of the per-position categories
    free, _ = sample(d, toy_meta(4, d.vocab_size), "random", 256, _g())
    assert (free[:, [0, 2]] == 2).any()
    for policy in ("random", "confidence"):
        samples, traj = sample(d, meta, policy, 256, _g(), k=2)
        assert (samples < torch.tensor(meta.num_categories)).all()
        assert torch.isfinite(traj.log_prob).all()


def test_temperature_sharpens_the_token_distribution():
    L, V, n = 3, 4, 4000
    d = IndependentDenoiser(L, V, seed=5)
    samples, traj = sample(d, toy_meta(L, d.vocab_size), "random", n, _g(6), temperature=0.5)
    p = torch.softmax(d.logits / 0.5, -1)  # [L, V]
    freq = torch.stack([torch.bincount(samples[:, l], minlength=V) for l in range(L)]).float() / n
    assert _binomial_ok(freq, p, n)
    model_p = torch.softmax(d.logits, -1).gather(1, samples.T).T  # [n, L] recorded at temperature 1
    assert torch.allclose(traj.prob, model_p, atol=1e-6)


def test_temperature_zero_takes_the_most_likely_token():
    L = 5
    d = RandomDenoiser(L, 4, seed=6)
    _, traj = sample(d, toy_meta(L, d.vocab_size), "random", 16, _g(), temperature=0)
    for s in range(traj.num_steps):
        best = torch.log_softmax(d(traj.state_at(s)), -1).max(-1).values  # [n, L]
        now = traj.revealed_at(s)
        assert torch.allclose(traj.log_prob[now], best[now])


# --- confidence ----------------------------------------------------------------------------------


def test_confidence_reveals_the_most_confident_position_recomputed_every_step():
    d = PeakDenoiser([3.0, 1.0, 2.0, 0.5], trigger=0, boosted=3)
    _, traj = sample(d, toy_meta(4, d.vocab_size), "confidence", 3, _g())
    assert (traj.orders == torch.tensor([0, 3, 2, 1])).all()  # 3 jumps ahead once 0 is revealed
    _, traj = sample(PeakDenoiser([3.0, 1.0, 2.0, 0.5]), toy_meta(4, 3), "confidence", 3, _g())
    assert (traj.orders == torch.tensor([0, 2, 1, 3])).all()


def test_margin_and_confidence_rank_by_their_own_score():
    probs = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.4, 0.3, 0.3], [0.5, 0.5, 0.0]])  # [L, V]

    def d(z):
        return probs.log().expand(z.shape[0], -1, -1)

    d.mask_id = d.vocab_size = 3
    assert (sample(d, toy_meta(3, d.vocab_size), "confidence", 2, _g())[1].orders == torch.tensor([2, 1, 0])).all()
    assert (sample(d, toy_meta(3, d.vocab_size), "margin", 2, _g())[1].orders == torch.tensor([1, 0, 2])).all()  # tie: lowest first
    assert torch.allclose(confidence(probs.log()[None], "margin"), torch.tensor([[0.0, 0.1, 0.0]]))


def test_confidence_on_a_random_denoiser_always_takes_the_argmax():
    L = 6
    d = RandomDenoiser(L, 3, seed=9)
    for policy in ("confidence", "margin"):
        _, traj = sample(d, toy_meta(L, d.vocab_size), policy, 32, _g())
        for s in range(L):
            state = traj.state_at(s)
            score = confidence(torch.log_softmax(d(state), -1), policy)
            score = torch.where(state == d.mask_id, score, -math.inf)
            chosen = traj.orders[:, s]
            assert torch.allclose(score.gather(1, chosen[:, None]).squeeze(1), score.max(1).values)


# --- overrides -----------------------------------------------------------------------------------


def test_forced_position_takes_the_step_and_the_policy_keeps_its_order():
    d = RandomDenoiser(5, 3, seed=1)
    _, traj = sample(d, toy_meta(5, d.vocab_size), "left_to_right", 4, _g(), forced={1: 3})
    assert (traj.orders == torch.tensor([0, 3, 1, 2, 4])).all()
    schedule = LearnedPolynomialSchedule(5, torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5]))
    _, free = sample(d, toy_meta(5, d.vocab_size), "learned", 64, _g(2), schedule=schedule)
    _, pinned = sample(d, toy_meta(5, d.vocab_size), "learned", 64, _g(2), schedule=schedule, forced={0: 2})
    assert (pinned.orders[:, 0] == 2).all()
    assert torch.equal(pinned.orders[:, 1:], free.orders[free.orders != 2].view(64, 4))
    per_sample = torch.tensor([4, 3, 2, 1])
    _, traj = sample(d, toy_meta(5, d.vocab_size), "confidence", 4, _g(), forced={0: per_sample})
    assert torch.equal(traj.orders[:, 0], per_sample)


def test_forced_with_k_and_ancestral_and_errors():
    d = RandomDenoiser(5, 3, seed=1)
    _, traj = sample(d, toy_meta(5, d.vocab_size), "left_to_right", 2, _g(), k=2, forced={0: 4})
    assert (traj.orders == torch.tensor([4, 0, 1, 2, 3])).all() and traj.num_steps == 3
    _, traj = sample(d, toy_meta(5, d.vocab_size), "ancestral", 64, _g(), schedule=LinearSchedule(5), steps=4, forced={0: 2})
    assert (traj.orders[:, 0] == 2).all() and (traj.step_of[:, 2] == 0).all()
    assert (traj.step_of > 0).any()  # the others still follow the grid
    with pytest.raises(ValueError, match="already revealed"):
        sample(d, toy_meta(5, d.vocab_size), "left_to_right", 2, _g(), forced={3: 0})
    with pytest.raises(ValueError, match="outside the steps"):
        sample(d, toy_meta(5, d.vocab_size), "left_to_right", 2, _g(), forced={5: 0})
    with pytest.raises(ValueError, match="position in 0..4"):
        sample(d, toy_meta(5, d.vocab_size), "left_to_right", 2, _g(), forced={0: 7})


def test_continue_from_keeps_the_prefix_reveals_the_choice_and_finishes():
    L, n, s = 6, 16, 2
    d = RandomDenoiser(L, 3, seed=5)
    schedule = LearnedPolynomialSchedule(L, torch.linspace(0.5, 2.0, L))
    _, traj = sample(d, toy_meta(L, d.vocab_size), "learned", n, _g(1), schedule=schedule)
    choice = traj.orders[:, -1]  # each sample's last position, now decoded at step s
    for policy in ("learned", "confidence", "random"):
        samples, new = continue_from(d, traj, s, policy, _g(2), next_position=choice, schedule=schedule)
        assert torch.equal(new.state_at(s), traj.state_at(s))
        assert torch.equal(new.orders[:, :s], traj.orders[:, :s])
        assert torch.equal(new.orders[:, s], choice)
        assert torch.equal(new.log_prob[traj.step_of < s], traj.log_prob[traj.step_of < s])
        assert torch.equal(new.state_at(new.num_steps), samples) and (samples < 3).all()
        assert torch.equal(new.orders.sort(1).values, torch.arange(L).expand(n, L))


def test_continue_from_reuses_the_token_uniforms():
    L = 5
    d = IndependentDenoiser(L, 4, seed=2)
    samples, traj = sample(d, toy_meta(L, d.vocab_size), "random", 32, _g(3))
    again, new = continue_from(d, traj, 1, "left_to_right", next_position=traj.orders[:, -1])
    assert torch.equal(again, samples) and not torch.equal(new.orders, traj.orders)
    same, done = continue_from(d, traj, traj.num_steps)
    assert torch.equal(same, samples) and torch.equal(done.orders, traj.orders)


def test_continue_from_an_ancestral_trajectory_stays_on_its_grid():
    L = 5
    d = RandomDenoiser(L, 3, seed=5)
    schedule = LinearSchedule(L)
    _, traj = sample(d, toy_meta(L, d.vocab_size), "ancestral", 16, _g(4), schedule=schedule, steps=4)
    _, new = continue_from(d, traj, 2, schedule=schedule, generator=_g(5))
    assert new.num_steps == 4 and torch.equal(new.state_at(2), traj.state_at(2))
    with pytest.raises(ValueError, match="already revealed"):
        first = traj.orders[:, 0]
        continue_from(d, traj, 2, schedule=schedule, next_position=first)


# --- teacher forcing and a real model ------------------------------------------------------------


def test_teacher_forced_nll_is_the_order_nll_along_its_orders():
    L = 5
    d = RandomDenoiser(L, 3, seed=7)
    x = torch.randint(0, 3, (12, L), generator=_g(1))
    for policy in ("random", "confidence"):
        traj = teacher_forced(d, x, toy_meta(L, d.vocab_size), policy, _g(2))
        assert torch.equal(traj.tokens, x)
        assert torch.allclose(traj.nll(), order_nll(d, x, traj.orders), atol=1e-5)
    # same seed: the same orders as sample() draws
    forced_orders = teacher_forced(d, x, toy_meta(L, d.vocab_size), "random", _g(3)).orders
    assert torch.equal(forced_orders, sample(d, toy_meta(L, d.vocab_size), "random", 12, _g(3))[1].orders)


def test_a_tiny_transformer_samples_every_policy_in_batches():
    ds = make_task("pairs", n=3, num_train=8, num_heldout=8)
    model = Denoiser(ModelConfig(ds.meta.num_categories, d_model=16, n_layers=1, n_heads=2))
    model.train()
    schedule = LearnedPolynomialSchedule(6)
    for policy in POLICIES:
        samples, traj = sample(model, ds.meta, policy, 8, _g(), schedule=schedule)
        assert samples.shape == (8, 6) and check_samples(ds.meta, samples).shape == (8,)
        assert traj.policy == Policy.of(policy).label
    assert model.training  # sampling ran in eval mode and restored the flag
