"""Size limits and timeouts on a real server process, over real sockets: a 75 MB JSON body (once a
job, and 375 MB of the server's memory), a chunked body past the limit, a 100 MB header (once 20 s
in which no other client was answered), a PUT whose content-length promises more than it sends
(once a wait for ever), a request line that stops halfway, a connection that never sends, ~1,100
half-open connections under a 1024 file-descriptor limit (once every other client refused), and
uploads and forms past their limits.

Each answer is checked for its status and Together's body; then the next request on the same
connection is answered, or, where the server must close it, the connection is closed and a fresh
one is answered. Timeouts are set small by their flags, and only statuses are asserted."""

from __future__ import annotations

import http.client
import json
import os
import resource
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.conftest import (
    SimProcess,
    SimServerFactory,
    Wire,
    assert_together_error,
    key_for,
    listed,
)
from tests.steps import QUICKSTART, jsonl

pytestmark = pytest.mark.e2e

TRAIN = jsonl(QUICKSTART)
MB = 1_000_000


def _raw(server: SimProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(1 << 16):
        received += chunk
    return received


def _answer_of(raw: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    """The status, headers and Together error of one raw HTTP answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    parsed = json.loads(body)
    assert set(parsed) == {"error"}, parsed
    error: dict[str, object] = parsed["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    return int(status_line.split()[1]), headers, error


def _answered(server: SimProcess, key: str = "any-key") -> None:
    """A fresh connection is answered, within an ordinary client timeout."""
    answer = httpx.get(
        server.base_url + "/v1/files", headers={"authorization": f"Bearer {key}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text


def _announce(server: SimProcess, key: str) -> str:
    """POST /v1/files without the bytes: the signed upload URL's path."""
    announced = httpx.post(
        server.base_url + "/v1/files",
        headers={"authorization": f"Bearer {key}"},
        data={"purpose": "fine-tune", "file_name": "train.jsonl"},
        follow_redirects=False,
    )
    assert announced.status_code == 302, announced.text
    parts = urlsplit(announced.headers["location"])
    return f"{parts.path}?{parts.query}"


# -- bodies ----------------------------------------------------------------------------------


def test_a_75_mb_json_body_is_a_413_and_the_server_never_holds_it(
    module_sim: SimProcess, request: pytest.FixtureRequest
) -> None:
    key = key_for(request)
    before = module_sim.rss_kb()
    body = b'{"model": "x", "training_file": "file-x", "suffix": "' + b"s" * (75 * MB) + b'"}'
    with Wire(module_sim, key=key) as wire:
        refused = wire.send(
            "POST", "/v1/fine-tunes", body, headers={"content-type": "application/json"}
        )
        error = assert_together_error(refused, 413)  # and the connection kept
        assert "over the limit of 16777216 bytes" in error["message"]
        wire.still_answers()
    assert module_sim.rss_kb() - before < 50_000  # KiB: the body was dropped as it came
    assert listed(module_sim, "/v1/fine-tunes", key) == []


def test_a_chunked_body_past_the_limit_is_a_413_and_the_connection_lives(
    module_sim: SimProcess, request: pytest.FixtureRequest
) -> None:
    key = key_for(request)
    conn = http.client.HTTPConnection("127.0.0.1", module_sim.port, timeout=30)
    conn.auto_open = 0
    conn.connect()
    chunks = (b"[" + b"1," * 500_000 for _ in range(20))  # 20 MB, no content-length
    conn.request(
        "POST",
        "/v1/fine-tunes",
        body=chunks,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    body = response.read()
    assert response.status == 413, body[:300]
    assert not response.will_close
    assert b"goes past the limit of 16777216 bytes" in body
    conn.request("GET", "/v1/fine-tunes", headers={"authorization": f"Bearer {key}"})
    again = conn.getresponse()
    assert (again.status, again.read()) == (200, b'{"object":"list","data":[]}')
    conn.close()


def test_a_put_whose_content_length_promises_more_than_it_sends_is_a_408_and_stores_nothing(
    sim_server: SimServerFactory,
) -> None:
    server = sim_server("--body-timeout", "0.5")
    path = _announce(server, "put-key")
    with _raw(server) as sock:
        sock.sendall(
            f"PUT {path} HTTP/1.1\r\nHost: sim\r\nContent-Length: 1000\r\n\r\n".encode() + TRAIN
        )
        status, headers, error = _answer_of(_read_until_closed(sock))  # and then closed
    assert (status, headers["connection"], error["param"]) == (408, "close", "file")
    assert "--body-timeout" in str(error["message"])
    assert listed(server, "/v1/files", "put-key") == []
    assert not [p for p in (server.data_dir / "parts").rglob("*") if p.is_file()]
    # The upload is as it was: the same URL takes the whole body now.
    stored = httpx.put(server.base_url + path, content=TRAIN, timeout=10)
    assert stored.status_code == 200, stored.text
    assert [f["bytes"] for f in listed(server, "/v1/files", "put-key")] == [len(TRAIN)]


# -- the request line and headers -------------------------------------------------------------


def test_a_100_mb_header_is_a_431_and_other_clients_are_answered_meanwhile(
    module_sim: SimProcess,
) -> None:
    before = module_sim.rss_kb()
    received: list[bytes] = []
    with _raw(module_sim) as sock:
        reader = threading.Thread(target=lambda: received.append(_read_until_closed(sock)))
        reader.start()
        sender = threading.Thread(
            target=_send_ignoring_reset,
            args=(sock, b"GET /v1/files HTTP/1.1\r\nHost: sim\r\nX-Big: " + b"a" * (100 * MB)),
        )
        sender.start()
        for _ in range(3):
            _answered(module_sim)
        sender.join()
        reader.join()
    status, headers, error = _answer_of(received[0])
    assert (status, headers["connection"]) == (431, "close")
    assert "--max-header-bytes" in str(error["message"])
    assert module_sim.rss_kb() - before < 50_000  # KiB
    _answered(module_sim)


def _send_ignoring_reset(sock: socket.socket, data: bytes) -> None:
    """Send what the server may stop reading: it closes once it has answered and drained."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def test_a_request_line_that_stops_halfway_is_a_408_then_the_connection_closes(
    sim_server: SimServerFactory,
) -> None:
    server = sim_server("--request-timeout", "0.5")
    with _raw(server) as sock:
        sock.sendall(b"GET /v1/files HTTP/1.1\r\nHost: sim\r\nAuthoriz")
        status, headers, error = _answer_of(_read_until_closed(sock))
    assert (status, headers["connection"]) == (408, "close")
    assert "--request-timeout" in str(error["message"])
    _answered(server)


def test_a_connection_that_never_sends_is_closed_once_idle(
    sim_server: SimServerFactory,
) -> None:
    server = sim_server("--idle-timeout", "0.5")
    with _raw(server) as sock:
        assert _read_until_closed(sock) == b""  # closed, quietly
    _answered(server)


# -- connections ------------------------------------------------------------------------------


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    """This process opens ~1,100 sockets: its soft limit up to its hard one for the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1500:
        pytest.skip(f"the hard file-descriptor limit ({hard}) leaves no room for 1,100 sockets")
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 4096, hard)
    )
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_1100_half_open_connections_under_a_1024_descriptor_limit_leave_clients_answered(
    sim_server: SimServerFactory, many_descriptors: None
) -> None:
    server = sim_server()
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (1024, 1024))
    idle: list[socket.socket] = []
    try:
        for i in range(1100):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            if i % 2:
                sock.sendall(b"GET /v1/files HTTP/1.1\r\nHost: sim\r\n")  # half a request
            idle.append(sock)
        for _ in range(5):
            _answered(server)  # each within an ordinary client's 10 s, not after the timeouts
        assert len(os.listdir(f"/proc/{server.pid}/fd")) < 1024
    finally:
        for sock in idle:
            sock.close()
    _answered(server)


