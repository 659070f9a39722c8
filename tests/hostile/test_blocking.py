"""Nothing one request waits on holds up the others, and nothing that goes wrong closes a client's
keep-alive connection.

- Another process holds the database's write lock (an ``sqlite3`` shell left in ``BEGIN
  IMMEDIATE``): once, every request stalled five seconds and then was a 500 "database is
  locked". Now a write is a 503 with ``retry-after`` in Together's body (both SDKs send it
  again), reads are answered meanwhile on the same connection, and once the lock goes the
  write goes through with nothing lost; the 3.x SDK's own retry gets it through.
- A big file being checked: polls are answered while the server is still reading it (its blob
  open in the server process), so before the check ends. Ordering, not timing.
- A 500 from an exception nothing expected: the next request on the same connection is
  answered (uvicorn used to close it, and the client's next request met a reset).

The first cases run against a real ``together-sim serve`` process; the 500 needs a route that
raises, and the SDK's retry a lock let go once the first 503 is sent, so those two run the app
in this process on a real socket (``serve_in_thread``).
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.core.errors import ServiceUnavailable
from mock_server.settings import ClockMode, Settings
from mock_server.store import connection
from mock_server.testing.live import serve_in_thread
from tests.hostile.conftest import (
    SimProcess,
    SimServerFactory,
    Wire,
    assert_together_error,
    listed,
    upload_file,
)
from tests.steps import BASE_MODEL, QUICKSTART, jsonl

pytestmark = pytest.mark.e2e


def _create(wire: Wire, file_id: str, suffix: str) -> Any:
    body = {"training_file": file_id, "model": BASE_MODEL, "lora": True, "suffix": suffix}
    return wire.send("POST", "/v1/fine-tunes", json_body=body)


@contextmanager
def _locked(server: SimProcess) -> Iterator[sqlite3.Connection]:
    """Another process's write lock on the server's database, as long as the block runs."""
    other = sqlite3.connect(server.data_dir / "together-sim.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


def test_a_database_another_process_locks_is_a_503_to_retry_and_reads_go_on(
    sim_server: SimServerFactory,
) -> None:
    server = sim_server()
    file_id = upload_file(server, server.api_key, jsonl(QUICKSTART))["id"]
    with Wire(server) as wire:
        first = _create(wire, file_id, "first")
        assert first.status == 200, first.body
        job_id = first.json()["id"]
        assert wire.send("GET", f"/v1/fine-tunes/{job_id}").status == 200

        with _locked(server):
            refused = _create(wire, file_id, "second")
            error = assert_together_error(refused, 503)
            assert refused.headers["retry-after"] == "1"  # lower case: what 1.5.x obeys
            assert "locked by another process" in error["message"]
            # The lock is still held: reads are answered, on the same connection.
            for path in ("/v1/models", "/v1/files", "/v1/fine-tunes", f"/v1/fine-tunes/{job_id}"):
                answer = wire.send("GET", path)
                assert answer.status == 200, (path, answer.status, answer.body[:300])
            assert wire.send("GET", f"/v1/fine-tunes/{job_id}").json()["id"] == job_id

        again = _create(wire, file_id, "second")  # what the client's retry sends
        assert again.status == 200, again.body
    jobs = listed(server, "/v1/fine-tunes", server.api_key)
    assert sorted(j["id"] for j in jobs) == sorted([job_id, again.json()["id"]])
    assert [f["id"] for f in listed(server, "/v1/files", server.api_key)] == [file_id]


def _big_dataset(megabytes: int) -> bytes:
    row = {
        "messages": [
            {"role": "user", "content": "Which way to the station? " * 8},
            {"role": "assistant", "content": "Left, then straight on for a mile. " * 8},
        ]
    }
    line = json.dumps(row).encode() + b"\n"
    return line * (megabytes * (1 << 20) // len(line))


def _announce_and_put(server: SimProcess, content: bytes) -> str:
    """The file's bytes, stored but not yet checked (no preprocess)."""
    headers = {"authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        announced = client.post(
            "/v1/files",
            headers=headers,
            data={"purpose": "fine-tune", "file_name": "big.jsonl", "file_type": "jsonl"},
            follow_redirects=False,
        )
        assert announced.status_code == 302, announced.text
        assert client.put(announced.headers["location"], content=content).status_code == 200
    return announced.headers["x-together-file-id"]


