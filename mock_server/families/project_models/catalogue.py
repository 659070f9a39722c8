"""The public catalogue over the v2 API: ``/v2/supported-models``, the inference instance types
(``/v2/public/inference-instance-types``) and the configs a project may deploy with
(``/v2/projects/{projectId}/configs``), all rendered from ``catalogue/supported.py``.

A supported model links to itself as the base (``baseModelId``, ``baseModel``) and to one
deployment profile: the config it is certified with and the public model resource
``projects/proj-together/models/<id>``, which ``GET /v2/projects/proj-together/models/<id>``
answers for any key (``models.py``). Configs are the catalogue's: a project sees them all, and
``referenceModelId`` / ``referenceModel`` filter them by the model they run, where a project's
own model (a fine-tune's adapter, a registered model) stands for its base, as SDK 3.1.1's CLI
expects when it deploys one.

Nothing here changes with time or tenant but the project in the path.
"""

from __future__ import annotations

from typing import Any

from mock_server.catalogue import supported as catalogue
from mock_server.catalogue.hardware import Hardware
from mock_server.catalogue.model_ids import catalogue_revision_id
from mock_server.catalogue.supported import (
    CATALOGUE_SINCE,
    PUBLIC_ORGANIZATION,
    PUBLIC_PROJECT,
    Supported,
)
from mock_server.core.errors import NotFound
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Resources
from mock_server.families.project_models.model import (
    config_id_of,
    model_id_of,
    page,
)

__all__ = [
    "OPERATIONS",
    "config_body",
    "deployable",
    "model_path",
    "public_model",
    "public_revision",
    "supported_by_id",
    "weights_of",
]


def model_path(project: str, model_id: str) -> str:
    return f"projects/{project}/models/{model_id}"


def _revision(entry: Supported) -> str:
    return catalogue_revision_id(entry.name)


def _decoding_speed(param_count: int) -> float:
    """Tokens a second of one replica: bandwidth-bound decoding, ~1.6e12 parameter-reads a
    second on the profile's cards.  # estimated"""
    return round(max(20.0, min(400.0, 1.6e12 / param_count)), 1)


def _profile(entry: Supported, card: Hardware) -> dict[str, Any]:
    assert entry.param_count is not None
    config_id = config_id_of(entry.name)
    return {
        "profileId": config_id,
        "certifiedConfigRevisionId": config_id,
        "certifiedModelRevisionId": _revision(entry),
        "gpuType": catalogue.accelerator(card),
        "gpuCount": card.gpu_count,
        "quantization": "BF16",
        "performanceBenchmarks": {
            "decodingSpeedTps": _decoding_speed(entry.param_count),
            "timeToFirstTokenMs": 150 + entry.param_count // 1_000_000_000,  # estimated
            "maxContextLength": str(entry.context_length),
        },
        "config": f"projects/{PUBLIC_PROJECT}/configs/{config_id}",
        "model": model_path(PUBLIC_PROJECT, model_id_of(entry.name)),
        "parallelism": f"TP{card.gpu_count}",
        "modelName": entry.name,
        # Not in the spec's schema: SDK 3.1.1's profile type has it, and its ``list_supported``
        # filters on it (``adapterMode``).
        "adapterMode": f"ADAPTER_MODE_{entry.adapter_mode.upper()}",
    }


def supported_body(entry: Supported) -> dict[str, Any]:
    """A ``DE.SupportedModel``."""
    model_id = model_id_of(entry.name)
    body: dict[str, Any] = {
        "id": model_id,
        "name": entry.name,
        "displayName": entry.display_name,
        "description": f"{entry.display_name} ({entry.display_type}), simulated by together-sim",
        "inputModalities": list(entry.input_modalities),
        "outputModalities": list(entry.output_modalities),
        "products": list(entry.products),
        "features": list(entry.features),
        "capabilities": [entry.capability],
        "publisher": entry.publisher,
        "status": "SUPPORTED_MODEL_STATUS_SUPPORTED",
        "tags": [entry.display_type],
        "serverlessEndpoint": entry.name,
        "familyId": entry.publisher.lower(),
        "displayType": entry.display_type,
        "baseModelId": model_id,
        "baseModel": model_path(PUBLIC_PROJECT, model_id),
        "deploymentProfiles": [_profile(entry, entry.hardware)] if entry.hardware else [],
        "createdAt": CATALOGUE_SINCE,
        "updatedAt": CATALOGUE_SINCE,
    }
    if entry.architecture:
        body["architecture"] = entry.architecture
    if entry.context_length:
        body["contextLength"] = str(entry.context_length)
    return body


def supported_by_id(model_id: str) -> Supported | None:
    return next((s for s in catalogue.SUPPORTED if model_id_of(s.name) == model_id), None)


def weights_of(entry: Supported, weights_type: str = "WEIGHTS_TYPE_DEFAULT") -> dict[str, Any]:
    """The ``DE.ModelWeights`` of a catalogue model (or of weights derived from it)."""
    weights: dict[str, Any] = {"type": weights_type}
    if entry.architecture:
        weights["architecture"] = entry.architecture
    if entry.context_length:
        weights["contextLength"] = str(entry.context_length)
    if entry.param_count:
        count = str(entry.param_count)
        weights["parameters"] = {"total": count, "byDtype": [{"dtype": "bfloat16", "count": count}]}
    return weights


