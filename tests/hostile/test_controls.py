"""The ``/_sim`` controls and the dashboard under a hostile client, on a real server process with
keys configured: no key is a 401 and a tenant's key a 403 on every control (once, any client could
reset everyone), the dashboard's data wants a known key, a fault rule built to backtrack cannot
stall the server (RE2), and no clock move, however absurd, leaves it broken.

Each refusal is Together's body, changes nothing, and the next request on the same keep-alive
connection is answered."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.admin.test_access import CONTROLS
from tests.hostile.conftest import (
    SimProcess,
    SimServerFactory,
    Wire,
    assert_together_error,
    listed,
    start_sim,
    upload_file,
)
from tests.steps import QUICKSTART, jsonl

pytestmark = pytest.mark.e2e

TEAM_A, TEAM_B, ADMIN = "sk-team-a", "sk-team-b", "sk-admin-hostile"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """One server with two tenants' keys and an admin key, and a file of team B's that a reset
    by anyone but the admin must leave in place."""
    flags = ("--api-key", TEAM_A, "--api-key", TEAM_B, "--admin-key", ADMIN)
    with ExitStack() as stack:
        server = start_sim(stack, tmp_path_factory.mktemp("keyed"), flags, None)
        upload_file(server, TEAM_B, jsonl(QUICKSTART), name="team-b-secret.jsonl")
        yield server


def _path(path: str) -> str:
    return path.format(id="ft-none")


def _body(body: dict[str, Any] | None) -> bytes | None:
    return None if body is None else json.dumps(body).encode()


@pytest.mark.parametrize(("method", "path", "body"), CONTROLS)
def test_without_a_key_every_control_is_a_401_and_the_connection_lives(
    keyed: SimProcess, method: str, path: str, body: dict[str, Any] | None
) -> None:
    with Wire(keyed, key=TEAM_A) as wire:
        headers = {"content-type": "application/json"}
        refused = wire.send(method, _path(path), _body(body), headers=headers, auth=False)
        error = assert_together_error(refused, 401)
        assert (error["type"], error["code"]) == ("invalid_api_key", "invalid_api_key")
        guessed = wire.send(method, _path(path), _body(body), headers=headers, key="sk-guess")
        assert_together_error(guessed, 401)
        wire.still_answers()
    assert [f["filename"] for f in listed(keyed, "/v1/files", TEAM_B)] == ["team-b-secret.jsonl"]


@pytest.mark.parametrize(("method", "path", "body"), CONTROLS)
def test_a_tenants_key_on_a_control_is_a_403_naming_the_admin_key(
    keyed: SimProcess, method: str, path: str, body: dict[str, Any] | None
) -> None:
    with Wire(keyed, key=TEAM_A) as wire:
        headers = {"content-type": "application/json"}
        refused = wire.send(method, _path(path), _body(body), headers=headers)
        error = assert_together_error(refused, 403)
        assert (error["type"], error["code"]) == ("permission_denied", "admin_key_required")
        assert "--admin-key" in error["message"]
        wire.still_answers()
    assert [f["filename"] for f in listed(keyed, "/v1/files", TEAM_B)] == ["team-b-secret.jsonl"]


@pytest.mark.parametrize(
    "path", ["/_sim/ui/api/snapshot", "/_sim/ui/api/tenants", "/_sim/ui/events"]
)
def test_the_dashboards_data_wants_a_known_key(keyed: SimProcess, path: str) -> None:
    with Wire(keyed) as wire:
        assert_together_error(wire.send("GET", path, auth=False), 401)
        assert_together_error(wire.send("GET", path, key="sk-guess"), 401)
        wire.still_answers()


def test_dashboard_tenant_ids_are_not_a_hash_anyone_could_take_of_a_key(keyed: SimProcess) -> None:
    with Wire(keyed, key=ADMIN) as wire:
        tenants = wire.send("GET", "/_sim/ui/api/tenants")
        assert tenants.status == 200, tenants.body
    ids = {t["id"] for t in tenants.json()["data"]}
    assert ids  # team B's file made it a tenant
    guessable = {hashlib.sha256(k.encode()).hexdigest()[:16] for k in (TEAM_A, TEAM_B, ADMIN)}
    assert not ids & guessable
    assert not any(key in tenants.body.decode() for key in (TEAM_A, TEAM_B, ADMIN))


# -- faults that would stall a regex engine -------------------------------------------------------


def test_a_backtracking_fault_regex_cannot_stall_the_server(sim_server: SimServerFactory) -> None:
    """With Python's ``re``, ``/v1/(a+)+`` against a long path of a's that does not match takes
    time exponential in its length, on every request. The socket's timeout is only a guard
    against a hang: nothing here is timed."""
    server = sim_server()
    with Wire(server, timeout=20) as wire:
        rule = {"id": "redos", "path_regex": "/v1/(a+)+", "status": 503}
        added = wire.send("POST", "/_sim/faults", json_body=rule)
        assert added.status == 200, added.body
        missed = wire.send("GET", "/v1/" + "a" * 5000 + "!")
        assert_together_error(missed, 404)  # matched against the rule, which did not fire
        wire.still_answers()
        fired = wire.send("GET", "/v1/aaaa")
        assert_together_error(fired, 503)
        assert [r["seen"] for r in wire.send("GET", "/_sim/faults").json()["data"]] == [1]


@pytest.mark.parametrize(
    ("rule", "param"),
    [
        ('{"path_regex": "/v1/(?!files)", "status": 503}', "path_regex"),  # a lookahead
        ('{"path_regex": "(a)\\\\1", "status": 503}', "path_regex"),  # a backreference
        ('{"path_regex": "/v1/' + "x" * 1000 + '", "status": 503}', "path_regex"),
        ('{"path": "/v1/files", "status": 503, "after": 1e300}', "after"),
        ('{"path": "/v1/files", "status": 429, "retry_after": Infinity}', "retry_after"),
        ('{"path": "/v1/files", "latency": {"fixed": NaN}}', "latency.fixed"),
    ],
)
def test_a_fault_rule_the_server_could_not_live_with_is_a_400_and_nothing_is_installed(
    module_sim: SimProcess, rule: str, param: str
) -> None:
    with Wire(module_sim) as wire:
        refused = wire.send(
            "POST", "/_sim/faults", rule.encode(), headers={"content-type": "application/json"}
        )
        assert_together_error(refused, 400, param=param)
        assert wire.send("GET", "/_sim/faults").json()["data"] == []
        wire.still_answers()


# -- the clock ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds", ["1e12", "Infinity", "-Infinity", "NaN", "1e400", "-1", str(2**63)]
)
def test_an_advance_past_any_sane_horizon_is_a_400_and_the_clock_still_works(
    module_sim: SimProcess, seconds: str
) -> None:
    with Wire(module_sim) as wire:
        before = wire.send("GET", "/_sim/clock").json()
        body = f'{{"seconds": {seconds}}}'.encode()
        refused = wire.send(
            "POST", "/_sim/advance", body, headers={"content-type": "application/json"}
        )
        assert_together_error(refused, 400, param="seconds")
        assert wire.send("GET", "/_sim/clock").json() == before
        for path in ("/v1/models", "/v1/files", "/v1/fine-tunes"):
            wire.still_answers(path)
        moved = wire.send("POST", "/_sim/advance", json_body={"seconds": 1})
        assert moved.status == 200, moved.body
        assert moved.json()["offset_seconds"] == before["offset_seconds"] + 1
