"""Stateful mode never answers a record it does not hold: the families the simulator does not
model yet (shadow experiments and their targets, rollouts, adapters, placement profiles) are a
404 naming the id for any id, and a 400 ``not_modelled`` for a create."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.projects.test_routes import _deploy, _endpoint, _project, _refused, _url
from tests.steps import BASE_MODEL, auth

_TARGET = {"name": "t", "targetDeploymentId": "{dep}"}
_ADAPTER_PATCH = ("?etag=e", {"adapterRevisionId": "rev_x", "etag": "e"})


@pytest.mark.parametrize(
    ("method", "tail", "sent", "param"),
    [
        ("GET", "rollouts/ro_nope", None, "id"),
        ("DELETE", "rollouts/ro_nope", None, "id"),
        ("POST", "rollouts/ro_nope/start", {}, "id"),
        ("POST", "rollouts/ro_nope/promote", {}, "id"),
        ("GET", "shadowExperiments/se_nope", None, "id"),
        ("PATCH", "shadowExperiments/se_nope?updateMask=description", {"description": "d"}, "id"),
        ("DELETE", "shadowExperiments/se_nope", None, "id"),
        ("GET", "shadowExperiments/se_nope/targets", None, "experimentId"),
        ("POST", "shadowExperiments/se_nope/targets", _TARGET, "experimentId"),
        ("GET", "shadowExperiments/se_nope/targets/tg_nope", None, "experimentId"),
        ("GET", "deployments/{dep}/adapters/ad_nope", None, "id"),
        (
            "PATCH",
            "deployments/{dep}/adapters/ad_nope" + _ADAPTER_PATCH[0],
            _ADAPTER_PATCH[1],
            "id",
        ),
        ("DELETE", "deployments/{dep}/adapters/ad_nope?etag=e", None, "id"),
        ("GET", "deployments/dep_nope/adapters/ad_nope", None, "deploymentId"),
    ],
)
def test_an_id_that_names_nothing_is_a_404_naming_it(
    client: TestClient, method: str, tail: str, sent: dict[str, Any] | None, param: str
) -> None:
    endpoint = _endpoint(client)
    deployment = _deploy(client, endpoint, BASE_MODEL)
    url = f"{_url(endpoint)}/{tail.format(dep=deployment['id'])}"
    body = _fill(sent, deployment["id"])
    _refused(client.request(method, url, headers=auth(), json=body), 404, param)


def _fill(sent: dict[str, Any] | None, deployment_id: str) -> dict[str, Any] | None:
    return None if sent is None else json.loads(json.dumps(sent).replace("{dep}", deployment_id))


_SHADOW = {"name": "s", "source": {"endpoint": {"sampling": {"uniform": {"rate": 0.1}}}}}
_ROLLOUT = {"sourceDeploymentId": "{dep}", "targetDeploymentId": "{dep}"}


@pytest.mark.parametrize(
    ("tail", "sent"),
    [
        ("rollouts", _ROLLOUT),
        ("rollouts/preview-defaults", _ROLLOUT),
        ("shadowExperiments", _SHADOW),
        ("deployments/{dep}/adapters", {"adapterModelId": "ml_x"}),
    ],
)
def test_a_create_the_simulator_does_not_model_is_refused_and_changes_nothing(
    client: TestClient, tail: str, sent: dict[str, Any]
) -> None:
    endpoint = _endpoint(client)
    deployment = _deploy(client, endpoint, BASE_MODEL)
    url = f"{_url(endpoint)}/{tail.format(dep=deployment['id'])}"
    answer = client.post(url, headers=auth(), json=_fill(sent, deployment["id"]))
    body = _refused(answer, 400, None, "not_modelled")
    assert "does not model" in body["error"]["message"]
    listed = client.get(url.removesuffix("/preview-defaults"), headers=auth())
    assert listed.json() == {"object": "list", "data": []}


def test_the_project_has_no_placement_profiles(client: TestClient) -> None:
    url = f"/v2/projects/{_project(client)}/placement-profiles"
    listed = client.get(url, headers=auth())
    assert (listed.status_code, listed.json()) == (200, {"object": "list", "data": []})
    _refused(client.get(f"{url}/pp_nope", headers=auth()), 404, "id")
    _refused(client.get(f"{url}?limit=-1", headers=auth()), 400, "limit")
