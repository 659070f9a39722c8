"""The simulator's own controls: moving the clock and wiping everything.

Both reach across services, which is why they live here and not in any one of them: the clock
offset is saved in the store (a restart keeps the time), real training is told the time moved,
and a reset empties the store and every piece of process memory that holds state (kept views,
behaviours, fault rules and journal: see the README's state map).
"""

from __future__ import annotations

from datetime import datetime

from mock_server.core.clock import Clock
from mock_server.faults.behaviours import Behaviours
from mock_server.faults.registry import Faults
from mock_server.fine_tuning.kept_views import KeptViews
from mock_server.real_training.service import RealTraining
from mock_server.store import Store

__all__ = ["Controls"]


class Controls:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        views: KeptViews,
        real_training: RealTraining,
        behaviours: Behaviours,
        faults: Faults,
    ) -> None:
        self.store = store
        self.clock = clock
        self.views = views
        self.real_training = real_training
        self.behaviours = behaviours
        self.faults = faults

    def advance_clock(self, seconds: float) -> datetime:
        now = self.clock.advance(seconds)
        self.store.set_meta("clock_offset", repr(self.clock.offset))
        self.real_training.nudge()
        return now

    def reset(self) -> None:
        self.real_training.reset()
        self.store.reset()
        self.views.clear()
        self.behaviours.reset()
        self.faults.reset()  # the startup scenario's rules again, journal emptied
