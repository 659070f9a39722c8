"""RL training sessions as SDK 3.x drives them, on the August spec (the default): a session
attached to model resources by ``model_resources_id``, with who started it, its metadata and its
policy state; samples from ``model_inputs`` answered as ``results`` with policy segments;
checkpoint operations whose output names the checkpoint; batches of named loss tensors. Every
answer is checked against the served spec (with the overlay's SDK 3.1.1 fields)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.families.rl.sessions import MAX_LORA_RANK, STAND_IN_BASE
from tests.spec_calls import Api

OPS = "/rl/training-sessions/{session_id}/operations/"
MODEL_INPUT = {"chunks": [{"encoded_text": {"tokens": [1, 2, 3]}}]}
PREFIX = "TRAINING_OPERATION_STATUS_"


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def _start(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"model_resources_id": "mr-1", "display_name": "grpo-run", **fields}
    session: dict[str, Any] = api.call("POST /rl/training-sessions", json=body)
    return session


def _run(api: Api, session_id: str, kind: str, body: Any = None) -> dict[str, Any]:
    submitted = api.call(f"POST {OPS}{kind}", json=body or {}, session_id=session_id)
    api.advance(100)  # past the session's start and the operation's work
    done: dict[str, Any] = api.call(
        f"GET {OPS}{kind}/{{operation_id}}", session_id=session_id, operation_id=submitted["id"]
    )
    assert done["status"] == PREFIX + "COMPLETED"
    return done


def test_a_session_attaches_to_model_resources_and_says_who_started_it(api: Api) -> None:
    session = _start(api, metadata={"wandb": {"project": "rl"}})
    assert session["model_resources_id"] == "mr-1"
    assert session["base_model"] == STAND_IN_BASE  # no model resources kept to read it off
    assert session["created_by"] and session["metadata"] == {"wandb": {"project": "rl"}}
    assert session["policy_state"] == {
        "trainer_step": "0",
        "target_weights_version": "0",
        "applied_weights_version": "0",
        "pending_publish": False,
    }
    assert "type" not in session  # the April spec's session type is gone


def test_a_sample_answers_results_with_policy_segments(api: Api) -> None:
    session_id = _start(api)["id"]
    _run(api, session_id, "optim-step")
    body = {
        "model_inputs": [MODEL_INPUT] * 2,
        "num_samples": 3,
        "sampling_params": {"max_tokens": 4},
    }
    results = _run(api, session_id, "sample", body)["output"]["results"]
    assert [len(r["sequences"]) for r in results] == [3, 3]
    assert {s["stop_reason"] for r in results for s in r["sequences"]} == {"STOP_REASON_LENGTH"}
    assert [r["policy_segments"] for r in results] == [[{"version": 1, "start_token": 0}]] * 2
    empty = api.error(f"POST {OPS}sample", 400, session_id=session_id, json={"model_inputs": []})
    assert empty["param"] == "model_inputs"


def test_checkpoint_operations_name_the_checkpoint_the_session_lists(api: Api) -> None:
    session_id = _start(api)["id"]
    inference = _run(api, session_id, "inference-checkpoint")["output"]
    training = _run(api, session_id, "training-checkpoint")["output"]
    assert training["checkpoint"]["id"] == training["checkpoint_id"]
    assert inference["model_name"].startswith("sim-user/Qwen3-0.6B-rl-step-0-")
    session = api.call("GET /rl/training-sessions/{session_id}", session_id=session_id)
    assert [c["id"] for c in session["inference_checkpoints"]] == [inference["checkpoint"]["id"]]
    assert [c["id"] for c in session["training_checkpoints"]] == [training["checkpoint_id"]]


def test_named_loss_tensors_must_be_of_one_length(api: Api) -> None:
    session_id = _start(api)["id"]
    tensors = {"target_tokens": {"data": [2, 3, 4], "dtype": "int64"}}
    sample = {"model_input": MODEL_INPUT, "loss_fn_inputs": tensors}
    loss = {"type": "LOSS_TYPE_CROSS_ENTROPY"}
    assert _run(api, session_id, "forward-backward", {"samples": [sample], "loss": loss})
    tensors["weights"] = {"data": [1.0], "dtype": "float32"}
    refused = api.error(
        f"POST {OPS}forward-backward",
        400,
        session_id=session_id,
        json={"samples": [sample], "loss": loss},
    )
    assert refused["param"] == "samples.0.loss_fn_inputs.weights.data"


def test_a_list_limit_of_0_is_the_default_page_and_statuses_filter_together(api: Api) -> None:
    first, second = _start(api)["id"], _start(api)["id"]
    api.call("POST /rl/training-sessions/{session_id}/stop", session_id=first)
    listed = api.call("GET /rl/training-sessions", query={"limit": 0})
    assert [s["id"] for s in listed["data"]] == [second, first]
    statuses = ["TRAINING_SESSION_STATUS_CREATING", "TRAINING_SESSION_STATUS_STOPPING"]
    both = api.call("GET /rl/training-sessions", query={"status": statuses})
    assert len(both["data"]) == 2
    creating = api.call("GET /rl/training-sessions", query={"status": statuses[:1]})
    assert [s["id"] for s in creating["data"]] == [second]


@pytest.mark.parametrize("rank", [0, -9, 65, -(2**63)])
def test_a_lora_rank_outside_1_to_the_max_is_refused_naming_it(api: Api, rank: int) -> None:
    # Once accepted, a negative rank made the checkpoint download a 500 ("negative count").
    body = {"model_resources_id": "mr-1", "lora_config": {"rank": rank}}
    error = api.error("POST /rl/training-sessions", 400, json=body)
    assert error["param"] == "lora_config.rank"


def test_the_adapter_of_a_session_at_the_max_rank_downloads(api: Api, client: TestClient) -> None:
    session_id = _start(api, lora_config={"rank": MAX_LORA_RANK})["id"]
    _run(api, session_id, "inference-checkpoint")
    session = api.call("GET /rl/training-sessions/{session_id}", session_id=session_id)
    [inference] = session["inference_checkpoints"]
    files = api.call(
        "GET /rl/checkpoints/{id}/download",
        query={"variant": "CHECKPOINT_VARIANT_ADAPTER"},
        id=inference["id"],
    )["data"]
    config = client.get(next(f["url"] for f in files if f["filename"] == "adapter_config.json"))
    assert config.json()["r"] == MAX_LORA_RANK
