"""The ``digits`` task: scikit-learn's bundled 8x8 handwritten digits, pixel values 0..16, no download."""

from __future__ import annotations

import numpy as np
import torch

from core.checks import check_fraction
from core.meta import DataMeta, Dataset, split_rows
from core.tasks.base import Task

RAMP = " .:-=+*#%@"  # 10 shades for the 17 pixel intensities


def build(seed: int = 0, heldout_fraction: float = 0.1) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images), pixel values 0..16, no download."""
    from sklearn.datasets import load_digits  # imported here: slow, and only this task needs it

    frac = check_fraction("heldout_fraction", heldout_fraction)
    x = torch.from_numpy(load_digits().data.astype(np.int64))  # [1797, 64]
    train, heldout = split_rows(x, frac, seed)
    meta = DataMeta(name="digits", params=dict(seed=seed, heldout_fraction=frac), num_categories=[17] * 64,
                    position_names=[f"r{r}c{c}" for r in range(8) for c in range(8)], shape=(8, 8))
    return Dataset(train=train, heldout=heldout, meta=meta)


def format_image(meta: DataMeta, values: list) -> str:
    """The 8x8 image in shades of ``RAMP``, ``?`` for pixels not yet decoded."""
    chars = ["?" if v is None else RAMP[round(v * (len(RAMP) - 1) / 16)] for v in values]
    return "\n".join("".join(chars[r * 8:(r + 1) * 8]) for r in range(8))


TASK = Task("digits", build, layout=lambda p: (64, 17), format=format_image, listed_at=6,
            words="8×8 images of handwritten digits (scikit-learn), one position per pixel.",
            formula=r"x \in \{0..16\}^{64}",
            easy_order="none known in advance.")
