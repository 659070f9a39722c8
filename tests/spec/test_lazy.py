"""Route groups declared on first use: each holds its module's routes under its prefixes, a
fine-tuning client never loads one, and a request under a group's prefix is answered as the
eagerly declared route would have answered it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from mock_server.spec.lazy import LAZY_GROUPS, LazyRoutes, router_of
from tests.steps import auth


def _groups(app: FastAPI) -> dict[str, LazyRoutes]:
    return {r.module: r for r in app.router.routes if isinstance(r, LazyRoutes)}


@pytest.mark.parametrize(("module", "prefixes"), LAZY_GROUPS, ids=[m for m, _ in LAZY_GROUPS])
def test_every_route_of_a_group_lies_under_its_prefixes(
    module: str, prefixes: tuple[str, ...]
) -> None:
    # A route outside them would never be reached: the generic layer would answer it instead.
    for route in router_of(module).routes:
        path = getattr(route, "path", "")
        assert path.startswith(prefixes), f"{module}: {path} is outside {prefixes}"


def test_the_app_holds_every_group_unloaded_until_a_request_needs_it(app: FastAPI) -> None:
    groups = _groups(app)
    assert set(groups) == {module for module, _ in LAZY_GROUPS}
    with TestClient(app) as client:
        assert client.get("/v1/fine-tunes", headers=auth()).status_code == 200
        assert client.get("/v1/files", headers=auth()).status_code == 200
        assert not any(group.loaded for group in groups.values())

        whoami = client.get("/v1/whoami", headers=auth())
        assert whoami.status_code == 200, whoami.text
        assert groups["mock_server.projects.routes"].loaded
        assert not groups["mock_server.families.routes"].loaded


def test_a_request_under_a_group_is_answered_by_its_route(app: FastAPI) -> None:
    with TestClient(app) as client:
        listed = client.get("/v1/endpoints", headers=auth())
        assert listed.status_code == 200, listed.text
        assert listed.json()["object"] == "list"
        # The path is the group's, the method none of its routes takes: 405, as before.
        wrong = client.put("/v1/endpoints", headers=auth())
        assert wrong.status_code == 405, wrong.text


def test_a_path_outside_every_prefix_is_no_match_without_loading() -> None:
    group = LazyRoutes("mock_server.projects.routes", ("/v2/projects",))
    scope = {"type": "http", "method": "GET", "path": "/v1/fine-tunes", "root_path": ""}
    assert group.matches(scope)[0] is Match.NONE
    assert not group.loaded
