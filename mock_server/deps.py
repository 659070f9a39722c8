"""Dependencies the routes declare: the backend, the settings and the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mock_server.core.errors import Unauthorized
from mock_server.fine_tuning.service import Backend, tenant_of
from mock_server.settings import Settings

__all__ = [
    "BackendDep",
    "SettingsDep",
    "TenantDep",
    "UpperCaseEventsDep",
    "authenticate",
    "wants_upper_case_events",
]


# Every dependency is ``async def``: FastAPI runs a plain ``def`` one in the thread pool, a thread
# hop per dependency per request that cost more than the rest of a cheap request.
async def _backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _tenant(request: Request) -> str:
    return authenticate(request.headers.get("authorization", ""), request.app.state.settings)


def authenticate(header: str, settings: Settings) -> str:
    """The bearer key decides the tenant; configured keys decide who may call at all."""
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized(
            "Missing API key. Send it as `Authorization: Bearer <key>` (any key works unless "
            "the simulator was started with --api-key)."
        )
    allowed = settings.api_keys
    if allowed and key not in allowed:
        raise Unauthorized()
    return tenant_of(key)


async def _upper_case_events(request: Request) -> bool:
    return wants_upper_case_events(request.headers.get("user-agent", ""))


def wants_upper_case_events(user_agent: str) -> bool:
    """The 1.5.x SDK validates event types against an upper-case enum; everyone else (the spec,
    3.x, 2.x) uses lower case. Its User-Agent is ``Together/v1 PythonBindings/<version>``."""
    return "PythonBindings" in user_agent


BackendDep = Annotated[Backend, Depends(_backend)]
SettingsDep = Annotated[Settings, Depends(_settings)]
TenantDep = Annotated[str, Depends(_tenant)]
UpperCaseEventsDep = Annotated[bool, Depends(_upper_case_events)]
