"""The model catalogue (``mock_server.catalogue.fine_tuning``): its entries, the limits reply and
batch sizes.

The limits reply is checked three ways: against the pinned spec's ``FineTuneModelLimits``, with
SDK 3.1.1's own response type (in process) and with SDK 1.5.35's (in one subprocess of the v1
virtual environment), because both clients parse it before they let a user create a job.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from together.lib.resources.fine_tuning import create_finetune_request
from together.types import FinetuneModelLimits

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.catalogue.fine_tuning import (
    MODELS,
    ModelEntry,
    get,
    limits_payload,
    resolve_batch_size,
)
from openapi import load_spec

SEED_MODELS = (
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "meta-llama/Llama-3.2-3B-Instruct",
)
SEED = SEED_MODELS[0]
NAMES = [m.name for m in MODELS]
V1_PYTHON = Path(__file__).resolve().parents[2] / ".venv-v1" / "bin" / "python"


def entry(name: str) -> ModelEntry:
    found = get(name)
    assert found is not None, name
    return found


# -- A minimal validator for the spec's schema dialect ------------------------------------------

_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def schema_errors(
    value: Any, schema: Mapping[str, Any], spec: Mapping[str, Any], at: str
) -> list[str]:
    """What in ``value`` breaks ``schema``: $ref, type, nullable, required, properties, items,
    additionalProperties: false and enum, which is all ``FineTuneModelLimits`` uses."""
    if "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        return schema_errors(value, node, spec, at)
    if value is None:
        return [] if schema.get("nullable") else [f"{at}: null where the spec has no nullable"]
    kind = schema.get("type")
    if kind is not None:
        is_bool = isinstance(value, bool)
        if not isinstance(value, _TYPES[kind]) or (is_bool and kind in ("integer", "number")):
            return [f"{at}: {value!r} is not {kind}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{at}: missing {key}" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], spec, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{at}: {key} is not allowed")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], spec, f"{at}[{i}]")
    return errors


@pytest.fixture(scope="module")
def limits_schema() -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    spec = load_spec()
    return spec["components"]["schemas"]["FineTuneModelLimits"], spec


# -- Entries -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SEED_MODELS)
def test_the_seed_models_are_present_and_offer_lora_and_full_training(name: str) -> None:
    model = entry(name)
    assert model.name == name
    assert model.lora is not None and model.full is not None
    assert name in catalogue.supported()


def test_the_catalogue_holds_about_thirty_models_with_distinct_names_even_ignoring_case() -> None:
    assert 25 <= len(MODELS) <= 40
    assert len({m.name.casefold() for m in MODELS}) == len(MODELS)


def test_supported_lists_every_entry_in_catalogue_order() -> None:
    assert catalogue.supported() == NAMES


def test_get_matches_a_name_exactly_or_ignoring_case_and_nothing_else() -> None:
    assert get(SEED) is entry(SEED)
    assert get(SEED.upper()) is entry(SEED)
    assert get("qwen/qwen3-8b") is entry("Qwen/Qwen3-8B")
    assert get("meta-llama/Meta-Llama-3.1-8B-Instruct") is None
    assert get(f" {SEED}") is None
    assert get("") is None


def test_entries_are_frozen() -> None:
    model = entry(SEED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.name = "other"  # type: ignore[misc]
    assert model.lora is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.lora.max_rank = 1  # type: ignore[misc]


@pytest.mark.parametrize("model", MODELS, ids=NAMES)
def test_every_entry_is_consistent_with_itself(model: ModelEntry) -> None:
    assert model.param_count > 100_000_000
    assert max(model.max_seq_length_sft, model.max_seq_length_dpo) <= model.context_length
    assert model.lora is not None, "every model Together lists takes LoRA"
    assert model.lora.default_rank <= model.lora.max_rank
    for limits in (model.lora, model.full):
        if limits is not None:
            assert 1 <= limits.min_batch_size <= limits.max_batch_size
            assert limits.min_batch_size <= limits.max_batch_size_dpo
    assert model.supports_full_training is (model.full is not None)


def test_the_catalogue_has_lora_only_vision_reasoning_and_mixtral_style_models() -> None:
    assert not entry("Qwen/Qwen2.5-7B-Instruct").supports_full_training
    assert entry("meta-llama/Llama-4-Scout-17B-16E-Instruct-VLM").supports_vision
    assert entry("deepseek-ai/DeepSeek-R1-Distill-Qwen-14B").supports_reasoning
    mixtral = entry("mistralai/Mixtral-8x7B-Instruct-v0.1").lora
    assert mixtral is not None and "w1" in mixtral.target_modules


def test_an_entry_with_a_minimum_above_its_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="min_batch_size"):
        catalogue.FullLimits(max_batch_size=1, max_batch_size_dpo=1, min_batch_size=2)
    with pytest.raises(ValueError, match="default_rank"):
        catalogue.LoraLimits(
            max_rank=16, default_rank=64, max_batch_size=8, max_batch_size_dpo=8, min_batch_size=8
        )


# -- Prices --------------------------------------------------------------------------------------


def test_prices_follow_the_published_size_brackets() -> None:
    seed = entry(SEED)
    assert seed.price_per_million_tokens_lora == 0.48
    assert seed.price_per_million_tokens_full == 0.54
    assert seed.price_per_million_tokens(lora=True, dpo=True) == 1.20
    assert seed.price_per_million_tokens(lora=False, dpo=True) == 1.35
    assert entry("Qwen/Qwen3-32B").price_per_million_tokens_lora == 1.50
    assert (
        entry("meta-llama/Llama-3.3-70B-Instruct-Reference").price_per_million_tokens_full == 3.20
    )
    assert catalogue.price_tier_for(16_000_000_000).name == "Up to 16B"
    assert catalogue.price_tier_for(16_100_000_000).name == "16.1-69B"


def test_a_lora_only_model_has_no_full_training_price() -> None:
    qwen = entry("Qwen/Qwen2.5-72B-Instruct")
    assert qwen.price_per_million_tokens_full is None
    assert qwen.price_per_million_tokens(lora=False, dpo=False) is None
    assert qwen.price_per_million_tokens(lora=True, dpo=False) == 2.90


# -- The limits reply ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=NAMES)
def test_every_limits_payload_satisfies_the_spec_schema(
    model: ModelEntry, limits_schema: tuple[Mapping[str, Any], Mapping[str, Any]]
) -> None:
    schema, spec = limits_schema
    payload = limits_payload(model, model_name=model.name)
    assert schema_errors(payload, schema, spec, "$") == []
    # Beyond the required keys: every property the spec lists is sent, full_training where allowed.
    expected = set(schema["properties"]) - ({"full_training"} if model.full is None else set())
    assert expected <= payload.keys()
    lora_properties = schema["properties"]["lora_training"]["properties"]
    assert set(lora_properties) <= payload["lora_training"].keys()


def test_the_spec_validator_in_this_file_catches_what_it_should(
    limits_schema: tuple[Mapping[str, Any], Mapping[str, Any]],
) -> None:
    schema, spec = limits_schema
    payload = limits_payload(entry(SEED), model_name=SEED)
    broken = {**payload, "max_num_epochs": "20", "full_training": None}
    del broken["merge_output_lora"]
    broken["lora_training"] = {**payload["lora_training"], "max_rank": True}
    assert sorted(schema_errors(broken, schema, spec, "$")) == [
        "$.full_training: null where the spec has no nullable",
        "$.lora_training.max_rank: True is not integer",
        "$.max_num_epochs: '20' is not integer",
        "$: missing merge_output_lora",
    ]


def test_the_limits_payload_echoes_the_model_name_it_was_asked_about() -> None:
    payload = limits_payload(entry(SEED), model_name="ft-0123abcd-4567")
    assert payload["model_name"] == "ft-0123abcd-4567"


def test_a_model_without_full_training_sends_no_full_training_object() -> None:
    payload = limits_payload(
        entry("Qwen/Qwen2.5-7B-Instruct"), model_name="Qwen/Qwen2.5-7B-Instruct"
    )
    assert "full_training" not in payload
    assert payload["supports_full_training"] is False


def test_the_limits_payload_is_json() -> None:
    for model in MODELS:
        payload = limits_payload(model, model_name=model.name)
        assert json.loads(json.dumps(payload)) == payload


@pytest.mark.parametrize("model", MODELS, ids=NAMES)
def test_every_limits_payload_parses_as_sdk_3_finetune_model_limits(model: ModelEntry) -> None:
    payload = limits_payload(model, model_name=model.name)
    parsed = FinetuneModelLimits.model_validate(payload)
    declared = {field.alias or name for name, field in FinetuneModelLimits.model_fields.items()}
    assert declared - {"full_training"} <= payload.keys()
    assert parsed.api_model_name == model.name
    assert model.lora is not None
    assert parsed.lora_training.default_rank == model.lora.default_rank
    assert parsed.lora_training.max_batch_size_dpo == model.lora.max_batch_size_dpo
    assert parsed.min_max_seq_length == model.min_max_seq_length
    assert parsed.max_seq_length_sft == model.max_seq_length_sft
    assert parsed.max_seq_length_dpo == model.max_seq_length_dpo
    assert parsed.supports_vision is model.supports_vision
    assert (parsed.full_training is None) is (model.full is None)


V1_SCRIPT = r"""
import json, sys
from together.resources.finetune import create_finetune_request
from together.types.finetune import FinetuneTrainingLimits

