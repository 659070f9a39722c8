"""Record a real SDK session through ``together-sim record``, replay it with ``serve --replay``,
and read its drift report, with a stand-in for Together on loopback (there is no network here).

The stand-in is the simulator itself behind a middleware that plants drift the spec and the
simulator do not have: a job carries a field the spec does not declare (``cluster_region``)
and a string where the spec says integer (``n_epochs``), the first event listing answers 429
(a status the spec does not give it; the SDK retries it), and the upload's presigned URL points
to another host name (``localhost`` instead of ``127.0.0.1``), as S3 would be.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from together import NotFoundError, Together

from mock_server.app import create_app
from mock_server.cli import main
from mock_server.record.proxy import create_record_app
from mock_server.record.replay import create_replay_app
from mock_server.settings import ClockMode, Settings

pytestmark = pytest.mark.e2e

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
KEY = "tgp_v1_" + hashlib.sha256(b"the user's own key").hexdigest()


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    """Any ASGI app on 127.0.0.1 with port 0, in a thread; its lifespan runs (the recorder
    writes the drift report when it shuts down)."""
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
        thread.join(timeout=60)


class _PlantedDrift:
    """ASGI middleware: the simulator, drifting the way the module docstring says."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.event_listings = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        parts = path.split("/")
        if scope["type"] == "http" and path.endswith("/events"):
            self.event_listings += 1
            if self.event_listings == 1:
                await _json(send, 429, {"error": {"message": "Slow down", "type": "rate_limit"}})
                return
        retrieve = scope["type"] == "http" and scope["method"] == "GET" and len(parts) == 4
        if retrieve and parts[2] == "fine-tunes" and parts[3].startswith("ft-"):
            await self._rewrite_job(scope, receive, send)
            return

        async def other_host(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v.replace(b"//127.0.0.1:", b"//localhost:") if k == b"location" else v)
                    for k, v in message["headers"]
                ]
            await send(message)

        await self.app(scope, receive, other_host)

    async def _rewrite_job(self, scope: Any, receive: Any, send: Any) -> None:
        start: dict[str, Any] = {}
        body = bytearray()

        async def keep(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                body.extend(message.get("body", b""))

        await self.app(scope, receive, keep)
        job = json.loads(body)
        job["cluster_region"] = "us-east-1"
        job["n_epochs"] = str(job["n_epochs"])
        await _json(send, start["status"], job)


async def _json(send: Any, status: int, value: Any) -> None:
    body = json.dumps(value).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 429:
        headers.append((b"retry-after-ms", b"5"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _session(client: Together, training_file: Path) -> dict[str, Any]:
    """The seed workflow: upload, create, retrieve, events, chat with and without a stream,
    download; what came back, as comparable values."""
    upload = client.files.upload(training_file, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(
        training_file=upload.id, model=MODEL, suffix="rr", lora=True, n_epochs=1
    )
    retrieved = client.fine_tuning.retrieve(job.id)
    events = client.fine_tuning.list_events(job.id)
    model = str(job.output_name)
    messages: Any = [{"role": "user", "content": "What is LoRA?"}]
    chat = client.chat.completions.create(model=model, messages=messages)
    stream: Any = client.chat.completions.create(model=model, messages=messages, stream=True)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    adapter = client.fine_tuning.content(ft_id=job.id, checkpoint="adapter").read()
    return {
        "upload": upload.model_dump(),
        "job": job.model_dump(),
        "retrieved": retrieved.model_dump(),
        "events": [event.model_dump() for event in events.data],
        "chat": chat.model_dump(),
        "streamed": streamed,
        "adapter": hashlib.sha256(adapter).hexdigest(),
    }


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path / "upstream",
        clock=ClockMode.instant,
        seed=7,
        api_keys=[KEY],  # the stand-in insists on the user's key, as Together would
        trainer="synthetic",
        progress=False,
    )
    app = create_app(settings)
    try:
        with _serving(_PlantedDrift(app)) as root:
            yield root
    finally:
        app.state.services.store.close()


@pytest.fixture
def recorded(upstream: str, tmp_path: Path, quickstart_file: Path) -> tuple[Path, dict[str, Any]]:
    cassette = tmp_path / "cassette"
    with _serving(create_record_app(upstream, cassette)) as proxy:
        with Together(api_key=KEY, base_url=proxy) as client:
            results = _session(client, quickstart_file)
    return cassette, results


def test_a_recorded_session_keeps_every_exchange_and_never_the_key(recorded, quickstart_file):
    cassette, results = recorded

    exchanges = [
        json.loads(path.read_text()) for path in sorted((cassette / "exchanges").glob("*.json"))
    ]
    lines = [
        (
            e["request"]["method"],
            e["request"].get("origin"),
            e["request"]["path"],
            e["response"]["status"],
        )
        for e in exchanges
    ]
    file_id, job_id = results["upload"]["id"], results["job"]["id"]
    storage = lines[1][1]
    assert storage is not None and storage.startswith("http://localhost:")
    assert lines == [
        ("POST", None, "/v1/files", 302),
        ("PUT", storage, f"/_uploads/{file_id}", 200),
        ("POST", None, f"/v1/files/{file_id}/preprocess", 200),
        ("GET", None, "/v1/fine-tunes/models/limits", 200),
        ("POST", None, "/v1/fine-tunes/estimate-price", 200),
        ("POST", None, "/v1/fine-tunes", 200),
        ("GET", None, f"/v1/fine-tunes/{job_id}", 200),
        ("GET", None, f"/v1/fine-tunes/{job_id}/events", 429),
        ("GET", None, f"/v1/fine-tunes/{job_id}/events", 200),
        ("POST", None, "/v1/chat/completions", 200),
        ("POST", None, "/v1/chat/completions", 200),
        ("GET", None, "/v1/finetune/download", 200),
    ]
    upload, put = exchanges[0], exchanges[1]
    assert upload["request"]["headers"]["authorization"] == "Bearer REDACTED"
    assert upload["request"]["body"]["kind"] == "multipart"
    assert upload["request"]["body"]["fields"]["file_name"] == "training_data.jsonl"
    assert upload["response"]["headers"]["location"].startswith(f"{storage}/_uploads/{file_id}?")
    assert upload["response"]["headers"]["location"].endswith("token=REDACTED")
    assert put["request"]["query"] == [["token", "REDACTED"]]
    kept = cassette / put["request"]["body"]["path"]
    assert kept.read_bytes() == quickstart_file.read_bytes()  # kept, to re-send to the simulator
    stream = exchanges[10]["response"]["body"]
    assert stream["kind"] == "sse"
    assert stream["events"][-1] == {"data": "[DONE]"}
    text = "".join(e["data"]["choices"][0]["delta"]["content"] for e in stream["events"][:-1])
    assert text == results["streamed"]
    download = exchanges[11]["response"]["body"]
    blob = (cassette / download["path"]).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == download["sha256"] == results["adapter"]

    every_file = [p for p in cassette.rglob("*") if p.is_file()]
    assert not [p for p in every_file if KEY.encode() in p.read_bytes()]


def test_replaying_the_cassette_gives_the_sdk_the_same_answers(recorded, quickstart_file):
    cassette, results = recorded

    with _serving(create_replay_app(cassette)) as replay:
        with Together(api_key="any-other-key", base_url=replay, max_retries=2) as client:
            replayed = _session(client, quickstart_file)

    assert replayed == results


def test_a_request_the_cassette_cannot_answer_gets_an_error_naming_the_nearest(recorded):
    cassette, results = recorded

    with _serving(create_replay_app(cassette)) as replay:
        with Together(api_key="k", base_url=replay) as client:
            with pytest.raises(NotFoundError) as raised:
                client.fine_tuning.list_checkpoints(results["job"]["id"])

    error: Any = raised.value.body
    assert error["error"]["code"] == "no_recorded_response"
    job_id = results["job"]["id"]
    assert error["error"]["message"] == (
        f"together-sim replay: no recorded response for GET /v1/fine-tunes/{job_id}/checkpoints; "
        f"nearest recorded: #8 GET /v1/fine-tunes/{job_id}/events (differs in path "
        f"/v1/fine-tunes/{job_id}/events)"
    )


def test_the_drift_report_names_the_planted_drift_and_nothing_else(recorded):
    cassette, _ = recorded

    report = json.loads((cassette / "drift.json").read_text())
    by_name = {op["operation"]: op for op in report["operations"]}

    # The upload's first and last steps are not in the spec at all; the presigned PUT is on
    # another host and is compared with the simulator only.
    assert report["not_in_spec"] == ["POST /v1/files", "POST /v1/files/{id}/preprocess"]
    assert "POST /v1/chat/completions" in report["conforming"]
    assert "GET /v1/finetune/download" in report["conforming"]
    # Against the simulator, only the planted drift shows.
    simulator_side = {
        name: {
            category: [{k: v for k, v in e.items() if k != "exchanges"} for e in op[category]]
            for category in (
                "status_differences",
                "fields_simulator_lacks",
                "fields_only_simulator_has",
                "type_differences",
            )
            if op[category]
        }
        for name, op in by_name.items()
    }
    assert {name: found for name, found in simulator_side.items() if found} == {
        "GET /v1/fine-tunes/{id}": {
            "fields_simulator_lacks": [{"path": "cluster_region", "type": "string"}],
            "type_differences": [{"path": "n_epochs", "real": "string", "simulator": "integer"}],
        },
        "GET /v1/fine-tunes/{id}/events": {
            "status_differences": [{"real": 429, "simulator": 200}],
        },
    }
    # Against the spec: the planted status, field and type, each named with its exchange.
    statuses = {
        n: op["undocumented_statuses"] for n, op in by_name.items() if op["undocumented_statuses"]
    }
    assert statuses == {"GET /v1/fine-tunes/{id}/events": [{"status": 429, "exchanges": [8]}]}
    job = by_name["GET /v1/fine-tunes/{id}"]
    unknown_to_both = [e for e in job["fields_not_in_spec"] if not e["simulator_has_it"]]
    assert unknown_to_both == [
        {"path": "cluster_region", "type": "string", "exchanges": [7], "simulator_has_it": False}
    ]
    assert {
        "path": "n_epochs",
        "expected": "integer",
        "actual": "string",
        "exchanges": [7],
    } in job["type_mismatches"]

    markdown = (cassette / "drift.md").read_text()
    assert "- **status not in the spec**: 429 (#8)" in markdown
    assert "- **the simulator lacks**: `cluster_region` (string)" in markdown

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["drift", str(cassette), "--format", "json"]) == 0
    assert json.loads(out.getvalue())["operations"] == report["operations"]
