"""The simulator inside a test process: no socket, no thread serving HTTP, time the test steps.

``Simulator`` builds an app with ``create_app`` and reaches it three ways: a sync transport
(``ASGIBridge``) and httpx's async ``ASGITransport`` for clients the test builds (``client()``,
``async_client()``), and ``intercept()``, a respx router that serves every httpx request to
Together's hosts, so code under test that builds its own ``Together(...)`` reaches the simulator
unchanged. The sync bridge runs the app on an event loop in a blocking portal, the way Starlette's
TestClient does; that loop also runs the app's lifespan, so shutdown stops any training worker.

The controls (``advance``, ``run_until``, ``fail``) and the read-outs (``job``, ``files``,
``events``) live in ``SimulatorView``, shared with the live server of ``live.py``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from mock_server.app import create_app
from mock_server.deps import Services
from mock_server.files.models import FileRecord
from mock_server.fine_tuning.events import Checkpoint, Event
from mock_server.fine_tuning.models import TERMINAL, Job, JobStatus
from mock_server.fine_tuning.plan import plan
from mock_server.settings import ClockMode, Settings

if TYPE_CHECKING:  # the SDK and respx load when a test asks for them, not with the plugin
    import respx
    from fastapi import FastAPI
    from together import AsyncTogether, Together

    from mock_server.faults.registry import Faults

__all__ = [
    "API_KEY",
    "BASE_URL",
    "TOGETHER_HOSTS",
    "ASGIBridge",
    "Simulator",
    "SimulatorView",
    "simulator_settings",
]

API_KEY = "together-sim-test-key"
# What the 3.x SDK uses by default: ``client()`` looks like a client built with no arguments.
BASE_URL = "https://api.together.ai"
# Where the SDKs send requests when no base URL is given: 3.x (and its chat calls), 2.x, 1.5.x.
TOGETHER_HOSTS = ("api.together.ai", "api-inference.together.ai", "api.together.xyz")

Kind = Literal["error", "user_error"]


def simulator_settings(data_dir: Path, **options: Any) -> Settings:
    """Settings for a test: every field that changes behaviour is given, so no ``TOGETHER_SIM_*``
    variable of the machine leaks in. The defaults are the API tests': a manual clock at the real
    service's pace (the times a test steps are the timeline's own), any key accepted."""
    given: dict[str, Any] = {
        "data_dir": data_dir,
        "clock": ClockMode.manual,
        "speed": 1.0,
        "seed": None,
        "api_keys": [],
        "admin_key": None,
        "account": "sim-user",
        "trainer": "synthetic",
        "real_model": "micro",
        "keep_views": True,
        "progress": False,
        "database_url": None,  # the SQLite file in data_dir; a postgresql:// URL to share one
    }
    unknown = sorted(set(options) - set(given))
    if unknown:
        known = sorted(set(given) - {"data_dir"})
        raise TypeError(f"unknown simulator option(s) {unknown}; the options are {known}")
    return Settings(**{**given, **options})


class _Carried(BaseException):
    """A transport error a fault raised inside the app (a reset, a cut body), carried past
    ``ASGITransport``'s catch-all, which would turn any ``Exception`` into a 500, so that the
    client sees what it would see on a socket."""

    def __init__(self, error: httpx.TransportError) -> None:
        super().__init__(error)
        self.error = error


def _carrying(app: FastAPI) -> Any:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except httpx.TransportError as exc:
            raise _Carried(exc) from exc

    return wrapped


class _AsyncBridge(httpx.ASGITransport):
    """httpx's async ASGI transport, raising the app's deliberate transport errors as such."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(_carrying(app), raise_app_exceptions=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except _Carried as carried:
            raise carried.error from None


