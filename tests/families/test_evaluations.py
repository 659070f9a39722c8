"""Evaluations over HTTP on the manual clock at the service's pace: create → status → results for
each type, the results file, listing and filtering, the model list, and the checks on a request.
Every answer is checked against the spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.spec_calls import Api
from tests.steps import auth, conversations, create_job, jsonl, upload

JUDGE = {"model": "Qwen/Qwen3.5-9B", "system_template": "Judge it", "model_source": "serverless"}
ROWS = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(7)]


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def input_file(client: TestClient) -> str:
    file_id: str = upload(client, jsonl(ROWS), name="eval.jsonl", purpose="eval")["id"]
    return file_id


def _evaluate(api: Api, kind: str, input_file: str, **parameters: Any) -> str:
    body = {
        "type": kind,
        "parameters": {"judge": JUDGE, "input_data_file_path": input_file, **parameters},
    }
    created = api.call("POST /evaluation", json=body)
    assert created["status"] == "pending"
    workflow_id: str = created["workflow_id"]
    return workflow_id


def test_a_classification_walks_to_completed_and_counts_a_label_per_row(
    api: Api, client: TestClient, input_file: str
) -> None:
    workflow_id = _evaluate(
        api, "classify", input_file, labels=["good", "bad"], pass_labels=["good"]
    )
    assert api.call("GET /evaluation/{id}/status", id=workflow_id) == {"status": "pending"}
    for seconds, status in [(5, "queued"), (10, "running"), (60, "completed")]:
        api.advance(seconds)
        assert api.call("GET /evaluation/{id}/status", id=workflow_id)["status"] == status
    job = api.call("GET /evaluation/{id}", id=workflow_id)
    assert [u["status"] for u in job["status_updates"]] == [
        "pending",
        "queued",
        "running",
        "completed",
    ]
    assert job["updated_at"] == "2026-01-01T00:01:15.000000Z"
    results = job["results"]
    counts = json.loads(results["label_counts"])
    assert sum(counts.values()) == len(ROWS)
    assert results["pass_percentage"] == round(100 * counts["good"] / len(ROWS), 2)
    assert api.call("GET /evaluation/{id}/status", id=workflow_id)["results"] == results
    written = client.get(f"/v1/files/{results['result_file_id']}/content", headers=auth())
    lines = [json.loads(line) for line in written.text.splitlines()]
    assert [row["label"] for row in lines].count("good") == counts["good"]
    assert lines[0]["input"] == ROWS[0]


def test_a_score_stays_within_its_bounds_and_a_comparison_adds_up(
    api: Api, input_file: str
) -> None:
    scored = _evaluate(api, "score", input_file, min_score=1.0, max_score=10.0, pass_threshold=7.0)
    compared = _evaluate(api, "compare", input_file, model_a="response", model_b="response")
    api.advance(75)
    scores = api.call("GET /evaluation/{id}", id=scored)["results"]["aggregated_scores"]
    assert 1.0 <= scores["mean_score"] <= 10.0
    assert 0 <= scores["pass_percentage"] <= 100
    results = api.call("GET /evaluation/{id}/status", id=compared)["results"]
    assert (
        results["A_wins"] + results["B_wins"] + results["Ties"]
        == results["num_samples"]
        == len(ROWS)
    )


def test_the_list_is_newest_first_and_filters_by_status(api: Api, input_file: str) -> None:
    first = _evaluate(api, "classify", input_file, labels=["y", "n"], pass_labels=["y"])
    api.advance(100)
    second = _evaluate(api, "classify", input_file, labels=["y", "n"], pass_labels=["y"])
    assert [j["workflow_id"] for j in api.call("GET /evaluation")] == [second, first]
    done = api.call("GET /evaluation", query={"status": "completed"})
    assert [j["workflow_id"] for j in done] == [first]
    assert len(api.call("GET /evaluation", query={"limit": 1})) == 1


@pytest.mark.parametrize(
    ("kind", "parameters", "param"),
    [
        ("score", {"labels": ["a", "b"], "pass_labels": ["a"]}, "parameters.min_score"),
        ("classify", {"labels": ["a", "b"], "pass_labels": ["c"]}, "parameters.pass_labels"),
        ("score", {"min_score": 5, "max_score": 1, "pass_threshold": 3}, "parameters.max_score"),
        (
            "score",
            {"min_score": 0, "max_score": 1, "pass_threshold": 3},
            "parameters.pass_threshold",
        ),
        ("compare", {"model_a": "response"}, "parameters.model_b"),
    ],
)
def test_parameters_that_do_not_fit_the_type_are_refused_naming_the_field(
    api: Api, input_file: str, kind: str, parameters: dict[str, Any], param: str
) -> None:
    body = {
        "type": kind,
        "parameters": {"judge": JUDGE, "input_data_file_path": input_file, **parameters},
    }
    assert api.error("POST /evaluation", 400, json=body)["param"] == param


def test_an_unknown_input_file_or_evaluation_is_refused(api: Api) -> None:
    body = {
        "type": "compare",
        "parameters": {
            "judge": JUDGE,
            "input_data_file_path": "file-nope",
            "model_a": "a",
            "model_b": "b",
        },
    }
    assert (
        api.error("POST /evaluation", 404, json=body)["param"] == "parameters.input_data_file_path"
    )
    assert api.error("GET /evaluation/{id}", 404, id="eval-nope")["param"] == "id"
    assert api.error("GET /evaluation/{id}/status", 404, id="eval-nope")["param"] == "id"


def test_the_model_list_has_the_catalogue_and_completed_fine_tunes(
    api: Api, client: TestClient
) -> None:
    training = upload(client, conversations(16))["id"]
    output = create_job(client, training, suffix="judge")["model_output_name"]
    names = api.call("GET /evaluation/model-list")["model_list"]
    assert "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference" in names
    assert output not in names
    api.advance(10_000)
    serverless = api.call("GET /evaluation/model-list", query={"model_source": "serverless"})
    assert output in serverless["model_list"]
    dedicated = api.call("GET /evaluation/model-list", query={"model_source": "dedicated"})
    assert dedicated == {"model_list": []}
    # The spec's model_source is a free string: a source no model comes from lists nothing.
    assert api.call("GET /evaluation/model-list", query={"model_source": "byom"}) == dedicated
