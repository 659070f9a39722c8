"""The configs a project may deploy with (``/v2/projects/{projectId}/configs``): the public
catalogue's, one per deployable model (``catalogue.py``). A project sees them all;
``referenceModelId`` / ``referenceModel`` filter them by the model they run, where a project's own
model (a fine-tune's adapter, a registered model) stands for the catalogue model it is based on,
as SDK 3.1.1's CLI expects when it deploys one (``tg models configs``, ``tg endpoints deploy``).
A path of another project than the key's or the public one is a 404 naming ``projectId``.
"""

from __future__ import annotations

from typing import Any

from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Resources
from mock_server.families.project_models.catalogue import (
    config_body,
    deployable,
    supported_by_id,
)
from mock_server.families.project_models.held import find_model
from mock_server.families.project_models.model import config_id_of, page, visible_project

__all__ = ["OPERATIONS", "base_of"]


def base_of(resources: Resources, tenant: str, model_id: str) -> str | None:
    """The catalogue model a model id runs as: itself, or a project model's base."""
    if supported_by_id(model_id) is not None:
        return model_id
    found = find_model(resources, tenant, model_id)
    base = found.get("baseModelId") if found else None
    return base if isinstance(base, str) and supported_by_id(base) is not None else None


def _reference_id(call: Call) -> str | None:
    by_id = call.query.get("referenceModelId")
    by_name = call.query.get("referenceModel")
    from_name = None
    if by_name:
        parts = str(by_name).split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != "models":
            raise InvalidRequest(
                f"referenceModel {by_name!r} is not projects/<projectId>/models/<modelId>",
                param="referenceModel",
            )
        from_name = parts[3]
    if by_id and from_name and by_id != from_name:
        raise InvalidRequest(
            "referenceModelId and referenceModel name different models", param="referenceModel"
        )
    return by_id or from_name


def list_project_configs(resources: Resources, call: Call) -> Any:
    visible_project(call)
    reference = _reference_id(call)
    configs = [config_body(s) for s in deployable()]
    if reference is not None:
        base = base_of(resources, call.tenant, reference)
        configs = [c for c in configs if c["referenceModelId"] == base]
    return page(call, configs)


def get_project_config(resources: Resources, call: Call) -> Any:
    del resources
    visible_project(call)
    for entry in deployable():
        if config_id_of(entry.name) == call.path["id"]:
            return config_body(entry)
    raise NotFound(
        "config", call.path["id"], message=f"Config {call.path['id']} not found", param="id"
    )


OPERATIONS = [
    Operation(
        "GET /projects/{projectId}/configs",
        list_project_configs,
        also=("/v2/projects/{projectId}/configs",),
    ),
    Operation(
        "GET /projects/{projectId}/configs/{id}",
        get_project_config,
        also=("/v2/projects/{projectId}/configs/{id}",),
    ),
]