class ASGIBridge(httpx.BaseTransport):
    """A sync httpx transport onto an ASGI app: each request runs on the portal's event loop
    through httpx's ``ASGITransport``, and comes back whole (a streamed answer is buffered)."""

    def __init__(self, app: FastAPI, portal: BlockingPortal) -> None:
        # App errors become the 500 the app's handler renders, as a live server would answer.
        self._asgi = _AsyncBridge(app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        status, headers, content = self._portal.call(self._send, request, body)
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(content), request=request
        )

    async def _send(self, request: httpx.Request, body: bytes) -> tuple[int, httpx.Headers, bytes]:
        inner = httpx.Request(
            request.method, request.url, headers=request.headers, stream=httpx.ByteStream(body)
        )
        response = await self._asgi.handle_async_request(inner)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        # The raw bytes, undecoded: the client decodes whatever Content-Encoding says.
        content = b"".join([chunk async for chunk in response.stream])
        return response.status_code, response.headers, content


class SimulatorView:
    """What a test reads and steps, whichever way the simulator is reached: the services are in this
    process for both. Reads bring jobs up to the clock's time, as a GET would."""

    services: Services
    api_key: str

    def advance(self, seconds: float) -> datetime:
        raise NotImplementedError

    def now(self) -> datetime:
        return self.services.clock.now()

    def tenant_of(self, api_key: str | None = None) -> str:
        """The tenant id the simulator gives a key (by default the fixture's): the dashboard's
        and the fault journal's, made under this simulator's data dir secret."""
        return self.services.tenancy.tenant_of(api_key or self.api_key)

    def _job_tenant(self, job_id: str) -> str:
        return self.services.store.find_job_anywhere(job_id).tenant

    def job(self, job_id: str) -> Job:
        """The job, whichever key created it."""
        return self.services.fine_tuning.job(self._job_tenant(job_id), job_id)

    def jobs(self, api_key: str | None = None) -> list[Job]:
        return self.services.fine_tuning.jobs(self.tenant_of(api_key))

    def files(self, api_key: str | None = None) -> list[FileRecord]:
        return self.services.files.files(self.tenant_of(api_key))

    def events(self, job_id: str) -> list[Event]:
        return self.services.fine_tuning.events(self._job_tenant(job_id), job_id)

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        return self.services.fine_tuning.checkpoints(self._job_tenant(job_id), job_id)

    @property
    def faults(self) -> Faults:
        """Injected faults and their journal: ``faults.add(operation="POST /v1/files",
        status=429, retry_after=1, times=2)``, ``faults.journal.entries()``, ``faults.clear()``."""
        return self.services.faults

    def scenario(self, source: str | Path | Mapping[str, Any]) -> None:
        """Put a scenario in force (a YAML or JSON file, or its content), added to what is."""
        from mock_server.faults.scenarios import apply_scenario, load_scenario, parse_scenario

        scenario = parse_scenario(source) if isinstance(source, Mapping) else load_scenario(source)
        apply_scenario(scenario, self.services.faults, self.services.behaviours)

    def run_until(
        self, job_id: str, status: JobStatus | str = JobStatus.completed, *, timeout: float = 60.0
    ) -> Job:
        """Step the clock from one status change of the job to the next until it has ``status``.

        A job that ends in another status raises AssertionError naming it (and its failure). A job
        trained for real moves on its worker's wall-clock reports, so that wait is bounded by
        ``timeout`` seconds instead."""
        target = JobStatus(status)
        deadline = time.monotonic() + timeout
        for _ in range(10_000):  # a plan has a few thousand milestones at most
            job = self.job(job_id)
            if job.status is target:
                return job
            if job.status in TERMINAL:
                why = f": {job.failure_message}" if job.failure_message else ""
                raise AssertionError(
                    f"job {job_id} ended {job.status.value} before reaching {target.value}{why}"
                )
            wait = seconds_to_next_status(job, self.now())
            if wait is not None:
                self.advance(wait)
            elif time.monotonic() < deadline:
                time.sleep(0.02)  # a real worker is training: only the wall clock moves it
            else:
                raise TimeoutError(f"job {job_id} is still {job.status.value} after {timeout} s")
        raise AssertionError(f"job {job_id} never reached {target.value}")


