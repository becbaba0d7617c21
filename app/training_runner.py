"""A training run: a Trainer (and optionally a linear baseline) advanced by time budgets, with pause /
resume / stop / single steps, progress and a zipped checkpoint.

Pure Python (no streamlit), so it is tested directly. With ``background=True`` (what the Train page uses)
each run trains in its own worker thread from Start to the end, whichever page its browser shows: pages only
read its progress and histories and send pause / resume / stop. Every change to the trainers happens under
the run's lock, so a page's pause or single step waits for the round in flight and then sees a stable run.
Without ``background`` nothing runs between calls of :meth:`TrainingRun.advance` (tests drive it so).
Both trainers pull from ``Trainer.events()``, one event at a time in turn, so they stay at the same step
and share the same settings (the baseline differs only in its schedule).

The server trains at most ``limits.max_concurrent_runs()`` runs at once (one per CPU core by default;
``$ORDERLAB_MAX_CONCURRENT_RUNS`` changes it): :data:`BUDGET` (``app/training_budget.py``) is shared by every
session, and a run that finds every slot taken waits in a first-come queue, which the page shows. A slot is
given back when its run pauses, stops or finishes, or when nobody asks for it any more. A background run
that no page has looked at for ``ABANDON_S`` (its browser closed) pauses, and the worker of a paused run
nobody looks at ends (resuming starts a new one).
"""

from __future__ import annotations

import atexit
import io
import tempfile
import weakref
import threading
import time
import zipfile
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from app.training_budget import TrainingBudget
from core import limits, meta, tables
from core.checkpoint import HUB_FILES
from core.train import StepEvent, TrainConfig, Trainer

MAX_CSV_BYTES = limits.CSV_MAX_BYTES
ABANDON_S = 600.0  # a background run nobody has looked at for this long pauses (a closed browser)
ROUND_S = 0.25  # training time per round of a worker thread: a pause waits at most about this long
QUEUE_POLL_S = 0.5  # how often a queued worker asks for a slot again
PARK_S = 5.0  # a paused worker looks again this often (whether its run was abandoned)


BUDGET = TrainingBudget(limits.max_concurrent_runs())
_WORKING: "weakref.WeakSet[TrainingRun]" = weakref.WeakSet()  # background runs whose worker may be alive


@atexit.register
def stop_all(timeout_s: float = 5.0) -> None:
    """Stop every background run and wait for its worker (a thread inside torch at interpreter exit aborts
    the process)."""
    for run in list(_WORKING):
        run.stop()
    for run in list(_WORKING):
        if run._worker is not None:
            run._worker.join(timeout_s)
PACE_WINDOW_S = 20.0  # the remaining time follows the step rate of about this much recent running time


@dataclass
class Progress:
    step: int
    total: int
    elapsed: float  # seconds spent inside the trainers (advance / step_once)
    wall: float  # wall-clock seconds since Start, paused time not counted (page reruns included)
    remaining: float | None  # wall-clock estimate from the recent step rate; None before it is known

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 1.0


