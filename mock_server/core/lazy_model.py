"""The base of every pydantic model of ours: its validator and serializer are built on first
use, not when its module is imported.

Building a model's schema costs about half a millisecond to a millisecond; the simulator
defines some forty, most of which a given process needs late or never (the fault rules, the
project families, the endpoints). Built at import, they were ~20 ms of every start. Deferred,
each is built once, by the first request that validates or dumps it.

A route's request body is the exception: it sets ``defer_build=False`` and is built when its
route is declared, as before. FastAPI builds a body's adapter with pydantic's warning about its
``alias`` silenced; an adapter of a deferred model is built later, on the first request, outside
that silence, and the warning would reach the log (or fail a test run with warnings as errors).

Two requests that use a model first at the same moment, in two threads, are safe from
pydantic 2.14 on: a model's rebuild holds pydantic's lock (``pyproject.toml`` requires it).
"""

from __future__ import annotations

import importlib
import sys

from pydantic import BaseModel, ConfigDict

__all__ = ["LazyModel", "import_fastapi"]


class LazyModel(BaseModel):
    """A subclass's own ``model_config`` merges with this one, so ``defer_build`` carries down."""

    model_config = ConfigDict(defer_build=True)


def import_fastapi() -> None:
    """Import FastAPI with its own models deferred, where this process imports it first.

    FastAPI defines some forty pydantic models of an OpenAPI document and builds them when it is
    imported: ~40 ms of a start on a small machine, for a document the simulator never makes
    (its apps have ``openapi_url=None``; ``/openapi.json`` serves Together's spec). pydantic has
    no public switch for a library's models, so its default for ``defer_build`` is set while
    FastAPI is imported and restored right after; a model that is used after all (a caller of
    ``app.openapi()``) is built then. Where the default is not where pydantic 2.14 keeps it,
    FastAPI is imported as it is (``tests/core/test_lazy_model.py`` says so).
    """
    if "fastapi" in sys.modules:
        return
    try:
        from pydantic._internal._config import config_defaults
    except ImportError:  # pragma: no cover - a pydantic that moved it
        importlib.import_module("fastapi")
        return
    if not isinstance(config_defaults, dict) or config_defaults.get("defer_build") is not False:
        importlib.import_module("fastapi")  # pragma: no cover - as above
        return
    config_defaults["defer_build"] = True
    try:
        importlib.import_module("fastapi")
    finally:
        config_defaults["defer_build"] = False
