"""The three answers schemathesis flags on the unmodified upstream spec (issue 12), checked by
schemathesis itself against the spec the simulator serves (the overlay's notes say why each
stays as the service sends it): a completion stream (``max_tokens`` 0, and a longer one whose
chunks before the last have no ``finish_reason``), an image answered by URL (``type: "url"``),
and a file's content as ``application/octet-stream``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from contracts.loading import Contract, RunOptions, load_contract
from contracts.target import in_process_target

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
FLAGGED = ("POST /completions", "POST /images/generations", "GET /files/{id}/content")


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract(in_process_target(), RunOptions(include=FLAGGED, phases=("examples",)))


def _call_and_validate(contract: Contract, label: str, **case: Any) -> None:
    operation = next(
        found.ok() for found in contract.schema.get_all_operations() if found.ok().label == label
    )
    operation.Case(**case).call_and_validate(headers=contract.auth_headers)


@pytest.mark.parametrize("max_tokens", [0, 3])
def test_a_completion_stream_keeps_the_served_spec(contract: Contract, max_tokens: int) -> None:
    body = {"model": MODEL, "prompt": "Hi", "max_tokens": max_tokens, "stream": True, "n": 2}
    _call_and_validate(contract, "POST /completions", body=body, media_type="application/json")


def test_an_image_by_url_keeps_the_served_spec(contract: Contract) -> None:
    body = {
        "model": "black-forest-labs/FLUX.1-schnell",
        "prompt": "a cat",
        "response_format": "url",
    }
    _call_and_validate(
        contract, "POST /images/generations", body=body, media_type="application/json"
    )


def test_a_files_content_keeps_the_served_spec(contract: Contract) -> None:
    client = TestClient(contract.target.app)
    uploaded = client.post(
        "/v1/files/upload",
        headers=contract.auth_headers,
        files={"file": ("t.jsonl", b'{"text": "hello"}\n')},
        data={"purpose": "fine-tune", "file_name": "t.jsonl"},
    )
    assert uploaded.status_code == 200, uploaded.text
    _call_and_validate(
        contract, "GET /files/{id}/content", path_parameters={"id": uploaded.json()["id"]}
    )
