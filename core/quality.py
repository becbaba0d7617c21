"""Order quality: how good a decoding policy is, on held-out data and on its own samples (docs/design.md §3).

For each policy, :func:`compare_policies` reports

- the held-out **order NLL**: the teacher-forced autoregressive loss along the policy's orders
  (:func:`core.elbo.order_nll`), in nats per sequence, averaged over ``n_orders`` sampled orders per
  sequence; the 95% interval is ``mean +- 1.96 s.e.`` with the standard error taken over sequences (each
  sequence's orders averaged first). For ``confidence`` / ``margin`` the order is the one the policy picks
  when the true tokens are revealed (teacher-forced adaptive order); ``ancestral`` decodes in the
  schedule's order distribution, so its orders are drawn from the schedule;
- the fraction of **valid** samples under the task's rule (``None`` when the task has none);
- for tables, two fidelity scores of the samples against the held-out rows: **shape** (mean over columns
  of 1 - total variation distance between the marginals) and **trend** (mean over column pairs of
  1 - |Cramér's V difference|).

For puzzles (a task whose rows carry givens, e.g. ``sudoku``) :func:`solve_rates` reports per policy the
**solve rate** on held-out puzzles (decoded from the givens; solved = a valid grid that keeps every given)
with its 95% Wilson interval, and the mean number of **model calls** per puzzle.

Every policy gets a fresh generator seeded with ``seed``, so all policies share their token uniforms.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from core import limits, rng, tables, tasks
from core.elbo import order_nll
from core.checks import check_int, is_int
from core.decoding import Policy, policy_orders, sample, teacher_forced
from core.runtime import device_of, eval_mode

Z_95 = 1.959963984540054
TABLE_PARAMS = ("seed", "max_categories", "num_bins", "heldout_fraction")  # table_from_dataframe's own


@dataclass
class PolicyScore:
    """One policy's scores. ``nll`` / ``nll_ci`` in nats per sequence."""

    nll: float
    nll_ci: tuple[float, float]
    valid_fraction: float | None
    shape: float | None = None
    trend: float | None = None
    num_sequences: int = 0
    num_orders: int = 0

    def to_json(self) -> dict:
        """The CLI's ``--json`` record."""
        return {"nll": self.nll, "nll_ci": list(self.nll_ci), "valid_fraction": self.valid_fraction}


# --- order NLL -----------------------------------------------------------------------------------


def policy_nll(denoiser, x: torch.Tensor, meta, policy, n_orders: int = 4, generator=None, *,
               schedule=None) -> torch.Tensor:
    """Teacher-forced order NLL per held-out sequence ``[B]``, averaged over the policy's orders
    (one order per sequence for fixed and adaptive policies, ``n_orders`` for random ones)."""
    B, policy = x.shape[0], Policy.of(policy)
    with eval_mode(denoiser), torch.no_grad():
        if policy.adaptive:
            n, orders = 1, teacher_forced(denoiser, x, meta, policy, generator).orders
        else:
            n = 1 if policy.fixed else n_orders
            orders = policy_orders(policy, B * n, meta, generator, schedule=schedule)
        values = order_nll(denoiser, x.repeat_interleave(n, 0), orders.to(x.device))  # [B * n]
    return values.view(B, n).mean(1)


def mean_interval(values: torch.Tensor) -> tuple[float, tuple[float, float]]:
    """Mean and 95% normal interval ``mean +- 1.96 s.e.`` of per-sequence values ``[B]``."""
    mean = float(values.mean())
    se = float(values.std() / math.sqrt(values.numel())) if values.numel() > 1 else 0.0
    return mean, (mean - Z_95 * se, mean + Z_95 * se)


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (sound near 0 and 1, unlike ``p +- z s.e.``)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, not rounding noise around them
    return lo, 1.0 if successes == n else min(1.0, centre + half)


# --- table fidelity ------------------------------------------------------------------------------


def column_shape(real: torch.Tensor, fake: torch.Tensor, num_categories: list[int]) -> float:
    """Mean over columns of ``1 - TVD`` between the real and generated marginals (1 = identical)."""
    scores = [1.0 - _tvd(real[:, l], fake[:, l], K) for l, K in enumerate(num_categories)]
    return float(sum(scores) / len(scores))


def pair_trend(real: torch.Tensor, fake: torch.Tensor, num_categories: list[int]) -> float:
    """Mean over column pairs of ``1 - |V_real - V_generated|`` with Cramér's V (1 = identical)."""
    pairs = list(itertools.combinations(range(len(num_categories)), 2))
    if not pairs:
        return 1.0
    scores = []
    for i, j in pairs:
        Ki, Kj = num_categories[i], num_categories[j]
        v_real = cramers_v(real[:, i], real[:, j], Ki, Kj)
        v_fake = cramers_v(fake[:, i], fake[:, j], Ki, Kj)
        scores.append(1.0 - abs(v_real - v_fake))
    return float(sum(scores) / len(scores))


