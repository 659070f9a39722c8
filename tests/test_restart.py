"""A server restarted on the same data dir finds everything where it left it: files, jobs, their
events, half-done uploads, and (with a manual clock) the time its jobs were living in; the parts
no upload will finish, and the claims of writers a kill cut off, are gone."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.tenancy import SECRET_FILE
from mock_server.settings import ClockMode, Settings
from mock_server.store import LocalBlobStore, SqliteStore
from tests.builders import make_file
from tests.steps import advance, auth, conversations, create_job, upload


@contextmanager
def _server(data_dir: Path, seed: int | None = None) -> Iterator[TestClient]:
    """One server's life: the app reads its clock offset from the store, as ``serve`` does."""
    settings = Settings(data_dir=data_dir, clock=ClockMode.manual, speed=1.0, seed=seed)
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.state.services.store.close()


def test_files_jobs_and_events_survive_a_restart(tmp_path: Path) -> None:
    with _server(tmp_path) as first:
        file = upload(first, conversations(40))
        job = create_job(first, file["id"], packing=False, n_epochs=2)
        advance(first, 60)
        before = first.get(f"/v1/fine-tunes/{job['id']}", headers=auth()).json()
        events = first.get(f"/v1/fine-tunes/{job['id']}/events", headers=auth()).json()
        content = first.get(f"/v1/files/{file['id']}/content", headers=auth()).content

    with _server(tmp_path) as second:
        assert second.get("/v1/files", headers=auth()).json()["data"] == [file]
        assert second.get(f"/v1/files/{file['id']}/content", headers=auth()).content == content
        assert second.get(f"/v1/fine-tunes/{job['id']}", headers=auth()).json() == before
        assert second.get(f"/v1/fine-tunes/{job['id']}/events", headers=auth()).json() == events
        advance(second, 125)
        done = second.get(f"/v1/fine-tunes/{job['id']}", headers=auth()).json()
        assert (done["status"], done["steps_completed"]) == ("completed", 10)


def test_a_manual_clocks_offset_persists_across_restarts(tmp_path: Path) -> None:
    with _server(tmp_path) as first:
        advance(first, 90)
    with _server(tmp_path) as second:
        assert second.get("/_sim/clock").json()["now"] == "2026-01-01T00:01:30.000000Z"
        advance(second, 10)
    with _server(tmp_path) as third:
        assert third.get("/_sim/clock").json()["offset_seconds"] == 100.0


def test_an_upload_announced_before_a_restart_can_finish_after_it(tmp_path: Path) -> None:
    with _server(tmp_path) as first:
        announced = first.post(
            "/v1/files",
            headers=auth(),
            data={"purpose": "fine-tune", "file_name": "train.jsonl"},
            follow_redirects=False,
        )
        assert first.get("/v1/files", headers=auth()).json()["data"] == []
    with _server(tmp_path) as second:
        put = second.put(announced.headers["location"], content=conversations(8))
        assert put.status_code == 200
        file_id = announced.headers["x-together-file-id"]
        assert [f["id"] for f in second.get("/v1/files", headers=auth()).json()["data"]] == [
            file_id
        ]


def test_a_seeded_server_never_reissues_an_id_after_a_restart(tmp_path: Path) -> None:
    with _server(tmp_path / "a", seed=3) as first:
        before = upload(first, conversations(8))["id"]
    with _server(tmp_path / "b", seed=3) as twin:
        assert upload(twin, conversations(8))["id"] == before  # same seed, same first id
    with _server(tmp_path / "a", seed=3) as restarted:
        after = upload(restarted, conversations(8))["id"]
        assert after != before
        ids = {f["id"] for f in restarted.get("/v1/files", headers=auth()).json()["data"]}
        assert ids == {before, after}


