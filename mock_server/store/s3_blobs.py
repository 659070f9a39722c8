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
- **Each part has a claim across replicas** (``s3_claims.py``: a conditional write, renewed
  while held, taken over once its replica stops renewing it), taken after the local claim of
  ``LocalBlobStore``. A holder that finds its claim taken (it stalled for a whole
  ``claim_ttl``) stores nothing and answers 503, to be sent again. Startup cleanup
  (``remove_orphaned_parts``) is safe beside live peers: their claims are renewed, their local
  parts flocked, and parts younger than ``min_age`` spared.
- **``write_bytes`` is one PutObject** (S3 makes an object visible whole or not at all);
  ``delete`` is a DeleteObject (idempotent in S3); ``clear`` deletes every object under the
  prefix and the local copies.
- **``training_dir`` stays local**: a real job's folder (base model, checkpoints, archives)
  lives on the replica that trains it, the one holding the job's lease, where its worker writes
  at disk speed. Only that replica has its downloads, unless ``<data dir>/training`` is a
  volume the replicas share.
- **Errors** are read in ``s3_bucket.py``: the object store unreachable or failing is
  ``ServiceUnavailable``, a 503 with ``retry-after``; a missing object ``FileNotFoundError``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Container, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import urlsplit

from mock_server.core.errors import ServiceUnavailable
from mock_server.store.blobs import LocalBlobStore
from mock_server.store.s3_bucket import S3Bucket
from mock_server.store.s3_claims import S3Claims

__all__ = ["S3BlobStore", "parse_blob_url"]


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
        self.bucket = bucket
        self.prefix = prefix
        self.root = data_dir
        self.claim_ttl = claim_ttl
        self._s3 = S3Bucket(bucket, endpoint_url=endpoint_url)
        cache = data_dir / "s3-cache"
        self._local = LocalBlobStore(cache)  # replica-local: parts streaming in, local claims
        self._objects = cache / "objects"
        self._training = data_dir / "training"
        self._claims = S3Claims(self._s3, ttl=claim_ttl)

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
            head = self._s3.head(self._key("blobs", file_id))
            if head is None:
                shutil.rmtree(folder, ignore_errors=True)  # a copy of a blob deleted elsewhere
                return local
            copy = folder / _etag_name(head["ETag"])
            if copy.is_file() or self._s3.fetch(self._key("blobs", file_id), head["ETag"], copy):
                return copy
        raise ServiceUnavailable(f"{file_id} kept changing in the object store while it was read")

    def exists(self, file_id: str) -> bool:
        return self._s3.head(self._key("blobs", file_id)) is not None or self._local.exists(file_id)

    def read_bytes(self, file_id: str) -> bytes:
        try:
            with self._s3.failing(f"read {file_id}"):
                body = self._s3.client.get_object(
                    Bucket=self.bucket, Key=self._key("blobs", file_id)
                )
                return cast(bytes, body["Body"].read())
        except FileNotFoundError:
            return self._local.read_bytes(file_id)

    def open_read(self, file_id: str) -> BinaryIO:
        # The local copy: seekable and read line by line at file speed, which a network stream
        # is not.
        return self.path(file_id).open("rb")

    def write_bytes(self, file_id: str, data: bytes) -> None:
        with self._s3.failing(f"store {file_id}"):
            self._s3.client.put_object(
                Bucket=self.bucket, Key=self._key("blobs", file_id), Body=data
            )

    def delete(self, file_id: str) -> None:
        with self._s3.failing(f"delete {file_id}"):
            self._s3.client.delete_object(Bucket=self.bucket, Key=self._key("blobs", file_id))
        shutil.rmtree(self._objects / file_id, ignore_errors=True)
        self._local.delete(file_id)

    # -- uploads in flight ------------------------------------------------------------------------

    def part_path(self, file_id: str, part: int = 0) -> Path:
        return self._local.part_path(file_id, part)

    @contextmanager
    def claim_part(self, file_id: str, part: int = 0) -> Iterator[Path]:
        with self._local.claim_part(file_id, part) as path:
            key = self._key("claims", file_id, str(part))
            self._claims.take(key, file_id, part)
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
                        self._s3.put_file(path, self._key("parts", file_id, str(part)))
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
        with self._s3.failing(f"read part {part} of {file_id}"):
            body = self._s3.client.get_object(
                Bucket=self.bucket, Key=self._key("parts", file_id, str(part))
            )
        return cast(BinaryIO, body["Body"])

    def commit_part(self, file_id: str, part: Path) -> None:
        etag = self._s3.put_file(part, self._key("blobs", file_id))
        # The received file is the first local copy: validation reads it next, with no download.
        copy = self._objects / file_id / _etag_name(etag)
        copy.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, copy)

    def discard_parts(self, file_id: str) -> None:
        self._local.discard_parts(file_id)
        self._s3.delete_under(self._key("parts", file_id) + "/")

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
        for key, item, age in self._s3.listing(self.prefix, "claims/"):
            if age < self.claim_ttl:
                live.add(key)
            elif self._claims.delete(self.prefix + "claims/" + key, item["ETag"]):
                removed += 1
        for key, _, age in self._s3.listing(self.prefix, "parts/"):
            file_id = key.partition("/")[0]
            if file_id not in in_flight and age >= min_age and key not in live:
                self._s3.delete(self.prefix + "parts/" + key)
                removed += 1
        if self._objects.is_dir():
            kept = {key for key, _, _ in self._s3.listing(self.prefix, "blobs/")}
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
        self._s3.delete_under(self.prefix)
        self._local.clear()
        shutil.rmtree(self._objects, ignore_errors=True)
        shutil.rmtree(self._training, ignore_errors=True)

    def close(self) -> None:
        self._s3.close()

    # -- keys -------------------------------------------------------------------------------------

    def _key(self, kind: str, *names: str) -> str:
        for name in names:
            self._local.path(name)  # refused before it can reach the bucket
        return self.prefix + "/".join((kind, *names))


def _etag_name(etag: str) -> str:
    """An ETag as a file name: hex digits, and ``-N`` for a multipart upload's."""
    name = "".join(c for c in etag if c.isalnum() or c == "-")
    return name or "object"
