"""The project service: the key's identity, and its project's endpoints tied to the store, the
clock and the ids, with the deployments (``deployments.py``, building on what the tenant may
deploy, ``deploying.py``), the A/B experiments (``ab_testing.py``) and the event log
(``event_log.py``) as parts of one class; and which deployment answers a completion.

Endpoints and deployments are records of the store's generic resource table (``records.py``); a
deployment's state is read off the clock on every read, so reads never write. ``Inference``
asks :meth:`ProjectEndpoints.serving` for a name no catalogue model, fine-tune output or v1
endpoint answers to.

**The v1 endpoints and these are separate**, as the real service's two generations most
plausibly are: SDK 3.x dropped ``/v1/endpoints`` for this API, whose records (an endpoint
without a model, deployments with configs and traffic weights) a v1 ``DedicatedEndpoint``
(one model, one hardware, one state) cannot show without inventing half of it, and a v1
endpoint has no project, deployment or etag to show here. So neither API lists or changes the
other's endpoints; both are answered by chat and completions, each on its own names
(``<account>/<model>-<hex>`` for v1, ``<project_slug>/<endpoint>`` here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_camel

from mock_server.core.errors import InvalidRequest
from mock_server.projects import events, experiments, models, views, walk
from mock_server.projects.ab_testing import ABTesting
from mock_server.projects.deployments import Deployments
from mock_server.projects.event_log import EventLog
from mock_server.projects.identity import Identity
from mock_server.projects.listing import Listed, page
from mock_server.projects.models import ProjectEndpoint
from mock_server.projects.records import (
    AB_EXPERIMENT,
    ADAPTER,
    DEPLOYMENT,
    ENDPOINT,
    EVENT,
    ROLLOUT,
    SHADOW_EXPERIMENT,
    OutputJobs,
    update_fields,
)
from mock_server.projects.requests import CreateEndpointRequest, UpdateEndpointRequest

__all__ = [
    "AB_EXPERIMENT",
    "ADAPTER",
    "DEPLOYMENT",
    "ENDPOINT",
    "EVENT",
    "ROLLOUT",
    "SHADOW_EXPERIMENT",
    "OutputJobs",
    "ProjectEndpoints",
    "Routed",
]


@dataclass(frozen=True)
class Routed:
    """A completion on an endpoint's (or a deployment's) name: ``name`` is what the answer
    carries, ``model`` the model whose text it gives."""

    name: str
    model: str


class ProjectEndpoints(ABTesting, EventLog, Deployments):
    """Every operation of the key's project: its endpoints here, its deployments and what may be
    deployed (``Deployments``), A/B experiments (``ABTesting``), the event log (``EventLog``)."""

    # -- endpoints --------------------------------------------------------------------------------

    def create_endpoint(
        self, tenant: str, project_id: str, req: CreateEndpointRequest
    ) -> dict[str, Any]:
        me = self._project(tenant, project_id)
        now = self.clock.now()
        with self.store.transaction():
            endpoint = models.new_endpoint(
                req,
                id_=f"ep_{self.ids.hex(24)}",
                project_id=me.project_id,
                slug=me.project_slug,
                tenant=tenant,
                now=now,
            )
            self._unique_endpoint_name(tenant, endpoint.name, endpoint.id)
            self._save_endpoint(endpoint)
            self._log(
                tenant,
                events.written(
                    "endpoint.created",
                    endpoint_id=endpoint.id,
                    at=now,
                    message="Endpoint created",
                    unique="1",
                    name=f"{me.project_slug}/{endpoint.name}",
                ),
            )
        return self._render(tenant, me, endpoint, now)

    def get_endpoint(self, tenant: str, project_id: str, endpoint_id: str) -> dict[str, Any]:
        me = self._project(tenant, project_id)
        return self._render(tenant, me, self._endpoint(tenant, endpoint_id))

    def _listed(
        self, tenant: str, me: Identity, only_internal: bool, **query: Any
    ) -> dict[str, Any]:
        endpoints = [
            ProjectEndpoint.model_validate(r) for r in self.store.list_resources(ENDPOINT, tenant)
        ]
        if only_internal:
            endpoints = [e for e in endpoints if e.visibility == "VISIBILITY_INTERNAL"]
        listed = [(Listed(e.id, e.name, e.created_at, e.updated_at), e) for e in endpoints]
        shown = page(listed, **query)
        deployments = self._all_deployments(tenant) if shown.items else {}  # one read per list
        now = self.clock.now()
        body: dict[str, Any] = {
            "object": "list",
            "data": [
                views.render_endpoint(e, deployments.get(e.id, []), me.project_slug, now)
                for e in shown.items
            ],
        }
        if shown.next_cursor is not None:
            body["next_cursor"] = shown.next_cursor
        return body

    def list_endpoints(self, tenant: str, project_id: str, **query: Any) -> dict[str, Any]:
        """``query``: ``limit``, ``after``, ``order_by``, ``filter_`` (``listing.page``)."""
        return self._listed(tenant, self._project(tenant, project_id), False, **query)

    def list_organization_endpoints(
        self, tenant: str, organization_id: str, **query: Any
    ) -> dict[str, Any]:
        """ "Endpoints shared with every project in the organization": the key's project's
        ``VISIBILITY_INTERNAL`` ones, its organization having no other project."""
        me = self._organization(tenant, organization_id)
        return self._listed(tenant, me, True, **query)

    def update_endpoint(
        self,
        tenant: str,
        project_id: str,
        endpoint_id: str,
        req: UpdateEndpointRequest,
        update_mask: str | None,
    ) -> dict[str, Any]:
        me = self._project(tenant, project_id)
        known = {"name", "traffic_split", "visibility"}
        fields = update_fields(set(req.model_fields_set), update_mask, known)
        now = self.clock.now()
        with self.store.transaction():
            endpoint = self._endpoint(tenant, endpoint_id)
            ids = [d.id for d in self._deployments(tenant, endpoint_id)]
            updated = models.update_endpoint(
                endpoint, req, fields, slug=me.project_slug, deployment_ids=ids, now=now
            )
            if updated.name != endpoint.name:
                self._unique_endpoint_name(tenant, updated.name, endpoint.id)
            self._save_endpoint(updated)
            self._log(
                tenant,
                events.written(
                    "endpoint.updated",
                    endpoint_id=endpoint.id,
                    at=now,
                    message="Endpoint updated",
                    unique=str(updated.version),
                    paths=sorted(to_camel(f) for f in fields),
                ),
            )
        return self._render(tenant, me, updated, now)

    def delete_endpoint(
        self, tenant: str, project_id: str, endpoint_id: str, etag: str | None
    ) -> dict[str, Any]:
        """ "Delete its deployments first"."""
        self._project(tenant, project_id)
        with self.store.transaction():
            endpoint = self._endpoint(tenant, endpoint_id)
            models.check_etag(endpoint.id, endpoint.version, etag)
            left = self._deployments(tenant, endpoint_id)
            if left:
                raise InvalidRequest(
                    f"Endpoint {endpoint_id} still has {len(left)} deployment(s) "
                    f"({', '.join(d.id for d in left)}): delete them first",
                    param="id",
                )
            self.store.delete_resource(ENDPOINT, tenant, endpoint_id)
            for row in self.store.list_resources(EVENT, tenant):
                if row["parent"] == endpoint_id:  # the endpoint's log goes with it
                    self.store.delete_resource(EVENT, tenant, row["id"])
        return {}

    # -- inference --------------------------------------------------------------------------------

    def serving(self, tenant: str, name: str) -> Routed | None:
        """What answers a completion on ``<project_slug>/<endpoint>`` (by the traffic split) or
        ``<project_slug>/<endpoint>/<deployment>`` (that deployment); None if no endpoint of the
        tenant's project has that name, Together's 400 if none of its routed deployments is
        ready. The request counts as the deployment's activity (``inactiveTimeout``)."""
        me = self.identity(tenant)
        slug, sep, rest = name.partition("/")
        if not sep or slug != me.project_slug:
            return None
        endpoint_name, _, deployment_name = rest.partition("/")
        names = (r["name"] for r in self.store.list_resources(ENDPOINT, tenant))
        if endpoint_name not in names:  # no write lock for a name that is none of ours
            return None
        now = self.clock.now()
        with self.store.transaction():
            endpoint = next(
                (
                    ProjectEndpoint.model_validate(r)
                    for r in self.store.list_resources(ENDPOINT, tenant)
                    if r["name"] == endpoint_name
                ),
                None,
            )
            if endpoint is None:
                return None
            deployments = {d.id: d for d in self._deployments(tenant, endpoint.id)}
            if deployment_name:
                chosen = next((d for d in deployments.values() if d.name == deployment_name), None)
                if chosen is None:
                    return None
                if walk.ready_replicas(chosen, now) == 0:
                    chosen = None
            else:
                draw = int(self.ids.hex(8), 16) / 16**8
                chosen = views.pick(endpoint, deployments, now, draw)
                if chosen is not None:
                    draw = int(self.ids.hex(8), 16) / 16**8
                    split = self._experiments(tenant, endpoint.id)
                    chosen = experiments.divide(chosen, split, deployments, now, draw)
            if chosen is None:
                raise views.not_running(name)
            self._save_deployment(walk.record_request(chosen, now))
        return Routed(name, chosen.serves)
