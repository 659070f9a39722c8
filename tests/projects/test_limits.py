"""What one tenant may hold in its project (``records.MAX_ENDPOINTS``, ``MAX_DEPLOYMENTS``,
``models.MAX_REPLICAS``), and that a list of endpoints reads the tenant's deployments once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.projects import models, records
from tests.projects.test_routes import _deploy, _endpoint, _project, _refused, _url
from tests.steps import BASE_MODEL, auth


@pytest.mark.parametrize(
    ("autoscaling", "param"),
    [
        ({"minReplicas": 2147483647}, "autoscaling.minReplicas"),
        ({"minReplicas": 1, "maxReplicas": models.MAX_REPLICAS + 1}, "autoscaling.maxReplicas"),
    ],
)
def test_a_deployment_runs_at_most_the_simulators_replicas(
    client: TestClient, autoscaling: dict[str, Any], param: str
) -> None:
    endpoint = _endpoint(client)
    url = f"{_url(endpoint)}/deployments"
    body = {"name": "big", "model": BASE_MODEL, "autoscaling": autoscaling}
    _refused(client.post(url, headers=auth(), json=body), 400, param)


def test_a_project_holds_at_most_so_many_endpoints_and_an_endpoint_deployments(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "MAX_ENDPOINTS", 2)
    monkeypatch.setattr(records, "MAX_DEPLOYMENTS", 1)
    endpoint = _endpoint(client, "one")
    _endpoint(client, "two")
    url = f"/v2/projects/{_project(client)}/endpoints"
    _refused(client.post(url, headers=auth(), json={"name": "three"}), 400, "projectId")
    _deploy(client, endpoint, BASE_MODEL)
    body = {"name": "v2", "model": BASE_MODEL, "autoscaling": {"minReplicas": 1}}
    answer = client.post(f"{_url(endpoint)}/deployments", headers=auth(), json=body)
    _refused(answer, 400, "endpointId")
    renamed = client.patch(_url(endpoint), headers=auth(), json={"name": "uno"})
    assert renamed.status_code == 200, renamed.text  # an update is not a new endpoint


def test_a_list_of_endpoints_reads_the_deployments_once(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b", "c"):
        _deploy(client, _endpoint(client, name), BASE_MODEL)
    store = client.app.state.services.store  # type: ignore[attr-defined]
    reads: list[str] = []
    real = store.list_resources

    def counted(kind: str, tenant: str) -> list[dict[str, Any]]:
        reads.append(kind)
        return real(kind, tenant)  # type: ignore[no-any-return]

    monkeypatch.setattr(store, "list_resources", counted)
    listed = client.get(f"/v2/projects/{_project(client)}/endpoints", headers=auth())
    assert len(listed.json()["data"]) == 3
    assert reads.count(records.DEPLOYMENT) == 1
