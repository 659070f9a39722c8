"""What only the S3 blob store has: replicas on one bucket (each with its own data dir, as on
its own host), the claims between them, a replica killed mid-part, the object store failing,
and the SDK 3.x upload, download and Range request through a server whose bytes are in S3.
moto's server on loopback plays S3; each test has a bucket of its own."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from mock_server.core.clock import ManualClock
from mock_server.core.errors import Conflict, ServiceUnavailable
from mock_server.core.ids import IdSource
from mock_server.files.uploads import Uploads
from mock_server.settings import ClockMode, Settings
from mock_server.store import SqliteStore, s3_bucket
from mock_server.store.blobs import PartInUse
from mock_server.store.s3_blobs import S3BlobStore, parse_blob_url
from mock_server.testing.live import serve_in_thread
from mock_server.testing.postgres import Cluster
from mock_server.testing.s3 import LocalS3, local_s3
from tests.steps import auth, conversations

FILE = "file-00000000-0000-4000-8000-0000000000f1"


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


@pytest.fixture
def bucket(s3: LocalS3) -> str:
    return s3.new_bucket()


@pytest.fixture
def replicas() -> Iterator[list[S3BlobStore]]:
    """Every store a test opens, closed after it (each holds a pool of connections)."""
    opened: list[S3BlobStore] = []
    yield opened
    for store in opened:
        store.close()


@pytest.fixture
def replica(s3: LocalS3, bucket: str, replicas: list[S3BlobStore]) -> Callable[..., S3BlobStore]:
    def open_replica(data_dir: Path, **options: float) -> S3BlobStore:
        store = S3BlobStore(bucket, "sim/", data_dir, endpoint_url=s3.endpoint_url, **options)
        replicas.append(store)
        return store

    return open_replica


@pytest.fixture
def a(replica: Callable[..., S3BlobStore], tmp_path: Path) -> S3BlobStore:
    return replica(tmp_path / "a")


@pytest.fixture
def b(replica: Callable[..., S3BlobStore], tmp_path: Path) -> S3BlobStore:
    return replica(tmp_path / "b")


def keys(s3: LocalS3, bucket: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [("s3://sim", "sim", ""), ("s3://sim/", "sim", ""), ("s3://sim/a/b/", "sim", "a/b/")],
)
def test_a_blob_url_names_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert parse_blob_url(url) == (bucket, prefix)


@pytest.mark.parametrize("url", ["sim/prefix", "s3:///prefix", "https://sim/x", "s3://sim?x=1"])
def test_anything_else_is_no_blob_url(url: str) -> None:
    with pytest.raises(ValueError, match="s3://bucket"):
        parse_blob_url(url)


_STARTUP = """
import sys
from pathlib import Path
from mock_server.app import create_app
from mock_server.settings import Settings

