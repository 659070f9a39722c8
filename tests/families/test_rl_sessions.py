"""RL training sessions over HTTP on the manual clock at the service's pace: a session created,
running, driven by forward-backward / optimizer-step / sample operations one after another, its
checkpoints saved, listed and downloaded, resumed from, stopped (failing what it interrupts),
and the checks on a request. Every answer is checked against the spec: the April spec, whose
sessions name their base model (``test_rl_sessions_august.py`` has SDK 3.x's shapes)."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openapi import ENV_SPEC_VERSION
from tests.spec_calls import Api

BASE = "meta-llama/Meta-Llama-3-8B-Instruct"
OPS = "/rl/training-sessions/{session_id}/operations/"
SAMPLE = {
    "model_input": {"chunks": [{"encoded_text": {"tokens": [1, 2, 3]}}]},
    "loss_inputs": {"target_tokens": {"data": [2, 3, 4]}, "loss_mask": {"data": [0, 1, 1]}},
}
CROSS_ENTROPY = {"samples": [SAMPLE], "loss": {"type": "LOSS_TYPE_CROSS_ENTROPY"}}
PREFIX = "TRAINING_OPERATION_STATUS_"


@pytest.fixture(autouse=True)
def _april_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the app and the answers' checks are made: both read the version from here."""
    monkeypatch.setenv(ENV_SPEC_VERSION, "april")


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def _start(api: Api, **fields: Any) -> str:
    session = api.call("POST /rl/training-sessions", json={"base_model": BASE, **fields})
    assert (session["status"], session["step"]) == ("TRAINING_SESSION_STATUS_CREATING", "0")
    session_id: str = session["id"]
    return session_id


def _submit(api: Api, session_id: str, kind: str, body: Any = None) -> str:
    operation = api.call(f"POST {OPS}{kind}", json=body or {}, session_id=session_id)
    assert operation["status"] == PREFIX + "PENDING"
    operation_id: str = operation["id"]
    return operation_id


def _get(api: Api, session_id: str, kind: str, operation_id: str) -> dict[str, Any]:
    key = f"GET {OPS}{kind}/{{operation_id}}"
    body: dict[str, Any] = api.call(key, session_id=session_id, operation_id=operation_id)
    return body


def test_operations_run_one_after_another_once_the_session_is_running(api: Api) -> None:
    session_id = _start(api)
    backward = _submit(api, session_id, "forward-backward", CROSS_ENTROPY)
    step = _submit(api, session_id, "optim-step", {"learning_rate": 1e-4})
    api.advance(60)  # the session is running; the forward-backward now takes 5 s
    session = api.call("GET /rl/training-sessions/{session_id}", session_id=session_id)
    assert session["status"] == "TRAINING_SESSION_STATUS_RUNNING"
    assert _get(api, session_id, "forward-backward", backward)["status"] == PREFIX + "RUNNING"
    assert _get(api, session_id, "optim-step", step)["status"] == PREFIX + "PENDING"
    api.advance(6)
    loss = _get(api, session_id, "forward-backward", backward)["output"]["loss"]
    assert 2.0 < loss < 2.6
    assert _get(api, session_id, "optim-step", step)["output"] == {"step": "1"}
    session = api.call("GET /rl/training-sessions/{session_id}", session_id=session_id)
    assert session["step"] == "1"


def test_a_sample_gives_num_samples_completions_per_prompt(api: Api) -> None:
    session_id = _start(api)
    prompts = [{"chunks": [{"encoded_text": {"tokens": [5, 6]}}]}] * 2
    body = {"prompts": prompts, "num_samples": 3, "sampling_params": {"max_tokens": 4}}
    sample = _submit(api, session_id, "sample", body)
    api.advance(65)
    rollouts = _get(api, session_id, "sample", sample)["output"]["rollouts"]
    assert [len(r["sequences"]) for r in rollouts] == [3, 3]
    assert {len(s["tokens"]) for r in rollouts for s in r["sequences"]} == {4}
    assert {s["stop_reason"] for r in rollouts for s in r["sequences"]} == {"length"}
    too_many = api.error(
        "POST /rl/training-sessions/{session_id}/operations/sample",
        400,
        session_id=session_id,
        json={**body, "num_samples": 65},  # the overlay's documented maximum is 64
    )
    assert too_many["param"] == "num_samples"


