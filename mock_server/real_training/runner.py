"""The job runner for real training: worker processes in, store writes out.

A real job follows its plan up to the start of training like any other; then this runner starts
``python -m mock_server.training.worker`` for it (a subprocess, so the server never imports torch)
and applies each report the worker writes as one transaction (``FineTuning.apply_report``: the job,
its events, metric points and checkpoints, and the kept view forgotten).

One background thread does it all, so reports, launches and stops never race each other. It wakes
on a report, on a worker's exit, when the fine-tuning service says a real job changed (created,
cancelled, failed, deleted) and, while any real job is live, every ``_TICK`` seconds to move
real jobs along their planned timeline (reads are lazy, and nobody may be reading). It starts on
the first real job, not with the app, so a server that never trains real jobs never has the
thread.

Cancel: the worker is told ``stop`` and stops before its next optimizer step, then reports
``stopped``. A worker that exits without a final report while the server runs ends its job in
``error`` with the tail of its log (``worker_process.py``). A job whose worker was lost with a
previous server process is not failed: it gets a new worker (``launch.relaunch_spec``) that
resumes from its last checkpoint, or from step 0, or packs its final outputs again, and a
``job_restarted`` event says which.

While a job trains, a progress line (steps, loss, tokens/s, ETA) is drawn on the server's stderr
when it is a terminal (``progress_bar.py``).

Replicas (``serve --workers N``, or several servers on one database) each run a runner, and a
runner acts on a job only while it holds the job's lease (``lease.py``: claimed, renewed by the
heartbeat, released, and what a lost lease means). A replica's runner also wakes every
``ttl / 4`` with nothing to do, to find jobs whose owner died.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pydantic import ValidationError

from mock_server.core.errors import NotFound, ServiceUnavailable, TogetherError
from mock_server.fine_tuning.models import LIVE, Job, JobStatus
from mock_server.fine_tuning.plan import in_training
from mock_server.fine_tuning.reports import REPORT, Failed, Report, Stopped
from mock_server.real_training.chat import ChatWorker, spawn_worker
from mock_server.real_training.launch import SPEC_FILE, CannotLaunch, launch_spec, relaunch_spec
from mock_server.real_training.lease import LOCAL, Leases
from mock_server.real_training.progress_bar import ProgressBar
from mock_server.real_training.worker_process import WorkerProcess
from mock_server.training.spec import WorkerSpec

if TYPE_CHECKING:
    from mock_server.fine_tuning.service import FineTuning
    from mock_server.store import BlobStore
    from mock_server.training.bases import BaseChoice

__all__ = ["TrainingRunner"]

log = logging.getLogger("together_sim.runner")

_TICK = 0.2  # seconds between scans of the live real jobs


@dataclass(frozen=True)
class _Line:
    job_id: str
    text: str


@dataclass(frozen=True)
class _Exit:
    job_id: str
    code: int


@dataclass(eq=False)
class TrainingRunner:
    jobs: FineTuning
    blobs: BlobStore  # the jobs' training folders
    model: str = "micro"  # the stand-in trained for every catalogue model
    progress: IO[str] | None = None  # where progress lines go; None: nowhere
    threads: int | None = None  # CPU threads of each worker; None: torch's choice
    model_map: Mapping[str, BaseChoice] = field(default_factory=dict)  # model name -> base
    owner: str = LOCAL  # whose name this runner's leases are in
    watch: bool = False  # wake every ttl / 4 even with nothing live here (replicas)
    chat: ChatWorker = field(init=False)  # chat and completions on real jobs' outputs
    leases: Leases = field(init=False)  # the jobs this runner may act on
    _queue: queue.SimpleQueue[object] = field(default_factory=queue.SimpleQueue)
    _workers: dict[str, WorkerProcess] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _closing: bool = False
    _busy: bool = False
    _last_scan: float = 0.0
    _bar: ProgressBar | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._bar = None if self.progress is None else ProgressBar(self.progress)
        self.leases = Leases(self.jobs.store, self.owner)
        self.chat = ChatWorker(
            log=self.jobs.store.data_dir / "training" / "chat-worker.log", threads=self.threads
        )

    # -- what the rest of the server calls --------------------------------------------------------

    def wake(self) -> None:
        """Look at the real jobs now, starting the thread on first use."""
        with self._lock:
            if self._closing:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="together-sim-trainer", daemon=True
                )
                self._thread.start()
        self._queue.put("wake")

    def nudge(self) -> None:
        """Look now if the thread runs (the clock moved); never starts it."""
        if self._thread is not None:
            self._queue.put("wake")

    def reset(self) -> None:
        """Kill every worker (their jobs are about to be deleted)."""
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.proc.kill()
            worker.proc.wait()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            thread = self._thread
        if thread is not None:
            self._queue.put("close")
            thread.join(timeout=10)
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.wait_or_kill()
            worker.release()
            if not worker.lost:  # its job goes on at once wherever it is claimed next
                with suppress(TogetherError):
                    self.leases.release(worker.job_id)
        self.chat.close()

    def worker_pid(self, job_id: str) -> int | None:
        with self._lock:
            worker = self._workers.get(job_id)
        return None if worker is None else worker.proc.pid

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        """Block until ``done()`` holds (checked after each thing the runner does) or timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, _TICK))
        return True

    # -- the thread -------------------------------------------------------------------------------

    def _loop(self) -> None:
        idle = self.leases.ttl / 4 if self.watch else None
        while True:
            try:
                item = self._queue.get(timeout=_TICK if self._busy else idle)
            except queue.Empty:
                item = "wake"
            if item == "close":
                return
            try:
                if isinstance(item, _Line):
                    self._on_line(item)
                elif isinstance(item, _Exit):
                    self._on_exit(item)
                if item == "wake" or time.monotonic() - self._last_scan >= _TICK:
                    self._scan()
            except ServiceUnavailable as exc:  # the next tick looks again
                log.warning("the training runner waits for the database: %s", exc.message)
            except Exception:
                log.exception("the training runner failed on %r", item)
            with self._changed:
                self._changed.notify_all()

    def _scan(self) -> None:
        self._last_scan = time.monotonic()
        store = self.jobs.store
        live: dict[str, Job] = {}
        for job in store.iter_live_jobs(trainer="real"):
            try:
                job = self.jobs.job(job.tenant, job.id)  # lazy progress, as a read makes
            except NotFound:
                continue
            if job.status in LIVE:
                live[job.id] = job
        with self._lock:
            workers = dict(self._workers)
        for job_id, worker in workers.items():
            job_or_none = live.get(job_id)
            if job_or_none is None or job_or_none.status is JobStatus.cancel_requested:
                worker.stop()
        for worker in self.leases.renew(workers.values()):
            log.warning("job %s: its lease went to another runner; its worker stops", worker.job_id)
            worker.proc.kill()
        for job in live.values():
            if not in_training(job) or job.id in workers or not self.leases.claim(job.id):
                continue
            if job.status is JobStatus.cancel_requested:
                self._report(job.tenant, job.id, Stopped(step=job.steps_completed))
                self.leases.release(job.id)
            elif job.worker_launched:  # its worker died with a previous server process
                self._relaunch(job)
            else:
                self._launch(job)
        self._busy = bool(live) or bool(self._workers)

    def _launch(self, job: Job) -> None:
        try:
            spec = launch_spec(self.jobs, self.blobs, job, self.model, self.model_map)
        except CannotLaunch as exc:
            self._report(job.tenant, job.id, Failed(kind=exc.kind, message=str(exc)))
            self.leases.release(job.id)
            return
        self.jobs.worker_launched(job.tenant, job.id)
        self._start(job, spec)

    def _relaunch(self, job: Job) -> None:
        try:
            spec, restarted = relaunch_spec(self.jobs.store, self.blobs, job)
        except CannotLaunch as exc:
            self._report(job.tenant, job.id, Failed(kind=exc.kind, message=str(exc)))
            self.leases.release(job.id)
            return
        if self._report(job.tenant, job.id, restarted) is not None:
            self._start(job, spec)
        else:
            self.leases.release(job.id)

    def _start(self, job: Job, spec: WorkerSpec) -> None:
        out = Path(spec.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / SPEC_FILE).write_text(spec.model_dump_json(indent=2))
        proc = spawn_worker(
            "mock_server.training.worker",
            str(out / SPEC_FILE),
            log=out / "worker.log",
            threads=self.threads,
        )
        worker = WorkerProcess(
            job.id, job.tenant, proc, out / "worker.log", renewed=self.leases.clock()
        )
        worker.reader = threading.Thread(
            target=self._read, args=(worker,), name=f"worker-{job.id}", daemon=True
        )
        with self._lock:
            self._workers[job.id] = worker
        worker.reader.start()

    def _read(self, worker: WorkerProcess) -> None:
        assert worker.proc.stdout is not None
        for line in worker.proc.stdout:
            self._queue.put(_Line(worker.job_id, line))
        self._queue.put(_Exit(worker.job_id, worker.proc.wait()))

    def _on_line(self, line: _Line) -> None:
        with self._lock:
            worker = self._workers.get(line.job_id)
        if worker is None or worker.lost or self._closing:
            return
        try:
            report: Report = REPORT.validate_json(line.text)
        except ValidationError:
            log.warning("job %s: not a report: %r", line.job_id, line.text[:200])
            return
        job = self._report(worker.tenant, worker.job_id, report)
        if job is not None and self._bar is not None:
            self._bar.draw(job, report)

    def _on_exit(self, exit_: _Exit) -> None:
        with self._lock:
            worker = self._workers.pop(exit_.job_id, None)
        if worker is None:
            return
        worker.release()
        if self._closing or worker.lost:  # the job is left to whoever holds its lease
            return
        try:
            self._after_exit(worker, exit_)
        finally:
            self.leases.release(worker.job_id)

    def _after_exit(self, worker: WorkerProcess, exit_: _Exit) -> None:
        try:
            job = self.jobs.store.get_job(worker.tenant, worker.job_id)
        except NotFound:  # deleted while it trained: its files go too
            self.blobs.delete_training_dir(worker.job_id)
            return
        if job.status not in LIVE:
            return
        if job.status is JobStatus.cancel_requested:
            self._report(job.tenant, job.id, Stopped(step=job.steps_completed))
            return
        self._report(job.tenant, job.id, Failed(message=worker.failure(exit_.code)))

    def _report(self, tenant: str, job_id: str, report: Report) -> Job | None:
        """Apply a worker's report; while another process holds the database locked, try again
        (each try waits for it a while) rather than lose the report: the worker's later reports
        queue up behind it meanwhile."""
        while True:
            try:
                return self.jobs.apply_report(tenant, job_id, report)
            except NotFound:
                return None
            except ServiceUnavailable as exc:
                if self._closing:
                    return None
                log.warning("job %s: report %s waits: %s", job_id, report.type, exc.message)
            except TogetherError:
                log.exception("job %s: report %s does not apply", job_id, report.type)
                return None
