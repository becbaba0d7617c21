"""Plain words for tasks on the pages: each task's rule in words and as a formula (kept with the task
itself, ``core/tasks/<name>.py``: ``Task.words``, ``Task.formula``, ``Task.easy_order``) and plain labels
for the task parameters.

One place for every page that names a task (the Train page under its task box, the Lesson beside its
example), so a student who has never seen ``pairs`` or ``n`` reads what they mean.
"""

from __future__ import annotations

from core.tasks import REGISTRY, Task

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


def text(task: str) -> Task | None:
    """The registered task with its rule in words (``.words``, ``.formula``, ``.easy_order``), or None
    (a CSV table, or a task without a description)."""
    found = REGISTRY.get(task)
    return found if found is not None and found.words else None


def param_label(name: str) -> str:
    return PARAM_LABELS.get(name, name.replace("_", " ").capitalize())
