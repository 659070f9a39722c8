"""The key's project and its endpoints over HTTP, on the manual clock at the service's pace (a
deployment provisions for 60 s, stops in 15 s): who the key is (``/v1`` and ``/v3`` whoami,
``/v1/projects``), the seed's deploy-and-chat step on the project API (endpoint, deployment of a
fine-tune's output, traffic split, chat on the endpoint's name, stop, delete), the split over two
deployments, etags, the organization's shared endpoints, the request checks and Together's
errors, and how it stands beside ``/v1/endpoints``. Every body is checked against the spec's
schema for its operation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.catalogue.model_ids import config_id_of
from mock_server.core.clock import ManualClock
from mock_server.settings import Settings
from tests.spec_schemas import assert_is_error_data, assert_matches_spec
from tests.steps import BASE_MODEL, advance, auth, conversations, create_job, upload

HELLO = [{"role": "user", "content": "Hello!"}]
ENDPOINTS = "/projects/{projectId}/endpoints"
ENDPOINT = ENDPOINTS + "/{id}"
DEPLOYMENTS = ENDPOINTS[:-1] + "s/{endpointId}/deployments"
DEPLOYMENT = DEPLOYMENTS + "/{id}"


def _ok(response: Any, method: str, path: str) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert_matches_spec(body, method, path)
    return body


def _refused(response: Any, status: int, param: str | None, code: str | None = None) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert_is_error_data(body)
    assert body["error"]["param"] == param
    if code is not None:
        assert body["error"]["code"] == code
    return body


def _project(client: TestClient, key: str = "test-key") -> str:
    project: str = client.get("/v1/whoami", headers=auth(key)).json()["project_id"]
    return project


def _endpoint(client: TestClient, name: str = "support-bot", **fields: Any) -> Any:
    url = f"/v2/projects/{_project(client)}/endpoints"
    return _ok(client.post(url, headers=auth(), json={"name": name, **fields}), "POST", ENDPOINTS)


def _deploy(client: TestClient, endpoint: Any, model: str, name: str = "v1", **fields: Any) -> Any:
    url = f"/v2/projects/{endpoint['projectId']}/endpoints/{endpoint['id']}/deployments"
    body = {"name": name, "model": model, "autoscaling": {"minReplicas": 1}, **fields}
    return _ok(client.post(url, headers=auth(), json=body), "POST", DEPLOYMENTS)


def _url(endpoint: Any, deployment: Any | None = None) -> str:
    url = f"/v2/projects/{endpoint['projectId']}/endpoints/{endpoint['id']}"
    return f"{url}/deployments/{deployment['id']}" if deployment is not None else url


def _get(client: TestClient, endpoint: Any, deployment: Any | None = None) -> Any:
    path = DEPLOYMENT if deployment is not None else ENDPOINT
    return _ok(client.get(_url(endpoint, deployment), headers=auth()), "GET", path)


def _patch(client: TestClient, endpoint: Any, deployment: Any | None = None, **body: Any) -> Any:
    path = DEPLOYMENT if deployment is not None else ENDPOINT
    response = client.patch(_url(endpoint, deployment), headers=auth(), json=body)
    return _ok(response, "PATCH", path)


def _route(client: TestClient, endpoint: Any, *weights: tuple[Any, float]) -> Any:
    split = [{"deploymentId": d["id"], "weight": w} for d, w in weights]
    return _patch(client, endpoint, trafficSplit=split, etag=_get(client, endpoint)["etag"])


def _chat(client: TestClient, model: str) -> Any:
    return client.post(
        "/v1/chat/completions", headers=auth(), json={"model": model, "messages": HELLO}
    )


def _answer(response: Any) -> str:
    assert response.status_code == 200, response.text
    text: str = response.json()["choices"][0]["message"]["content"]
    return text


def _fine_tune(client: TestClient) -> Any:
    job = create_job(client, upload(client, conversations(8))["id"], suffix="support")
    advance(client, 1000)
    done = client.get(f"/v1/fine-tunes/{job['id']}", headers=auth()).json()
    assert done["status"] == "completed"
    return done


# -- who the key is -------------------------------------------------------------------------------


def test_v1_and_v3_whoami_and_the_project_list_name_the_keys_one_project(
    client: TestClient, tenant_of: Any
) -> None:
    v1 = _ok(client.get("/v1/whoami", headers=auth()), "GET", "/whoami")
    v3 = client.get("/v3/whoami", headers=auth()).json()
    projects = client.get("/v1/projects", headers=auth()).json()
    tenant = tenant_of("test-key")
    assert (v1["project_id"], v1["organization_id"]) == (f"proj-{tenant}", f"org-{tenant}")
    assert v3 == {
        "type": "project_api_key",
        "api_key": {"id": v1["api_key_id"]},
        "organization": {"id": v1["organization_id"], "name": v1["organization_name"]},
        "project": {"id": v1["project_id"], "name": v1["project_name"], "slug": "sim-user"},
    }
    assert projects["data"] == [
        {
            "id": v1["project_id"],
            "name": v1["project_name"],
            "slug": v1["project_slug"],
            "organization_id": v1["organization_id"],
            "organization_name": v1["organization_name"],
        }
    ]
    assert _project(client, "another-key") != v1["project_id"]


@pytest.mark.parametrize("path", ["/v1/whoami", "/v3/whoami", "/v1/projects"])
def test_who_am_i_without_a_key_is_a_401(client: TestClient, path: str) -> None:
    _refused(client.get(path), 401, None)


def test_the_same_key_is_the_same_project_after_a_restart(settings: Settings) -> None:
    first = create_app(settings, clock=ManualClock())
    with TestClient(first) as client:
        project = _project(client)
        endpoint = _endpoint(client)
    first.state.services.store.close()
    again = create_app(settings, clock=ManualClock())
    with TestClient(again) as client:
        assert _project(client) == project
        assert _get(client, endpoint)["name"] == "sim-user/support-bot"
    again.state.services.store.close()


def test_a_key_reaches_no_other_project_or_organization(client: TestClient) -> None:
    _refused(client.get("/v2/projects/proj-1/endpoints", headers=auth()), 404, "projectId")
    other = _project(client, "another-key")
    _refused(
        client.post(f"/v2/projects/{other}/endpoints", headers=auth(), json={"name": "x"}),
        404,
        "projectId",
    )
    _refused(client.get("/v2/organizations/org-1/endpoints", headers=auth()), 404, "organizationId")


# -- the seed workflow ----------------------------------------------------------------------------


def test_a_fine_tune_deploys_on_an_endpoint_answers_by_its_name_stops_and_is_deleted(
    client: TestClient,
) -> None:
    job = _fine_tune(client)
    output, project = job["model_output_name"], _project(client)
    endpoint = _endpoint(client, "my-fine-tuned-model")
    assert (endpoint["name"], endpoint["endpointType"], endpoint["visibility"]) == (
        "sim-user/my-fine-tuned-model",
        "ENDPOINT_TYPE_DEDICATED",
        "VISIBILITY_PRIVATE",
    )
    assert endpoint["id"].startswith("ep_")
    path = f"projects/{project}/models/{job['model_object_id']}"

    deployment = _deploy(client, endpoint, path, "ft-v1")
    assert deployment["id"].startswith("dep_")
    assert deployment["model"].startswith(path + "/revisions/")
    assert deployment["name"] == "sim-user/my-fine-tuned-model/ft-v1"
    assert (deployment["status"]["state"], deployment["hardware"]) == (
        "DEPLOYMENT_STATE_PROVISIONING",
        "1xnvidia-h100-80gb",
    )
    unrouted = _chat(client, endpoint["name"])  # no split yet, and provisioning
    _refused(unrouted, 400, "model", "dedicated_endpoint_not_running")

    routed = _route(client, endpoint, (deployment, 1))
    assert routed["trafficSplit"] == [{"deploymentId": deployment["id"], "weight": 1}]
    assert routed["deployments"][0]["state"] == "DEPLOYMENT_STATE_PROVISIONING"
    _refused(_chat(client, endpoint["name"]), 400, "model", "dedicated_endpoint_not_running")

    advance(client, 60)
    ready = _get(client, endpoint, deployment)
    assert (ready["status"]["state"], ready["status"]["readyReplicas"]) == (
        "DEPLOYMENT_STATE_READY",
        1,
    )
    assert ready["estimatedEffectiveTrafficShare"] == 1.0
    answer = _chat(client, endpoint["name"])
    assert answer.json()["model"] == endpoint["name"]
    assert _answer(answer) == _answer(_chat(client, output))
    assert _answer(_chat(client, deployment["name"])) == _answer(_chat(client, output))

    stopping = _patch(
        client, endpoint, deployment, autoscaling={"minReplicas": 0, "maxReplicas": 0}
    )
    assert stopping["status"]["state"] == "DEPLOYMENT_STATE_STOPPING"
    _refused(_chat(client, endpoint["name"]), 400, "model", "dedicated_endpoint_not_running")
    advance(client, 15)
    assert _get(client, endpoint, deployment)["status"]["state"] == "DEPLOYMENT_STATE_STOPPED"

    deleted = client.delete(_url(endpoint, deployment), headers=auth())
    assert _ok(deleted, "DELETE", DEPLOYMENT) == {}
    assert _get(client, endpoint)["trafficSplit"] == []  # the deployment left the split
    assert _ok(client.delete(_url(endpoint), headers=auth()), "DELETE", ENDPOINT) == {}
    _refused(client.get(_url(endpoint), headers=auth()), 404, "id")
    _refused(_chat(client, endpoint["name"]), 404, "model", "model_not_available")


def test_a_catalogue_model_deploys_by_its_public_path_or_its_name(client: TestClient) -> None:
    endpoint = _endpoint(client)
    by_name = _deploy(client, endpoint, BASE_MODEL, "by-name")
    by_path = _deploy(client, endpoint, by_name["model"], "by-path")
    assert by_name["model"].startswith("projects/proj-together/models/ml_")
    assert by_path["model"] == by_name["model"]
    assert by_path["modelId"] == by_name["modelId"]


def test_two_deployments_share_the_traffic_by_weight_times_ready_replicas(
    client: TestClient,
) -> None:
    endpoint = _endpoint(client)
    small = _deploy(client, endpoint, BASE_MODEL, "small")
    advance(client, 1)
    large = _deploy(client, endpoint, BASE_MODEL, "large", autoscaling={"minReplicas": 3})
    _route(client, endpoint, (small, 2), (large, 1))
    advance(client, 60)
    shares = {
        d["id"]: d["estimatedEffectiveTrafficShare"] for d in _get(client, endpoint)["deployments"]
    }
    assert shares == {small["id"]: 0.4, large["id"]: 0.6}
    listed = _ok(client.get(_url(endpoint) + "/deployments", headers=auth()), "GET", DEPLOYMENTS)
    assert [d["name"].rsplit("/", 1)[-1] for d in listed["data"]] == ["large", "small"]

    _patch(client, endpoint, small, autoscaling={"minReplicas": 0, "maxReplicas": 0})
    shares = {
        d["id"]: d["estimatedEffectiveTrafficShare"] for d in _get(client, endpoint)["deployments"]
    }
    assert shares == {small["id"]: 0.0, large["id"]: 1.0}
    assert _chat(client, "sim-user/support-bot").status_code == 200  # the large one answers


def test_an_etag_read_before_a_change_is_refused_and_a_current_one_accepted(
    client: TestClient,
) -> None:
    endpoint = _endpoint(client)
    renamed = _patch(client, endpoint, name="support-bot-2", etag=endpoint["etag"])
    assert (renamed["name"], renamed["etag"] != endpoint["etag"]) == (
        "sim-user/support-bot-2",
        True,
    )
    stale = client.patch(
        _url(endpoint),
        headers=auth(),
        json={"visibility": "VISIBILITY_INTERNAL", "etag": endpoint["etag"]},
    )
    _refused(stale, 409, "etag")
    _refused(
        client.delete(_url(endpoint) + f"?etag={endpoint['etag']}", headers=auth()), 409, "etag"
    )
    deleted = client.delete(_url(endpoint) + f"?etag={renamed['etag']}", headers=auth())
    assert deleted.status_code == 200, deleted.text


def test_an_update_mask_writes_only_the_fields_it_names(client: TestClient) -> None:
    endpoint = _endpoint(client)
    masked = client.patch(
        _url(endpoint) + "?updateMask=visibility",
        headers=auth(),
        json={"name": "ignored", "visibility": "VISIBILITY_INTERNAL"},
    )
    body = _ok(masked, "PATCH", ENDPOINT)
    assert (body["name"], body["visibility"]) == ("sim-user/support-bot", "VISIBILITY_INTERNAL")
    unknown = client.patch(_url(endpoint) + "?updateMask=endpointType", headers=auth(), json={})
    _refused(unknown, 400, "updateMask")


def test_the_organization_lists_the_endpoints_shared_with_it(client: TestClient) -> None:
    _endpoint(client, "private-one")
    shared = _endpoint(client, "shared-one", visibility="VISIBILITY_INTERNAL")
    organization = client.get("/v1/whoami", headers=auth()).json()["organization_id"]
    listed = client.get(f"/v2/organizations/{organization}/endpoints", headers=auth())
    body = _ok(listed, "GET", "/organizations/{organizationId}/endpoints")
    assert [e["id"] for e in body["data"]] == [shared["id"]]


def test_the_project_lists_its_endpoints_newest_first_filtered_and_paged(
    client: TestClient,
) -> None:
    first, second = _endpoint(client, "bot-a"), _endpoint(client, "bot-b")
    advance(client, 1)
    third = _endpoint(client, "other")
    url = f"/v2/projects/{_project(client)}/endpoints"
    page = _ok(client.get(url + "?limit=2", headers=auth()), "GET", ENDPOINTS)
    assert [e["id"] for e in page["data"]][0] == third["id"]
    rest = client.get(url + f"?limit=2&after={page['next_cursor']}", headers=auth()).json()
    assert {e["id"] for e in page["data"] + rest["data"]} == {
        first["id"],
        second["id"],
        third["id"],
    }
    found = client.get(url, headers=auth(), params={"filter": 'name="sim-user/bot-b"'}).json()
    assert [e["id"] for e in found["data"]] == [second["id"]]


def test_validate_only_checks_a_deployment_without_creating_it(client: TestClient) -> None:
    endpoint = _endpoint(client)
    url = _url(endpoint) + "/deployments?validateOnly=true"
    body = {"name": "v1", "model": BASE_MODEL, "autoscaling": {"minReplicas": 1}}
    checked = _ok(client.post(url, headers=auth(), json=body), "POST", DEPLOYMENTS)
    assert checked["name"] == "sim-user/support-bot/v1"
    assert _get(client, endpoint)["deployments"] == []


# -- what is refused ------------------------------------------------------------------------------


def test_requests_the_spec_refuses_name_the_field(client: TestClient) -> None:
    url = f"/v2/projects/{_project(client)}/endpoints"
    _refused(client.post(url, headers=auth(), json={}), 400, "name")
    _refused(
        client.post(url, headers=auth(), json={"name": "x", "visibility": "PUBLIC"}),
        400,
        "visibility",
    )
    endpoint = _endpoint(client)
    no_scaling = client.post(
        _url(endpoint) + "/deployments", headers=auth(), json={"name": "v1", "model": BASE_MODEL}
    )
    _refused(no_scaling, 400, "autoscaling")


def test_names_are_unique_in_their_project_and_endpoint(client: TestClient) -> None:
    endpoint = _endpoint(client)
    url = f"/v2/projects/{endpoint['projectId']}/endpoints"
    _refused(client.post(url, headers=auth(), json={"name": "sim-user/support-bot"}), 409, "name")
    _refused(client.post(url, headers=auth(), json={"name": "elsewhere/bot"}), 400, "name")
    _deploy(client, endpoint, BASE_MODEL)
    again = client.post(
        _url(endpoint) + "/deployments",
        headers=auth(),
        json={"name": "v1", "model": BASE_MODEL, "autoscaling": {"minReplicas": 1}},
    )
    _refused(again, 409, "name")


@pytest.mark.parametrize(
    ("model", "code"),
    [
        ("projects/proj-together/models/ml_000000000000000000000000", "model_not_available"),
        ("nobody/no-such-model", "model_not_available"),
    ],
)
def test_a_model_nobody_serves_is_refused(client: TestClient, model: str, code: str) -> None:
    endpoint = _endpoint(client)
    body = {"name": "v1", "model": model, "autoscaling": {"minReplicas": 1}}
    _refused(
        client.post(_url(endpoint) + "/deployments", headers=auth(), json=body), 400, "model", code
    )


def test_an_unfinished_fine_tune_and_another_models_config_are_refused(
    client: TestClient,
) -> None:
    job = create_job(client, upload(client, conversations(8))["id"], suffix="later")
    endpoint = _endpoint(client)
    body = {"name": "v1", "model": job["model_output_name"], "autoscaling": {"minReplicas": 1}}
    _refused(client.post(_url(endpoint) + "/deployments", headers=auth(), json=body), 400, "model")
    large = "meta-llama/Llama-3.3-70B-Instruct-Reference"
    small = {
        "name": "v2",
        "model": large,
        "config": f"projects/proj-together/configs/{config_id_of(BASE_MODEL)}",  # the 8B's
        "autoscaling": {"minReplicas": 1},
    }
    _refused(
        client.post(_url(endpoint) + "/deployments", headers=auth(), json=small), 400, "config"
    )


def test_a_running_deployment_and_an_endpoint_with_deployments_are_not_deleted(
    client: TestClient,
) -> None:
    endpoint = _endpoint(client)
    deployment = _deploy(client, endpoint, BASE_MODEL)
    _refused(client.delete(_url(endpoint, deployment), headers=auth()), 400, "id")
    _refused(client.delete(_url(endpoint), headers=auth()), 400, "id")
    split = [{"deploymentId": "dep_nope", "weight": 1}]
    _refused(
        client.patch(_url(endpoint), headers=auth(), json={"trafficSplit": split}),
        400,
        "trafficSplit.0.deploymentId",
    )


def test_the_endpoints_experiments_rollouts_and_adapters_are_listed_empty(
    client: TestClient,
) -> None:
    endpoint = _endpoint(client)
    deployment = _deploy(client, endpoint, BASE_MODEL)
    for child in (
        "abExperiments",
        "shadowExperiments",
        "rollouts",
        f"deployments/{deployment['id']}/adapters",
    ):
        listed = client.get(f"{_url(endpoint)}/{child}", headers=auth())
        assert listed.status_code == 200, listed.text
        assert listed.json() == {"object": "list", "data": []}
    _refused(
        client.get(f"{_url(endpoint)}/deployments/dep_nope/adapters", headers=auth()),
        404,
        "deploymentId",
    )


# -- beside /v1/endpoints -------------------------------------------------------------------------


def test_v1_endpoints_and_project_endpoints_do_not_see_each_other(
    client: TestClient, app: FastAPI
) -> None:
    project_endpoint = _endpoint(client)
    _deploy(client, project_endpoint, BASE_MODEL)
    v1 = client.post(
        "/v1/endpoints",
        headers=auth(),
        json={
            "model": BASE_MODEL,
            "hardware": "1x_nvidia_h100_80gb_sxm",
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        },
    ).json()
    dedicated = client.get("/v1/endpoints?type=dedicated", headers=auth()).json()["data"]
    assert [e["id"] for e in dedicated] == [v1["id"]]
    listed = client.get(f"/v2/projects/{_project(client)}/endpoints", headers=auth()).json()
    assert [e["id"] for e in listed["data"]] == [project_endpoint["id"]]
    advance(client, 60)
    assert _chat(client, v1["name"]).status_code == 200  # each answers on its own name
    _route(client, project_endpoint, (_get(client, project_endpoint)["deployments"][0], 1))
    assert _chat(client, project_endpoint["name"]).status_code == 200
