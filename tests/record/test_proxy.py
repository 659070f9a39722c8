"""The recording proxy in front of a stand-in upstream: the key goes upstream and never into
the cassette, a redirect to storage on another host comes back through the proxy, the proxy
relays to no other host, and a stream reaches the client event by event."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from mock_server.record.cassette import load_cassette
from mock_server.record.proxy import create_record_app

KEY = "tgp_v1_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TARGET = "https://api.together.example"
STORAGE = "https://bucket.storage.example"
SIGNED = f"{STORAGE}/u/file-1?X-Amz-Expires=900&X-Amz-Signature=5ec7e75160a7e6"


class _Upstream:
    """A sliver of Together and its storage, noting every request it got."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        body = await request.aread()
        self.bodies.append(body)
        if request.url.path == "/v1/files":
            return httpx.Response(302, headers={"Location": SIGNED, "X-Together-File-Id": "file-1"})
        if request.url.host == "bucket.storage.example":
            return httpx.Response(200, json={"stored": len(body)})
        if request.url.path == "/v1/unreachable":
            raise httpx.ConnectError("no route to host", request=request)
        return httpx.Response(
            200,
            json={
                "id": "ft-1",
                "you_sent": json.loads(body),
                "authorization_seen": request.headers["authorization"],
            },
        )


def _proxy(tmp_path: Path, upstream: _Upstream) -> httpx.AsyncClient:
    app = create_record_app(
        TARGET, tmp_path / "cassette", transport=httpx.MockTransport(upstream), drift=False
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy")


def _exchanges(tmp_path: Path) -> list[Any]:
    return list(load_cassette(tmp_path / "cassette").exchanges)


def test_the_key_goes_upstream_and_neither_it_nor_a_body_secret_reaches_the_cassette(tmp_path):
    upstream = _Upstream()
    create = {"model": "m", "training_file": "file-1", "wandb_api_key": "wandb-secret-42"}

    async def session() -> httpx.Response:
        async with _proxy(tmp_path, upstream) as client:
            headers = {"Authorization": f"Bearer {KEY}"}
            return await client.post("/v1/fine-tunes", json=create, headers=headers)

    answer = asyncio.run(session())

    assert upstream.seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert answer.json() == {
        "id": "ft-1",
        "you_sent": create,
        "authorization_seen": f"Bearer {KEY}",
    }
    (exchange,) = _exchanges(tmp_path)
    assert exchange.request.headers["authorization"] == "Bearer REDACTED"
    assert exchange.request.body["json"]["wandb_api_key"] == "REDACTED"
    assert exchange.response.body["json"] == {
        "id": "ft-1",
        "you_sent": {**create, "wandb_api_key": "REDACTED"},
        "authorization_seen": "Bearer REDACTED",
    }
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert KEY.encode() not in written and b"wandb-secret-42" not in written


def test_a_redirect_to_storage_on_another_host_comes_back_through_the_proxy(tmp_path):
    upstream = _Upstream()

    async def session() -> tuple[httpx.Response, httpx.Response]:
        async with _proxy(tmp_path, upstream) as client:
            headers = {"Authorization": f"Bearer {KEY}"}
            form = {"purpose": "fine-tune", "file_name": "train.jsonl"}
            redirect = await client.post("/v1/files", data=form, headers=headers)
            put = await client.put(redirect.headers["location"], content=b'{"text": "hi"}\n')
            return redirect, put

    redirect, put = asyncio.run(session())

    assert redirect.status_code == 302
    assert redirect.headers["location"] == (
        "http://proxy/_upstream/https/bucket.storage.example/u/file-1"
        "?X-Amz-Expires=900&X-Amz-Signature=5ec7e75160a7e6"
    )
    assert put.json() == {"stored": 15}
    stored = upstream.seen[1]
    assert str(stored.url) == SIGNED  # the signature reaches storage untouched
    assert "authorization" not in stored.headers
    assert upstream.bodies[1] == b'{"text": "hi"}\n'
    files, storage = _exchanges(tmp_path)
    assert files.request.body == {
        "kind": "form",
        "fields": {"purpose": "fine-tune", "file_name": "train.jsonl"},
    }
    assert files.response.headers["location"] == (
        f"{STORAGE}/u/file-1?X-Amz-Expires=900&X-Amz-Signature=REDACTED"
    )
    assert (storage.request.origin, storage.request.path) == (STORAGE, "/u/file-1")
    assert storage.request.query == [("X-Amz-Expires", "900"), ("X-Amz-Signature", "REDACTED")]
    kept = tmp_path / "cassette" / storage.request.body["path"]
    assert kept.read_bytes() == b'{"text": "hi"}\n'


def test_the_proxy_relays_to_no_host_the_target_did_not_redirect_to(tmp_path):
    upstream = _Upstream()

    async def session() -> httpx.Response:
        async with _proxy(tmp_path, upstream) as client:
            return await client.get("/_upstream/https/internal.example/admin")

    refused = asyncio.run(session())

    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        "together-sim record: https://internal.example is not a host the target redirected to"
    )
    assert upstream.seen == []


def test_an_unreachable_upstream_is_a_502_in_togethers_shape_and_is_recorded(tmp_path):
    upstream = _Upstream()

    async def session() -> httpx.Response:
        async with _proxy(tmp_path, upstream) as client:
            return await client.post("/v1/unreachable", json={"model": "m"})

    failed = asyncio.run(session())

    assert failed.status_code == 502
    assert failed.json()["error"] == {
        "message": f"together-sim record: the upstream {TARGET} failed: ConnectError",
        "type": "server_error",
        "param": None,
        "code": "upstream_unreachable",
    }
    (exchange,) = _exchanges(tmp_path)
    assert exchange.response is None
    assert exchange.error == "ConnectError: no route to host"


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # the only wait: the server coming up
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.005)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_stream_reaches_the_client_event_by_event(tmp_path):
    """The upstream holds its second event until the client has the first: a proxy that
    buffered the stream would deliver both only after the hold ran out."""
    released = threading.Event()

    async def chat(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield b'data: {"n": 1}\n\n'
            seen = await anyio.to_thread.run_sync(released.wait, 5.0)
            yield f'data: {{"n": 2, "client_had_the_first": {json.dumps(seen)}}}\n\n'.encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    upstream = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with _serving(upstream) as target:
        with _serving(create_record_app(target, tmp_path / "cassette", drift=False)) as proxy:
            lines = []
            with httpx.stream("POST", f"{proxy}/v1/chat/completions", json={}) as response:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        lines.append(line)
                        released.set()

    assert lines == [
        'data: {"n": 1}',
        'data: {"n": 2, "client_had_the_first": true}',
        "data: [DONE]",
    ]
    (exchange,) = _exchanges(tmp_path)
    assert exchange.response.body == {
        "kind": "sse",
        "events": [
            {"data": {"n": 1}},
            {"data": {"n": 2, "client_had_the_first": True}},
            {"data": "[DONE]"},
        ],
    }