def public_model(entry: Supported) -> dict[str, Any]:
    """A catalogue model as a ``DE.Model`` of the public project. The spec's visibility enum
    has no public value, so it reads ``VISIBILITY_INTERNAL``: shared beyond one project."""
    return {
        "id": model_id_of(entry.name),
        "projectId": PUBLIC_PROJECT,
        "organizationId": PUBLIC_ORGANIZATION,
        "name": entry.name,
        "description": f"{entry.display_name}, from the public catalogue",
        "weights": weights_of(entry),
        "visibility": "VISIBILITY_INTERNAL",
    }


def public_revision(entry: Supported) -> dict[str, Any]:
    """A catalogue model's one revision (``DE.ModelRevision``), there since the catalogue is."""
    return {
        "revisionId": _revision(entry),
        "createdAt": CATALOGUE_SINCE,
        "validationStatus": "REVISION_VALIDATION_STATUS_SUCCESS",
        "lastValidatedAt": CATALOGUE_SINCE,
        "validationErrors": [],
    }


def config_body(entry: Supported) -> dict[str, Any]:
    """The ``DE.ModelConfig`` a deployable catalogue model is certified with."""
    assert entry.hardware is not None
    model_id = model_id_of(entry.name)
    reference = model_path(PUBLIC_PROJECT, model_id)
    return {
        "id": config_id_of(entry.name),
        "certifications": [
            {
                "target": "CERTIFICATION_TARGET_DE_SERVERLESS",
                "certificationType": "CERTIFICATION_TYPE_CERTIFIED",
                "certifiedAt": CATALOGUE_SINCE,
                "certifiedBy": "together-sim",
                "model": reference,
                "modelRevisionId": _revision(entry),
            }
        ],
        "referenceModelId": model_id,
        "selectors": [
            {"key": "accelerator_type", "value": catalogue.accelerator(entry.hardware)},
            {"key": "accelerator_count", "value": str(entry.hardware.gpu_count)},
            {"key": "adapter_mode", "value": entry.adapter_mode},
        ],
        "projectId": PUBLIC_PROJECT,
        "referenceModel": reference,
    }


def deployable() -> list[Supported]:
    return [s for s in catalogue.SUPPORTED if s.hardware is not None]


# -- supported models ------------------------------------------------------------------------------


def _matches(entry: Supported, call: Call) -> bool:
    modality = call.query.get("modality")
    if modality and modality not in entry.input_modalities:
        return False
    product = call.query.get("product")
    if product and product not in entry.products:
        return False
    mode = call.query.get("adapterMode")  # SDK 3.1.1's filter, where the spec lists it
    if mode and mode != f"ADAPTER_MODE_{entry.adapter_mode.upper()}":
        return False
    search = str(call.query.get("search") or "").lower()
    body = supported_body(entry)
    haystack = (body["id"], body["name"], body["description"])
    return not search or any(search in text.lower() for text in haystack)


def list_supported_models(resources: Resources, call: Call) -> Any:
    del resources
    return page(call, [supported_body(s) for s in catalogue.SUPPORTED if _matches(s, call)])


def get_supported_model(resources: Resources, call: Call) -> Any:
    del resources
    entry = supported_by_id(call.path["id"]) or catalogue.get(call.path["id"])
    if entry is None:
        raise NotFound(
            "supported_model",
            call.path["id"],
            message=f"Supported model {call.path['id']} not found",
            param="id",
        )
    return supported_body(entry)


# -- instance types --------------------------------------------------------------------------------


def _instance_body(kind: catalogue.InstanceType) -> dict[str, Any]:
    card = kind.hardware
    gpu = card.gpu_type.split("-", 1)[0].upper()  # "h100-80gb" -> "H100", the spec's spelling
    return {
        "id": card.id,
        "name": catalogue.instance_name(card),
        "description": f"{card.gpu_count}x NVIDIA {gpu} {card.gpu_memory}GB "
        f"{card.gpu_link.upper()}",
        "gpuType": gpu,
        "gpuCount": card.gpu_count,
        "gpuMemoryGib": card.gpu_memory,
        "priceCentsPerHour": round(card.cents_per_minute * 60),
        "regions": [
            {"name": region, "headroom": {"value": 8, "relation": "RELATION_GTE"}}  # estimated
            for region in kind.regions
        ],
    }


def list_instance_types(resources: Resources, call: Call) -> Any:
    del resources, call
    return {"object": "list", "data": [_instance_body(k) for k in catalogue.INSTANCE_TYPES]}


def get_instance_type(resources: Resources, call: Call) -> Any:
    del resources
    wanted = call.path["id"]
    for kind in catalogue.INSTANCE_TYPES:
        if wanted in (kind.hardware.id, catalogue.instance_name(kind.hardware)):
            return _instance_body(kind)
    raise NotFound("instance_type", wanted, message=f"Instance type {wanted} not found", param="id")


OPERATIONS = [
    Operation("GET /supported-models", list_supported_models, also=("/v2/supported-models",)),
    Operation(
        "GET /supported-models/{id}", get_supported_model, also=("/v2/supported-models/{id}",)
    ),
    Operation(
        "GET /public/inference-instance-types",
        list_instance_types,
        also=("/v2/public/inference-instance-types",),
    ),
    Operation(
        "GET /public/inference-instance-types/{id}",
        get_instance_type,
        also=("/v2/public/inference-instance-types/{id}",),
    ),
]
