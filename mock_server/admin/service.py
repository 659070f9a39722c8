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

from mock_server.core.clock import CENTURY, Clock
from mock_server.core.errors import InvalidRequest
from mock_server.core.ids import IdSource
from mock_server.core.shared import Coherence
from mock_server.faults.behaviours import Behaviours
from mock_server.faults.registry import Faults
from mock_server.fine_tuning.kept_views import KeptViews
from mock_server.real_training.service import RealTraining
from mock_server.store import BlobStore, Store

__all__ = ["CLOCK_OFFSET", "HORIZON", "Controls", "ProcessMemory"]

CLOCK_OFFSET = "clock_offset"  # the meta key the offset is saved under

# The farthest the clock may run ahead of where it started (past the year 9999 every request
# that reads the clock would fail).
HORIZON = CENTURY


@dataclass(frozen=True)
class ProcessMemory:
    """Every piece of state that lives in this process's memory and not in the store or the blob
    store. A single server's is its own: a restart loses what is not saved. Replicas sharing a
    database (``Settings.shared``) keep the clock's offset, the fault rules, their counters and
    journal, and the behaviours in the store, and what is here is a copy reloaded when the
    shared version moves (``core/shared.py``); kept job bodies are checked against the job's row
    version before they answer. What stays per replica is marked so below."""

    clock: Clock  # its offset: in meta, saved on each move; read at startup (shared: on a change)
    ids: IdSource  # per replica: its random state, seeded per start from --seed and a generation
    # that meta counts atomically (Store.increment_meta), so every replica's ids are its own
    kept_views: KeptViews  # per replica: rendered job bodies until their next change (a cache)
    faults: Faults  # fault rules, their counters, the request journal; the random source per
    # replica
    behaviours: Behaviours  # a scenario's job and file behaviours and what their next N took
    real_training: RealTraining  # the runner thread and worker processes (their jobs: in the store)
    # the shared version this replica's copies were last loaded at; None: a single server
    coherence: Coherence | None = None


class Controls:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        memory: ProcessMemory,
        *,
        coherence: Coherence | None = None,
    ) -> None:
        """``coherence``: other processes serve from the same database, and the clock's offset
        is theirs too (``core/shared.py``): it is moved in the store, and reloaded from it."""
        self.store = store
        self.blobs = blobs
        self.memory = memory
        self.clock = memory.clock
        # One control at a time: they run in worker threads, and two advances at once would
        # each check the horizon against the same offset, then both move it. Across replicas,
        # ``coherence.change`` orders them the same way.
        self._lock = threading.Lock()
        self._coherence = coherence
        if coherence is not None:
            coherence.on_change(self._load_offset)

    def _load_offset(self) -> None:
        self.clock.offset = float(self.store.get_meta(CLOCK_OFFSET) or 0.0)

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
        if self._coherence is None:
            now = self._move(self.clock.offset, seconds)
        else:  # from the offset as the store has it now, whichever replica moved it last
            with self._coherence.change():
                now = self._move(float(self.store.get_meta(CLOCK_OFFSET) or 0.0), seconds)
        self.memory.real_training.nudge()
        return now

    def _move(self, offset: float, seconds: float) -> datetime:
        """The clock moved ``seconds`` on from ``offset``, and the new offset saved."""
        if offset + seconds > HORIZON:
            raise InvalidRequest(
                f"seconds: the clock runs at most a century ({HORIZON:.0f} s) ahead of where it "
                f"started, and is {offset:.0f} s ahead now",
                param="seconds",
            )
        self.clock.offset = offset
        try:
            now = self.clock.advance(seconds)
        except (OverflowError, ValueError) as exc:  # a clock that started near the end of time
            self.clock.offset = offset
            raise InvalidRequest(f"seconds: {exc}", param="seconds") from exc
        try:
            self.store.set_meta(CLOCK_OFFSET, repr(self.clock.offset))
        except BaseException:  # not saved, not moved: a 503 is sent again, and must not move twice
            self.clock.offset = offset
            raise
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
