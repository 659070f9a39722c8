"""The seed workflow's dedicated-endpoint step (seeds/001, "Use Fine-Tuned Model": fine-tune,
deploy the output on a dedicated endpoint, chat with it by the endpoint's name, stop it, delete
it) with SDK 3.1.1 and its CLI, unchanged, against a live simulator.

3.x deploys through the project-scoped API: the key's project (``client.whoami()``, which the CLI
also calls before each command), an endpoint (``client.endpoints.create(name=...)``), a
deployment of the fine-tune's output on it (``client.endpoints.deployments.create``, the model
named ``projects/{project_id}/models/{job.model_object_id}``), the endpoint's traffic split
pointed at the deployment (with the etag it was read with), then chat on ``endpoint.name``
(``<project_slug>/<endpoint>``) once the deployment is READY. A stop is ``minReplicas`` and
``maxReplicas`` 0; a deployment is deleted once stopped, and the endpoint after its deployments.
The CLI does the same with ``together endpoints deploy``, ``update``, ``ls``, ``rm``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from together import BadRequestError, ConflictError, NotFoundError, Together

pytestmark = pytest.mark.e2e

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
HELLO: Any = [{"role": "user", "content": "Hello!"}]


@pytest.fixture
def client(instant_server: Any, api_key: str) -> Iterator[Together]:
    with Together(api_key=api_key, base_url=instant_server.root) as together:
        yield together


def _fine_tune(client: Together, path: Path) -> Any:
    training_file = client.files.upload(path, purpose="fine-tune", check=True).id
    job = client.fine_tuning.create(
        training_file=training_file, model=MODEL, lora=True, n_epochs=1, suffix="endpoint"
    )
    done = client.fine_tuning.retrieve(job.id)  # the instant clock: done by the first read
    assert done.status == "completed"
    return done


def _text(client: Together, model: str) -> str | None:
    answer = client.chat.completions.create(model=model, messages=HELLO)
    return answer.choices[0].message.content  # type: ignore[union-attr]


def test_whoami_v1_and_v3_and_projects_name_the_same_project(client: Together) -> None:
    me: Any = client.whoami()
    flat: Any = client.get("/v1/whoami", cast_to=object)
    (project,) = client.projects.list().data
    assert me.type == "project_api_key"
    assert flat == {
        "api_key_id": me.api_key.id,
        "project_id": me.project.id,
        "project_name": me.project.name,
        "project_slug": me.project.slug,
        "organization_id": me.organization.id,
        "organization_name": me.organization.name,
    }
    assert (project.id, project.slug, project.organization_id) == (
        me.project.id,
        me.project.slug,
        me.organization.id,
    )


def test_sdk_3_deploys_a_fine_tune_chats_on_the_endpoint_stops_and_deletes_it(
    client: Together, api_key: str, instant_server: Any, quickstart_file: Path
) -> None:
    job = _fine_tune(client, quickstart_file)
    me: Any = client.whoami()
    project = client.with_options(project_id=me.project.id)

    endpoint = project.endpoints.create(name="my-fine-tuned-model")
    assert endpoint.name == f"{me.project.slug}/my-fine-tuned-model"
    assert (endpoint.deployments, endpoint.traffic_split) == ([], [])

    deployment = project.endpoints.deployments.create(
        endpoint.id,
        name="ft-v1",
        model=f"projects/{me.project.id}/models/{job.model_object_id}",
        autoscaling={"min_replicas": 1, "max_replicas": 1},
    )
    assert deployment.status.state == "DEPLOYMENT_STATE_PROVISIONING"
    assert deployment.name == f"{me.project.slug}/my-fine-tuned-model/ft-v1"
    assert deployment.hardware == "1xnvidia-h100-80gb"

    routed = project.endpoints.update(
        endpoint.id,
        traffic_split=[{"deployment_id": deployment.id, "weight": 1}],
        etag=endpoint.etag,
    )
    assert routed.etag != endpoint.etag
    with pytest.raises(ConflictError):  # the etag read before the split changed
        project.endpoints.update(endpoint.id, visibility="VISIBILITY_INTERNAL", etag=endpoint.etag)

    ready = project.endpoints.deployments.retrieve(deployment.id, endpoint_id=endpoint.id)
    assert (ready.status.state, ready.status.ready_replicas) == ("DEPLOYMENT_STATE_READY", 1)
    assert ready.estimated_effective_traffic_share == 1.0

    assert _text(client, endpoint.name) == _text(client, job.x_model_output_name)
    assert _text(client, deployment.name) == _text(client, job.x_model_output_name)  # pinned to it

    stopping = project.endpoints.deployments.update(
        deployment.id,
        endpoint_id=endpoint.id,
        autoscaling={"min_replicas": 0, "max_replicas": 0},
    )
    assert stopping.status.state == "DEPLOYMENT_STATE_STOPPING"
    stopped = project.endpoints.deployments.retrieve(deployment.id, endpoint_id=endpoint.id)
    assert stopped.status.state == "DEPLOYMENT_STATE_STOPPED"
    with pytest.raises(BadRequestError) as not_running:
        _text(client, endpoint.name)
    assert not_running.value.body["error"]["code"] == "dedicated_endpoint_not_running"  # type: ignore[index]

    with pytest.raises(BadRequestError):  # "Delete its deployments first"
        project.endpoints.delete(endpoint.id)
    project.endpoints.deployments.delete(deployment.id, endpoint_id=endpoint.id)
    project.endpoints.delete(endpoint.id)
    with pytest.raises(NotFoundError):
        project.endpoints.retrieve(endpoint.id)
    with pytest.raises(NotFoundError):
        _text(client, endpoint.name)


def test_the_cli_deploys_a_fine_tune_and_stops_and_deletes_it(
    client: Together, tg: Any, quickstart_file: Path
) -> None:
    job = _fine_tune(client, quickstart_file)
    me = tg("whoami")  # "You can use `tg whoami` to see your current project ID"
    assert me["type"] == "project_api_key"
    project = ("--project", me["project"]["id"])  # what a command that changes things needs

    deployed = tg(
        *project,
        "endpoints", "deploy",
        "--model", job.x_model_output_name,
        "--endpoint", "my-fine-tuned-model",
        "--min-replicas", "1",
        "--traffic-weight", "1",
        "--merge",  # the LoRA adapter merged into its base, as a deployment of its own
    )  # fmt: skip
    endpoint, deployment = deployed["endpoint"], deployed["deployment"]
    assert endpoint["name"].endswith("/my-fine-tuned-model")
    assert endpoint["trafficSplit"] == [{"deploymentId": deployment["id"], "weight": 1.0}]

    (listed,) = [e for e in tg("endpoints", "ls")["data"] if e["id"] == endpoint["id"]]
    assert listed["deployments"][0]["state"] == "DEPLOYMENT_STATE_READY"
    assert tg("endpoints", "ls", "--org")["data"] == []  # a private endpoint is not shared
    assert _text(client, endpoint["name"]) == _text(client, job.x_model_output_name)

    tg(
        *project,
        "endpoints",
        "update",
        deployment["id"],
        "--min-replicas",
        "0",
        "--max-replicas",
        "0",
    )
    with pytest.raises(BadRequestError):
        _text(client, endpoint["name"])
    tg(*project, "endpoints", "rm", deployment["id"])
    tg(*project, "endpoints", "rm", endpoint["id"])
    with pytest.raises(NotFoundError):
        _text(client, endpoint["name"])


def test_the_cli_deploys_a_catalogue_model_and_force_removes_the_endpoint(
    client: Together, tg: Any
) -> None:
    project = ("--project", tg("whoami")["project"]["id"])
    deployed = tg(
        *project,
        "endpoints", "deploy",
        "--model", MODEL,
        "--endpoint", "llama-8b",
        "--min-replicas", "2",
        "--traffic-weight", "1",
    )  # fmt: skip
    endpoint, deployment = deployed["endpoint"], deployed["deployment"]
    assert deployment["model"].startswith("projects/proj-together/models/ml_")
    assert (deployment["hardware"], deployment["autoscaling"]["minReplicas"]) == (
        "1xnvidia-h100-80gb",
        2,
    )
    assert _text(client, endpoint["name"]) == _text(client, MODEL)

    # --force clears the routing, scales every deployment to 0 and deletes it, then the endpoint
    removed = tg(*project, "endpoints", "rm", endpoint["id"], "--force")
    assert removed == {
        "message": f"Deleted endpoint {endpoint['id']}",
        "id": endpoint["id"],
        "type": "endpoint",
    }
    assert tg("endpoints", "ls")["data"] == []
