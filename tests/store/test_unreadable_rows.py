"""A row whose document does not load is one bad record, not a broken store: lists leave it out
and log it once, reading it alone is a 409 naming it (never a 500), a job that does not load can
still be deleted, and a restart changes none of that. The rows are broken here the way they get
broken in the field: written straight into the database (an older build's ``null`` for a NaN,
a hand edit, text that is not JSON), on each store (conftest.py)."""

from __future__ import annotations

import json
import logging

import pytest

from mock_server.core.errors import NotFound
from mock_server.fine_tuning.events import Metric
from mock_server.fine_tuning.models import Transition
from mock_server.store import Store, UnreadableRecord
from tests.builders import T0, make_file, make_job, pending_event
from tests.store.conftest import Backend

GOOD = "ft-00000000-0000-4000-8000-000000000001"
BAD = "ft-00000000-0000-4000-8000-000000000002"


def _job_doc_with(backend: Backend, job_id: str, **fields: object) -> None:
    """Straight into the database, beside the store's own connections."""
    [(doc,)] = backend.execute("SELECT doc FROM jobs WHERE id = ?", job_id)
    backend.execute(
        "UPDATE jobs SET doc = ? WHERE id = ?", json.dumps({**json.loads(doc), **fields}), job_id
    )


def _two_jobs_one_broken(store: Store, backend: Backend) -> None:
    for job_id in (GOOD, BAD):
        job = make_job(id=job_id, model_output_name=f"sim-user/model-{job_id[-1]}")
        store.create_job(job, [pending_event(job)])
    # What a NaN learning rate became when an older build stored it: JSON's null.
    _job_doc_with(backend, BAD, learning_rate=None)


def test_a_job_that_does_not_load_is_left_out_of_lists_and_logged_once(
    store: Store, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    _two_jobs_one_broken(store, backend)
    with caplog.at_level(logging.WARNING, logger="together_sim.store"):
        assert [j.id for j in store.list_jobs("tenant-a")] == [GOOD]
        assert [j.id for j in store.list_jobs("tenant-a")] == [GOOD]
        assert [j.id for j in store.iter_live_jobs()] == [GOOD]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert f"jobs row {BAD} does not load" in warnings[0]
    assert "learning_rate: Input should be a valid number" in warnings[0]


def test_reading_a_job_that_does_not_load_is_a_409_naming_it(
    store: Store, backend: Backend
) -> None:
    _two_jobs_one_broken(store, backend)
    for read in (
        lambda: store.get_job("tenant-a", BAD),
        lambda: store.find_job_anywhere(BAD),
        lambda: store.find_job_by_output_name("tenant-a", "sim-user/model-2"),
    ):
        with pytest.raises(UnreadableRecord) as caught:
            read()
        error = caught.value
        assert (error.status, error.param, error.code, error.id) == (
            409,
            "id",
            "record_unreadable",
            BAD,
        )
        assert error.message == (
            f"Fine-tune job {BAD} is stored in a form this server cannot read (learning_rate: "
            "Input should be a valid number); it is left out of lists; deleting it removes it"
        )


def test_a_job_that_does_not_load_can_be_deleted_with_its_events(
    store: Store, backend: Backend
) -> None:
    _two_jobs_one_broken(store, backend)
    store.delete_job("tenant-a", BAD)
    with pytest.raises(NotFound):
        store.get_job("tenant-a", BAD)
    assert store.list_events(BAD) == []
    assert [j.id for j in store.list_jobs("tenant-a")] == [GOOD]
    with pytest.raises(NotFound):
        store.delete_job("tenant-b", GOOD)  # still only the tenant's own


def test_a_restart_reads_the_rest_of_the_store(backend: Backend) -> None:
    first = backend.open()
    _two_jobs_one_broken(first, backend)
    first.close()
    again = backend.open()
    try:
        assert [j.id for j in again.list_jobs("tenant-a")] == [GOOD]
        assert [j.id for j in again.iter_live_jobs()] == [GOOD]
        assert again.list_tenants() == ["tenant-a"]
    finally:
        again.close()


def test_a_file_that_does_not_load_is_left_out_and_a_409_alone(
    store: Store, backend: Backend
) -> None:
    store.put_file(make_file("file-good"))
    store.put_file(make_file("file-bad"))
    backend.execute("UPDATE files SET doc = ? WHERE id = ?", "{not json", "file-bad")
    assert [f.id for f in store.list_files("tenant-a")] == ["file-good"]
    with pytest.raises(UnreadableRecord) as caught:
        store.get_file("tenant-a", "file-bad")
    assert caught.value.message.startswith("File file-bad is stored in a form this server cannot")
    assert "deleting" not in caught.value.message  # the files service needs the record to delete


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ('{"cpu": NaN}', "NaN is not JSON"),
        ('{"cpu": -Infinity}', "-Infinity is not JSON"),
        ("[1, 2]", "a list, not an object"),
        ("{oops", "Expecting property name enclosed in double quotes"),
    ],
)
def test_a_resource_that_does_not_load_is_left_out_and_a_409_alone(
    store: Store, backend: Backend, doc: str, why: str
) -> None:
    store.put_resource("deployment", "tenant-a", "good", {"name": "good"}, T0)
    store.put_resource("deployment", "tenant-a", "bad", {"name": "bad"}, T0)
    backend.execute("UPDATE resources SET doc = ? WHERE id = ?", doc, "bad")
    assert store.list_resources("deployment", "tenant-a") == [{"name": "good"}]
    with pytest.raises(UnreadableRecord) as caught:
        store.get_resource("deployment", "tenant-a", "bad")
    assert caught.value.status == 409
    assert f"Deployment bad is stored in a form this server cannot read ({why}" in (
        caught.value.message
    )


def test_a_resource_holding_nan_is_never_written(store: Store) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        store.put_resource("deployment", "tenant-a", "d", {"cpu": float("nan")}, T0)
    assert store.list_resources("deployment", "tenant-a") == []


def test_events_and_metrics_that_do_not_load_are_left_out(store: Store, backend: Backend) -> None:
    job = make_job(id=GOOD)
    store.create_job(job, [pending_event(job), pending_event(job)])
    points = [Metric(step=s, logged_at=T0, values={"train/loss": 1.0}) for s in (1, 2)]
    store.save_transition(Transition(job, metrics=points))
    backend.execute("UPDATE events SET doc = '{}' WHERE job_id = ? AND seq = 1", GOOD)
    backend.execute("UPDATE metrics SET doc = 'null' WHERE job_id = ? AND step = 1", GOOD)
    assert len(store.list_events(GOOD)) == 1
    assert [m.step for m in store.list_metrics(GOOD)] == [2]
