"""Together's published OpenAPI spec: found, pinned, checked and loaded.

The spec itself is data kept outside this repository (see :mod:`openapi.locate`);
this package only knows where to look for it, which version it must be
(``pin.json``), and how to parse it quickly.
"""

from openapi.locate import (
    ENV_CACHE,
    ENV_SPEC,
    Pin,
    SpecError,
    SpecIntegrityError,
    SpecNotFound,
    default_cache_dir,
    download_spec,
    find_spec_path,
    load_pin,
    verify,
)
from openapi.spec import Operation, clear_cache, load_spec, operations, spec_for_server

__all__ = [
    "ENV_CACHE",
    "ENV_SPEC",
    "Operation",
    "Pin",
    "SpecError",
    "SpecIntegrityError",
    "SpecNotFound",
    "clear_cache",
    "default_cache_dir",
    "download_spec",
    "find_spec_path",
    "load_pin",
    "load_spec",
    "operations",
    "spec_for_server",
    "verify",
]
