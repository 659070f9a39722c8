"""A deployment's ``config`` and ``modelRevisionId`` name records the configs and models
families answer for: the ids they are made of come from ``catalogue/model_ids.py``, a config
or revision that exists nowhere is refused naming the field, and the public project's
revisions can be read."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.catalogue.model_ids import config_id_of
from mock_server.projects.identity import model_id_of
from tests.projects.test_routes import _endpoint, _project, _refused, _url
from tests.steps import BASE_MODEL, auth

_PUBLIC = f"projects/proj-together/models/{model_id_of(BASE_MODEL)}"


def _create(client: TestClient, endpoint: Any, **fields: Any) -> Any:
    body = {"name": "v1", "model": _PUBLIC, "autoscaling": {"minReplicas": 1}, **fields}
    return client.post(f"{_url(endpoint)}/deployments", headers=auth(), json=body)


def test_the_default_config_and_revision_are_what_the_families_serve(
    client: TestClient,
) -> None:
    endpoint = _endpoint(client)
    made = _create(client, endpoint)
    assert made.status_code == 200, made.text
    deployment = made.json()
    config = client.get(f"/v2/{deployment['config']}", headers=auth())
    assert config.status_code == 200, config.text
    assert config.json()["id"] == deployment["configId"] == config_id_of(BASE_MODEL)
    revision = client.get(
        f"/v2/{_PUBLIC}/revisions/{deployment['modelRevisionId']}", headers=auth()
    )
    assert revision.status_code == 200, revision.text
    assert deployment["model"] == f"{_PUBLIC}/revisions/{deployment['modelRevisionId']}"
    listed = client.get(f"/v2/{_PUBLIC}/revisions", headers=auth()).json()["data"]
    assert [r["revisionId"] for r in listed] == [deployment["modelRevisionId"]]


def test_a_config_is_named_by_its_id_or_its_path_in_the_public_project_or_ones_own(
    client: TestClient,
) -> None:
    endpoint = _endpoint(client)
    config_id = config_id_of(BASE_MODEL)
    for i, sent in enumerate(
        [
            config_id,
            f"projects/proj-together/configs/{config_id}",
            f"projects/{_project(client)}/configs/{config_id}",  # as the 3.x CLI qualifies it
        ]
    ):
        made = _create(client, endpoint, name=f"v{i}", config=sent)
        assert made.status_code == 200, made.text
        assert made.json()["configId"] == config_id


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"config": "anything"}, 404, "config"),
        ({"config": "projects/proj-together/configs/cr_nothing"}, 404, "config"),
        ({"config": f"projects/proj-other/configs/{config_id_of(BASE_MODEL)}"}, 404, "config"),
        ({"modelRevisionId": "rev_bogus"}, 404, "modelRevisionId"),
        ({"model": f"{_PUBLIC}/revisions/rev_bogus"}, 404, "model"),
    ],
)
def test_a_config_or_revision_that_exists_nowhere_is_refused_naming_it(
    client: TestClient, fields: dict[str, Any], status: int, param: str
) -> None:
    endpoint = _endpoint(client)
    _refused(_create(client, endpoint, **fields), status, param)
    listed = client.get(f"{_url(endpoint)}/deployments", headers=auth()).json()
    assert listed["data"] == []


def test_an_unknown_public_model_has_no_revisions(client: TestClient) -> None:
    answer = client.get("/v2/projects/proj-together/models/ml_nothing/revisions", headers=auth())
    _refused(answer, 404, "id")
