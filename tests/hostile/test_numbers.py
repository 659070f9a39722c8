"""Numbers no record can hold, sent over a real socket to a real server process: NaN, the
infinities, ``1e400`` (which reads as infinity), integers wider than 64 bits (``1e30`` counts as
one) and values past the model's limits, in each numeric field of a fine-tune's create and price
estimate and of a deployment, in the metrics filter and in ``/_sim/advance``.

Each is a 400 in Together's body naming the field, nothing is stored (the tenant's list is still
empty), and the next request on the same keep-alive connection is answered: before these were
refused, one NaN made that tenant's job list a 500 for good, and a clock moved by 1e12 seconds
broke every route until a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hostile.conftest import (
    SimProcess,
    Wire,
    assert_together_error,
    key_for,
    listed,
    upload_file,
)
from tests.steps import BASE_MODEL, conversations

pytestmark = pytest.mark.e2e

NOT_FINITE = ["NaN", "Infinity", "-Infinity", "1e400"]
TOO_WIDE = ["1e30", str(2**63), str(-(2**63) - 1)]
TENANT = "hostile-numbers"  # the one tenant of the fine-tune cases: its list must stay empty


def raw_json(fields: dict[str, Any], literal: dict[str, str]) -> bytes:
    """``fields`` as JSON text with each dotted path of ``literal`` set to a JSON literal, written
    as a client's encoder might (``NaN``, ``1e400``): Python's own would not write most of them."""
    marked = json.loads(json.dumps(fields))
    for path in literal:
        *parents, last = path.split(".")
        node = marked
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = f"@@{path}@@"
    text = json.dumps(marked)
    for path, value in literal.items():
        text = text.replace(f'"@@{path}@@"', value)
    return text.encode()


JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def training_file(module_sim: SimProcess) -> str:
    return str(upload_file(module_sim, TENANT, conversations(40))["id"])


@pytest.fixture
def wire(module_sim: SimProcess) -> Iterator[Wire]:
    with Wire(module_sim, key=TENANT) as wire:
        yield wire


# -- fine-tune create and the price estimate ------------------------------------------------------

FLOAT_FIELDS = [
    "learning_rate",
    "warmup_ratio",
    "weight_decay",
    "max_grad_norm",
    "lr_scheduler.lr_scheduler_args.min_lr_ratio",
    "lr_scheduler.lr_scheduler_args.num_cycles",
    "training_type.lora_dropout",
]
INTEGER_FIELDS = [
    "n_epochs",
    "n_checkpoints",
    "n_evals",
    "max_seq_length",
    "random_seed",
    "batch_size",
    "training_type.lora_r",
    "training_type.lora_alpha",
]
CASES = [(f, v) for f in FLOAT_FIELDS for v in NOT_FINITE] + [
    (f, v) for f in INTEGER_FIELDS for v in NOT_FINITE + TOO_WIDE
]
# Inside the int64 range but far past any model's limit: create and the estimate alike refuse.
PAST_LIMITS = [
    ("n_epochs", str(2**62)),
    ("n_evals", "1000000"),
    ("learning_rate", "1e300"),
    ("warmup_ratio", "1.5"),
    ("weight_decay", "-0.001"),
    ("max_seq_length", str(2**62)),
]


def _fine_tune(training_file: str, field: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"training_file": training_file, "model": BASE_MODEL}
    if field.startswith("lr_scheduler."):
        fields["lr_scheduler"] = {"lr_scheduler_type": "cosine", "lr_scheduler_args": {}}
    if field.startswith("training_type."):
        fields["training_type"] = {"type": "Lora", "lora_r": 8, "lora_alpha": 16}
    return fields


ROUTES = ["/v1/fine-tunes", "/v1/fine-tunes/estimate-price"]


def _fine_tune_cases() -> list[Any]:
    cases = []
    for route in ROUTES:
        for field, literal in CASES + PAST_LIMITS:
            cases.append(pytest.param(route, field, literal, id=f"{route}-{field}-{literal}"))
    return cases


@pytest.mark.parametrize(("route", "field", "literal"), _fine_tune_cases())
def test_a_fine_tune_number_no_job_could_hold_is_a_400_naming_it_and_nothing_is_stored(
    module_sim: SimProcess, wire: Wire, training_file: str, route: str, field: str, literal: str
) -> None:
    body = raw_json(_fine_tune(training_file, field), {field: literal})
    error = assert_together_error(wire.send("POST", route, body, headers=JSON), 400, param=field)
    assert error["type"] == "invalid_request_error"
    wire.still_answers("/v1/fine-tunes")
    assert listed(module_sim, "/v1/fine-tunes", TENANT) == []


def test_the_price_of_a_valid_request_is_still_given_on_the_same_connection(
    wire: Wire, training_file: str
) -> None:
    body = raw_json(_fine_tune(training_file, "n_epochs"), {"n_epochs": "1e30"})
    assert_together_error(
        wire.send("POST", "/v1/fine-tunes/estimate-price", body, headers=JSON), 400
    )
    fine = {"training_file": training_file, "model": BASE_MODEL, "n_epochs": 20}
    estimated = wire.send("POST", "/v1/fine-tunes/estimate-price", json_body=fine)
    assert estimated.status == 200, estimated.body
    assert estimated.json()["allowed_to_proceed"] is True


# -- a deployment ---------------------------------------------------------------------------------

IMAGE = "registry.together.xyz/proj_abc/my-image:latest"
DEPLOYMENT_CASES = (
    [(f, v) for f in ("cpu", "memory") for v in NOT_FINITE]
    + [(f, v) for f in ("gpu_count", "max_replicas", "port", "storage") for v in TOO_WIDE]
    + [("cpu", "0.05"), ("gpu_count", "-1"), ("port", "70000")]
)


@pytest.mark.parametrize(("field", "literal"), DEPLOYMENT_CASES)
def test_a_deployment_number_out_of_reach_is_a_400_naming_it_and_nothing_is_stored(
    module_sim: SimProcess, request: pytest.FixtureRequest, field: str, literal: str
) -> None:
    key = key_for(request)
    fields = {"name": "app", "gpu_type": "h100-80gb", "image": IMAGE, "port": 8080}
    with Wire(module_sim, key=key) as wire:
        body = raw_json(fields, {field: literal})
        assert_together_error(
            wire.send("POST", "/v1/deployments", body, headers=JSON), 400, param=field
        )
        wire.still_answers("/v1/deployments")
    assert listed(module_sim, "/v1/deployments", key) == []


# -- the metrics filter ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metrics_url(module_sim: SimProcess) -> str:
    key = "hostile-metrics"
    training = upload_file(module_sim, key, conversations(40))["id"]
    with Wire(module_sim, key=key) as wire:
        body = {"training_file": training, "model": BASE_MODEL, "packing": False}
        created = wire.send("POST", "/v1/fine-tunes", json_body=body)
        assert created.status == 200, created.body
    return f"/v1/fine-tunes/{created.json()['id']}/metrics"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("global_step_from=1e30", "global_step_from"),
        (f"global_step_to={2**63}", "global_step_to"),
        (f"global_step_from={-(2**63) - 1}", "global_step_from"),
        ("global_step_to=NaN", "global_step_to"),
        ("global_step_from=Infinity", "global_step_from"),
        (f"resolution={2**63}", "resolution"),
        ("logged_at_from=0001-01-01T00:00:00%2B01:00", "logged_at_from"),
        ("logged_at_to=9999-12-31T23:59:59-01:00", "logged_at_to"),
    ],
)
def test_a_metrics_query_past_what_the_store_compares_is_a_400_and_the_connection_lives(
    module_sim: SimProcess, metrics_url: str, query: str, param: str
) -> None:
    with Wire(module_sim, key="hostile-metrics") as wire:
        error = assert_together_error(wire.send("GET", f"{metrics_url}?{query}"), 400, param=param)
        assert error["message"].startswith(param)
        assert isinstance(wire.still_answers(metrics_url).json()["metrics"], list)
