"""Numbers a fine-tune cannot hold are refused before anything is stored: NaN and the infinities
(which Python's json reads, and which no stored job could be read back with), integers wider
than 64 bits (``1e30`` counts as one), and values outside the model's limits. Create and the
price estimate refuse the same requests with the same words; the metrics filter refuses what its
store cannot compare. Each refusal is Together's 400 naming the field, nothing is listed
afterwards, and the next request is answered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.fine_tuning.create import USER_LIMIT, estimate
from mock_server.fine_tuning.requests import PriceRequest
from tests.builders import make_file
from tests.steps import BASE_MODEL, advance, auth, conversations, create_job, jsonl, upload

# JSON text, as a client's encoder would write it (httpx's refuses NaN, so bodies are sent raw).
NOT_FINITE = ["NaN", "Infinity", "-Infinity", "1e400"]  # 1e400 reads as infinity
TOO_WIDE = ["1e30", str(2**63), str(-(2**63) - 1)]  # integers no int64 holds


@pytest.fixture
def train(client: TestClient) -> str:
    return str(upload(client, conversations(40))["id"])


def _raw_body(fields: dict[str, Any], raw: dict[str, str]) -> str:
    """``fields`` as JSON with each of ``raw``'s dotted paths set to a literal JSON text."""
    marked = json.loads(json.dumps(fields))
    for path, _ in raw.items():
        *parents, last = path.split(".")
        node = marked
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = f"@@{path}@@"
    text = json.dumps(marked)
    for path, literal in raw.items():
        text = text.replace(f'"@@{path}@@"', literal)
    return text


def _post(client: TestClient, path: str, body: str) -> Any:
    return client.post(
        path, headers={**auth(), "Content-Type": "application/json"}, content=body.encode()
    )


def _refused(answer: Any, message: str, param: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": None,
        }
    }


def _nothing_stored(client: TestClient) -> None:
    listed = client.get("/v1/fine-tunes", headers=auth())
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"object": "list", "data": []}


# -- create ---------------------------------------------------------------------------------------

FLOAT_FIELDS = [
    "learning_rate",
    "warmup_ratio",
    "weight_decay",
    "max_grad_norm",
    "lr_scheduler.lr_scheduler_args.min_lr_ratio",
    "lr_scheduler.lr_scheduler_args.num_cycles",
    "training_type.lora_dropout",
]


@pytest.mark.parametrize("literal", NOT_FINITE)
@pytest.mark.parametrize("field", FLOAT_FIELDS)
def test_a_number_that_is_not_finite_is_refused_naming_the_field(
    client: TestClient, train: str, field: str, literal: str
) -> None:
    fields: dict[str, Any] = {"training_file": train, "model": BASE_MODEL}
    if field.startswith("lr_scheduler."):
        fields["lr_scheduler"] = {"lr_scheduler_type": "cosine", "lr_scheduler_args": {}}
    if field.startswith("training_type."):
        fields["training_type"] = {"type": "Lora", "lora_r": 8, "lora_alpha": 16}
    body = _raw_body(fields, {field: literal})
    _refused(_post(client, "/v1/fine-tunes", body), f"{field}: must be a finite number", field)
    _nothing_stored(client)


@pytest.mark.parametrize("literal", NOT_FINITE)
def test_a_dpo_parameter_that_is_not_finite_is_refused(client: TestClient, literal: str) -> None:
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": "Hi?"}]},
            "preferred_output": [{"role": "assistant", "content": "Hello."}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
    ]
    preference = upload(client, jsonl(rows))["id"]
    fields = {"training_file": preference, "model": BASE_MODEL, "training_method": {}}
    body = _raw_body(
        fields, {"training_method.method": '"dpo"', "training_method.dpo_beta": literal}
    )
    _refused(
        _post(client, "/v1/fine-tunes", body),
        "training_method.dpo_beta: must be a finite number",
        "training_method.dpo_beta",
    )
    _nothing_stored(client)


