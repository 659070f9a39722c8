"""Signed download URLs served by this server, standing in for the service's presigned URLs.

A family that hands out a URL (a video, a checkpoint's files, a deployment storage file) signs
``/_downloads/<tenant>/<kind>/<id>/<name>`` with a secret kept in the store's meta, so the URL
works without a key, as a presigned one does, and only for what it names. The secret survives
restarts, so a URL handed out before one still works after it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from mock_server.core.errors import NotFound
from mock_server.store import Store

__all__ = ["Download", "signed_url", "verify"]

PREFIX = "/_downloads"


@dataclass(frozen=True)
class Download:
    content: bytes | Path
    media_type: str


def _secret(store: Store) -> bytes:
    value = store.get_meta("download_secret")  # a read: made once, then only read
    if value is None:  # one upsert: of processes making it at once, all sign with the first's
        value = store.put_meta_once("download_secret", secrets.token_hex(16))
    return value.encode()


def _signature(store: Store, *parts: str) -> str:
    return hmac.new(_secret(store), "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


def signed_url(store: Store, base_url: str, tenant: str, kind: str, id_: str, name: str) -> str:
    path = "/".join(quote(p, safe="") for p in (tenant, kind, id_, name))
    sig = _signature(store, tenant, kind, id_, name)
    return f"{base_url.rstrip('/')}{PREFIX}/{path}?sig={sig}"


def verify(store: Store, tenant: str, kind: str, id_: str, name: str, sig: str) -> None:
    if not hmac.compare_digest(_signature(store, tenant, kind, id_, name), sig):
        raise NotFound("download", name, message="The download URL is invalid or has expired")