def test_a_restart_removes_the_parts_no_upload_will_finish_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    with _server(tmp_path) as first:
        announced = first.post(
            "/v1/files",
            headers=auth(),
            data={"purpose": "fine-tune", "file_name": "train.jsonl"},
            follow_redirects=False,
        )
        body = conversations(8)
        halves = [body[:100], body[100:]]
        initiated = first.post(
            "/v1/files/multipart/initiate",
            headers=auth(),
            json={"file_name": "big.jsonl", "file_size": len(body), "num_parts": 2},
        ).json()
        part_one = first.put(initiated["parts"][0]["URL"], content=halves[0])
        assert part_one.status_code == 200
    in_flight, multipart = announced.headers["x-together-file-id"], initiated["file_id"]
    # What a kill -9 leaves: the upload still announced, half streamed in, with its writer's claim
    # (a lock file no live process holds); likewise half of the multipart upload's part 2; the
    # parts of a multipart upload that was completed (its session gone) but not yet cleaned up;
    # a blob write cut off before its rename.
    blobs = LocalBlobStore(tmp_path)
    cut_off = [blobs.part_path(in_flight), blobs.part_path(multipart, 2)]
    for part in cut_off:
        part.write_bytes(b'{"messages": [')
        part.with_suffix(".lock").touch()
    strays = [blobs.part_path("file-finished", n) for n in (1, 2)]
    for part in strays:
        part.write_bytes(b"x" * 1024)
    interrupted = blobs.part_path("file-finished").with_name("file-written.abc123.tmp")
    interrupted.write_bytes(b"half")
    an_hour_ago = time.time() - 3600
    os.utime(interrupted, (an_hour_ago, an_hour_ago))

    with _server(tmp_path) as second:
        assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == [f"{multipart}.1.part"]
        assert blobs.part_path(multipart, 1).read_bytes() == halves[0]  # whole: still needed
        # Neither upload is left claimed by its dead writer: both finish.
        put = second.put(announced.headers["location"], content=body)
        assert put.status_code == 200
        part_two = second.put(initiated["parts"][1]["URL"], content=halves[1])
        assert part_two.status_code == 200
        etags = [part_one.headers["etag"], part_two.headers["etag"]]
        completed = second.post(
            "/v1/files/multipart/complete",
            headers=auth(),
            json={
                "upload_id": initiated["upload_id"],
                "file_id": multipart,
                "parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, start=1)],
            },
        )
        assert completed.status_code == 200, completed.text
        listed = second.get("/v1/files", headers=auth()).json()["data"]
        assert sorted(f["id"] for f in listed) == sorted([in_flight, multipart])
        assert second.get(f"/v1/files/{multipart}/content", headers=auth()).content == body


def test_a_data_dir_from_before_tenant_secrets_keeps_its_owners(tmp_path: Path) -> None:
    """Records of an earlier version are stored under a plain hash of the key; the same key must
    still reach them, and no secret is made that would orphan them."""
    legacy_tenant = hashlib.sha256(b"test-key").hexdigest()[:16]
    store = SqliteStore(tmp_path)
    store.put_file(make_file(tenant=legacy_tenant))
    store.close()

    with _server(tmp_path) as client:
        listed = client.get("/v1/files", headers=auth()).json()["data"]
        assert [f["id"] for f in listed] == [make_file().id]
        assert client.get("/v1/files", headers=auth("another-key")).json()["data"] == []
    assert not (tmp_path / SECRET_FILE).exists()


def test_a_fresh_data_dir_gets_a_secret_and_ids_that_are_no_plain_hash(tmp_path: Path) -> None:
    with _server(tmp_path) as client:
        upload(client, conversations(4))
    assert (tmp_path / SECRET_FILE).stat().st_size == 32
    with _server(tmp_path) as again:  # the same secret: the same owner after a restart
        assert len(again.get("/v1/files", headers=auth()).json()["data"]) == 1
    stored = SqliteStore(tmp_path)
    [tenant] = stored.list_tenants()
    stored.close()
    assert tenant != hashlib.sha256(b"test-key").hexdigest()[:16]
