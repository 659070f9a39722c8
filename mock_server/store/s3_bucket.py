"""One bucket as this server speaks to it: the boto3 client (imported only here, so only when
``--blob-url`` asks for S3), its failures read as this server's, and the few calls the S3 blob
store and its claims make. Apart from ``s3_blobs.py``, which decides which key holds what and
what each replica keeps on disk, so that module reads as that layout and ``s3_claims.py`` makes
its conditional writes through the same client and the same reading of failures.

- **Errors**: the object store unreachable or failing (a connection refused, a timeout, a 5xx,
  a denied request) is ``ServiceUnavailable``, a 503 with ``retry-after`` that the SDKs retry,
  never a 500. A missing object is ``FileNotFoundError``, as on disk.
- **Ages are by the bucket's clock** (its ``Date`` against ``LastModified``), so replicas whose
  clocks disagree agree on how old an object is.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, cast

from mock_server.core.errors import ServiceUnavailable

__all__ = ["MISSING", "TAKEN", "S3Bucket", "error_code", "server_time"]

CHUNK = 1 << 20
PUT_WHOLE_BELOW = 64 << 20  # larger files go up as an S3 multipart upload (boto3's transfer)
MISSING = {"404", "NoSuchKey", "NotFound"}
TAKEN = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}  # a condition failed


class S3Bucket:
    def __init__(self, name: str, *, endpoint_url: str | None = None) -> None:
        try:  # only here: the default server never pays for importing boto3
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError as exc:
            raise ImportError(
                "--blob-url s3://... needs boto3: pip install 'together-sim[s3]'"
            ) from exc

        self.name = name
        self.client_error: type[Exception] = ClientError
        self.failures: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
        # endpoint_url None: boto3's own AWS_ENDPOINT_URL, else AWS. Checksums only where the
        # operation needs one, so S3-compatible servers that predate them accept every call.
        self.client: Any = boto3.session.Session().client(
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

    @contextmanager
    def failing(self, what: str) -> Iterator[None]:
        """S3's answers as this server's: a missing object is a missing file, anything else
        that goes wrong (unreachable, timing out, refusing, failing) a 503 worth a retry."""
        try:
            yield
        except self.failures as exc:
            code = error_code(exc) if isinstance(exc, self.client_error) else type(exc).__name__
            if code in MISSING:
                raise FileNotFoundError(f"{what}: no such object") from exc
            raise ServiceUnavailable(
                f"The object storage behind this simulator failed to {what} ({code}): retry shortly"
            ) from exc

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            with self.failing(f"look up {key}"):
                return cast(dict[str, Any], self.client.head_object(Bucket=self.name, Key=key))
        except FileNotFoundError:
            return None

    def fetch(self, key: str, etag: str, copy: Path) -> bool:
        """The object at ``etag`` into ``copy``, atomically; False if it changed meanwhile."""
        copy.parent.mkdir(parents=True, exist_ok=True)
        temp = copy.with_name(f".{copy.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with self.failing(f"read {key}"):
                try:
                    body = self.client.get_object(Bucket=self.name, Key=key, IfMatch=etag)
                except self.client_error as exc:
                    if error_code(exc) in TAKEN | MISSING:
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

    def put_file(self, path: Path, key: str) -> str:
        """Put a local file as ``key`` (all or nothing, as every S3 write); its ETag."""
        with self.failing(f"store {key}"):
            if path.stat().st_size < PUT_WHOLE_BELOW:
                with path.open("rb") as body:
                    answer = self.client.put_object(Bucket=self.name, Key=key, Body=body)
                return cast(str, answer["ETag"])
            self.client.upload_file(str(path), self.name, key)
            return cast(str, self.client.head_object(Bucket=self.name, Key=key)["ETag"])

    def delete(self, key: str) -> None:
        with self.failing(f"delete {key}"):
            self.client.delete_object(Bucket=self.name, Key=key)

    def delete_under(self, prefix: str) -> None:
        with self.failing(f"delete {prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:  # at most 1,000 a page, which is DeleteObjects' own limit
                    self.client.delete_objects(
                        Bucket=self.name, Delete={"Objects": keys, "Quiet": True}
                    )

    def listing(self, prefix: str, kind: str) -> Iterator[tuple[str, dict[str, Any], float]]:
        """Each object under ``prefix + kind``: its key past that, its listing entry, and its
        age in seconds by the bucket's clock."""
        with self.failing(f"list {kind}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix + kind
            )
            for page in pages:
                now = server_time(page)
                for item in page.get("Contents", []):
                    key = item["Key"][len(prefix + kind) :]
                    yield key, item, (now - item["LastModified"]).total_seconds()

    def close(self) -> None:
        # Its pooled connections, which would otherwise close only when collected.
        self.client.close()


def error_code(exc: Exception) -> str:
    """S3's code for a failed call (``NoSuchKey``, ``PreconditionFailed``), else its status."""
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {})
    return str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def server_time(answer: dict[str, Any]) -> datetime:
    """The object store's clock, from its answer's ``Date``; ours if it sent none."""
    date = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(date) if date else datetime.now(UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)
