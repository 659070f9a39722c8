"""The seed workflow: upload -> create -> retrieve -> events -> checkpoints -> download -> chat
-> delete.

Two forms of it:

* :func:`sdk_workflow` drives the real ``together`` 3.1.1 SDK. On together-sim it must complete
  (and the job must already be ``completed`` on the instant clock). On Prism it cannot: the
  SDK uploads through ``POST /v1/files`` + a 302 to a presigned ``PUT``, which Prism does not
  serve, and later steps only return the spec's static examples. With ``keep_going`` every
  step is tried anyway and its error recorded.
* :func:`raw_sequence` is the same sequence as plain HTTP calls that Prism can answer too
  (multipart ``POST /files/upload`` instead of the redirect upload, JSON bodies elsewhere), so
  one client and one set of requests time both servers.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.servers import API_KEY, Running

__all__ = [
    "BASE_MODEL",
    "create_job",
    "STEPS",
    "WorkflowRun",
    "prism_transport",
    "raw_sequence",
    "sdk_client",
    "sdk_workflow",
    "write_training_file",
]

BASE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
STEPS = ("upload", "create", "retrieve", "events", "checkpoints", "download", "chat", "delete")


@dataclass
class WorkflowRun:
    seconds: dict[str, float] = field(default_factory=dict)  # per step
    errors: dict[str, str] = field(default_factory=dict)  # per step that failed
    received: int = 0  # response body bytes (raw sequence only)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def ok(self) -> bool:
        return not self.errors


def write_training_file(directory: Path, rows: int = 50) -> Path:
    path = directory / "bench-train.jsonl"
    with path.open("w") as out:
        for i in range(rows):
            messages = [
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
            ]
            out.write(json.dumps({"messages": messages}) + "\n")
    return path


class CheckFailed(AssertionError):
    """The call answered, but not with what the workflow needs (this bench's check, not the
    SDK's)."""


def _short(exc: BaseException) -> str:
    if isinstance(exc, CheckFailed):
        return f"check failed: {exc}"
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    title = re.search(r'"title":"([^"]+)","status":(\d+)', text)  # Prism's problem+json
    if title:
        return f"{type(exc).__name__}: {title.group(2)} {title.group(1)}"
    return text if len(text) <= 160 else text[:157] + "..."


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class _StripV1(httpx.BaseTransport):
    """Prism serves the spec's paths (``/fine-tunes``), the SDK calls ``/v1/fine-tunes``: map one
    onto the other so the SDK fails on what Prism does, not on the prefix."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path
        if path.startswith(b"/v1/"):
            request.url = request.url.copy_with(raw_path=path[3:])
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def prism_transport() -> httpx.BaseTransport:
    return _StripV1()


def sdk_client(server: Running) -> Any:
    from together import Together

    http_client = None
    if not server.target.prefix:  # Prism
        http_client = httpx.Client(transport=prism_transport(), timeout=30)
    return Together(
        api_key=API_KEY, base_url=server.origin, max_retries=0, timeout=30, http_client=http_client
    )


def sdk_workflow(client: Any, train: Path, *, keep_going: bool = False) -> WorkflowRun:
    """One pass of the workflow through the SDK, timing each step. Without ``keep_going`` the
    first failure raises; with it, each step runs on placeholder ids if an earlier one failed."""
    run = WorkflowRun()
    state: dict[str, Any] = {"file": "file-bench", "job": "ft-bench", "model": BASE_MODEL}

    def upload() -> None:
        state["file"] = client.files.upload(train, purpose="fine-tune").id

    def create() -> None:
        job = client.fine_tuning.create(
            training_file=state["file"],
            model=BASE_MODEL,
            lora=True,
            n_epochs=1,
            train_on_inputs="auto",
        )
        state["job"] = job.id

    def retrieve() -> None:
        job = client.fine_tuning.retrieve(state["job"])
        _check(job.status == "completed", f"job is {job.status}, expected completed")
        state["model"] = job.x_model_output_name or BASE_MODEL

    def events() -> None:
        _check(bool(client.fine_tuning.list_events(state["job"]).data), "no events")

    def checkpoints() -> None:
        _check(bool(client.fine_tuning.list_checkpoints(state["job"]).data), "no checkpoints")

    def download() -> None:
        body = client.fine_tuning.content(ft_id=state["job"], checkpoint="merged").read()
        _check(len(body) > 0, "empty download")

    def chat() -> None:
        reply = client.chat.completions.create(
            model=state["model"],
            messages=[{"role": "user", "content": "Say hello"}],
            max_tokens=16,
        )
        _check(bool(reply.choices[0].message.content), "empty completion")

    def delete() -> None:
        answer = client.fine_tuning.delete(state["job"])
        _check(getattr(answer, "deleted", None) is True, "the answer has no `deleted: true`")

    actions: dict[str, Callable[[], None]] = {
        "upload": upload,
        "create": create,
        "retrieve": retrieve,
        "events": events,
        "checkpoints": checkpoints,
        "download": download,
        "chat": chat,
        "delete": delete,
    }
    for name in STEPS:
        started = time.perf_counter()
        try:
            actions[name]()
        except Exception as exc:
            if not keep_going:
                raise
            run.errors[name] = _short(exc)
        run.seconds[name] = time.perf_counter() - started
    return run


def raw_client(server: Running) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)


def _requests(
    server: Running, train: Path, state: dict[str, str]
) -> Iterator[tuple[str, Callable[[httpx.Client], httpx.Response]]]:
    url = server.url
    yield (
        "upload",
        lambda c: c.post(
            url("/files/upload"),
            data={"purpose": "fine-tune", "file_name": train.name},
            files={"file": (train.name, train.read_bytes(), "application/octet-stream")},
        ),
    )
    yield (
        "create",
        lambda c: c.post(
            url("/fine-tunes"),
            json={
                "training_file": state["file"],
                "model": BASE_MODEL,
                "n_epochs": 1,
                "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16},
            },
        ),
    )
    yield "retrieve", lambda c: c.get(url(f"/fine-tunes/{state['job']}"))
    yield "events", lambda c: c.get(url(f"/fine-tunes/{state['job']}/events"))
    yield "checkpoints", lambda c: c.get(url(f"/fine-tunes/{state['job']}/checkpoints"))
    yield (
        "download",
        lambda c: c.get(
            url("/finetune/download"), params={"ft_id": state["job"], "checkpoint": "merged"}
        ),
    )
    yield (
        "chat",
        lambda c: c.post(
            url("/chat/completions"),
            json={
                "model": state["model"],
                "messages": [{"role": "user", "content": "Say hello"}],
                "max_tokens": 16,
            },
        ),
    )
    yield "delete", lambda c: c.delete(url(f"/fine-tunes/{state['job']}"))


def raw_sequence(client: httpx.Client, server: Running, train: Path) -> WorkflowRun:
    """The workflow as plain HTTP, identical on both servers; any non-2xx raises."""
    run = WorkflowRun()
    state = {"file": "file-bench", "job": "ft-bench", "model": BASE_MODEL}
    for name, send in _requests(server, train, state):
        started = time.perf_counter()
        response = send(client)
        run.seconds[name] = time.perf_counter() - started
        run.received += len(response.content)
        if not response.is_success:
            raise RuntimeError(
                f"{server.target.name}: {name} answered {response.status_code}: "
                f"{response.text[:300]}"
            )
        if name == "upload":
            state["file"] = response.json()["id"]
        elif name in ("create", "retrieve"):
            body = response.json()
            state["job"] = body["id"]
            state["model"] = body.get("model_output_name") or BASE_MODEL
    return run


def create_job(client: httpx.Client, server: Running, train: Path, **fields: Any) -> str:
    """Upload ``train`` in one request and create a job on it; returns the job's URL."""
    uploaded = client.post(
        server.url("/files/upload"),
        data={"purpose": "fine-tune", "file_name": train.name},
        files={"file": (train.name, train.read_bytes(), "application/octet-stream")},
    ).raise_for_status()
    job = client.post(
        server.url("/fine-tunes"),
        json={"training_file": uploaded.json()["id"], "model": BASE_MODEL, **fields},
    ).raise_for_status()
    return server.url(f"/fine-tunes/{job.json()['id']}")
