"""Server-wide slots for training runs: at most so many runs train at once, the others wait in a
first-come queue (``app/training_runner.py`` asks for a slot every round and gives it back when its run
pauses, stops or finishes). Pure Python and thread-safe; the clock is injectable for tests."""

from __future__ import annotations

import threading
import time

from core import checks

LEASE_S = 10.0  # a slot or queue place not asked for in this long is given up (the worker asks every round)


class TrainingBudget:
    """Server-wide slots for training runs, with a first-come queue for the runs that find none free.

    Thread-safe: every session's page asks from its own thread. ``clock`` is injectable for tests."""

    def __init__(self, slots: int, clock=time.monotonic):
        self.slots = checks.check_int("concurrent training runs", slots, 1, 1024)
        self._clock = clock
        self._lock = threading.Lock()
        self._holders: dict[int, float] = {}  # run id -> last time its page asked
        self._queue: dict[int, float] = {}  # waiting run id -> last time asked (insertion order = queue)

    def acquire(self, run_id: int) -> int:
        """0 when ``run_id`` holds a slot (granted now or before), else its place in the queue (1 = next)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if run_id in self._holders:
                self._holders[run_id] = now
                return 0
            self._queue.setdefault(run_id, now)
            self._queue[run_id] = now
            place = list(self._queue).index(run_id) + 1
            if place <= self.slots - len(self._holders):
                del self._queue[run_id]
                self._holders[run_id] = now
                return 0
            return place

    def release(self, run_id: int) -> None:
        with self._lock:
            self._holders.pop(run_id, None)
            self._queue.pop(run_id, None)

    def status(self) -> tuple[int, int]:
        """(runs training now, runs waiting)."""
        with self._lock:
            self._expire(self._clock())
            return len(self._holders), len(self._queue)

    def _expire(self, now: float) -> None:
        for table in (self._holders, self._queue):
            for run_id in [r for r, seen in table.items() if now - seen > LEASE_S]:
                del table[run_id]
