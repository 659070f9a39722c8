"""Uploads under abuse: one writer per upload URL (a second PUT meanwhile is a 409 and the first
completes untouched), and a full disk, which is a 507 that leaves nothing half-stored and lets the
upload be sent again."""

from __future__ import annotations

import errno
import hashlib
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Event
from typing import Any, BinaryIO

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.core.errors import NotFound
from mock_server.files import uploads
from mock_server.testing.live import LiveSimulator
from tests.steps import QUICKSTART, auth, jsonl

TRAIN = jsonl(QUICKSTART)
DISK_FULL = (
    "No space left on device: the simulator's disk is full, so upload {} was not stored. "
    "Free space under its data dir and send it again."
)


def _error(message: str, type_: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": None}}


def _busy(file_id: str) -> dict[str, Any]:
    return _error(
        f"Upload {file_id} is already receiving its bytes from another request: "
        "send one PUT at a time, and retry once it has finished",
        "invalid_request_error",
    )


def _busy_part(number: int, file_id: str) -> dict[str, Any]:
    return _error(
        f"Part {number} of upload {file_id} is already being received by another request: "
        "send one PUT per part at a time, and retry once it has finished",
        "invalid_request_error",
    )


def _announce(client: TestClient | httpx.Client) -> tuple[str, str]:
    announced = client.post(
        "/v1/files",
        headers=auth(),
        data={"purpose": "fine-tune", "file_name": "train.jsonl", "file_type": "jsonl"},
        follow_redirects=False,
    )
    assert announced.status_code == 302, announced.text
    return announced.headers["x-together-file-id"], announced.headers["location"]


def _initiate(client: TestClient | httpx.Client, num_parts: int, size: int) -> dict[str, Any]:
    initiated = client.post(
        "/v1/files/multipart/initiate",
        headers=auth(),
        json={"file_name": "big.jsonl", "file_size": size, "num_parts": num_parts},
    )
    assert initiated.status_code == 200, initiated.text
    body: dict[str, Any] = initiated.json()
    return body


def _complete(
    client: TestClient | httpx.Client, initiated: dict[str, Any], etags: list[str]
) -> Any:  # TestClient's response or httpx's: the same interface
    return client.post(
        "/v1/files/multipart/complete",
        headers=auth(),
        json={
            "upload_id": initiated["upload_id"],
            "file_id": initiated["file_id"],
            "parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, start=1)],
        },
    )


def _listed(client: TestClient | httpx.Client) -> list[str]:
    return [f["id"] for f in client.get("/v1/files", headers=auth()).json()["data"]]


def _parts(app: FastAPI) -> list[str]:
    """What parts/ holds: bodies streaming in, claims of writers."""
    return sorted(p.name for p in (app.state.services.blobs.root / "parts").iterdir())


# -- one writer per upload URL, on a real socket --------------------------------------------------


@pytest.fixture
def live(together_sim_server: LiveSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=together_sim_server.base_url, timeout=60) as client:
        yield client


@pytest.mark.parametrize("flow", ["one-shot", "multipart part"])
def test_a_second_put_while_the_first_streams_is_a_409_and_the_first_completes(
    together_sim_server: LiveSimulator,
    live: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    flow: str,
) -> None:
    head, tail = b"a" * uploads.CHUNK, b"b" * 10  # a head big enough to be written at once
    on_disk, go_on = Event(), Event()
    write = uploads._write

    def noticed(out: BinaryIO, data: bytes) -> None:
        write(out, data)
        on_disk.set()

    monkeypatch.setattr(uploads, "_write", noticed)

    def first_body() -> Iterator[bytes]:
        yield head
        go_on.wait(timeout=60)  # until the second PUT has had its answer
        yield tail

    if flow == "one-shot":
        file_id, url = _announce(live)
        busy = _busy(file_id)
    else:
        initiated = _initiate(live, 1, len(head + tail))
        file_id, url = initiated["file_id"], initiated["parts"][0]["URL"]
        busy = _busy_part(1, file_id)
    with ThreadPoolExecutor(1) as pool, httpx.Client(timeout=60) as other:
        first = pool.submit(httpx.put, url, content=first_body(), timeout=60)
        try:
            assert on_disk.wait(timeout=60), "the first PUT never reached the disk"
            second = other.put(url, content=b"c" * 100)  # another client, its own connection
        finally:
            go_on.set()
        assert second.status_code == 409
        assert second.json() == busy
        assert first.result().status_code == 200, first.result().text
    if flow == "multipart part":
        assert _complete(live, initiated, [first.result().headers["etag"]]).status_code == 200
    content = live.get(f"/v1/files/{file_id}/content", headers=auth())
    assert content.content == head + tail
    assert _listed(live) == [file_id]
    assert sorted((together_sim_server.settings.data_dir / "parts").iterdir()) == []


def test_a_normal_sdk_upload_still_works(
    together_sim_server: LiveSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(TRAIN)
    with together_sim_server.client() as together:
        uploaded = together.files.upload(path, purpose="fine-tune", check=True)
        assert (uploaded.filename, uploaded.bytes) == ("train.jsonl", len(TRAIN))
        assert [f.id for f in together.files.list().data] == [uploaded.id]
        assert together.files.content(uploaded.id).read() == TRAIN


# -- one writer per upload URL, with the first writer held in place -------------------------------


def test_a_put_while_the_upload_is_being_written_is_a_409_naming_it(
    app: FastAPI, client: TestClient
) -> None:
    file_id, location = _announce(client)
    with app.state.services.blobs.claim_part(file_id, 0):  # a PUT streaming in
        put = client.put(location, content=TRAIN)
        assert put.status_code == 409
        assert put.json() == _busy(file_id)
        assert _parts(app) == [f"{file_id}.0.lock"]  # nothing written beside the first
    assert client.put(location, content=TRAIN).status_code == 200
    assert client.get(f"/v1/files/{file_id}/content", headers=auth()).content == TRAIN
    assert _parts(app) == []


def test_each_part_has_its_own_writer(app: FastAPI, client: TestClient) -> None:
    halves = [TRAIN[:50], TRAIN[50:]]
    initiated = _initiate(client, 2, len(TRAIN))
    file_id = initiated["file_id"]
    urls = [p["URL"] for p in initiated["parts"]]
    with app.state.services.blobs.claim_part(file_id, 2):
        two = client.put(urls[1], content=halves[1])
        assert two.status_code == 409
        assert two.json() == _busy_part(2, file_id)
        one = client.put(urls[0], content=halves[0])  # another part goes on meanwhile
        assert one.status_code == 200
    two = client.put(urls[1], content=halves[1])
    assert two.status_code == 200
    completed = _complete(client, initiated, [one.headers["etag"], two.headers["etag"]])
    assert completed.status_code == 200
    assert client.get(f"/v1/files/{file_id}/content", headers=auth()).content == TRAIN


def test_completing_while_a_part_streams_in_is_a_409_and_can_be_retried(
    app: FastAPI, client: TestClient
) -> None:
    initiated = _initiate(client, 1, len(TRAIN))
    file_id, upload_id = initiated["file_id"], initiated["upload_id"]
    etag = client.put(initiated["parts"][0]["URL"], content=TRAIN).headers["etag"]
    with app.state.services.blobs.claim_part(file_id, 1):  # a retried PUT of part 1, going on
        completed = _complete(client, initiated, [etag])
        assert completed.status_code == 409
        assert completed.json() == _error(
            f"Part 1 of upload {upload_id} is still being received: "
            "complete the upload once its PUT has finished",
            "invalid_request_error",
        )
        assert _parts(app) == [f"{file_id}.1.lock", f"{file_id}.1.part"]  # no join left over
    with app.state.services.blobs.claim_part(file_id, 0):  # another completion, going on
        completed = _complete(client, initiated, [etag])
        assert completed.status_code == 409
        assert completed.json() == _error(
            f"Upload {upload_id} is already being completed by another request: "
            "retry once it has finished",
            "invalid_request_error",
        )
    assert _listed(client) == []
    assert _complete(client, initiated, [etag]).status_code == 200
    assert _listed(client) == [file_id]


def test_a_writer_that_got_the_upload_after_it_was_finished_is_turned_away(
    app: FastAPI, client: TestClient
) -> None:
    file_id, location = _announce(client)
    files = app.state.services.files
    session = files.uploads.session(file_id, location.rpartition("token=")[2])
    assert client.put(location, content=TRAIN).status_code == 200  # the first PUT, done
    with pytest.raises(NotFound, match=f"No upload in progress for {file_id}"):
        with files.uploads.writing(session):
            pytest.fail("a late PUT would have written over the finished file")
    assert client.get(f"/v1/files/{file_id}/content", headers=auth()).content == TRAIN


# -- a full disk ----------------------------------------------------------------------------------


def _no_space(out: BinaryIO, data: bytes) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Every upload write fails as on a full disk, until the test frees space (``undo``)."""
    monkeypatch.setattr(uploads, "_write", _no_space)
    return monkeypatch


def test_a_full_disk_during_a_put_is_a_507_and_the_upload_can_be_sent_again(
    app: FastAPI, client: TestClient, full_disk: pytest.MonkeyPatch
) -> None:
    file_id, location = _announce(client)
    put = client.put(location, content=TRAIN)
    assert put.status_code == 507
    assert put.json() == _error(DISK_FULL.format(file_id), "server_error")
    assert _listed(client) == []
    assert client.get(f"/v1/files/{file_id}", headers=auth()).status_code == 404
    assert _parts(app) == []  # no part, no claim
    assert not app.state.services.blobs.exists(file_id)
    full_disk.undo()  # space freed
    put = client.put(location, content=TRAIN)
    assert put.status_code == 200
    assert put.json()["sha256"] == hashlib.sha256(TRAIN).hexdigest()
    assert _listed(client) == [file_id]


def test_a_full_disk_during_the_specs_one_shot_upload_is_a_507(
    app: FastAPI, client: TestClient, full_disk: pytest.MonkeyPatch
) -> None:
    uploaded = client.post(
        "/v1/files/upload",
        headers=auth(),
        files={"file": ("training_data.jsonl", TRAIN)},
        data={"file_name": "training_data.jsonl", "purpose": "fine-tune"},
    )
    assert uploaded.status_code == 507
    error = uploaded.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("server_error", None, None)
    assert error["message"].startswith("No space left on device: the simulator's disk is full")
    assert _listed(client) == []
    assert _parts(app) == []


def test_a_full_disk_during_a_part_or_the_join_is_a_507_and_nothing_is_half_stored(
    app: FastAPI, client: TestClient, full_disk: pytest.MonkeyPatch
) -> None:
    halves = [TRAIN[:50], TRAIN[50:]]
    initiated = _initiate(client, 2, len(TRAIN))
    file_id = initiated["file_id"]
    urls = [p["URL"] for p in initiated["parts"]]
    put = client.put(urls[0], content=halves[0])
    assert put.status_code == 507
    assert put.json() == _error(DISK_FULL.format(file_id), "server_error")
    assert _parts(app) == []
    full_disk.undo()
    etags = [
        client.put(url, content=half).headers["etag"]
        for url, half in zip(urls, halves, strict=True)
    ]
    full_disk.setattr(uploads, "_write", _no_space)  # full again, as the parts are joined
    completed = _complete(client, initiated, etags)
    assert completed.status_code == 507
    assert completed.json() == _error(DISK_FULL.format(file_id), "server_error")
    assert _listed(client) == []
    assert _parts(app) == [f"{file_id}.1.part", f"{file_id}.2.part"]  # the join is gone
    full_disk.undo()
    assert _complete(client, initiated, etags).status_code == 200
    assert client.get(f"/v1/files/{file_id}/content", headers=auth()).content == TRAIN
    assert _parts(app) == []


def test_a_store_too_full_to_record_the_file_is_a_507_and_drops_its_bytes(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = app.state.services.store

    def database_full(record: object) -> None:
        full = sqlite3.OperationalError("database or disk is full")
        full.sqlite_errorcode = sqlite3.SQLITE_FULL
        raise full

    file_id, location = _announce(client)
    monkeypatch.setattr(store, "put_file", database_full)
    put = client.put(location, content=TRAIN)
    assert put.status_code == 507
    assert put.json() == _error(DISK_FULL.format(file_id), "server_error")
    assert not app.state.services.blobs.exists(file_id)  # committed, then dropped: no record
    assert _parts(app) == []
    monkeypatch.undo()
    assert client.put(location, content=TRAIN).status_code == 200
    assert _listed(client) == [file_id]
