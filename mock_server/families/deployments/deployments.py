"""Jig deployments (``/deployments``): containers on GPUs, with replicas, secrets and volumes.

No container runs. A deployment walks ``Updating`` (30 s at the service's pace) to ``Ready``,
where its ``ready_replicas`` reach ``desired_replicas`` (``min_replicas``); an update that only
rescales walks ``Scaling`` (15 s) instead, any other change rolls out a new revision through
``Updating`` again, with the replicas of the previous one serving meanwhile. ``replica_events``
and ``/logs`` tell the same story, each line marked as the simulator's. A deployment is found by
its id or its name, as the spec says.

Checks, as 400s naming the field: the name's characters, ``min_replicas <=
max_replicas``, environment variables with a value or an existing secret (``value_from_secret``,
by name or id), volume mounts of existing volumes at an existing version (the latest by default).
A name another deployment holds is a 409: the request is valid, the state conflicts with it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from mock_server.core.errors import Conflict, InvalidRequest, NotFound
from mock_server.core.lifecycle import begin
from mock_server.core.timefmt import iso
from mock_server.families.base import Call, Operation, standard
from mock_server.families.deployments.model import (
    DEPLOYMENTS,
    RESCALE,
    ROLLOUT,
    VOLUMES,
    replicas,
    when_ready,
)
from mock_server.families.engine import Resources
from mock_server.families.secrets import SECRETS

__all__ = ["OPERATIONS"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REPLICAS = ("min_replicas", "max_replicas")
MAX_REPLICAS = 100


def _checked(resources: Resources, tenant: str, wanted: dict[str, Any], own_id: str = "") -> None:
    """Raise the 400 (or the 409 for a name in use) for the first thing wrong with the
    deployment ``wanted`` describes."""
    name = wanted["name"]
    if not _NAME.fullmatch(name):
        raise InvalidRequest(
            "name must be 1-100 letters, digits, underscores or hyphens", param="name"
        )
    clash = resources.find(DEPLOYMENTS, tenant, name)
    if clash is not None and clash.id != own_id:
        raise Conflict(f"A deployment named {name} already exists", param="name")
    low, high = wanted["min_replicas"], wanted["max_replicas"]
    if low < 0 or high < low:
        raise InvalidRequest(
            f"min_replicas ({low}) must be 0 or more and at most max_replicas ({high})",
            param="min_replicas" if low < 0 else "max_replicas",
        )
    if high > MAX_REPLICAS:  # every replica is listed in replica_events and the logs
        raise InvalidRequest(
            f"max_replicas ({high}) is more than the {MAX_REPLICAS} the simulator runs",
            param="max_replicas",
        )
    for i, variable in enumerate(wanted.get("environment_variables") or ()):
        where = f"environment_variables.{i}"
        if not _ENV_NAME.fullmatch(variable["name"]):
            raise InvalidRequest(
                f"{variable['name']} is not a valid variable name", param=where + ".name"
            )
        secret = variable.get("value_from_secret")
        if secret is None and variable.get("value") is None:
            raise InvalidRequest("Either value or value_from_secret must be set", param=where)
        if secret is not None and resources.find(SECRETS, tenant, secret) is None:
            raise NotFound(
                "secret",
                secret,
                message=f"Secret {secret} not found",
                param=where + ".value_from_secret",
            )


def _mounts(
    resources: Resources, tenant: str, mounts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The volume mounts with each version settled (the volume's latest unless given)."""
    settled = []
    for i, mount in enumerate(mounts):
        volume = resources.find(VOLUMES, tenant, mount["name"])
        if volume is None:
            raise NotFound(
                "volume",
                mount["name"],
                message=f"Volume {mount['name']} not found",
                param=f"volumes.{i}.name",
            )
        latest = volume.body["current_version"]
        version = mount.get("version", latest)
        if not 1 <= version <= latest:
            raise InvalidRequest(
                f"Volume {mount['name']} has versions 1 to {latest}", param=f"volumes.{i}.version"
            )
        settled.append({**mount, "version": version})
    return settled


