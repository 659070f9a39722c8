"""What the project service's parts share: the key's identity and the project's records in the
store (endpoints, deployments, A/B experiments and the endpoints' event log), read and written
for the operations of ``service.py``, ``deployments.py``, ``ab_testing.py`` and
``event_log.py``.

Every record is a row of the store's generic resource table under its kind; a deployment's
state is read off the clock on every read, so reads never write. A key reaches only its own
project and organization: any other in a path is a 404 naming ``projectId`` or
``organizationId``, as the project models' family answers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

from pydantic.alias_generators import to_camel

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.core.clock import Clock
from mock_server.core.errors import Conflict, InvalidRequest, NotFound
from mock_server.core.ids import IdSource
from mock_server.core.timefmt import parse_iso
from mock_server.fine_tuning.models import Job
from mock_server.projects import events, views, walk
from mock_server.projects.experiments import ABExperiment
from mock_server.projects.identity import Identity, identity_of, model_id_of
from mock_server.projects.models import Deployment, ProjectEndpoint
from mock_server.store import Store

__all__ = [
    "AB_EXPERIMENT",
    "ADAPTER",
    "DEPLOYMENT",
    "ENDPOINT",
    "EVENT",
    "MAX_DEPLOYMENTS",
    "MAX_ENDPOINTS",
    "ROLLOUT",
    "SHADOW_EXPERIMENT",
    "OutputJobs",
    "Records",
    "update_fields",
]

ENDPOINT = "project_endpoint"
DEPLOYMENT = "project_deployment"
AB_EXPERIMENT = "ab_experiment"
SHADOW_EXPERIMENT = "shadow_experiment"
ROLLOUT = "rollout"
ADAPTER = "deployment_adapter"
EVENT = "endpoint_event"
# What one tenant may hold: the spec bounds neither, and every list and routing decision reads
# them all, so a runaway client is a 400 rather than a server that slows for everyone.
MAX_ENDPOINTS = 100  # per project  # estimated
MAX_DEPLOYMENTS = 50  # per endpoint  # estimated


class OutputJobs(Protocol):
    def output_job(self, tenant: str, name: str) -> Job:
        """The job whose output model is named ``name``, up to the clock's time."""


def update_fields(sent: set[str], mask: str | None, known: set[str]) -> set[str]:
    """The fields a ``PATCH`` writes: its ``updateMask`` (camelCase paths, comma separated), or
    "if not set, the fields populated"."""
    if mask is None:
        return sent - {"etag"}
    chosen = set()
    for path in (p.strip() for p in mask.split(",") if p.strip()):
        field = re.sub(r"(?<!^)([A-Z])", r"_\1", path.split(".")[0]).lower()
        if field not in known:
            raise InvalidRequest(
                f"updateMask names {path!r}, which is not a field that can be updated "
                f"({', '.join(sorted(known))})",
                param="updateMask",
            )
        chosen.add(field)
    return chosen


