"""Who is calling: the bearer key decides the tenant, and configured keys decide who may call.

Every service keys its records by tenant, never by key, so the key itself is never stored. The
tenant id is a hash of the key; the ASGI fronts (kept views, fault injection, examples mode) and
the routes all derive it here, so a request is the same tenant whichever layer answers it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from mock_server.core.errors import Unauthorized

__all__ = ["TENANT", "authenticate", "bearer_key", "tenant_of"]

# Where a layer that already authenticated the request leaves its tenant in the ASGI scope, so
# the routes' own dependency does not hash the key a second time.
TENANT = "together_sim.tenant"


def tenant_of(api_key: str) -> str:
    """Each distinct key is its own tenant."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def bearer_key(header: str) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None."""
    scheme, _, key = header.partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


def authenticate(header: str, allowed: Collection[str]) -> str:
    """The caller's tenant; with ``allowed`` keys configured, any other key is refused."""
    key = bearer_key(header)
    if key is None:
        raise Unauthorized(
            "Missing API key. Send it as `Authorization: Bearer <key>` (any key works unless "
            "the simulator was started with --api-key)."
        )
    if allowed and key not in allowed:
        raise Unauthorized()
    return tenant_of(key)
