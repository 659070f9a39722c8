"""Send a recorded session to the simulator, in process, and keep its answers beside the real ones.

The requests go in their recorded order to a fresh ``create_app`` (instant clock, synthetic
trainer, a temporary data dir), so the files and jobs they name exist there too. Ids differ
between the two, so the ids in each real answer are paired with those in the simulator's
answer at the same place (``id``, ``*_id``, output names, the upload's ``X-Together-File-Id``
and ``Location``) and swapped into later requests. Uploads are re-sent from the bodies the
cassette kept; one it did not keep is skipped, with the reason.

:func:`shape` reduces an answer to ``{path: {json types}}`` (``data[].created_at``), which is
what the drift report compares: values (ids, times, generated text) always differ.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from mock_server.record.bodies import parse_sse
from mock_server.record.cassette import Cassette, Exchange
from mock_server.record.locations import origin_of
from mock_server.record.redact import is_secret_name
from mock_server.record.spec_check import json_type

__all__ = ["Answer", "ShapeDifferences", "answer_value", "compare_shapes", "shape", "simulate"]

SIM_BASE = "http://simulator"
_SIM_KEY = "together-sim-drift"
_ID_KEYS = frozenset(
    {"id", "model_output_name", "output_name", "adapter_output_name", "training_file"}
    | {"validation_file", "from_checkpoint"}
)
_SENT_HEADERS = ("accept", "range", "user-agent", "x-together-client-user-agent")


@dataclass(frozen=True)
class Answer:
    """What the simulator said (``status`` None: not sent, ``skipped`` says why)."""

    status: int | None
    value: Any = None  # JSON, or the list of SSE events; None for other bodies
    skipped: str | None = None


def answer_value(body: dict[str, Any]) -> Any:
    """The comparable value of a recorded body: its JSON, or its SSE events."""
    if body.get("kind") == "json":
        return body.get("json")
    if body.get("kind") == "sse":
        return body.get("events")
    return None


def shape(value: Any, at: str = "") -> dict[str, set[str]]:
    """``{"data[].id": {"string"}, …}``: every path in a JSON value and the types seen there."""
    found: dict[str, set[str]] = {}
    if at:
        found.setdefault(at, set()).add(json_type(value))
    if isinstance(value, dict):
        for key, item in value.items():
            for path, types in shape(item, f"{at}.{key}" if at else str(key)).items():
                found.setdefault(path, set()).update(types)
    elif isinstance(value, list):
        for item in value:
            for path, types in shape(item, f"{at}[]").items():
                found.setdefault(path, set()).update(types)
    return found


@dataclass(frozen=True)
class ShapeDifferences:
    simulator_lacks: dict[str, str]  # path → the real types there
    only_simulator_has: dict[str, str]  # path → the simulator's types there
    types: dict[str, tuple[str, str]]  # path → (real types, simulator types), none in common


def _comparable(types: set[str]) -> set[str]:
    return {"number" if t == "integer" else t for t in types} - {"null"}


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("[]"))
    return path[:cut] if cut > 0 else ""


def compare_shapes(real: dict[str, set[str]], sim: dict[str, set[str]]) -> ShapeDifferences:
    """Fields one side has and the other lacks, each at the outermost place they differ: a field
    under an object the other side lacks, or has only as null, is not listed again. Types
    differ when no type but null is seen on both sides (an integer is a number)."""
    lacking: list[dict[str, str]] = []
    for mine, theirs in ((real, sim), (sim, real)):
        found: dict[str, str] = {}
        for path in sorted(set(mine) - set(theirs)):
            parent = _parent(path)
            if parent and not theirs.get(parent, set()) & {"object", "array"}:
                continue
            found[path] = "|".join(sorted(mine[path]))
        lacking.append(found)
    types = {
        path: ("|".join(sorted(real[path])), "|".join(sorted(sim[path])))
        for path in sorted(set(real) & set(sim))
        if _comparable(real[path])
        and _comparable(sim[path])
        and not _comparable(real[path]) & _comparable(sim[path])
    }
    return ShapeDifferences(lacking[0], lacking[1], types)


class _IdMap:
    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def learn(self, real: Any, simulated: Any, key: str = "") -> None:
        if isinstance(real, dict) and isinstance(simulated, dict):
            for name in real.keys() & simulated.keys():
                self.learn(real[name], simulated[name], name)
        elif isinstance(real, list) and isinstance(simulated, list):
            for a, b in zip(real, simulated, strict=False):
                self.learn(a, b, key)
        elif isinstance(real, str) and isinstance(simulated, str) and real and real != simulated:
            if key in _ID_KEYS or key.endswith("_id"):
                self.ids[real] = simulated

    def apply(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.ids.get(value, value)
        if isinstance(value, dict):
            return {k: self.apply(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v) for v in value]
        return value

    def path(self, path: str) -> str:
        return "/".join(self.ids.get(part, part) for part in path.split("/"))


def _multipart(body: dict[str, Any], cassette: Cassette) -> list[tuple[str, Any]] | str:
    parts: list[tuple[str, Any]] = [(k, (None, str(v))) for k, v in body["fields"].items()]
    for name, file in (body.get("files") or {}).items():
        path = cassette.body_file(file)
        if path is None:
            return f"its file part {name!r} was not kept ({file.get('size')} bytes)"
        parts.append((name, (file.get("filename"), path.read_bytes(), file.get("content_type"))))
    return parts


def _request_args(exchange: Exchange, ids: _IdMap, cassette: Cassette) -> dict[str, Any] | str:
    request = exchange.request
    headers = {k: v for k, v in request.headers.items() if k in _SENT_HEADERS}
    if request.origin is None:
        headers["authorization"] = f"Bearer {_SIM_KEY}"
    args: dict[str, Any] = {"headers": headers}
    body = request.body
    kind = body.get("kind")
    content_type = request.headers.get("content-type")
    if kind == "json":
        args["content"] = json.dumps(ids.apply(body["json"])).encode()
        headers["content-type"] = content_type or "application/json"
    elif kind == "form":
        args["data"] = ids.apply(body["fields"])
    elif kind == "multipart":
        parts = _multipart(body, cassette)
        if isinstance(parts, str):
            return parts
        args["files"] = parts
    elif kind in ("text", "binary"):
        if kind == "text":
            args["content"] = str(body["text"]).encode()
        elif (path := cassette.body_file(body)) is not None:
            args["content"] = path.read_bytes()
        else:
            return f"its body was not kept ({body.get('note') or str(body.get('size')) + ' bytes'})"
        if content_type:  # a multipart body too big to parse goes as it was, boundary and all
            headers["content-type"] = content_type
    elif content_type and request.method != "GET":
        headers["content-type"] = content_type  # an empty POST still says what it is
    return args


def _sim_value(response: httpx.Response) -> Any:
    content_type = response.headers.get("content-type", "")
    if "event-stream" in content_type:
        return parse_sse(response.text)
    if "json" in content_type:
        try:
            return response.json()
        except ValueError:
            return None
    return None


async def _simulate(cassette: Cassette, app: Any) -> dict[int, Answer]:
    ids = _IdMap()
    uploads: dict[tuple[str, str], str] = {}  # (origin, path) of a real Location → sim URL
    answers: dict[int, Answer] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SIM_BASE, timeout=60) as client:
        for exchange in cassette.exchanges:
            if exchange.response is None:
                answers[exchange.seq] = Answer(None, skipped="no real answer was recorded")
                continue
            request = exchange.request
            args = _request_args(exchange, ids, cassette)
            if isinstance(args, str):
                answers[exchange.seq] = Answer(None, skipped=args)
                continue
            url = uploads.get((request.origin or cassette.target, request.path))
            if url is None:
                url = ids.path(request.path)
                query = [(k, ids.apply(v)) for k, v in request.query if not is_secret_name(k)]
                args["params"] = query
            response = await client.request(request.method, url, **args)
            real = exchange.response
            value = _sim_value(response)
            ids.learn(answer_value(real.body), value)
            real_file_id = real.headers.get("x-together-file-id")
            if real_file_id and response.headers.get("x-together-file-id"):
                ids.ids[real_file_id] = response.headers["x-together-file-id"]
            if "location" in real.headers and "location" in response.headers:
                where = urlsplit(real.headers["location"])
                key = (origin_of(real.headers["location"]), unquote(where.path))
                uploads[key] = response.headers["location"]
            answers[exchange.seq] = Answer(response.status_code, value)
    return answers


def simulate(cassette: Cassette) -> dict[int, Answer]:
    """The simulator's answer to each recorded exchange, by sequence number."""
    from mock_server.app import create_app
    from mock_server.settings import ClockMode, Settings

    with tempfile.TemporaryDirectory(prefix="together-sim-drift-") as data_dir:
        settings = Settings(
            _env_prefix="TOGETHER_SIM_DRIFT_UNUSED_",  # none of the user's TOGETHER_SIM_* apply
            data_dir=Path(data_dir),
            clock=ClockMode.instant,
            seed=0,
            api_keys=[],
            trainer="synthetic",
            progress=False,
        )
        app = create_app(settings)
        try:
            return asyncio.run(_simulate(cassette, app))
        finally:
            app.state.services.real_training.close()
            app.state.services.store.close()
