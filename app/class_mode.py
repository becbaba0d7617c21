"""Class mode: a teacher shares one run (live) or one shipped replay under a short code; every student's
page follows it read-only, without training anything itself.

:data:`REGISTRY` is server-wide (one per process) and thread-safe: every browser session's script thread
reads it. It holds at most ``MAX_SHARED`` entries (the oldest share is dropped first) and forgets a share
after ``SHARE_TTL_S``. A live share holds the teacher's :class:`app.training_runner.TrainingRun` itself —
its worker thread trains it, followers only read its snapshot histories — and a replay share holds only
the shipped run's name, the moment it started and its speed, so every follower computes the same snapshot
index from the clock. Pure Python, tested directly.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed from a projector
CODE_LENGTH = 4
MAX_SHARED = 16
SHARE_TTL_S = 4 * 3600.0


@dataclass
class SharedReplay:
    """A shipped run played back from ``started`` at ``speed`` snapshots per second (``paused_at`` when paused)."""

    name: str
    started: float
    speed: float = 1.0
    paused_at: int | None = None

    def index(self, now: float, count: int) -> int:
        """The snapshot every follower shows now (the last one once played through)."""
        if self.paused_at is not None:
            return min(self.paused_at, count - 1)
        return min(int((now - self.started) * self.speed), count - 1)


@dataclass
class Share:
    code: str
    title: str
    run: object | None = None  # a TrainingRun (live)
    replay: SharedReplay | None = None
    created: float = field(default_factory=time.monotonic)


class ClassRegistry:
    def __init__(self, max_shared: int = MAX_SHARED, clock=time.monotonic):
        self.max_shared, self._clock = max_shared, clock
        self._lock = threading.Lock()
        self._shares: dict[str, Share] = {}  # insertion order = age

    def share_run(self, run, title: str) -> str:
        """Share a live run (the same run shared twice keeps its code)."""
        with self._lock:
            for share in self._shares.values():
                if share.run is run:
                    return share.code
            return self._add(Share(self._new_code(), title, run=run, created=self._clock()))

    def share_replay(self, name: str, speed: float, title: str) -> str:
        with self._lock:
            replay = SharedReplay(name, self._clock(), speed)
            return self._add(Share(self._new_code(), title, replay=replay, created=self._clock()))

    def get(self, code: str | None) -> Share | None:
        if not isinstance(code, str):
            return None
        with self._lock:
            self._expire()
            return self._shares.get(code.strip().upper())

    def stop(self, code: str) -> None:
        with self._lock:
            self._shares.pop(code, None)

    def now(self) -> float:
        return self._clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._shares)

    def _add(self, share: Share) -> str:
        self._expire()
        self._shares[share.code] = share
        while len(self._shares) > self.max_shared:
            self._shares.pop(next(iter(self._shares)))
        return share.code

    def _new_code(self) -> str:
        while True:
            code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            if code not in self._shares:
                return code

    def _expire(self) -> None:
        now = self._clock()
        for code in [c for c, s in self._shares.items() if now - s.created > SHARE_TTL_S]:
            del self._shares[code]


REGISTRY = ClassRegistry()


def valid_code(text: str | None) -> bool:
    return isinstance(text, str) and len(text.strip()) == CODE_LENGTH and all(c in ALPHABET for c in text.strip().upper())
