"""Uploads under a hostile client, on a real server process: a second PUT to an upload URL while
the first is still streaming (once, both bodies interleaved into one file marked COMPLETED, and
one PUT a 500), PUTs with a wrong token, to a finished upload or to a part that does not exist,
and file routes sent the wrong kind of body.

The first PUT is held open on a raw socket, half its body sent, until the server has claimed the
upload (its claim file appears under ``parts/``): no monkeypatching, no sleeps, the real server's
own behaviour. Each refusal is Together's body, the file that is stored is exactly the first
body, and the next request on the refused connection is answered."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.conftest import SimProcess, Wire, assert_together_error, key_for, listed
from tests.steps import QUICKSTART, jsonl

pytestmark = pytest.mark.e2e

TRAIN = jsonl(QUICKSTART)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _announce(server: SimProcess, key: str) -> tuple[str, str]:
    """POST /v1/files without the bytes: the file id and the signed upload URL's path."""
    with Wire(server, key=key) as wire:
        body = (
            b'--b\r\nContent-Disposition: form-data; name="file_name"\r\n\r\ntrain.jsonl\r\n'
            b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n--b--\r\n'
        )
        announced = wire.send(
            "POST", "/v1/files", body, headers={"content-type": "multipart/form-data; boundary=b"}
        )
    assert announced.status == 302, announced.body
    return announced.headers["x-together-file-id"], _path(announced.headers["location"])


def _initiate(server: SimProcess, key: str, size: int) -> dict[str, str]:
    with Wire(server, key=key) as wire:
        initiated = wire.send(
            "POST",
            "/v1/files/multipart/initiate",
            json_body={"file_name": "big.jsonl", "file_size": size, "num_parts": 1},
        )
    assert initiated.status == 200, initiated.body
    body = initiated.json()
    return {
        "upload_id": body["upload_id"],
        "file_id": body["file_id"],
        "url": body["parts"][0]["URL"],
    }


class HeldPut:
    """A PUT whose head is on the wire and whose tail waits for ``finish``."""

    def __init__(self, server: SimProcess, path: str, head: bytes, tail: bytes) -> None:
        self.tail = tail
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        request = (
            f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Length: {len(head) + len(tail)}\r\n\r\n"
        ).encode()
        self.sock.sendall(request + head)

    def finish(self) -> http.client.HTTPResponse:
        self.sock.sendall(self.tail)
        response = http.client.HTTPResponse(self.sock)
        response.begin()
        response.read()
        return response

    def close(self) -> None:
        self.sock.close()


def _wait_for_claim(claim: Path) -> None:
    """Until the server holds the first PUT's claim: the one wait here, on a file, not a clock."""
    deadline = time.monotonic() + 30
    while not claim.exists():
        assert time.monotonic() < deadline, f"the first PUT never claimed {claim.name}"
        time.sleep(0.01)


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    return key_for(request)


@pytest.mark.parametrize("flow", ["one-shot", "multipart part"])
def test_a_second_put_while_the_first_streams_is_a_409_and_the_file_is_the_first_body(
    module_sim: SimProcess, key: str, flow: str
) -> None:
    head, tail = b'{"text": "' + b"a" * 300_000, b'"}\n'
    if flow == "one-shot":
        file_id, path = _announce(module_sim, key)
        claim, part = module_sim.data_dir / "parts" / f"{file_id}.0.lock", "Upload"
    else:
        initiated = _initiate(module_sim, key, len(head + tail))
        file_id, path = initiated["file_id"], _path(initiated["url"])
        claim, part = module_sim.data_dir / "parts" / f"{file_id}.1.lock", "Part 1"
    first = HeldPut(module_sim, path, head, tail)
    try:
        _wait_for_claim(claim)
        with Wire(module_sim, key=key) as other:
            second = other.send("PUT", path, b'{"text": "b"}\n' * 1000, auth=False)
            error = assert_together_error(second, 409)
            assert error["message"].startswith(part) and file_id in error["message"]
            other.still_answers()
        finished = first.finish()
        assert finished.status == 200
    finally:
        first.close()
    if flow == "multipart part":
        etag = finished.getheader("etag")
        complete = {
            "upload_id": initiated["upload_id"],
            "file_id": file_id,
            "parts": [{"part_number": 1, "etag": etag}],
        }
        with Wire(module_sim, key=key) as wire:
            assert (
                wire.send("POST", "/v1/files/multipart/complete", json_body=complete).status == 200
            )
    content = httpx.get(
        f"{module_sim.base_url}/v1/files/{file_id}/content",
        headers={"authorization": f"Bearer {key}"},
    )
    assert content.content == head + tail
    assert [f["id"] for f in listed(module_sim, "/v1/files", key)] == [file_id]
    assert not [p for p in (module_sim.data_dir / "parts").iterdir() if p.name.startswith(file_id)]


