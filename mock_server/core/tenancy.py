"""Who is calling: the bearer key decides the tenant, and configured keys decide who may call and
who may use the simulator's own controls.

Every service keys its records by tenant, never by key, so the key itself is never stored. The
tenant id is an HMAC of the key under a secret kept in the data dir (``tenant-secret``, made on
first start): an id on the dashboard, in a fault rule or in the journal says nothing about the
key behind it, and a weak key cannot be found by hashing guesses, as it could when the id was a
plain hash. One data dir keeps one secret, so a key is the same tenant across restarts and its
stored records keep their owner. Replicas that share a database but not a data dir (other hosts)
keep it in the database's meta instead (``SECRET_META``, made once by whichever replica comes
first), so a key is the same tenant on every replica; a server that finds one there uses it.
The ASGI fronts (kept views, fault injection, examples mode) and the routes all ask the app's
one :class:`Tenancy`, so a request is the same tenant whichever layer answers it.

With no key configured (``--api-key``, ``--admin-key``), a laptop's default, any bearer key works
and every caller may use ``/_sim``. With keys configured, ``/_sim`` wants a key too: an admin key
for the controls and every tenant's data, a tenant key for its own tenant's dashboard.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mock_server.core.errors import TogetherError, Unauthorized
from mock_server.core.shared import SharedMeta

__all__ = [
    "SECRET_FILE",
    "SECRET_META",
    "TENANT",
    "Caller",
    "Forbidden",
    "Tenancy",
    "bearer_key",
    "load_secret",
    "organization_id",
    "project_id",
    "tenant_of",
]

# Where a layer that already authenticated the request leaves its tenant in the ASGI scope, so
# the routes' own dependency does not hash the key a second time.
TENANT = "together_sim.tenant"

SECRET_FILE = "tenant-secret"
SECRET_META = "tenant_secret"  # the meta key of a shared deployment's secret (hex)
_SECRET_BYTES = 32


class Forbidden(TogetherError):
    """A known key asking for what only the admin key may do."""

    status = 403
    type = "permission_denied"


def _digest(secret: bytes | None, api_key: str) -> bytes:
    if secret is None:  # a data dir from before tenant secrets: its owners' plain-hash ids
        return hashlib.sha256(api_key.encode()).digest()
    return hmac.digest(secret, api_key.encode(), "sha256")


def tenant_of(api_key: str, secret: bytes) -> str:
    """Each distinct key is its own tenant. The secret is a required argument, not a default:
    an id made under any other secret than the server's would silently match nothing there, so
    code that has a running app asks its ``Tenancy`` (``tenancy.tenant_of(key)``)."""
    return _digest(secret, api_key).hex()[:16]


def project_id(tenant: str) -> str:
    """The project a tenant's key belongs to. Together's keys are project keys (SDK 3.x's
    ``/v2/projects/{projectId}/...``): each tenant is one project, so every project-scoped
    family finds the project from the key alone, and ``/v1``/``/v3`` whoami name the same one."""
    return f"proj-{tenant}"


def organization_id(tenant: str) -> str:
    """The organization holding the tenant's one project."""
    return f"org-{tenant}"


def load_secret(data_dir: Path) -> bytes:
    """The data dir's tenant secret, made on first use.

    It is written whole under a temporary name and hard-linked into place, which fails if the
    name is taken: two processes starting on one fresh data dir end up with the same secret, and
    neither can read a half-written file."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=f".{SECRET_FILE}-")  # 0600
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(secrets.token_bytes(_SECRET_BYTES))
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            os.unlink(temporary)
    secret = path.read_bytes()
    if len(secret) < _SECRET_BYTES:
        raise ValueError(
            f"{path} is not a tenant secret ({len(secret)} bytes, want {_SECRET_BYTES}): "
            "remove it to start the data dir's tenants afresh"
        )
    return secret


def bearer_key(header: str) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None."""
    scheme, _, key = header.partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


@dataclass(frozen=True)
class Caller:
    """Who is using ``/_sim``: a tenant (None: no key sent, where none is needed) and whether it
    may use the controls and see every tenant."""

    tenant: str | None
    admin: bool


_MISSING_KEY = (
    "Missing API key. Send it as `Authorization: Bearer <key>` (any key works unless the "
    "simulator was started with --api-key)."
)


