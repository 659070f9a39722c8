"""Model uploads over HTTP on the manual clock at the service's pace: ``POST /models`` creates a
job that walks Queued → Running → Complete, and then ``GET /models`` lists the model beside the
catalogue and the tenant's completed fine-tunes. Every answer is checked against the spec."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.spec_calls import Api
from tests.steps import auth, conversations, create_job, upload

S3 = "https://ml-models.s3.us-west-2.amazonaws.com/models/my-fine-tuned-model.tar.gz"


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def _model_ids(client: TestClient) -> list[str]:
    listed = client.get("/v1/models", headers=auth())
    assert listed.status_code == 200, listed.text
    return [model["id"] for model in listed.json()]


def test_an_upload_job_completes_and_models_then_lists_it_with_the_fine_tunes(
    api: Api, client: TestClient
) -> None:
    training = upload(client, conversations(16))["id"]
    fine_tune = create_job(client, training, suffix="mine")["model_output_name"]
    uploaded = api.call("POST /models", json={"model_name": "My-Model", "model_source": S3})
    assert uploaded["message"] == "Processing model weights. Job created."
    data = uploaded["data"]
    assert (data["model_name"], data["model_source"]) == ("sim-user/My-Model", "s3")
    job = api.call("GET /jobs/{jobId}", jobId=data["job_id"])
    assert (job["type"], job["status"], job["args"]["modelSource"]) == (
        "model_upload",
        "Queued",
        S3,
    )
    assert "sim-user/My-Model" not in _model_ids(client)
    api.advance(10)
    assert api.call("GET /jobs/{jobId}", jobId=data["job_id"])["status"] == "Running"
    api.advance(10_000)
    done = api.call("GET /jobs/{jobId}", jobId=data["job_id"])
    assert [update["message"] for update in done["status_updates"]] == [
        "Job is Queued",
        "Job is Running",
        "Job is Complete",
    ]
    models = _model_ids(client)
    assert models[-2:] == [fine_tune, "sim-user/My-Model"]
    assert "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference" in models


def test_jobs_list_newest_first_and_an_unknown_job_is_a_404(api: Api) -> None:
    first = api.call("POST /models", json={"model_name": "a", "model_source": "org/a"})
    second = api.call("POST /models", json={"model_name": "b", "model_source": "org/b"})
    assert first["data"]["model_source"] == "huggingface"
    listed = [job["job_id"] for job in api.call("GET /jobs")["data"]]
    assert listed == [second["data"]["job_id"], first["data"]["job_id"]]
    error = api.error("GET /jobs/{jobId}", 404, jobId="job-nope")
    assert (error["param"], error["message"]) == ("jobId", "Job job-nope not found")


def test_a_taken_name_or_an_unreadable_source_is_refused(api: Api) -> None:
    api.call("POST /models", json={"model_name": "dup", "model_source": "org/x"})
    taken = api.error("POST /models", 409, json={"model_name": "dup", "model_source": "org/y"})
    assert (taken["param"], taken["message"]) == (
        "model_name",
        "A model named sim-user/dup already exists",
    )
    odd = api.error("POST /models", 400, json={"model_name": "x", "model_source": "not a source"})
    assert odd["param"] == "model_source"


def test_another_key_sees_none_of_the_uploads(api: Api, client: TestClient) -> None:
    api.call("POST /models", json={"model_name": "private", "model_source": "org/p"})
    other = Api(client, key="other-key")
    assert other.call("GET /jobs") == {"data": []}
