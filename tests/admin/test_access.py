"""Who may use ``/_sim``: with keys configured, its controls want the admin key (401 without a
known key, 403 with a tenant's), a tenant's key sees only its own tenant on the dashboard, and a
browser signs in once to a cookie that only the dashboard's reads honour. With no key configured,
a laptop's default, everything stays open."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from mock_server.admin import controls as admin_controls
from mock_server.admin.dashboard import SESSION_COOKIE
from mock_server.app import create_app
from mock_server.cli import _parser
from mock_server.cli_flags import given_settings
from mock_server.core.clock import ManualClock
from mock_server.faults import routes as fault_routes
from mock_server.settings import ClockMode, Settings
from tests.steps import QUICKSTART, auth, create_job, jsonl, upload

KEY_A, KEY_B, ADMIN = "sk-team-a", "sk-team-b", "sk-admin"

# Every /_sim control, with a path and body that reach it: each must want the admin key.
CONTROLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/_sim/clock", None),
    ("POST", "/_sim/advance", {"seconds": 1}),
    ("POST", "/_sim/reset", None),
    ("POST", "/_sim/jobs/{id}/fail", {}),
    ("POST", "/_sim/jobs/{id}/trainer", {"trainer": "synthetic"}),
    ("GET", "/_sim/jobs/{id}/base", None),
    ("GET", "/_sim/faults", None),
    ("POST", "/_sim/faults", {"path": "/nowhere", "status": 503}),
    ("DELETE", "/_sim/faults", None),
    ("DELETE", "/_sim/faults/{id}", None),
    ("GET", "/_sim/journal", None),
    ("DELETE", "/_sim/journal", None),
    ("GET", "/_sim/scenario", None),
    ("POST", "/_sim/scenario", {}),
    ("DELETE", "/_sim/scenario", None),
]


def _settings(data_dir: Path, **keys: Any) -> Settings:
    given: dict[str, Any] = {"api_keys": [], "admin_key": None, **keys}  # none from the env
    return Settings(data_dir=data_dir, clock=ClockMode.manual, speed=1.0, **given)


@pytest.fixture
def keyed_app(tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(
        _settings(tmp_path / "data", api_keys=[KEY_A, KEY_B], admin_key=ADMIN), clock=ManualClock()
    )
    yield app
    app.state.services.store.close()


@pytest.fixture
def keyed(keyed_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(keyed_app) as client:
        yield client


def _call(
    client: TestClient, method: str, path: str, body: Any, key: str | None
) -> dict[str, Any] | int:
    headers = auth(key) if key is not None else {}
    answer = client.request(method, path.format(id="ft-none"), json=body, headers=headers)
    if answer.status_code in (401, 403):
        error: dict[str, Any] = answer.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        return {"status": answer.status_code, **error}
    return answer.status_code


def test_every_control_is_in_the_list_checked_here() -> None:
    routed = {
        (method, route.path)
        for router in (admin_controls.router, fault_routes.router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert routed == {(method, path) for method, path, _ in CONTROLS}


@pytest.mark.parametrize(("method", "path", "body"), CONTROLS)
def test_with_keys_every_control_wants_the_admin_key(
    keyed: TestClient, method: str, path: str, body: Any
) -> None:
    missing = _call(keyed, method, path, body, None)
    assert isinstance(missing, dict)
    assert (missing["status"], missing["type"], missing["code"]) == (
        401,
        "invalid_api_key",
        "invalid_api_key",
    )
    unknown = _call(keyed, method, path, body, "sk-guess")
    assert isinstance(unknown, dict) and unknown["status"] == 401
    tenant = _call(keyed, method, path, body, KEY_A)
    assert isinstance(tenant, dict)
    assert (tenant["status"], tenant["type"], tenant["code"]) == (
        403,
        "permission_denied",
        "admin_key_required",
    )
    assert "--admin-key" in tenant["message"]
    admin = _call(keyed, method, path, body, ADMIN)
    assert admin in (200, 400, 404)  # the control's own answer: no job ft-none, no rule f1


def test_a_tenant_cannot_reset_everyone(keyed: TestClient) -> None:
    upload(keyed, jsonl(QUICKSTART), key=KEY_B)
    assert keyed.post("/_sim/reset", headers=auth(KEY_A)).status_code == 403
    assert len(keyed.get("/v1/files", headers=auth(KEY_B)).json()["data"]) == 1
    assert keyed.post("/_sim/reset", headers=auth(ADMIN)).status_code == 200
    assert keyed.get("/v1/files", headers=auth(KEY_B)).json()["data"] == []


def test_a_tenant_cannot_install_a_fault_for_everyone(keyed: TestClient) -> None:
    rule = {"path": "/v1/*", "status": 503}
    assert keyed.post("/_sim/faults", json=rule, headers=auth(KEY_A)).status_code == 403
    assert keyed.get("/v1/models", headers=auth(KEY_B)).status_code == 200


def test_the_admin_key_works_on_the_api_as_a_tenant_of_its_own(keyed: TestClient) -> None:
    assert keyed.get("/v1/files", headers=auth(ADMIN)).status_code == 200
    assert keyed.get("/v1/files", headers=auth("sk-guess")).status_code == 401


def _tenants(client: TestClient, key: str) -> list[dict[str, Any]]:
    answer = client.get("/_sim/ui/api/tenants", headers=auth(key))
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_a_tenant_key_sees_only_its_own_tenant_on_the_dashboard(
    keyed: TestClient, keyed_app: FastAPI
) -> None:
    tenant_of = keyed_app.state.tenancy.tenant_of
    mine, theirs = tenant_of(KEY_A), tenant_of(KEY_B)
    upload(keyed, jsonl(QUICKSTART), key=KEY_A)
    their_file = upload(keyed, jsonl(QUICKSTART), name="theirs-secret.jsonl", key=KEY_B)
    their_job = create_job(keyed, their_file["id"], key=KEY_B)

    assert _tenants(keyed, KEY_A) == [{"id": mine, "files": 1, "jobs": 0}]
    assert {t["id"] for t in _tenants(keyed, ADMIN)} == {mine, theirs}

    asked = keyed.get("/_sim/ui/api/snapshot", params={"tenant": theirs}, headers=auth(KEY_A))
    snapshot = asked.json()
    assert (snapshot["tenant"], [t["id"] for t in snapshot["tenants"]]) == (mine, [mine])
    assert "theirs-secret.jsonl" not in asked.text
    assert their_job["id"] not in asked.text

    for path in (f"/tenants/{theirs}", f"/tenants/{theirs}/jobs/{their_job['id']}"):
        refused = keyed.get(f"/_sim/ui/api{path}", headers=auth(KEY_A))
        assert refused.status_code == 403
        assert refused.json()["error"]["param"] == "tenant"
    assert keyed.get(f"/_sim/ui/api/tenants/{mine}", headers=auth(KEY_A)).status_code == 200
    shown = keyed.get(f"/_sim/ui/api/tenants/{theirs}", headers=auth(ADMIN))
    assert [f["filename"] for f in shown.json()["files"]] == ["theirs-secret.jsonl"]


def test_a_tenant_sees_the_faults_that_can_touch_it_and_its_own_journal(
    keyed: TestClient, keyed_app: FastAPI
) -> None:
    tenant_of = keyed_app.state.tenancy.tenant_of
    rules = [
        {"id": "everyone", "operation": "GET /v1/models", "status": 503, "times": 2},
        {"id": "only-b", "operation": "GET /v1/files", "status": 503, "api_key": KEY_B},
    ]
    assert keyed.post("/_sim/faults", json=rules, headers=auth(ADMIN)).status_code == 200
    assert keyed.get("/v1/models", headers=auth(KEY_A)).status_code == 503
    assert keyed.get("/v1/models", headers=auth(KEY_B)).status_code == 503
    assert keyed.get("/v1/files", headers=auth(KEY_B)).status_code == 503

    seen = keyed.get("/_sim/ui/api/faults", headers=auth(KEY_A)).json()
    assert [r["id"] for r in seen["rules"]] == ["everyone"]
    assert [(e["rule"], e["tenant"]) for e in seen["journal"]] == [("everyone", tenant_of(KEY_A))]
    everything = keyed.get("/_sim/ui/api/faults", headers=auth(ADMIN)).json()
    assert [r["id"] for r in everything["rules"]] == ["everyone", "only-b"]
    assert everything["journal_total"] == 3


def test_with_keys_the_dashboard_data_wants_a_known_key_but_the_page_does_not(
    keyed: TestClient,
) -> None:
    for path in ("/_sim/ui/api/snapshot", "/_sim/ui/api/tenants", "/_sim/ui/events"):
        for headers in ({}, auth("sk-guess")):
            refused = keyed.get(path, headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["type"] == "invalid_api_key"
    for path in ("/_sim/ui", "/_sim/ui/static/app.js", "/_sim/ui/static/app.css"):
        assert keyed.get(path).status_code == 200  # no data in them


def test_a_browser_signs_in_once_and_its_cookie_reads_only_the_dashboard(
    keyed: TestClient, keyed_app: FastAPI
) -> None:
    tenant_of = keyed_app.state.tenancy.tenant_of
    upload(keyed, jsonl(QUICKSTART), key=KEY_A)
    form = keyed.post("/_sim/ui/session", data={"key": KEY_A})  # another site's form could
    assert form.status_code == 400
    wrong = keyed.post("/_sim/ui/session", json={"key": "sk-guess"})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_api_key")
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")

    signed = keyed.post("/_sim/ui/session", json={"key": KEY_A})
    assert signed.json() == {"tenant": tenant_of(KEY_A), "admin": False}
    cookie = signed.headers["set-cookie"].lower()
    for part in ("httponly", "samesite=strict", "path=/_sim/ui"):
        assert part in cookie
    assert _tenants_by_cookie(keyed) == [tenant_of(KEY_A)]

    # The controls never read the cookie, even one sent to them on purpose.
    admin_cookie = {"cookie": f"{SESSION_COOKIE}={ADMIN}"}
    assert keyed.post("/_sim/reset", headers=admin_cookie).status_code == 401

    assert keyed.delete("/_sim/ui/session").status_code == 200
    assert keyed.get("/_sim/ui/api/tenants").status_code == 401


def _tenants_by_cookie(client: TestClient) -> list[str]:
    answer = client.get("/_sim/ui/api/tenants")  # no header: the cookie jar's key
    assert answer.status_code == 200, answer.text
    return [t["id"] for t in answer.json()["data"]]


def test_without_keys_everything_stays_open(client: TestClient) -> None:
    """A laptop's simulator: no key configured, no key needed anywhere under /_sim."""
    upload(client, jsonl(QUICKSTART))
    assert client.get("/_sim/faults").status_code == 200
    assert client.post("/_sim/advance", json={"seconds": 1}).status_code == 200
    assert len(client.get("/_sim/ui/api/tenants").json()["data"]) == 1
    assert client.post("/_sim/reset").status_code == 200


