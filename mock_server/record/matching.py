"""Which recorded exchange answers a request: the replay's rules, pure and testable.

A request is reduced to a :class:`RequestKey`: method, where it went (the origin for a request
that left the target, such as a presigned upload), path, query (secret parameters dropped: a
replayed presigned URL carries ``REDACTED`` where the signature was) and the body fields that
decide an answer (:data:`MATTERING_FIELDS`: the model, the files, ``stream``, the messages …;
volatile ones such as a timestamped suffix are ignored). Ids (``ft-…``, ``file-…``, uuids) are
then normalised to ``{id}`` to form the request's *template*.

Choosing among the exchanges of the same template:

1. exact ids first: the exchanges whose key equals the request's exactly;
2. else all of the template's, in recorded order (a script whose ids were not recorded);
3. within the chosen ones, each is used once, in order, and then the last repeats, so polling a
   job replays pending → running → completed and then stays completed.

No exchange of that template at all is a miss, answered by the replay server with an error
naming the nearest recorded request and how it differs.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mock_server.record.cassette import Exchange
from mock_server.record.redact import is_secret_name

__all__ = ["MATTERING_FIELDS", "Matcher", "Miss", "RequestKey", "is_id", "key_of", "template"]

# Body fields whose value changes what the service answers. Everything else in a body (sampling
# knobs, a suffix with a timestamp, checksums) is left out of matching.
MATTERING_FIELDS = frozenset(
    {
        "checkpoint",
        "file_id",
        "file_name",
        "from_checkpoint",
        "from_hf_model",
        "messages",
        "model",
        "prompt",
        "purpose",
        "stream",
        "training_file",
        "upload_id",
        "validation_file",
    }
)
_VOLATILE_QUERY = frozenset({"_", "nocache", "request_id"})
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_PREFIXED = re.compile(r"[a-z]{1,16}[-_][A-Za-z0-9]{8,}")
_HEXISH = re.compile(r"[0-9a-f]{16,}|[0-9]+", re.I)


def is_id(text: str) -> bool:
    """``ft-6f1c…``, ``file-<uuid>``, a bare uuid, a long hex string or a number."""
    if _UUID.search(text):
        return True
    if _PREFIXED.fullmatch(text):
        return any(c.isdigit() for c in text)
    return bool(_HEXISH.fullmatch(text))


def template(path: str) -> str:
    """``/v1/fine-tunes/ft-123abc45/events`` → ``/v1/fine-tunes/{id}/events``."""
    return "/".join("{id}" if part and is_id(part) else part for part in path.split("/"))


def _normalised(value: Any) -> Any:
    if isinstance(value, str):
        return "{id}" if is_id(value) else value
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


@dataclass(frozen=True)
class RequestKey:
    method: str
    origin: str  # "" for the target itself
    path: str
    query: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, str], ...]  # name → canonical JSON of the value

    def normalised(self) -> RequestKey:
        return replace(
            self,
            path=template(self.path),
            query=tuple((k, "{id}" if is_id(v) else v) for k, v in self.query),
            fields=tuple(
                (k, json.dumps(_normalised(json.loads(v)), sort_keys=True)) for k, v in self.fields
            ),
        )

    @property
    def line(self) -> str:
        return f"{self.method} {self.origin}{self.path}"


def _body_fields(body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("kind")
    if kind == "json" and isinstance(body.get("json"), dict):
        fields: dict[str, Any] = body["json"]
        return fields
    if kind in ("form", "multipart"):
        form: dict[str, Any] = body.get("fields") or {}
        return form
    return {}


def key_of(
    method: str,
    origin: str | None,
    path: str,
    query: Iterable[tuple[str, str]],
    body: dict[str, Any],
) -> RequestKey:
    fields = _body_fields(body)
    return RequestKey(
        method=method.upper(),
        origin=origin or "",
        path=path,
        query=tuple(
            sorted((k, v) for k, v in query if k not in _VOLATILE_QUERY and not is_secret_name(k))
        ),
        fields=tuple(
            sorted(
                (name, json.dumps(fields[name], sort_keys=True))
                for name in MATTERING_FIELDS
                if name in fields
            )
        ),
    )


def exchange_key(exchange: Exchange) -> RequestKey:
    r = exchange.request
    return key_of(r.method, r.origin, r.path, r.query, r.body)


@dataclass(frozen=True)
class Miss:
    """No recorded exchange of the request's template; ``nearest`` is the closest one, with
    ``differences`` saying how it differs."""

    key: RequestKey
    nearest: Exchange | None
    differences: tuple[str, ...]

    @property
    def message(self) -> str:
        said = f"together-sim replay: no recorded response for {self.key.line}"
        if self.nearest is None:
            return f"{said}; the cassette is empty"
        return (
            f"{said}; nearest recorded: {self.nearest.line} "
            f"(differs in {', '.join(self.differences)})"
        )


def _differences(key: RequestKey, other: RequestKey) -> tuple[str, ...]:
    found: list[str] = []
    if key.method != other.method:
        found.append(f"method {other.method}")
    if key.origin != other.origin:
        found.append(f"host {other.origin or 'the target'}")
    if template(key.path) != template(other.path):
        found.append(f"path {other.path}")
    elif key.path != other.path:
        found.append("ids in the path")
    mine, theirs = dict(key.query), dict(other.query)
    for name in sorted(set(mine) | set(theirs)):
        if mine.get(name) != theirs.get(name):
            found.append(f"query {name}")
    mine, theirs = dict(key.fields), dict(other.fields)
    for name in sorted(set(mine) | set(theirs)):
        if mine.get(name) != theirs.get(name):
            found.append(f"body field {name}")
    return tuple(found)


def _path_distance(path: str, other: str) -> int:
    """Differing segments of two templates; a different depth costs one more, so
    ``…/{id}/checkpoints`` is nearer ``…/{id}/events`` than ``…/{id}``."""
    a, b = template(path).split("/"), template(other).split("/")
    differing = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
    return 10 * differing + (len(a) != len(b))


def _distance(key: RequestKey, other: RequestKey, differences: Sequence[str]) -> int:
    weights = {"method": 1000, "host": 500, "path": 0}
    found = sum(weights.get(d.split(" ", 1)[0], 1) for d in differences)
    return found + _path_distance(key.path, other.path)


class Matcher:
    """The replay's memory of which exchanges it has served (see the module docstring)."""

    def __init__(self, exchanges: Iterable[Exchange]) -> None:
        self._exchanges = list(exchanges)
        self._keys = {e.seq: exchange_key(e) for e in self._exchanges}
        self._groups: dict[RequestKey, list[Exchange]] = {}
        for exchange in self._exchanges:
            self._groups.setdefault(self._keys[exchange.seq].normalised(), []).append(exchange)
        self._used: set[int] = set()
        self._lock = threading.Lock()

    def match(self, key: RequestKey) -> Exchange | Miss:
        group = self._groups.get(key.normalised())
        if not group:
            return self._miss(key)
        pool = [e for e in group if self._keys[e.seq] == key] or group
        with self._lock:
            for exchange in pool:
                if exchange.seq not in self._used:
                    self._used.add(exchange.seq)
                    return exchange
        return pool[-1]

    def _miss(self, key: RequestKey) -> Miss:
        best: tuple[int, Exchange, tuple[str, ...]] | None = None
        for exchange in self._exchanges:
            other = self._keys[exchange.seq]
            differences = _differences(key, other)
            distance = _distance(key, other, differences)
            if best is None or distance < best[0]:
                best = (distance, exchange, differences)
        if best is None:
            return Miss(key, None, ())
        return Miss(key, best[1], best[2])
