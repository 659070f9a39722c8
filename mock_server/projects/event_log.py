"""An endpoint's event log (``GET .../endpoints/{id}/events``, rows built by ``events.py``), and
what the endpoint's unmodelled families answer (shadow experiments and their targets, rollouts,
a deployment's adapters, the project's placement profiles).

Those families are not simulated yet, and stateful mode never answers a record it does not
hold: their lists are what the store holds (empty: nothing creates them), a read, update,
delete or action on an id is a 404 naming the first path parameter that names nothing (after
the project, endpoint and deployment are checked as everywhere), and a create is a 400 in
Together's body with ``code`` ``not_modelled`` saying so. A 400 rather than a 501: both are
within what the spec documents for these operations (its ``default`` response, and the shadow
experiments' 400), but the SDKs retry every 5xx, so a 501 would cost a caller three tries and
read as an outage rather than as "this simulator does not do that".
"""

from __future__ import annotations

from typing import Any, NoReturn

from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.paging import page_bounds
from mock_server.core.timefmt import parse_iso
from mock_server.projects import events, walk
from mock_server.projects.listing import Listed, page
from mock_server.projects.records import ADAPTER, EVENT, ROLLOUT, SHADOW_EXPERIMENT, Records

__all__ = ["TARGET", "EventLog", "NotModelled"]

TARGET = "shadow_experiment_target"
_WHAT = {
    SHADOW_EXPERIMENT: "shadow experiments",
    TARGET: "shadow experiment targets",
    ROLLOUT: "rollouts",
    ADAPTER: "deployment adapters",
}


class NotModelled(InvalidRequest):
    """A create of a family the simulator keeps no records of yet."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"together-sim does not model {what} yet: nothing can be created here (see the "
            "README's projects section for what is simulated)",
            code="not_modelled",
        )


class EventLog(Records):
    def list_events(
        self,
        tenant: str,
        project_id: str,
        endpoint_id: str,
        *,
        limit: int | None,
        after: str | None,
        deployment_ids: list[str],
        **filters: Any,
    ) -> dict[str, Any]:
        """The endpoint's log: what was written, and each state its deployments entered."""
        self._project(tenant, project_id)
        self._endpoint(tenant, endpoint_id)
        now = self.clock.now()
        rows = {
            r["id"]: {k: v for k, v in r.items() if k != "parent"}
            for r in self.store.list_resources(EVENT, tenant)
            if r["parent"] == endpoint_id
        }
        for deployment in self._deployments(tenant, endpoint_id):
            for state, at in walk.history(deployment, now):
                row = events.condition(deployment, state, at)
                rows[row["id"]] = row
        known = {r.get("deploymentId") for r in rows.values()}
        for i, deployment_id in enumerate(deployment_ids):
            if deployment_id not in known:
                raise InvalidRequest(
                    f"deploymentIds: {deployment_id} is not a deployment of endpoint {endpoint_id}",
                    param=f"deploymentIds.{i}",
                )
        chosen = events.select(list(rows.values()), deployment_ids=deployment_ids, **filters)
        ids = [r["id"] for r in chosen]
        start, stop = page_bounds(ids, limit=limit, after=after, maximum=10000)  # "Max 10000"
        body: dict[str, Any] = {"object": "list", "data": chosen[start:stop]}
        if len(chosen) > stop:
            body["next_cursor"] = chosen[stop - 1]["id"]
        return body

    # -- what the endpoint's other families hold ------------------------------------------------

    def list_children(
        self,
        tenant: str,
        project_id: str,
        endpoint_id: str,
        kind: str,
        *,
        deployment_id: str | None = None,
        experiment_id: str | None = None,
        **query: Any,
    ) -> dict[str, Any]:
        """An endpoint's A/B and shadow experiments, rollouts, or a deployment's adapters: the
        records of ``kind`` under it. Nothing here creates shadow experiments, rollouts or
        adapters yet (their other operations are :meth:`unmodelled`), so the lists are the
        truth of this server: empty, never an example that names deployments that do not
        exist, which the 3.x CLI would act on (``tg endpoints rm dep_...`` detaches a deployment
        from every experiment listing it)."""
        self._project(tenant, project_id)
        self._endpoint(tenant, endpoint_id, param="endpointId")
        if deployment_id is not None:
            self._deployment(tenant, endpoint_id, deployment_id, param="deploymentId")
        parent = deployment_id or endpoint_id
        if experiment_id is not None:  # a shadow experiment's targets
            self._held(tenant, SHADOW_EXPERIMENT, parent, experiment_id, "experimentId")
            parent = experiment_id
        records = [r for r in self.store.list_resources(kind, tenant) if r.get("parent") == parent]
        listed = [
            (
                Listed(
                    r["id"],
                    r.get("name", r["id"]),
                    parse_iso(r["createdAt"]),
                    parse_iso(r.get("updatedAt", r["createdAt"])),
                ),
                r,
            )
            for r in records
        ]
        shown = page(listed, **query)
        body: dict[str, Any] = {
            "object": "list",
            "data": [{k: v for k, v in r.items() if k != "parent"} for r in shown.items],
        }
        if shown.next_cursor is not None:
            body["next_cursor"] = shown.next_cursor
        return body

    def unmodelled(
        self,
        tenant: str,
        project_id: str,
        endpoint_id: str,
        kind: str,
        *,
        deployment_id: str | None = None,
        experiment_id: str | None = None,
        record_id: str | None = None,
    ) -> dict[str, Any]:
        """Any operation of ``kind`` other than its list: a 404 naming the id that names nothing
        (a target's experiment, ``experimentId``, before its own ``id``), or, for a create
        (no id), the refusal :class:`NotModelled`. Never a made-up record."""
        self._project(tenant, project_id)
        self._endpoint(tenant, endpoint_id, param="endpointId")
        if deployment_id is not None:
            self._deployment(tenant, endpoint_id, deployment_id, param="deploymentId")
        parent = deployment_id or endpoint_id
        if experiment_id is not None:
            self._held(tenant, SHADOW_EXPERIMENT, parent, experiment_id, "experimentId")
            parent = experiment_id
        if record_id is None:
            raise NotModelled(_WHAT[kind])
        found: dict[str, Any] = self._held(tenant, kind, parent, record_id, "id")
        return found

    def _held(self, tenant: str, kind: str, parent: str, record_id: str, param: str) -> Any:
        try:
            record = self.store.get_resource(kind, tenant, record_id)
        except NotFound:
            record = None
        if record is None or record.get("parent") != parent:
            what = _WHAT[kind][:-1].capitalize()
            raise NotFound(kind, record_id, message=f"{what} {record_id} not found", param=param)
        return {k: v for k, v in record.items() if k != "parent"}

    def list_placement_profiles(
        self, tenant: str, project_id: str, *, limit: int | None, after: str | None
    ) -> dict[str, Any]:
        """The project's placement profiles: none (the simulator keeps no catalogue of them;
        a deployment's ``placement`` is kept as sent), paged as every project list is."""
        self._project(tenant, project_id)
        page([], limit=limit, after=after, order_by=None, filter_=None)
        return {"object": "list", "data": []}

    def get_placement_profile(self, tenant: str, project_id: str, profile_id: str) -> NoReturn:
        self._project(tenant, project_id)
        raise NotFound(
            "placement profile",
            profile_id,
            message=f"Placement profile {profile_id} not found",
            param="id",
        )
