"""The application factory: ``create_app(settings, *, clock=None, store=None)``.

A factory rather than a module-level app, so every test gets its own state. It composes the
services, routes and middleware; what both kinds of app answer the same way outside the API's
routes (failures in Together's body, the pinned spec) is ``handlers.py``'s.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig

from mock_server import __version__
from mock_server.admin.coherence import SharedStateCheck
from mock_server.admin.service import Controls, ProcessMemory
from mock_server.core.clock import Clock, ManualClock, SystemClock
from mock_server.core.ids import IdSource
from mock_server.core.once import Once
from mock_server.core.shared import Coherence
from mock_server.core.tenancy import Tenancy
from mock_server.deps import LaterServices, Services
from mock_server.faults.behaviours import Behaviours
from mock_server.faults.middleware import FaultInjection
from mock_server.faults.registry import Faults
from mock_server.faults.scenarios import apply_scenario, load_scenario
from mock_server.files import routes as file_routes
from mock_server.files.models import FileRecord
from mock_server.files.service import FileService
from mock_server.fine_tuning import routes as fine_tuning_routes
from mock_server.fine_tuning.artifacts import JobArtifacts
from mock_server.fine_tuning.models import Timeline
from mock_server.fine_tuning.poll_front import KeptJobViews
from mock_server.fine_tuning.service import FineTuning
from mock_server.guard.middleware import RequestGuard
from mock_server.handlers import AnswerUncaught, install_error_handlers, install_root, install_spec
from mock_server.inference import routes as inference_routes
from mock_server.real_training.service import RealTraining
from mock_server.settings import ClockMode, ServeMode, Settings
from mock_server.spec import fallback
from mock_server.spec.index import OperationIndex
from mock_server.spec.lazy import LAZY_GROUPS, LazyRoutes
from mock_server.store import BlobStore, LocalBlobStore, SqliteStore, Store
from mock_server.training.bases import BaseChoice, load_model_map

__all__ = ["create_app"]

log = logging.getLogger("together_sim")

# FastAPI's native OpenTelemetry, off: the simulator emits no traces, metrics or logs of its
# own, and asking whether the global providers are configured costs every request a few
# lookups (os.environ among them): ~9% of a kept poll's CPU, measured with py-spy.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _clock(settings: Settings, store: Store) -> Clock:
    offset = float(store.get_meta("clock_offset") or 0.0)
    if settings.clock is ClockMode.manual:
        return ManualClock(offset=offset)
    return SystemClock(offset=offset)


def _progress(settings: Settings) -> bool:
    return settings.progress if settings.progress is not None else sys.stderr.isatty()


def _model_map(settings: Settings) -> dict[str, BaseChoice]:
    """The model map, read once at startup so that a bad file stops the server, not a job."""
    return {} if settings.model_map is None else load_model_map(settings.model_map)


def _bad_day(settings: Settings, faults: Faults, behaviours: Behaviours) -> None:
    """No faults, or a scenario file's faults and behaviours: the baseline /_sim/reset restores.
    The fault random source is seeded from ``--seed`` (or the scenario's own seed)."""
    if settings.seed is not None:
        faults.reseed(settings.seed)
    if settings.faults is not None:
        scenario = load_scenario(settings.faults)
        apply_scenario(scenario, faults, behaviours, baseline=True)


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """``router``'s routes on the app's own router. Each carries its router's prefix and
    dependencies already; FastAPI's include would build each route again on the first request
    and match every request against them twice (~12 ms of the first answer)."""
    app.router.routes.extend(router.routes)


def _examples_app(settings: Settings) -> FastAPI:
    """Every operation from the spec's examples and schemas (spec/fallback.py): no store, no
    clock, no /_sim controls; the error handlers and /openapi.json as in the simulator."""
    app = FastAPI(
        title="together-sim",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry=NO_TELEMETRY,
    )
    app.state.settings = settings
    # No records, so no data dir: its tenant ids need not outlive the process.
    app.state.tenancy = Tenancy.ephemeral(
        api_keys=settings.api_keys, admin_keys=settings.admin_keys
    )
    install_error_handlers(app)
    install_spec(app, settings)
    fallback.install(app)
    app.state.operations = fallback.operations_of(settings)  # now, not on the first request
    # The operations' answers, ahead of FastAPI's routing (and jsonschema imported now, not on
    # the first request); the catch-all route above serves what the front passes on.
    from mock_server.spec.examples_front import ExamplesFront

    app.add_middleware(
        ExamplesFront, settings=settings, index=app.state.operations, tenancy=app.state.tenancy
    )
    app.add_middleware(AnswerUncaught)  # an uncaught error answered, its connection kept
    app.add_middleware(RequestGuard, limits=settings.limits)  # outermost, as in the simulator
    return app


def _checked_batch_input(record: FileRecord, path: Path) -> FileRecord:
    """The batches' check of an uploaded batch input, imported on the first such upload: the
    batches' service brings the families' engine and the audio models with it."""
    from mock_server.batches.service import checked_input_file

    return checked_input_file(record, path)


def _services(
    settings: Settings,
    store: Store,
    blobs: BlobStore,
    clock: Clock,
    timeline: Timeline,
    generation: int,
    model_map: dict[str, BaseChoice],
    index: Callable[[], OperationIndex],
    tenancy: Tenancy,
) -> Services:
    """Every service, each given only what it uses; where two need each other, the lower one
    takes a small hook or protocol of its own and it is filled in here."""
    ids = IdSource(settings.seed, generation)
    # Replicas on one database: the controls' state lives in the store (core/shared.py).
    coherence = Coherence(store) if settings.shared else None
    behaviours = Behaviours(tenant_of=tenancy.tenant_of, store=store, coherence=coherence)
    files = FileService(
        store,
        blobs,
        clock,
        ids,
        check_batch_input=_checked_batch_input,
        on_validated=behaviours.validated_file,
        max_line_bytes=settings.max_line_bytes,
        check_rules=settings.check_rules,
    )
    fine_tuning = FineTuning(
        store,
        blobs,
        clock,
        ids,
        timeline,
        files,
        account=settings.account,
        trainer=settings.trainer,
        keep_views=settings.keep_views,
        on_new_job=behaviours.new_job,
        shared=settings.shared,
    )
    real_training = RealTraining(
        fine_tuning,
        blobs,
        model=settings.real_model,
        model_map=model_map,
        progress=sys.stderr if _progress(settings) else None,
        threads=settings.worker_threads,
        shared=settings.shared,
    )
    fine_tuning.on_real_change = real_training.wake
    faults = Faults(clock, tenant_of=tenancy.tenant_of, store=store, coherence=coherence)

    def later() -> LaterServices:  # on the first request that needs one (deps.Services)
        from mock_server.endpoints.service import EndpointService
        from mock_server.families.engine import Resources
        from mock_server.inference.service import Inference
        from mock_server.projects.service import ProjectEndpoints

        speed, account = timeline.speed, settings.account
        endpoints = EndpointService(store, clock, ids, fine_tuning, account=account, speed=speed)
        projects = ProjectEndpoints(store, clock, ids, fine_tuning, account=account, speed=speed)
        inference = Inference(fine_tuning, endpoints, real_training, projects=projects)
        resources = Resources(
            store,
            blobs,
            clock,
            ids,
            index,
            speed=speed,
            account=account,
            files=files,
            jobs=fine_tuning,
            endpoints=endpoints,
            inference=inference,
        )
        return LaterServices(endpoints, projects, inference, resources)

    memory = ProcessMemory(
        clock=clock,
        ids=ids,
        kept_views=fine_tuning.views,
        faults=faults,
        behaviours=behaviours,
        real_training=real_training,
        coherence=coherence,
    )
    return Services(
        store=store,
        blobs=blobs,
        clock=clock,
        ids=ids,
        files=files,
        fine_tuning=fine_tuning,
        artifacts=JobArtifacts(fine_tuning, blobs),
        real_training=real_training,
        behaviours=behaviours,
        faults=faults,
        memory=memory,
        controls=Controls(store, blobs, memory, coherence=coherence),
        tenancy=tenancy,
        later=Once(later),
    )


def _open_store(settings: Settings) -> Store:
    """PostgreSQL where ``--database-url`` names one, else the SQLite file in the data dir.
    psycopg is imported only then: the default start never loads it."""
    if settings.database_url is None:
        return SqliteStore(settings.data_dir)
    from mock_server.store.postgres import PostgresStore

    return PostgresStore(settings.database_url.get_secret_value(), settings.data_dir)


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, store: Store | None = None
) -> FastAPI:
    settings = settings or Settings()
    if settings.mode is ServeMode.examples:
        return _examples_app(settings)
    model_map = _model_map(settings)  # before anything is opened: a bad file stops here
    store = store or _open_store(settings)
    blobs: BlobStore = LocalBlobStore(store.data_dir)  # a test's store keeps its bytes beside it
    if settings.blob_url is not None:  # imported only then: the default start never loads boto3
        from mock_server.store.s3_blobs import S3BlobStore

        blobs = S3BlobStore.from_url(
            settings.blob_url, store.data_dir, endpoint_url=settings.s3_endpoint_url
        )
    clock = clock or _clock(settings, store)
    # One statement: replicas starting at once each get a generation of their own.
    generation = store.increment_meta("generation")
    timeline = (
        Timeline.instant()
        if settings.clock is ClockMode.instant
        else Timeline(speed=settings.speed)
    )

    def index() -> OperationIndex:  # the spec's, loaded below once the app exists
        return fallback.index_of(app)

    # The tenant secret lives beside the store's records, so their owners' ids outlive a restart.
    tenancy = Tenancy.in_data_dir(
        store.data_dir,
        api_keys=settings.api_keys,
        admin_keys=settings.admin_keys,
        has_records=bool(store.list_tenants()),
        meta=store,  # replicas on other hosts share the database, not the data dir
        shared=settings.shared,
    )
    if tenancy.legacy:
        log.warning(
            "%s holds records from before tenant secrets: its tenant ids stay plain hashes of "
            "the keys, which a weak key's id gives away; a reset then a restart, or a fresh "
            "data dir, moves it to a secret",
            store.data_dir,
        )
    services = _services(
        settings, store, blobs, clock, timeline, generation, model_map, index, tenancy
    )
    if not settings.shared:  # a replica's peers may be mid-upload: serve --workers does it once
        services.files.remove_orphaned_parts()  # before any request can start an upload
    # A replica watches from the start: a real job of a replica that dies is its to take over.
    if settings.shared or store.has_live_jobs(trainer="real"):
        services.real_training.wake()  # real jobs of a previous process: go on, or fail them

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        services.real_training.close()
        services.blobs.close()  # the object store's connections, where there are any

    app = FastAPI(
        title="together-sim",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.tenancy = tenancy  # as in examples mode: the spec's routes authenticate with it
    # Every typed route is checked against the spec, so it is loaded now: a missing or altered
    # spec stops the server here rather than failing each request.
    app.state.operations = fallback.operations_of(settings)
    _bad_day(settings, services.faults, services.behaviours)
    install_error_handlers(app)
    install_spec(app, settings)
    # Routes match in order: the upload targets (every PUT of an upload) first, ahead of the
    # families' 60-odd routes. No path of theirs is another's.
    _add_routes(app, file_routes.upload_router)
    for module in (file_routes, fine_tuning_routes, inference_routes):
        _add_routes(app, module.router)
    # The groups most clients never call are declared on their first request (spec/lazy.py).
    app.router.routes.extend(LazyRoutes(module, prefixes) for module, prefixes in LAZY_GROUPS)
    app.add_middleware(KeptJobViews, fine_tuning=services.fine_tuning, tenancy=tenancy)
    # An exception from the routes or the kept views is answered here, and its connection kept
    # (handlers.py); the transport errors the faults raise in process pass outside it.
    app.add_middleware(AnswerUncaught)
    # Added after the kept views, so outside them: a fault applies before a kept view could answer.
    app.add_middleware(FaultInjection, faults=services.faults)
    if services.memory.coherence is not None:  # outside the faults: they match what is current
        app.add_middleware(SharedStateCheck, coherence=services.memory.coherence)
    # Added last, so outermost: a body past its limit is refused before anything reads it.
    app.add_middleware(RequestGuard, limits=settings.limits)

    install_root(app)
    # Last: it answers the spec's operations that no route above claimed (routes match in
    # order), so a router registered after it would never be reached for those.
    fallback.install(app)
    return app