def cramers_v(a: torch.Tensor, b: torch.Tensor, ka: int, kb: int) -> float:
    """Cramér's V of two categorical columns ``[N]`` (0 = independent, 1 = one determines the other).
    Categories that never occur are dropped; a column with one observed value gives 0."""
    table = _counts(_counts_check(a, ka) * kb + _counts_check(b, kb), ka * kb).view(ka, kb)  # [ka, kb]
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    r, c = table.shape
    if min(r, c) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdim=True) * table.sum(0, keepdim=True) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(torch.sqrt(chi2 / n / (min(r, c) - 1)).clamp(max=1.0))


def _tvd(a: torch.Tensor, b: torch.Tensor, K: int) -> float:
    p, q = _counts(a, K), _counts(b, K)
    return float(0.5 * (p / p.sum() - q / q.sum()).abs().sum())


def _counts_check(x: torch.Tensor, K: int) -> torch.Tensor:
    x = x.long()
    if x.numel() and (x.min() < 0 or x.max() >= K):
        raise ValueError(f"values must lie in 0..{K - 1}, got {int(x.min())}..{int(x.max())}")
    return x


def _counts(x: torch.Tensor, K: int) -> torch.Tensor:
    return torch.bincount(_counts_check(x, K), minlength=K).double()


# --- the comparison ------------------------------------------------------------------------------


def compare_policies(checkpoint_or_parts, heldout: torch.Tensor, policies, n_samples: int = 256,
                     n_orders: int = 4, seed: int = 0, *, temperature: float = 1.0,
                     k: int = 1, budget_s: float | None = None) -> dict[str, PolicyScore]:
    """Score every policy on ``heldout [B, L]`` and on ``n_samples`` samples of its own.

    ``checkpoint_or_parts``: a :class:`core.checkpoint.Checkpoint` or ``(denoiser, schedule, meta)``.
    ``budget_s``: refuse (ValueError, before any work) when the estimated CPU time
    (``limits.score_seconds``) is larger. Returns ``{Policy.of(policy).label: PolicyScore}`` in the order given.
    """
    denoiser, schedule, meta = _parts(checkpoint_or_parts)
    heldout = _check_heldout(heldout, meta).to(device_of(denoiser))
    policies = list(policies)
    check_int("n_samples", n_samples, 1, limits.MAX_SAMPLES)
    check_int("n_orders", n_orders, 1, 64)
    if budget_s is not None:
        check_score_budget(denoiser.config, heldout.shape[0], n_orders, n_samples, len(policies), budget_s)
    scores = {}
    for policy in policies:
        label = Policy.of(policy).label
        if label in scores:
            raise ValueError(f"policy {label!r} is listed twice")
        scores[label] = score_policy(denoiser, schedule, meta, heldout, policy, n_samples, n_orders, seed,
                                     temperature=temperature, k=k)
    return scores


def score_policy(denoiser, schedule, meta, heldout: torch.Tensor, policy, n_samples: int = 256,
                 n_orders: int = 4, seed: int = 0, *, temperature: float = 1.0, k: int = 1) -> PolicyScore:
    """One policy's :class:`PolicyScore` (see the module docstring)."""
    policy = Policy.of(policy)
    # 1. held-out order NLL.
    nll = policy_nll(denoiser, heldout, meta, policy, n_orders, rng.make_generator(seed), schedule=schedule)
    mean, interval = mean_interval(nll)
    # 2. the policy's own samples: validity, and fidelity for tables.
    samples, _ = sample(denoiser, meta, policy, n_samples, rng.make_generator(seed), schedule=schedule,
                        temperature=temperature, k=k)
    samples = samples.cpu()
    valid = tasks.check_samples(meta, samples)
    shape = trend = None
    if meta.decoders is not None:
        real = heldout.cpu()
        shape = column_shape(real, samples, meta.num_categories)
        trend = pair_trend(real, samples, meta.num_categories)
    n = 1 if policy.adaptive or policy.fixed else n_orders
    return PolicyScore(nll=mean, nll_ci=interval, shape=shape, trend=trend,
                       valid_fraction=None if valid is None else float(valid.float().mean()),
                       num_sequences=heldout.shape[0], num_orders=n)


# --- puzzles: solve rates ------------------------------------------------------------------------


@dataclass
class SolveScore:
    """One policy on ``puzzles`` held-out puzzles: ``solved`` of them, the rate with its 95% Wilson
    interval, and the mean model calls (forward passes) per puzzle."""

    solved: int
    puzzles: int
    rate: float
    ci: tuple[float, float]
    calls: float

    def to_json(self) -> dict:
        return {"solve_rate": self.rate, "solve_ci": list(self.ci), "solved": self.solved,
                "puzzles": self.puzzles, "calls": self.calls}


