"""Jig deployments over HTTP on the manual clock at the service's pace: secrets, volumes of
uploaded files, a deployment that reads both walking Updating → Ready, a rescale and a rollout,
its logs, deletion, and storage downloads. Every answer is checked against the spec."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.spec_calls import Api
from tests.steps import auth, upload

IMAGE = "registry.together.xyz/proj_abc/my-image:latest"


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def _deploy(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "my-app", "gpu_type": "h100-80gb", "image": IMAGE, "port": 8080, **fields}
    deployment: dict[str, Any] = api.call("POST /deployments", json=body)
    return deployment


def test_a_secret_is_found_by_id_or_name_and_never_shows_its_value(api: Api) -> None:
    created = api.call(
        "POST /deployments/secrets",
        json={"name": "HF_TOKEN", "value": "hf_x", "description": "hub"},
    )
    assert (created["object"], created["name"], created["created_by"]) == (
        "secret",
        "HF_TOKEN",
        "sim-user",
    )
    assert "value" not in created
    assert api.call("GET /deployments/secrets/{id}", id="HF_TOKEN")["id"] == created["id"]
    renamed = api.call("PATCH /deployments/secrets/{id}", id=created["id"], json={"name": "HF"})
    assert renamed["name"] == "HF"
    assert [s["name"] for s in api.call("GET /deployments/secrets")["data"]] == ["HF"]
    assert api.call("DELETE /deployments/secrets/{id}", id="HF") == {}
    error = api.error("GET /deployments/secrets/{id}", 404, id="HF")
    assert (error["param"], error["message"]) == ("id", "Secret HF not found")


def test_a_name_in_use_is_a_conflict_on_create_and_on_rename(api: Api) -> None:
    api.call("POST /deployments/secrets", json={"name": "KEY", "value": "a"})
    error = api.error("POST /deployments/secrets", 409, json={"name": "KEY", "value": "b"})
    assert (error["param"], error["message"]) == ("name", "A secret named KEY already exists")
    api.call("POST /deployments/secrets", json={"name": "OTHER", "value": "b"})
    renamed = api.error("PATCH /deployments/secrets/{id}", 409, id="OTHER", json={"name": "KEY"})
    assert renamed["type"] == "invalid_request_error"
    volume = {"name": "w", "type": "readOnly", "content": {}}
    api.call("POST /deployments/storage/volumes", json=volume)
    assert api.error("POST /deployments/storage/volumes", 409, json=volume)["param"] == "name"
    _deploy(api)
    assert (
        api.error(
            "POST /deployments",
            409,
            json={"name": "my-app", "gpu_type": "h100-80gb", "image": IMAGE},
        )["param"]
        == "name"
    )


def test_a_volume_preloads_the_uploads_under_its_prefix_and_versions_its_content(
    api: Api, client: TestClient
) -> None:
    upload(client, b'{"text": "a"}\n', name="models/weights.jsonl")
    upload(client, b'{"text": "b"}\n', name="other.jsonl")
    content = {"type": "files", "source_prefix": "models/"}
    volume = api.call(
        "POST /deployments/storage/volumes",
        json={"name": "weights", "type": "readOnly", "content": content},
    )
    assert [f["name"] for f in volume["content"]["files"]] == ["models/weights.jsonl"]
    assert (volume["current_version"], volume["version_history"]) == (1, {})
    changed = api.call(
        "PATCH /deployments/storage/volumes/{id}",
        id="weights",
        json={"content": {"source_prefix": ""}},
    )
    assert changed["current_version"] == 2
    assert len(changed["content"]["files"]) == 2
    assert changed["version_history"]["1"]["content"] == content


def test_a_deployment_walks_updating_to_ready_with_its_replicas(api: Api) -> None:
    deployment = _deploy(api, min_replicas=2, max_replicas=4)
    assert (deployment["object"], deployment["status"], deployment["desired_replicas"]) == (
        "deployment",
        "Updating",
        2,
    )
    assert deployment["ready_replicas"] == 0
    api.advance(29)
    assert api.call("GET /deployments/{id}", id="my-app")["status"] == "Updating"
    api.advance(1)
    ready = api.call("GET /deployments/{id}", id=deployment["id"])
    assert (ready["status"], ready["ready_replicas"]) == ("Ready", 2)
    assert {e["replica_status"] for e in ready["replica_events"].values()} == {"Running"}


def test_a_rescale_walks_scaling_and_a_new_image_rolls_out_a_revision(api: Api) -> None:
    _deploy(api)
    api.advance(30)
    scaled = api.call("PATCH /deployments/{id}", id="my-app", json={"min_replicas": 3})
    assert (scaled["status"], scaled["ready_replicas"], scaled["max_replicas"]) == ("Scaling", 1, 3)
    api.advance(15)
    assert api.call("GET /deployments/{id}", id="my-app")["ready_replicas"] == 3
    rolled = api.call("PATCH /deployments/{id}", id="my-app", json={"image": IMAGE + "-v2"})
    assert rolled["status"] == "Updating"
    assert {e["revision_id"] for e in rolled["replica_events"].values()} == {"rev-2"}


def test_logs_tell_the_deployments_story_up_to_now(api: Api) -> None:
    _deploy(api, health_check_path="/health")
    early = api.call("GET /deployments/{id}/logs", id="my-app")["lines"]
    assert any("Pulling image" in line for line in early)
    assert not any("Ready" in line for line in early)
    api.advance(30)
    lines = api.call("GET /deployments/{id}/logs", id="my-app")["lines"]
    assert lines[-3:] == [
        "2026-01-01T00:00:30.000000Z my-app-r1-0 Listening on port 8080",
        "2026-01-01T00:00:30.000000Z my-app-r1-0 Health check /health passed",
        "2026-01-01T00:00:30.000000Z my-app-r1-0 Ready",
    ]
    assert all("together-sim" in line for line in lines if "simulated" in line)


def test_a_deployment_reads_existing_secrets_and_mounts_existing_volumes(api: Api) -> None:
    env = [{"name": "HF_TOKEN", "value_from_secret": "HF"}]
    error = api.error(  # a name that names nothing: 404, as a fine-tune's unknown file
        "POST /deployments",
        404,
        json={"name": "a", "gpu_type": "h100-80gb", "image": IMAGE, "environment_variables": env},
    )
    assert (error["param"], error["message"]) == (
        "environment_variables.0.value_from_secret",
        "Secret HF not found",
    )
    api.call("POST /deployments/secrets", json={"name": "HF", "value": "x"})
    api.call(
        "POST /deployments/storage/volumes", json={"name": "w", "type": "readOnly", "content": {}}
    )
    mount = [{"name": "w", "mount_path": "/data"}]
    deployment = _deploy(api, environment_variables=env, volumes=mount)
    assert deployment["volumes"] == [{"name": "w", "mount_path": "/data", "version": 1}]
    volume = api.call("GET /deployments/storage/volumes/{id}", id="w")
    assert volume["mounted_by"] == [deployment["id"]]
    error = api.error("DELETE /deployments/storage/volumes/{id}", 400, id="w")
    assert error["param"] == "id"
    api.call("DELETE /deployments/{id}", id="my-app")
    api.call("DELETE /deployments/storage/volumes/{id}", id="w")
    assert api.call("GET /deployments")["data"] == []


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"name": "has space"}, 400, "name"),
        ({"min_replicas": 3, "max_replicas": 2}, 400, "max_replicas"),
        ({"environment_variables": [{"name": "X"}]}, 400, "environment_variables.0"),
        ({"volumes": [{"name": "nope", "mount_path": "/d"}]}, 404, "volumes.0.name"),
        ({"gpu_type": "a100"}, 400, "gpu_type"),
    ],
)
def test_a_deployment_request_with_a_wrong_field_is_refused_naming_it(
    api: Api, fields: dict[str, Any], status: int, param: str
) -> None:
    body = {"name": "ok", "gpu_type": "h100-80gb", "image": IMAGE, **fields}
    assert api.error("POST /deployments", status, json=body)["param"] == param


def test_a_deleted_deployment_is_gone(api: Api) -> None:
    _deploy(api)
    api.call("DELETE /deployments/{id}", id="my-app")
    assert api.error("GET /deployments/{id}", 404, id="my-app")["param"] == "id"
    assert api.error("GET /deployments/{id}/logs", 404, id="my-app")["param"] == "id"


def test_storage_download_redirects_to_a_signed_url_serving_the_uploaded_bytes(
    api: Api, client: TestClient
) -> None:
    upload(client, b'{"text": "hello"}\n', name="data.jsonl")
    answer = client.get(
        "/v1/deployments/storage/data.jsonl",
        headers={"Authorization": "Bearer test-key"},
        follow_redirects=False,
    )
    assert answer.status_code == 307
    assert answer.json() == answer.headers["location"]
    assert client.get(answer.headers["location"]).content == b'{"text": "hello"}\n'
    tampered = answer.headers["location"].replace("sig=", "sig=0")
    assert client.get(tampered).status_code == 404
    assert api.call("GET /deployments/storage/{filename}", filename="nope", status=404) == {
        "error": "File nope not found"
    }


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
def test_a_method_the_secrets_list_does_not_take_is_a_405_not_the_templated_operation(
    client: TestClient, method: str
) -> None:
    """``/deployments/secrets`` is a path of its own in the spec (GET, POST); our
    ``/deployments/{id}`` template also matches it, and must not answer for it."""
    response = client.request(
        method, "/v1/deployments/secrets", headers={"Authorization": "Bearer k"}, json={}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error"]["message"] == (
        f"Method {method} is not allowed on /v1/deployments/secrets"
    )


def _send_raw(client: TestClient, method: str, path: str, body: str) -> Any:
    """JSON text as a client's encoder may write it (httpx's own refuses NaN)."""
    headers = {**auth(), "Content-Type": "application/json"}
    return client.request(method, "/v1" + path, headers=headers, content=body.encode())


def _refused(answer: Any, message: str, param: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }


@pytest.mark.parametrize("field", ["cpu", "memory"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_deployment_number_that_is_not_finite_is_refused_and_nothing_is_stored(
    api: Api, client: TestClient, field: str, literal: str
) -> None:
    body = f'{{"name": "app", "gpu_type": "h100-80gb", "image": "{IMAGE}", "{field}": {literal}}}'
    _refused(
        _send_raw(client, "POST", "/deployments", body), f"{field}: must be a finite number", field
    )
    assert api.call("GET /deployments")["data"] == []
    _deploy(api, **{field: 1})  # and the next request is answered


@pytest.mark.parametrize(
    ("field", "literal", "message"),
    [
        ("gpu_count", str(2**63), "gpu_count: must be an integer from -2**63 to 2**63-1"),
        ("gpu_count", "1e30", "gpu_count: must be an integer from -2**63 to 2**63-1"),
        ("max_replicas", str(2**63), "max_replicas: must be an integer from -2**63 to 2**63-1"),
        ("port", str(2**63), f"port: {2**63} is greater than the maximum of 65535"),
        ("gpu_count", "-1", "gpu_count: -1 is less than the minimum of 0"),
        ("storage", "-1", "storage: -1 is less than the minimum of 0"),
        ("memory", "-0.5", "memory: -0.5 is less than the minimum of 0"),
        (
            "termination_grace_period_seconds",
            "-1",
            "termination_grace_period_seconds: -1 is less than the minimum of 0",
        ),
        ("cpu", "0.05", "cpu: 0.05 is less than the minimum of 0.1"),
    ],
)
def test_a_deployment_number_out_of_range_is_refused_naming_it(
    api: Api, client: TestClient, field: str, literal: str, message: str
) -> None:
    body = f'{{"name": "app", "gpu_type": "h100-80gb", "image": "{IMAGE}", "{field}": {literal}}}'
    _refused(_send_raw(client, "POST", "/deployments", body), message, field)
    assert api.call("GET /deployments")["data"] == []


def test_an_update_that_is_not_finite_changes_nothing(api: Api, client: TestClient) -> None:
    before = _deploy(api, cpu=1)
    refused = _send_raw(client, "PATCH", "/deployments/my-app", '{"cpu": NaN}')
    _refused(refused, "cpu: must be a finite number", "cpu")
    after = api.call("GET /deployments/{id}", id="my-app")
    assert (after["cpu"], after["updated_at"]) == (1, before["updated_at"])
