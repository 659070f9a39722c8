"""Dedicated endpoints over HTTP, on the manual clock at the service's pace (a start takes 15 s
PENDING and 45 s STARTING, a stop 15 s STOPPING): the seed's deploy-and-chat workflow, start and
stop, list, update, delete, hardware, availability zones, the request checks and Together's
errors. Every body is checked against the spec's schema for its operation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.catalogue import fine_tuning as catalogue
from mock_server.core.clock import ManualClock
from mock_server.settings import Settings
from tests.spec_schemas import assert_is_error_data, assert_matches_spec
from tests.steps import BASE_MODEL, advance, auth, conversations, create_job, upload

HELLO = [{"role": "user", "content": "Hello!"}]
LARGE_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Reference"


def _create(client: TestClient, model: str = BASE_MODEL, **fields: Any) -> dict[str, Any]:
    body = {
        "model": model,
        "hardware": "1x_nvidia_h100_80gb_sxm",
        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        **fields,
    }
    created = client.post("/v1/endpoints", headers=auth(), json=body)
    assert created.status_code == 200, created.text
    endpoint: dict[str, Any] = created.json()
    assert_matches_spec(endpoint, "POST", "/endpoints")
    return endpoint


def _get(client: TestClient, endpoint_id: str) -> dict[str, Any]:
    got = client.get(f"/v1/endpoints/{endpoint_id}", headers=auth())
    assert got.status_code == 200, got.text
    endpoint: dict[str, Any] = got.json()
    assert_matches_spec(endpoint, "GET", "/endpoints/{endpointId}")
    return endpoint


def _patch(client: TestClient, endpoint_id: str, **fields: Any) -> dict[str, Any]:
    patched = client.patch(f"/v1/endpoints/{endpoint_id}", headers=auth(), json=fields)
    assert patched.status_code == 200, patched.text
    endpoint: dict[str, Any] = patched.json()
    assert_matches_spec(endpoint, "PATCH", "/endpoints/{endpointId}")
    return endpoint


def _chat(client: TestClient, model: str) -> Any:
    return client.post(
        "/v1/chat/completions", headers=auth(), json={"model": model, "messages": HELLO}
    )


def _answer(response: Any) -> str:
    assert response.status_code == 200, response.text
    text: str = response.json()["choices"][0]["message"]["content"]
    return text


def _refused(response: Any, status: int, param: str, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert_is_error_data(body)
    assert (body["error"]["param"], body["error"]["code"]) == (param, code or body["error"]["code"])
    return body


def _not_running(response: Any, name: str) -> None:
    body = _refused(response, 400, "model", "dedicated_endpoint_not_running")
    assert body["error"]["message"] == (
        f"The dedicated endpoint for {name} is not running. Please visit "
        "https://api.together.ai/models to start the endpoint."
    )


# -- the seed workflow ----------------------------------------------------------------------------


def test_a_fine_tuned_model_deploys_starts_and_answers_as_it_does_serverless(
    client: TestClient,
) -> None:
    job = create_job(client, upload(client, conversations(8))["id"], suffix="my-model-v1")
    advance(client, 1000)
    output = job["model_output_name"]

    endpoint = _create(  # seeds/001, "Dedicated Endpoint"
        client,
        output,
        display_name="My Fine-tuned Model",
        hardware="4x_nvidia_h100_80gb_sxm",
    )
    assert endpoint["name"].startswith(f"{output}-")  # <owner>/<model>-<hash>
    assert endpoint["id"].startswith("endpoint-")
    assert (endpoint["model"], endpoint["display_name"], endpoint["owner"]) == (
        output,
        "My Fine-tuned Model",
        "sim-user",
    )
    assert (endpoint["state"], endpoint["type"]) == ("PENDING", "dedicated")
    _not_running(_chat(client, endpoint["name"]), endpoint["name"])

    advance(client, 15)
    assert _get(client, endpoint["id"])["state"] == "STARTING"
    _not_running(_chat(client, endpoint["name"]), endpoint["name"])
    advance(client, 45)
    assert _get(client, endpoint["id"])["state"] == "STARTED"

    served = _chat(client, endpoint["name"])
    assert served.json()["model"] == endpoint["name"]
    assert _answer(served) == _answer(_chat(client, output))
    assert _answer(served) != _answer(_chat(client, BASE_MODEL))


def test_a_stopped_endpoint_refuses_completions_until_it_is_started_again(
    client: TestClient,
) -> None:
    endpoint = _create(client)
    name = endpoint["name"]
    advance(client, 60)
    assert _answer(_chat(client, name)) == _answer(_chat(client, BASE_MODEL))

    assert _patch(client, endpoint["id"], state="STOPPED")["state"] == "STOPPING"
    _not_running(_chat(client, name), name)
    advance(client, 15)
    assert _get(client, endpoint["id"])["state"] == "STOPPED"
    text = client.post("/v1/completions", headers=auth(), json={"model": name, "prompt": "Hi"})
    _not_running(text, name)

    assert _patch(client, endpoint["id"], state="STARTED")["state"] == "PENDING"
    advance(client, 60)
    assert _get(client, endpoint["id"])["state"] == "STARTED"
    text = client.post("/v1/completions", headers=auth(), json={"model": name, "prompt": "Hi"})
    assert text.status_code == 200
    assert text.json()["model"] == name


def test_an_endpoint_created_stopped_waits_for_a_start(client: TestClient) -> None:
    endpoint = _create(client, state="STOPPED")
    assert endpoint["state"] == "STOPPED"
    advance(client, 3600)
    assert _get(client, endpoint["id"])["state"] == "STOPPED"


def test_an_idle_endpoint_stops_by_itself_and_a_request_keeps_it_awake(
    client: TestClient,
) -> None:
    endpoint = _create(client, inactive_timeout=1)
    advance(client, 60 + 50)
    _answer(_chat(client, endpoint["name"]))  # 50 s idle: the minute starts again
    advance(client, 50)
    assert _get(client, endpoint["id"])["state"] == "STARTED"
    advance(client, 10)
    assert _get(client, endpoint["id"])["state"] == "STOPPING"
    _not_running(_chat(client, endpoint["name"]), endpoint["name"])


# -- list, update, delete -------------------------------------------------------------------------


def test_endpoints_are_listed_newest_first_then_the_serverless_ones(client: TestClient) -> None:
    first = _create(client)
    advance(client, 1)
    second = _create(client, state="STOPPED")

    listed = client.get("/v1/endpoints", headers=auth()).json()
    assert_matches_spec(listed, "GET", "/endpoints")
    dedicated = [e for e in listed["data"] if e["type"] == "dedicated"]
    assert [(e["id"], e["state"]) for e in dedicated] == [
        (second["id"], "STOPPED"),
        (first["id"], "PENDING"),
    ]
    serverless = [e["model"] for e in listed["data"][2:]]
    assert serverless == catalogue.supported()
    assert {e["owner"] for e in listed["data"][2:]} == {"together"}

    def ids(**params: Any) -> list[str]:
        answer = client.get("/v1/endpoints", headers=auth(), params=params).json()
        return [e["id"] for e in answer["data"]]

    assert ids(type="dedicated") == ids(mine="true") == [second["id"], first["id"]]
    assert ids(usage_type="on-demand") == [second["id"], first["id"]]
    assert ids(usage_type="reserved") == []
    assert len(ids(type="serverless")) == len(catalogue.supported())
    _refused(client.get("/v1/endpoints?type=private", headers=auth()), 400, "type")


def test_an_update_renames_and_rescales_and_a_get_shows_it(client: TestClient) -> None:
    endpoint = _create(client)
    patched = _patch(
        client,
        endpoint["id"],
        display_name="Renamed",
        autoscaling={"min_replicas": 2, "max_replicas": 5},
    )
    assert (patched["display_name"], patched["autoscaling"]) == (
        "Renamed",
        {"min_replicas": 2, "max_replicas": 5},
    )
    assert _get(client, endpoint["id"]) == patched


def test_a_deleted_endpoint_is_gone_and_its_name_no_longer_answers(client: TestClient) -> None:
    endpoint = _create(client)
    advance(client, 60)
    deleted = client.delete(f"/v1/endpoints/{endpoint['id']}", headers=auth())
    assert (deleted.status_code, deleted.content) == (204, b"")

    for method in ("GET", "PATCH", "DELETE"):
        missing = client.request(method, f"/v1/endpoints/{endpoint['id']}", headers=auth(), json={})
        body = _refused(missing, 404, "endpointId", "not_found")
        assert body["error"]["message"] == f"Endpoint {endpoint['id']} not found"
    _refused(_chat(client, endpoint["name"]), 404, "model", "model_not_available")


def test_another_tenants_endpoint_is_invisible(client: TestClient) -> None:
    endpoint = _create(client)
    advance(client, 60)
    other = auth("other-key")
    _refused(client.get(f"/v1/endpoints/{endpoint['id']}", headers=other), 404, "endpointId")
    assert client.get("/v1/endpoints?type=dedicated", headers=other).json()["data"] == []
    chat = {"model": endpoint["name"], "messages": HELLO}
    _refused(client.post("/v1/chat/completions", headers=other, json=chat), 404, "model")


def test_an_endpoint_keeps_its_state_across_a_restart(
    app: Any, settings: Settings, clock: ManualClock
) -> None:
    with TestClient(app) as client:
        endpoint = _create(client)
        advance(client, 20)
    app.state.services.store.close()
    again = create_app(settings, clock=clock)
    try:
        with TestClient(again) as client:
            assert _get(client, endpoint["id"])["state"] == "STARTING"
            advance(client, 40)
            assert _answer(_chat(client, endpoint["name"]))
    finally:
        again.state.services.store.close()


def test_a_reset_forgets_every_endpoint(client: TestClient) -> None:
    endpoint = _create(client)
    assert client.post("/_sim/reset").status_code == 200
    _refused(client.get(f"/v1/endpoints/{endpoint['id']}", headers=auth()), 404, "endpointId")
    assert client.get("/v1/endpoints?type=dedicated", headers=auth()).json()["data"] == []


# -- checks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"model": "acme/not-a-model"}, "model", "model_not_available"),
        ({"hardware": "1x_nvidia_h100_80gb"}, "hardware", None),
        ({"model": LARGE_MODEL, "hardware": "2x_nvidia_h100_80gb_sxm"}, "hardware", None),
        ({"autoscaling": {"min_replicas": 3, "max_replicas": 2}}, "autoscaling.min_replicas", None),
        ({"autoscaling": {"min_replicas": 0, "max_replicas": 2}}, "autoscaling.min_replicas", None),
        ({"autoscaling": {"min_replicas": 1}}, "autoscaling.max_replicas", None),
        ({"state": "RUNNING"}, "state", None),
        ({"inactive_timeout": -5}, "inactive_timeout", None),
        ({"availability_zone": "mars-1a"}, "availability_zone", None),
    ],
)
def test_a_bad_create_is_a_400_naming_the_field(
    client: TestClient, fields: dict[str, Any], param: str, code: str | None
) -> None:
    body = {
        "model": BASE_MODEL,
        "hardware": "1x_nvidia_h100_80gb_sxm",
        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        **fields,
    }
    refused = _refused(client.post("/v1/endpoints", headers=auth(), json=body), 400, param, code)
    assert refused["error"]["type"] == "invalid_request_error"
    listed = client.get("/v1/endpoints?type=dedicated", headers=auth()).json()
    assert listed["data"] == []


def test_a_create_without_autoscaling_names_it(client: TestClient) -> None:
    body = {"model": BASE_MODEL, "hardware": "1x_nvidia_h100_80gb_sxm"}
    _refused(client.post("/v1/endpoints", headers=auth(), json=body), 400, "autoscaling")


def test_a_model_too_large_for_the_hardware_is_refused_pointing_at_the_hardware_api(
    client: TestClient,
) -> None:
    body = {
        "model": LARGE_MODEL,
        "hardware": "1x_nvidia_a100_80gb_sxm",
        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
    }
    refused = client.post("/v1/endpoints", headers=auth(), json=body).json()
    assert refused["error"]["message"] == (
        f"Hardware 1x_nvidia_a100_80gb_sxm cannot serve {LARGE_MODEL}: it needs about 169 GB "
        "of GPU memory and 1x_nvidia_a100_80gb_sxm has 80 GB. Check the hardware API "
        f"(GET /hardware?model={LARGE_MODEL}) for the configurations that fit"
    )


def test_an_unfinished_fine_tune_cannot_be_deployed_yet(client: TestClient) -> None:
    job = create_job(client, upload(client, conversations(8))["id"])
    advance(client, 40)  # running since 30 s
    body = {
        "model": job["model_output_name"],
        "hardware": "1x_nvidia_h100_80gb_sxm",
        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
    }
    refused = _refused(client.post("/v1/endpoints", headers=auth(), json=body), 400, "model")
    assert refused["error"]["message"] == (
        f"Model {job['model_output_name']} is not ready: its fine-tuning job {job['id']} is "
        "running. Deploy it once the job has completed."
    )


def test_a_bad_update_is_a_400_and_changes_nothing(client: TestClient) -> None:
    endpoint = _create(client)
    url = f"/v1/endpoints/{endpoint['id']}"
    _refused(client.patch(url, headers=auth(), json={"state": "PAUSED"}), 400, "state")
    rescale = {"autoscaling": {"min_replicas": 4, "max_replicas": 1}}
    _refused(client.patch(url, headers=auth(), json=rescale), 400, "autoscaling.min_replicas")
    assert _get(client, endpoint["id"]) == endpoint


# -- hardware and availability zones --------------------------------------------------------------


def test_hardware_lists_every_configuration_and_for_a_model_those_that_fit(
    client: TestClient,
) -> None:
    every = client.get("/v1/hardware", headers=auth()).json()
    assert_matches_spec(every, "GET", "/hardware")
    assert len(every["data"]) == 26
    assert all("availability" not in h for h in every["data"])

    for_large = client.get("/v1/hardware", headers=auth(), params={"model": LARGE_MODEL}).json()
    assert_matches_spec(for_large, "GET", "/hardware")
    assert [h["id"] for h in for_large["data"]] == [  # 169 GB or more
        "4x_nvidia_a100_80gb_sxm",
        "8x_nvidia_a100_80gb_sxm",
        "4x_nvidia_h100_80gb_sxm",
        "8x_nvidia_h100_80gb_sxm",
        "2x_nvidia_h200_140gb_sxm",
        "4x_nvidia_h200_140gb_sxm",
        "8x_nvidia_h200_140gb_sxm",
        "1x_nvidia_b200_180gb_sxm",
        "2x_nvidia_b200_180gb_sxm",
        "4x_nvidia_b200_180gb_sxm",
        "8x_nvidia_b200_180gb_sxm",
        "4x_nvidia_l40",
        "4x_nvidia_l40s",
        "4x_nvidia_rtx_6000_ada",
    ]
    assert {h["availability"]["status"] for h in for_large["data"]} == {"available"}
    unknown = client.get("/v1/hardware", headers=auth(), params={"model": "acme/nope"})
    _refused(unknown, 400, "model", "model_not_available")


def test_a_fine_tunes_hardware_is_its_base_models(client: TestClient) -> None:
    job = create_job(client, upload(client, conversations(8))["id"])
    advance(client, 1000)
    tuned = client.get("/v1/hardware", headers=auth(), params={"model": job["model_output_name"]})
    base = client.get("/v1/hardware", headers=auth(), params={"model": BASE_MODEL})
    assert [h["id"] for h in tuned.json()["data"]] == [h["id"] for h in base.json()["data"]]
    assert len(base.json()["data"]) == 26  # 8B fits on one GPU of any kind


def test_availability_zones_are_listed_and_one_may_be_chosen(client: TestClient) -> None:
    zones = client.get("/v1/clusters/availability-zones", headers=auth()).json()
    assert_matches_spec(zones, "GET", "/clusters/availability-zones")
    assert "us-central-4b" in zones["avzones"]
    assert _create(client, availability_zone=zones["avzones"][0])["state"] == "PENDING"


def test_the_endpoints_need_a_key(client: TestClient) -> None:
    for path in ("/v1/endpoints", "/v1/hardware", "/v1/clusters/availability-zones"):
        assert client.get(path).status_code == 401
