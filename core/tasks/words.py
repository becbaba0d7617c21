"""The ``words`` task: lowercase a-z words of one length from the ``english-words`` package's lists."""

from __future__ import annotations

import re

import torch

from core import limits
from core.checks import check_fraction, check_int
from core.meta import DataMeta, Dataset, split_rows
from core.tasks.base import Task


def build(seed: int = 0, length: int = 5, heldout_fraction: float = 0.1) -> Dataset:
    """Lowercase a-z words of one length from the word lists shipped in the ``english-words`` package."""
    length = check_int("length", length, 2, limits.TASK_MAX_WORD_LENGTH)
    frac = check_fraction("heldout_fraction", heldout_fraction)
    vocab = word_list(length)
    x = torch.tensor([[ord(ch) - ord("a") for ch in w] for w in vocab])  # [N, length]
    train, heldout = split_rows(x, frac, seed)
    meta = DataMeta(name="words", params=dict(seed=seed, length=length, heldout_fraction=frac),
                    num_categories=[26] * length, position_names=[f"l{i + 1}" for i in range(length)])
    return Dataset(train=train, heldout=heldout, meta=meta)


def word_list(length: int) -> list[str]:
    """Sorted lowercase a-z words of ``length`` letters (Webster's 2nd + GCIDE; proper nouns excluded)."""
    from english_words import get_english_words_set

    pattern = re.compile(f"[a-z]{{{length}}}")
    found = get_english_words_set(["web2", "gcide"], alpha=True)
    return sorted(w for w in found if pattern.fullmatch(w))


def letter(v: int) -> str:
    return chr(ord("a") + v)


def format_word(meta: DataMeta, values: list) -> str:
    return "".join("_" if v is None else v for v in values)


def layout(params: dict) -> tuple[int, int]:
    return check_int("length", params["length"], 2, limits.TASK_MAX_WORD_LENGTH), 26


TASK = Task("words", build, layout, format=format_word, decode=letter, listed_at=7,
            words="English words of a fixed length, one position per letter.",
            formula=r"x \in \{a..z\}^{\text{length}}",
            easy_order="none known in advance.")
