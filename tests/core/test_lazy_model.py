"""Models built on first use (``mock_server.core.lazy_model``): ours, except the routes' bodies,
and FastAPI's own when ``serve`` imports it. What a fresh process holds after an import is
checked in a subprocess, since this one has long built every model the suite used."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from mock_server.app import create_app
from mock_server.core.lazy_model import LazyModel
from mock_server.settings import Settings
from mock_server.spec.lazy import LazyRoutes


def _fresh(code: str) -> Any:
    """What ``code`` prints as JSON, run by a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_importing_the_app_builds_none_of_the_models_a_request_uses_first() -> None:
    built = _fresh(
        """
        import json
        import mock_server.app
        from mock_server.faults.rules import FaultRule
        from mock_server.fine_tuning.events import Event
        from mock_server.fine_tuning.models import Job
        from mock_server.files.models import FileRecord
        print(json.dumps({m.__name__: m.__pydantic_complete__
                          for m in (FaultRule, Event, Job, FileRecord)}))
        """
    )
    assert built == {"FaultRule": False, "Event": False, "Job": False, "FileRecord": False}


def test_serve_imports_fastapi_with_its_models_deferred_and_pydantics_default_restored() -> None:
    seen = _fresh(
        """
        import json
        from mock_server.core.lazy_model import import_fastapi
        import_fastapi()
        from fastapi.openapi.models import OpenAPI
        from pydantic import BaseModel
        deferred = OpenAPI.__pydantic_complete__
        class After(BaseModel):  # defined after the import: built at once, as by default
            a: int
        document = OpenAPI.model_validate(
            {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}
        )
        print(json.dumps({"deferred": not deferred, "after": After.__pydantic_complete__,
                          "used": document.info.title, "built": OpenAPI.__pydantic_complete__}))
        """
    )
    assert seen == {"deferred": True, "after": True, "used": "t", "built": True}


def _all_routes(app: FastAPI) -> list[Any]:
    routes: list[Any] = []
    for route in app.routes:
        routes.extend(route.routes if isinstance(route, LazyRoutes) else [route])
    return routes


def _bodies(dependant: Any) -> list[type[BaseModel]]:
    found = [
        p.field_info.annotation
        for p in dependant.body_params
        if isinstance(p.field_info.annotation, type)
        and issubclass(p.field_info.annotation, BaseModel)
    ]
    for sub in dependant.dependencies:
        found.extend(_bodies(sub))
    return found


def test_every_routes_body_is_built_when_its_route_is_declared(tmp_path: Path) -> None:
    # Else its first request builds FastAPI's adapter outside FastAPI's warning filter.
    app = create_app(Settings(data_dir=tmp_path / "data"))
    bodies = {b for r in _all_routes(app) if hasattr(r, "dependant") for b in _bodies(r.dependant)}
    assert len(bodies) >= 10
    assert {b.__name__ for b in bodies if not b.__pydantic_complete__} == set()
    assert all(b.model_config.get("defer_build") is False for b in bodies)


def test_a_model_first_used_by_many_threads_at_once_validates_in_each() -> None:
    class Late(LazyModel):
        name: str
        size: int

    assert not Late.__pydantic_complete__
    start, results, errors = threading.Barrier(8), [], []

    def use(i: int) -> None:
        start.wait()
        try:
            results.append(Late.model_validate({"name": f"n{i}", "size": str(i)}).size)
        except Exception as exc:  # what a rebuild race would raise
            errors.append(exc)

    threads = [threading.Thread(target=use, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(results) == list(range(8))
    assert Late.__pydantic_complete__
