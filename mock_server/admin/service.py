"""The simulator's own controls: moving the clock and wiping everything.

Both reach across services, which is why they live here and not in any one of them: the clock
offset is saved in the store (a restart keeps the time), real training is told the time moved,
and a reset empties the store, the blob store, the caches under the data dir and every piece of
process memory that holds state (``ProcessMemory``, the one list of it: see the README's state
map).
"""

from __future__ import annotations

import math
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime

from mock_server.core.clock import Clock
from mock_server.core.errors import InvalidRequest
from mock_server.core.ids import IdSource
from mock_server.faults.behaviours import Behaviours
from mock_server.faults.registry import Faults
from mock_server.fine_tuning.kept_views import KeptViews
from mock_server.real_training.service import RealTraining
from mock_server.store import BlobStore, Store

__all__ = ["HORIZON", "Controls", "ProcessMemory"]

# The farthest the clock may run ahead of where it started: a century, far past any job's
# timeline (a "stuck" job waits one century more) and far short of the year 9999, past which
# a datetime cannot go and every request that reads the clock would fail.
HORIZON = 100 * 365 * 86400.0


@dataclass(frozen=True)
class ProcessMemory:
    """Every piece of state that lives in this process's memory and not in the store or the blob
    store. A second process (or replica) does not see it; a restart loses what is not saved."""

    clock: Clock  # its offset: saved to the store's meta on each move, read back only at startup
    ids: IdSource  # its random state: seeded per start from --seed and meta's generation
    kept_views: KeptViews  # rendered job bodies until their next change (a cache: safe to lose)
    faults: Faults  # fault rules, their counters and random source, the request journal
    behaviours: Behaviours  # a scenario's job and file behaviours
    real_training: RealTraining  # the runner thread and worker processes (their jobs: in the store)


class Controls:
    def __init__(self, store: Store, blobs: BlobStore, memory: ProcessMemory) -> None:
        self.store = store
        self.blobs = blobs
        self.memory = memory
        self.clock = memory.clock
        # One control at a time: they run in worker threads, and two advances at once would
        # each check the horizon against the same offset, then both move it.
        self._lock = threading.Lock()

    def advance_clock(self, seconds: float) -> datetime:
        """Refused (400, ``seconds``) unless the move is finite, forward, and leaves the clock
        within the horizon; checked before anything moves, so a refusal leaves the clock, and
        every request that reads it, as they were."""
        with self._lock:
            return self._advance(seconds)

    def _advance(self, seconds: float) -> datetime:
        if not math.isfinite(seconds) or seconds < 0:
            raise InvalidRequest(
                "seconds: time moves forward by a finite number of seconds", param="seconds"
            )
        offset = self.clock.offset
        if offset + seconds > HORIZON:
            raise InvalidRequest(
                f"seconds: the clock runs at most a century ({HORIZON:.0f} s) ahead of where it "
                f"started, and is {offset:.0f} s ahead now",
                param="seconds",
            )
        try:
            now = self.clock.advance(seconds)
        except (OverflowError, ValueError) as exc:  # a clock that started near the end of time
            self.clock.offset = offset
            raise InvalidRequest(f"seconds: {exc}", param="seconds") from exc
        try:
            self.store.set_meta("clock_offset", repr(self.clock.offset))
        except BaseException:  # not saved, not moved: a 503 is sent again, and must not move twice
            self.clock.offset = offset
            raise
        self.memory.real_training.nudge()
        return now

    def reset(self) -> None:
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        memory = self.memory
        memory.real_training.reset()
        self.store.reset()
        self.blobs.clear()
        # Synthetic archives and images: caches the services write under the data dir themselves.
        artifacts = self.store.data_dir / "artifacts"
        shutil.rmtree(artifacts, ignore_errors=True)
        artifacts.mkdir(exist_ok=True)
        memory.kept_views.clear()
        memory.behaviours.reset()
        memory.faults.reset()  # the startup scenario's rules again, journal emptied