INTEGER_FIELDS = [  # n_checkpoints: the August spec's maximum of 10 refuses these first
    "n_epochs",
    "n_evals",
    "max_seq_length",
    "random_seed",
    "batch_size",
    "training_type.lora_r",
    "training_type.lora_alpha",
]


@pytest.mark.parametrize("literal", TOO_WIDE)
@pytest.mark.parametrize("field", INTEGER_FIELDS)
def test_an_integer_wider_than_64_bits_is_refused_naming_the_field(
    client: TestClient, train: str, field: str, literal: str
) -> None:
    fields: dict[str, Any] = {"training_file": train, "model": BASE_MODEL}
    if field.startswith("training_type."):
        fields["training_type"] = {"type": "Lora", "lora_r": 8, "lora_alpha": 16}
    body = _raw_body(fields, {field: literal})
    _refused(
        _post(client, "/v1/fine-tunes", body),
        f"{field}: must be an integer from -2**63 to 2**63-1",
        field,
    )
    _nothing_stored(client)


@pytest.mark.parametrize(
    ("field", "literal"),
    [
        ("lora_r", str(2**63)),
        ("lora_r", "1e30"),
        ("lora_alpha", str(2**70)),
        ("lora_alpha", str(-(2**63) - 1)),
        ("lora_dropout", "NaN"),
        ("lora_dropout", "Infinity"),
    ],
)
def test_the_v1_sdks_flat_lora_fields_are_held_to_the_same_numbers(
    client: TestClient, train: str, field: str, literal: str
) -> None:
    # No schema names them (the spec has the training_type object), so the request model does.
    body = _raw_body({"training_file": train, "model": BASE_MODEL, "lora": True}, {field: literal})
    refused = _post(client, "/v1/fine-tunes", body)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", field, None)
    assert error["message"].startswith(f"{field}: ")
    _nothing_stored(client)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_epochs", 2**62, f"n_epochs must be between 1 and 20 (got {2**62})"),
        ("n_epochs", 0, "n_epochs must be between 1 and 20 (got 0)"),
        ("n_evals", 2**62, f"n_evals must be between 0 and 100 (got {2**62})"),
        ("n_checkpoints", 0, "n_checkpoints must be at least 1 (got 0)"),
        ("learning_rate", 1e300, "learning_rate must be between 1e-08 and 1.0 (got 1e+300)"),
        ("warmup_ratio", 1.5, "Warmup ratio should be between 0 and 1 (got 1.5)"),
        ("weight_decay", -1e-3, "Weight decay should be non-negative (got -0.001)"),
        ("max_seq_length", 2**62, f"max_seq_length must be between 1 and 131072 (got {2**62})"),
    ],
)
def test_a_number_outside_the_models_limits_is_refused_in_the_services_words(
    client: TestClient, train: str, field: str, value: float, message: str
) -> None:
    valid = upload(client, conversations(8), name="valid.jsonl")["id"]
    body = {"training_file": train, "validation_file": valid, "model": BASE_MODEL, field: value}
    _refused(client.post("/v1/fine-tunes", headers=auth(), json=body), message, field)
    _nothing_stored(client)


# -- the price estimate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "literal", "param"),
    [
        ("n_epochs", "1e30", "n_epochs"),
        ("n_evals", "1e30", "n_evals"),
        ("n_epochs", str(2**63), "n_epochs"),
        ("n_evals", str(2**63), "n_evals"),
        ("n_epochs", str(2**62), "n_epochs"),
        ("n_evals", str(2**62), "n_evals"),
        ("n_epochs", "0", "n_epochs"),
        ("n_epochs", "NaN", "n_epochs"),
        ("learning_rate", "Infinity", "learning_rate"),
        (
            "training_type",
            '{"type": "Lora", "lora_r": 1000, "lora_alpha": 16}',
            "training_type.lora_r",
        ),
    ],
)
def test_the_price_estimate_refuses_what_create_refuses_in_the_same_words(
    client: TestClient, train: str, field: str, literal: str, param: str
) -> None:
    valid = upload(client, conversations(8), name="valid.jsonl")["id"]
    fields = {"training_file": train, "validation_file": valid, "model": BASE_MODEL}
    body = _raw_body(fields, {field: literal})
    estimated = _post(client, "/v1/fine-tunes/estimate-price", body)
    created = _post(client, "/v1/fine-tunes", body)
    assert estimated.status_code == created.status_code == 400, estimated.text
    assert estimated.json() == created.json()
    assert estimated.json()["error"]["param"] == param
    _nothing_stored(client)