def test_checkpoints_are_listed_downloaded_and_resumed_from(api: Api, client: TestClient) -> None:
    session_id = _start(api, lora_config={"rank": 4})
    _submit(api, session_id, "optim-step")
    _submit(api, session_id, "inference-checkpoint")
    _submit(api, session_id, "training-checkpoint")
    api.advance(100)
    session = api.call("GET /rl/training-sessions/{session_id}", session_id=session_id)
    [inference], [training] = session["inference_checkpoints"], session["training_checkpoints"]
    assert inference["registration"]["model_name"] == (
        "sim-user/Meta-Llama-3-8B-Instruct-rl-step-1-20260101"
    )
    assert (inference["step"], training["step"]) == ("1", "1")
    files = api.call(
        "GET /rl/checkpoints/{id}/download",
        query={"variant": "CHECKPOINT_VARIANT_ADAPTER"},
        id=inference["id"],
    )["data"]
    assert [f["filename"] for f in files] == ["adapter_model.safetensors", "adapter_config.json"]
    weights = client.get(files[0]["url"]).content
    assert str(len(weights)) == files[0]["size"]
    (length,) = struct.unpack("<Q", weights[:8])
    header = json.loads(weights[8 : 8 + length])
    assert "simulated" in header["__metadata__"]["together_sim"]
    assert [t["shape"] for n, t in header.items() if n.endswith("lora_A.weight")] == [[4, 16]]
    unspecified = api.call(
        "GET /rl/checkpoints/{id}/download",
        query={"variant": "CHECKPOINT_VARIANT_UNSPECIFIED"},  # the spec's default: the adapter
        id=inference["id"],
    )["data"]
    assert [f["filename"] for f in unspecified] == [f["filename"] for f in files]
    unknown = api.error(
        "GET /rl/checkpoints/{id}/download", 400, id=inference["id"], query={"variant": "FULL"}
    )
    assert unknown["param"] == "variant"
    training_only = api.error(
        "GET /rl/checkpoints/{id}/download",
        400,
        id=training["id"],
        query={"variant": "CHECKPOINT_VARIANT_MERGED"},
    )
    assert training_only["param"] == "id"
    resumed = api.call(
        "POST /rl/training-sessions",
        json={"base_model": BASE, "resume_from_checkpoint_id": training["id"]},
    )
    assert resumed["step"] == "1"
    for ref, status in ((inference["id"], 400), ("no-such-checkpoint", 404)):
        body = {"base_model": BASE, "resume_from_checkpoint_id": ref}
        refused = api.error("POST /rl/training-sessions", status, json=body)
        assert refused["param"] == "resume_from_checkpoint_id"


def test_a_stop_fails_the_operations_it_interrupts_and_later_ones(api: Api) -> None:
    session_id = _start(api)
    api.advance(60)
    running = _submit(api, session_id, "forward-backward", CROSS_ENTROPY)
    stopped = api.call("POST /rl/training-sessions/{session_id}/stop", session_id=session_id)
    assert stopped["status"] == "TRAINING_SESSION_STATUS_STOPPING"
    failed = _get(api, session_id, "forward-backward", running)
    assert failed["status"] == PREFIX + "FAILED"
    assert failed["error"]["code"] == "TRAINING_OPERATION_ERROR_CODE_SESSION_NOT_ACTIVE"
    api.advance(10)
    late = api.call(f"POST {OPS}optim-step", json={}, session_id=session_id)
    assert late["status"] == PREFIX + "FAILED"
    session = api.call("GET /rl/training-sessions/{session_id}", session_id=session_id)
    assert (session["status"], session["step"]) == ("TRAINING_SESSION_STATUS_STOPPED", "0")


def test_a_trainer_only_session_does_not_sample(api: Api) -> None:
    session_id = _start(api, type="SESSION_TYPE_TRAINER_ONLY")
    prompts = [{"chunks": [{"encoded_text": {"tokens": [1]}}]}]
    refused = api.call(f"POST {OPS}sample", json={"prompts": prompts}, session_id=session_id)
    assert refused["error"]["code"] == "TRAINING_OPERATION_ERROR_CODE_INVALID_INPUT"


@pytest.mark.parametrize(
    ("loss_inputs", "loss", "param"),
    [
        ({"loss_mask": {"data": [1]}}, {"type": "LOSS_TYPE_CROSS_ENTROPY"}, "loss_mask.data"),
        ({}, {"type": "LOSS_TYPE_GRPO"}, "grpo_inputs"),
    ],
)
def test_a_malformed_batch_is_refused_naming_the_field(
    api: Api, loss_inputs: dict[str, Any], loss: dict[str, Any], param: str
) -> None:
    session_id = _start(api)
    inputs = {"target_tokens": {"data": [1, 2]}, **loss_inputs}
    body = {"samples": [{**SAMPLE, "loss_inputs": inputs}], "loss": loss}
    error = api.error(f"POST {OPS}forward-backward", 400, json=body, session_id=session_id)
    assert error["param"] == f"samples.0.loss_inputs.{param}"


def test_unknown_sessions_and_operations_are_404s_naming_the_parameter(api: Api) -> None:
    assert api.error(f"POST {OPS}optim-step", 404, json={}, session_id="nope")["param"] == (
        "session_id"
    )
    first, second = _start(api), _start(api)
    operation = _submit(api, first, "optim-step")
    wrong_session = api.error(
        f"GET {OPS}optim-step/{{operation_id}}", 404, session_id=second, operation_id=operation
    )
    assert wrong_session["param"] == "operation_id"


def test_sessions_list_newest_first_a_page_at_a_time(api: Api) -> None:
    ids = [_start(api) for _ in range(3)]
    page = api.call("GET /rl/training-sessions", query={"limit": 2})
    assert [s["id"] for s in page["data"]] == ids[:0:-1]
    assert page["meta"] == {"limit": 2, "has_more": True, "next_cursor": ids[1]}
    rest = api.call("GET /rl/training-sessions", query={"limit": 2, "after": ids[1]})
    assert ([s["id"] for s in rest["data"]], rest["meta"]["has_more"]) == ([ids[0]], False)
