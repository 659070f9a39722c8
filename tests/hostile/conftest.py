"""A real ``together-sim serve`` process and a raw keep-alive connection to it, for the hostile
client: one bad request, then a good one on the same socket.

These tests hit a subprocess over real sockets, one connection at a time, because that is where a
500 that closes the connection, a stalled event loop or a runaway allocation shows; the in-process
``TestClient`` suites under each service folder see none of that. Every module here sets
``pytestmark = pytest.mark.e2e``, as the client suites under ``tests/e2e`` do.

``sim_server(*flags, env=...)`` starts a server (a fresh data dir, a free port, manual clock,
speed 1, seed 7; ``flags`` override) that lives until the test ends; ``module_sim`` is one plain
server shared by a module's cases, each case under its own key, so its own tenant.
``Wire(server)`` is one keep-alive connection that never silently reconnects, so "the next request
on the same connection is answered" means just that.
"""

from __future__ import annotations

import hashlib
import http.client
import json
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from tests.serve_process import free_port, server_process

__all__ = [
    "Answer",
    "SimProcess",
    "SimServerFactory",
    "Wire",
    "assert_together_error",
    "key_for",
    "listed",
    "start_sim",
    "upload_file",
]


@dataclass
class SimProcess:
    """A running server: where it listens, whose data dir it owns, and the keys to use."""

    base_url: str
    port: int
    pid: int
    data_dir: Path
    api_key: str
    admin_key: str | None
    log: Path

    def rss_kb(self) -> int:
        """The process's resident set now (VmRSS), for the memory bounds of the hostile cases."""
        return self._status_kb("VmRSS")

    def peak_rss_kb(self) -> int:
        """The most it ever held (VmHWM): a request's transient peak is gone by the time it
        answers, so a bound on what one request costs reads this, before and after."""
        return self._status_kb("VmHWM")

    def _status_kb(self, name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {name} for pid {self.pid}")  # pragma: no cover

    def wire(self) -> Wire:
        return Wire(self)


class SimServerFactory(Protocol):
    def __call__(self, *flags: str, env: Mapping[str, str] | None = None) -> SimProcess: ...


def _flag_value(flags: tuple[str, ...], name: str) -> str | None:
    """The first value of ``name`` in ``flags`` (``--api-key K`` or ``--api-key=K``)."""
    for i, flag in enumerate(flags):
        if flag == name and i + 1 < len(flags):
            return flags[i + 1]
        if flag.startswith(name + "="):
            return flag.split("=", 1)[1]
    return None


def start_sim(
    stack: ExitStack, base: Path, flags: tuple[str, ...], env: Mapping[str, str] | None
) -> SimProcess:
    """A server under ``base`` that lives as long as ``stack``: for a fixture of another scope
    or other flags than those below (a module's keyed server)."""
    base.mkdir(parents=True, exist_ok=True)
    data_dir, port, log = base / "data", free_port(), base / "server.log"
    process = stack.enter_context(server_process(data_dir, port, *flags, env=env, stderr=log))
    return SimProcess(
        base_url=f"http://127.0.0.1:{port}",
        port=port,
        pid=process.pid,
        data_dir=data_dir,
        api_key=_flag_value(flags, "--api-key") or "hostile-key",
        admin_key=_flag_value(flags, "--admin-key"),
        log=log,
    )


@pytest.fixture
def sim_server(tmp_path: Path) -> Iterator[SimServerFactory]:
    """Start servers with the flags a test needs; each is killed when the test ends."""
    with ExitStack() as stack:
        count = 0

        def start(*flags: str, env: Mapping[str, str] | None = None) -> SimProcess:
            nonlocal count
            count += 1
            return start_sim(stack, tmp_path / f"sim-{count}", flags, env)

        yield start


@pytest.fixture(scope="module")
def module_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """One plain server (no keys configured) for a module's cases: a startup per case would
    cost most of the suite's time, and the cases keep apart by key."""
    with ExitStack() as stack:
        yield start_sim(stack, tmp_path_factory.mktemp("hostile"), (), None)


def key_for(request: pytest.FixtureRequest) -> str:
    """One key, so one tenant, per case: what a refused request stored would show in its lists."""
    return "key-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:24]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    will_close: bool

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        """The ``error`` object of Together's body, its shape checked on the way."""
        body = self.json()
        assert isinstance(body, dict) and set(body) == {"error"}, body
        error = body["error"]
        assert set(error) >= {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"], error
        assert isinstance(error["type"], str) and error["type"], error
        return error  # type: ignore[no-any-return]


@dataclass
class Wire:
    """One keep-alive connection to a server. ``auto_open`` off: http.client would otherwise open
    a new socket behind our back once the server closed this one, and a closed connection after a
    hostile request is one of the things under test."""

    server: SimProcess
    key: str | None = None
    timeout: float = 30
    _conn: http.client.HTTPConnection = field(init=False)

    def __post_init__(self) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=self.timeout)
        self._conn.connect()
        self._conn.auto_open = 0
        self.key = self.key or self.server.api_key

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        json_body: Any = None,
        key: str | None = None,
        auth: bool = True,
    ) -> Answer:
        """One request as given (``body`` goes out byte for byte; ``json_body`` is encoded with
        ``allow_nan``, so NaN and Infinity reach the server as the literals Python writes)."""
        sent: dict[str, str] = {}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["content-type"] = "application/json"
        if auth:
            sent["authorization"] = f"Bearer {key or self.key}"
        sent.update(headers or {})
        self._conn.request(method, path, body=body, headers=sent)
        response = self._conn.getresponse()
        data = response.read()
        return Answer(
            status=response.status,
            headers={k.lower(): v for k, v in response.getheaders()},
            body=data,
            will_close=response.will_close,
        )

    def still_answers(self, path: str = "/v1/files", *, key: str | None = None) -> Answer:
        """A plain GET on this same connection: it must come back 200."""
        answer = self.send("GET", path, key=key)
        assert answer.status == 200, (answer.status, answer.body[:300])
        return answer


def assert_together_error(
    answer: Answer, status: int, *, param: str | None = None
) -> dict[str, Any]:
    """The status, Together's body, ``param`` naming the field where the route knows it (given
    here), and a connection the server keeps open for the next request."""
    assert answer.status == status, (answer.status, answer.body[:500])
    error = answer.error
    if param is not None:
        assert error["param"] == param, error
    assert not answer.will_close, "the server closed the keep-alive connection"
    return error


def upload_file(
    server: SimProcess, key: str, content: bytes, *, name: str = "train.jsonl"
) -> dict[str, Any]:
    """The 3.x SDK's three requests (announce, PUT the bytes, preprocess), for a case's setup."""
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        announced = client.post(
            "/v1/files",
            headers=headers,
            data={"purpose": "fine-tune", "file_name": name, "file_type": "jsonl"},
            follow_redirects=False,
        )
        assert announced.status_code == 302, announced.text
        assert client.put(announced.headers["location"], content=content).status_code == 200
        file_id = announced.headers["x-together-file-id"]
        processed = client.post(f"/v1/files/{file_id}/preprocess", headers=headers)
        assert processed.status_code == 200, processed.text
        body: dict[str, Any] = processed.json()
        return body


def listed(server: SimProcess, path: str, key: str) -> list[Any]:
    """A list route's ``data`` for ``key``'s tenant, on a connection of its own."""
    answer = httpx.get(
        server.base_url + path, headers={"authorization": f"Bearer {key}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    data: list[Any] = answer.json()["data"]
    return data
