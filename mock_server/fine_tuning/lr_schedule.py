"""Learning-rate schedules as Together describes them: warmup, then linear or cosine decay to a
floor of ``min_lr_ratio`` times the peak.

Pure functions of the step, shared by the synthetic timeline (which reports the rate in
``/metrics``) and the real trainer, so both report the same numbers for the same job.
``step`` counts optimizer steps from 0, as the transformers schedulers do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["Schedule"]


@dataclass(frozen=True)
class Schedule:
    peak: float
    total_steps: int
    warmup_ratio: float = 0.0
    kind: Literal["linear", "cosine"] = "linear"
    min_lr_ratio: float = 0.0
    num_cycles: float = 0.5

    @property
    def warmup_steps(self) -> int:
        return math.ceil(self.total_steps * self.warmup_ratio)

    def factor(self, step: int) -> float:
        warmup, total, floor = self.warmup_steps, self.total_steps, self.min_lr_ratio
        if step < warmup:
            return step / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if self.kind == "cosine":
            decay = 0.5 * (1.0 + math.cos(math.pi * self.num_cycles * 2.0 * progress))
        else:
            decay = 1.0 - progress
        return floor + (1.0 - floor) * max(0.0, decay)

    def lr_at(self, step: int) -> float:
        return self.peak * self.factor(step)
