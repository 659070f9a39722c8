"""The simulator (stateful mode) with the generic layer behind its domain routers: every spec
operation that no router simulates is still answered, from the spec, after the same checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from mock_server.spec.fallback import index_of, routing_table
from mock_server.spec.lazy import LazyRoutes
from mock_server.spec.routing import SpecRoute
from openapi import load_pin
from tests.steps import auth

# What the domain routers simulate of the April spec's operations; a later family moves its
# operations from the generic layer to here, and this list with it.
DOMAIN = {
    ("POST", "/chat/completions"): "inference.routes.chat_completions",
    ("POST", "/completions"): "inference.routes.completions",
    ("GET", "/models"): "families.model_list.list_models",
    ("GET", "/files"): "files.routes.list_files",
    ("GET", "/files/{id}"): "files.routes.retrieve_file",
    ("DELETE", "/files/{id}"): "files.routes.delete_file",
    ("GET", "/files/{id}/content"): "files.routes.file_content",
    ("POST", "/files/upload"): "files.routes.upload_file",
    ("POST", "/fine-tunes"): "fine_tuning.routes.create_fine_tune",
    ("GET", "/fine-tunes"): "fine_tuning.routes.list_fine_tunes",
    ("POST", "/fine-tunes/estimate-price"): "fine_tuning.routes.estimate_price",
    ("GET", "/fine-tunes/{id}"): "fine_tuning.routes.retrieve_fine_tune",
    ("DELETE", "/fine-tunes/{id}"): "fine_tuning.routes.delete_fine_tune",
    ("GET", "/fine-tunes/{id}/events"): "fine_tuning.routes.list_events",
    ("GET", "/fine-tunes/{id}/checkpoints"): "fine_tuning.routes.list_checkpoints",
    ("GET", "/finetune/download"): "fine_tuning.routes.download",
    ("POST", "/fine-tunes/{id}/cancel"): "fine_tuning.routes.cancel_fine_tune",
    ("GET", "/fine-tunes/{id}/metrics"): "fine_tuning.routes.get_metrics",
    ("GET", "/fine-tunes/models/supported"): "fine_tuning.routes.supported_models",
    ("GET", "/fine-tunes/models/limits"): "fine_tuning.routes.model_limits",
    ("GET", "/clusters/availability-zones"): "endpoints.routes.availability_zones",
    ("GET", "/endpoints"): "endpoints.routes.list_endpoints",
    ("POST", "/endpoints"): "endpoints.routes.create_endpoint",
    ("GET", "/endpoints/{endpointId}"): "endpoints.routes.get_endpoint",
    ("PATCH", "/endpoints/{endpointId}"): "endpoints.routes.update_endpoint",
    ("DELETE", "/endpoints/{endpointId}"): "endpoints.routes.delete_endpoint",
    ("GET", "/hardware"): "endpoints.routes.list_hardware",
    # the batch and inference-style families (batches/, embeddings/ with rerank, images/, audio/)
    ("GET", "/batches"): "batches.routes.list_batches",
    ("POST", "/batches"): "batches.routes.create_batch",
    ("GET", "/batches/{id}"): "batches.routes.get_batch",
    ("POST", "/batches/{id}/cancel"): "batches.routes.cancel_batch",
    ("POST", "/embeddings"): "embeddings.routes.create_embedding",
    ("POST", "/rerank"): "embeddings.rerank_routes.create_rerank",
    ("POST", "/images/generations"): "images.routes.create_image",
    ("POST", "/audio/speech"): "audio.routes.create_speech",
    ("POST", "/audio/transcriptions"): "audio.routes.create_transcription",
    ("POST", "/audio/translations"): "audio.routes.create_translation",
    ("GET", "/voices"): "audio.routes.list_voices",
    # the stateful families of mock_server/families/, mounted by families/routes.py
    ("GET", "/deployments"): "families.routes.list_deployments",
    ("POST", "/deployments"): "families.routes.create_deployment",
    ("DELETE", "/deployments/{id}"): "families.routes.delete_deployment",
    ("GET", "/deployments/{id}"): "families.routes.get_deployment",
    ("PATCH", "/deployments/{id}"): "families.routes.update_deployment",
    ("GET", "/deployments/{id}/logs"): "families.routes.deployment_logs",
    ("GET", "/deployments/secrets"): "families.routes.list_secrets",
    ("POST", "/deployments/secrets"): "families.routes.create_secret",
    ("DELETE", "/deployments/secrets/{id}"): "families.routes.delete_secret",
    ("GET", "/deployments/secrets/{id}"): "families.routes.get_secret",
    ("PATCH", "/deployments/secrets/{id}"): "families.routes.update_secret",
    ("GET", "/deployments/storage/{filename}"): "families.routes.download_storage_file",
    ("GET", "/deployments/storage/volumes"): "families.routes.list_deployment_volumes",
    ("POST", "/deployments/storage/volumes"): "families.routes.create_deployment_volume",
    ("DELETE", "/deployments/storage/volumes/{id}"): "families.routes.delete_deployment_volume",
    ("GET", "/deployments/storage/volumes/{id}"): "families.routes.get_deployment_volume",
    ("PATCH", "/deployments/storage/volumes/{id}"): "families.routes.update_deployment_volume",
    ("GET", "/videos/{id}"): "families.routes.get_video",
    ("POST", "/videos"): "families.routes.create_video",
    ("POST", "/models"): "families.routes.upload_model",
    ("GET", "/jobs/{jobId}"): "families.routes.get_job",
    ("GET", "/jobs"): "families.routes.list_jobs",
    ("GET", "/compute/clusters"): "families.routes.list_clusters",
    ("POST", "/compute/clusters"): "families.routes.create_cluster",
    ("GET", "/compute/clusters/{cluster_id}"): "families.routes.get_cluster",
    ("PUT", "/compute/clusters/{cluster_id}"): "families.routes.update_cluster",
    ("DELETE", "/compute/clusters/{cluster_id}"): "families.routes.delete_cluster",
    ("GET", "/compute/regions"): "families.routes.list_regions",
    ("GET", "/compute/clusters/storage/volumes"): "families.routes.list_shared_volumes",
    ("PUT", "/compute/clusters/storage/volumes"): "families.routes.update_shared_volume",
    ("POST", "/compute/clusters/storage/volumes"): "families.routes.create_shared_volume",
    ("GET", "/compute/clusters/storage/volumes/{volume_id}"): "families.routes.get_shared_volume",
    (
        "DELETE",
        "/compute/clusters/storage/volumes/{volume_id}",
    ): "families.routes.delete_shared_volume",
    ("POST", "/tci/execute"): "families.routes.execute_code",
    ("GET", "/tci/sessions"): "families.routes.list_code_sessions",
    ("POST", "/evaluation"): "families.routes.create_evaluation",
    ("GET", "/evaluation"): "families.routes.list_evaluations",
    ("GET", "/evaluation/model-list"): "families.routes.model_list",
    ("GET", "/evaluation/{id}"): "families.routes.get_evaluation",
    ("GET", "/evaluation/{id}/status"): "families.routes.evaluation_status",
    ("POST", "/queue/cancel"): "families.routes.cancel_queue_job",
    ("GET", "/queue/metrics"): "families.routes.queue_metrics",
    ("GET", "/queue/status"): "families.routes.queue_job_status",
    ("POST", "/queue/submit"): "families.routes.submit_queue_job",
    ("GET", "/rl/training-sessions"): "families.routes.list_training_sessions",
    ("POST", "/rl/training-sessions"): "families.routes.start_training_session",
    ("GET", "/rl/training-sessions/{session_id}"): "families.routes.get_training_session",
    ("POST", "/rl/training-sessions/{session_id}/stop"): "families.routes.stop_training_session",
    **{
        (method, f"/rl/training-sessions/{{session_id}}/operations/{kind}{tail}"): (
            f"families.routes.{verb}{kind.replace('-', '_')}"
        )
        for kind in (
            "forward-backward",
            "optim-step",
            "sample",
            "inference-checkpoint",
            "training-checkpoint",
        )
        for method, tail, verb in (("POST", "", ""), ("GET", "/{operation_id}", "get_"))
    },
    ("GET", "/rl/checkpoints/{id}/download"): "families.routes.download_checkpoint",
}


def test_each_operation_is_served_by_its_domain_router_or_else_the_generic_layer(
    app: FastAPI,
) -> None:
    table = {(op.method, op.path): server for op, server in routing_table(app)}
    assert len(table) == load_pin().operations + 15 == 212  # + SDK 3.1.1's (the overlay's)
    domain = {key: server for key, server in table.items() if server != "generic"}
    # The April-era routers exactly; the August operations' routers (projects, project models,
    # configs...) are each a module's handler too.
    assert {key: domain.get(key) for key in DOMAIN} == DOMAIN
    assert all(re.fullmatch(r"\w+(\.\w+)+", server) for server in domain.values()), domain


def test_an_operation_without_a_domain_module_answers_from_the_spec(client: TestClient) -> None:
    websocket = client.get("/v1/audio/speech/websocket", headers=auth())
    assert websocket.status_code == 400
    assert "does not serve WebSockets" in websocket.json()["error"]["message"]


def test_the_generic_layer_checks_keys_and_requests_as_the_routers_do(client: TestClient) -> None:
    anonymous = client.get("/v1/batches/batch-17")
    broken = client.post("/v1/deployments/secrets", headers=auth(), json={"name": "HF"})
    assert anonymous.status_code == 401
    assert broken.status_code == 400
    assert broken.json()["error"]["param"] == "value"


def test_a_domain_router_keeps_its_operations(client: TestClient) -> None:
    missing = client.get("/v1/fine-tunes/ft-00000000-0000-4000-8000-00000000dead", headers=auth())
    assert missing.status_code == 404  # the store's answer, not a synthesized job


def test_a_wrong_method_on_a_route_outside_the_spec_is_still_a_405(client: TestClient) -> None:
    response = client.get("/v1/files/file-1/preprocess", headers=auth())
    assert (response.status_code, response.headers["allow"]) == (405, "POST")


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.165 nests routers
        if isinstance(route, LazyRoutes):  # a group built on first use (spec/lazy.py)
            included = route
        yield from _routes(included.routes) if included is not None else (route,)


def test_every_operation_a_router_claims_passes_the_one_spec_gate(app: FastAPI) -> None:
    # Typed routes and family rows alike: the spec's check and error shapes, never their own.
    index = index_of(app)
    gated: set[tuple[str, str]] = set()
    for route in _routes(app.router.routes):
        for method in getattr(route, "methods", None) or ():
            found = index.match(method, re.sub(r"\{[^}]+\}", "x-1", getattr(route, "path", "")))
            if found is not None and isinstance(route, APIRoute):
                assert isinstance(route, SpecRoute), f"{method} {route.path}"
                gated.add((found[0].method, found[0].path))
    assert gated == {
        (op.method, op.path) for op, server in routing_table(app) if server != "generic"
    }
    assert set(DOMAIN) <= gated
