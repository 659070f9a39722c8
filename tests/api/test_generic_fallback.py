"""The simulator (stateful mode) with the generic layer behind its domain routers: every spec
operation that no router simulates is still answered, from the spec, after the same checks."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.routes.generic import routing_table
from tests.api.steps import auth

# What the domain routers simulate today; a later family (batches, evaluations...) moves its
# operations from the generic layer to here, and this list with it.
DOMAIN = {
    ("POST", "/chat/completions"): "inference.chat_completions",
    ("POST", "/completions"): "inference.completions",
    ("GET", "/models"): "models.list_models",
    ("GET", "/files"): "files.list_files",
    ("GET", "/files/{id}"): "files.retrieve_file",
    ("DELETE", "/files/{id}"): "files.delete_file",
    ("GET", "/files/{id}/content"): "files.file_content",
    ("POST", "/files/upload"): "files.upload_file",
    ("POST", "/fine-tunes"): "fine_tunes.create_fine_tune",
    ("GET", "/fine-tunes"): "fine_tunes.list_fine_tunes",
    ("POST", "/fine-tunes/estimate-price"): "fine_tunes.estimate_price",
    ("GET", "/fine-tunes/{id}"): "fine_tunes.retrieve_fine_tune",
    ("DELETE", "/fine-tunes/{id}"): "fine_tunes.delete_fine_tune",
    ("GET", "/fine-tunes/{id}/events"): "fine_tunes.list_events",
    ("GET", "/fine-tunes/{id}/checkpoints"): "fine_tunes.list_checkpoints",
    ("GET", "/finetune/download"): "fine_tunes.download",
    ("POST", "/fine-tunes/{id}/cancel"): "fine_tunes.cancel_fine_tune",
    ("GET", "/fine-tunes/{id}/metrics"): "fine_tunes.get_metrics",
    ("GET", "/fine-tunes/models/supported"): "fine_tunes.supported_models",
    ("GET", "/fine-tunes/models/limits"): "fine_tunes.model_limits",
    ("GET", "/clusters/availability-zones"): "endpoints.availability_zones",
    ("GET", "/endpoints"): "endpoints.list_endpoints",
    ("POST", "/endpoints"): "endpoints.create_endpoint",
    ("GET", "/endpoints/{endpointId}"): "endpoints.get_endpoint",
    ("PATCH", "/endpoints/{endpointId}"): "endpoints.update_endpoint",
    ("DELETE", "/endpoints/{endpointId}"): "endpoints.delete_endpoint",
    ("GET", "/hardware"): "endpoints.list_hardware",
    # the batch and inference-style families (routes/batches.py, embeddings.py, rerank.py,
    # images.py, audio.py)
    ("GET", "/batches"): "batches.list_batches",
    ("POST", "/batches"): "batches.create_batch",
    ("GET", "/batches/{id}"): "batches.get_batch",
    ("POST", "/batches/{id}/cancel"): "batches.cancel_batch",
    ("POST", "/embeddings"): "embeddings.create_embedding",
    ("POST", "/rerank"): "rerank.create_rerank",
    ("POST", "/images/generations"): "images.create_image",
    ("POST", "/audio/speech"): "audio.create_speech",
    ("POST", "/audio/transcriptions"): "audio.create_transcription",
    ("POST", "/audio/translations"): "audio.create_translation",
    ("GET", "/voices"): "audio.list_voices",
    # the stateful families of mock_server/families/, mounted by routes/resources.py
    ("GET", "/deployments"): "resources.list_deployments",
    ("POST", "/deployments"): "resources.create_deployment",
    ("DELETE", "/deployments/{id}"): "resources.delete_deployment",
    ("GET", "/deployments/{id}"): "resources.get_deployment",
    ("PATCH", "/deployments/{id}"): "resources.update_deployment",
    ("GET", "/deployments/{id}/logs"): "resources.deployment_logs",
    ("GET", "/deployments/secrets"): "resources.list_secrets",
    ("POST", "/deployments/secrets"): "resources.create_secret",
    ("DELETE", "/deployments/secrets/{id}"): "resources.delete_secret",
    ("GET", "/deployments/secrets/{id}"): "resources.get_secret",
    ("PATCH", "/deployments/secrets/{id}"): "resources.update_secret",
    ("GET", "/deployments/storage/{filename}"): "resources.download_storage_file",
    ("GET", "/deployments/storage/volumes"): "resources.list_deployment_volumes",
    ("POST", "/deployments/storage/volumes"): "resources.create_deployment_volume",
    ("DELETE", "/deployments/storage/volumes/{id}"): "resources.delete_deployment_volume",
    ("GET", "/deployments/storage/volumes/{id}"): "resources.get_deployment_volume",
    ("PATCH", "/deployments/storage/volumes/{id}"): "resources.update_deployment_volume",
    ("GET", "/videos/{id}"): "resources.get_video",
    ("POST", "/videos"): "resources.create_video",
    ("POST", "/models"): "resources.upload_model",
    ("GET", "/jobs/{jobId}"): "resources.get_job",
    ("GET", "/jobs"): "resources.list_jobs",
    ("GET", "/compute/clusters"): "resources.list_clusters",
    ("POST", "/compute/clusters"): "resources.create_cluster",
    ("GET", "/compute/clusters/{cluster_id}"): "resources.get_cluster",
    ("PUT", "/compute/clusters/{cluster_id}"): "resources.update_cluster",
    ("DELETE", "/compute/clusters/{cluster_id}"): "resources.delete_cluster",
    ("GET", "/compute/regions"): "resources.list_regions",
    ("GET", "/compute/clusters/storage/volumes"): "resources.list_shared_volumes",
    ("PUT", "/compute/clusters/storage/volumes"): "resources.update_shared_volume",
    ("POST", "/compute/clusters/storage/volumes"): "resources.create_shared_volume",
    ("GET", "/compute/clusters/storage/volumes/{volume_id}"): "resources.get_shared_volume",
    ("DELETE", "/compute/clusters/storage/volumes/{volume_id}"): "resources.delete_shared_volume",
    ("POST", "/tci/execute"): "resources.execute_code",
    ("GET", "/tci/sessions"): "resources.list_code_sessions",
    ("POST", "/evaluation"): "resources.create_evaluation",
    ("GET", "/evaluation"): "resources.list_evaluations",
    ("GET", "/evaluation/model-list"): "resources.model_list",
    ("GET", "/evaluation/{id}"): "resources.get_evaluation",
    ("GET", "/evaluation/{id}/status"): "resources.evaluation_status",
    ("POST", "/queue/cancel"): "resources.cancel_queue_job",
    ("GET", "/queue/metrics"): "resources.queue_metrics",
    ("GET", "/queue/status"): "resources.queue_job_status",
    ("POST", "/queue/submit"): "resources.submit_queue_job",
    ("GET", "/rl/training-sessions"): "resources.list_training_sessions",
    ("POST", "/rl/training-sessions"): "resources.start_training_session",
    ("GET", "/rl/training-sessions/{session_id}"): "resources.get_training_session",
    ("POST", "/rl/training-sessions/{session_id}/stop"): "resources.stop_training_session",
    **{
        (method, f"/rl/training-sessions/{{session_id}}/operations/{kind}{tail}"): (
            f"resources.{verb}{kind.replace('-', '_')}"
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
    ("GET", "/rl/checkpoints/{id}/download"): "resources.download_checkpoint",
}


def test_each_operation_is_served_by_its_domain_router_or_else_the_generic_layer(
    app: FastAPI,
) -> None:
    table = {(op.method, op.path): server for op, server in routing_table(app)}
    assert len(table) == 99
    assert {key: server for key, server in table.items() if server != "generic"} == DOMAIN
    assert sum(server == "generic" for server in table.values()) == 99 - len(DOMAIN)


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