out = {}
for payload in json.load(sys.stdin):
    limits = FinetuneTrainingLimits(**payload)
    try:
        create_finetune_request(
            model_limits=limits, training_file="file-1", model=payload["model_name"],
            batch_size=limits.lora_training.max_batch_size + 1, lora=True,
        )
        too_big = None
    except ValueError as exc:
        too_big = str(exc)
    out[payload["model_name"]] = {
        "max_num_epochs": limits.max_num_epochs,
        "learning_rates": [limits.min_learning_rate, limits.max_learning_rate],
        "lora": limits.lora_training.model_dump(),
        "full": None if limits.full_training is None else limits.full_training.model_dump(),
        "supports_vision": limits.supports_vision,
        "too_big": too_big,
    }
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def parsed_by_v1() -> dict[str, Any]:
    """Every payload parsed by SDK 1.5.35's ``FinetuneTrainingLimits``, in one subprocess."""
    if not V1_PYTHON.exists():
        pytest.skip(f"the v1 SDK's virtual environment is missing ({V1_PYTHON})")
    payloads = [limits_payload(m, model_name=m.name) for m in MODELS]
    env = {**os.environ, "TOGETHER_NO_BANNER": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [str(V1_PYTHON), "-c", V1_SCRIPT],
        input=json.dumps(payloads),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_every_limits_payload_parses_with_the_v1_sdk(parsed_by_v1: dict[str, Any]) -> None:
    assert sorted(parsed_by_v1) == sorted(NAMES)
    for model in MODELS:
        parsed = parsed_by_v1[model.name]
        assert model.lora is not None
        assert parsed["max_num_epochs"] == model.max_num_epochs
        assert parsed["learning_rates"] == [model.min_learning_rate, model.max_learning_rate]
        assert parsed["lora"]["max_rank"] == model.lora.max_rank
        assert parsed["lora"]["target_modules"] == list(model.lora.target_modules)
        assert parsed["lora"]["max_batch_size_dpo"] == model.lora.max_batch_size_dpo
        assert (parsed["full"] is None) is (model.full is None)
        assert parsed["supports_vision"] is model.supports_vision


def test_the_v1_sdk_rejects_an_oversized_batch_with_the_server_s_message(
    parsed_by_v1: dict[str, Any],
) -> None:
    for model in MODELS:
        assert model.lora is not None
        too_big = model.lora.max_batch_size + 1
        with pytest.raises(ValueError) as ours:
            resolve_batch_size(model, too_big, lora=True, dpo=False)
        assert parsed_by_v1[model.name]["too_big"] == str(ours.value)


# -- Batch sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "lora", "dpo", "expected"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", True, False, 16),
        ("Qwen/Qwen2.5-7B-Instruct", True, True, 16),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct-Reference", True, False, 8),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct-Reference", False, True, 32),
    ],
)
def test_max_resolves_to_the_limit_of_the_training_kind(
    name: str, lora: bool, dpo: bool, expected: int
) -> None:
    assert resolve_batch_size(entry(name), "max", lora=lora, dpo=dpo) == expected


