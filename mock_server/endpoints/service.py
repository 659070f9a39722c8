"""The dedicated-endpoint service: ``endpoints.py`` (pure) tied to the store, the clock, the ids
and what the tenant may deploy (catalogue models and the outputs of its completed fine-tunes).

Endpoints are kept in the store's generic resource table as the ``Endpoint`` record; their state
is derived from the clock on every read, so reads never write. The routes call one method here and
return its body; ``Inference.serving`` asks :meth:`EndpointService.serving` when a completion names
an endpoint. A fine-tune's output is found through ``OutputJobs``, the one thing this service needs
of fine-tuning, handed in by ``app.py``.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, Protocol

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.catalogue import hardware
from mock_server.core.clock import Clock
from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.ids import IdSource, stable_int
from mock_server.endpoints import models as endpoints
from mock_server.endpoints.models import (
    CreateEndpointRequest,
    Endpoint,
    EndpointState,
    UpdateEndpointRequest,
)
from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.store import Store

__all__ = ["KIND", "EndpointService", "OutputJobs"]

KIND = "endpoint"

# Serverless endpoints are the catalogue's models, owned by Together; listed, never stored.
_SERVERLESS_SINCE = "2024-07-23T00:00:00.000000Z"


def _unavailable(name: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Unable to access model {name}. Please visit https://api.together.ai/models to view the "
        "list of supported models.",
        param=param,
        code="model_not_available",
    )


class OutputJobs(Protocol):
    def output_job(self, tenant: str, name: str) -> Job:
        """The job whose output model is named ``name``, up to the clock's time."""