# -- uploads and forms ------------------------------------------------------------------------


def test_uploads_and_forms_past_their_limits_are_refused_and_nothing_is_stored(
    sim_server: SimServerFactory,
) -> None:
    server = sim_server(
        "--max-upload-bytes", "1000", "--max-form-fields", "3",
        env={"TOGETHER_SIM_MAX_FORM_FIELD_BYTES": "1024"},
    )  # fmt: skip
    key = "upload-key"
    big = b'{"text": "' + b"x" * 2000 + b'"}\n'
    with Wire(server, key=key) as wire:
        # a PUT to the signed URL
        refused = wire.send("PUT", _announce(server, key), big, auth=False)
        error = assert_together_error(refused, 413, param="file")
        assert "over the limit of 1000 bytes" in error["message"]
        # the spec's one-shot multipart upload
        body, headers = _form(big, purpose="fine-tune")
        refused = wire.send("POST", "/v1/files/upload", body, headers=headers)
        assert_together_error(refused, 413, param="file")
        # a multipart upload that announces more than the limit, before any session exists
        refused = wire.send(
            "POST",
            "/v1/files/multipart/initiate",
            json_body={"file_name": "t.jsonl", "file_size": 2000, "num_parts": 1},
        )
        assert_together_error(refused, 413, param="file_size")
        # a part past the limit of an upload that announced less
        initiated = wire.send(
            "POST",
            "/v1/files/multipart/initiate",
            json_body={"file_name": "t.jsonl", "file_size": 1000, "num_parts": 1},
        )
        assert initiated.status == 200, initiated.body
        part = urlsplit(initiated.json()["parts"][0]["URL"])
        refused = wire.send("PUT", f"{part.path}?{part.query}", big, auth=False)
        assert_together_error(refused, 413, param="file")
        # a form with more fields than the limit, and one with a field past its size
        body, headers = _form(TRAIN, purpose="fine-tune", a="1", b="2")
        refused = wire.send("POST", "/v1/files/upload", body, headers=headers)
        assert "Maximum number of fields is 3" in assert_together_error(refused, 400)["message"]
        body, headers = _form(TRAIN, purpose="p" * 2000)
        refused = wire.send("POST", "/v1/files/upload", body, headers=headers)
        error = assert_together_error(refused, 400)
        assert "exceeded maximum size of 1KB" in error["message"]
        wire.still_answers()
    assert listed(server, "/v1/files", key) == []


def _form(content: bytes, **fields: str) -> tuple[bytes, dict[str, str]]:
    """A multipart body with a file_name, ``fields`` and the file, and its content-type."""
    parts = [(name, value.encode()) for name, value in {"file_name": "t.jsonl", **fields}.items()]
    body = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name.encode(), value)
        for name, value in parts
    )
    body += (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="t.jsonl"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--b--\r\n"
    )
    return body, {"content-type": "multipart/form-data; boundary=b"}