def test_max_for_dpo_uses_the_dpo_maximum() -> None:
    model = dataclasses.replace(
        entry(SEED),
        lora=catalogue.LoraLimits(
            max_rank=64, default_rank=64, max_batch_size=32, max_batch_size_dpo=16, min_batch_size=8
        ),
    )
    assert resolve_batch_size(model, "max", lora=True, dpo=False) == 32
    assert resolve_batch_size(model, "max", lora=True, dpo=True) == 16
    with pytest.raises(
        ValueError, match=r"of 24 is higher that the maximum allowed value of 16\.$"
    ):
        resolve_batch_size(model, 24, lora=True, dpo=True)


def test_a_batch_size_inside_the_limits_is_kept() -> None:
    model = entry("Qwen/Qwen2.5-3B-Instruct")  # LoRA 8..32
    assert [resolve_batch_size(model, b, lora=True, dpo=False) for b in (8, 20, 32)] == [8, 20, 32]


def test_a_batch_size_outside_the_limits_gets_the_sdk_s_exact_message() -> None:
    model = entry("Qwen/Qwen2.5-3B-Instruct")
    with pytest.raises(ValueError) as high:
        resolve_batch_size(model, 33, lora=True, dpo=False)
    assert str(high.value) == (
        "Requested batch size of 33 is higher that the maximum allowed value of 32."
    )
    with pytest.raises(ValueError) as low:
        resolve_batch_size(model, 4, lora=True, dpo=True)
    assert (
        str(low.value) == "Requested batch size of 4 is lower that the minimum allowed value of 8."
    )


