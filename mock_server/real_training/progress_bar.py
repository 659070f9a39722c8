"""The progress line a real job draws on the server's stderr while it trains (when that is a
terminal): steps, loss, tokens/s and ETA, redrawn in place on each step report, so someone
watching the server sees training move without reading the job's events.

One line is open at a time: a step of another job starts a new line, and the job's end closes
its own with its status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import IO

from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.fine_tuning.reports import Report, Step

__all__ = ["ProgressBar", "progress_line"]


@dataclass(eq=False)
class ProgressBar:
    stream: IO[str]
    _job: str = ""  # the job whose progress line is open

    def draw(self, job: Job, report: Report) -> None:
        stream = self.stream
        if isinstance(report, Step):  # the ETA of the measured pace, whatever the clock says
            eta = math.ceil((job.total_steps - report.step) * report.seconds_per_step)
            line = progress_line(
                job.id, report.step, job.total_steps, report.loss, report.tokens_per_s, eta
            )
            stream.write(("\n" if self._job not in ("", job.id) else "") + "\r" + line)
            self._job = job.id
        elif job.status is not JobStatus.running and self._job == job.id:
            stream.write(f"\n{job.id} {job.status.value}\n")
            self._job = ""
        stream.flush()


def progress_line(
    job_id: str, step: int, total: int, loss: float, tokens_per_s: float, eta: int, width: int = 24
) -> str:
    """``ft-… [#########---------------]  12/40 loss 2.3101   8120 tok/s ETA 0:07``"""
    filled = round(width * step / max(1, total))
    minutes, seconds = divmod(max(0, eta), 60)
    return (
        f"{job_id} [{'#' * filled}{'-' * (width - filled)}] {step:>{len(str(total))}}/{total} "
        f"loss {loss:.4f} {tokens_per_s:>8.0f} tok/s ETA {minutes}:{seconds:02d}"
    )
