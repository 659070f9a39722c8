"""A recorded answer against the pinned spec: each difference named by kind and place, and
nothing for an answer that conforms."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.record.spec_check import Finding, conform, find_reply
from openapi.spec import load_spec


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


def _findings(spec: Any, method: str, path: str, value: Any, status: int = 200) -> list[Finding]:
    reply = find_reply(spec, method, path, status, "application/json")
    assert reply.schema is not None
    return conform(value, reply.schema)


LORA_JOB: dict[str, Any] = {
    "id": "ft-6c5a2f3e",
    "user_id": "user-1",  # required since the August spec
    "status": "running",
    "n_epochs": 3,
    "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16},
    "training_method": {"method": "sft", "train_on_inputs": "auto"},
}


def test_a_job_as_the_spec_describes_it_has_no_findings(spec):
    assert _findings(spec, "GET", "/v1/fine-tunes/ft-6c5a2f3e", LORA_JOB) == []


def test_an_undeclared_field_a_missing_required_one_and_a_wrong_type_are_each_named(spec):
    job = {k: v for k, v in LORA_JOB.items() if k != "id"}

    found = _findings(
        spec, "GET", "/v1/fine-tunes/ft-1", {**job, "n_epochs": "3", "cluster_region": "eu"}
    )

    assert found == [
        Finding("extra_field", "cluster_region", actual="string"),
        Finding("missing_required", "id"),
        Finding("type_mismatch", "n_epochs", "integer", "string"),
    ]


def test_a_union_is_judged_by_the_variant_the_value_fits(spec):
    lora = {**LORA_JOB["training_type"], "lora_rank_pattern": {}}

    found = _findings(spec, "GET", "/v1/fine-tunes/ft-1", {**LORA_JOB, "training_type": lora})

    assert found == [Finding("extra_field", "training_type.lora_rank_pattern", actual="object")]


def test_fields_inside_lists_are_named_once_for_all_items(spec):
    event = {
        "object": "fine-tune-event",
        "created_at": "2026-01-01T00:00:00.000000Z",
        "message": "Job started",
        "type": "job_start",
        "param_count": 0,
        "token_count": 0,
        "total_steps": 0,
        "wandb_url": "",
        "step": 0,
        "checkpoint_path": "",
        "model_path": "",
    }
    events = {"data": [{**event, "shard": 1}, {**event, "shard": 2, "type": "job_teleported"}]}

    found = _findings(spec, "GET", "/v1/fine-tunes/ft-1/events", events)

    assert [(f.kind, f.path) for f in found] == [
        ("extra_field", "data[].shard"),
        ("type_mismatch", "data[].type"),
    ]


def test_null_written_as_an_all_of_with_nullable_is_allowed(spec):
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "prompt": [],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
    }

    assert _findings(spec, "POST", "/v1/chat/completions", answer) == []


def test_the_most_literal_path_wins_and_an_unknown_one_is_not_in_the_spec(spec):
    limits = find_reply(spec, "GET", "/v1/fine-tunes/models/limits", 200, "application/json")
    upload = find_reply(spec, "POST", "/v1/files", 302, "")

    assert limits.operation is not None and limits.operation.route == "/v1/fine-tunes/models/limits"
    assert upload.operation is None


def test_a_status_or_content_type_the_operation_does_not_declare_is_told_apart(spec):
    teapot = find_reply(spec, "GET", "/v1/fine-tunes/ft-1", 418, "application/json")
    html = find_reply(spec, "GET", "/v1/fine-tunes/ft-1", 200, "text/html")

    assert (teapot.status_declared, teapot.content_type_declared) == (False, False)
    assert (html.status_declared, html.content_type_declared) == (True, False)
