"""The steps of the seed workflows (prepare data, upload, create, monitor) as small functions
over a ``TestClient``, so each API test reads as the workflow it exercises."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

__all__ = [
    "BASE_MODEL",
    "KEY",
    "QUICKSTART",
    "advance",
    "auth",
    "conversations",
    "create_job",
    "jsonl",
    "upload",
]

KEY = "test-key"
BASE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"

# seeds/001, "1. Prepare Data": the conversational quickstart file.
QUICKSTART: list[dict[str, Any]] = [
    {
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "What is AI?"},
            {"role": "assistant", "content": "AI is artificial intelligence."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! How can I help?"},
        ]
    },
]


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def conversations(n: int) -> bytes:
    """``n`` quickstart-style conversations: with packing off and batch 8, ``n/8`` steps."""
    return jsonl(
        [
            {
                "messages": [
                    {"role": "user", "content": f"Question number {i}?"},
                    {"role": "assistant", "content": f"Answer number {i}."},
                ]
            }
            for i in range(n)
        ]
    )


def upload(
    client: TestClient,
    content: bytes,
    *,
    name: str = "training_data.jsonl",
    purpose: str = "fine-tune",
    key: str = KEY,
    file_type: str = "jsonl",
) -> dict[str, Any]:
    """The 3.x SDK's three requests: announce (302), PUT the bytes, preprocess."""
    announced = client.post(
        "/v1/files",
        headers=auth(key),
        files={
            "purpose": (None, purpose),
            "file_name": (None, name),
            "file_type": (None, file_type),
        },
        follow_redirects=False,
    )
    assert announced.status_code == 302, announced.text
    put = client.put(announced.headers["location"], content=content)
    assert put.status_code == 200, put.text
    file_id = announced.headers["x-together-file-id"]
    processed = client.post(f"/v1/files/{file_id}/preprocess", headers=auth(key))
    assert processed.status_code == 200, processed.text
    body: dict[str, Any] = processed.json()
    return body


def create_job(
    client: TestClient, training_file: str, *, key: str = KEY, **fields: Any
) -> dict[str, Any]:
    body = {"training_file": training_file, "model": BASE_MODEL, **fields}
    # ``model=None`` leaves the field out, as both SDKs do with an unset one (the spec's model
    # is a string: a null is refused).
    body = {name: value for name, value in body.items() if value is not None}
    created = client.post("/v1/fine-tunes", headers=auth(key), json=body)
    assert created.status_code == 200, created.text
    job: dict[str, Any] = created.json()
    return job


def advance(client: TestClient, seconds: float) -> dict[str, Any]:
    moved = client.post("/_sim/advance", json={"seconds": seconds})
    assert moved.status_code == 200, moved.text
    clock: dict[str, Any] = moved.json()
    return clock