def test_the_price_estimate_of_a_valid_request_is_still_given(
    client: TestClient, train: str
) -> None:
    body = {"training_file": train, "model": BASE_MODEL, "n_epochs": 20}
    estimated = client.post("/v1/fine-tunes/estimate-price", headers=auth(), json=body)
    assert estimated.status_code == 200, estimated.text
    assert estimated.json()["allowed_to_proceed"] is True


def test_an_estimate_over_the_users_limit_is_not_allowed_to_proceed() -> None:
    entry = catalogue.get(BASE_MODEL)
    assert entry is not None
    huge = make_file(token_count=10**12, processing_status="COMPLETED")  # a trillion tokens
    req = PriceRequest(training_file=huge.id, model=BASE_MODEL)
    answer = estimate(req, entry, huge, None)
    assert answer["estimated_total_price"] > USER_LIMIT
    assert (answer["allowed_to_proceed"], answer["user_limit"]) == (False, USER_LIMIT)


# -- the metrics filter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"global_step_from": "1e30"}, "global_step_from"),
        ({"global_step_to": str(2**63)}, "global_step_to"),
        ({"global_step_from": str(-(2**63) - 1)}, "global_step_from"),
        ({"global_step_to": "NaN"}, "global_step_to"),
        ({"resolution": str(2**63)}, "resolution"),
        ({"logged_at_from": "0001-01-01T00:00:00+01:00"}, "logged_at_from"),
        ({"logged_at_to": "9999-12-31T23:59:59-01:00"}, "logged_at_to"),
    ],
)
def test_a_metrics_query_out_of_range_is_a_400_and_the_next_request_is_answered(
    client: TestClient, train: str, query: dict[str, str], param: str
) -> None:
    job = create_job(client, train, packing=False)
    advance(client, 3600)
    url = f"/v1/fine-tunes/{job['id']}/metrics"
    refused = client.get(url, headers=auth(), params=query)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, None)
    assert error["message"].startswith(param)
    answered = client.get(url, headers=auth())
    assert answered.status_code == 200, answered.text
    assert [m["train/global_step"] for m in answered.json()["metrics"]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("query", "message", "param"),
    [  # the August spec's filters are int64 query parameters
        (
            "global_step_from=1e30",
            "global_step_from: must be of type integer",
            "global_step_from",
        ),
        (
            f"global_step_to={2**63}",
            "global_step_to: must be an integer from -2**63 to 2**63-1",
            "global_step_to",
        ),
        ("global_step_to=NaN", "global_step_to: must be of type integer", "global_step_to"),
        (
            "global_step_from=-Infinity",
            "global_step_from: must be of type integer",
            "global_step_from",
        ),
    ],
)
def test_a_metrics_filter_out_of_range_is_a_400_naming_the_field(
    client: TestClient, train: str, query: str, message: str, param: str
) -> None:
    job = create_job(client, train, packing=False)
    url = f"/v1/fine-tunes/{job['id']}/metrics"
    _refused(client.get(f"{url}?{query}", headers=auth()), message, param)
    assert client.get(url, headers=auth()).status_code == 200


def test_the_widest_integers_are_still_accepted(client: TestClient, train: str) -> None:
    job = create_job(client, train, random_seed=2**63 - 1)
    assert job["random_seed"] == 2**63 - 1
    job = create_job(client, train, random_seed=-(2**63))
    assert job["random_seed"] == -(2**63)
    assert len(client.get("/v1/fine-tunes", headers=auth()).json()["data"]) == 2
