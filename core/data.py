# TEMPORARY: re-exports for app/ until its imports move (see the import map); core and bench import the new
# modules directly.
"""Old home of the datasets: now ``core/meta.py`` (DataMeta, Dataset), ``core/tables.py`` (tables) and
``core/tasks/`` (the tasks and their registry)."""

from core.meta import DataMeta, Dataset  # noqa: F401
from core.tables import csv_dataset, short_names, table_from_csv, table_from_dataframe  # noqa: F401
from core.tasks import (  # noqa: F401
    TASKS,
    check_samples,
    decode_samples,
    format_sample,
    make_task,
    task_defaults,
    task_layout_ok,
)