@pytest.fixture
def announced(module_sim: SimProcess, key: str) -> Iterator[tuple[str, str]]:
    yield _announce(module_sim, key)


@pytest.mark.parametrize(
    ("query", "status", "param"),
    [("token=wrong", 404, None), ("", 400, "token"), ("token=", 404, None)],
    ids=["a wrong token", "no token", "an empty token"],
)
def test_a_put_without_the_uploads_own_token_stores_nothing(
    module_sim: SimProcess,
    key: str,
    announced: tuple[str, str],
    query: str,
    status: int,
    param: str | None,
) -> None:
    file_id, path = announced
    with Wire(module_sim, key=key) as wire:
        refused = wire.send("PUT", f"/_uploads/{file_id}?{query}", TRAIN, auth=False)
        assert_together_error(refused, status, param=param)
        wire.still_answers()
        assert wire.send("PUT", path, TRAIN, auth=False).status == 200  # the real one still works
    assert [f["bytes"] for f in listed(module_sim, "/v1/files", key)] == [len(TRAIN)]


def test_a_put_to_a_finished_upload_is_refused_and_leaves_the_file_alone(
    module_sim: SimProcess, key: str, announced: tuple[str, str]
) -> None:
    file_id, path = announced
    with Wire(module_sim, key=key) as wire:
        assert wire.send("PUT", path, TRAIN, auth=False).status == 200
        again = wire.send("PUT", path, b'{"text": "overwritten"}\n', auth=False)
        assert_together_error(again, 404)
        assert wire.still_answers(f"/v1/files/{file_id}/content").body == TRAIN


@pytest.mark.parametrize("number", ["0", "2", "99999999999999999999999", "-1"])
def test_a_put_to_a_part_the_upload_does_not_have_is_a_400_naming_it(
    module_sim: SimProcess, key: str, number: str
) -> None:
    initiated = _initiate(module_sim, key, 10)
    path = _path(initiated["url"]).replace("/parts/1?", f"/parts/{number}?")
    with Wire(module_sim, key=key) as wire:
        assert_together_error(wire.send("PUT", path, b"x", auth=False), 400, param="part_number")
        wire.still_answers()
    assert listed(module_sim, "/v1/files", key) == []


FORM, JSON = "multipart/form-data; boundary=zz", "application/json"
WRONG_BODIES = [
    pytest.param(
        "/v1/files", b'{"file_name": "x.jsonl"}', JSON, "file_name", id="json, not a form"
    ),
    pytest.param("/v1/files", b"", FORM, "file_name", id="an empty form"),
    pytest.param("/v1/files", b"--zz\r\nContent-Disposition: form-data", FORM, None, id="form cut"),
    pytest.param(
        "/v1/files/upload",
        b"file_name=x",
        "application/x-www-form-urlencoded",
        None,
        id="urlencoded",
    ),
    pytest.param(
        "/v1/files/multipart/initiate",
        b'{"file_name": "x", "file_size": 10, "num_parts": 0}',
        JSON,
        "num_parts",
        id="no parts",
    ),
    pytest.param(
        "/v1/files/multipart/initiate",
        b'{"file_name": "x", "file_size": 10, "num_parts": 1e30}',
        JSON,
        "num_parts",
        id="1e30 parts",
    ),
    pytest.param(
        "/v1/files/multipart/initiate",
        b'{"file_name": "x", "file_size": 1180591620717411303424, "num_parts": 1}',
        JSON,
        "file_size",
        id="2**70 bytes announced",
    ),
    pytest.param(
        "/v1/files/multipart/initiate",
        b'{"file_name": "x", "file_size": -1, "num_parts": 1}',
        JSON,
        "file_size",
        id="a negative size",
    ),
    pytest.param(
        "/v1/files/multipart/complete",
        b'{"upload_id": "upload-none", "file_id": "file-none"}',
        JSON,
        None,
        id="an unknown upload",
    ),
]


@pytest.mark.parametrize(("route", "body", "content_type", "param"), WRONG_BODIES)
def test_a_file_route_sent_the_wrong_body_is_refused_and_nothing_is_listed(
    module_sim: SimProcess, key: str, route: str, body: bytes, content_type: str, param: str | None
) -> None:
    with Wire(module_sim, key=key) as wire:
        refused = wire.send("POST", route, body, headers={"content-type": content_type})
        assert 400 <= refused.status < 500, (refused.status, refused.body)
        assert_together_error(refused, refused.status, param=param)
        wire.still_answers()
    assert listed(module_sim, "/v1/files", key) == []
