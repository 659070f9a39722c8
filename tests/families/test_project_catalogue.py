"""The v2 catalogue over HTTP: supported models with their filters and paging, the inference
instance types, and the configs a project deploys with (a project's own model standing for its
base), each answer checked against the spec."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.catalogue import fine_tuning, hardware, serverless
from mock_server.catalogue.supported import PUBLIC_PROJECT
from tests.spec_calls import Api
from tests.steps import BASE_MODEL, KEY, advance, auth, create_job, jsonl, upload

QUICKSTART_ROWS = [
    {
        "messages": [
            {"role": "user", "content": "What is AI?"},
            {"role": "assistant", "content": "AI is artificial intelligence."},
        ]
    }
] * 8


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def _project(client: TestClient) -> str:
    project: str = client.get("/v3/whoami", headers=auth(KEY)).json()["project"]["id"]
    return project


def _supported(api: Api, **query: Any) -> dict[str, Any]:
    body: dict[str, Any] = api.call("GET /supported-models", query=query)
    return body


def _model_id(api: Api, name: str) -> str:
    found = _supported(api, search=name)["data"]
    model_id: str = next(m["id"] for m in found if m["name"] == name)
    return model_id


def test_the_fine_tuning_product_lists_the_fine_tunable_models_with_one_profile_each(
    api: Api,
) -> None:
    listed = _supported(api, product="PRODUCT_FINE_TUNING", limit=500)["data"]
    assert [m["name"] for m in listed] == fine_tuning.supported()
    first = listed[0]
    profile = first["deploymentProfiles"][0]
    assert len(first["deploymentProfiles"]) == 1
    assert profile["model"] == f"projects/{PUBLIC_PROJECT}/models/{first['id']}"
    assert profile["config"] == f"projects/{PUBLIC_PROJECT}/configs/{profile['profileId']}"
    assert (first["baseModelId"], profile["modelName"]) == (first["id"], first["name"])


def test_filters_and_search_narrow_the_catalogue(api: Api) -> None:
    images = _supported(api, product="PRODUCT_SERVERLESS", search="flux")["data"]
    assert {m["name"] for m in images} == {m.name for m in serverless.IMAGE_MODELS}
    vision = _supported(api, modality="MODALITY_IMAGE")["data"]
    assert [m["name"] for m in vision] == ["meta-llama/Llama-4-Scout-17B-16E-Instruct-VLM"]
    by_id = api.call("GET /supported-models/{id}", id=_model_id(api, BASE_MODEL))
    assert by_id["name"] == BASE_MODEL
    missing = api.error("GET /supported-models/{id}", 404, id="ml_nothing")
    assert missing["param"] == "id"


def test_the_catalogue_pages_by_cursor_until_it_runs_out(api: Api) -> None:
    everything = _supported(api, limit=500)["data"]
    seen: list[str] = []
    after = None
    while True:
        query: dict[str, Any] = {"limit": 20, **({"after": after} if after else {})}
        page = _supported(api, **query)
        seen += [m["id"] for m in page["data"]]
        after = page.get("next_cursor")
        if not after:
            break
    assert seen == [m["id"] for m in everything]
    # One reading of limit and after for every project list (core/paging): 0 is the default
    # page (a gRPC gateway's unset integer); below 0, over the spec's "Max 500", and a cursor
    # that names nothing listed are 400s naming the parameter.
    assert _supported(api, limit=0) == _supported(api)
    for limit in (-5, 501):
        assert api.error("GET /supported-models", 400, query={"limit": limit})["param"] == "limit"
    assert api.error("GET /supported-models", 400, query={"after": "ml_x"})["param"] == "after"


def test_instance_types_are_the_hardware_with_hourly_prices(api: Api) -> None:
    listed = api.call("GET /public/inference-instance-types")["data"]
    assert [t["id"] for t in listed] == [h.id for h in hardware.HARDWARE]
    h100 = api.call(
        "GET /public/inference-instance-types/{id}", id="1xnvidia-h100-80gb"
    )  # by its name, as the CLI matches it
    card = hardware.get("1x_nvidia_h100_80gb_sxm")
    assert card is not None
    assert (h100["id"], h100["gpuType"], h100["priceCentsPerHour"]) == (
        card.id,
        "H100",
        round(card.cents_per_minute * 60),
    )


def test_a_fine_tunes_output_deploys_with_its_bases_lora_config(
    client: TestClient, api: Api
) -> None:
    project = _project(client)
    training = upload(client, jsonl(QUICKSTART_ROWS))
    job = create_job(client, training["id"])
    advance(client, 10**6)
    output = api.call("GET /projects/{projectId}/models", projectId=project)["data"][0]
    assert output["name"] == job["model_output_name"]
    configs = api.call(
        "GET /projects/{projectId}/configs",
        projectId=project,
        query={"referenceModelId": output["id"]},
    )["data"]
    base_id = _model_id(api, BASE_MODEL)
    assert [c["referenceModelId"] for c in configs] == [base_id]
    selectors = {s["key"]: s["value"] for s in configs[0]["selectors"]}
    assert selectors == {
        "accelerator_type": "nvidia-h100-80gb",
        "accelerator_count": "1",
        "adapter_mode": "dynamic",
    }
    by_path = api.call(
        "GET /projects/{projectId}/configs",
        projectId=project,
        query={"referenceModel": f"projects/{PUBLIC_PROJECT}/models/{base_id}"},
    )["data"]
    assert by_path == configs
    public = api.call(
        "GET /projects/{projectId}/configs/{id}", projectId=PUBLIC_PROJECT, id=configs[0]["id"]
    )
    assert public == configs[0]


def test_configs_refuse_disagreeing_references_and_other_projects(
    client: TestClient, api: Api
) -> None:
    project = _project(client)
    base_id = _model_id(api, BASE_MODEL)
    disagree = {"referenceModelId": base_id, "referenceModel": "projects/x/models/ml_other"}
    error = api.error("GET /projects/{projectId}/configs", 400, projectId=project, query=disagree)
    assert error["param"] == "referenceModel"
    other = api.error("GET /projects/{projectId}/configs", 404, projectId="proj-someone-else")
    assert other["param"] == "projectId"
    assert api.call(
        "GET /projects/{projectId}/configs", projectId=project, query={"referenceModelId": "x"}
    ) == {"object": "list", "data": []}
