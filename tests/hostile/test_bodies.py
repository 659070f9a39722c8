"""Bodies that are not the JSON object a route reads, on every family of JSON routes, over a real
socket: nesting 10,000 levels deep (once a RecursionError and a 500 on four of them), bytes that
are not UTF-8, JSON cut short, JSON that is not an object, no body at all, a form where JSON is
due.

Each is a 400 in the route's documented error shape, what the route lists afterwards is what it
listed before, and the next request on the same keep-alive connection is answered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.hostile.conftest import Answer, SimProcess, SimServerFactory, Wire, key_for

pytestmark = pytest.mark.e2e

# route -> (the list that would show what it stored, or None; its error shape)
ROUTES: dict[str, tuple[str | None, str]] = {
    "/v1/fine-tunes": ("/v1/fine-tunes", "together"),
    "/v1/fine-tunes/estimate-price": (None, "together"),
    "/v1/batches": ("/v1/batches", "batches"),  # its documented {"error": "..."}
    "/v1/deployments/secrets": ("/v1/deployments/secrets", "together"),
    "/v1/deployments": ("/v1/deployments", "together"),
    "/v1/endpoints": ("/v1/endpoints", "together"),
    "/v1/evaluation": ("/v1/evaluation", "together"),
    "/v1/queue/submit": (None, "queue"),  # its documented flat {"message", "type"}
    "/v1/chat/completions": (None, "together"),
    "/v1/files/multipart/initiate": ("/v1/files", "together"),
    "/_sim/faults": ("/_sim/faults", "together"),
    "/_sim/scenario": ("/_sim/scenario", "together"),
    "/_sim/advance": ("/_sim/clock", "together"),
}

BODIES: dict[str, tuple[bytes, str]] = {
    "arrays 10000 deep": (b"[" * 10_000 + b"]" * 10_000, "application/json"),
    "objects 10000 deep": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "application/json"),
    "invalid utf-8": (b'{"model": "\xff\xfe\xfd"}', "application/json"),
    "truncated": (b'{"model": "x", "training_file": ', "application/json"),
    "an array": (b"[1, 2]", "application/json"),
    "a string": (b'"text"', "application/json"),
    "a number": (b"42", "application/json"),
    "null": (b"null", "application/json"),
    "no body": (b"", "application/json"),
    "a form": (b"model=x&training_file=y", "application/x-www-form-urlencoded"),
}

# What a control reads as a valid request: an empty scenario.
ACCEPTED = {
    ("/_sim/scenario", "null"),
    ("/_sim/scenario", "no body"),
}


def _message(answer: Answer, shape: str) -> str:
    """The error's message in the route's documented shape, the shape checked on the way."""
    if shape == "together":
        return str(answer.error["message"])
    body = answer.json()
    if shape == "batches":
        assert set(body) == {"error"} and isinstance(body["error"], str), body
        return str(body["error"])
    assert set(body) == {"message", "type"} and body["type"] == "invalid_request_error", body
    return str(body["message"])


def _listing(server: SimProcess, path: str | None, key: str) -> Any:
    if path is None:
        return None
    answer = httpx.get(server.base_url + path, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


CASES = [
    pytest.param(route, body, id=f"{route} {body}")
    for route in ROUTES
    for body in BODIES
    if (route, body) not in ACCEPTED
]


@pytest.mark.parametrize(("route", "body"), CASES)
def test_a_body_that_is_not_a_json_object_is_a_400_and_the_connection_lives(
    module_sim: SimProcess, request: pytest.FixtureRequest, route: str, body: str
) -> None:
    key = key_for(request)
    listing, shape = ROUTES[route]
    content, content_type = BODIES[body]
    before = _listing(module_sim, listing, key)
    with Wire(module_sim, key=key) as wire:
        refused = wire.send("POST", route, content, headers={"content-type": content_type})
        assert refused.status == 400, (refused.status, refused.body[:300])
        assert _message(refused, shape)
        assert not refused.will_close
        wire.still_answers()
    assert _listing(module_sim, listing, key) == before


def test_the_depth_limit_is_the_servers_setting_on_spec_routes_and_controls(
    sim_server: SimServerFactory,
) -> None:
    """``--max-json-depth 8``: a body 9 levels deep is refused, naming the limit, on a spec
    route and on a control; 8 levels get through to the route's own checks."""
    server = sim_server("--max-json-depth", "8")
    nine = {"model": [[[[[[[[1]]]]]]]]}  # the body's object, then 8 arrays: 9 levels
    eight = {"model": [[[[[[[1]]]]]]]}
    with Wire(server, key="depth-key") as wire:
        for route in ("/v1/fine-tunes", "/_sim/faults"):
            refused = wire.send("POST", route, json_body=nine)
            assert refused.status == 400, refused.body
            assert "more than 8 levels deep" in refused.error["message"]
            shallow = wire.send("POST", route, json_body=eight)
            assert shallow.status == 400, shallow.body  # not a model name, nor a fault rule
            assert "levels deep" not in shallow.error["message"]
        wire.still_answers()
