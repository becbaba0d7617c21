"""The table of limits: every bound on work that untrusted content (an uploaded or Hub checkpoint, a CSV, a
query string, a widget) can drive, declared once and checked before anything is allocated.

The loader (``core.checkpoint``), the task and table builders (``core.tasks``, ``core.tables``), the scorers
(``core.quality``), the CLIs and the app's widgets and pages all read their bounds from here, so a value one
of them accepts is a value the others can handle. The check functions raise ``ValueError`` with a message
that names the value, the bound and what to do instead; they never allocate (the generic checks are in
``core/checks.py``).

The denoiser's work is estimated in seconds of one core (:func:`forward_seconds`, from rates measured on the
lab's 2-core server); ``DECODE_SECONDS`` and ``SCORE_SECONDS`` are what one Compare request may spend, so a
page answers within about 10 s, and work beyond them is refused with a message, never started.
"""

from __future__ import annotations

import math
import os

# --- checkpoint files -----------------------------------------------------------------------------------
MAX_CONFIG_BYTES = 1 << 20  # config.json
MAX_WEIGHTS_BYTES = 256 << 20  # model.safetensors
MAX_METRICS_BYTES = 16 << 20  # metrics.json
MAX_HEADER_BYTES = 16 << 20  # the safetensors JSON header
MAX_TENSORS = 10_000

# --- upload archives (the Train page's zip) ----------------------------------------------------------------
MAX_ZIP_BYTES = MAX_WEIGHTS_BYTES + MAX_CONFIG_BYTES + MAX_METRICS_BYTES + (1 << 20)
MAX_ZIP_MEMBERS = 16
MAX_UPLOAD_FILES = 3  # config.json, model.safetensors, metrics.json

# --- models (ModelConfig and DataMeta) ------------------------------------------------------------------
MAX_POSITIONS = 4096  # sequence length L
MAX_CATEGORIES = 4096  # categories per position (vocabulary size V)
MAX_D_MODEL = 2048
MAX_LAYERS = 48
MAX_HEADS = 64
MAX_PARAMS = 50_000_000  # 200 MB of float32: the weights limit above, with room
MAX_NAME_CHARS = 200  # a position name or a category name in config.json
MAX_TEXT_PARAM_CHARS = 4096  # a string parameter of a task (e.g. adult's column list)

# --- built-in tasks (core.tasks) --------------------------------------------------------------------------
TASK_MAX_N = 512  # pairs / lookup / majority / parity: n free positions, 2n in all
TASK_MAX_V = 64  # pairs / lookup: values per position
TASK_MAX_DIGITS = 15  # addition: digits per operand
TASK_MAX_WORD_LENGTH = 15
TASK_MAX_ROWS = 1_000_000  # num_train + num_heldout
TASK_MAX_CELLS = 1 << 23  # rows x positions of one generated dataset (64 MB of int64)
MAX_SEED = 2**63 - 1
SUDOKU_SIZES = (4, 6, 9)  # grid sizes of the sudoku task (core/sudoku.py)
SUDOKU_MAX_TRAIN = 100_000  # generated training puzzles (a 9x9 puzzle takes ~40 ms to make, a 6x6 ~2 ms)
SUDOKU_MAX_HELDOUT = 5_000  # held-out puzzles (rebuilt from a checkpoint's params to score it: 9x9 ~200 s)

# --- tables (CSV uploads and table_from_dataframe) -------------------------------------------------------
CSV_MAX_BYTES = 50 << 20
CSV_MAX_ROWS = 1_000_000
CSV_MAX_COLUMNS = 128
CSV_MAX_CELLS = 1 << 23  # rows x columns
CSV_MAX_CATEGORIES = 256  # distinct values of one categorical column (max_categories may be lower)
CSV_MAX_BINS = 64
CSV_NAME_CHARS = 40  # column and category names are shortened to this many characters in config.json

# --- order statistics (core.orders) --------------------------------------------------------------------
RANK_STD_EXACT_MAX_L = 512  # exact rank spread: O(L^3) time, O(L^2) memory; above it a sampled estimate
ORDER_SAMPLE_CELLS = 1 << 22  # orders x positions drawn for a Monte Carlo statistic (entropy, spread)
MAX_PLOT_CELLS = 256 * 256  # cells of an L x L figure (precedence heatmap); larger ones are not drawn
MAX_PLOT_CURVES = 512  # one curve or bar per position (alpha curves, exponent bars, rank spread)
FIGURE_CACHE_ENTRIES = 128  # finished figures shared by every session that shows the same snapshot
SHARED_FIGURE_MAX_INPUT_BYTES = 256 << 10  # JSON of a shared figure's inputs; larger ones are built per session
SHARED_RESULT_ENTRIES = 64  # Compare's decodings and scores of shipped models, kept for every session

