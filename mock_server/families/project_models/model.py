"""What the project-scoped model families share: the two kinds of record (models registered in a
project, and the remote uploads that give them files), the project a call is made in, the ids
derived from names, and cursor paging.

A key is one project (``core/tenancy.project_id``, as ``mock_server/projects`` names it for
whoami): a path naming another project is a 404 naming ``projectId``, except reads of the public
catalogue's project (``catalogue/supported.PUBLIC_PROJECT``), whose models and configs every key
may read, as the CLI does when it resolves a public model's config.

Ids of what the simulator did not register itself (a catalogue model, a fine-tune's output, a
``POST /v1/models`` upload) are derived from the name (``projects.identity.model_id_of``), so
the same model has the same id on every server and after a restart; registered models and
uploads get seeded random ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mock_server.catalogue.model_ids import config_id_of, revision_id_of
from mock_server.catalogue.supported import PUBLIC_PROJECT
from mock_server.core.errors import NotFound
from mock_server.core.ids import IdSource
from mock_server.core.lifecycle import Lifecycle
from mock_server.core.paging import DEFAULT_LIMIT, page_bounds
from mock_server.core.tenancy import project_id
from mock_server.families.base import Action, Call, Operation
from mock_server.families.engine import Family
from mock_server.projects.identity import model_id_of

__all__ = [
    "DEFAULT_LIMIT",
    "PROJECT_MODELS",
    "REMOTE_UPLOADS",
    "config_id_of",
    "model_id_of",
    "own_project",
    "page",
    "revision_id_of",
    "v2",
    "visible_project",
]


def _model_id(ids: IdSource) -> str:
    return f"ml_{ids.hex(24)}"


def _upload_id(ids: IdSource) -> str:
    return f"ru_{ids.hex(24)}"


# Models registered with ``POST /v2/projects/{projectId}/models``, and the changes made to the
# models the project holds without registering them (a fine-tune's output, an upload): those
# records carry ``private["derived"]`` and only the fields changed (or ``deleted``).
PROJECT_MODELS = Family(
    kind="project_model",
    schema="GET /projects/{projectId}/models/{id}",
    new_id=_model_id,
    name="Model",
)

# ``POST /v2/projects/{projectId}/models/uploads``: nothing is fetched; the import walks
# pending (10 s at the service's pace) and running (120 s) to succeeded, which gives the model
# its revision.  # estimated durations
REMOTE_UPLOADS = Family(
    kind="remote_upload",
    schema="GET /projects/{projectId}/models/uploads/{id}",
    new_id=_upload_id,
    lifecycle=Lifecycle(
        steps=(("REMOTE_UPLOAD_STATUS_PENDING", 10.0), ("REMOTE_UPLOAD_STATUS_RUNNING", 120.0)),
        rest="REMOTE_UPLOAD_STATUS_SUCCEEDED",
    ),
    name="Remote upload",
)


def _unknown_project(project: str) -> NotFound:
    return NotFound("project", project, message=f"Project {project} not found", param="projectId")


def own_project(call: Call) -> str:
    """The project of the call's path, which must be the key's own."""
    project = call.path["projectId"]
    if project != project_id(call.tenant):
        raise _unknown_project(project)
    return project


def visible_project(call: Call) -> str:
    """The project of a read: the key's own, or the public catalogue's."""
    project = call.path["projectId"]
    if project != PUBLIC_PROJECT:
        own_project(call)
    return project


def page(call: Call, items: Sequence[dict[str, Any]], id_field: str = "id") -> dict[str, Any]:
    """``items`` as one page of the spec's list envelope, with ``next_cursor`` (the last id
    given) while more follow; ``limit`` and ``after`` read as the project lists read them
    (``core/paging``: 1 to 500, a cursor naming an item of this list, else a 400 naming it)."""
    start, stop = page_bounds(
        [item[id_field] for item in items],
        limit=call.query.get("limit"),
        after=call.query.get("after"),
    )
    chosen = list(items[start:stop])
    body: dict[str, Any] = {"object": "list", "data": chosen}
    if stop < len(items) and chosen:
        body["next_cursor"] = chosen[-1][id_field]
    return body


def v2(key: str, action: Action) -> Operation:
    """A row mounted where SDK 3.x sends it (the spec's ``/v2`` server), and under ``/v1``."""
    return Operation(key, action, also=("/v2" + key.split(" ", 1)[1],))
