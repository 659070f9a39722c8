"""A local S3 on loopback, for tests of the S3 blob store and of replicas sharing a bucket.

moto's server mode speaks S3's REST API over HTTP, conditional writes included (the claims of
``store/s3_blobs.py`` need ``IfNoneMatch``/``IfMatch``), so boto3 talks to it as to any
S3-compatible server: no mock patched into the client, nothing beyond 127.0.0.1. One server can
hold many buckets, so a test module starts one and each test takes a fresh bucket.
Needs the ``test`` extra (``moto[server]``, ``boto3``).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["CREDENTIALS", "LocalS3", "local_s3"]

# moto accepts any key; boto3 wants one from its chain before it signs a request.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "together-sim-test",
    "AWS_SECRET_ACCESS_KEY": "together-sim-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class LocalS3:
    endpoint_url: str
    _client: Any = None

    def client(self) -> Any:
        """A boto3 client of this server (one, kept: each holds a pool of connections)."""
        if self._client is None:
            import boto3

            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            )
        return self._client

    def new_bucket(self) -> str:
        """A bucket of its own (S3 names: lower case, digits and dashes)."""
        name = f"together-sim-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def blob_url(self, bucket: str, prefix: str = "sim") -> str:
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


@contextmanager
def local_s3() -> Iterator[LocalS3]:
    """moto's S3 server on a free loopback port, with boto3's credential variables set for the
    block (the blob store reads boto3's usual chain, as it would in a deployment); stopped and
    the variables restored afterwards."""
    from moto.server import ThreadedMotoServer

    quiet = logging.getLogger("werkzeug")  # moto's server logs every request it answers
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    local = LocalS3(f"http://{host}:{port}")
    try:
        yield local
    finally:
        local.close()
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        quiet.setLevel(level)
