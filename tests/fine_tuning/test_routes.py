"""``/v1/fine-tunes`` and ``/v1/finetune/download``: create (one test per validation rule),
the lifecycle on the manual clock, cancel, delete, events, checkpoints, metrics, the price
estimate, model limits and the download with the CLI's Range probe."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.catalogue import fine_tuning as catalogue
from tests.steps import (
    BASE_MODEL,
    QUICKSTART,
    advance,
    auth,
    conversations,
    create_job,
    jsonl,
    upload,
)

V1_AGENT = {"User-Agent": "Together/v1 PythonBindings/1.5.35"}


@pytest.fixture
def train(client: TestClient) -> str:
    """40 conversations: with packing off and batch 8, 5 steps an epoch."""
    return str(upload(client, conversations(40))["id"])


def _ten_step_job(client: TestClient, train: str, **fields: Any) -> dict[str, Any]:
    """2 epochs x 5 steps, one intermediate checkpoint at step 5. At speed 1: queued at 5 s,
    running at 30 s, step k at 50 + 3k s, compressing at 80 s, uploading at 125 s, done at 185 s."""
    return create_job(client, train, packing=False, n_epochs=2, n_checkpoints=2, **fields)


def _get(client: TestClient, job_id: str, **headers: str) -> dict[str, Any]:
    got = client.get(f"/v1/fine-tunes/{job_id}", headers={**auth(), **headers})
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def _rejected(
    client: TestClient, body: dict[str, Any], status: int = 400
) -> tuple[str | None, str | None]:
    created = client.post("/v1/fine-tunes", headers=auth(), json=body)
    assert created.status_code == status, created.text
    error = created.json()["error"]
    assert error["type"] == "invalid_request_error"
    return error["message"], error["param"]


# -- create: one test per rule --------------------------------------------------------------------


def test_a_model_and_a_checkpoint_together_are_rejected(client: TestClient, train: str) -> None:
    body = {"training_file": train, "model": BASE_MODEL, "from_checkpoint": "ft-x"}
    assert _rejected(client, body) == (
        "You must specify either a model or a checkpoint to start a job from, not both",
        "from_checkpoint",
    )


def test_neither_a_model_nor_a_checkpoint_is_rejected(client: TestClient, train: str) -> None:
    # The spec's check (the overlay's if/then: model unless from_checkpoint) comes first.
    assert _rejected(client, {"training_file": train}) == ("model is required", "model")


def test_evaluations_without_a_validation_file_are_rejected(client: TestClient, train: str) -> None:
    body = {"training_file": train, "model": BASE_MODEL, "n_evals": 2}
    assert _rejected(client, body) == (
        "You have specified a number of evaluation loops but no validation file.",
        "n_evals",
    )


def test_an_empty_validation_file_means_none_as_the_v1_sdk_sends_it(
    client: TestClient, train: str
) -> None:
    job = create_job(client, train, validation_file="", n_evals=0)
    assert (job["validation_file"], job["n_evals"]) == ("", 0)
    body = {"training_file": train, "model": BASE_MODEL, "validation_file": "", "n_evals": 3}
    assert _rejected(client, body)[1] == "n_evals"


def test_a_suffix_over_64_characters_is_rejected(client: TestClient, train: str) -> None:
    body = {"training_file": train, "model": BASE_MODEL, "suffix": "s" * 65}
    message, param = _rejected(client, body)
    assert (message, param) == (f"suffix: {'s' * 65!r} is too long", "suffix")  # the spec's check
    assert create_job(client, train, suffix="s" * 64)["suffix"] == "s" * 64


def test_a_batch_size_above_the_limit_uses_the_sdks_words(client: TestClient, train: str) -> None:
    body = {"training_file": train, "model": BASE_MODEL, "batch_size": 16}
    assert _rejected(client, body) == (
        "Requested batch size of 16 is higher that the maximum allowed value of 8.",
        "batch_size",
    )


def test_a_batch_size_below_the_limit_uses_the_sdks_words(client: TestClient, train: str) -> None:
    body = {"training_file": train, "model": BASE_MODEL, "batch_size": 4}
    assert _rejected(client, body) == (
        "Requested batch size of 4 is lower that the minimum allowed value of 8.",
        "batch_size",
    )


def test_batch_size_max_resolves_to_the_models_limit(client: TestClient, train: str) -> None:
    assert create_job(client, train, batch_size="max")["batch_size"] == 8


def test_a_lora_rank_above_max_rank_is_rejected_in_both_sdk_shapes(
    client: TestClient, train: str
) -> None:
    expected = ("LoRA rank must be between 1 and 64 (got 128)", "training_type.lora_r")
    v1 = {"training_file": train, "model": BASE_MODEL, "lora": True, "lora_r": 128}
    assert _rejected(client, v1) == expected
    v3 = {
        "training_file": train,
        "model": BASE_MODEL,
        "training_type": {"type": "Lora", "lora_r": 128, "lora_alpha": 256},
    }
    assert _rejected(client, v3) == expected


@pytest.mark.parametrize(
    "param",
    ["dpo_beta", "rpo_alpha", "simpo_gamma", "dpo_normalize_logratios_by_length"],
)
def test_dpo_only_parameters_are_rejected_with_sft(
    client: TestClient, train: str, param: str
) -> None:
    value: float | bool = True if param == "dpo_normalize_logratios_by_length" else 0.5
    body = {
        "training_file": train,
        "model": BASE_MODEL,
        # train_on_inputs, as both SDKs send it: the spec's SFT method requires it.
        "training_method": {"method": "sft", "train_on_inputs": "auto", param: value},
    }
    assert _rejected(client, body) == (
        f"{param} is only supported for DPO training",
        f"training_method.{param}",
    )


def test_train_on_inputs_is_rejected_with_dpo(client: TestClient, train: str) -> None:
    body = {
        "training_file": train,
        "model": BASE_MODEL,
        "train_on_inputs": True,
        "training_method": {"method": "dpo"},
    }
    assert _rejected(client, body) == (
        "train_on_inputs is only supported for SFT training",
        "train_on_inputs",
    )


def test_full_training_on_a_lora_only_model_is_rejected(client: TestClient, train: str) -> None:
    body = {
        "training_file": train,
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "training_type": {"type": "Full"},
    }
    assert _rejected(client, body) == (
        "Full training is not supported for the selected model (Qwen/Qwen2.5-7B-Instruct).",
        "training_type",
    )


def test_an_unknown_model_is_rejected(client: TestClient, train: str) -> None:
    body = {"training_file": train, "model": "acme/not-a-model"}
    assert _rejected(client, body) == (
        "Model acme/not-a-model is not supported for fine-tuning. "
        "See GET /v1/fine-tunes/models/supported for the models that are.",
        "model",
    )


def test_an_unknown_training_file_is_a_404(client: TestClient) -> None:
    body = {"training_file": "file-nope", "model": BASE_MODEL}
    assert _rejected(client, body, 404) == ("File file-nope not found", "training_file")


def test_an_unknown_validation_file_is_a_404(client: TestClient, train: str) -> None:
    body = {"training_file": train, "model": BASE_MODEL, "validation_file": "file-nope"}
    assert _rejected(client, body, 404) == ("File file-nope not found", "validation_file")


def test_a_file_that_failed_validation_is_rejected_naming_the_line(client: TestClient) -> None:
    bad = upload(client, jsonl(QUICKSTART) + b"not json\n")["id"]
    assert _rejected(client, {"training_file": bad, "model": BASE_MODEL}) == (
        f"File {bad} failed validation (line 3): "
        "Error parsing json payload. Unexpected format on line 3.",
        "training_file",
    )


def test_a_missing_training_file_field_is_a_400_naming_it(client: TestClient) -> None:
    assert _rejected(client, {"model": BASE_MODEL}) == (
        "training_file is required",
        "training_file",
    )


def test_a_created_job_carries_the_resolved_request(client: TestClient, train: str) -> None:
    job = _ten_step_job(client, train, suffix="support-bot", learning_rate=1e-4)
    assert job["id"].startswith("ft-")
    assert job["object"] == "fine-tune"
    assert job["status"] == "pending"
    assert job["model"] == BASE_MODEL
    assert job["model_output_name"].startswith(
        "sim-user/Meta-Llama-3.1-8B-Instruct-Reference-support-bot-"
    )
    assert job["adapter_output_name"] == job["model_output_name"] + "-adapter"
    assert job["training_type"] == {
        "type": "Lora",
        "lora_r": 64,
        "lora_alpha": 128,
        "lora_dropout": 0.0,
        "lora_trainable_modules": "all-linear",
    }
    assert job["training_method"] == {"method": "sft", "train_on_inputs": "auto"}
    assert (job["batch_size"], job["total_steps"], job["steps_completed"]) == (8, 10, 0)
    assert (job["n_epochs"], job["n_checkpoints"], job["learning_rate"]) == (2, 2, 1e-4)
    assert job["created_at"] == "2026-01-01T00:00:00.000000Z"
    assert job["progress"] == {"estimate_available": False, "seconds_remaining": 185}
    assert isinstance(job["total_price"], int)


# -- the lifecycle on the manual clock ------------------------------------------------------------


def test_a_job_walks_pending_queued_running_compressing_uploading_completed(
    client: TestClient, train: str
) -> None:
    job_id = _ten_step_job(client, train)["id"]
    assert _get(client, job_id)["status"] == "pending"
    advance(client, 5)
    assert _get(client, job_id)["status"] == "queued"
    advance(client, 25)
    running = _get(client, job_id)
    assert running["status"] == "running"
    assert running["started_at"] == "2026-01-01T00:00:30.000000Z"
    advance(client, 26)
    running = _get(client, job_id)
    assert (running["steps_completed"], running["epochs_completed"]) == (2, 0)
    assert running["progress"] == {"estimate_available": True, "seconds_remaining": 129}
    advance(client, 24)
    compressing = _get(client, job_id)
    assert compressing["status"] == "compressing"
    assert (compressing["steps_completed"], compressing["epochs_completed"]) == (10, 2)
    advance(client, 45)
    assert _get(client, job_id)["status"] == "uploading"
    advance(client, 59.9)
    assert _get(client, job_id)["status"] == "uploading"
    advance(client, 0.1)
    done = _get(client, job_id)
    assert done["status"] == "completed"
    assert done["updated_at"] == "2026-01-01T00:03:05.000000Z"
    assert done["progress"] == {"estimate_available": False, "seconds_remaining": 0}


def test_events_follow_the_real_services_order(client: TestClient, train: str) -> None:
    job_id = _ten_step_job(client, train)["id"]
    advance(client, 185)
    events = client.get(f"/v1/fine-tunes/{job_id}/events", headers=auth()).json()["data"]
    assert [(e["type"], e["step"]) for e in events] == [
        ("job_pending", 0),
        ("job_start", 0),
        ("model_download_complete", 0),
        ("training_data_download_complete", 0),
        ("training_start", 0),
        ("epoch_complete", 5),
        ("checkpoint_save", 5),
        ("epoch_complete", 10),
        ("training_complete", 10),
        ("model_uploading", 10),
        ("model_compressing", 10),
        ("model_compression_complete", 10),
        ("model_upload_complete", 10),
        ("job_complete", 10),
    ]
    first = events[0]
    assert first["object"] == "fine-tune-event"
    assert (first["message"], first["level"], first["created_at"]) == (
        "Fine tune request created",
        "info",
        "2026-01-01T00:00:00.000000Z",
    )
    assert events[-1]["message"] == "Job finished at 2026-01-01T00:03:05Z"


def test_the_v1_sdk_gets_upper_case_event_types(client: TestClient, train: str) -> None:
    job_id = _ten_step_job(client, train)["id"]
    advance(client, 185)
    events = client.get(f"/v1/fine-tunes/{job_id}/events", headers={**auth(), **V1_AGENT})
    types = [e["type"] for e in events.json()["data"]]
    assert types[0] == "JOB_PENDING"
    assert "COMPRESSING_MODEL" in types
    assert types[-1] == "JOB_COMPLETE"
    embedded = _get(client, job_id, **V1_AGENT)["events"]
    assert [e["type"] for e in embedded] == types


def test_checkpoints_are_listed_newest_first_with_the_lora_finals(
    client: TestClient, train: str
) -> None:
    job = _ten_step_job(client, train)
    advance(client, 185)
    listed = client.get(f"/v1/fine-tunes/{job['id']}/checkpoints", headers=auth()).json()
    out = f"s3://together-sim/finetune/{job['id']}/{job['model_output_name']}"
    assert listed["data"] == [
        {
            "step": 10,
            "path": out,
            "created_at": "2026-01-01T00:03:05.000000Z",
            "checkpoint_type": "Final Merged",
            "checkpoint": "model",
        },
        {
            "step": 10,
            "path": out + "/adapter",
            "created_at": "2026-01-01T00:03:05.000000Z",
            "checkpoint_type": "Final Adapter",
            "checkpoint": "adapter",
        },
        {
            "step": 5,
            "path": f"s3://together-sim/finetune/{job['id']}/checkpoints/step-5",
            "created_at": "2026-01-01T00:01:05.000000Z",
            "checkpoint_type": "Intermediate",
            "checkpoint": "adapter",
        },
    ]


def test_a_full_fine_tune_has_one_final_checkpoint(client: TestClient, train: str) -> None:
    job = create_job(client, train, training_type={"type": "Full"}, packing=False)
    advance(client, 1000)
    listed = client.get(f"/v1/fine-tunes/{job['id']}/checkpoints", headers=auth()).json()
    assert [(c["checkpoint_type"], c["checkpoint"]) for c in listed["data"]] == [("Final", "model")]


def test_metrics_are_logged_per_step_and_filtered_by_body_or_query(
    client: TestClient, train: str
) -> None:
    job_id = _ten_step_job(client, train)["id"]
    advance(client, 62)  # step 4
    url = f"/v1/fine-tunes/{job_id}/metrics"
    so_far = client.get(url, headers=auth()).json()["metrics"]
    assert [m["train/global_step"] for m in so_far] == [1, 2, 3, 4]
    advance(client, 200)
    every = client.get(url, headers=auth()).json()["metrics"]
    assert [m["train/global_step"] for m in every] == list(range(1, 11))
    assert set(every[0]) == {
        "train/loss",
        "train/learning_rate",
        "train/global_step",
        "train/epoch",
    }
    assert every[-1]["train/loss"] < every[0]["train/loss"]
    body = client.request(
        "GET", url, headers=auth(), json={"global_step_from": 3, "global_step_to": 5}
    )
    assert [m["train/global_step"] for m in body.json()["metrics"]] == [3, 4, 5]
    query = client.get(url, headers=auth(), params={"global_step_from": 9})
    assert [m["train/global_step"] for m in query.json()["metrics"]] == [9, 10]
    logged = client.get(url, headers=auth(), params={"logged_at_from": "2026-01-01T00:01:17Z"})
    assert [m["train/global_step"] for m in logged.json()["metrics"]] == [9, 10]


def test_a_metrics_filter_field_the_spec_does_not_name_is_ignored(
    client: TestClient, train: str
) -> None:
    # The filter's schema allows more fields (no additionalProperties: false), as clients send.
    job_id = _ten_step_job(client, train)["id"]
    plain = client.get(f"/v1/fine-tunes/{job_id}/metrics", headers=auth())
    extra = client.request(
        "GET", f"/v1/fine-tunes/{job_id}/metrics", headers=auth(), content='{"steps": 1}'
    )
    assert extra.status_code == 200
    assert extra.json() == plain.json()


@pytest.mark.parametrize(
    ("query", "content", "message", "param"),
    [
        (  # the August spec's filters are query parameters, checked as the spec types them
            "global_step_from=one",
            "",
            "global_step_from: must be of type integer",
            "global_step_from",
        ),
        ("", "{oops", "The request body is not valid JSON", None),
        (
            "logged_at_from=yesterday",
            "",
            "logged_at_from: must be a valid date-time",
            "logged_at_from",
        ),
    ],
)
def test_a_bad_metrics_filter_is_a_400(
    client: TestClient, train: str, query: str, content: str, message: str, param: str | None
) -> None:
    job_id = _ten_step_job(client, train)["id"]
    url = f"/v1/fine-tunes/{job_id}/metrics?{query}"
    got = client.request("GET", url, headers=auth(), content=content)
    assert got.status_code == 400
    assert (got.json()["error"]["message"], got.json()["error"]["param"]) == (message, param)


def test_jobs_are_listed_newest_first_and_only_to_their_owner(
    client: TestClient, train: str
) -> None:
    first = create_job(client, train)["id"]
    advance(client, 1)
    second = create_job(client, train)["id"]
    listed = client.get("/v1/fine-tunes", headers=auth()).json()
    assert [j["id"] for j in listed["data"]] == [second, first]
    assert client.get("/v1/fine-tunes", headers=auth("other-key")).json()["data"] == []
    assert client.get(f"/v1/fine-tunes/{first}", headers=auth("other-key")).status_code == 404


# -- cancel and delete ----------------------------------------------------------------------------


def test_cancel_is_accepted_once_and_then_rejected(client: TestClient, train: str) -> None:
    job_id = _ten_step_job(client, train)["id"]
    advance(client, 56)
    cancelled = client.post(f"/v1/fine-tunes/{job_id}/cancel", headers=auth())
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancel_requested"
    again = client.post(f"/v1/fine-tunes/{job_id}/cancel", headers=auth())
    assert again.status_code == 400
    assert again.json()["error"] == {
        "message": f"job {job_id} is cancel_requested: it cannot become cancel_requested",
        "type": "invalid_request_error",
        "param": "id",
        "code": None,
    }
    advance(client, 5)
    stopped = _get(client, job_id)
    assert (stopped["status"], stopped["steps_completed"]) == ("cancelled", 2)
    events = client.get(f"/v1/fine-tunes/{job_id}/events", headers=auth()).json()["data"]
    assert [e["type"] for e in events][-2:] == ["cancel_requested", "job_stopped"]


def test_cancelling_a_completed_job_is_rejected(client: TestClient, train: str) -> None:
    job_id = create_job(client, train)["id"]
    advance(client, 1000)
    refused = client.post(f"/v1/fine-tunes/{job_id}/cancel", headers=auth())
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        f"job {job_id} is completed: it cannot become cancel_requested"
    )


def test_cancelling_an_unknown_job_is_a_404(client: TestClient) -> None:
    assert client.post("/v1/fine-tunes/ft-nope/cancel", headers=auth()).status_code == 404


UA_V1 = "Together/v1 PythonBindings/1.5.35"


def test_delete_answers_with_a_message_and_the_job_is_gone(client: TestClient, train: str) -> None:
    job_id = create_job(client, train)["id"]
    deleted = client.delete(f"/v1/fine-tunes/{job_id}", headers=auth())
    assert deleted.status_code == 200
    assert deleted.json()["message"] == f"Fine-tune job {job_id} deleted"
    assert client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).status_code == 404
    assert client.get(f"/v1/fine-tunes/{job_id}/events", headers=auth()).status_code == 404
    assert client.delete(f"/v1/fine-tunes/{job_id}", headers=auth()).status_code == 404


def test_a_finished_job_read_twice_is_the_same_and_gone_once_deleted(
    client: TestClient, train: str
) -> None:
    job_id = create_job(client, train)["id"]
    advance(client, 10_000)
    rendered = client.get(f"/v1/fine-tunes/{job_id}", headers=auth())
    first = rendered.json()
    assert first["status"] == "completed"
    kept = client.get(f"/v1/fine-tunes/{job_id}", headers=auth())  # now from the kept body
    assert (kept.content, kept.headers["content-type"]) == (
        rendered.content,
        rendered.headers["content-type"],
    )
    other_tenant = client.get(f"/v1/fine-tunes/{job_id}", headers=auth("someone-else"))
    assert other_tenant.status_code == 404
    assert client.get(f"/v1/fine-tunes/{job_id}").status_code == 401
    v1 = client.get(f"/v1/fine-tunes/{job_id}", headers={**auth(), "User-Agent": UA_V1}).json()
    assert v1["events"][0]["type"] == "JOB_PENDING"
    assert first["events"][0]["type"] == "job_pending"
    client.delete(f"/v1/fine-tunes/{job_id}", headers=auth())
    assert client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).status_code == 404
    client.post("/_sim/reset")
    assert client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).status_code == 404


# -- estimate-price -------------------------------------------------------------------------------


def test_the_price_estimate_has_every_field_the_v1_sdk_requires(client: TestClient) -> None:
    file = upload(client, conversations(40))
    tokens = file["validation_report"]["token_count"]
    estimated = client.post(
        "/v1/fine-tunes/estimate-price",
        headers=auth(),
        json={"training_file": file["id"], "model": BASE_MODEL, "n_epochs": 3},
    )
    assert estimated.status_code == 200
    entry = catalogue.get(BASE_MODEL)
    assert entry is not None
    per_million = entry.price_per_million_tokens(lora=True, dpo=False)
    assert per_million is not None
    assert estimated.json() == {
        "estimation_available": True,
        "allowed_to_proceed": True,
        "estimated_total_price": round(3 * tokens * per_million / 1_000_000, 6),
        "user_limit": 10_000.0,
        "estimated_train_token_count": 3 * tokens,
        "estimated_eval_token_count": 0,
    }


def test_a_jobs_total_price_is_its_estimate_in_nanodollars_everywhere_it_is_shown(
    client: TestClient, train: str
) -> None:
    estimated = client.post(
        "/v1/fine-tunes/estimate-price",
        headers=auth(),
        json={"training_file": train, "model": BASE_MODEL, "n_epochs": 2},
    ).json()["estimated_total_price"]
    created = _ten_step_job(client, train)
    listed = client.get("/v1/fine-tunes", headers=auth()).json()["data"]
    retrieved = _get(client, created["id"])
    cancelled = client.post(f"/v1/fine-tunes/{created['id']}/cancel", headers=auth()).json()

    nanodollars = round(estimated * 10**9)  # the SDKs divide by 10**9 to print dollars
    assert nanodollars > 0
    prices = [created, listed[0], retrieved, cancelled]
    assert [body["total_price"] for body in prices] == [nanodollars] * 4


def test_the_price_estimate_counts_evaluation_tokens(client: TestClient, train: str) -> None:
    valid = upload(client, jsonl(QUICKSTART), name="validation.jsonl")
    estimated = client.post(
        "/v1/fine-tunes/estimate-price",
        headers=auth(),
        json={
            "training_file": train,
            "validation_file": valid["id"],
            "model": BASE_MODEL,
            "n_evals": 4,
        },
    ).json()
    assert estimated["estimated_eval_token_count"] == 4 * valid["validation_report"]["token_count"]


def test_the_price_estimate_takes_the_3x_clis_body(client: TestClient, train: str) -> None:
    # `together fine-tuning create` (3.1.1) without a validation file: a null the pinned spec's
    # string refuses and the service takes (the overlay allows it), empty strings, null type.
    body = {
        "training_file": train,
        "from_checkpoint": "",
        "model": BASE_MODEL,
        "n_epochs": 3,
        "n_evals": 0,
        "training_method": {"method": "sft", "train_on_inputs": "auto"},
        "training_type": None,
        "validation_file": None,
    }
    estimated = client.post("/v1/fine-tunes/estimate-price", headers=auth(), json=body)
    assert estimated.status_code == 200, estimated.text
    assert estimated.json()["estimated_eval_token_count"] == 0


def test_the_price_estimate_for_an_unknown_file_is_a_404(client: TestClient) -> None:
    estimated = client.post(
        "/v1/fine-tunes/estimate-price",
        headers=auth(),
        json={"training_file": "file-nope", "model": BASE_MODEL},
    )
    assert estimated.status_code == 404
    assert estimated.json()["error"]["param"] == "training_file"


def test_the_price_estimate_for_an_unknown_model_is_a_404(client: TestClient, train: str) -> None:
    estimated = client.post(
        "/v1/fine-tunes/estimate-price",
        headers=auth(),
        json={"training_file": train, "model": "acme/not-a-model"},
    )
    assert estimated.status_code == 404
    assert estimated.json()["error"] == {
        "message": "Model acme/not-a-model is not supported for fine-tuning",
        "type": "invalid_request_error",
        "param": "model",
        "code": "not_found",
    }


# -- model limits ---------------------------------------------------------------------------------


def _limits(client: TestClient, name: str) -> Any:
    return client.get("/v1/fine-tunes/models/limits", headers=auth(), params={"model_name": name})


def test_limits_of_a_catalogue_model(client: TestClient) -> None:
    got = _limits(client, BASE_MODEL)
    assert got.status_code == 200
    body = got.json()
    entry = catalogue.get(BASE_MODEL)
    assert entry is not None
    assert body == catalogue.limits_payload(entry, model_name=BASE_MODEL)
    assert body["lora_training"] == {
        "max_rank": 64,
        "default_rank": 64,
        "max_batch_size": 8,
        "max_batch_size_dpo": 8,
        "min_batch_size": 8,
        "target_modules": [
            "k_proj",
            "up_proj",
            "o_proj",
            "q_proj",
            "down_proj",
            "v_proj",
            "gate_proj",
        ],
    }
    for field in ("max_num_epochs", "max_learning_rate", "min_learning_rate"):
        assert field in body


def test_limits_of_a_job_id_an_output_name_and_a_step_are_the_base_models(
    client: TestClient, train: str
) -> None:
    job = _ten_step_job(client, train)
    entry = catalogue.get(BASE_MODEL)
    assert entry is not None
    for name in (
        job["id"],
        f"{job['id']}:5",
        job["model_output_name"],
        f"{job['model_output_name']}:5",
    ):
        got = _limits(client, name)
        assert got.status_code == 200, name
        assert got.json() == catalogue.limits_payload(entry, model_name=name)


def test_limits_of_an_unknown_model_are_a_404(client: TestClient) -> None:
    got = _limits(client, "acme/not-a-model")
    assert got.status_code == 404
    assert got.json()["error"]["param"] == "model_name"


def test_supported_models_lists_the_catalogue(client: TestClient) -> None:
    got = client.get("/v1/fine-tunes/models/supported", headers=auth()).json()
    assert got["models"] == catalogue.supported()
    # The August spec's detailed list: a -Reference copy fine-tunes the model it copies.
    detailed = {m["name"]: m["parent_model"] for m in got["detailed_models"]}
    assert list(detailed) == got["models"]
    assert detailed["meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"] == (
        "meta-llama/Meta-Llama-3.1-8B-Instruct"
    )


# -- from_checkpoint ------------------------------------------------------------------------------


def test_a_job_can_continue_from_a_finished_job_and_from_an_intermediate_step(
    client: TestClient, train: str
) -> None:
    parent = _ten_step_job(client, train)
    advance(client, 185)
    for ref in (parent["id"], f"{parent['id']}:5", parent["model_output_name"]):
        child = client.post(
            "/v1/fine-tunes",
            headers=auth(),
            json={"training_file": train, "from_checkpoint": ref},
        )
        assert child.status_code == 200, child.text
        assert (child.json()["model"], child.json()["from_checkpoint"]) == (BASE_MODEL, ref)


def test_continuing_from_an_unfinished_job_needs_a_step(client: TestClient, train: str) -> None:
    parent = _ten_step_job(client, train)["id"]
    advance(client, 60)
    body = {"training_file": train, "from_checkpoint": parent}
    assert _rejected(client, body) == (
        f"Job {parent} is running: only a completed job has a final checkpoint to continue "
        "from (or name an intermediate one as ID:STEP)",
        "from_checkpoint",
    )
    body = {"training_file": train, "from_checkpoint": f"{parent}:4"}
    assert _rejected(client, body) == (
        f"Job {parent} has no checkpoint at step 4 (it has [])",
        "from_checkpoint",
    )


# -- download -------------------------------------------------------------------------------------


def _download(client: TestClient, job_id: str, **params: Any) -> Any:
    headers = params.pop("headers", {})
    return client.get(
        "/v1/finetune/download", headers={**auth(), **headers}, params={"ft_id": job_id, **params}
    )


def test_the_clis_range_probe_gets_206_with_the_total_size(client: TestClient, train: str) -> None:
    job = _ten_step_job(client, train)
    advance(client, 185)
    full = _download(client, job["id"], checkpoint="merged")
    assert full.status_code == 200
    assert full.headers["content-type"] == "application/octet-stream"
    total = int(full.headers["content-length"])
    assert len(full.content) == total
    name = job["model_output_name"].replace("/", "--")
    assert full.headers["content-disposition"] == f'attachment; filename="{name}.tar.zst"'
    probe = _download(client, job["id"], checkpoint="merged", headers={"Range": "bytes=0-1"})
    assert probe.status_code == 206
    assert probe.headers["content-range"] == f"bytes 0-1/{total}"
    assert probe.content == full.content[:2]
    resumed = _download(client, job["id"], checkpoint="merged", headers={"Range": "bytes=10-"})
    assert resumed.status_code == 206
    assert resumed.content == full.content[10:]


def test_the_adapter_and_the_merged_model_are_different_archives(
    client: TestClient, train: str
) -> None:
    job_id = _ten_step_job(client, train)["id"]
    advance(client, 185)
    adapter = _download(client, job_id, checkpoint="adapter")
    merged = _download(client, job_id, checkpoint="merged")
    assert adapter.status_code == merged.status_code == 200
    assert adapter.content != merged.content
    again = _download(client, job_id, checkpoint="adapter")
    assert again.content == adapter.content


def test_an_intermediate_checkpoint_downloads_while_the_job_still_runs(
    client: TestClient, train: str
) -> None:
    job_id = _ten_step_job(client, train)["id"]
    advance(client, 66)
    got = _download(client, job_id, checkpoint_step=5)
    assert got.status_code == 200
    assert got.headers["content-disposition"].endswith('-checkpoint-5.tar.zst"')
    missing = _download(client, job_id, checkpoint_step=4)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"Job {job_id} has no checkpoint at step 4"


def test_an_unfinished_job_cannot_be_downloaded(client: TestClient, train: str) -> None:
    job_id = _ten_step_job(client, train)["id"]
    advance(client, 60)
    got = _download(client, job_id, checkpoint="merged")
    assert got.status_code == 400
    assert got.json()["error"] == {
        "message": f"Job {job_id} is running: its model can be downloaded once it is completed",
        "type": "invalid_request_error",
        "param": "ft_id",
        "code": None,
    }


def test_a_full_fine_tune_downloads_only_model_output_path(client: TestClient, train: str) -> None:
    job_id = create_job(client, train, training_type={"type": "Full"})["id"]
    advance(client, 1000)
    assert _download(client, job_id, checkpoint="model_output_path").status_code == 200
    refused = _download(client, job_id, checkpoint="adapter")
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "checkpoint"


def test_downloading_an_unknown_job_is_a_404(client: TestClient) -> None:
    assert _download(client, "ft-nope", checkpoint="merged").status_code == 404


@pytest.mark.parametrize(
    "shape",
    [
        {"training_type": {"type": "Full", "lora_r": 8}},
        {"training_type": {"type": "Full"}, "lora_r": 8},
        {"lora": False, "lora_r": 8},
    ],
)
def test_lora_parameters_on_a_full_fine_tune_are_rejected(
    client: TestClient, train: str, shape: dict[str, Any]
) -> None:
    body = {"training_file": train, "model": BASE_MODEL, **shape}
    assert _rejected(client, body) == (
        "You set LoRA parameter `lora_r` for a full fine-tuning job. Please change the job type "
        "with --lora or remove `lora_r` from the arguments",
        "training_type.lora_r",
    )


def test_a_dpo_job_needs_a_preference_dataset(client: TestClient, train: str) -> None:
    body = {"training_file": train, "model": BASE_MODEL, "training_method": {"method": "dpo"}}
    assert _rejected(client, body) == (
        f"DPO training needs a preference dataset; {train} is conversation",
        "training_file",
    )


def test_a_dpo_job_on_preference_data_resolves_its_defaults(client: TestClient) -> None:
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": f"Question {i}?"}]},
            "preferred_output": [{"role": "assistant", "content": "A kind answer."}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(8)
    ]
    preference = upload(client, jsonl(rows))["id"]
    job = create_job(client, preference, training_method={"method": "dpo"})
    assert job["training_method"] == {
        "method": "dpo",
        "dpo_beta": 0.1,
        "rpo_alpha": 0.0,
        "simpo_gamma": 0.0,
        "dpo_normalize_logratios_by_length": False,
        "dpo_reference_free": False,
    }


def test_evaluations_run_on_the_validation_file_and_log_eval_loss(
    client: TestClient, train: str
) -> None:
    valid = upload(client, conversations(8), name="validation.jsonl")["id"]
    job = _ten_step_job(client, train, validation_file=valid, n_evals=2)
    advance(client, 185)
    events = client.get(f"/v1/fine-tunes/{job['id']}/events", headers=auth()).json()["data"]
    assert [
        (e["type"], e["step"]) for e in events if "valid" in e["type"] or "eval" in e["type"]
    ] == [
        ("validation_data_download_complete", 0),
        ("eval_complete", 5),
        ("eval_complete", 10),
    ]
    metrics = client.get(f"/v1/fine-tunes/{job['id']}/metrics", headers=auth()).json()["metrics"]
    assert [m["train/global_step"] for m in metrics if "eval/loss" in m] == [5, 10]
    assert _get(client, job["id"])["evals_completed"] == 2
