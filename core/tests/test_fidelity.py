"""α-precision and β-recall (core/fidelity.py) on cases whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from core.fidelity import alpha_precision_beta_recall, embed


def _table(rng, n, shift=0.0):
    return pd.DataFrame({"a": rng.normal(shift, 1, n), "b": rng.exponential(1, n) + shift,
                         "c": rng.choice(["x", "y", "z"], n, p=[0.6, 0.3, 0.1])})


def _score(real, synthetic):
    return alpha_precision_beta_recall(*embed(real, synthetic, ["a", "b"], ["c"]))


def test_a_table_against_itself_scores_one():
    real = _table(np.random.default_rng(0), 1000)
    alpha, beta = _score(real, real)
    assert alpha == pytest.approx(1, abs=0.02) and beta == pytest.approx(1, abs=0.02)


def test_an_independent_sample_has_alpha_near_one_and_beta_near_one_half():
    rng = np.random.default_rng(1)
    alpha, beta = _score(_table(rng, 1000), _table(rng, 1000))
    assert alpha > 0.95  # the same distribution: inside every α-ball as often as it should be
    assert beta == pytest.approx(0.5, abs=0.06)  # a fresh row beats the nearest real row half the time


def test_a_shifted_table_scores_clearly_lower():
    rng = np.random.default_rng(2)
    real = _table(rng, 1000)
    same_alpha, same_beta = _score(real, _table(rng, 1000))
    alpha, beta = _score(real, _table(rng, 1000, shift=1.5))  # 1.5 standard deviations off
    assert alpha < same_alpha - 0.2 and beta < same_beta - 0.25


def test_embedding_is_scaled_on_the_real_rows_and_one_hot():
    real = pd.DataFrame({"a": [0.0, 10.0, 5.0], "c": ["x", "y", "x"]})
    synthetic = pd.DataFrame({"a": [20.0, 0.0, 5.0], "c": ["z", "x", "y"]})
    x, y = embed(real, synthetic, ["a"], ["c"])
    assert x.tolist() == [[0, 1, 0, 0], [1, 0, 1, 0], [0.5, 1, 0, 0]]
    assert y.tolist() == [[2, 0, 0, 1], [0, 1, 0, 0], [0.5, 0, 1, 0]]  # beyond the real range: beyond 1


def test_mismatched_sizes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        alpha_precision_beta_recall(np.zeros((5, 2)), np.zeros((4, 2)))
