"""The families' service (``mock_server.families.engine``): a new record's body is the spec's schema
cut to its required and constant fields, then the request's valid fields, then the server's,
with the id and timestamps in the schema's own formats; lookups by id or name; creation order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mock_server.core.clock import ManualClock
from mock_server.core.ids import IdSource
from mock_server.core.lifecycle import Lifecycle
from mock_server.families.engine import Family, Resources, accepted, prefixed
from mock_server.spec.index import operation_index
from mock_server.store import LocalBlobStore, SqliteStore

SECRETS = Family("secret", "GET /deployments/secrets/{id}", prefixed("secret"), name_field="name")
VIDEOS = Family(
    "video",
    "GET /videos/{id}",
    prefixed("video"),
    lifecycle=Lifecycle(steps=(("in_progress", 60.0),), rest="completed"),
)


@pytest.fixture
def resources(tmp_path: Path) -> Iterator[Resources]:
    store = SqliteStore(tmp_path)
    index = operation_index()
    unused: Any = None  # the videos family calls no other service
    yield Resources(
        store,
        LocalBlobStore(tmp_path),
        ManualClock(),
        IdSource(seed=1),
        lambda: index,
        speed=1.0,
        account="sim-user",
        files=unused,
        jobs=unused,
        endpoints=unused,
        inference=unused,
    )
    store.close()


def test_a_body_is_the_schemas_constants_the_request_and_the_servers_fields(
    resources: Resources,
) -> None:
    request = {"name": "HF", "value": "secret!", "project_id": "p", "description": 7}
    record = resources.create(SECRETS, "t", request=request, fields={"created_by": "me"})
    assert record.body == {
        "object": "secret",  # the schema's constant
        "name": "HF",  # the request's, where the response has the field and the value fits
        "created_by": "me",
        "id": record.id,
        "created_at": "2026-01-01T00:00:00.000000Z",
        "updated_at": "2026-01-01T00:00:00.000000Z",
    }
    assert record.id.startswith("secret-")


def test_timestamps_take_the_schemas_format_and_the_status_comes_from_the_clock(
    resources: Resources,
) -> None:
    record = resources.create(VIDEOS, "t", request={"model": "m", "seconds": "5"})
    assert record.body["created_at"] == 1767225600  # VideoJob's created_at is a number
    assert resources.render(VIDEOS, record)["status"] == "in_progress"
    resources.clock.advance(60)
    assert resources.render(VIDEOS, record)["status"] == "completed"
    assert "status" not in resources.get(VIDEOS, "t", record.id, param="id").body


def test_a_record_is_found_by_id_or_name_within_its_tenant_only(resources: Resources) -> None:
    record = resources.create(SECRETS, "t", request={"name": "HF"})
    assert resources.find(SECRETS, "t", "HF") == record
    assert resources.find(SECRETS, "t", record.id) == record
    assert resources.find(SECRETS, "other", "HF") is None


def test_records_made_at_the_same_instant_list_in_creation_order(resources: Resources) -> None:
    made = [resources.create(SECRETS, "t", request={"name": str(i)}).id for i in range(5)]
    assert [r.id for r in resources.list(SECRETS, "t")] == made


def test_only_fields_the_response_has_and_values_that_fit_are_accepted() -> None:
    schema = {"properties": {"n": {"type": "integer"}, "s": {"type": "string"}}}
    assert accepted({"n": "x", "s": "ok", "other": 1, "none": None}, schema) == {"s": "ok"}
