"""A project's models (``/v2/projects/{projectId}/models``): what SDK 3.1.1's ``client.models``
and ``tg models`` list, register, read, change and delete. The models themselves (fine-tune
outputs, uploads and registered models, and how a change to a derived one is kept) are
gathered in ``held.py``; this module is the operations and their checks.

A fine-tune's output keeps its name, the one chat answers on, so renaming it is refused;
deleting it hides it from the project, leaving the job and chat on its output name as they
were. A name is unique in the project (409). Checks are 400s naming the field: ``type``,
``baseModelId``, a qualified ``name`` whose slug is not the project's, ``updateMask``. The
organization's list (``/v2/organizations/{organizationId}/models``) is the project's models
shared with ``VISIBILITY_INTERNAL``: a key's organization holds its one project.
"""

from __future__ import annotations

import re
from typing import Any

from mock_server.catalogue.supported import PUBLIC_PROJECT
from mock_server.core.errors import Conflict, InvalidRequest, NotFound
from mock_server.core.tenancy import organization_id, project_id
from mock_server.families.base import Call
from mock_server.families.engine import Record, Resources
from mock_server.families.project_models.catalogue import (
    model_path,
    public_model,
    public_revision,
    supported_by_id,
)
from mock_server.families.project_models.held import (
    ADAPTER,
    FULL,
    Held,
    held_model,
    held_models,
    owner,
    registered,
)
from mock_server.families.project_models.model import (
    PROJECT_MODELS,
    own_project,
    page,
    v2,
    visible_project,
)

__all__ = ["OPERATIONS"]

_TYPES = {"model": FULL, "models": FULL, "adapter": ADAPTER, "adapters": ADAPTER}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MUTABLE = ("name", "description", "visibility")


def _get_held(resources: Resources, call: Call) -> Held:
    own_project(call)
    found = held_model(resources, call.tenant, call.path["id"])
    if found is None:
        raise NotFound(
            "model", call.path["id"], message=f"Model {call.path['id']} not found", param="id"
        )
    return found


# -- the operations --------------------------------------------------------------------------------


def list_models(resources: Resources, call: Call) -> Any:
    own_project(call)
    organization = call.query.get("organizationId")
    if organization and organization != organization_id(call.tenant):
        raise NotFound(
            "organization",
            organization,
            message=f"Organization {organization} not found",
            param="organizationId",
        )
    visibility = call.query.get("visibility")
    bodies = [
        h.body
        for h in held_models(resources, call.tenant)
        if not visibility or h.body.get("visibility") == visibility
    ]
    return page(call, bodies)


def list_organization_models(resources: Resources, call: Call) -> Any:
    """The models shared with the organization (``VISIBILITY_INTERNAL``): a key's organization
    holds its one project, so these are that project's shared models."""
    organization = call.path["organizationId"]
    if organization != organization_id(call.tenant):
        raise NotFound(
            "organization",
            organization,
            message=f"Organization {organization} not found",
            param="organizationId",
        )
    shared = [
        h.body
        for h in held_models(resources, call.tenant)
        if h.body.get("visibility") == "VISIBILITY_INTERNAL"
    ]
    return page(call, shared)


def get_model(resources: Resources, call: Call) -> Any:
    visible_project(call)
    if call.path["projectId"] == PUBLIC_PROJECT:
        entry = supported_by_id(call.path["id"])
        if entry is None:
            raise NotFound(
                "model", call.path["id"], message=f"Model {call.path['id']} not found", param="id"
            )
        return public_model(entry)
    return _get_held(resources, call).body


def _bare_name(resources: Resources, name: str) -> str:
    """The model's name without the project's slug; a qualified name must carry this project's."""
    slug, _, bare = name.rpartition("/")
    if slug and slug != resources.account:
        raise InvalidRequest(
            f"name {name!r} names project {slug!r}, not this project ({resources.account})",
            param="name",
        )
    if not _NAME.fullmatch(bare):
        raise InvalidRequest(
            f"name {name!r}: use letters, digits, '.', '_' and '-', starting with a letter "
            "or digit",
            param="name",
        )
    return bare


def _check_free(resources: Resources, tenant: str, name: str, but: str | None = None) -> None:
    for held in held_models(resources, tenant):
        if held.body["name"] == name and held.body["id"] != but:
            raise Conflict(f"A model named {name} already exists", param="name")


def create_model(resources: Resources, call: Call) -> Any:
    own_project(call)
    request = call.json()
    weights_type = _TYPES.get(str(request["type"]).lower())
    if weights_type is None:
        raise InvalidRequest(f"type {request['type']!r} is neither model nor adapter", param="type")
    base_id = str(request["baseModelId"])
    base = supported_by_id(base_id)
    if base is None and held_model(resources, call.tenant, base_id) is None:
        raise InvalidRequest(
            f"baseModelId {base_id} is no supported model and no model of this project",
            param="baseModelId",
        )
    name = f"{resources.account}/{_bare_name(resources, str(request['name']))}"
    _check_free(resources, call.tenant, name)
    fields: dict[str, Any] = {
        **owner(call.tenant),
        "name": name,
        "weights": {"type": weights_type},
        "baseModelId": base_id,
        "baseModel": model_path(PUBLIC_PROJECT if base else project_id(call.tenant), base_id),
        "visibility": "VISIBILITY_PRIVATE",
    }
    if request.get("description"):
        fields["description"] = request["description"]
    record = resources.create(PROJECT_MODELS, call.tenant, fields=fields)
    return registered(resources, record).body


