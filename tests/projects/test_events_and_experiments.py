"""An endpoint's event log and its A/B experiments over HTTP, on the manual clock: every write
and every state a deployment entered, filtered and paged; an experiment dividing the control's
traffic by percent, its checks, etags and what it keeps from being deleted."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.projects.test_routes import (
    ENDPOINT,
    ENDPOINTS,
    _answer,
    _chat,
    _deploy,
    _endpoint,
    _ok,
    _patch,
    _refused,
    _route,
    _url,
)
from tests.steps import BASE_MODEL, advance, auth

# -- the endpoint's event log ---------------------------------------------------------------------


def _events(client: TestClient, endpoint: Any, **query: Any) -> Any:
    listed = client.get(_url(endpoint) + "/events", headers=auth(), params=query)
    return _ok(listed, "GET", ENDPOINT + "/events")


def test_the_event_log_keeps_every_write_and_every_state_newest_first(
    client: TestClient,
) -> None:
    endpoint = _endpoint(client)
    deployment = _deploy(client, endpoint, BASE_MODEL)
    _route(client, endpoint, (deployment, 1))
    advance(client, 61)
    _patch(client, endpoint, deployment, autoscaling={"minReplicas": 0, "maxReplicas": 0})
    advance(client, 15)
    log = _events(client, endpoint)["data"]
    assert [(e["type"], e.get("reason")) for e in reversed(log)] == [
        ("endpoint.created", None),
        ("deployment.created", None),
        ("endpoint.updated", None),
        ("condition.set", "ReplicasProgressing"),
        ("condition.set", "AllReplicasReady"),
        ("deployment.updated", None),
        ("deployment.scaled", None),
        ("condition.set", "ReplicasStopping"),
        ("condition.set", "Stopped"),
    ]
    scaled = next(e for e in log if e["type"] == "deployment.scaled")
    assert (scaled["oldReplicas"], scaled["newReplicas"]) == (1, 0)
    updated = next(e for e in log if e["type"] == "endpoint.updated")
    assert updated["paths"] == ["trafficSplit"]

    conditions = _events(client, endpoint, types="condition.set,deployment.created")["data"]
    assert {e["type"] for e in conditions} == {"condition.set", "deployment.created"}
    only_endpoint = _events(client, endpoint, sourceKinds="SOURCE_KIND_ENDPOINT")["data"]
    assert [e["type"] for e in only_endpoint] == ["endpoint.updated", "endpoint.created"]
    first = _events(client, endpoint, limit=2)
    assert len(first["data"]) == 2
    rest = _events(client, endpoint, after=first["next_cursor"])["data"]
    assert first["data"] + rest == log
    assert _events(client, endpoint, minLevel="LEVEL_WARN")["data"] == []
    wrong = client.get(_url(endpoint) + "/events?deploymentIds=dep_nope", headers=auth())
    _refused(wrong, 400, "deploymentIds.0")


# -- A/B experiments ------------------------------------------------------------------------------

CONTROL, VARIANT = "AB_EXPERIMENT_MEMBER_ROLE_CONTROL", "AB_EXPERIMENT_MEMBER_ROLE_VARIANT"
AB = ENDPOINTS[:-1] + "s/{endpointId}/abExperiments"


def _members(*split: tuple[Any, str, int]) -> list[dict[str, Any]]:
    return [{"deploymentId": d["id"], "role": r, "percent": p} for d, r, p in split]


def test_an_ab_experiment_divides_the_controls_traffic_by_percent(client: TestClient) -> None:
    endpoint = _endpoint(client)
    control = _deploy(client, endpoint, BASE_MODEL, "control")
    variant = _deploy(client, endpoint, "Qwen/Qwen3-8B", "variant")
    _route(client, endpoint, (control, 1))  # the variant gets no live traffic of its own
    advance(client, 60)
    url = _url(endpoint) + "/abExperiments"
    split = _members((control, CONTROL, 70), (variant, VARIANT, 30))
    created = client.post(url, headers=auth(), json={"name": "try-qwen", "members": split})
    experiment = _ok(created, "POST", AB)
    assert experiment["id"].startswith("abx_")
    assert experiment["createdBy"] == client.get("/v1/whoami", headers=auth()).json()["api_key_id"]

    as_variant = _answer(_chat(client, "Qwen/Qwen3-8B"))
    as_control = _answer(_chat(client, BASE_MODEL))
    answers = [_answer(_chat(client, endpoint["name"])) for _ in range(200)]
    assert set(answers) == {as_control, as_variant}
    assert 30 <= answers.count(as_variant) <= 90  # 30 % of 200, give or take 4.6 sd

    listed = _ok(client.get(url, headers=auth()), "GET", AB)
    assert [e["id"] for e in listed["data"]] == [experiment["id"]]
    one = _url(endpoint) + f"/abExperiments/{experiment['id']}"
    moved = client.patch(
        one,
        headers=auth(),
        json={
            "members": _members((control, CONTROL, 50), (variant, VARIANT, 50)),
            "etag": experiment["etag"],
        },
    )
    moved_body = _ok(moved, "PATCH", AB + "/{id}")
    assert [m["percent"] for m in moved_body["members"]] == [50, 50]
    _refused(client.delete(one + f"?etag={experiment['etag']}", headers=auth()), 409, "etag")

    _patch(client, endpoint, variant, autoscaling={"minReplicas": 0, "maxReplicas": 0})
    _refused(client.delete(_url(endpoint, variant), headers=auth()), 400, "id")  # still a member
    assert _ok(client.delete(one, headers=auth()), "DELETE", AB + "/{id}") == {}
    assert client.delete(_url(endpoint, variant), headers=auth()).status_code == 200


@pytest.mark.parametrize(
    ("split", "param"),
    [
        (lambda c, v: _members((c, CONTROL, 100)), "members"),
        (lambda c, v: _members((c, CONTROL, 60), (v, VARIANT, 30)), "members"),
        (lambda c, v: _members((c, VARIANT, 50), (v, VARIANT, 50)), "members"),
        (lambda c, v: _members((c, CONTROL, 50), (c, VARIANT, 50)), "members.1.deploymentId"),
        (lambda c, v: _members((c, CONTROL, 100), (v, VARIANT, 0)), "members.1.percent"),
        (
            lambda c, v: [
                *_members((c, CONTROL, 50)),
                {"deploymentId": "dep_x", "role": VARIANT, "percent": 50},
            ],
            "members.1.deploymentId",
        ),
    ],
)
def test_an_ab_experiment_needs_one_control_and_percents_adding_up_to_100(
    client: TestClient, split: Any, param: str
) -> None:
    endpoint = _endpoint(client)
    control = _deploy(client, endpoint, BASE_MODEL, "control")
    variant = _deploy(client, endpoint, BASE_MODEL, "variant")
    body = {"name": "ab", "members": split(control, variant)}
    _refused(client.post(_url(endpoint) + "/abExperiments", headers=auth(), json=body), 400, param)
