"""Route groups built on their first request rather than when the app is made.

Declaring a FastAPI route costs about a millisecond and a half (the signature's dependencies are
analysed, the response model prepared), and the simulator declares some 300 of them; the project
families alone (``projects/routes.py``, ``projects/unmodelled.py``) and the table-driven families
(``families/routes.py``) are some 150 and most of the import time that the routes add to startup.
A client that speaks fine-tuning only (most of them) never calls those, nor the controls, the
dashboard, batches, embeddings, rerank, audio, images or the model list, so their modules are
imported, and their routes declared, when a request first reaches one of their path prefixes.

A group sits in the app's route list where its module's routes would, and matches as they would
have: a path outside its prefixes is a ``NONE`` at once (without loading anything); inside them,
the first of its routes that matches fully wins, and a partial match (the path, not the method)
is reported as such, so the router still prefers a later full match and answers 405 otherwise.

What the first request to a group pays, once per process: that module's import, some tens of
milliseconds, on the event loop (routing is synchronous). The groups and their prefixes are
``LAZY_GROUPS`` below; ``tests/spec/test_lazy.py`` checks them against every route the module has.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from mock_server.core.once import Once

__all__ = ["LAZY_GROUPS", "LazyRoutes", "router_of"]

# The route modules app.py installs as groups, with the path prefixes that reach them, in the
# order they take among the app's routes: after the routes declared at startup (files,
# fine-tuning, inference), the families' table last. Names, not
# imports: importing them is what is put off. ``module:name`` names a router other than the
# module's ``router``.
LAZY_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mock_server.endpoints.routes", ("/v1/endpoints", "/v1/hardware", "/v1/clusters")),
    (
        "mock_server.projects.routes",
        ("/v1/whoami", "/v3/whoami", "/v1/projects", "/v2/organizations", "/v2/projects"),
    ),
    ("mock_server.projects.unmodelled", ("/v2/projects/",)),
    ("mock_server.faults.routes", ("/_sim/faults", "/_sim/journal", "/_sim/scenario")),
    ("mock_server.admin.controls", ("/_sim/clock", "/_sim/advance", "/_sim/jobs/", "/_sim/reset")),
    ("mock_server.admin.dashboard", ("/_sim/ui",)),
    ("mock_server.batches.routes", ("/v1/batches",)),
    ("mock_server.embeddings.routes", ("/v1/embeddings",)),
    ("mock_server.embeddings.rerank_routes", ("/v1/rerank",)),
    ("mock_server.audio.routes", ("/v1/audio/", "/v1/voices")),
    ("mock_server.images.routes:media_router", ("/_media/images/",)),
    ("mock_server.images.routes", ("/v1/images/",)),
    ("mock_server.families.model_list", ("/v1/models",)),  # before the families' own /v1/models/
    (
        "mock_server.families.routes",
        (
            "/v1/rl/",
            "/v1/projects/",
            "/v2/projects/",
            "/v1/compute/",
            "/v1/deployments",
            "/v1/evaluation",
            "/v1/public/",
            "/v2/public/",
            "/v1/organizations",
            "/v2/organizations",
            "/v1/fine-tunes/",
            "/v1/queue/",
            "/v1/tci/",
            "/v1/jobs",
            "/v1/videos",
            "/v2/videos",
            "/v1/supported-models",
            "/v2/supported-models",
            "/v1/models",
            "/_downloads/",
        ),
    ),
)

_INNER = "together_sim.lazy_route"  # the scope key naming the inner route that matched


def router_of(name: str) -> Any:
    """The router a group names (``module`` or ``module:attribute``), its module imported."""
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute or "router")


class LazyRoutes(BaseRoute):
    def __init__(self, module: str, prefixes: Sequence[str]) -> None:
        """``module``: imported on the first request under one of ``prefixes``; its ``router``'s
        routes are the group's."""
        self.module = module
        self.prefixes = tuple(prefixes)
        self.name = module
        self._routes: Once[list[BaseRoute]] = Once(lambda: list(router_of(module).routes))

    @property
    def loaded(self) -> bool:
        return self._routes.done

    @property
    def routes(self) -> list[BaseRoute]:
        """The module's routes, importing it if that has not happened yet."""
        return self._routes.get()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not scope.get("path", "").startswith(self.prefixes):
            return Match.NONE, {}
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {**child, _INNER: route}
            if match is Match.PARTIAL and partial is None:
                partial = route, child
        if partial is None:
            return Match.NONE, {}
        return Match.PARTIAL, {**partial[1], _INNER: partial[0]}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope.pop(_INNER)
        scope["route"] = route  # what FastAPI and the handlers expect to find there
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)
