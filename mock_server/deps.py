"""What routes declare they need: one ``Annotated`` dependency per service, the settings, the
caller's tenant and the event casing its client reads.

``Services`` is every service of one app, built once by ``app.py`` (the only place that wires
them together) and kept on ``app.state.services``; a route names the one it uses, so its
signature says what it touches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from mock_server.admin.service import Controls, ProcessMemory
from mock_server.core.clock import Clock
from mock_server.core.ids import IdSource
from mock_server.core.once import Once
from mock_server.core.tenancy import TENANT, Caller, Tenancy, bearer_key
from mock_server.core.wire import wants_upper_case_events
from mock_server.faults.behaviours import Behaviours
from mock_server.faults.registry import Faults
from mock_server.files.service import FileService
from mock_server.fine_tuning.artifacts import JobArtifacts
from mock_server.fine_tuning.service import FineTuning
from mock_server.real_training.service import RealTraining
from mock_server.settings import Settings
from mock_server.store import BlobStore, Store

if TYPE_CHECKING:  # built on first use (``Services.later``): their modules are not imported before
    from mock_server.endpoints.service import EndpointService
    from mock_server.families.engine import Resources
    from mock_server.inference.service import Inference
    from mock_server.projects.service import ProjectEndpoints

__all__ = [
    "ArtifactsDep",
    "BehavioursDep",
    "ClockDep",
    "ControlsDep",
    "EndpointsDep",
    "FaultsDep",
    "FilesDep",
    "FineTuningDep",
    "IdsDep",
    "InferenceDep",
    "LaterServices",
    "ProjectsDep",
    "ResourcesDep",
    "Services",
    "SettingsDep",
    "StoreDep",
    "TenancyDep",
    "TenantDep",
    "UpperCaseEventsDep",
    "require_admin",
]


@dataclass(frozen=True)
class LaterServices:
    """The services a fine-tuning client never calls: dedicated and project endpoints, what
    answers a completion, and the families' engine (with the batches over it). Built by the
    first request that needs one of them, so their modules' import (~20 ms) is out of every
    start; ``app.py`` says how."""

    endpoints: EndpointService
    projects: ProjectEndpoints  # the key's project: its identity, endpoints and deployments
    inference: Inference
    resources: Resources


@dataclass(frozen=True)
class Services:
    store: Store
    blobs: BlobStore
    clock: Clock
    ids: IdSource
    files: FileService
    fine_tuning: FineTuning
    artifacts: JobArtifacts
    real_training: RealTraining
    behaviours: Behaviours
    faults: Faults
    memory: ProcessMemory  # the state only this process holds (the README's state map)
    controls: Controls
    tenancy: Tenancy  # the keys accepted and the tenant ids, under the data dir's secret
    later: Once[LaterServices] = field(repr=False)  # built by app.py on first use

    @property
    def endpoints(self) -> EndpointService:
        return self.later.get().endpoints

    @property
    def projects(self) -> ProjectEndpoints:
        return self.later.get().projects

    @property
    def inference(self) -> Inference:
        return self.later.get().inference

    @property
    def resources(self) -> Resources:
        return self.later.get().resources


# Every dependency is ``async def``: FastAPI runs a plain ``def`` one in the thread pool, a thread
# hop per dependency per request that cost more than the rest of a cheap request. The first ask
# for one of the ``LaterServices`` builds them on the loop, once (their imports, ~20 ms).
def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _store(request: Request) -> Store:
    return _services(request).store


async def _clock(request: Request) -> Clock:
    return _services(request).clock


async def _ids(request: Request) -> IdSource:
    return _services(request).ids


async def _files(request: Request) -> FileService:
    return _services(request).files


async def _fine_tuning(request: Request) -> FineTuning:
    return _services(request).fine_tuning


async def _artifacts(request: Request) -> JobArtifacts:
    return _services(request).artifacts


async def _resources(request: Request) -> Resources:
    return _services(request).resources


async def _endpoints(request: Request) -> EndpointService:
    return _services(request).endpoints


async def _projects(request: Request) -> ProjectEndpoints:
    return _services(request).projects


async def _inference(request: Request) -> Inference:
    return _services(request).inference


async def _behaviours(request: Request) -> Behaviours:
    return _services(request).behaviours


async def _faults(request: Request) -> Faults:
    return _services(request).faults


async def _controls(request: Request) -> Controls:
    return _services(request).controls


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _tenancy(request: Request) -> Tenancy:
    tenancy: Tenancy = request.app.state.tenancy
    return tenancy


async def _tenant(request: Request) -> str:
    known: str | None = request.scope.get(TENANT)  # SpecRoute checked the key already
    if known is not None:
        return known
    return (await _tenancy(request)).authenticate(request.headers.get("authorization", ""))


async def require_admin(request: Request) -> Caller:
    """The ``/_sim`` controls' caller: anyone while no key is configured, else the admin key
    (401 for a missing or unknown key, 403 for a tenant's). From the header only, never a
    cookie, so that no other site can make a browser reset the simulator."""
    key = bearer_key(request.headers.get("authorization", ""))
    return (await _tenancy(request)).admin(key)


async def _upper_case_events(request: Request) -> bool:
    return wants_upper_case_events(request.headers.get("user-agent", ""))


StoreDep = Annotated[Store, Depends(_store)]
ClockDep = Annotated[Clock, Depends(_clock)]
IdsDep = Annotated[IdSource, Depends(_ids)]
FilesDep = Annotated[FileService, Depends(_files)]
FineTuningDep = Annotated[FineTuning, Depends(_fine_tuning)]
ArtifactsDep = Annotated[JobArtifacts, Depends(_artifacts)]
# Named, not imported: FastAPI reads only the dependency of these.
ResourcesDep = Annotated["Resources", Depends(_resources)]
EndpointsDep = Annotated["EndpointService", Depends(_endpoints)]
ProjectsDep = Annotated["ProjectEndpoints", Depends(_projects)]
InferenceDep = Annotated["Inference", Depends(_inference)]
BehavioursDep = Annotated[Behaviours, Depends(_behaviours)]
FaultsDep = Annotated[Faults, Depends(_faults)]
ControlsDep = Annotated[Controls, Depends(_controls)]
SettingsDep = Annotated[Settings, Depends(_settings)]
TenancyDep = Annotated[Tenancy, Depends(_tenancy)]
TenantDep = Annotated[str, Depends(_tenant)]
UpperCaseEventsDep = Annotated[bool, Depends(_upper_case_events)]
