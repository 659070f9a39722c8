"""Together's published OpenAPI spec: found, pinned, checked and loaded.

The spec itself is data kept outside this repository (see :mod:`openapi.spec`);
this package only knows where to look for it, which version it must be
(``pin.json``), and how to parse it quickly.
"""

from openapi.spec import (
    ENV_CACHE,
    ENV_SPEC,
    Operation,
    Pin,
    SpecError,
    SpecIntegrityError,
    SpecNotFound,
    clear_cache,
    default_cache_dir,
    download_spec,
    find_spec_path,
    load_pin,
    load_spec,
    main,
    operations,
    spec_for_server,
    verify,
)

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
    "main",
    "operations",
    "spec_for_server",
    "verify",
]