class Records:
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
        self.speed = speed
        self._catalogue_ids = {model_id_of(name): name for name in catalogue.supported()}

    # -- who the key is ---------------------------------------------------------------------------

    def identity(self, tenant: str) -> Identity:
        return identity_of(tenant, self.account)

    def _project(self, tenant: str, project_id: str) -> Identity:
        """The key's identity, if ``project_id`` is its project: a project key reaches no other
        (a 404, as the project models' family answers)."""
        me = self.identity(tenant)
        if project_id != me.project_id:
            raise NotFound(
                "project", project_id, message=f"Project {project_id} not found", param="projectId"
            )
        return me

    def _organization(self, tenant: str, organization_id: str) -> Identity:
        me = self.identity(tenant)
        if organization_id != me.organization_id:
            raise NotFound(
                "organization",
                organization_id,
                message=f"Organization {organization_id} not found",
                param="organizationId",
            )
        return me

    # -- records ----------------------------------------------------------------------------------

    def _endpoint(self, tenant: str, endpoint_id: str, param: str = "id") -> ProjectEndpoint:
        try:
            record = self.store.get_resource(ENDPOINT, tenant, endpoint_id)
        except NotFound as exc:
            raise NotFound(
                ENDPOINT, endpoint_id, message=f"Endpoint {endpoint_id} not found", param=param
            ) from exc
        return ProjectEndpoint.model_validate(record)

    def _deployments(self, tenant: str, endpoint_id: str) -> list[Deployment]:
        records = (
            Deployment.model_validate(r) for r in self.store.list_resources(DEPLOYMENT, tenant)
        )
        return [d for d in records if d.endpoint_id == endpoint_id]

    def _deployment(
        self, tenant: str, endpoint_id: str, deployment_id: str, param: str = "id"
    ) -> Deployment:
        try:
            found = Deployment.model_validate(
                self.store.get_resource(DEPLOYMENT, tenant, deployment_id)
            )
        except NotFound:
            found = None
        if found is None or found.endpoint_id != endpoint_id:
            raise NotFound(
                DEPLOYMENT,
                deployment_id,
                message=f"Deployment {deployment_id} not found in endpoint {endpoint_id}",
                param=param,
            )
        return found

    def _save_endpoint(self, endpoint: ProjectEndpoint) -> None:
        body = endpoint.model_dump(mode="json")
        self.store.put_resource(ENDPOINT, endpoint.tenant, endpoint.id, body, endpoint.created_at)

    def _save_deployment(self, deployment: Deployment) -> None:
        body = deployment.model_dump(mode="json")
        self.store.put_resource(
            DEPLOYMENT, deployment.tenant, deployment.id, body, deployment.created_at
        )

    def _render(
        self, tenant: str, me: Identity, endpoint: ProjectEndpoint, now: datetime | None = None
    ) -> dict[str, Any]:
        """``now``: the moment of the write being answered, so that its answer shows the first
        state of the walk it began even on the instant clock (a later read shows the next)."""
        deployments = self._deployments(tenant, endpoint.id)
        now = now or self.clock.now()
        return views.render_endpoint(endpoint, deployments, me.project_slug, now)

    def _all_deployments(self, tenant: str) -> dict[str, list[Deployment]]:
        """The tenant's deployments by endpoint, read once for a whole list of endpoints."""
        by_endpoint: dict[str, list[Deployment]] = {}
        for record in self.store.list_resources(DEPLOYMENT, tenant):
            deployment = Deployment.model_validate(record)
            by_endpoint.setdefault(deployment.endpoint_id, []).append(deployment)
        return by_endpoint

    def _render_deployment(
        self,
        tenant: str,
        me: Identity,
        endpoint: ProjectEndpoint,
        deployment: Deployment,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        now = now or self.clock.now()
        siblings = self._deployments(tenant, endpoint.id)
        if all(d.id != deployment.id for d in siblings):  # a validateOnly answer
            siblings.append(deployment)
        shares = views.shares_of(endpoint, siblings, now)
        return views.render_deployment(
            deployment, endpoint, me.project_slug, shares.get(deployment.id, 0.0), now
        )

    def _log(self, tenant: str, row: dict[str, Any]) -> None:
        body = {**row, "parent": row["endpointId"]}
        self.store.put_resource(EVENT, tenant, row["id"], body, parse_iso(row["createdAt"]))

    def _log_walk(self, tenant: str, deployment: Deployment, now: datetime) -> None:
        """The states the deployment's walk entered by ``now``, kept before a write ends it."""
        for state, at in walk.history(deployment, now):
            self._log(tenant, events.condition(deployment, state, at))

    def _unique_endpoint_name(self, tenant: str, name: str, own_id: str) -> None:
        records = self.store.list_resources(ENDPOINT, tenant)
        is_new = all(r["id"] != own_id for r in records)
        if is_new and len(records) >= MAX_ENDPOINTS:
            raise InvalidRequest(
                f"This project has {len(records)} endpoints, the most the simulator keeps "
                f"({MAX_ENDPOINTS}): delete one first",
                param="projectId",
            )
        for record in records:
            if record["name"] == name and record["id"] != own_id:
                raise Conflict(
                    f"An endpoint named {name} already exists in this project ({record['id']})",
                    param="name",
                )

    def _unique_deployment_name(
        self, tenant: str, endpoint_id: str, name: str, own_id: str
    ) -> None:
        siblings = self._deployments(tenant, endpoint_id)
        if all(d.id != own_id for d in siblings) and len(siblings) >= MAX_DEPLOYMENTS:
            raise InvalidRequest(
                f"Endpoint {endpoint_id} has {len(siblings)} deployments, the most the simulator "
                f"keeps ({MAX_DEPLOYMENTS}): delete one first",
                param="endpointId",
            )
        for other in siblings:
            if other.name == name and other.id != own_id:
                raise Conflict(
                    f"A deployment named {name} already exists in endpoint {endpoint_id} "
                    f"({other.id})",
                    param="name",
                )

    def _log_update(
        self,
        tenant: str,
        before: Deployment,
        after: Deployment,
        fields: set[str],
        now: datetime,
    ) -> None:
        paths = sorted(to_camel(f) for f in fields)
        self._log(
            tenant,
            events.written(
                "deployment.updated",
                endpoint_id=after.endpoint_id,
                deployment_id=after.id,
                at=now,
                message="Deployment updated",
                unique=str(after.version),
                paths=paths,
            ),
        )
        old, new = before.autoscaling.min_replicas, after.autoscaling.min_replicas
        if (old, before.autoscaling.max_replicas) != (new, after.autoscaling.max_replicas):
            old_count = old if (before.autoscaling.max_replicas or 0) else 0
            new_count = new if (after.autoscaling.max_replicas or 0) else 0
            self._log(
                tenant,
                events.written(
                    "deployment.scaled",
                    endpoint_id=after.endpoint_id,
                    deployment_id=after.id,
                    at=now,
                    message=f"Replicas {old_count} -> {new_count}",
                    unique=str(after.version),
                    oldReplicas=old_count,
                    newReplicas=new_count,
                ),
            )

    def _experiments(self, tenant: str, endpoint_id: str) -> list[ABExperiment]:
        records = self.store.list_resources(AB_EXPERIMENT, tenant)
        return [
            e for r in records if (e := ABExperiment.model_validate(r)).endpoint_id == endpoint_id
        ]

    def _experiment(self, tenant: str, endpoint_id: str, experiment_id: str) -> ABExperiment:
        found = next(
            (e for e in self._experiments(tenant, endpoint_id) if e.id == experiment_id), None
        )
        if found is None:
            raise NotFound(
                AB_EXPERIMENT,
                experiment_id,
                message=f"A/B experiment {experiment_id} not found in endpoint {endpoint_id}",
                param="id",
            )
        return found

    def _save_experiment(self, experiment: ABExperiment) -> None:
        body = experiment.model_dump(mode="json")
        self.store.put_resource(
            AB_EXPERIMENT, experiment.tenant, experiment.id, body, experiment.created_at
        )
