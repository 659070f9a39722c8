"""The deployments' operations (``/v2/projects/{projectId}/endpoints/{endpointId}/deployments``):
create (``validateOnly`` checks without saving), get, list, update (``updateMask``), delete. One
part of ``service.ProjectEndpoints``, as ``ab_testing.py`` and ``event_log.py`` are; it builds on
``deploying.py``, which resolves what a deployment may serve and the hardware it runs on, and on
``walk.py``, which a deployment's state is read off at every read.
"""

from __future__ import annotations

from typing import Any

from mock_server.core.errors import InvalidRequest
from mock_server.projects import events, models, views, walk
from mock_server.projects.deploying import MODEL_PATH, Deploying
from mock_server.projects.listing import Listed, page
from mock_server.projects.models import DeploymentState
from mock_server.projects.records import DEPLOYMENT, update_fields
from mock_server.projects.requests import CreateDeploymentRequest, UpdateDeploymentRequest

__all__ = ["Deployments"]


class Deployments(Deploying):
    # -- deployments ------------------------------------------------------------------------------

    def create_deployment(
        self,
        tenant: str,
        project_id: str,
        endpoint_id: str,
        req: CreateDeploymentRequest,
        *,
        validate_only: bool = False,
    ) -> dict[str, Any]:
        me = self._project(tenant, project_id)
        ref = req.model or req.model_id
        if not ref:
            raise InvalidRequest(
                "model is required: projects/{projectId}/models/{modelId}", param="model"
            )
        deployable = self._deployable(tenant, me, ref)
        path = MODEL_PATH.match(req.model or "")
        revision = self._revision(
            deployable, path.group(3) if path else None, req.model_revision_id
        )
        config, config_id, hardware_id = self._hardware(req.config or req.config_id, deployable, me)
        now = self.clock.now()
        with self.store.transaction():
            endpoint = self._endpoint(tenant, endpoint_id, param="endpointId")
            name = models.bare_name(req.name, f"{me.project_slug}/{endpoint.name}", "name")
            self._unique_deployment_name(tenant, endpoint_id, name, "")
            deployment = walk.new_deployment(
                req.model_copy(update={"name": name}),
                id_=f"dep_{self.ids.hex(24)}",
                project_id=me.project_id,
                endpoint_id=endpoint.id,
                model=(
                    f"projects/{deployable.project}/models/{deployable.model_id}"
                    f"/revisions/{revision}"
                ),
                model_id=deployable.model_id,
                model_revision_id=revision,
                serves=deployable.name,
                config=config,
                config_id=config_id,
                hardware=hardware_id,
                tenant=tenant,
                now=now,
                durations=models.scaled_durations(self.speed),
            )
            if not validate_only:
                self._save_deployment(deployment)
                self._log(
                    tenant,
                    events.written(
                        "deployment.created",
                        endpoint_id=endpoint.id,
                        deployment_id=deployment.id,
                        at=now,
                        message=f"Deployment created serving {deployment.serves}",
                        unique="1",
                        name=f"{me.project_slug}/{endpoint.name}/{deployment.name}",
                    ),
                )
        return self._render_deployment(tenant, me, endpoint, deployment, now)

    def get_deployment(
        self, tenant: str, project_id: str, endpoint_id: str, deployment_id: str
    ) -> dict[str, Any]:
        me = self._project(tenant, project_id)
        endpoint = self._endpoint(tenant, endpoint_id, param="endpointId")
        deployment = self._deployment(tenant, endpoint_id, deployment_id)
        return self._render_deployment(tenant, me, endpoint, deployment)

    def list_deployments(
        self, tenant: str, project_id: str, endpoint_id: str, **query: Any
    ) -> dict[str, Any]:
        me = self._project(tenant, project_id)
        endpoint = self._endpoint(tenant, endpoint_id, param="endpointId")
        deployments = self._deployments(tenant, endpoint_id)
        listed = [(Listed(d.id, d.name, d.created_at, d.updated_at), d) for d in deployments]
        shown = page(listed, **query)
        now = self.clock.now()
        shares = views.shares_of(endpoint, deployments, now)
        body: dict[str, Any] = {
            "object": "list",
            "data": [
                views.render_deployment(d, endpoint, me.project_slug, shares[d.id], now)
                for d in shown.items
            ],
        }
        if shown.next_cursor is not None:
            body["next_cursor"] = shown.next_cursor
        return body

    def update_deployment(
        self,
        tenant: str,
        project_id: str,
        endpoint_id: str,
        deployment_id: str,
        req: UpdateDeploymentRequest,
        update_mask: str | None,
    ) -> dict[str, Any]:
        me = self._project(tenant, project_id)
        known = {"name", "autoscaling", "inactive_timeout", "max_concurrent_requests_per_replica"}
        fields = update_fields(set(req.model_fields_set), update_mask, known)
        now = self.clock.now()
        with self.store.transaction():
            endpoint = self._endpoint(tenant, endpoint_id, param="endpointId")
            deployment = self._deployment(tenant, endpoint_id, deployment_id)
            updated = walk.update_deployment(
                deployment,
                req,
                fields,
                qualifier=f"{me.project_slug}/{endpoint.name}",
                now=now,
            )
            if updated.name != deployment.name:
                self._unique_deployment_name(tenant, endpoint_id, updated.name, deployment.id)
            self._log_walk(tenant, deployment, now)
            self._save_deployment(updated)
            self._log_update(tenant, deployment, updated, fields, now)
        return self._render_deployment(tenant, me, endpoint, updated, now)

    def delete_deployment(
        self,
        tenant: str,
        project_id: str,
        endpoint_id: str,
        deployment_id: str,
        etag: str | None,
    ) -> dict[str, Any]:
        """A deployment is deleted once it was asked to stop (``maxReplicas`` 0), as the 3.x CLI
        expects (``tg endpoints rm dep_...`` scales a running one down and asks to retry); it
        leaves the endpoint's traffic split."""
        self._project(tenant, project_id)
        now = self.clock.now()
        with self.store.transaction():
            endpoint = self._endpoint(tenant, endpoint_id, param="endpointId")
            deployment = self._deployment(tenant, endpoint_id, deployment_id)
            models.check_etag(deployment.id, deployment.version, etag)
            for experiment in self._experiments(tenant, endpoint_id):
                if any(m.deployment_id == deployment_id for m in experiment.members):
                    raise InvalidRequest(
                        f"Deployment {deployment_id} is a member of A/B experiment "
                        f"{experiment.id}: remove it from the experiment first",
                        param="id",
                    )
            state = walk.state_at(deployment, now)
            if state not in (DeploymentState.STOPPING, DeploymentState.STOPPED):
                raise InvalidRequest(
                    f"Deployment {deployment_id} is {state.value.removeprefix('DEPLOYMENT_STATE_')}"
                    ": stop it first (autoscaling minReplicas and maxReplicas 0), then delete it",
                    param="id",
                )
            self.store.delete_resource(DEPLOYMENT, tenant, deployment_id)
            self._log_walk(tenant, deployment, now)
            self._log(
                tenant,
                events.written(
                    "deployment.deleted",
                    endpoint_id=endpoint_id,
                    deployment_id=deployment_id,
                    at=now,
                    message="Deployment deleted",
                    unique=str(deployment.version),
                    name=deployment.name,
                ),
            )
            self._save_endpoint(models.without_deployment(endpoint, deployment_id, now))
        return {}
