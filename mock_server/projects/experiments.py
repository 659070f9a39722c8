"""An endpoint's A/B experiments, pure: "a managed control/variant split across two to 20
deployments under the same endpoint. Exactly one member is the control, member percentages must
add up to 100, and the split applies only to traffic that the endpoint would otherwise send to
the control" (the spec's words, which ``divide`` follows: a request the traffic split sends to a
control goes to a member by its percent, among the members with a ready replica).

A deployment belongs to at most one experiment (estimated: the 3.x CLI looks one up per
deployment), and is not deleted while it does (the CLI detaches it first). Writes move the
experiment's ``etag`` as the endpoint's do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict

from mock_server.core.errors import InvalidRequest
from mock_server.core.lazy_model import LazyModel
from mock_server.core.timefmt import iso
from mock_server.projects.models import Deployment, bare_name, check_etag, etag_of
from mock_server.projects.requests import Camel
from mock_server.projects.walk import ready_replicas

__all__ = [
    "ABExperiment",
    "CreateABExperimentRequest",
    "Member",
    "UpdateABExperimentRequest",
    "check_members",
    "divide",
    "new",
    "render",
    "update",
]

Role = Literal["AB_EXPERIMENT_MEMBER_ROLE_CONTROL", "AB_EXPERIMENT_MEMBER_ROLE_VARIANT"]
CONTROL = "AB_EXPERIMENT_MEMBER_ROLE_CONTROL"


class Member(Camel):
    deployment_id: str
    role: Role
    percent: int


class CreateABExperimentRequest(Camel):
    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py
    name: str
    description: str | None = None
    members: list[Member]


class UpdateABExperimentRequest(Camel):
    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py
    description: str | None = None
    members: list[Member] | None = None
    etag: str | None = None


class ABExperiment(LazyModel):
    model_config = ConfigDict(frozen=True)

    id: str
    project_id: str
    endpoint_id: str
    name: str
    description: str | None = None
    members: tuple[Member, ...]
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int = 1
    tenant: str


def check_members(
    members: Sequence[Member],
    *,
    deployment_ids: Sequence[str],
    taken: Mapping[str, str],
    own_id: str,
) -> None:
    """Two to 20 of the endpoint's deployments, once each, exactly one control, percents from 1
    to 100 adding up to 100; ``taken`` maps a deployment to the experiment it is already in."""
    if not 2 <= len(members) <= 20:
        raise InvalidRequest(
            f"members: an A/B experiment has two to 20 members (got {len(members)})",
            param="members",
        )
    seen: set[str] = set()
    for i, member in enumerate(members):
        where = f"members.{i}"
        if member.deployment_id not in deployment_ids:
            raise InvalidRequest(
                f"{where}.deploymentId {member.deployment_id} is not a deployment of this endpoint",
                param=f"{where}.deploymentId",
            )
        if member.deployment_id in seen:
            raise InvalidRequest(
                f"{where}.deploymentId {member.deployment_id} is a member more than once",
                param=f"{where}.deploymentId",
            )
        other = taken.get(member.deployment_id)
        if other is not None and other != own_id:
            raise InvalidRequest(
                f"{where}.deploymentId {member.deployment_id} is already in A/B experiment {other}",
                param=f"{where}.deploymentId",
            )
        if not 1 <= member.percent <= 100:
            raise InvalidRequest(
                f"{where}.percent must be from 1 to 100 (got {member.percent})",
                param=f"{where}.percent",
            )
        seen.add(member.deployment_id)
    controls = sum(member.role == CONTROL for member in members)
    if controls != 1:
        raise InvalidRequest(
            f"members: exactly one member is the control (got {controls})", param="members"
        )
    total = sum(member.percent for member in members)
    if total != 100:
        raise InvalidRequest(
            f"members: the percentages add up to {total}, not 100", param="members"
        )


def new(
    req: CreateABExperimentRequest,
    *,
    id_: str,
    project_id: str,
    endpoint_id: str,
    qualifier: str,
    created_by: str,
    tenant: str,
    now: datetime,
) -> ABExperiment:
    return ABExperiment(
        id=id_,
        project_id=project_id,
        endpoint_id=endpoint_id,
        name=bare_name(req.name, qualifier, "name"),
        description=req.description,
        members=tuple(req.members),
        created_by=created_by,
        created_at=now,
        updated_at=now,
        tenant=tenant,
    )


def update(
    experiment: ABExperiment, req: UpdateABExperimentRequest, fields: set[str], now: datetime
) -> ABExperiment:
    """``fields``: the snake-case fields to write (the ``updateMask``'s, or those sent)."""
    check_etag(experiment.id, experiment.version, req.etag)
    changes: dict[str, Any] = {"version": experiment.version + 1, "updated_at": now}
    if "description" in fields:
        changes["description"] = req.description
    if "members" in fields:
        if req.members is None:
            raise InvalidRequest("members cannot be cleared", param="members")
        changes["members"] = tuple(req.members)
    return experiment.model_copy(update=changes)


def divide(
    chosen: Deployment,
    experiments: Sequence[ABExperiment],
    deployments: Mapping[str, Deployment],
    now: datetime,
    draw: float,
) -> Deployment:
    """Where a request the traffic split sent to ``chosen`` goes: if ``chosen`` is an
    experiment's control, a member picked by percent (``draw`` in [0, 1)) among those with a
    ready replica; else ``chosen``."""
    for experiment in experiments:
        control = next(m for m in experiment.members if m.role == CONTROL)
        if control.deployment_id != chosen.id:
            continue
        ready = [
            m
            for m in experiment.members
            if m.deployment_id in deployments
            and ready_replicas(deployments[m.deployment_id], now) > 0
        ]
        point = draw * sum(m.percent for m in ready)
        for member in ready:
            if point < member.percent:
                return deployments[member.deployment_id]
            point -= member.percent
    return chosen


def render(experiment: ABExperiment) -> dict[str, Any]:
    """The spec's ``DE.ABExperiment``."""
    body: dict[str, Any] = {
        "id": experiment.id,
        "projectId": experiment.project_id,
        "endpointId": experiment.endpoint_id,
        "name": experiment.name,
        "members": [m.model_dump(by_alias=True) for m in experiment.members],
        "createdBy": experiment.created_by,
        "createdAt": iso(experiment.created_at),
        "updatedAt": iso(experiment.updated_at),
        "etag": etag_of(experiment.id, experiment.version),
    }
    if experiment.description is not None:
        body["description"] = experiment.description
    return body
