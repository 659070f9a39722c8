"""A/B experiments' operations (``/v2/projects/{projectId}/endpoints/{endpointId}/abExperiments``):
create, list, get, update (description, members; ``updateMask``, ``etag``), delete. What they
mean for routing is ``experiments.py``'s."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mock_server.core.errors import Conflict
from mock_server.projects import experiments, models
from mock_server.projects.experiments import (
    CreateABExperimentRequest,
    Member,
    UpdateABExperimentRequest,
)
from mock_server.projects.listing import Listed, page
from mock_server.projects.records import AB_EXPERIMENT, Records, update_fields

__all__ = ["ABTesting"]


class ABTesting(Records):
    def _check_members(
        self, tenant: str, endpoint_id: str, members: Sequence[Member], own_id: str
    ) -> None:
        taken = {
            m.deployment_id: e.id for e in self._experiments(tenant, endpoint_id) for m in e.members
        }
        ids = [d.id for d in self._deployments(tenant, endpoint_id)]
        experiments.check_members(members, deployment_ids=ids, taken=taken, own_id=own_id)

    def create_ab_experiment(
        self, tenant: str, project_id: str, endpoint_id: str, req: CreateABExperimentRequest
    ) -> dict[str, Any]:
        me = self._project(tenant, project_id)
        now = self.clock.now()
        with self.store.transaction():
            endpoint = self._endpoint(tenant, endpoint_id, param="endpointId")
            experiment = experiments.new(
                req,
                id_=f"abx_{self.ids.hex(24)}",
                project_id=me.project_id,
                endpoint_id=endpoint.id,
                qualifier=f"{me.project_slug}/{endpoint.name}",
                created_by=me.api_key_id,
                tenant=tenant,
                now=now,
            )
            if any(e.name == experiment.name for e in self._experiments(tenant, endpoint_id)):
                raise Conflict(
                    f"An A/B experiment named {experiment.name} already exists in endpoint "
                    f"{endpoint_id}",
                    param="name",
                )
            self._check_members(tenant, endpoint_id, experiment.members, experiment.id)
            self._save_experiment(experiment)
        return experiments.render(experiment)

    def get_ab_experiment(
        self, tenant: str, project_id: str, endpoint_id: str, experiment_id: str
    ) -> dict[str, Any]:
        self._project(tenant, project_id)
        self._endpoint(tenant, endpoint_id, param="endpointId")
        return experiments.render(self._experiment(tenant, endpoint_id, experiment_id))

    def list_ab_experiments(
        self, tenant: str, project_id: str, endpoint_id: str, **query: Any
    ) -> dict[str, Any]:
        self._project(tenant, project_id)
        self._endpoint(tenant, endpoint_id, param="endpointId")
        found = self._experiments(tenant, endpoint_id)
        listed = [(Listed(e.id, e.name, e.created_at, e.updated_at), e) for e in found]
        shown = page(listed, **query)
        body: dict[str, Any] = {
            "object": "list",
            "data": [experiments.render(e) for e in shown.items],
        }
        if shown.next_cursor is not None:
            body["next_cursor"] = shown.next_cursor
        return body

    def update_ab_experiment(
        self,
        tenant: str,
        project_id: str,
        endpoint_id: str,
        experiment_id: str,
        req: UpdateABExperimentRequest,
        update_mask: str | None,
    ) -> dict[str, Any]:
        self._project(tenant, project_id)
        fields = update_fields(set(req.model_fields_set), update_mask, {"description", "members"})
        with self.store.transaction():
            self._endpoint(tenant, endpoint_id, param="endpointId")
            experiment = self._experiment(tenant, endpoint_id, experiment_id)
            updated = experiments.update(experiment, req, fields, self.clock.now())
            self._check_members(tenant, endpoint_id, updated.members, experiment.id)
            self._save_experiment(updated)
        return experiments.render(updated)

    def delete_ab_experiment(
        self,
        tenant: str,
        project_id: str,
        endpoint_id: str,
        experiment_id: str,
        etag: str | None,
    ) -> dict[str, Any]:
        """The spec: it "removes its managed traffic split. The deployments themselves are not
        deleted"."""
        self._project(tenant, project_id)
        with self.store.transaction():
            self._endpoint(tenant, endpoint_id, param="endpointId")
            experiment = self._experiment(tenant, endpoint_id, experiment_id)
            models.check_etag(experiment.id, experiment.version, etag)
            self.store.delete_resource(AB_EXPERIMENT, tenant, experiment_id)
        return {}