class EndpointService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        ids: IdSource,
        outputs: OutputJobs,
        *,
        account: str,
        speed: float,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
        self.outputs = outputs
        self.account = account
        self.speed = speed  # the timeline's: an endpoint's walk is scaled by it

    # -- what may be deployed, and on what --------------------------------------------------------

    def _deployable(self, tenant: str, name: str) -> tuple[str, int]:
        """The model's canonical name and the parameter count that sizes its hardware."""
        entry = catalogue.get(name)
        if entry is not None:
            return entry.name, entry.param_count
        try:
            job = self.outputs.output_job(tenant, name)
        except NotFound as exc:
            raise _unavailable(name, "model") from exc
        if job.status is not JobStatus.completed:
            raise InvalidRequest(
                f"Model {name} is not ready: its fine-tuning job {job.id} is "
                f"{job.status.value}. Deploy it once the job has completed.",
                param="model",
            )
        base = catalogue.get(job.model)  # a real job's own count is its tiny stand-in's
        return job.model_output_name, base.param_count if base else job.param_count

    def list_hardware(self, tenant: str, model: str | None) -> list[dict[str, Any]]:
        now = self.clock.now()
        if model is None:
            return [hardware.render(h, now, with_availability=False) for h in hardware.HARDWARE]
        _, params = self._deployable(tenant, model)
        return [
            hardware.render(h, now, with_availability=True)
            for h in hardware.HARDWARE
            if hardware.compatible(h, params)
        ]

    def _check_hardware(self, hardware_id: str, model: str, params: int) -> None:
        # "check the hardware api" is what SDK 1.5.x's CLI looks for to print the options
        chosen = hardware.get(hardware_id)
        if chosen is None:
            raise InvalidRequest(
                f"Hardware {hardware_id} does not exist: check the hardware API "
                "(GET /hardware) for the configurations there are",
                param="hardware",
            )
        if not hardware.compatible(chosen, params):
            raise InvalidRequest(
                f"Hardware {hardware_id} cannot serve {model}: it needs about "
                f"{hardware.needed_gpu_memory_gb(params):.0f} GB of GPU memory and "
                f"{hardware_id} has {chosen.total_memory} GB. Check the hardware API "
                f"(GET /hardware?model={model}) for the configurations that fit",
                param="hardware",
            )

    # -- the endpoints ----------------------------------------------------------------------------

    def _load(self, tenant: str, endpoint_id: str) -> Endpoint:
        try:
            return Endpoint.model_validate(self.store.get_resource(KIND, tenant, endpoint_id))
        except NotFound as exc:
            raise NotFound(
                KIND,
                endpoint_id,
                message=f"Endpoint {endpoint_id} not found",
                param="endpointId",
            ) from exc

    def _save(self, endpoint: Endpoint) -> None:
        body = endpoint.model_dump(mode="json")
        self.store.put_resource(KIND, endpoint.tenant, endpoint.id, body, endpoint.created_at)

    def create(self, tenant: str, req: CreateEndpointRequest) -> dict[str, Any]:
        model, params = self._deployable(tenant, req.model)
        self._check_hardware(req.hardware, model, params)
        zone = req.availability_zone
        if zone is not None and zone not in hardware.AVAILABILITY_ZONES:
            raise InvalidRequest(
                f"Unknown availability zone {zone}: it is one of "
                f"{', '.join(hardware.AVAILABILITY_ZONES)}",
                param="availability_zone",
            )
        now = self.clock.now()
        owner = self.account
        short = model.removeprefix(f"{owner}/")  # a fine-tune's output name starts with it
        endpoint = endpoints.new_endpoint(
            req,
            id_=f"endpoint-{self.ids.uuid()}",
            name=f"{owner}/{short}-{self.ids.hex(8)}",
            model=model,
            owner=owner,
            tenant=tenant,
            now=now,
            durations=endpoints.scaled_durations(self.speed),
        )
        self._save(endpoint)
        return endpoints.render(endpoint, now)

    def get(self, tenant: str, endpoint_id: str) -> dict[str, Any]:
        return endpoints.render(self._load(tenant, endpoint_id), self.clock.now())

    def list_endpoints(
        self,
        tenant: str,
        *,
        type_: Literal["dedicated", "serverless"] | None = None,
        usage_type: Literal["on-demand", "reserved"] | None = None,
        mine: bool | None = None,
    ) -> list[dict[str, Any]]:
        """The tenant's dedicated endpoints, newest first (all on demand: nothing is reserved
        here), then the serverless ones unless the filters leave them out."""
        now = self.clock.now()
        listed: list[dict[str, Any]] = []
        if type_ in (None, "dedicated") and usage_type in (None, "on-demand"):
            records = self.store.list_resources(KIND, tenant)
            own = [Endpoint.model_validate(r) for r in reversed(records)]
            listed += [endpoints.render_listed(e, now) for e in own]
        if type_ in (None, "serverless") and usage_type is None and not mine:
            listed += [_serverless(name) for name in catalogue.supported()]
        return listed

    def update(self, tenant: str, endpoint_id: str, req: UpdateEndpointRequest) -> dict[str, Any]:
        now = self.clock.now()
        with self.store.transaction():
            endpoint = endpoints.update(self._load(tenant, endpoint_id), req, now)
            self._save(endpoint)
        return endpoints.render(endpoint, now)

    def delete(self, tenant: str, endpoint_id: str) -> None:
        with self.store.transaction():
            self._load(tenant, endpoint_id)  # the endpoint's own 404
            self.store.delete_resource(KIND, tenant, endpoint_id)

    def availability_zones(self) -> list[str]:
        return list(hardware.AVAILABILITY_ZONES)

    # -- inference --------------------------------------------------------------------------------

    def serving(self, tenant: str, name: str) -> Endpoint | None:
        """The endpoint named ``name`` if it may answer a completion now (the request counts as
        activity); None if no endpoint has that name; Together's 400 if it is not STARTED."""
        folded = name.casefold()
        now = self.clock.now()
        with self.store.transaction():
            for record in self.store.list_resources(KIND, tenant):
                endpoint = Endpoint.model_validate(record)
                if endpoint.name.casefold() != folded:
                    continue
                if endpoints.state_at(endpoint, now) is not EndpointState.STARTED:
                    raise endpoints.not_running(endpoint.name)
                endpoint = endpoints.record_request(endpoint, now)
                self._save(endpoint)
                return endpoint
        return None


def _serverless(name: str) -> dict[str, Any]:
    return {
        "object": "endpoint",
        "id": f"endpoint-{uuid.UUID(int=stable_int('serverless', name), version=4)}",
        "name": name,
        "model": name,
        "type": "serverless",
        "owner": "together",
        "state": "STARTED",
        "created_at": _SERVERLESS_SINCE,
    }
