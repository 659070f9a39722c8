"""Project secrets (``/deployments/secrets``): values that deployments read into environment
variables (``value_from_secret``). A secret is found by its id or its name, as the spec says; its
value is kept and never shown again, as the service's is. Names are unique within a tenant: a
name in use answers 409, a conflict with state rather than a bad request."""

from __future__ import annotations

from typing import Any

from mock_server.core.errors import Conflict
from mock_server.families.base import Call, Operation, standard
from mock_server.families.engine import Family, Resources, prefixed

__all__ = ["OPERATIONS", "SECRETS"]

SECRETS = Family(
    kind="secret",
    schema="GET /deployments/secrets/{id}",
    new_id=prefixed("secret"),
    name_field="name",
)


def _check_name_free(resources: Resources, tenant: str, name: str, own_id: str = "") -> None:
    clash = resources.find(SECRETS, tenant, name)
    if clash is not None and clash.id != own_id:
        raise Conflict(f"A secret named {name} already exists", param="name")


def create_secret(resources: Resources, call: Call) -> Any:
    request = call.json()
    _check_name_free(resources, call.tenant, request["name"])
    account = resources.account
    record = resources.create(
        SECRETS,
        call.tenant,
        request=request,
        fields={"created_by": account, "last_updated_by": account},
        private={"value": request["value"]},
    )
    return resources.render(SECRETS, record)


def update_secret(resources: Resources, call: Call) -> Any:
    record = resources.get(SECRETS, call.tenant, call.path["id"], param="id")
    request = call.json()
    if "name" in request:
        _check_name_free(resources, call.tenant, request["name"], record.id)
    private = {"value": request["value"]} if "value" in request else None
    updated = resources.update(
        SECRETS,
        record,
        request=request,
        fields={"last_updated_by": resources.account},
        private=private,
    )
    return resources.render(SECRETS, updated)


OPERATIONS = [
    Operation("POST /deployments/secrets", create_secret),
    Operation("PATCH /deployments/secrets/{id}", update_secret),
    *standard(
        SECRETS,
        get="GET /deployments/secrets/{id}",
        list_="GET /deployments/secrets",
        delete="DELETE /deployments/secrets/{id}",
    ),
]