create_app(Settings(data_dir=Path(sys.argv[1])))
loaded = [m for m in sys.modules if m.partition(".")[0] in {"boto3", "botocore", "moto"}]
print(loaded + [m for m in sys.modules if m == "mock_server.store.s3_blobs"])
"""


def test_the_default_server_never_imports_boto3(tmp_path: Path) -> None:
    started = subprocess.run(
        [sys.executable, "-c", _STARTUP, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert started.stdout == "[]\n"


def test_a_bad_blob_url_stops_the_settings_naming_the_field() -> None:
    with pytest.raises(ValueError, match="blob_url"):
        Settings(blob_url="https://bucket/prefix")


# -- replicas on one bucket -----------------------------------------------------------------------


def test_a_part_claimed_on_one_replica_is_in_use_on_the_other(
    a: S3BlobStore, b: S3BlobStore
) -> None:
    with a.claim_part(FILE, 1) as path:
        path.write_bytes(b"streaming in on a")
        with pytest.raises(PartInUse) as refused, b.claim_part(FILE, 1):
            pytest.fail("b got the part a is writing")
        assert (refused.value.file_id, refused.value.part) == (FILE, 1)
        with b.claim_part(FILE, 2):  # another part: its own writer, wherever it is
            pass
    with b.claim_part(FILE, 1), b.open_part(FILE, 1) as stream:  # released, and stored
        assert stream.read() == b"streaming in on a"


def test_a_file_written_on_one_replica_reads_on_the_other_as_it_changes(
    a: S3BlobStore, b: S3BlobStore
) -> None:
    a.write_bytes(FILE, b"first\n")
    assert b.exists(FILE)
    assert b.read_bytes(FILE) == b"first\n"
    assert b.path(FILE).read_bytes() == b"first\n"
    a.write_bytes(FILE, b"second, longer\n")  # b holds a copy of the first
    assert b.path(FILE).read_bytes() == b"second, longer\n"
    with b.open_read(FILE) as stream:
        assert stream.read(6) == b"second"
    a.delete(FILE)
    assert not b.exists(FILE)
    assert not b.path(FILE).exists()  # its copy went with the blob


def test_a_multipart_upload_whose_parts_reach_two_replicas_is_joined_on_either(
    s3: LocalS3, bucket: str, a: S3BlobStore, b: S3BlobStore, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "db")  # the records both replicas share
    try:
        on_a = Uploads(store, a, ManualClock(), IdSource(seed=1))
        on_b = Uploads(store, b, ManualClock(), IdSource(seed=2))
        body = conversations(8)
        halves = [body[:100], body[100:]]
        session = on_a.initiate_multipart(
            "tenant-1",
            filename="big.jsonl",
            purpose="fine-tune",
            file_type=None,
            checksum=hashlib.sha256(body).hexdigest(),
            file_size=len(body),
            num_parts=2,
        )
        with on_a.writing(session, 1) as part:
            part.write_bytes(halves[0])
            with pytest.raises(Conflict, match="Part 1 of upload"), on_b.writing(session, 1):
                pytest.fail("b wrote into the part a is receiving")
        with on_b.writing(session, 2) as part:
            part.write_bytes(halves[1])
        etags = {
            n: hashlib.md5(half, usedforsecurity=False).hexdigest()
            for n, half in [(1, halves[0]), (2, halves[1])]
        }
        record = on_b.complete_multipart(session, etags)
        assert record.bytes == len(body)
        assert a.read_bytes(record.id) == body
        assert keys(s3, bucket) == [f"sim/blobs/{record.id}"]  # parts and claims gone
    finally:
        store.close()


def test_a_big_body_goes_up_as_an_s3_multipart_upload_and_reads_whole_elsewhere(
    a: S3BlobStore, b: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_bucket, "PUT_WHOLE_BELOW", 1 << 20)
    body = bytes(range(256)) * (36 << 10)  # 9 MiB: past boto3's 8 MiB multipart threshold
    with a.claim_part(FILE) as part:
        part.write_bytes(body)
        a.commit_part(FILE, part)
    copy = b.path(FILE)
    assert copy.name.endswith("-2")  # an S3 multipart ETag: two parts' digest, then the count
    assert copy.read_bytes() == body
    assert a.path(FILE).name == copy.name  # a kept the body it received as its copy


# -- a replica that dies mid-part -----------------------------------------------------------------

_HOLDER = """
import sys
from pathlib import Path
from mock_server.store.s3_blobs import S3BlobStore

blobs = S3BlobStore(sys.argv[1], "sim/", Path(sys.argv[2]), endpoint_url=sys.argv[3])
with blobs.claim_part(sys.argv[4], 1) as part:
    part.write_bytes(b"half of a part")
    print("claimed", flush=True)
    sys.stdin.read()  # until killed