def seconds_to_next_status(job: Job, now: datetime) -> float | None:
    """How far to move the clock for the job's next planned status change, or to the end of its
    plan when no status change is planned (a real job's plan stops where its worker takes over);
    None when nothing planned is left. Rounded up to the millisecond, so the float sum of the
    clock's offset lands on or after the milestone, never a hair before it."""
    left = plan(job)[job.cursor :]
    if not left:
        return None
    upcoming = next((m for m in left if m.status is not None), left[-1])
    seconds = (upcoming.at - now).total_seconds()
    return max(0.001, math.ceil(seconds * 1000) / 1000)


class Simulator(SimulatorView):
    """A fresh simulator in this process; close it (or use it as a context manager) when done."""

    def __init__(
        self, settings: Settings, *, api_key: str = API_KEY, base_url: str = BASE_URL
    ) -> None:
        self.settings = settings
        self.api_key = api_key
        self.base_url = base_url
        self.app = create_app(settings)
        self.services = self.app.state.services
        self._stack = ExitStack()
        self._closers: list[Any] = []
        try:
            portal = self._stack.enter_context(start_blocking_portal())
            self._stack.callback(self.services.store.close)  # after the lifespan's shutdown
            lifespan = self.app.router.lifespan_context(self.app)
            self._stack.enter_context(portal.wrap_async_context_manager(lifespan))
        except BaseException:
            self._stack.close()
            raise
        self.transport = ASGIBridge(self.app, portal)
        self.async_transport = _AsyncBridge(self.app)

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer.close()
        self._closers.clear()
        self._stack.close()

    # -- clients ----------------------------------------------------------------------------------

    def http_client(self, **kwargs: Any) -> httpx.Client:
        """A plain httpx client on the app (base URL ``BASE_URL``), closed with the simulator."""
        kwargs.setdefault("base_url", self.base_url)
        client = httpx.Client(transport=self.transport, **kwargs)
        self._closers.append(client)
        return client

    def async_http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An async httpx client on the app; the app runs on the caller's event loop."""
        kwargs.setdefault("base_url", self.base_url)
        return httpx.AsyncClient(transport=self.async_transport, **kwargs)

    def client(self, **kwargs: Any) -> Together:
        """A ``together.Together`` (3.x) whose requests go straight to the app."""
        from together import Together

        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.base_url)
        kwargs.setdefault("http_client", self.http_client())
        return Together(**kwargs)

    def async_client(self, **kwargs: Any) -> AsyncTogether:
        from together import AsyncTogether

        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.base_url)
        kwargs.setdefault("http_client", self.async_http_client())
        return AsyncTogether(**kwargs)

    @contextmanager
    def intercept(self, hosts: tuple[str, ...] = TOGETHER_HOSTS) -> Iterator[respx.MockRouter]:
        """Serve every httpx request to ``hosts`` from this simulator, sync or async, while open.

        The upload's presigned URL is on the host the request named, so it is served too. Other
        hosts pass through to the network. Async requests are answered through the sync bridge
        (respx calls one handler for both), so the caller's event loop waits for each answer."""
        import respx

        router = respx.mock(assert_all_called=False)
        router.route(host__in=tuple(hosts)).mock(side_effect=self.transport.handle_request)
        router.route().pass_through()
        with router:
            yield router

    # -- controls ---------------------------------------------------------------------------------

    def advance(self, seconds: float) -> datetime:
        return self.services.controls.advance_clock(seconds)

    def fail(
        self,
        job_id: str,
        *,
        kind: Kind = "error",
        at_step: int | None = None,
        message: str = "Simulated failure injected through /_sim",
    ) -> Job:
        """Fail the job now, or when it reaches ``at_step``."""
        return self.services.fine_tuning.fail_job(
            job_id, kind=kind, at_step=at_step, message=message
        )

    def set_trainer(self, job_id: str, trainer: Literal["synthetic", "real"]) -> Job:
        return self.services.fine_tuning.set_trainer(job_id, trainer)

    def reset(self) -> None:
        self.services.controls.reset()
