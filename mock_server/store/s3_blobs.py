"""File bytes in S3-compatible object storage, so replicas on several hosts serve one set of
files: ``--blob-url s3://bucket/prefix`` (boto3, imported only when this store is chosen).

Objects under the prefix::

    blobs/<file id>        a file's bytes, once its upload is complete
    parts/<file id>/<n>    part n (1..) of a multipart upload, received by whichever replica
    claims/<file id>/<n>   the claim of the one request writing (or joining) part n

and on each replica, under ``<data dir>/s3-cache/`` (``<data dir>/training/`` as ever)::

    objects/<file id>/<etag>   read-through copies, for ``path()``
    blobs/<file id>            what a caller writes at ``path()`` of a blob the bucket lacks
    parts/<file id>.<n>.part   a part streaming in on this replica, under its claim

The decisions, each with its reason:

- **``path()`` is a read-through cache.** ``FileResponse`` (Range requests included) and the
  workers want a file on disk. A HEAD names the object's ETag; a copy is kept per
  ``(id, ETag)`` and fetched with ``GetObject(IfMatch=etag)`` into a temporary file renamed into
  place, so a reader never sees half a copy nor one version's bytes under another's name, and a
  blob rewritten on another replica is fetched afresh. Copies go with ``delete`` and ``clear``;
  copies of blobs another replica deleted go at the next startup (``remove_orphaned_parts``).
  The cache is not bounded by size: a copy handed to a training worker must stay put while the
  job (and its resumption after a restart) may read it, and nothing else here knows when that
  ends. A caller that writes at ``path()`` of a blob the bucket does not hold (the tokenized
  dataset archive, rebuilt from its job on demand) gets a replica-local file: each replica
  builds its own copy, which is deterministic.
- **Parts live in the bucket.** A multipart upload's parts may reach different replicas, so a
  part streams into a local file under its claim and is put as ``parts/<id>/<n>`` before the
  claim is released; the join reads each through ``open_part``, from whichever replica
  received it. Part 0 (a one-shot body, or the join's output) never leaves the replica that
  writes it: it becomes the blob in one ``commit_part``, and its claim keeps a second
  completion out meanwhile.
- **A claim is an object written with ``PutObject(IfNoneMatch='*')``** (S3's conditional write:
  only one of two concurrent writers gets a 200; AWS has it since 2024 and moto's server honours
  it, as an S3-compatible server must for ``--blob-url``; no lock server of our own), taken
  after the local claim of ``LocalBlobStore`` (which excludes the processes of one data dir at
  no network cost) and deleted with ``IfMatch`` on release. While held, a thread renews it every
  ``claim_ttl / 3`` seconds (``claim_ttl`` is 30 s) with a new body, so a new ETag. A claim not
  renewed for ``claim_ttl``, by the bucket's own clock (its ``Date`` against ``LastModified``,
  so replicas' clocks may disagree), is a dead replica's: the next ``claim_part`` takes it over
  with ``PutObject(IfMatch=<its ETag>)``, which only one taker wins and which fails if the
  holder renewed meanwhile, and startup removes it. A holder that finds its claim taken (it
  stalled for a whole ``claim_ttl``) stores nothing and answers 503, to be sent again. Startup
  cleanup (``remove_orphaned_parts``) is safe beside live peers: their claims are renewed,
  their local parts flocked, and parts younger than ``min_age`` spared.
- **``write_bytes`` is one PutObject** (S3 makes an object visible whole or not at all);
  ``delete`` is a DeleteObject (idempotent in S3); ``clear`` deletes every object under the
  prefix and the local copies.
- **``training_dir`` stays local**: a real job's folder (base model, checkpoints, archives)
  lives on the replica that trains it, the one holding the job's lease, where its worker writes
  at disk speed. Only that replica has its downloads, unless ``<data dir>/training`` is a
  volume the replicas share.
- **Errors**: the object store unreachable or failing (a connection refused, a timeout, a 5xx,
  a denied request) is ``ServiceUnavailable``, a 503 with ``retry-after`` that the SDKs retry,
  never a 500. A missing object is ``FileNotFoundError``, as on disk.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Container, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit

from mock_server.core.errors import ServiceUnavailable
from mock_server.store.blobs import LocalBlobStore, PartInUse

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["S3BlobStore", "parse_blob_url"]

CHUNK = 1 << 20
PUT_WHOLE_BELOW = 64 << 20  # larger files go up as an S3 multipart upload (boto3's transfer)
_MISSING = {"404", "NoSuchKey", "NotFound"}
_TAKEN = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def parse_blob_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` as its bucket and key prefix (``some/prefix/``; ``""`` for
    none). Anything else is a ``ValueError`` naming what a blob URL looks like."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"blob_url must look like s3://bucket or s3://bucket/prefix, not {url!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        data_dir: Path,
        *,
        endpoint_url: str | None = None,
        claim_ttl: float = 30.0,
    ) -> None:
        try:  # only here: the default server never pays for importing boto3
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError as exc:
            raise ImportError(
                "--blob-url s3://... needs boto3: pip install 'together-sim[s3]'"
            ) from exc

        self.bucket = bucket
        self.prefix = prefix
        self.root = data_dir
        self.claim_ttl = claim_ttl
        self._client_error: type[Exception] = ClientError
        self._failures: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
        # endpoint_url None: boto3's own AWS_ENDPOINT_URL, else AWS. Checksums only where the
        # operation needs one, so S3-compatible servers that predate them accept every call.
        self._s3: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        cache = data_dir / "s3-cache"
        self._local = LocalBlobStore(cache)  # replica-local: parts streaming in, local claims
        self._objects = cache / "objects"
        self._training = data_dir / "training"
        self._owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._beats = itertools.count()
        self._claims = _Renewals(self._renew, self._delete_claim, max(claim_ttl / 3, 0.5))

    @classmethod
    def from_url(cls, url: str, data_dir: Path, *, endpoint_url: str | None = None) -> S3BlobStore:
        bucket, prefix = parse_blob_url(url)
        return cls(bucket, prefix, data_dir, endpoint_url=endpoint_url)

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix})"

    # -- blobs ------------------------------------------------------------------------------------

    def path(self, file_id: str) -> Path:
        local = self._local.path(file_id)  # also refuses an id that is not one plain name
        folder = self._objects / file_id
        for _ in range(3):
            head = self._head(self._key("blobs", file_id))
            if head is None:
                shutil.rmtree(folder, ignore_errors=True)  # a copy of a blob deleted elsewhere
                return local
            copy = folder / _etag_name(head["ETag"])
            if copy.is_file() or self._fetch(self._key("blobs", file_id), head["ETag"], copy):
                return copy
        raise ServiceUnavailable(f"{file_id} kept changing in the object store while it was read")

    def exists(self, file_id: str) -> bool:
        return self._head(self._key("blobs", file_id)) is not None or self._local.exists(file_id)

    def read_bytes(self, file_id: str) -> bytes:
        try:
            with self._failing(f"read {file_id}"):
                body = self._s3.get_object(Bucket=self.bucket, Key=self._key("blobs", file_id))
                return cast(bytes, body["Body"].read())
        except FileNotFoundError:
            return self._local.read_bytes(file_id)

    def open_read(self, file_id: str) -> BinaryIO:
        # The local copy: seekable and read line by line at file speed, which a network stream
        # is not.
        return self.path(file_id).open("rb")

    def write_bytes(self, file_id: str, data: bytes) -> None:
        with self._failing(f"store {file_id}"):
            self._s3.put_object(Bucket=self.bucket, Key=self._key("blobs", file_id), Body=data)

    def delete(self, file_id: str) -> None:
        with self._failing(f"delete {file_id}"):
            self._s3.delete_object(Bucket=self.bucket, Key=self._key("blobs", file_id))
        shutil.rmtree(self._objects / file_id, ignore_errors=True)
        self._local.delete(file_id)

    # -- uploads in flight ------------------------------------------------------------------------

    def part_path(self, file_id: str, part: int = 0) -> Path:
        return self._local.part_path(file_id, part)

    @contextmanager
    def claim_part(self, file_id: str, part: int = 0) -> Iterator[Path]:
        with self._local.claim_part(file_id, part) as path:
            key = self._key("claims", file_id, str(part))
            self._claims.hold(key, self._acquire(key, file_id, part))
            finished = False
            try:
                yield path
                finished = True
            finally:
                storing = finished and part > 0 and path.exists()
                # Renewed once more before storing, which fails if another replica took the
                # claim over while this one stalled: its part must not be overwritten.
                lost = not self._claims.confirm(key) if storing else self._claims.lost(key)
                try:
                    if storing and not lost:
                        # Into the bucket before the claim goes: a join on any replica that
                        # claims the part next finds it whole.
                        self._put_file(path, self._key("parts", file_id, str(part)))
                finally:
                    if part > 0 or not finished:  # in the bucket now, or never to be
                        path.unlink(missing_ok=True)
                    self._claims.release(key)
            if lost:
                raise ServiceUnavailable(
                    f"Part {part} of {file_id} was taken over by another replica while this one "
                    "stalled: nothing was stored, send it again"
                )

    def open_part(self, file_id: str, part: int) -> BinaryIO:
        with self._failing(f"read part {part} of {file_id}"):
            body = self._s3.get_object(
                Bucket=self.bucket, Key=self._key("parts", file_id, str(part))
            )
        return cast(BinaryIO, body["Body"])

    def commit_part(self, file_id: str, part: Path) -> None:
        etag = self._put_file(part, self._key("blobs", file_id))
        # The received file is the first local copy: validation reads it next, with no download.
        copy = self._objects / file_id / _etag_name(etag)
        copy.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, copy)

    def discard_parts(self, file_id: str) -> None:
        self._local.discard_parts(file_id)
        self._delete_under(self._key("parts", file_id) + "/")

    def remove_orphaned_parts(self, in_flight: Container[str], *, min_age: float = 600.0) -> int:
        """What no one will finish, at startup: this replica's local parts with no live writer
        (a part is in the bucket once received, so a local one outside a claim was cut off);
        claims not renewed for ``claim_ttl`` (their replica died); parts of uploads not in
        ``in_flight`` older than ``min_age`` (a younger one may belong to an upload begun on
        another replica after the uploads were listed); and local copies of blobs deleted
        elsewhere. Returns how many were removed."""
        removed = 0
        for path in self._local.orphaned_parts(set(), tmp_age=min_age):
            path.unlink(missing_ok=True)
            removed += 1
        live: set[str] = set()
        for key, item, age in self._listing("claims/"):
            if age < self.claim_ttl:
                live.add(key)
            elif self._delete_claim(self.prefix + "claims/" + key, item["ETag"]):
                removed += 1
        for key, _, age in self._listing("parts/"):
            file_id = key.partition("/")[0]
            if file_id not in in_flight and age >= min_age and key not in live:
                self._delete(self.prefix + "parts/" + key)
                removed += 1
        if self._objects.is_dir():
            kept = {key for key, _, _ in self._listing("blobs/")}
            for folder in self._objects.iterdir():
                if folder.name not in kept:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
        return removed

    # -- real jobs' folders -----------------------------------------------------------------------

    def training_dir(self, job_id: str) -> Path:
        self._local.path(job_id)  # the same refusal of ids that are not one plain name
        return self._training / job_id

    def delete_training_dir(self, job_id: str) -> None:
        shutil.rmtree(self.training_dir(job_id), ignore_errors=True)

    def clear(self) -> None:
        self._delete_under(self.prefix)
        self._local.clear()
        shutil.rmtree(self._objects, ignore_errors=True)
        shutil.rmtree(self._training, ignore_errors=True)

    def close(self) -> None:
        self._s3.close()  # its pooled connections, which would otherwise close only when collected

    # -- the object store -------------------------------------------------------------------------

    def _key(self, kind: str, *names: str) -> str:
        for name in names:
            self._local.path(name)  # refused before it can reach the bucket
        return self.prefix + "/".join((kind, *names))

    @contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """S3's answers as this server's: a missing object is a missing file, anything else
        that goes wrong (unreachable, timing out, refusing, failing) a 503 worth a retry."""
        try:
            yield
        except self._failures as exc:
            code = _code(exc) if isinstance(exc, self._client_error) else type(exc).__name__
            if code in _MISSING:
                raise FileNotFoundError(f"{what}: no such object") from exc
            raise ServiceUnavailable(
                f"The object storage behind this simulator failed to {what} ({code}): retry shortly"
            ) from exc

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with self._failing(f"look up {key}"):
                return cast(dict[str, Any], self._s3.head_object(Bucket=self.bucket, Key=key))
        except FileNotFoundError:
            return None

    def _fetch(self, key: str, etag: str, copy: Path) -> bool:
        """The object at ``etag`` into ``copy``, atomically; False if it changed meanwhile."""
        copy.parent.mkdir(parents=True, exist_ok=True)
        temp = copy.with_name(f".{copy.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with self._failing(f"read {key}"):
                try:
                    body = self._s3.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)
                except self._client_error as exc:
                    if _code(exc) in _TAKEN | _MISSING:
                        return False  # rewritten or deleted since the HEAD: look again
                    raise
                with temp.open("wb") as out:
                    for chunk in body["Body"].iter_chunks(CHUNK):
                        out.write(chunk)
            os.replace(temp, copy)
        finally:
            temp.unlink(missing_ok=True)
        for older in copy.parent.iterdir():  # the copies of versions this one replaced
            if older != copy and not older.name.startswith("."):
                older.unlink(missing_ok=True)
        return True

    def _put_file(self, path: Path, key: str) -> str:
        """Put a local file as ``key`` (all or nothing, as every S3 write); its ETag."""
        with self._failing(f"store {key}"):
            if path.stat().st_size < PUT_WHOLE_BELOW:
                with path.open("rb") as body:
                    answer = self._s3.put_object(Bucket=self.bucket, Key=key, Body=body)
                return cast(str, answer["ETag"])
            self._s3.upload_file(str(path), self.bucket, key)
            return cast(str, self._s3.head_object(Bucket=self.bucket, Key=key)["ETag"])

    def _delete(self, key: str) -> None:
        with self._failing(f"delete {key}"):
            self._s3.delete_object(Bucket=self.bucket, Key=key)

    def _delete_under(self, prefix: str) -> None:
        with self._failing(f"delete {prefix}"):
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:  # at most 1,000 a page, which is DeleteObjects' own limit
                    self._s3.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )

    def _listing(self, kind: str) -> Iterator[tuple[str, dict[str, Any], float]]:
        """Each object under ``kind``: its key past ``kind``, its listing entry, and its age in
        seconds by the bucket's clock."""
        with self._failing(f"list {kind}"):
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + kind
            )
            for page in pages:
                now = _server_time(page)
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix + kind) :]
                    yield key, item, (now - item["LastModified"]).total_seconds()

    # -- claims across replicas -------------------------------------------------------------------

    def _claim_body(self) -> bytes:
        # A new body each time, so each renewal has a new ETag that a taker's IfMatch misses.
        beat = next(self._beats)
        return json.dumps({"owner": self._owner, "beat": beat, "at": time.time()}).encode()

    def _acquire(self, key: str, file_id: str, part: int) -> str:
        with self._failing(f"claim part {part} of {file_id}"):
            try:
                return cast(
                    str,
                    self._s3.put_object(
                        Bucket=self.bucket, Key=key, Body=self._claim_body(), IfNoneMatch="*"
                    )["ETag"],
                )
            except self._client_error as exc:
                if _code(exc) not in _TAKEN:
                    raise
            head = self._head(key)
            if head is None:
                raise PartInUse(file_id, part)  # released this instant: the writer just finished
            age = (_server_time(head) - head["LastModified"]).total_seconds()
            if age < self.claim_ttl:
                raise PartInUse(file_id, part)  # held, and renewed lately: a live writer
            try:  # its holder stopped renewing it: a dead replica's, taken over by one taker
                return cast(
                    str,
                    self._s3.put_object(
                        Bucket=self.bucket, Key=key, Body=self._claim_body(), IfMatch=head["ETag"]
                    )["ETag"],
                )
            except self._client_error as exc:
                if _code(exc) in _TAKEN | _MISSING:
                    raise PartInUse(file_id, part) from None
                raise

    def _renew(self, key: str, etag: str) -> str | None:
        """The claim's new ETag, or None if it is no longer this replica's."""
        try:
            answer = self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=self._claim_body(), IfMatch=etag
            )
        except self._client_error as exc:
            if _code(exc) in _TAKEN | _MISSING:
                return None
            return etag  # the store failing: try again at the next beat
        except self._failures:
            return etag
        return cast(str, answer["ETag"])

    def _delete_claim(self, key: str, etag: str) -> bool:
        """Delete a claim if it is still the one seen (``IfMatch``): never one taken meanwhile."""
        try:
            with self._failing(f"release {key}"):
                self._s3.delete_object(Bucket=self.bucket, Key=key, IfMatch=etag)
        except FileNotFoundError:
            return False
        except ServiceUnavailable as exc:
            if isinstance(exc.__cause__, self._client_error) and _code(exc.__cause__) in _TAKEN:
                return False
            raise
        return True


