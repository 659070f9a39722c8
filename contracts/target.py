"""What a contract run points at: a base URL (a running simulator, Prism, the real service) or
the simulator's app in this process, and the key it sends.

The real Together service is a target like any other, but never by accident: a base URL on one
of Together's hosts is refused unless the caller opts in (``--real-service-ok`` or
``TOGETHER_SIM_CONTRACT_REAL_OK=1``) *and* ``TOGETHER_API_KEY`` is set, the moto ``aws_verified``
pattern. That key goes to the real service and nowhere else; a simulator gets the key given with
``--api-key`` (or a made-up one: it only has to be the key the simulator was started with, so that
``ignored_auth`` can tell an enforced key from an ignored one).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_REAL_OK",
    "REAL_HOSTS",
    "SIM_API_KEY",
    "RealServiceRefused",
    "Target",
    "in_process_target",
    "is_real_service",
    "target_from_env",
    "url_target",
]

ENV_BASE_URL = "TOGETHER_SIM_CONTRACT_BASE_URL"
ENV_REAL_OK = "TOGETHER_SIM_CONTRACT_REAL_OK"
ENV_API_KEY = "TOGETHER_API_KEY"
REAL_HOSTS = ("together.xyz", "together.ai")  # api.together.xyz, api.together.ai and their kin
SIM_API_KEY = "contract-suite-key"  # the one key the in-process simulator accepts
IN_PROCESS_URL = "http://testserver"  # what the ASGI transport puts in front of paths


class RealServiceRefused(Exception):
    """The base URL is Together's own service and the run did not opt in (or has no key)."""


@dataclass(frozen=True)
class Target:
    """A server to run the contract suite against.

    ``app`` is set when the server is the simulator in this process (schemathesis calls it through
    its ASGI transport); ``generic_operations`` then names the operations (``"GET /files/{id}"``)
    that its stateless generic layer answers, which cannot remember a delete. ``stateless`` says
    the whole target keeps no state (``serve --mode examples``, Prism).
    """

    base_url: str  # the server root; the spec's ``/v1`` (and ``/v2``) paths go after it
    api_key: str
    real: bool = False
    stateless: bool = False
    app: Any = field(default=None, compare=False)
    generic_operations: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        where = "in-process simulator" if self.app is not None else self.base_url
        return f"{where}{' (the real Together service)' if self.real else ''}"


def is_real_service(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return any(host == real or host.endswith("." + real) for real in REAL_HOSTS)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def url_target(
    base_url: str,
    *,
    api_key: str | None = None,
    real_service_ok: bool = False,
    stateless: bool = False,
    env: Mapping[str, str] = os.environ,
) -> Target:
    """A target at ``base_url`` (the server root, with or without a trailing ``/v1``)."""
    root = base_url.rstrip("/").removesuffix("/v1")
    if not urlsplit(root).scheme or not urlsplit(root).hostname:
        raise ValueError(f"base URL {base_url!r} needs a scheme and a host (http://host:port)")
    if is_real_service(root):
        key = env.get(ENV_API_KEY)
        if not (real_service_ok or _truthy(env.get(ENV_REAL_OK))):
            raise RealServiceRefused(
                f"{root} is the real Together service: requests there use your account and may "
                f"cost money. Opt in with --real-service-ok (or {ENV_REAL_OK}=1) and "
                f"{ENV_API_KEY}."
            )
        if not key:
            raise RealServiceRefused(f"{root} is the real Together service: set {ENV_API_KEY}.")
        # The real service only ever gets the key from the environment, never a --api-key meant
        # for a simulator.
        return Target(base_url=root, api_key=key, real=True)
    return Target(base_url=root, api_key=api_key or SIM_API_KEY, stateless=stateless)


def in_process_target(
    *, mode: str = "stateful", data_dir: Path | None = None, api_key: str = SIM_API_KEY
) -> Target:
    """The simulator built in this process with a fresh data dir (a temporary one by default),
    accepting only ``api_key``, on the instant clock so that a job created by one step is
    finished for the next."""
    from mock_server.app import create_app
    from mock_server.settings import Settings
    from mock_server.spec.fallback import routing_table

    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="together-sim-contract-"))
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    # Every setting that changes behaviour is given, so no TOGETHER_SIM_* variable of the
    # machine (a scenario of faults, the real trainer) leaks into the run.
    settings = Settings(
        mode=mode,
        data_dir=data_dir,
        api_keys=[api_key],
        admin_key=None,
        clock="instant",
        seed=0,
        speed=3.0,
        account="sim-user",
        trainer="synthetic",
        keep_views=True,
        progress=False,
        faults=None,
        model_map=None,
    )
    app = create_app(settings)
    stateless = settings.mode == "examples"
    generic = frozenset(
        f"{op.method} {op.path}" for op, server in routing_table(app) if server == "generic"
    )
    return Target(
        base_url=IN_PROCESS_URL,
        api_key=api_key,
        stateless=stateless,
        app=app,
        generic_operations=generic,
    )


def target_from_env(env: Mapping[str, str] = os.environ) -> Target:
    """``$TOGETHER_SIM_CONTRACT_BASE_URL`` if set (with ``$TOGETHER_SIM_CONTRACT_API_KEY`` for a
    simulator), else the stateful simulator in this process."""
    base_url = env.get(ENV_BASE_URL)
    if base_url:
        return url_target(
            base_url,
            api_key=env.get("TOGETHER_SIM_CONTRACT_API_KEY"),
            stateless=_truthy(env.get("TOGETHER_SIM_CONTRACT_STATELESS")),
            env=env,
        )
    return in_process_target(mode=env.get("TOGETHER_SIM_CONTRACT_MODE", "stateful"))