def test_an_admin_key_alone_closes_the_controls_and_leaves_the_api_open(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path / "data", admin_key=ADMIN), clock=ManualClock())
    with TestClient(app) as client:
        assert client.get("/v1/files", headers=auth("anyone")).status_code == 200
        assert client.post("/_sim/reset", headers=auth("anyone")).status_code == 403
        assert client.post("/_sim/reset", headers=auth(ADMIN)).status_code == 200
    app.state.services.store.close()


def test_dashboard_tenant_ids_do_not_reveal_keys_and_survive_a_restart(tmp_path: Path) -> None:
    def listed_tenant() -> str:
        app = create_app(_settings(tmp_path / "data"), clock=ManualClock())
        with TestClient(app) as client:
            upload(client, jsonl(QUICKSTART), key="weak")
            (tenant,) = client.get("/_sim/ui/api/tenants").json()["data"]
        app.state.services.store.close()
        return str(tenant["id"])

    first = listed_tenant()
    assert first != hashlib.sha256(b"weak").hexdigest()[:16]  # no guess can be checked
    assert listed_tenant() == first  # the same data dir: the same tenant, its files still its own


def test_the_admin_key_comes_from_its_flag_or_variable_and_stays_out_of_reprs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_SIM_ADMIN_KEY", "sk-from-env")
    from_env = Settings(data_dir=tmp_path)
    assert from_env.admin_keys == ["sk-from-env"]
    assert "sk-from-env" not in repr(from_env)
    args = _parser().parse_args(["serve", "--data-dir", str(tmp_path), "--admin-key", "sk-flag"])
    assert Settings(**given_settings(args)).admin_keys == ["sk-flag"]  # the flag wins
    monkeypatch.setenv("TOGETHER_SIM_ADMIN_KEY", "")
    assert Settings(data_dir=tmp_path).admin_keys == []  # an empty variable is no key