"""


def test_a_claim_left_by_a_killed_replica_is_in_use_until_its_lease_runs_out(
    s3: LocalS3,
    bucket: str,
    b: S3BlobStore,
    replica: Callable[..., S3BlobStore],
    tmp_path: Path,
) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, bucket, str(tmp_path / "dead"), s3.endpoint_url, FILE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == b"claimed\n"
        finally:
            holder.kill()  # SIGKILL: its claim stays in the bucket, renewed by no one
    assert keys(s3, bucket) == [f"sim/claims/{FILE}/1"]
    assert b.remove_orphaned_parts({FILE}, min_age=0) == 0  # not yet past its TTL: spared
    with pytest.raises(PartInUse), b.claim_part(FILE, 1):
        pass
    # Past the TTL (0 here, so at once): startup removes the claim, and a writer takes it over.
    patient = replica(tmp_path / "c", claim_ttl=0)
    with patient.claim_part(FILE, 1) as path:  # taken over in place
        path.write_bytes(b"the whole part")
    with b.open_part(FILE, 1) as stream:
        assert stream.read() == b"the whole part"
    s3.client().put_object(Bucket=bucket, Key=f"sim/claims/{FILE}/2", Body=b"{}")
    assert patient.remove_orphaned_parts({FILE}, min_age=0) == 1
    assert keys(s3, bucket) == [f"sim/parts/{FILE}/1"]


def test_a_writer_whose_claim_was_taken_over_stores_nothing_and_answers_503(
    a: S3BlobStore, b: S3BlobStore, replica: Callable[..., S3BlobStore], tmp_path: Path
) -> None:
    taker = replica(tmp_path / "c", claim_ttl=0)  # a's claim looks dead to it
    with pytest.raises(ServiceUnavailable, match="taken over"), a.claim_part(FILE, 1) as path:
        path.write_bytes(b"a, stalled")
        with taker.claim_part(FILE, 1) as taken:
            taken.write_bytes(b"the taker's part")
            with pytest.raises(PartInUse), b.claim_part(FILE, 1):
                pass  # the taker's claim is live to b
    with b.open_part(FILE, 1) as stream:
        assert stream.read() == b"the taker's part"
    assert not path.exists()


# -- the object store failing ---------------------------------------------------------------------


def test_an_unreachable_object_store_is_a_503_not_a_crash(
    replicas: list[S3BlobStore], tmp_path: Path
) -> None:
    with local_s3() as gone:
        blobs = S3BlobStore(gone.new_bucket(), "sim/", tmp_path, endpoint_url=gone.endpoint_url)
        replicas.append(blobs)
        blobs.write_bytes(FILE, b"stored")
    # The server is stopped: every call that needs it is a ServiceUnavailable.
    with pytest.raises(ServiceUnavailable, match="object storage"):
        blobs.read_bytes(FILE)
    with pytest.raises(ServiceUnavailable):
        blobs.path(FILE)
    with pytest.raises(ServiceUnavailable):
        blobs.write_bytes(FILE, b"again")
    with pytest.raises(ServiceUnavailable), blobs.claim_part(FILE, 1):
        pytest.fail("a claim nobody could record")
    assert list(blobs.part_path(FILE).parent.iterdir()) == []  # its local claim let go too


def test_a_missing_bucket_is_a_503_naming_s3s_error(
    s3: LocalS3, replicas: list[S3BlobStore], tmp_path: Path
) -> None:
    blobs = S3BlobStore("no-such-bucket-here", "sim/", tmp_path, endpoint_url=s3.endpoint_url)
    replicas.append(blobs)
    with pytest.raises(ServiceUnavailable, match="NoSuchBucket"):
        blobs.write_bytes(FILE, b"x")


# -- the server, through the SDK ------------------------------------------------------------------


def test_the_sdk_uploads_to_s3_and_downloads_with_a_range(
    s3: LocalS3, bucket: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        clock=ClockMode.instant,
        blob_url=s3.blob_url(bucket),
        s3_endpoint_url=s3.endpoint_url,
    )
    body = conversations(8)
    dataset = tmp_path / "train.jsonl"
    dataset.write_bytes(body)
    with serve_in_thread(settings) as sim, sim.client() as client:
        uploaded = client.files.upload(dataset, purpose="fine-tune", check=True)
        assert keys(s3, bucket) == [f"sim/blobs/{uploaded.id}"]
        assert client.files.retrieve(uploaded.id).processing_status == "COMPLETED"
        assert client.files.content(uploaded.id).read() == body
        ranged = client.files.with_raw_response.content(
            uploaded.id, extra_headers={"Range": "bytes=10-29"}
        )
        assert ranged.status_code == 206
        assert ranged.read() == body[10:30]
        client.files.delete(uploaded.id)
        assert keys(s3, bucket) == []


def test_a_download_while_the_object_store_is_down_is_togethers_503(tmp_path: Path) -> None:
    body = conversations(4)
    dataset = tmp_path / "train.jsonl"
    dataset.write_bytes(body)
    object_store = ExitStack()
    down = object_store.enter_context(local_s3())
    settings = Settings(
        data_dir=tmp_path / "data",
        clock=ClockMode.instant,
        blob_url=down.blob_url(down.new_bucket()),
        s3_endpoint_url=down.endpoint_url,
    )
    with object_store, serve_in_thread(settings) as sim, sim.client() as client:
        file_id = client.files.upload(dataset, purpose="fine-tune", check=False).id
        object_store.close()  # S3 goes away; the simulator stays
        answer = httpx.get(
            f"{sim.base_url}/v1/files/{file_id}/content", headers=auth(sim.api_key), timeout=60
        )
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    error = answer.json()["error"]
    assert error["type"] == "server_error"
    assert error["message"].startswith("The object storage behind this simulator failed to look")


def test_two_replicas_on_one_database_and_bucket_serve_one_upload_and_its_parts(
    s3: LocalS3, bucket: str, postgres_cluster: Cluster, tmp_path: Path
) -> None:
    url = postgres_cluster.create_database()

    def replica_settings(name: str) -> Settings:  # each its own data dir, as on its own host
        return Settings(
            data_dir=tmp_path / name,
            clock=ClockMode.instant,
            database_url=url,
            blob_url=s3.blob_url(bucket),
            s3_endpoint_url=s3.endpoint_url,
        )

    body = conversations(8)
    dataset = tmp_path / "train.jsonl"
    dataset.write_bytes(body)
    with (
        serve_in_thread(replica_settings("a")) as a,
        serve_in_thread(replica_settings("b")) as b,
        a.client() as on_a,
        b.client() as on_b,
    ):
        uploaded = on_a.files.upload(dataset, purpose="fine-tune", check=True)
        assert on_b.files.retrieve(uploaded.id).processing_status == "COMPLETED"
        ranged = on_b.files.with_raw_response.content(
            uploaded.id, extra_headers={"Range": "bytes=10-29"}
        )
        assert (ranged.status_code, ranged.read()) == (206, body[10:30])

        # A multipart upload whose parts reach different replicas, completed on a third leg.
        halves = [body[:100], body[100:]]
        initiated = httpx.post(
            f"{a.base_url}/v1/files/multipart/initiate",
            headers=auth(a.api_key),
            json={"file_name": "big.jsonl", "file_size": len(body), "num_parts": 2},
        ).json()
        first, second = (part["URL"] for part in initiated["parts"])
        etags = [
            httpx.put(first, content=halves[0]).headers["etag"],
            httpx.put(second.replace(a.base_url, b.base_url), content=halves[1]).headers["etag"],
        ]
        completed = httpx.post(
            f"{b.base_url}/v1/files/multipart/complete",
            headers=auth(b.api_key),
            json={
                "upload_id": initiated["upload_id"],
                "file_id": initiated["file_id"],
                "parts": [{"part_number": n, "etag": etag} for n, etag in enumerate(etags, 1)],
            },
        )
        assert completed.status_code == 200, completed.text
        assert on_a.files.content(initiated["file_id"]).read() == body
        assert keys(s3, bucket) == sorted(
            [f"sim/blobs/{uploaded.id}", f"sim/blobs/{initiated['file_id']}"]
        )