# --- decoding and scoring (core.decoding, core.quality, the Compare page) -----------------------------------
MAX_SAMPLES = 100_000  # samples per call of the sampler
DENSE_RATE = 2e10  # multiply-adds per second of one core in the dense layers (measured, float32)
ATTENTION_RATE = 5e9  # ... in attention with small heads (measured)
CALL_SECONDS = 1e-4  # per layer and forward pass
DECODE_SECONDS = 4.0  # one Compare request: every policy's decoding together
SCORE_SECONDS = 6.0  # one Compare request: every policy's held-out scores together
CLI_SECONDS = 24 * 3600.0  # a command line run, which the user started on purpose
MAX_SCORE_ROWS = 512  # held-out sequences scored per policy

# --- training (the Train page and core.train) -------------------------------------------------------------
TRAIN_MAX_STEPS = 100_000
TRAIN_MAX_BATCH = 256
TRAIN_MAX_K = 8
TRAIN_MAX_EVAL_SIZE = 512
TRAIN_MAX_POSITIONS = 1024  # sequence length of a run trained on the server
TRAIN_MAX_D_MODEL = 128  # the Train page's widest model
TRAIN_MAX_LAYERS = 4
TRAIN_MAX_SNAPSHOT_CELLS = 1 << 17  # snapshots x positions a server run records: every snapshot keeps each
# exponent, and the live views redraw them all every second (the rank heatmap has one cell per value)
CONCURRENT_RUNS_ENV = "ORDERLAB_MAX_CONCURRENT_RUNS"


def max_concurrent_runs() -> int:
    """Training runs the server advances at once (more wait in a queue): one per CPU core by default,
    or ``$ORDERLAB_MAX_CONCURRENT_RUNS``."""
    raw = os.environ.get(CONCURRENT_RUNS_ENV, "")
    if raw.strip().isdigit() and int(raw) >= 1:
        return int(raw)
    return max(1, os.cpu_count() or 1)


def snapshot_problem(steps: int, eval_every: int, positions: int) -> str | None:
    """Why a server run with these settings would record too many snapshots (None when it would not):
    one at step 0, one every ``eval_every`` steps and one at the end, each with ``positions`` exponents."""
    snapshots = steps // max(1, eval_every) + 2
    if snapshots * positions <= TRAIN_MAX_SNAPSHOT_CELLS:
        return None
    least = math.ceil(steps / max(1, TRAIN_MAX_SNAPSHOT_CELLS // positions - 2))
    return (f"evaluating every {eval_every:,} steps records {snapshots:,} snapshots of {positions:,} exponents "
            f"each, more than the {TRAIN_MAX_SNAPSHOT_CELLS:,} values a run on this server keeps; evaluate "
            f"every {least:,} steps or more (0 = about 40 snapshots)")


# --- cost estimates -------------------------------------------------------------------------------------


def forward_seconds(model_config, batch: int) -> float:
    """Estimated seconds of one CPU core for one denoiser forward pass on ``[batch, L]``: dense layers,
    attention and a per-call overhead, each at the rate measured on the lab's 2-core server (float32,
    one thread). Estimates err on the slow side for wide models."""
    L, d, layers, V = model_config.length, model_config.d_model, model_config.n_layers, model_config.vocab_size
    dense = batch * L * (layers * 12 * d * d + d * (V + 1)) / DENSE_RATE
    attention = batch * L * L * d * layers * 2 / ATTENTION_RATE
    return dense + attention + layers * CALL_SECONDS


def decode_seconds(model_config, samples: int, steps: int | None = None) -> float:
    """Decoding ``samples`` sequences in ``steps`` forward passes (default: one per position)."""
    steps = model_config.length if steps is None else steps
    return steps * forward_seconds(model_config, samples)


def score_seconds(model_config, rows: int, n_orders: int, n_samples: int, policies: int) -> float:
    """``core.quality.compare_policies``: per policy the teacher-forced order NLL (``L`` prefix states of
    ``rows x n_orders`` sequences), an adaptive teacher-forced pass and ``n_samples`` samples."""
    L = model_config.length
    per_policy = (forward_seconds(model_config, rows * n_orders * L) + decode_seconds(model_config, rows)
                  + decode_seconds(model_config, n_samples))
    return policies * per_policy


def check_seconds(what: str, seconds: float, budget: float) -> None:
    """Refuse work estimated to take longer than ``budget`` seconds, before it starts."""
    if seconds > budget:
        raise ValueError(f"{what} would take about {_duration(seconds)} of CPU time, over this lab's "
                         f"budget of {budget:g} s; not computed")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:,.0f} h"


def orders_to_sample(L: int, wanted: int, cells: int = ORDER_SAMPLE_CELLS) -> int:
    """How many orders of ``L`` positions a Monte Carlo statistic may draw: ``wanted``, fewer for long
    sequences so that ``orders x L <= cells`` (at least 64)."""
    return int(max(64, min(wanted, cells // max(1, L))))


def plot_positions_ok(L: int) -> bool:
    """Whether an ``L x L`` figure is small enough to draw."""
    return L * L <= MAX_PLOT_CELLS


def describe() -> list[tuple[str, object]]:
    """The table as (name, value) rows, for documentation and the README."""
    return [(k, v) for k, v in globals().items() if k.isupper() and isinstance(v, (int, float))
            and not isinstance(v, bool)]

