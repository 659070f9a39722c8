"""Every store (SQLite on a temporary data dir, PostgreSQL on a database of the test's own: see
conftest.py): round trips, NotFound, tenants, order, filters, transactions, reset, reopening, and
writers on many threads. Opening data dirs of other schema versions is ``test_migrations.py``'s;
what only PostgreSQL's replicas do, ``test_postgres.py``'s."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial

import pytest

from mock_server.core.errors import NotFound
from mock_server.files.models import FilePurpose, FileType, UploadSession
from mock_server.fine_tuning.events import EventType
from mock_server.fine_tuning.machine import advance, request_cancel
from mock_server.fine_tuning.models import JobStatus
from mock_server.fine_tuning.plan import plan
from mock_server.store import Store
from mock_server.store.migrations import LATEST
from tests.builders import T0, make_file, make_job, pending_event
from tests.store.conftest import Backend

FAR = timedelta(days=1)


def _job_id(n: int) -> str:
    return f"ft-00000000-0000-4000-8000-{n:012d}"


# -- files ----------------------------------------------------------------------------------------


def test_a_file_round_trips(store: Store) -> None:
    record = make_file(validation_report={"valid": True, "nlines": 2}, num_samples=2)
    store.put_file(record)
    assert store.get_file("tenant-a", record.id) == record


def test_a_missing_file_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound) as caught:
        store.get_file("tenant-a", "file-nope")
    assert (caught.value.status, caught.value.message, caught.value.param) == (
        404,
        "File file-nope not found",
        "id",
    )


def test_files_are_invisible_to_other_tenants(store: Store) -> None:
    store.put_file(make_file("file-a", tenant="tenant-a"))
    store.put_file(make_file("file-b", tenant="tenant-b"))
    assert [f.id for f in store.list_files("tenant-a")] == ["file-a"]
    with pytest.raises(NotFound):
        store.get_file("tenant-b", "file-a")
    with pytest.raises(NotFound):
        store.delete_file("tenant-b", "file-a")
    assert [f.id for f in store.list_files("tenant-a")] == ["file-a"]


def test_files_are_listed_oldest_first(store: Store) -> None:
    store.put_file(make_file("file-2", created_at=T0 + timedelta(seconds=2)))
    store.put_file(make_file("file-1", created_at=T0 + timedelta(seconds=1)))
    store.put_file(make_file("file-0", created_at=T0))
    assert [f.id for f in store.list_files("tenant-a")] == ["file-0", "file-1", "file-2"]


def test_deleting_a_file_removes_its_record_and_returns_it(store: Store) -> None:
    record = make_file()
    store.put_file(record)
    assert store.delete_file("tenant-a", record.id) == record
    assert store.list_files("tenant-a") == []


def test_an_upload_session_round_trips_and_goes_away(store: Store) -> None:
    session = UploadSession(
        file_id="file-up",
        tenant="tenant-a",
        token="t0k",
        filename="train.jsonl",
        purpose=FilePurpose.fine_tune,
        file_type=FileType.jsonl,
        created_at=T0,
    )
    store.put_upload(session)
    assert store.get_upload("file-up") == session
    store.put_upload(session.model_copy(update={"file_id": "file-up2"}))
    assert sorted(store.list_upload_ids()) == ["file-up", "file-up2"]
    store.delete_upload("file-up")
    with pytest.raises(NotFound):
        store.get_upload("file-up")
    assert store.list_upload_ids() == ["file-up2"]


def test_meta_round_trips_and_missing_keys_are_none(store: Store) -> None:
    assert store.get_meta("clock_offset") is None
    store.set_meta("clock_offset", "12.5")
    store.set_meta("clock_offset", "30.0")
    assert store.get_meta("clock_offset") == "30.0"


# -- jobs -----------------------------------------------------------------------------------------


def test_a_job_round_trips_with_its_first_event(store: Store) -> None:
    job = make_job()
    store.create_job(job, [pending_event(job)])
    assert store.get_job("tenant-a", job.id) == job
    assert store.find_job_anywhere(job.id) == job
    assert store.list_events(job.id) == [pending_event(job)]


def test_a_missing_job_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound) as caught:
        store.get_job("tenant-a", "ft-nope")
    assert caught.value.message == "Fine-tune job ft-nope not found"
    with pytest.raises(NotFound):
        store.find_job_anywhere("ft-nope")


def test_jobs_are_invisible_to_other_tenants(store: Store) -> None:
    job = make_job()
    store.create_job(job, [])
    assert store.list_jobs("tenant-b") == []
    with pytest.raises(NotFound):
        store.get_job("tenant-b", job.id)
    with pytest.raises(NotFound):
        store.find_job_by_output_name("tenant-b", job.model_output_name)
    with pytest.raises(NotFound):
        store.delete_job("tenant-b", job.id)
    assert store.find_job_anywhere(job.id) == job


def test_a_job_is_found_by_its_output_name_in_any_case(store: Store) -> None:
    job = make_job()
    store.create_job(job, [])
    assert store.find_job_by_output_name("tenant-a", job.model_output_name.upper()) == job


def test_update_job_saves_the_move_with_its_events_checkpoints_and_metrics(
    store: Store,
) -> None:
    job = make_job(n_checkpoints=2)
    store.create_job(job, [pending_event(job)])
    done = store.update_job("tenant-a", job.id, lambda j: advance(j, T0 + FAR))
    expected = advance(job, T0 + FAR)
    assert done == expected.job
    assert store.get_job("tenant-a", job.id) == expected.job
    assert store.list_events(job.id) == [pending_event(job), *expected.events]
    assert store.list_checkpoints(job.id) == expected.checkpoints
    assert store.list_metrics(job.id) == expected.metrics


def test_events_and_checkpoints_keep_their_order_across_moves(store: Store) -> None:
    job = make_job(n_checkpoints=3)
    store.create_job(job, [pending_event(job)])
    for milestone in plan(job):
        store.update_job("tenant-a", job.id, partial(advance, now=milestone.at))
    once = advance(job, T0 + FAR)
    assert [e.type for e in store.list_events(job.id)][1:] == [e.type for e in once.events]
    assert [(c.step, c.checkpoint_type) for c in store.list_checkpoints(job.id)] == [
        (2, "Intermediate"),
        (4, "Intermediate"),
        (6, "Final Merged"),
        (6, "Final Adapter"),
    ]


def test_metrics_filter_by_step_and_time(store: Store) -> None:
    job = make_job()  # 6 steps, the first at 53 s, one every 3 s
    store.create_job(job, [])
    store.update_job("tenant-a", job.id, lambda j: advance(j, T0 + FAR))

    def steps(**filters: object) -> list[int]:
        return [m.step for m in store.list_metrics(job.id, **filters)]  # type: ignore[arg-type]

    assert steps() == [1, 2, 3, 4, 5, 6]
    assert steps(step_from=2, step_to=4) == [2, 3, 4]
    assert steps(step_from=5) == [5, 6]
    assert steps(step_to=1) == [1]
    assert steps(logged_from=T0 + timedelta(seconds=59)) == [3, 4, 5, 6]
    assert steps(logged_to=T0 + timedelta(seconds=58.9)) == [1, 2]
    assert steps(step_from=2, logged_to=T0 + timedelta(seconds=62)) == [2, 3, 4]
    assert steps(step_from=7) == []


def test_deleting_a_job_deletes_its_events_checkpoints_and_metrics(store: Store) -> None:
    job = make_job()
    store.create_job(job, [pending_event(job)])
    store.update_job("tenant-a", job.id, lambda j: advance(j, T0 + FAR))
    store.delete_job("tenant-a", job.id)
    with pytest.raises(NotFound):
        store.get_job("tenant-a", job.id)
    assert store.list_events(job.id) == []
    assert store.list_checkpoints(job.id) == []
    assert store.list_metrics(job.id) == []


def test_only_live_jobs_are_iterated(store: Store) -> None:
    live, done = make_job(id=_job_id(1)), make_job(id=_job_id(2))
    store.create_job(live, [])
    store.create_job(done, [])
    store.update_job("tenant-a", done.id, lambda j: advance(j, T0 + FAR))
    assert [j.id for j in store.iter_live_jobs()] == [live.id]


def test_live_jobs_are_found_by_trainer(store: Store) -> None:
    store.create_job(make_job(id=_job_id(1)), [])
    assert not store.has_live_jobs(trainer="real")
    real = make_job(id=_job_id(2), trainer="real")
    store.create_job(real, [])
    assert store.has_live_jobs(trainer="real")
    assert [j.id for j in store.iter_live_jobs(trainer="real")] == [real.id]
    store.update_job("tenant-a", real.id, lambda j: request_cancel(j, T0))
    store.update_job("tenant-a", real.id, lambda j: advance(j, T0 + FAR))
    assert not store.has_live_jobs(trainer="real")


def test_a_failing_move_changes_nothing(store: Store) -> None:
    job = make_job()
    store.create_job(job, [pending_event(job)])

    def explode(j: object) -> object:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.update_job("tenant-a", job.id, explode)  # type: ignore[arg-type]
    assert store.get_job("tenant-a", job.id) == job
    assert len(store.list_events(job.id)) == 1


# -- resources ------------------------------------------------------------------------------------


def test_a_resource_round_trips_and_is_replaced_by_a_second_put(store: Store) -> None:
    store.put_resource("endpoint", "tenant-a", "endpoint-1", {"state": "PENDING", "n": [1]}, T0)
    assert store.get_resource("endpoint", "tenant-a", "endpoint-1") == {
        "state": "PENDING",
        "n": [1],
    }
    store.put_resource("endpoint", "tenant-a", "endpoint-1", {"state": "STARTED"}, T0)
    assert store.get_resource("endpoint", "tenant-a", "endpoint-1") == {"state": "STARTED"}
    assert store.list_resources("endpoint", "tenant-a") == [{"state": "STARTED"}]


def test_a_missing_resource_is_not_found_under_its_kind(store: Store) -> None:
    with pytest.raises(NotFound) as caught:
        store.get_resource("batch", "tenant-a", "batch-nope")
    assert (caught.value.status, caught.value.kind, caught.value.message, caught.value.param) == (
        404,
        "batch",
        "Batch batch-nope not found",
        "id",
    )


def test_resources_are_kept_apart_by_kind_and_tenant(store: Store) -> None:
    store.put_resource("endpoint", "tenant-a", "x-1", {"kind": "endpoint"}, T0)
    store.put_resource("secret", "tenant-a", "x-1", {"kind": "secret"}, T0)
    store.put_resource("endpoint", "tenant-b", "x-2", {"kind": "endpoint", "of": "b"}, T0)
    assert store.get_resource("secret", "tenant-a", "x-1") == {"kind": "secret"}
    assert store.list_resources("endpoint", "tenant-a") == [{"kind": "endpoint"}]
    with pytest.raises(NotFound):
        store.get_resource("endpoint", "tenant-a", "x-2")
    with pytest.raises(NotFound):
        store.delete_resource("endpoint", "tenant-b", "x-1")
    assert store.get_resource("endpoint", "tenant-a", "x-1") == {"kind": "endpoint"}


def test_two_tenants_may_give_a_resource_the_same_name(store: Store) -> None:
    store.put_resource("secret", "tenant-a", "HF_TOKEN", {"of": "a"}, T0)
    store.put_resource("secret", "tenant-b", "HF_TOKEN", {"of": "b"}, T0)
    assert store.delete_resource("secret", "tenant-b", "HF_TOKEN") == {"of": "b"}
    assert store.get_resource("secret", "tenant-a", "HF_TOKEN") == {"of": "a"}


def test_resources_are_listed_oldest_first(store: Store) -> None:
    for n in (2, 0, 1):
        store.put_resource("endpoint", "tenant-a", f"e-{n}", {"n": n}, T0 + timedelta(seconds=n))
    assert store.list_resources("endpoint", "tenant-a") == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_deleting_a_resource_returns_what_it_held(store: Store) -> None:
    store.put_resource("endpoint", "tenant-a", "e-1", {"name": "one"}, T0)
    assert store.delete_resource("endpoint", "tenant-a", "e-1") == {"name": "one"}
    assert store.list_resources("endpoint", "tenant-a") == []
    with pytest.raises(NotFound):
        store.delete_resource("endpoint", "tenant-a", "e-1")


def test_tenants_are_listed_most_recently_active_first(store: Store) -> None:
    assert store.list_tenants() == []
    store.put_file(make_file("file-a", tenant="files-only", created_at=T0))
    job = make_job(tenant="with-a-job", created_at=T0 + timedelta(seconds=5))
    store.create_job(job, [pending_event(job)])
    store.put_resource("endpoint", "with-an-endpoint", "e-1", {}, T0 + timedelta(seconds=2))
    store.put_file(make_file("file-b", tenant="files-only", created_at=T0 + timedelta(seconds=9)))
    assert store.list_tenants() == ["files-only", "with-a-job", "with-an-endpoint"]


# -- transactions ---------------------------------------------------------------------------------


def test_a_transaction_that_raises_leaves_nothing_behind(store: Store) -> None:
    job = make_job()
    with pytest.raises(RuntimeError), store.transaction():
        store.create_job(job, [pending_event(job)])
        store.set_meta("clock_offset", "5.0")
        raise RuntimeError("half-way")
    assert store.list_jobs("tenant-a") == []
    assert store.list_events(job.id) == []
    assert store.get_meta("clock_offset") is None


def test_a_nested_transaction_joins_the_outermost_and_falls_with_it(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            store.set_meta("inner", "1")
        assert store.get_meta("inner") == "1"  # visible inside, not yet committed
        raise RuntimeError("outer fails after the inner block finished")
    assert store.get_meta("inner") is None

    with store.transaction():
        with store.transaction():
            store.set_meta("inner", "2")
        store.set_meta("outer", "2")
    assert (store.get_meta("inner"), store.get_meta("outer")) == ("2", "2")


def test_the_schema_version_is_not_a_meta_key_callers_may_write(store: Store) -> None:
    with pytest.raises(ValueError):
        store.set_meta("schema_version", "99")
    store.reset()
    assert store.get_meta("schema_version") == str(LATEST)


# -- reset and reopen -----------------------------------------------------------------------------


def test_reset_wipes_the_records(store: Store) -> None:
    record = make_file()
    store.put_file(record)
    store.put_upload(
        UploadSession(
            file_id="file-up",
            tenant="tenant-a",
            token="t0k",
            filename="train.jsonl",
            purpose=FilePurpose.fine_tune,
            file_type=FileType.jsonl,
            created_at=T0,
        )
    )
    job = make_job()
    store.create_job(job, [pending_event(job)])
    store.put_resource("endpoint", "tenant-a", "e-1", {"n": 1}, T0)
    store.reset()
    assert store.list_files("tenant-a") == []
    assert store.list_jobs("tenant-a") == []
    assert store.list_resources("endpoint", "tenant-a") == []
    assert store.list_events(job.id) == []
    assert store.list_upload_ids() == []


def test_everything_survives_closing_and_reopening(backend: Backend) -> None:
    first = backend.open()
    record = make_file()
    first.put_file(record)
    job = make_job()
    first.create_job(job, [pending_event(job)])
    moved = first.update_job("tenant-a", job.id, lambda j: advance(j, T0 + timedelta(seconds=60)))
    first.set_meta("clock_offset", "60.0")
    first.put_resource("endpoint", "tenant-a", "e-1", {"state": "STARTED"}, T0)
    first.close()

    again = backend.open()
    try:
        assert again.get_file("tenant-a", record.id) == record
        assert again.get_job("tenant-a", job.id) == moved
        assert [e.type for e in again.list_events(job.id)] == [
            EventType.job_pending,
            EventType.job_start,
            EventType.model_download_complete,
            EventType.training_data_download_complete,
            EventType.training_start,
            EventType.epoch_complete,
        ]
        assert [m.step for m in again.list_metrics(job.id)] == [1, 2, 3]
        assert again.get_meta("clock_offset") == "60.0"
        assert again.get_resource("endpoint", "tenant-a", "e-1") == {"state": "STARTED"}
    finally:
        again.close()


# -- threads --------------------------------------------------------------------------------------


def test_writers_on_eight_threads_leave_a_consistent_store(store: Store) -> None:
    shared = make_job(id=_job_id(0), n_checkpoints=3)
    store.create_job(shared, [pending_event(shared)])
    moments = [m.at for m in plan(shared)]
    start = threading.Barrier(8)

    def advancer(offset: int) -> None:
        start.wait()
        for at in moments[offset::2]:
            store.update_job("tenant-a", shared.id, partial(advance, now=at))

    def creator(worker: int) -> None:
        start.wait()
        for n in range(10):
            job = make_job(id=_job_id(100 * (worker + 1) + n))
            store.create_job(job, [pending_event(job)])
            store.update_job("tenant-a", job.id, lambda j: advance(j, T0 + FAR))

    def canceller(worker: int) -> None:
        start.wait()
        for n in range(10):
            job = make_job(id=_job_id(1000 * (worker + 1) + n))
            store.create_job(job, [pending_event(job)])
            now = T0 + timedelta(seconds=55)
            store.update_job("tenant-a", job.id, partial(advance, now=now))
            store.update_job("tenant-a", job.id, partial(request_cancel, now=now))

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(advancer, k) for k in range(2)]
        futures += [pool.submit(creator, k) for k in range(3)]
        futures += [pool.submit(canceller, k) for k in range(3)]
        for future in futures:
            future.result()

    jobs = {j.id: j for j in store.list_jobs("tenant-a")}
    assert len(jobs) == 1 + 30 + 30
    once = advance(shared, max(moments))
    # Two threads raced over the same moments; each milestone was still applied exactly once.
    assert [e.type for e in store.list_events(shared.id)] == [
        EventType.job_pending,
        *[e.type for e in once.events],
    ]
    assert store.list_checkpoints(shared.id) == once.checkpoints
    for job_id, job in jobs.items():
        if job_id == shared.id:
            continue
        events = store.list_events(job_id)
        assert len({(e.type, e.message) for e in events}) == len(events)  # nothing twice
        if job.status is JobStatus.completed:
            assert [events[0].type, events[-1].type] == [
                EventType.job_pending,
                EventType.job_complete,
            ]
            assert len(store.list_checkpoints(job_id)) == 2
            assert [m.step for m in store.list_metrics(job_id)] == [1, 2, 3, 4, 5, 6]
        else:
            assert job.status is JobStatus.cancel_requested
            assert events[-1].type is EventType.cancel_requested