class _Renewals:
    """The claims this store holds, renewed by one daemon thread while there are any. Renewal,
    release and the check for a lost claim take one lock, so a release never races a renewal
    into deleting with a stale ETag (which would leave the claim behind for a whole TTL)."""

    def __init__(
        self,
        renew: Callable[[str, str], str | None],
        release: Callable[[str, str], object],
        interval: float,
    ) -> None:
        self._renew = renew
        self._release = release
        self._interval = interval
        self._held: dict[str, str] = {}
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, key: str, etag: str) -> None:
        with self._lock:
            self._held[key] = etag
            self._lost.discard(key)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="together-sim-s3-claims", daemon=True
                )
                self._thread.start()

    def lost(self, key: str) -> bool:
        with self._lock:
            return key in self._lost

    def confirm(self, key: str) -> bool:
        """Renew the claim now: whether it is still this store's."""
        with self._lock:
            self._renew_held(key)
            return key in self._held

    def release(self, key: str) -> None:
        with self._lock:
            etag = self._held.pop(key, None)
            self._lost.discard(key)
            if etag is not None:
                self._release(key, etag)

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            with self._lock:
                if not self._held:
                    self._thread = None
                    return
                for key in list(self._held):
                    self._renew_held(key)

    def _renew_held(self, key: str) -> None:  # under the lock
        etag = self._held.get(key)
        if etag is None:
            return
        renewed = self._renew(key, etag)
        if renewed is None:
            del self._held[key]
            self._lost.add(key)
        else:
            self._held[key] = renewed


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {})
    return str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def _server_time(answer: dict[str, Any]) -> datetime:
    """The object store's clock, from its answer's ``Date``; ours if it sent none."""
    date = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(date) if date else datetime.now(UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _etag_name(etag: str) -> str:
    """An ETag as a file name: hex digits, and ``-N`` for a multipart upload's."""
    name = "".join(c for c in etag if c.isalnum() or c == "-")
    return name or "object"
