"""``kill -9`` at random points of real work: a client uploads (a PUT to the signed URL, and
multipart), preprocesses, creates jobs, cancels them and reads their events while the server is
SIGKILLed after a seeded random delay; it is started again on the same data dir, and again, a
handful of times.

After each restart, everything the server acknowledged (a 2xx reached the client) is there and
consistent: each file lists its exact bytes, each processed file is still COMPLETED, each job is
found with its file, each acknowledged cancel has stuck, and every event the client saw is still
listed in the same order. Nothing partial is visible: every file listed, acknowledged or not (a
kill may fall between the commit and the answer), holds exactly the bytes sent for it, and no
upload part or stale claim is left on disk by a startup, including the part of a PUT that was
held half-sent at the moment of the kill.

The seed fixes the kill points and the client's choices; the delays are the only sleeps, and they
are what the test is about: where in the work the kill falls."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.serve_process import free_port, server_process

pytestmark = pytest.mark.e2e

SEED = 20261
KILLS = 5  # restarts; each round runs about 0.3 to 1.5 s of work before its kill
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
KEY = "kill-points-key"
HEADERS = {"authorization": f"Bearer {KEY}"}
TERMINAL = ("completed", "error", "user_error", "cancelled")


def _jsonl(rng: random.Random, marker: str) -> bytes:
    """A valid conversational file of a random size (8 KiB to ~2 MiB), unique to ``marker`` so no
    two files could be mistaken for each other."""
    rows = rng.randint(8, 2000)
    pad = "x" * rng.randint(10, 1000)
    return b"".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"{marker} question {i} {pad}"},
                    {"role": "assistant", "content": f"answer {i}"},
                ]
            }
        ).encode()
        + b"\n"
        for i in range(rows)
    )


@dataclass
class Ledger:
    """What the client sent and what the server acknowledged, across every kill."""

    sent: dict[str, bytes] = field(default_factory=dict)  # file id -> its bytes, once announced
    files: set[str] = field(default_factory=set)  # the upload was answered 2xx
    processed: set[str] = field(default_factory=set)  # preprocess answered COMPLETED
    jobs: dict[str, str] = field(default_factory=dict)  # job id -> its training file
    cancelled: set[str] = field(default_factory=set)
    ended: dict[str, str] = field(default_factory=dict)  # job -> the terminal status it was seen in
    events: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # job -> (type, msg)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


class Client:
    """The work the server is killed in the middle of, one seeded choice at a time, until the
    server stops answering."""

    def __init__(self, base: str, ledger: Ledger, rng: random.Random, round_: int) -> None:
        self.http = httpx.Client(base_url=base, headers=HEADERS, timeout=30)
        self.ledger, self.rng, self.round = ledger, rng, round_
        self.count = 0
        self.failure: BaseException | None = None  # anything but the kill, for the test to raise

    def run(self) -> None:
        steps: list[Callable[[], None]] = [
            self.upload,
            self.upload,
            self.multipart,
            self.create,
            self.create,
            self.cancel,
            self.events,
            self.advance,
        ]
        try:
            while True:
                self.rng.choice(steps)()
        except httpx.TransportError:
            return  # the kill
        except BaseException as exc:
            self.failure = exc
        finally:
            self.http.close()

    def _marker(self) -> str:
        self.count += 1
        return f"r{self.round}-n{self.count}"

    def upload(self) -> None:
        content = _jsonl(self.rng, self._marker())
        form = {"purpose": "fine-tune", "file_name": "train.jsonl", "file_type": "jsonl"}
        announced = self.http.post("/v1/files", data=form, follow_redirects=False)
        assert announced.status_code == 302, announced.text
        file_id = announced.headers["x-together-file-id"]
        with self.ledger.lock:
            self.ledger.sent[file_id] = content
        put = self.http.put(_path(announced.headers["location"]), content=content)
        assert put.status_code == 200, put.text
        with self.ledger.lock:
            self.ledger.files.add(file_id)
        self._preprocess(file_id)

    def multipart(self) -> None:
        content = _jsonl(self.rng, self._marker())
        cut = len(content) // 2
        chunks = [content[:cut], content[cut:]]
        initiated = self.http.post(
            "/v1/files/multipart/initiate",
            json={"file_name": "big.jsonl", "file_size": len(content), "num_parts": 2},
        )
        assert initiated.status_code == 200, initiated.text
        body = initiated.json()
        file_id = body["file_id"]
        with self.ledger.lock:
            self.ledger.sent[file_id] = content
        etags = []
        for part, chunk in zip(body["parts"], chunks, strict=True):
            put = self.http.put(_path(part["URL"]), content=chunk)
            assert put.status_code == 200, put.text
            etags.append({"part_number": part["PartNumber"], "etag": put.headers["etag"]})
        done = {"upload_id": body["upload_id"], "file_id": file_id, "parts": etags}
        completed = self.http.post("/v1/files/multipart/complete", json=done)
        assert completed.status_code == 200, completed.text
        with self.ledger.lock:
            self.ledger.files.add(file_id)
        self._preprocess(file_id)

    def _preprocess(self, file_id: str) -> None:
        processed = self.http.post(f"/v1/files/{file_id}/preprocess")
        assert processed.status_code == 200, processed.text
        assert processed.json()["processing_status"] == "COMPLETED"
        with self.ledger.lock:
            self.ledger.processed.add(file_id)

    def create(self) -> None:
        with self.ledger.lock:
            ready = sorted(self.ledger.processed)
        if not ready:
            self.upload()
            return
        training = self.rng.choice(ready)
        created = self.http.post(
            "/v1/fine-tunes",
            json={"training_file": training, "model": MODEL, "suffix": self._marker()},
        )
        assert created.status_code == 200, created.text
        with self.ledger.lock:
            self.ledger.jobs[created.json()["id"]] = training

    def cancel(self) -> None:
        with self.ledger.lock:
            open_jobs = sorted(set(self.ledger.jobs) - self.ledger.cancelled)
        if not open_jobs:
            self.create()
            return
        job_id = self.rng.choice(open_jobs)
        cancelled = self.http.post(f"/v1/fine-tunes/{job_id}/cancel")
        if cancelled.status_code == 400:  # it ended meanwhile: nothing acknowledged
            self._seen(job_id)
            return
        assert cancelled.status_code == 200, cancelled.text
        with self.ledger.lock:
            self.ledger.cancelled.add(job_id)

    def _seen(self, job_id: str) -> None:
        status = self.http.get(f"/v1/fine-tunes/{job_id}").json()["status"]
        if status in TERMINAL:
            with self.ledger.lock:
                self.ledger.ended[job_id] = status

    def advance(self) -> None:
        """Time for the jobs to move: each read after it writes their steps and events."""
        moved = self.http.post("/_sim/advance", json={"seconds": self.rng.randint(5, 300)})
        assert moved.status_code == 200, moved.text

    def events(self) -> None:
        with self.ledger.lock:
            jobs = sorted(self.ledger.jobs)
        if not jobs:
            self.create()
            return
        job_id = self.rng.choice(jobs)
        listed = self.http.get(f"/v1/fine-tunes/{job_id}/events")
        assert listed.status_code == 200, listed.text
        seen = [(e["type"], e["message"]) for e in listed.json()["data"]]
        with self.ledger.lock:
            self.ledger.events[job_id] = seen
        self._seen(job_id)


def _hold_a_put(base_port: int, data_dir: Path) -> tuple[socket.socket, str]:
    """An upload whose PUT has sent half its body, held open until the kill: the partial part a
    startup must remove."""
    with httpx.Client(base_url=f"http://127.0.0.1:{base_port}", headers=HEADERS) as http:
        form = {"purpose": "fine-tune", "file_name": "held.jsonl", "file_type": "jsonl"}
        announced = http.post("/v1/files", data=form, follow_redirects=False)
        assert announced.status_code == 302, announced.text
    file_id = announced.headers["x-together-file-id"]
    sock = socket.create_connection(("127.0.0.1", base_port), timeout=30)
    half = b'{"text": "' + b"h" * (2 << 20)
    sock.sendall(
        f"PUT {_path(announced.headers['location'])} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {2 * len(half)}\r\n\r\n".encode()
        + half
    )
    claim = data_dir / "parts" / f"{file_id}.0.lock"
    deadline = time.monotonic() + 30
    while not claim.exists():  # until the server is writing it
        assert time.monotonic() < deadline, "the held PUT never reached the server"
        time.sleep(0.01)
    return sock, file_id


def _check(base: str, ledger: Ledger, data_dir: Path, held: set[str]) -> None:
    """Everything acknowledged is there and consistent; nothing partial is visible."""
    with httpx.Client(base_url=base, headers=HEADERS, timeout=30) as http:
        files = {f["id"]: f for f in http.get("/v1/files").json()["data"]}
        assert ledger.files <= set(files), f"lost files: {ledger.files - set(files)}"
        for file_id, record in files.items():
            assert file_id in ledger.sent, f"{file_id} was never sent"
            assert file_id not in held, f"the half-sent {file_id} is listed"
            sent = ledger.sent[file_id]
            assert record["bytes"] == len(sent), file_id
            assert http.get(f"/v1/files/{file_id}/content").content == sent, file_id
            expected = {"COMPLETED"} if file_id in ledger.processed else {"PENDING", "COMPLETED"}
            assert record["processing_status"] in expected, record

        jobs = {j["id"]: j for j in http.get("/v1/fine-tunes").json()["data"]}
        assert set(ledger.jobs) <= set(jobs), f"lost jobs: {set(ledger.jobs) - set(jobs)}"
        for job_id, job in jobs.items():
            assert job["training_file"] in ledger.sent, job
            if job_id in ledger.jobs:
                assert job["training_file"] == ledger.jobs[job_id]
        for job_id in ledger.cancelled:
            retrieved = http.get(f"/v1/fine-tunes/{job_id}")
            assert retrieved.status_code == 200, retrieved.text
            assert retrieved.json()["status"] in ("cancel_requested", "cancelled"), job_id
        for job_id, status in ledger.ended.items():
            assert jobs[job_id]["status"] == status, job_id
        for job_id, seen in ledger.events.items():
            listed = http.get(f"/v1/fine-tunes/{job_id}/events").json()["data"]
            now = [(e["type"], e["message"]) for e in listed]
            assert now[: len(seen)] == seen, job_id

    # What a startup leaves under parts/: only parts of multipart uploads still in flight
    # (resumable, so kept), never a claim nor a one-shot body.
    for path in (data_dir / "parts").iterdir():
        file_id, number, kind = path.name.rsplit(".", 2)
        assert kind == "part" and number != "0", f"left by a startup: {path.name}"
        assert file_id not in files, f"a part of the finished upload {file_id}: {path.name}"


def test_acknowledged_work_survives_kill_9_at_random_points(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    ledger, held = Ledger(), set[str]()
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    for round_ in range(KILLS + 1):
        port = free_port()
        with server_process(data_dir, port, stderr=log) as process:
            _check(f"http://127.0.0.1:{port}", ledger, data_dir, held)
            if round_ == KILLS:
                break
            client = Client(f"http://127.0.0.1:{port}", ledger, random.Random(rng.random()), round_)
            worker = threading.Thread(target=client.run, name=f"client-{round_}")
            worker.start()
            sock, file_id = _hold_a_put(port, data_dir)
            held.add(file_id)
            time.sleep(rng.uniform(0.3, 1.5))  # the kill point
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            worker.join(timeout=30)
            sock.close()
            assert not worker.is_alive()
            if client.failure is not None:
                raise client.failure
    assert ledger.files and ledger.jobs and ledger.cancelled  # the rounds did real work
    assert "Traceback" not in log.read_text(errors="replace")
