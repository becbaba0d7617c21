"""α-precision and β-recall of synthetic table rows, the "naive" variant of synthcity's ``AlphaPrecision``
(Alaa et al., "How faithful is your synthetic data?", ICML 2022), as TabDiff reports them.

Rows are first embedded (``embed``): numerical columns as they are, categorical columns one-hot, then every
feature min–max scaled with the range of the real rows. With real rows ``X`` (n of them), synthetic rows
``Y`` (also n), ``c = mean(X)`` and 30 levels ``α_i = i/29``:

* radii ``r_i`` = the α_i-quantile of ``‖x − c‖`` over the real rows;
  ``P_i`` = fraction of synthetic rows with ``‖y − c‖ ≤ r_i``;
  **α-precision** ``= 1 − Σ_i |α_i − P_i| / Σ_i α_i``
  (synthetic rows fall inside the real data's α-balls as often as they should);
* for each real row ``x``: ``y(x)`` its nearest synthetic row, ``d_s(x) = ‖x − y(x)‖`` and ``d_r(x)`` the
  distance to its nearest *other* real row; ``c_s = mean(Y)``; ``q_i`` = the α_i-quantile of
  ``‖y(x) − c_s‖`` over the real rows; ``B_i`` = fraction of real rows with ``d_s(x) ≤ d_r(x)`` and
  ``‖y(x) − c_s‖ ≤ q_i``; **β-recall** ``= 1 − Σ_i |α_i − B_i| / Σ_i α_i``
  (the real rows are covered by synthetic ones as densely as by other real rows).

Known answers (tested): a table against itself gives 1 and 1; against an independent sample of the same
distribution α ≈ 1 and β ≈ 0.5 (a real row's nearest synthetic row beats its nearest real row half the
time), which is the ceiling for β on held-out data; a shifted table scores clearly lower on both.
synthcity's data loader also drops the frame's last column as its default target before scaling; that is
one one-hot indicator in TabDiff's layout and is kept here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

LEVELS = 30


def embed(real: pd.DataFrame, synthetic: pd.DataFrame, numerical: list[str],
          categorical: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Both frames as ``[n, D]`` float arrays: numerical columns, then one-hot categorical columns (the
    categories of both frames), every feature min–max scaled with the real rows' range."""
    parts_real, parts_syn = [real[numerical].to_numpy(float)], [synthetic[numerical].to_numpy(float)]
    for col in categorical:
        categories = sorted(set(real[col].astype(str)) | set(synthetic[col].astype(str)))
        parts_real.append(_one_hot(real[col], categories))
        parts_syn.append(_one_hot(synthetic[col], categories))
    x, y = np.concatenate(parts_real, 1), np.concatenate(parts_syn, 1)
    low, span = x.min(0), x.max(0) - x.min(0)
    span[span == 0] = 1.0  # a constant feature stays 0 (as scikit-learn's MinMaxScaler leaves it)
    return (x - low) / span, (y - low) / span


def _one_hot(column: pd.Series, categories: list[str]) -> np.ndarray:
    codes = pd.Categorical(column.astype(str), categories=categories).codes
    return np.eye(len(categories))[codes]


def alpha_precision_beta_recall(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(α-precision, β-recall)`` of synthetic rows ``y [n, D]`` against real rows ``x [n, D]``
    (the module docstring gives the formulas); 1 is best for both."""
    if x.shape != y.shape or len(x) < 3:
        raise ValueError(f"real and synthetic rows must have one shape with n >= 3, got {x.shape} and {y.shape}")
    alphas = np.linspace(0, 1, LEVELS)
    centre = x.mean(0)
    # 1. α-precision: synthetic rows inside the real data's α-balls around its centre
    radii = np.quantile(np.linalg.norm(x - centre, axis=1), alphas)
    inside = np.linalg.norm(y - centre, axis=1)[:, None] <= radii[None]  # [n, levels]
    alpha_precision = 1 - np.abs(alphas - inside.mean(0)).sum() / alphas.sum()
    # 2. β-recall: real rows whose nearest synthetic row is closer than their nearest other real row
    d_real = NearestNeighbors(n_neighbors=2).fit(x).kneighbors(x)[0][:, 1]  # [n], skips the row itself
    d_syn, nearest = NearestNeighbors(n_neighbors=1).fit(y).kneighbors(x)
    d_syn, nearest = d_syn[:, 0], nearest[:, 0]
    from_centre = np.linalg.norm(y[nearest] - y.mean(0), axis=1)  # [n]
    covered = (d_syn <= d_real)[:, None] & (from_centre[:, None] <= np.quantile(from_centre, alphas)[None])
    beta_recall = 1 - np.abs(alphas - covered.mean(0)).sum() / alphas.sum()
    return float(alpha_precision), float(beta_recall)