def solve_rate(denoiser, schedule, meta, solutions: torch.Tensor, given: torch.Tensor, policy, seed: int = 0,
               *, k: int = 1, temperature: float = 0.0, batch: int = 512) -> SolveScore:
    """Decode every puzzle (``solutions [N, L]`` with ``given [N, L]``) from its givens with ``policy``."""
    from core import sudoku

    g = sudoku.geometry(meta.params["size"])
    generator, solved, calls = rng.make_generator(seed), [], []
    mask_id = denoiser.mask_id if hasattr(denoiser, "mask_id") else meta.vocab_size
    for x, mask in zip(solutions.split(batch), given.split(batch)):
        puzzle = torch.where(mask, x, mask_id).to(device_of(denoiser))
        samples, traj = sample(denoiser, meta, policy, x.shape[0], generator, schedule=schedule,
                               temperature=temperature, k=k, puzzle=puzzle)
        solved.append(sudoku.solved(g, samples.cpu(), x, mask))
        calls.append(traj.calls().cpu().float())
    solved, n = int(torch.cat(solved).sum()), solutions.shape[0]
    return SolveScore(solved, n, solved / n, wilson_interval(solved, n), float(torch.cat(calls).mean()))


def solve_rates(checkpoint_or_parts, solutions, given, policies, seed: int = 0, *, k: int = 1,
                temperature: float = 0.0, budget_s: float | None = None) -> dict[str, SolveScore]:
    """:func:`solve_rate` for every policy, ``{policy label: SolveScore}`` in the order given; refused
    before any work when the estimated CPU time is over ``budget_s``."""
    denoiser, schedule, meta = _parts(checkpoint_or_parts)
    policies = list(policies)
    if budget_s is not None:
        seconds = len(policies) * limits.decode_seconds(denoiser.config, solutions.shape[0])
        limits.check_seconds(f"Solving {solutions.shape[0]} puzzles with {len(policies)} policies", seconds,
                             budget_s)
    scores = {}
    for policy in policies:
        label = Policy.of(policy).label
        if label in scores:
            raise ValueError(f"policy {label!r} is listed twice")
        scores[label] = solve_rate(denoiser, schedule, meta, solutions, given, policy, seed, k=k,
                                   temperature=temperature)
    return scores


def check_score_budget(model_config, rows: int, n_orders: int, n_samples: int, policies: int,
                       budget_s: float) -> None:
    """ValueError, before any work, when scoring would take longer than ``budget_s`` (estimated)."""
    seconds = limits.score_seconds(model_config, rows, n_orders, n_samples, policies)
    limits.check_seconds(f"Scoring {policies} policies on {rows} held-out sequences of {model_config.length} "
                         f"positions", seconds, budget_s)


def heldout_data(meta, csv_path=None) -> torch.Tensor:
    """The held-out split of the checkpoint's data, rebuilt from ``meta`` (tasks are regenerated from their
    parameters; a table read from a CSV needs that CSV again).

    ``meta.params`` come from an untrusted config: the task builders check them against
    ``core/limits.py`` (sizes, rows x positions) before anything is generated."""
    if csv_path is not None:
        params = {key: meta.params[key] for key in TABLE_PARAMS if key in meta.params}
        ds = tables.table_from_csv(csv_path, name=meta.name, **params)
    elif meta.name == "sudoku":  # only the held-out puzzles: rebuilding the training ones takes minutes
        from core import sudoku

        count = meta.params.get("num_heldout")
        return sudoku.task_puzzles(meta.params, "heldout", count if is_int(count) else 0)[0]
    elif meta.name in tasks.TASKS:
        try:
            ds = tasks.make_task(meta.name, **meta.params)
        except TypeError as e:  # a parameter of the wrong kind for its builder
            raise ValueError(f"the data {meta.name!r} cannot be rebuilt from its parameters: {e}") from None
    else:
        raise ValueError(f"the data {meta.name!r} cannot be regenerated; give the CSV file it was built from")
    same = (ds.meta.num_categories == meta.num_categories and ds.meta.position_names == meta.position_names
            and ds.meta.decoders == meta.decoders)
    if not same:
        raise ValueError(f"the rebuilt data does not match the checkpoint's {meta.name!r} data (different "
                         "columns, categories or bins)")
    if ds.heldout.shape[0] == 0:
        raise ValueError(f"the data {meta.name!r} has an empty held-out split")
    return ds.heldout


def _parts(checkpoint_or_parts):
    if all(hasattr(checkpoint_or_parts, a) for a in ("model", "schedule", "meta")):
        return checkpoint_or_parts.model, checkpoint_or_parts.schedule, checkpoint_or_parts.meta
    if isinstance(checkpoint_or_parts, (tuple, list)) and len(checkpoint_or_parts) == 3:
        return tuple(checkpoint_or_parts)
    raise ValueError("expected a Checkpoint or a (denoiser, schedule, meta) tuple")


def _check_heldout(x, meta) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long or x.shape[0] == 0:
        raise ValueError(f"heldout must be a non-empty LongTensor [B, L], got {getattr(x, 'shape', x)!r}")
    if x.shape[1] != len(meta.num_categories):
        raise ValueError(f"heldout has {x.shape[1]} positions, the model has {len(meta.num_categories)}")
    return x
