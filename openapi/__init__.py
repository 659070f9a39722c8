"""Together's published OpenAPI spec: found, pinned, checked and loaded.

The specs themselves are data kept outside this repository (see :mod:`openapi.locate`); this
package only knows where to look for them, which versions they must be (``pin.json``: April and
August 2026, August the default), and how to parse them quickly.
"""

from openapi.locate import (
    ENV_CACHE,
    ENV_SPEC,
    ENV_SPEC_VERSION,
    Pin,
    SpecError,
    SpecIntegrityError,
    SpecNotFound,
    SpecVersion,
    default_cache_dir,
    default_spec_version,
    download_spec,
    find_spec_path,
    load_pin,
    pins,
    selected_version,
    verify,
)
from openapi.spec import Operation, clear_cache, load_spec, operations, spec_for_server

__all__ = [
    "ENV_CACHE",
    "ENV_SPEC",
    "ENV_SPEC_VERSION",
    "Operation",
    "Pin",
    "SpecError",
    "SpecIntegrityError",
    "SpecNotFound",
    "SpecVersion",
    "clear_cache",
    "default_cache_dir",
    "default_spec_version",
    "download_spec",
    "find_spec_path",
    "load_pin",
    "load_spec",
    "operations",
    "pins",
    "selected_version",
    "spec_for_server",
    "verify",
]
