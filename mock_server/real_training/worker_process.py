"""One training worker process as the runner holds it: its pipes, its stop, and why it died.

Apart from the runner because this is the part that deals in a process rather than in jobs and
reports: a stop asked for on stdin and forced after a grace, the pipes closed only once its output
is read, and the exception its log ends on when it exits before its final report. The runner's
thread decides when each happens; how is the same for every worker.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WorkerProcess"]

_GRACE = 5.0  # seconds a worker told to stop has before it is killed


@dataclass(eq=False)
class WorkerProcess:
    job_id: str
    tenant: str
    proc: subprocess.Popen[str]
    log: Path
    stop_sent: float | None = None
    reader: threading.Thread | None = None
    renewed: float = 0.0  # when its lease was last claimed (the lease clock's time)
    lost: bool = False  # its lease went to another runner: what it reports is dropped

    def release(self) -> None:
        """Close the pipes once the process is gone and its output read."""
        if self.reader is not None and self.reader is not threading.current_thread():
            self.reader.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def stop(self) -> None:
        if self.stop_sent is not None:
            if time.monotonic() - self.stop_sent > _GRACE and self.proc.poll() is None:
                self.proc.kill()
            return
        self.stop_sent = time.monotonic()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):  # it is already gone
            pass

    def wait_or_kill(self) -> None:
        """Give a worker told to stop its grace to report ``stopped`` and exit, then kill it."""
        try:
            self.proc.wait(timeout=_GRACE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def failure(self, code: int) -> str:
        """The job's error when its worker exited with ``code`` before a final report."""
        how = f"was killed by signal {-code}" if code < 0 else f"exited ({code})"
        tail = _tail(self.log)
        return f"The training worker {how} before the job finished" + (f": {tail}" if tail else "")


_RAISED = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def _tail(path: Path, limit: int = 400) -> str:
    """The last exception a worker's log names (a traceback's last line), if any."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    raised = [ln for ln in lines if _RAISED.match(ln)]
    return raised[-1][-limit:] if raised else ""
