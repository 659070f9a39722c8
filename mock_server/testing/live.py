"""The simulator on a real socket, for clients that cannot be handed a transport.

The 1.5.x SDK and the CLIs speak through ``requests`` or their own processes, so they need a URL.
``serve_in_thread`` runs uvicorn on 127.0.0.1 with port 0 in a daemon thread (httpx's own test
suite does the same): it starts in milliseconds, so each test gets its own server and data dir,
and nothing has to be reset between tests. The test steps it through the ``/_sim`` controls over
HTTP, like any client of a running simulator, and reads its state from the services, which live in
this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx

from mock_server.app import create_app
from mock_server.deps import Services
from mock_server.fine_tuning.models import Job
from mock_server.settings import Settings
from mock_server.testing.in_process import API_KEY, SimulatorView

if TYPE_CHECKING:
    from together import Together

__all__ = ["LiveSimulator", "serve_in_thread"]


class LiveSimulator(SimulatorView):
    """A running simulator: ``base_url`` is what a 3.x client takes, ``v1_base_url`` what 1.5.x
    and 2.x take (their paths are relative to ``/v1``)."""

    def __init__(self, base_url: str, settings: Settings, services: Services, api_key: str) -> None:
        self.base_url = base_url
        self.settings = settings
        self.services = services
        self.api_key = api_key

    @property
    def v1_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def client(self, **kwargs: Any) -> Together:
        """A ``together.Together`` (3.x) pointed at the server."""
        from together import Together

        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.base_url)
        return Together(**kwargs)

    def sim(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call a ``/_sim`` control; a refusal raises ``httpx.HTTPStatusError``."""
        admin = self.settings.admin_key
        headers = {"authorization": f"Bearer {admin.get_secret_value()}"} if admin else {}
        response = httpx.request(
            method, f"{self.base_url}/_sim{path}", json=body, headers=headers, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def advance(self, seconds: float) -> datetime:
        self.sim("POST", "/advance", {"seconds": seconds})
        return self.now()

    def fail(
        self,
        job_id: str,
        *,
        kind: Literal["error", "user_error"] = "error",
        at_step: int | None = None,
        message: str = "Simulated failure injected through /_sim",
    ) -> Job:
        body = {"kind": kind, "at_step": at_step, "message": message}
        self.sim("POST", f"/jobs/{job_id}/fail", body)
        return self.job(job_id)

    def set_trainer(self, job_id: str, trainer: Literal["synthetic", "real"]) -> Job:
        self.sim("POST", f"/jobs/{job_id}/trainer", {"trainer": trainer})
        return self.job(job_id)

    def reset(self) -> None:
        self.sim("POST", "/reset")


@contextmanager
def serve_in_thread(settings: Settings, *, api_key: str = API_KEY) -> Iterator[LiveSimulator]:
    import uvicorn

    app = create_app(settings)
    # lifespan on: the app's shutdown stops any training or inference worker it started.
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="together-sim", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # the only wait: the server coming up
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("together-sim did not start")
        time.sleep(0.005)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield LiveSimulator(f"http://{host}:{port}", settings, app.state.services, api_key)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.services.store.close()
