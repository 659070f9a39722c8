"""Two replicas (two apps from ``create_app``, each with its own store opened on one database:
SQLite's file, or PostgreSQL: conftest.py) behave as one service: the clock, the fault rules
with their counters and journal, a scenario's behaviours and the kept job bodies are the same
whichever replica answers. A change made through one is seen by the next request on the other."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from mock_server.admin.service import HORIZON
from mock_server.app import create_app
from mock_server.settings import ClockMode, Settings
from tests.steps import KEY, QUICKSTART, advance, auth, create_job, jsonl, upload
from tests.store.conftest import Backend, Replicas


def _job(client: TestClient, job_id: str) -> dict[str, Any]:
    answer = client.get(f"/v1/fine-tunes/{job_id}", headers=auth())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


# -- the clock ------------------------------------------------------------------------------------


def test_time_advanced_through_one_replica_is_the_time_on_the_other(replicas: Replicas) -> None:
    a, b = replicas()
    moved = advance(a, 3600)
    assert b.get("/_sim/clock").json() == moved
    assert moved["offset_seconds"] == 3600


def test_advances_through_both_replicas_add_up_and_meet_one_horizon(replicas: Replicas) -> None:
    a, b = replicas()
    advance(a, 100)
    advance(b, 20)  # from the shared 100, not from b's own 0
    assert a.get("/_sim/clock").json()["offset_seconds"] == 120
    advance(a, HORIZON - 200)
    refused = b.post("/_sim/advance", json={"seconds": 100})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "seconds"
    assert b.get("/_sim/clock").json()["offset_seconds"] == HORIZON - 80


def test_a_job_moves_on_the_replica_that_did_not_advance_the_clock(replicas: Replicas) -> None:
    a, b = replicas()
    job = create_job(a, upload(a, jsonl(QUICKSTART))["id"])
    assert _job(b, job["id"])["status"] == "pending"
    advance(a, 24 * 3600)
    assert _job(b, job["id"])["status"] == "completed"


# -- fault rules, their counters and the journal --------------------------------------------------


def test_a_rule_set_on_one_replica_fails_the_next_n_requests_of_both(replicas: Replicas) -> None:
    a, b = replicas()
    rule = {"id": "busy", "path": "/v1/files", "status": 503, "times": 3}
    added = a.post("/_sim/faults", json=rule)
    assert added.status_code == 200, added.text
    answered = [client.get("/v1/files", headers=auth()).status_code for client in (b, a, b, a, b)]
    assert answered == [503, 503, 503, 200, 200]
    (rule,) = b.get("/_sim/faults").json()["data"]
    assert (rule["id"], rule["fired"], rule["remaining"]) == ("busy", 3, 0)
    journal = a.get("/_sim/journal").json()
    assert [(e["seq"], e["rule"], e["detail"]) for e in journal["data"]] == [
        (n, "busy", {"status": 503}) for n in (1, 2, 3)
    ]
    assert len({e["request_id"] for e in journal["data"]}) == 3


def test_rules_are_numbered_across_replicas_and_removed_for_both(replicas: Replicas) -> None:
    a, b = replicas()
    first = a.post("/_sim/faults", json={"path": "/v1/files", "status": 500}).json()["data"]
    second = b.post("/_sim/faults", json={"path": "/v1/models", "status": 502}).json()["data"]
    assert [first[0]["id"], second[0]["id"]] == ["f1", "f2"]
    assert b.delete("/_sim/faults/f1").json() == {"id": "f1", "deleted": True}
    assert a.get("/v1/files", headers=auth()).status_code == 200
    assert a.get("/v1/models", headers=auth()).status_code == 502
    missing = a.delete("/_sim/faults/f1")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "id"
    b.delete("/_sim/faults")
    assert a.get("/v1/models", headers=auth()).status_code == 200
    assert a.get("/_sim/faults").json()["data"] == []


def test_the_journal_cleared_on_one_replica_is_empty_on_the_other(replicas: Replicas) -> None:
    a, b = replicas()
    a.post("/_sim/faults", json={"path": "/v1/files", "latency": 0.001})
    b.get("/v1/files", headers=auth())
    assert len(a.get("/_sim/journal").json()["data"]) == 1
    b.delete("/_sim/journal")
    assert a.get("/_sim/journal").json() == {"object": "list", "data": [], "dropped": 0}


# -- a scenario's behaviours ----------------------------------------------------------------------


def test_a_behaviours_next_counts_the_files_of_both_replicas(replicas: Replicas) -> None:
    a, b = replicas()
    scenario = {"files": [{"filename": "*broken*", "invalid": "Line 1: no", "line": 1, "next": 1}]}
    assert a.post("/_sim/scenario", json=scenario).status_code == 200
    first = upload(b, jsonl(QUICKSTART), name="broken.jsonl")
    second = upload(a, jsonl(QUICKSTART), name="broken.jsonl")
    assert (first["processing_status"], second["processing_status"]) == (
        "INVALID_FORMAT",
        "COMPLETED",
    )
    assert [f["remaining"] for f in b.get("/_sim/scenario").json()["files"]] == [0]


def test_a_job_behaviour_set_on_one_replica_shapes_a_job_created_on_the_other(
    replicas: Replicas,
) -> None:
    a, b = replicas()
    scenario = {"jobs": [{"suffix": "doomed", "fail": {"at_step": 1, "message": "OOM"}}]}
    a.post("/_sim/scenario", json=scenario)
    job = create_job(b, upload(b, jsonl(QUICKSTART))["id"], suffix="doomed")
    advance(a, 24 * 3600)
    assert _job(a, job["id"])["status"] == "error"


# -- kept job bodies ------------------------------------------------------------------------------


def test_a_body_kept_on_one_replica_is_not_answered_after_the_other_changed_the_job(
    replicas: Replicas,
) -> None:
    a, b = replicas()
    job = create_job(a, upload(a, jsonl(QUICKSTART))["id"])
    advance(a, 35)
    assert _job(b, job["id"])["status"] == "running"
    assert _job(b, job["id"])["status"] == "running"  # kept on b now
    tenant = b.app.state.tenancy.tenant_of(KEY)  # type: ignore[attr-defined]
    kept = b.app.state.services.fine_tuning.kept_view  # type: ignore[attr-defined]
    assert kept(tenant, job["id"], False) is not None  # while the row is as it was rendered
    cancelled = a.post(f"/v1/fine-tunes/{job['id']}/cancel", headers=auth())
    assert cancelled.json()["status"] == "cancel_requested"
    assert _job(b, job["id"])["status"] == "cancel_requested"
    a.delete(f"/v1/fine-tunes/{job['id']}", headers=auth())
    assert b.get(f"/v1/fine-tunes/{job['id']}", headers=auth()).status_code == 404


def test_a_job_one_replica_took_as_still_moves_once_the_other_changed_it(
    replicas: Replicas,
) -> None:
    """A list keeps, per live job, until when the stored job cannot move (a queued job held
    there for good: until a century on). Cancelled through the other replica, the stored job is
    another one, and it is stepped to the clock again: cancelled once the cancel has taken."""
    a, b = replicas()
    a.post("/_sim/scenario", json={"jobs": [{"suffix": "held", "stuck": {"status": "queued"}}]})
    job = create_job(a, upload(a, jsonl(QUICKSTART))["id"], suffix="held")
    advance(a, 10)

    def listed() -> str:
        (only,) = b.get("/v1/fine-tunes", headers=auth()).json()["data"]
        status: str = only["status"]
        return status

    assert listed() == "queued"
    a.post(f"/v1/fine-tunes/{job['id']}/cancel", headers=auth())
    advance(a, 6)  # a cancel takes 5 s
    assert listed() == "cancelled"


def test_concurrent_advances_through_both_replicas_are_all_kept(replicas: Replicas) -> None:
    a, b = replicas()
    controls = [client.app.state.services.controls for client in (a, b)]  # type: ignore[attr-defined]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: controls[n % 2].advance_clock(1.5), range(30)))
    assert b.get("/_sim/clock").json()["offset_seconds"] == 45


# -- starting and resetting -----------------------------------------------------------------------


def test_replicas_with_one_seed_hand_out_ids_of_their_own(
    replicas: Replicas, backend: Backend
) -> None:
    """The seed is mixed with a generation each start counts in meta: with one seed and one
    generation, two replicas would give the same ids to different jobs."""
    a, b = replicas(seed=7)
    ids = [client.app.state.services.ids.uuid() for client in (a, b)]  # type: ignore[attr-defined]
    assert ids[0] != ids[1]
    assert backend.open().get_meta("generation") == "2"


def _scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad-day.json"
    path.write_text('{"faults": [{"id": "flaky", "path": "/v1/models", "status": 503}]}')
    return path


def test_a_replica_joining_leaves_the_running_services_rules_alone(
    replicas: Replicas, tmp_path: Path
) -> None:
    faults = _scenario_file(tmp_path)
    (a,) = replicas(1, faults=faults)
    a.post("/_sim/faults", json={"id": "extra", "path": "/v1/files", "status": 500})
    a.get("/v1/models", headers=auth())
    (b,) = replicas(1, faults=faults)
    listed = {r["id"]: r["fired"] for r in b.get("/_sim/faults").json()["data"]}
    assert listed == {"flaky": 1, "extra": 0}


def test_a_reset_through_one_replica_restores_the_baseline_on_both(
    replicas: Replicas, tmp_path: Path
) -> None:
    a, b = replicas(faults=_scenario_file(tmp_path))
    a.post("/_sim/faults", json={"id": "extra", "path": "/v1/files", "status": 500})
    advance(a, 50)
    assert b.post("/_sim/reset").json() == {"reset": True}
    assert [r["id"] for r in a.get("/_sim/faults").json()["data"]] == ["flaky"]
    assert a.get("/v1/files", headers=auth()).status_code == 200
    assert a.get("/_sim/clock").json()["offset_seconds"] == 50  # a reset keeps the time


def test_a_single_server_keeps_the_controls_state_in_memory(tmp_path: Path) -> None:
    """One process on its SQLite file pays nothing for replicas: no shared version read per
    request, no rows for its rules, and its journal in memory."""
    settings = Settings(
        data_dir=tmp_path, clock=ClockMode.manual, speed=1.0, api_keys=[], admin_key=None
    )
    assert not settings.shared
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        client.post("/_sim/faults", json={"path": "/v1/files", "status": 503, "times": 1})
        assert client.get("/v1/files", headers=auth()).status_code == 503
        assert services.memory.coherence is None
        assert services.store.list_controls("fault") == []
        assert services.store.list_controls("journal") == []
        assert services.store.get_meta("shared_version") is None


def test_a_shared_rule_that_does_not_load_is_left_out_not_a_failure(
    replicas: Replicas, backend: Backend
) -> None:
    """A rule row written by another build (or by hand) that this one cannot read: the rules
    around it still apply, and every request is still answered."""
    a, b = replicas()
    a.post("/_sim/faults", json={"id": "busy", "path": "/v1/files", "status": 503})
    store = backend.open()
    store.put_control("fault", "odd", {"rule": {"status": 999}, "added_at": "yesterday"})
    store.increment_meta("shared_version")
    assert b.get("/v1/files", headers=auth()).status_code == 503
    assert [r["id"] for r in b.get("/_sim/faults").json()["data"]] == ["busy"]
