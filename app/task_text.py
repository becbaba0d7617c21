"""Each task's rule in plain words and as a formula, and plain labels for the task parameters.

One table for every page that names a task (the Train page under its task box, the Lesson beside its
example), so a student who has never seen ``pairs`` or ``n`` reads what they mean. The formulas restate
``core/data.py``'s generators; ``tests/test_app_lesson.py`` checks them against generated data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskText:
    words: str  # the rule in one or two plain sentences
    formula: str  # LaTeX
    easy_order: str  # which order makes every step easy, in words


TASKS = {
    "pairs": TaskText(
        "Random bits b₁…bₙ, then one check bit per neighbouring pair: cᵢ is bᵢ plus its right neighbour, "
        "modulo V (with V = 2: their exclusive or).",
        r"c_i = (b_i + b_{i+1}) \bmod V, \quad b_{n+1} = b_1",
        "b's first, then every c is a sum; but a sum can also be undone, so other orders are easy too."),
    "lookup": TaskText(
        "Random symbols b₁…bₙ, then cᵢ is read from a fixed random table at row bᵢ and column bᵢ₊₁. "
        "The table is not invertible: the c's do not tell you the b's.",
        r"c_i = T[b_i,\, b_{i+1}], \quad b_{n+1} = b_1",
        "b's first, then every c is one look-up."),
    "majority": TaskText(
        "Fair bits b₁…bₙ around a circle, then cᵢ is the majority vote of bᵢ and its two right neighbours.",
        r"c_i = \mathbb{1}\left[b_i + b_{i+1} + b_{i+2} \ge 2\right], \quad \text{indices mod } n",
        "bits first, then each vote is easy to count; the votes alone hardly tell the bits."),
    "addition": TaskText(
        "Two numbers a and b written digit by digit (most significant first), then the digits of their sum s.",
        r"s = a + b \quad \text{(base 10)}",
        "the operands first, then the sum from its last digit (carries flow left)."),
    "parity": TaskText(
        "Random bits b₁…bₙ, then running parities: pᵢ says whether b₁…bᵢ hold an odd number of ones.",
        r"p_i = b_1 \oplus b_2 \oplus \dots \oplus b_i",
        "bits first, then the parities one after another: a strict chain, hard for one exponent per position."),
    "sudoku": TaskText(
        "A Sudoku grid: every row, column and box holds each digit once; some cells are given.",
        r"\text{each row, column and box is a permutation of } 1..N",
        "depends on the puzzle: no single order serves every grid."),
    "digits": TaskText("8×8 images of handwritten digits (scikit-learn), one position per pixel.",
                       r"x \in \{0..16\}^{64}", "none known in advance."),
    "words": TaskText("English words of a fixed length, one position per letter.",
                      r"x \in \{a..z\}^{\text{length}}", "none known in advance."),
    "adult": TaskText("Rows of the UCI Adult census table, one position per column.",
                      r"x = (\text{age}, \text{workclass}, \dots)", "none known in advance."),
}

PARAM_LABELS = {  # plain widget labels for the task parameters
    "n": "Free positions n",
    "V": "Values per position V",
    "table_seed": "Seed of the look-up table",
    "digits": "Digits per number",
    "length": "Letters per word",
    "heldout_fraction": "Held-out fraction",
    "columns": "Columns",
    "num_bins": "Bins per numerical column",
    "size": "Grid size",
}


def text(task: str) -> TaskText | None:
    return TASKS.get(task)


def param_label(name: str) -> str:
    return PARAM_LABELS.get(name, name.replace("_", " ").capitalize())