def _mask(call: Call) -> tuple[str, ...] | None:
    raw = call.query.get("updateMask")
    if not raw:
        return None
    names = tuple(part.strip() for part in str(raw).split(",") if part.strip())
    for name in names:
        if name not in _MUTABLE:
            raise InvalidRequest(
                f"updateMask names {name!r}; the mutable fields are {', '.join(_MUTABLE)}",
                param="updateMask",
            )
    return names


def _keep_change(
    resources: Resources, tenant: str, held: Held, change: dict[str, Any], *, deleted: bool = False
) -> None:
    """Keep a change to a derived model (a fine-tune's output, an upload) as a record of the
    changed fields alone, under the model's id."""
    record = held.record or Record(held.body["id"], tenant, resources.now(), {})
    private = {"derived": True, "deleted": deleted}
    resources.save(PROJECT_MODELS, record.replace(body=change, private=private))


def update_model(resources: Resources, call: Call) -> Any:
    held = _get_held(resources, call)
    request = call.json()
    mask = _mask(call)
    # Without a mask every mutable field is overwritten: one left out is cleared (the
    # visibility to its default); the name, which a model cannot be without, is kept.
    changed = {n: request[n] for n in mask or _MUTABLE if request.get(n) is not None}
    body = {**held.body, **changed}
    if mask is None:
        if "visibility" not in changed:
            body["visibility"] = "VISIBILITY_PRIVATE"
        if "description" not in changed:
            body.pop("description", None)
    if "name" in changed:
        name = f"{resources.account}/{_bare_name(resources, str(changed['name']))}"
        if name != held.body["name"] and held.source != "registered":
            raise InvalidRequest(
                f"{held.body['name']} is a {held.source.replace('_', '-')} output's name, which "
                "chat answers on: it cannot change",
                param="name",
            )
        _check_free(resources, call.tenant, name, but=held.body["id"])
        body["name"] = name
    if held.source == "registered":
        assert held.record is not None
        stored = {k: v for k, v in body.items() if k in held.record.body or k in changed}
        record = held.record.replace(body=stored)
        resources.save(PROJECT_MODELS, record)
        return registered(resources, record).body
    _keep_change(
        resources,
        call.tenant,
        held,
        {k: body[k] for k in ("description", "visibility") if k in body},
    )
    return body


def delete_model(resources: Resources, call: Call) -> Any:
    held = _get_held(resources, call)
    if held.source == "registered":
        assert held.record is not None
        resources.delete(PROJECT_MODELS, held.record)
    else:
        _keep_change(resources, call.tenant, held, {}, deleted=True)
    return {}


def list_model_files(resources: Resources, call: Call) -> Any:
    held = _get_held(resources, call)
    wanted = call.query.get("revisionId")
    if wanted:
        revision = next((r for r in held.revisions if r["revisionId"] == wanted), None)
        if revision is None:
            raise NotFound(
                "revision", wanted, message=f"Revision {wanted} not found", param="revisionId"
            )
    elif held.revisions:
        revision = held.revisions[0]
    else:
        return {"object": "list", "data": []}
    files = held.files[revision["revisionId"]]
    return {
        "object": "list",
        "data": files,
        "revisionId": revision["revisionId"],
        "revisionCreatedAt": revision["createdAt"],
        "totalSizeBytes": str(sum(int(f["sizeBytes"]) for f in files)),
    }


def _revisions(resources: Resources, call: Call) -> list[dict[str, Any]]:
    """A model's revisions: a project model's, or, in the public project, a catalogue model's
    one (the revision a deployment of it names, ``catalogue.model_ids``)."""
    if visible_project(call) == PUBLIC_PROJECT:
        model_id = call.path["id"]
        entry = supported_by_id(model_id)
        if entry is None:
            raise NotFound("model", model_id, message=f"Model {model_id} not found", param="id")
        return [public_revision(entry)]
    return _get_held(resources, call).revisions


def list_model_revisions(resources: Resources, call: Call) -> Any:
    return {"object": "list", "data": _revisions(resources, call)}


def get_model_revision(resources: Resources, call: Call) -> Any:
    wanted = call.path["revisionId"]
    for revision in _revisions(resources, call):
        if revision["revisionId"] == wanted:
            return revision
    raise NotFound("revision", wanted, message=f"Revision {wanted} not found", param="revisionId")


OPERATIONS = [
    v2("GET /projects/{projectId}/models", list_models),
    v2("GET /organizations/{organizationId}/models", list_organization_models),
    v2("POST /projects/{projectId}/models", create_model),
    v2("GET /projects/{projectId}/models/{id}", get_model),
    v2("PATCH /projects/{projectId}/models/{id}", update_model),
    v2("DELETE /projects/{projectId}/models/{id}", delete_model),
    v2("GET /projects/{projectId}/models/{id}/files", list_model_files),
    v2("GET /projects/{projectId}/models/{id}/revisions", list_model_revisions),
    v2("GET /projects/{projectId}/models/{id}/revisions/{revisionId}", get_model_revision),
]