def test_a_training_kind_the_model_refuses_is_named_in_the_sdk_s_words() -> None:
    with pytest.raises(ValueError) as full:
        resolve_batch_size(entry("Qwen/Qwen2.5-7B-Instruct"), "max", lora=False, dpo=False)
    assert str(full.value) == (
        "Full training is not supported for the selected model (Qwen/Qwen2.5-7B-Instruct)."
    )
    no_lora = dataclasses.replace(entry(SEED), lora=None, price_per_million_tokens_lora=None)
    with pytest.raises(
        ValueError, match=r"^LoRA adapters are not supported for the selected model"
    ):
        resolve_batch_size(no_lora, 8, lora=True, dpo=False)


@pytest.mark.parametrize("requested", [True, "8", "MAX", 8.0, None])
def test_a_batch_size_that_is_neither_an_int_nor_max_is_refused(requested: Any) -> None:
    with pytest.raises(ValueError, match="batch_size must be an integer or 'max'"):
        resolve_batch_size(entry(SEED), requested, lora=True, dpo=False)


@pytest.mark.parametrize(
    ("name", "lora", "method", "batch_size"),
    [
        (SEED, True, "sft", 9),
        (SEED, False, "dpo", 9),
        (SEED, True, "sft", 7),
        ("Qwen/Qwen2.5-3B-Instruct", True, "dpo", 33),
        ("Qwen/Qwen2.5-3B-Instruct", True, "sft", 1),
        ("Qwen/Qwen2.5-7B-Instruct", False, "sft", 16),
    ],
)
def test_the_sdk_3_client_and_the_server_refuse_a_batch_size_with_the_same_words(
    name: str, lora: bool, method: str, batch_size: int
) -> None:
    model = entry(name)
    limits = FinetuneModelLimits.model_validate(limits_payload(model, model_name=name))
    with pytest.raises(ValueError) as client:
        create_finetune_request(
            model_limits=limits,
            training_file="file-1",
            model=name,
            batch_size=batch_size,
            lora=lora,
            training_method=method,
            train_on_inputs="auto" if method == "sft" else None,
        )
    with pytest.raises(ValueError) as server:
        resolve_batch_size(model, batch_size, lora=lora, dpo=method == "dpo")
    assert str(server.value) == str(client.value)


def test_the_sdk_3_client_takes_the_default_rank_as_lora_r() -> None:
    model = entry(SEED)
    limits = FinetuneModelLimits.model_validate(limits_payload(model, model_name=SEED))
    request, *_ = create_finetune_request(
        model_limits=limits, training_file="file-1", model=SEED, lora=True, train_on_inputs="auto"
    )
    assert model.lora is not None
    training_type: Any = request.training_type
    assert training_type.lora_r == model.lora.default_rank
    assert training_type.lora_alpha == 2 * model.lora.default_rank
