"""The code interpreter (``/tci/execute``, ``/tci/sessions``), which never executes code.

``execute`` answers the spec's successful execution with one ``stdout`` output that says, in so
many words, that the code was not run, and describes what was sent (language, lines, a digest,
the files uploaded): the same request gets the same answer, and nobody can mistake it for a real
result. Sessions are real: a call without ``session_id`` opens one (``ses_…``), later calls with it
count executions and keep it alive; a session expires 60 minutes after its last execution (an
estimate), and only live ones are listed. A session id that is unknown, another tenant's or
expired gets the spec's failed execution (``data`` null, ``errors`` saying why).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from mock_server.core.errors import InvalidRequest
from mock_server.core.timefmt import iso, parse_iso
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Family, Record, Resources

__all__ = ["OPERATIONS", "SESSIONS"]

SESSION_MINUTES = 60

SESSIONS = Family(
    kind="tci_session",
    schema="GET /tci/sessions",
    new_id=lambda ids: f"ses_{ids.hex(16)}",
)


def _live(resources: Resources, record: Record) -> bool:
    return parse_iso(record.body["expires_at"]) > resources.now()


def _stdout(record: Record, request: dict[str, Any]) -> str:
    code = request["code"]
    lines = len(code.splitlines()) or 1
    digest = hashlib.sha256(code.encode()).hexdigest()[:12]
    text = (
        "[together-sim] This code was NOT executed: together-sim never runs code. "
        f"Simulated result of execution {record.body['execute_count']} in session {record.id}: "
        f"{lines} line(s) of {request.get('language', 'python')}, sha256 {digest}.\n"
    )
    files = [f["name"] for f in request.get("files") or ()]
    if files:
        text += f"[together-sim] Files placed in the session (not read): {', '.join(files)}\n"
    return text


def execute(resources: Resources, call: Call) -> Any:
    request = call.json()
    if "code" not in request:  # the spec leaves the body optional, and its schema needs code
        raise InvalidRequest("code is required", param="code")
    now = resources.now()
    session_id = request.get("session_id")
    fields = {
        "last_execute_at": iso(now),
        "expires_at": iso(now + timedelta(minutes=SESSION_MINUTES)),
    }
    with resources.store.transaction():
        if session_id is None:
            record = resources.create(
                SESSIONS, call.tenant, fields={**fields, "execute_count": 1, "started_at": iso(now)}
            )
        else:
            found = resources.find(SESSIONS, call.tenant, session_id)
            if found is None or not _live(resources, found):
                return {"data": None, "errors": [f"Session {session_id} not found or expired"]}
            fields["execute_count"] = found.body["execute_count"] + 1
            record = resources.update(SESSIONS, found, fields=fields)
    outputs = [{"type": "stdout", "data": _stdout(record, request)}]
    return {
        "data": {"session_id": record.id, "outputs": outputs, "status": "success"},
        "errors": None,
    }


def list_sessions(resources: Resources, call: Call) -> Any:
    live = [r.body for r in resources.list(SESSIONS, call.tenant) if _live(resources, r)]
    return {"data": {"sessions": live}}


OPERATIONS = [
    Operation("POST /tci/execute", execute, "execute_code"),
    Operation("GET /tci/sessions", list_sessions, "list_code_sessions"),
]