class TrainingRun:
    """One run: ``trainer`` (the chosen schedule) and ``baseline`` (linear, same settings) or None."""

    def __init__(self, config: TrainConfig, dataset: meta.Dataset | None = None, baseline: bool = False,
                 label: str = "run", clock=time.monotonic, budget: TrainingBudget | None = None,
                 background: bool = False):
        self.label = label
        self.background = background
        self._lock = threading.RLock()  # held while the trainers change (a round, a step, a save)
        self._wake = threading.Event()  # set when a background run is started or resumed
        self._worker: threading.Thread | None = None
        self.last_seen = clock()  # when a page last read this run (background runs pause when abandoned)
        self.budget = budget if budget is not None else BUDGET
        self.queue_place = 0  # > 0 while waiting for a training slot
        self._clock = clock  # wall clock for the elapsed and remaining times (tests pass a fake one)
        self._wall, self._running_since = 0.0, None
        self._pace: deque[tuple[float, int]] = deque()  # (wall seconds, step) samples while running
        self.trainer = Trainer(config, dataset)
        problem = limits.snapshot_problem(config.steps, config.eval_every, self.trainer.meta.length)
        if problem:  # before the first step: the history is what would grow
            raise ValueError(problem)
        self.baseline = None
        if baseline and config.schedule != "linear":
            self.baseline = Trainer(replace(config, schedule="linear"), self.trainer.dataset)
        self._events = {id(t): t.events() for t in self.trainers}
        self._finished: set[int] = set()
        self.state = "ready"
        self.elapsed = 0.0

    # --- what the page reads ----------------------------------------------------------------------
    @property
    def trainers(self) -> list[Trainer]:
        return [self.trainer] + ([self.baseline] if self.baseline is not None else [])

    @property
    def config(self) -> TrainConfig:
        return self.trainer.config

    @property
    def meta(self) -> meta.DataMeta:
        return self.trainer.meta

    @property
    def active(self) -> bool:
        return self.state == "running"

    @property
    def waiting(self) -> bool:
        """Running, but queued behind other sessions' runs for a training slot."""
        return self.state == "running" and self.queue_place > 0

    def histories(self) -> dict[str, list[dict]]:
        """Snapshot histories by curve label: the run's schedule, plus ``linear baseline`` if present.
        Copies of the lists (snapshots are never changed once recorded), safe to read while training."""
        runs = {self.config.schedule: list(self.trainer.history)}
        if self.baseline is not None:
            runs["linear baseline"] = list(self.baseline.history)
        return runs

    def history(self) -> list[dict]:
        """A copy of the run's own snapshot history."""
        return list(self.trainer.history)

    def touch(self) -> None:
        """A page looked at this run: it is not abandoned."""
        self.last_seen = self._clock()

    def exponents(self) -> list[float]:
        """The current exponents of the run's schedule (also between evaluations, e.g. after a step)."""
        with self._lock:  # all ones for a shared schedule
            return [float(v) for v in self.trainer.schedule.order_scores().detach().cpu()]

    def wall_elapsed(self) -> float:
        """Wall-clock seconds spent running since Start: paused time is not counted."""
        running = self._clock() - self._running_since if self._running_since is not None else 0.0
        return self._wall + running

    def steps_per_second(self) -> float | None:
        """The recent training pace (steps per wall-clock second), None before it is known."""
        return self._recent_rate()

    def progress(self) -> Progress:
        step, total, wall = self.trainer.step_count, self.config.steps, self.wall_elapsed()
        rate = self._recent_rate()
        remaining = 0.0 if step >= total else (total - step) / rate if rate else None
        return Progress(step, total, self.elapsed, wall, remaining)

    # --- controls ---------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self.state in ("ready", "paused"):
                self.state = "running"
                self._running_since = self._clock()
                self.touch()
        if self.background and self.state == "running":
            self._ensure_worker()

    resume = start

    def pause(self) -> None:
        """Stop training after the round in flight (returns once the trainers are still)."""
        with self._lock:
            if self.state == "running":
                self._set_state("paused")

    def stop(self) -> None:
        """End the run early; its latest state stays available to view and save."""
        with self._lock:
            if self.state not in ("done",):
                self._set_state("stopped")
        self._wake.set()  # a parked worker ends

    def advance(self, budget_s: float) -> int:
        """Pull training events for about ``budget_s`` seconds while running; returns steps taken."""
        with self._lock:
            return self._advance(budget_s)

    def _advance(self, budget_s: float) -> int:
        if self.state != "running":
            return 0
        self.queue_place = self.budget.acquire(id(self))
        if self.queue_place:
            return 0
        start, steps = time.perf_counter(), 0
        fresh = not self.trainer.history  # show the step-0 evaluation as soon as it exists
        while time.perf_counter() - start < budget_s and self.state == "running":
            steps += self._pull_round()
            if fresh:
                break
        self.elapsed += time.perf_counter() - start
        self._pace.append((self.wall_elapsed(), self.trainer.step_count))
        return steps

    def step_once(self) -> int:
        """One optimizer step of every trainer (after the step-0 evaluation if it has not happened)."""
        with self._lock:
            return self._step_once()

    def _step_once(self) -> int:
        if self.state in ("stopped", "done"):
            return 0
        start, wall_start, steps = time.perf_counter(), self._clock(), 0
        for trainer in self.trainers:
            steps += self._pull_until_step(trainer)
        self.elapsed += time.perf_counter() - start
        self._wall += self._clock() - wall_start  # a paused run's single step counts as running time
        self._check_done()
        if self.state == "ready":
            self.state = "paused"
        return steps

    # --- results ----------------------------------------------------------------------------------
    def checkpoint_zip(self, which: str = "trainer") -> bytes:
        """A zip of ``config.json`` + ``model.safetensors`` + ``metrics.json`` for the run or its baseline."""
        trainer = self.trainer if which == "trainer" else self.baseline
        if trainer is None:
            raise ValueError("this run has no linear baseline")
        with tempfile.TemporaryDirectory() as tmp, self._lock:
            trainer.save(tmp)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
                for name in HUB_FILES:
                    if (Path(tmp) / name).exists():
                        zf.write(Path(tmp) / name, arcname=name)
        return buffer.getvalue()

    # --- the worker thread (background runs) -------------------------------------------------------
    def _ensure_worker(self) -> None:
        with self._lock:
            self._wake.set()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, daemon=True, name=f"orderlab-{self.label}")
                _WORKING.add(self)
                self._worker.start()

    def _work(self) -> None:
        """Train while running, park while paused, end when stopped or done."""
        while self.state not in ("stopped", "done"):
            abandoned = self._clock() - self.last_seen > ABANDON_S
            if self.state != "running":
                if abandoned:
                    return  # nobody will resume it: end the thread (a later resume starts a new one)
                self._wake.wait(timeout=PARK_S)
                self._wake.clear()
                continue
            if abandoned:
                self.pause()
                continue
            if self.advance(ROUND_S) == 0 and self.queue_place:
                time.sleep(QUEUE_POLL_S)  # queued: ask again shortly

    # --- internals --------------------------------------------------------------------------------
    def _pull_round(self) -> int:
        """One event from each unfinished trainer; returns the number of optimizer steps taken."""
        steps = 0
        for trainer in self.trainers:
            event = self._next(trainer)
            steps += isinstance(event, StepEvent)
        self._check_done()
        return steps

    def _pull_until_step(self, trainer: Trainer) -> int:
        while (event := self._next(trainer)) is not None:
            if isinstance(event, StepEvent):
                return 1
        return 0

    def _next(self, trainer: Trainer):
        if id(trainer) in self._finished:
            return None
        try:
            return next(self._events[id(trainer)])
        except StopIteration:
            self._finished.add(id(trainer))
            return None

    def _check_done(self) -> None:
        if len(self._finished) == len(self.trainers):
            self._set_state("done")

    def _set_state(self, state: str) -> None:
        """Leave the running state: bank its wall time and forget the pace (a resumed run measures anew)."""
        if self._running_since is not None:
            self._wall += self._clock() - self._running_since
            self._running_since = None
        self._pace.clear()
        self.state = state
        self.queue_place = 0
        self.budget.release(id(self))  # the slot goes to the next run in the queue

    def _recent_rate(self) -> float | None:
        """Steps per wall-clock second over about the last ``PACE_WINDOW_S`` seconds of running."""
        while len(self._pace) > 2 and self._pace[-1][0] - self._pace[1][0] >= PACE_WINDOW_S:
            self._pace.popleft()
        if len(self._pace) < 2:
            return None
        (t0, s0), (t1, s1) = self._pace[0], self._pace[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else None


# --- data ---------------------------------------------------------------------------------------------


def dataset_from_csv(raw: bytes, filename: str, seed: int = 0) -> meta.Dataset:
    """Encode an uploaded CSV as a table dataset (``core.tables.csv_dataset``, as ``core.train --csv``)."""
    return tables.csv_dataset(raw, filename, seed)


def run_label(config: TrainConfig, index: int) -> str:
    """A short label such as ``#2 pairs learned seed 0 (400 steps)``."""
    return f"#{index} {config.task} {config.schedule} seed {config.seed} ({config.steps} steps)"