def _reading(server: SimProcess, file_id: str) -> bool:
    """Whether the server process has the file's bytes open (or mapped): its check is reading."""
    blob = str(server.data_dir / "blobs" / file_id)
    proc = Path(f"/proc/{server.pid}")
    for fd in proc.joinpath("fd").iterdir():
        try:
            if os.readlink(fd) == blob:
                return True
        except OSError:  # closed meanwhile
            continue
    return blob in proc.joinpath("maps").read_text()


def test_polls_are_answered_while_a_big_file_is_being_checked(
    sim_server: SimServerFactory,
) -> None:
    server = sim_server()
    small = upload_file(server, server.api_key, jsonl(QUICKSTART))["id"]
    big = _announce_and_put(server, _big_dataset(48))
    headers = {"authorization": f"Bearer {server.api_key}"}
    answered_mid_check = 0
    with Wire(server) as wire, ThreadPoolExecutor(1) as pool:
        job_id = _create(wire, small, "poll").json()["id"]
        checking = pool.submit(
            httpx.post, f"{server.base_url}/v1/files/{big}/preprocess", headers=headers, timeout=300
        )
        while not checking.done():
            if not _reading(server, big):
                continue
            # The check is under way: a poll (a kept view, then the store) and a file lookup...
            assert wire.send("GET", f"/v1/fine-tunes/{job_id}").status == 200
            assert wire.send("GET", f"/v1/fine-tunes/{job_id}/events").status == 200
            assert wire.send("GET", f"/v1/files/{big}").status == 200
            # ...each answered while the server was still reading the file.
            answered_mid_check += _reading(server, big) and not checking.done()
        checked = checking.result()
    assert checked.status_code == 200, checked.text
    assert checked.json()["processing_status"] == "COMPLETED"
    assert answered_mid_check >= 1


def test_after_an_unexpected_500_the_same_connection_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data", clock=ClockMode.manual)
    with serve_in_thread(settings) as sim:

        def explode(tenant: str) -> None:
            raise RuntimeError("disk on fire")

        port = int(sim.base_url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.auto_open = 0  # a closed connection must fail the next request, not reopen
        conn.connect()
        headers = {"authorization": f"Bearer {sim.api_key}"}
        try:
            monkeypatch.setattr(sim.services.files, "files", explode)
            conn.request("GET", "/v1/files", headers=headers)
            broken = conn.getresponse()
            body = json.loads(broken.read())
            assert broken.status == 500
            assert (
                body["error"]["message"]
                == "Internal error in together-sim: RuntimeError: disk on fire"
            )
            assert not broken.will_close
            monkeypatch.undo()
            conn.request("GET", "/v1/files", headers=headers)
            after = conn.getresponse()
            assert after.status == 200 and json.loads(after.read())["data"] == []
        finally:
            conn.close()


def test_the_sdk_sends_a_locked_write_again_and_it_goes_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 3.x SDK's own retry: its create meets the 503, waits the ``retry-after`` second, and
    sends it again; the lock is let go once the first 503 is on its way, so the retry lands."""
    settings = Settings(data_dir=tmp_path / "data", clock=ClockMode.manual)
    with serve_in_thread(settings) as sim:
        train = tmp_path / "train.jsonl"
        train.write_bytes(jsonl(QUICKSTART))
        client = sim.client(max_retries=2)
        file_id = client.files.upload(train, purpose="fine-tune", check=True).id
        refusals: list[str] = []
        made_busy = connection._busy
        other = sqlite3.connect(
            settings.data_dir / "together-sim.sqlite3",
            isolation_level=None,
            check_same_thread=False,
        )

        def busy(exc: sqlite3.Error) -> ServiceUnavailable:
            refusals.append(str(exc))
            if other.in_transaction:  # the first 503 lets it go
                other.execute("ROLLBACK")
            return made_busy(exc)

        monkeypatch.setattr(connection, "_busy", busy)
        other.execute("BEGIN IMMEDIATE")
        try:
            job = client.fine_tuning.create(training_file=file_id, model=BASE_MODEL, lora=True)
        finally:
            other.close()
        assert refusals == ["database is locked"]  # one 503, then the retry went through
        assert [j.id for j in client.fine_tuning.list().data] == [job.id]