def create_deployment(resources: Resources, call: Call) -> Any:
    request = call.json()
    low = request.get("min_replicas", 1)
    wanted = {"gpu_count": 0, **request, "min_replicas": low}
    wanted.setdefault("max_replicas", low)
    _checked(resources, call.tenant, wanted)
    fields = {
        **wanted,
        "object": "deployment",
        "desired_replicas": low,
        "volumes": _mounts(resources, call.tenant, request.get("volumes") or []),
    }
    record = resources.create(
        DEPLOYMENTS,
        call.tenant,
        request=request,
        fields=fields,
        private={"revision": 1, "serving": 0},
    )
    return resources.render(DEPLOYMENTS, record)


def update_deployment(resources: Resources, call: Call) -> Any:
    record = resources.get(DEPLOYMENTS, call.tenant, call.path["id"], param="id")
    request = call.json()
    changed = {k: v for k, v in request.items() if record.body.get(k) != v}
    wanted = {**record.body, **request}
    if "min_replicas" in request and "max_replicas" not in request:
        wanted["max_replicas"] = max(wanted["max_replicas"], wanted["min_replicas"])
    _checked(resources, call.tenant, wanted, record.id)
    fields = {"desired_replicas": wanted["min_replicas"], "max_replicas": wanted["max_replicas"]}
    if "volumes" in request:
        fields["volumes"] = _mounts(resources, call.tenant, request["volumes"])
    if not changed:
        return resources.render(DEPLOYMENTS, record)
    serving = resources.render(DEPLOYMENTS, record)["ready_replicas"]
    rescale_only = set(changed) <= set(_REPLICAS)
    revision = record.private["revision"] + (0 if rescale_only else 1)
    progress = begin(
        RESCALE if rescale_only else ROLLOUT, "Ready", resources.now(), resources.speed
    )
    updated = resources.update(
        DEPLOYMENTS,
        record,
        request=request,
        fields=fields,
        private={"revision": revision, "serving": min(serving, wanted["min_replicas"])},
        progress=progress,
    )
    return resources.render(DEPLOYMENTS, updated)


def deployment_logs(resources: Resources, call: Call) -> Any:
    """The current revision's story up to now, replica by replica (``replica_id`` picks one)."""
    record = resources.get(DEPLOYMENTS, call.tenant, call.path["id"], param="id")
    assert record.progress is not None
    now, body = resources.now(), record.body
    since, ready_at = record.progress.since, when_ready(record)
    wanted = call.query.get("replica_id")
    lines: list[tuple[datetime, str]] = []
    for replica in replicas(record):
        if wanted not in (None, replica):
            continue
        lines += [
            (since, f"{replica} together-sim: simulated log, no container runs"),
            (since, f"{replica} Pulling image {body['image']}"),
            (
                since + timedelta(seconds=1),
                f"{replica} Started container (rev-{record.private['revision']})",
            ),
        ]
        if ready_at is not None:
            if body.get("port"):
                lines.append((ready_at, f"{replica} Listening on port {body['port']}"))
            if body.get("health_check_path"):
                lines.append(
                    (ready_at, f"{replica} Health check {body['health_check_path']} passed")
                )
            lines.append((ready_at, f"{replica} Ready"))
    shown = sorted(((m, t) for m, t in lines if m <= now), key=lambda line: line[0])
    return {"lines": [f"{iso(moment)} {text}" for moment, text in shown]}


OPERATIONS = [
    Operation("POST /deployments", create_deployment),
    Operation("PATCH /deployments/{id}", update_deployment),
    Operation("GET /deployments/{id}/logs", deployment_logs),
    *standard(
        DEPLOYMENTS,
        get="GET /deployments/{id}",
        list_="GET /deployments",
        delete="DELETE /deployments/{id}",
    ),
]