class Tenancy:
    """The keys a server accepts and the ids it gives them, under its data dir's secret.

    Configured keys are kept only as HMACs; the keys of recent requests stay in a bounded cache in
    memory, as they do in the requests themselves. ``repr`` shows neither."""

    def __init__(
        self,
        secret: bytes | None,
        *,
        api_keys: Iterable[str] = (),
        admin_keys: Iterable[str] = (),
    ) -> None:
        """``secret`` None keeps the ids of a data dir made before tenant secrets existed: a plain
        SHA-256 of the key, as its records were stored under (``in_data_dir`` decides)."""
        self._secret = secret
        self._api = frozenset(_digest(secret, key) for key in api_keys if key)
        self._admin = frozenset(_digest(secret, key) for key in admin_keys if key)
        # Every request authenticates: a cache lookup is a quarter of an HMAC, and a client sends
        # the same key again and again. Bounded, since without configured keys any key is taken.
        self._digest = functools.lru_cache(maxsize=4096)(functools.partial(_digest, secret))

    @classmethod
    def in_data_dir(
        cls,
        data_dir: Path,
        *,
        api_keys: Iterable[str] = (),
        admin_keys: Iterable[str] = (),
        has_records: bool = False,
        meta: SharedMeta | None = None,
        shared: bool = False,
    ) -> Tenancy:
        """The data dir's tenancy. One that already holds records but no secret was made by an
        earlier version, whose ids were plain hashes of the keys: it keeps them, so its records
        keep their owners (a reset, or a fresh data dir, moves to a secret).

        ``meta``: the store's, where a secret kept there wins over the data dir's. ``shared``:
        other replicas use the store too, so the secret is kept there, made once for all of
        them (the data dir's own, if it has one: its records keep their owners)."""
        kept = meta.get_meta(SECRET_META) if meta is not None else None
        if kept is None:
            if has_records and not (data_dir / SECRET_FILE).exists():
                return cls(None, api_keys=api_keys, admin_keys=admin_keys)
            if not shared or meta is None:
                return cls(load_secret(data_dir), api_keys=api_keys, admin_keys=admin_keys)
            own = (
                load_secret(data_dir)
                if (data_dir / SECRET_FILE).exists()
                else secrets.token_bytes(_SECRET_BYTES)
            )
            kept = meta.put_meta_once(SECRET_META, own.hex())
        return cls(bytes.fromhex(kept), api_keys=api_keys, admin_keys=admin_keys)

    @property
    def legacy(self) -> bool:
        """Plain-hash ids: a weak key can be found from its id by hashing guesses."""
        return self._secret is None

    @classmethod
    def ephemeral(cls, *, api_keys: Iterable[str] = (), admin_keys: Iterable[str] = ()) -> Tenancy:
        """A secret of this process only: for a server that keeps no records (examples mode),
        whose tenant ids never outlive it."""
        return cls(secrets.token_bytes(_SECRET_BYTES), api_keys=api_keys, admin_keys=admin_keys)

    def __repr__(self) -> str:
        return f"Tenancy(api_keys={len(self._api)}, admin_keys={len(self._admin)})"

    @property
    def locked(self) -> bool:
        """Any key configured: ``/_sim`` then asks for one."""
        return bool(self._api or self._admin)

    def tenant_of(self, api_key: str) -> str:
        return self._digest(api_key).hex()[:16]

    def _accepts(self, digest: bytes) -> bool:
        # With only an admin key configured, the API stays open to any key.
        return not self._api or digest in self._api or digest in self._admin

    def authenticate(self, header: str) -> str:
        """The API caller's tenant; with keys configured, any other key is refused (401). An
        admin key is accepted on the API too, as a tenant of its own."""
        key = bearer_key(header)
        if key is None:
            raise Unauthorized(_MISSING_KEY)
        digest = self._digest(key)
        if not self._accepts(digest):
            raise Unauthorized()
        return digest.hex()[:16]

    def caller(self, key: str | None) -> Caller:
        """Who is using ``/_sim``. Unlocked, anyone is admin, with or without a key; locked, a
        missing or unknown key is a 401."""
        if not self.locked:
            return Caller(self.tenant_of(key) if key else None, admin=True)
        if key is None:
            raise Unauthorized(
                "Missing API key. This simulator was started with keys: /_sim wants "
                "`Authorization: Bearer <key>`, the admin key (--admin-key) for its controls."
            )
        digest = self._digest(key)
        if digest in self._admin:
            return Caller(digest.hex()[:16], admin=True)
        if not self._accepts(digest):
            raise Unauthorized()
        return Caller(digest.hex()[:16], admin=False)

    def admin(self, key: str | None) -> Caller:
        """The caller of a control that acts across tenants: 403 for a tenant's key."""
        caller = self.caller(key)
        if not caller.admin:
            raise Forbidden(
                "This key may use only its own tenant's dashboard: the /_sim controls and other "
                "tenants' data need the admin key (started with --admin-key)."
                if self._admin
                else "This key may use only its own tenant's dashboard: the /_sim controls need "
                "an admin key, and this simulator was started without one (--admin-key).",
                code="admin_key_required",
            )
        return caller
