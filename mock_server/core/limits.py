"""How much a request may send and how long it may take to send it: the numbers and the pure
checks behind ``mock_server/guard`` (the ASGI middleware and uvicorn's protocol) and the form
parsers. ``Settings`` makes each number a ``serve`` flag; the README's "Limits" table lists them.

The defaults are the real service's where it documents one (a file of at most 50.1 GB, as the
SDKs' ``check_file`` says: ``MAX_FILE_SIZE_GB = 50.1`` with ``NUM_BYTES_IN_GB = 2**30``) and
otherwise generous bounds that no SDK call comes near but that keep one hostile request from
taking the process's memory, file descriptors or event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mock_server.core.errors import PayloadTooLarge
from mock_server.core.wire import MAX_DEPTH

__all__ = [
    "LIMITS",
    "MAX_FILE_BYTES",
    "Limits",
    "check_file_size",
    "form_limits",
    "limits_of",
    "size",
]

KIB = 1 << 10
MIB = 1 << 20
# The SDKs refuse a bigger file before uploading it (check_file: "Maximum supported file size
# is 50.1 GB"), so the service never sees one: 50.1 GiB, the SDK's 2**30-based "GB".
MAX_FILE_BYTES = int(50.1 * (1 << 30))
# A form that carries a file also carries a few short fields (file_name, purpose, ...).
FORM_ROOM = MIB

# Where the guard leaves the limits in an HTTP scope, for the form parsers down the stack.
LIMITS = "together_sim.limits"


@dataclass(frozen=True)
class Limits:
    """Each field is a ``Settings`` field of the same name (and a ``serve`` flag)."""

    max_body_bytes: int = 16 * MIB  # any body but an upload's: JSON, form fields
    max_upload_bytes: int = MAX_FILE_BYTES  # one file: a PUT to an upload URL or part, a form's
    max_header_bytes: int = 64 * KIB  # the request line and headers together
    max_form_fields: int = 64  # non-file fields of one multipart or urlencoded form
    max_form_files: int = 8  # file parts of one multipart form
    max_form_field_bytes: int = MIB  # one non-file field (Starlette keeps them in memory)
    max_json_depth: int = MAX_DEPTH  # arrays and objects nested in a JSON body
    request_timeout: float = 30.0  # from a request's first byte to the end of its headers
    body_timeout: float = 60.0  # the longest wait for the next bytes of a body
    idle_timeout: float = 20.0  # a connection with no request in it (keep-alive, or new)
    max_connections: int = 2048  # open at once; also bounded by the file-descriptor limit

    def body_limit(self, path: str, content_type: bytes) -> tuple[int, str | None]:
        """The most bytes this request's body may have, and the field it is (``file`` for an
        upload, none for a JSON body). An upload URL takes the file's bytes as they are; a
        multipart form carries a file and a few fields; everything else is a plain body."""
        if path.startswith("/_uploads/"):
            return self.max_upload_bytes, "file"
        if content_type[:19].lower() == b"multipart/form-data":
            return self.max_upload_bytes + FORM_ROOM, "file"
        return self.max_body_bytes, None

    def too_large(self, param: str | None, sent: int | None) -> str:
        """The words of a 413: what was sent, the limit, and the flag that sets it."""
        file = param in ("file", "file_size")
        if file:
            what, flag, limit = "The file", "--max-upload-bytes", self.max_upload_bytes
        else:
            what, flag, limit = "The request body", "--max-body-bytes", self.max_body_bytes
        named = size(limit)
        if file and limit == MAX_FILE_BYTES:
            named += ", the service's maximum supported file size of 50.1 GB"
        sends = f"is {sent} bytes, over" if sent is not None else "goes past"
        return f"{what} {sends} the limit of {limit} bytes ({named}; together-sim's {flag} sets it)"

    def form_options(self) -> dict[str, int]:
        """Keyword arguments for Starlette's ``Request.form``."""
        return {
            "max_fields": self.max_form_fields,
            "max_files": self.max_form_files,
            "max_part_size": self.max_form_field_bytes,
        }


def limits_of(scope: Mapping[str, Any]) -> Limits:
    """This request's limits: the guard's, or the defaults where no guard stands in front (a
    bare app in a unit test)."""
    limits = scope.get(LIMITS)
    return limits if isinstance(limits, Limits) else _DEFAULTS


_DEFAULTS = Limits()


def form_limits(scope: Mapping[str, Any]) -> dict[str, int]:
    """``Request.form``'s limits for this request."""
    return limits_of(scope).form_options()


def check_file_size(scope: Mapping[str, Any], sent: int | None, *, param: str = "file") -> None:
    """A form's file past the upload limit is a 413. The guard held the whole form to that limit
    plus room for its fields; this holds the file itself to it, before anything is stored. A
    multipart upload's announced ``file_size`` is held to it too, before its session exists."""
    limits = limits_of(scope)
    if sent is not None and sent > limits.max_upload_bytes:
        raise PayloadTooLarge(limits.too_large(param, sent), param=param)


def size(count: int) -> str:
    """``16777216`` as ``16 MiB``: a limit in the words a person reads."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", KIB)):
        if count >= scale:
            value = count / scale
            return f"{value:.1f} {unit}".replace(".0 ", " ")
    return f"{count} bytes"
