"""Claims across replicas on one bucket: which request writes (or joins) each part of a
multipart upload, when the parts may reach replicas on different hosts. Apart from
``s3_blobs.py`` because this is the one piece of the S3 store that keeps time and runs a thread
of its own; the blob store only takes, checks and releases a claim around each part.

The decisions, each with its reason:

- **A claim is an object written with ``PutObject(IfNoneMatch='*')``** (S3's conditional write:
  only one of two concurrent writers gets a 200; AWS has it since 2024 and moto's server honours
  it, as an S3-compatible server must for ``--blob-url``; no lock server of our own), taken
  after the local claim of ``LocalBlobStore`` (which excludes the processes of one data dir at
  no network cost) and deleted with ``IfMatch`` on release.
- **While held, a thread renews it** every ``claim_ttl / 3`` seconds (``claim_ttl`` is 30 s)
  with a new body, so a new ETag. Renewal, release and the check for a lost claim take one lock,
  so a release never races a renewal into deleting with a stale ETag (which would leave the
  claim behind for a whole TTL).
- **A claim not renewed for ``claim_ttl``**, by the bucket's own clock (its ``Date`` against
  ``LastModified``, so replicas' clocks may disagree), is a dead replica's: the next taker takes
  it over with ``PutObject(IfMatch=<its ETag>)``, which only one taker wins and which fails if
  the holder renewed meanwhile, and startup removes it. A holder that finds its claim taken (it
  stalled for a whole ``claim_ttl``) learns so from ``confirm`` or ``lost`` and stores nothing.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import uuid
from typing import cast

from mock_server.core.errors import ServiceUnavailable
from mock_server.store.blobs import PartInUse
from mock_server.store.s3_bucket import MISSING, TAKEN, S3Bucket, error_code, server_time

__all__ = ["S3Claims"]


class S3Claims:
    """The claims this replica holds in the bucket, renewed by one daemon thread while there
    are any."""

    def __init__(self, bucket: S3Bucket, *, ttl: float) -> None:
        self._bucket = bucket
        self._ttl = ttl
        self._owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._beats = itertools.count()
        self._interval = max(ttl / 3, 0.5)
        self._held: dict[str, str] = {}
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def take(self, key: str, file_id: str, part: int) -> None:
        """Claim part ``part`` of ``file_id`` as ``key``, or raise ``PartInUse``; renewed from
        now on until ``release``."""
        etag = self._acquire(key, file_id, part)
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
                self.delete(key, etag)

    def delete(self, key: str, etag: str) -> bool:
        """Delete a claim if it is still the one seen (``IfMatch``): never one taken meanwhile."""
        try:
            with self._bucket.failing(f"release {key}"):
                self._bucket.client.delete_object(Bucket=self._bucket.name, Key=key, IfMatch=etag)
        except FileNotFoundError:
            return False
        except ServiceUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, self._bucket.client_error) and error_code(cause) in TAKEN:
                return False
            raise
        return True

    def _body(self) -> bytes:
        # A new body each time, so each renewal has a new ETag that a taker's IfMatch misses.
        beat = next(self._beats)
        return json.dumps({"owner": self._owner, "beat": beat, "at": time.time()}).encode()

    def _acquire(self, key: str, file_id: str, part: int) -> str:
        with self._bucket.failing(f"claim part {part} of {file_id}"):
            try:
                return cast(
                    str,
                    self._bucket.client.put_object(
                        Bucket=self._bucket.name, Key=key, Body=self._body(), IfNoneMatch="*"
                    )["ETag"],
                )
            except self._bucket.client_error as exc:
                if error_code(exc) not in TAKEN:
                    raise
            head = self._bucket.head(key)
            if head is None:
                raise PartInUse(file_id, part)  # released this instant: the writer just finished
            age = (server_time(head) - head["LastModified"]).total_seconds()
            if age < self._ttl:
                raise PartInUse(file_id, part)  # held, and renewed lately: a live writer
            try:  # its holder stopped renewing it: a dead replica's, taken over by one taker
                return cast(
                    str,
                    self._bucket.client.put_object(
                        Bucket=self._bucket.name, Key=key, Body=self._body(), IfMatch=head["ETag"]
                    )["ETag"],
                )
            except self._bucket.client_error as exc:
                if error_code(exc) in TAKEN | MISSING:
                    raise PartInUse(file_id, part) from None
                raise

    def _renew(self, key: str, etag: str) -> str | None:
        """The claim's new ETag, or None if it is no longer this replica's."""
        try:
            answer = self._bucket.client.put_object(
                Bucket=self._bucket.name, Key=key, Body=self._body(), IfMatch=etag
            )
        except self._bucket.client_error as exc:
            if error_code(exc) in TAKEN | MISSING:
                return None
            return etag  # the store failing: try again at the next beat
        except self._bucket.failures:
            return etag
        return cast(str, answer["ETag"])

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
