"""A project's models over HTTP on the manual clock at the service's pace: a completed fine-tune's
output and a ``/v1/models`` upload listed beside registered models, a remote upload walking to the
revision it makes, changes and deletes, names, paging and the project in the path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.catalogue.supported import PUBLIC_PROJECT
from tests.spec_calls import Api
from tests.steps import BASE_MODEL, KEY, advance, auth, create_job, jsonl, upload

ROWS = [
    {
        "messages": [
            {"role": "user", "content": f"Question {i}?"},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
    }
    for i in range(8)
]
MODELS = "GET /projects/{projectId}/models"
MODEL = "GET /projects/{projectId}/models/{id}"


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def project(client: TestClient) -> str:
    project: str = client.get("/v3/whoami", headers=auth(KEY)).json()["project"]["id"]
    return project


def _base_id(api: Api) -> str:
    found = api.call("GET /supported-models", query={"search": BASE_MODEL})["data"]
    base: str = next(m["id"] for m in found if m["name"] == BASE_MODEL)
    return base


def _listed(api: Api, project: str, **query: Any) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = api.call(MODELS, projectId=project, query=query)["data"]
    return data


def _register(api: Api, project: str, name: str, kind: str = "adapter") -> dict[str, Any]:
    body = {"name": name, "type": kind, "baseModelId": _base_id(api)}
    created: dict[str, Any] = api.call(
        "POST /projects/{projectId}/models", projectId=project, json=body
    )
    return created


def test_a_fine_tune_appears_as_an_adapter_once_its_job_completes(
    client: TestClient, api: Api, project: str
) -> None:
    job = create_job(client, upload(client, jsonl(ROWS))["id"], suffix="demo")
    assert _listed(api, project) == []
    advance(client, 10**6)
    [output] = _listed(api, project)
    assert (output["name"], output["weights"]["type"], output["baseModelId"]) == (
        job["model_output_name"],
        "WEIGHTS_TYPE_ADAPTER",
        _base_id(api),
    )
    assert output["description"] == f"Fine-tuned from {BASE_MODEL} by {job['id']}"
    [revision] = api.call(
        "GET /projects/{projectId}/models/{id}/revisions", projectId=project, id=output["id"]
    )["data"]
    files = api.call(
        "GET /projects/{projectId}/models/{id}/files", projectId=project, id=output["id"]
    )
    assert [f["path"] for f in files["data"]] == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    assert files["revisionId"] == revision["revisionId"]
    assert int(files["totalSizeBytes"]) == sum(int(f["sizeBytes"]) for f in files["data"])


def test_a_completed_v1_upload_is_one_of_the_projects_models(
    client: TestClient, api: Api, project: str
) -> None:
    body = {"model_name": "my-llama", "model_source": "owner/repo", "model_type": "adapter"}
    api.call("POST /models", json=body)
    assert _listed(api, project) == []
    advance(client, 130)
    [uploaded] = _listed(api, project)
    assert (uploaded["name"], uploaded["weights"]["type"]) == (
        "sim-user/my-llama",
        "WEIGHTS_TYPE_ADAPTER",
    )


def test_a_registered_model_gets_a_revision_when_its_remote_upload_succeeds(
    client: TestClient, api: Api, project: str
) -> None:
    model = _register(api, project, "my-adapter")
    assert (model["name"], model["weights"]) == (
        "sim-user/my-adapter",
        {"type": "WEIGHTS_TYPE_ADAPTER"},
    )
    secret = "hf_never-kept"
    url = "https://huggingface.co/me/lora"
    request = {"modelId": model["id"], "remoteUrl": url, "token": secret}
    created = api.call("POST /projects/{projectId}/models/uploads", projectId=project, json=request)
    assert (created["status"], "token" in created) == ("REMOTE_UPLOAD_STATUS_PENDING", False)
    data_dir = Path(client.app.state.services.store.data_dir)  # type: ignore[attr-defined]
    assert all(secret.encode() not in f.read_bytes() for f in data_dir.glob("*.sqlite3*"))
    upload_path = {"projectId": project, "id": created["id"]}
    advance(client, 10)
    running = api.call("GET /projects/{projectId}/models/uploads/{id}", **upload_path)
    assert running["status"] == "REMOTE_UPLOAD_STATUS_RUNNING"
    assert api.call(
        "GET /projects/{projectId}/models/{id}/revisions", projectId=project, id=model["id"]
    ) == {"object": "list", "data": []}
    advance(client, 120)
    done = api.call("GET /projects/{projectId}/models/uploads/{id}", **upload_path)
    assert (done["status"], done["updatedAt"]) == (
        "REMOTE_UPLOAD_STATUS_SUCCEEDED",
        "2026-01-01T00:02:10.000000Z",
    )
    events = api.call("GET /projects/{projectId}/models/uploads/{id}/events", **upload_path)
    assert [e["type"] for e in events["data"]] == [
        "upload.queued",
        "download.started",
        "download.completed",
        "revision.created",
    ]
    [revision] = api.call(
        "GET /projects/{projectId}/models/{id}/revisions", projectId=project, id=model["id"]
    )["data"]
    assert revision["revisionId"] in events["data"][-1]["message"]
    read = api.call(MODEL, projectId=project, id=model["id"])
    assert read["weights"]["architecture"] == "LlamaForCausalLM"
    pinned = api.call(
        "GET /projects/{projectId}/models/{id}/revisions/{revisionId}",
        projectId=project,
        id=model["id"],
        revisionId=revision["revisionId"],
    )
    assert pinned == revision


def test_remote_uploads_go_only_into_registered_models_from_known_places(
    client: TestClient, api: Api, project: str
) -> None:
    model = _register(api, project, "m")
    bad_url = {"modelId": model["id"], "remoteUrl": "ftp://example.com/x"}
    key = "POST /projects/{projectId}/models/uploads"
    assert api.error(key, 400, projectId=project, json=bad_url)["param"] == "remoteUrl"
    unknown = {"modelId": "ml_unknown", "remoteUrl": "owner/repo"}
    assert api.error(key, 404, projectId=project, json=unknown)["param"] == "modelId"
    create_job(client, upload(client, jsonl(ROWS))["id"])
    advance(client, 10**6)
    output = next(m for m in _listed(api, project) if m["id"] != model["id"])
    derived = {"modelId": output["id"], "remoteUrl": "owner/repo"}
    assert api.error(key, 400, projectId=project, json=derived)["param"] == "modelId"


def test_names_are_the_projects_and_unique_in_it(api: Api, project: str) -> None:
    _register(api, project, "sim-user/taken")
    key = "POST /projects/{projectId}/models"
    base = _base_id(api)
    taken = {"name": "taken", "type": "model", "baseModelId": base}
    assert api.error(key, 409, projectId=project, json=taken)["param"] == "name"
    foreign = {"name": "someone/else", "type": "model", "baseModelId": base}
    assert api.error(key, 400, projectId=project, json=foreign)["param"] == "name"
    for wrong in ("checkpoint", "model_upload"):  # the spec's description: model or adapter
        kind = {"name": "x", "type": wrong, "baseModelId": base}
        assert api.error(key, 400, projectId=project, json=kind)["param"] == "type"
    no_base = {"name": "x", "type": "model", "baseModelId": "ml_nothing"}
    assert api.error(key, 400, projectId=project, json=no_base)["param"] == "baseModelId"


def test_updates_follow_the_mask_and_a_fine_tunes_name_stays(
    client: TestClient, api: Api, project: str
) -> None:
    create_job(client, upload(client, jsonl(ROWS))["id"])
    advance(client, 10**6)
    [output] = _listed(api, project)
    key = "PATCH /projects/{projectId}/models/{id}"
    path = {"projectId": project, "id": output["id"]}
    shared = api.call(
        key,
        json={"visibility": "VISIBILITY_INTERNAL", "description": "ignored"},
        query={"updateMask": "visibility"},
        **path,
    )
    assert (shared["visibility"], shared["description"]) == (
        "VISIBILITY_INTERNAL",
        output["description"],
    )
    assert _listed(api, project, visibility="VISIBILITY_PRIVATE") == []
    organization = client.get("/v3/whoami", headers=auth(KEY)).json()["organization"]["id"]
    org_key = "GET /organizations/{organizationId}/models"
    assert api.call(org_key, organizationId=organization)["data"] == [shared]
    assert api.error(org_key, 404, organizationId="org-other")["param"] == "organizationId"
    # No mask: every mutable field is overwritten, so the visibility returns to its default.
    described = api.call(key, json={"description": "mine"}, **path)
    assert (described["visibility"], described["description"]) == ("VISIBILITY_PRIVATE", "mine")
    assert api.call(MODEL, **path) == described
    rename = api.error(key, 400, json={"name": "other"}, query={"updateMask": "name"}, **path)
    assert rename["param"] == "name"
    mask = api.error(key, 400, json={}, query={"updateMask": "weights"}, **path)
    assert mask["param"] == "updateMask"


def test_a_registered_model_renames_and_deletes(api: Api, project: str) -> None:
    model = _register(api, project, "first")
    path = {"projectId": project, "id": model["id"]}
    renamed = api.call(
        "PATCH /projects/{projectId}/models/{id}",
        json={"name": "second"},
        query={"updateMask": "name"},
        **path,
    )
    assert renamed["name"] == "sim-user/second"
    assert api.call("DELETE /projects/{projectId}/models/{id}", **path) == {}
    assert api.error(MODEL, 404, **path)["param"] == "id"


def test_deleting_a_fine_tunes_output_hides_it_and_keeps_the_job(
    client: TestClient, api: Api, project: str
) -> None:
    job = create_job(client, upload(client, jsonl(ROWS))["id"])
    advance(client, 10**6)
    [output] = _listed(api, project)
    api.call("DELETE /projects/{projectId}/models/{id}", projectId=project, id=output["id"])
    assert _listed(api, project) == []
    kept = client.get(f"/v1/fine-tunes/{job['id']}", headers=auth(KEY))
    assert kept.json()["status"] == "completed"


def test_the_list_pages_newest_first(api: Api, project: str) -> None:
    made = [_register(api, project, f"m{i}")["id"] for i in range(3)]
    first = api.call(MODELS, projectId=project, query={"limit": 2})
    assert [m["id"] for m in first["data"]] == made[::-1][:2]
    rest = api.call(MODELS, projectId=project, query={"limit": 2, "after": first["next_cursor"]})
    assert ([m["id"] for m in rest["data"]], "next_cursor" in rest) == ([made[0]], False)


def test_a_project_reaches_only_its_own_models_and_the_public_catalogues(
    api: Api, project: str
) -> None:
    assert api.error(MODELS, 404, projectId="proj-other")["param"] == "projectId"
    base = api.call(MODEL, projectId=PUBLIC_PROJECT, id=_base_id(api))
    assert (base["name"], base["projectId"]) == (BASE_MODEL, PUBLIC_PROJECT)
    other_org = api.error(MODELS, 404, projectId=project, query={"organizationId": "org-x"})
    assert other_org["param"] == "organizationId"
