"""``together-sim serve --workers 2`` as its own process, on one SQLite data dir and on a
PostgreSQL database: SDK 3.1.1's quick-start workflow (upload, create, monitor, events,
checkpoints, download, chat) with the writes on one worker and the reads on the other at once,
each answer naming its worker (``x-together-sim-worker``, its pid); a ``kill -9`` of one worker
mid-workflow, after which the client goes on with the other and uvicorn's supervisor starts a new
worker that serves the same records; and the guarded protocol's limits in every worker.

A client is held to one worker by its one kept-alive connection (``Workers.pinned``): the kernel
hands each new connection to whichever worker accepts first, so which one is not the test's to
choose, only to see. The clock is the instant one: the workflow needs no advance.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from together import Together

from mock_server.serve_workers import WORKER_HEADER
from tests.e2e.conftest import QUICKSTART, write_jsonl
from tests.serve_process import free_port, server_process

pytestmark = pytest.mark.e2e

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
KEY = "replica-key"


@dataclass
class Workers:
    """The server, and which worker answered each request seen (their pids, in order)."""

    root: str
    supervisor: subprocess.Popen[bytes]
    answered: list[int] = field(default_factory=list)

    def note(self, response: httpx.Response) -> None:
        self.answered.append(int(response.headers[WORKER_HEADER]))

    def pinned(self, *, not_on: int | None = None, max_retries: int = 0) -> tuple[Together, int]:
        """An SDK client on one kept-alive connection, so one worker (its pid comes back too):
        connections are made until one lands on another worker than ``not_on``."""
        for _ in range(100):
            http = httpx.Client(
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                event_hooks={"response": [self.note]},
                follow_redirects=True,
            )
            pid = int(http.get(f"{self.root}/_sim/clock").headers[WORKER_HEADER])
            if pid != not_on:
                client = Together(
                    api_key=KEY, base_url=self.root, max_retries=max_retries, http_client=http
                )
                return client, pid
            http.close()
        raise AssertionError(f"every new connection went to worker {not_on}")

    def probe(self) -> int:
        response = httpx.get(f"{self.root}/_sim/clock", timeout=5)
        assert response.status_code == 200, response.text
        self.note(response)
        return self.answered[-1]

    def until(self, done: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Probe until ``done()``: how long a worker takes to start is the supervisor's."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"no {what} after {timeout} s"
            self.probe()
            time.sleep(0.05)


@contextmanager
def serving(tmp_path: Path, *flags: str) -> Iterator[Workers]:
    """``serve --workers 2 *flags``, once both workers answer."""
    port = free_port()
    flags = ("--workers", "2", *flags)
    with server_process(tmp_path / "data", port, *flags, stderr=tmp_path / "server.log") as sup:
        server = Workers(f"http://127.0.0.1:{port}", sup)
        try:
            server.until(lambda: len(set(server.answered)) == 2, "answer from a second worker")
            yield server
        finally:
            sup.send_signal(signal.SIGTERM)  # which the supervisor passes on to its workers
            sup.wait(timeout=30)
            for pid in set(server.answered):
                _kill_if_alive(pid)


@pytest.fixture(params=["sqlite", "postgres"])
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workers]:
    """The workers on the data dir's SQLite file, or on a database of the session's throwaway
    PostgreSQL cluster (tests/conftest.py)."""
    database: tuple[str, ...] = ()
    if request.param == "postgres":
        database = ("--database-url", request.getfixturevalue("postgres_cluster").create_database())
    with serving(tmp_path, "--clock", "instant", *database) as server:
        yield server


def _kill_if_alive(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _answered_by(workers: Workers, since: int) -> set[int]:
    return set(workers.answered[since:])


def test_a_job_created_on_one_worker_is_read_on_the_other_at_once(
    workers: Workers, tmp_path: Path
) -> None:
    writer, on_a = workers.pinned()
    reader, on_b = workers.pinned(not_on=on_a)
    with writer:
        mark = len(workers.answered)
        upload = writer.files.upload(
            write_jsonl(tmp_path / "train.jsonl", QUICKSTART), purpose="fine-tune", check=True
        )
        job = writer.fine_tuning.create(
            training_file=upload.id, model=MODEL, lora=True, suffix="replicas"
        )
        assert _answered_by(workers, mark) == {on_a}  # the 302, the PUT and the preprocess too
    with reader:
        mark = len(workers.answered)
        done = reader.fine_tuning.retrieve(job.id)
        events = [e.type for e in reader.fine_tuning.list_events(job.id).data]
        checkpoints = reader.fine_tuning.list_checkpoints(job.id).data
        adapter = reader.fine_tuning.content(ft_id=job.id, checkpoint="adapter").read()
        chat = reader.chat.completions.create(
            model=str(done.x_model_output_name), messages=[{"role": "user", "content": "hi"}]
        )
        listed = [j.id for j in reader.fine_tuning.list().data]
        assert _answered_by(workers, mark) == {on_b}
    assert done.status == "completed"
    assert (events[0], events[-1]) == ("job_pending", "job_complete")
    assert "Final Adapter" in {c.checkpoint_type for c in checkpoints}
    assert adapter[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame: the tar.zst of the adapter
    assert chat.choices[0].message.content
    assert listed == [job.id]


def test_a_worker_killed_mid_workflow_leaves_the_other_to_answer_and_is_started_again(
    workers: Workers, tmp_path: Path
) -> None:
    # A client whose kept-alive connection was on the killed worker goes on: the connection is
    # found closed and another opened, which a live worker accepts (the SDK's default 2 retries
    # would cover a request caught in flight; here the kill falls between two requests).
    client, killed = workers.pinned(max_retries=2)
    (survivor,) = set(workers.answered) - {killed}  # both answered before the test began
    with client:
        upload = client.files.upload(
            write_jsonl(tmp_path / "train.jsonl", QUICKSTART), purpose="fine-tune", check=True
        )
        job = client.fine_tuning.create(training_file=upload.id, model=MODEL, lora=True)
        os.kill(killed, signal.SIGKILL)
        mark = len(workers.answered)
        done = client.fine_tuning.retrieve(job.id)
        events = [e.type for e in client.fine_tuning.list_events(job.id).data]
        adapter = client.fine_tuning.content(ft_id=job.id, checkpoint="adapter").read()
        [listed] = client.files.list().data
    assert (done.status, events[-1], listed.id) == ("completed", "job_complete", upload.id)
    assert adapter[:4] == b"\x28\xb5\x2f\xfd"
    assert killed not in _answered_by(workers, mark)

    # uvicorn's supervisor notices the death (it looks every half second) and starts a worker
    # in its place, which reads what the others wrote.
    workers.until(lambda: bool(set(workers.answered) - {killed, survivor}), "new worker")
    (restarted,) = set(workers.answered) - {killed, survivor}
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 60
    while restarted not in seen:
        assert time.monotonic() < deadline, "the new worker answered no read of the job"
        response = httpx.get(
            f"{workers.root}/v1/fine-tunes/{job.id}", headers={"authorization": f"Bearer {KEY}"}
        )
        seen[int(response.headers[WORKER_HEADER])] = response.json()["status"]
    assert seen[restarted] == "completed"


def test_the_workers_end_with_their_supervisor_even_when_it_is_killed(workers: Workers) -> None:
    """Each worker asks the kernel for a SIGTERM when its parent dies, so a supervisor killed
    outright leaves no worker serving the port behind it (uvicorn alone would)."""
    pids = set(workers.answered)
    workers.supervisor.kill()
    workers.supervisor.wait(timeout=10)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "a worker outlived its supervisor"
        time.sleep(0.05)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{workers.root}/_sim/clock", timeout=5)


def _alive(pid: int) -> bool:
    """Running: a zombie (dead, and not yet reaped by whoever adopted it) counts as ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_every_worker_refuses_a_head_past_the_limit_as_configured(tmp_path: Path) -> None:
    """The protocol class travels to the workers by import string and is made again there from
    the exported settings (pickle refuses the class made per set of limits): a limit set on the
    command line holds in each."""
    with serving(tmp_path, "--max-header-bytes", "2000") as server:
        port = httpx.URL(server.root).port
        assert port is not None
        for _ in range(8):  # new connections, taken by either worker
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                # 3000 bytes of a head still coming: past 2000, refused before its end
                sock.sendall(b"GET /_sim/clock HTTP/1.1\r\nHost: sim\r\nX-Big: " + b"a" * 3000)
                answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
            assert b"--max-header-bytes" in answer
