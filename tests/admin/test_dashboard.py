"""``/_sim/ui``: the dashboard's page, its read-only JSON and its event stream, over the
in-process app. What it shows must be what the API says (the same events, checkpoints and metric
values), its status timeline must follow the job's plan, the stream must push each change while
the page stays and end when it goes, and no API key may appear anywhere in it."""

from __future__ import annotations

import json
import queue
import sqlite3
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.handlers import wants_html
from mock_server.settings import Settings
from tests.steps import KEY, QUICKSTART, advance, auth, conversations, create_job, jsonl, upload

OTHER_KEY = "second-secret-key"


def _get(client: TestClient, path: str, **params: str) -> Any:
    answer = client.get(f"/_sim/ui/api{path}", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _trained_job(client: TestClient) -> dict[str, Any]:
    """A LoRA job of 2 epochs x 4 steps with 4 evaluations and a checkpoint, run to the end."""
    train = upload(client, conversations(32))
    valid = upload(client, conversations(8), name="valid.jsonl")
    job = create_job(
        client, train["id"], validation_file=valid["id"], n_epochs=2, n_evals=4,
        n_checkpoints=2, batch_size=8, packing=False, suffix="dash",
    )  # fmt: skip
    advance(client, 3600)
    return job


def test_each_tenant_is_listed_by_its_hash_most_recently_active_first(
    client: TestClient,
    tenant_of: Callable[[str], str],
) -> None:
    upload(client, jsonl(QUICKSTART), key=KEY)
    advance(client, 10)
    second = upload(client, jsonl(QUICKSTART), key=OTHER_KEY)
    create_job(client, second["id"], key=OTHER_KEY)

    assert _get(client, "/tenants")["data"] == [
        {"id": tenant_of(OTHER_KEY), "files": 1, "jobs": 1},
        {"id": tenant_of(KEY), "files": 1, "jobs": 0},
    ]
    mine = _get(client, f"/tenants/{tenant_of(KEY)}")
    listed = client.get("/v1/files", headers=auth(KEY)).json()["data"]
    assert [f["id"] for f in mine["files"]] == [f["id"] for f in listed]
    assert mine["jobs"] == []


def test_a_finished_job_shows_what_the_api_says_about_it(
    client: TestClient, tenant_of: Callable[[str], str]
) -> None:
    job = _trained_job(client)
    detail = _get(client, f"/tenants/{tenant_of(KEY)}/jobs/{job['id']}")

    assert detail["status"] == "completed"
    assert (detail["steps_completed"], detail["total_steps"]) == (8, 8)
    api_events = client.get(f"/v1/fine-tunes/{job['id']}/events", headers=auth()).json()["data"]
    assert [(e["type"], e["message"]) for e in detail["events"]] == [
        (e["type"], e["message"]) for e in api_events
    ]
    api_checkpoints = client.get(f"/v1/fine-tunes/{job['id']}/checkpoints", headers=auth()).json()[
        "data"
    ]
    assert sorted((c["step"], c["checkpoint_type"]) for c in detail["checkpoints"]) == sorted(
        (c["step"], c["checkpoint_type"]) for c in api_checkpoints
    )
    points = client.get(f"/v1/fine-tunes/{job['id']}/metrics", headers=auth()).json()["metrics"]
    assert detail["metrics"]["train"] == [
        {"step": p["train/global_step"], "loss": p["train/loss"]} for p in points
    ]
    assert detail["metrics"]["eval"] == [
        {"step": p["train/global_step"], "loss": p["eval/loss"]} for p in points if "eval/loss" in p
    ]
    assert [p["step"] for p in detail["metrics"]["eval"]] == [2, 4, 6, 8]


def test_the_status_timeline_follows_the_plan(
    client: TestClient, tenant_of: Callable[[str], str]
) -> None:
    job = _trained_job(client)
    timeline = _get(client, f"/tenants/{tenant_of(KEY)}/jobs/{job['id']}")["timeline"]
    # Default timeline: queued at 5 s, running at 30 s, training from 50 s at 3 s a step (8
    # steps), 45 s of compressing, 60 s of uploading.
    assert timeline == [
        {"status": "pending", "at": "2026-01-01T00:00:00.000000Z"},
        {"status": "queued", "at": "2026-01-01T00:00:05.000000Z"},
        {"status": "running", "at": "2026-01-01T00:00:30.000000Z"},
        {"status": "compressing", "at": "2026-01-01T00:01:14.000000Z"},
        {"status": "uploading", "at": "2026-01-01T00:01:59.000000Z"},
        {"status": "completed", "at": "2026-01-01T00:02:59.000000Z"},
    ]


def test_a_cancelled_job_shows_the_cancel_in_its_timeline(
    client: TestClient, tenant_of: Callable[[str], str]
) -> None:
    file = upload(client, jsonl(QUICKSTART))
    job = create_job(client, file["id"])
    advance(client, 40)
    assert client.post(f"/v1/fine-tunes/{job['id']}/cancel", headers=auth()).status_code == 200
    advance(client, 10)
    detail = _get(client, f"/tenants/{tenant_of(KEY)}/jobs/{job['id']}")
    assert [(c["status"], c["at"][11:19]) for c in detail["timeline"]] == [
        ("pending", "00:00:00"),
        ("queued", "00:00:05"),
        ("running", "00:00:30"),
        ("cancel_requested", "00:00:40"),
        ("cancelled", "00:00:45"),
    ]


def test_the_snapshot_falls_back_to_the_newest_tenant_and_job(
    client: TestClient, tenant_of: Callable[[str], str]
) -> None:
    file = upload(client, jsonl(QUICKSTART))
    first = create_job(client, file["id"], suffix="first")
    advance(client, 1)
    second = create_job(client, file["id"], suffix="second")

    fresh = _get(client, "/snapshot")
    assert fresh["tenant"] == tenant_of(KEY)
    assert [j["id"] for j in fresh["jobs"]] == [second["id"], first["id"]]
    assert fresh["job"]["id"] == second["id"]
    assert fresh["now"] == "2026-01-01T00:00:01.000000Z"
    assert fresh["clock"] == "manual"

    chosen = _get(client, "/snapshot", tenant=tenant_of(KEY), job=first["id"])
    assert chosen["job"]["id"] == first["id"]
    stale = _get(client, "/snapshot", tenant="no-such-tenant", job="ft-gone")
    assert (stale["tenant"], stale["job"]["id"]) == (tenant_of(KEY), second["id"])


def test_an_empty_simulator_has_an_empty_snapshot(client: TestClient) -> None:
    empty = _get(client, "/snapshot")
    assert (empty["tenants"], empty["tenant"], empty["jobs"], empty["job"]) == ([], None, [], None)


def test_fault_rules_and_the_journal_are_shown_without_the_key_they_name(
    client: TestClient,
    tenant_of: Callable[[str], str],
) -> None:
    rule = {"id": "mine", "operation": "GET /v1/files", "status": 503, "api_key": KEY}
    assert client.post("/_sim/faults", json=rule).status_code == 200
    assert client.get("/v1/files", headers=auth(KEY)).status_code == 503
    assert client.get("/v1/files", headers=auth(KEY)).status_code == 503
    upload(client, jsonl(QUICKSTART), key=OTHER_KEY)

    shown = _get(client, "/faults")
    ((rule_shown,),) = [shown["rules"]]
    assert rule_shown["tenant"] == tenant_of(KEY)
    assert (rule_shown["seen"], rule_shown["fired"]) == (2, 2)
    assert [(e["seq"], e["path"], e["rule"]) for e in shown["journal"]] == [
        (2, "/v1/files", "mine"),
        (1, "/v1/files", "mine"),
    ]  # newest first
    assert shown["journal_total"] == 2

    everything = "".join(
        client.get(f"/_sim/ui/api{path}").text
        for path in ("/tenants", "/faults", "/snapshot", f"/tenants/{tenant_of(OTHER_KEY)}")
    )
    assert KEY not in everything
    assert OTHER_KEY not in everything


def test_an_unknown_tenant_or_job_is_a_together_404(
    client: TestClient, tenant_of: Callable[[str], str]
) -> None:
    missing = client.get("/_sim/ui/api/tenants/nobody")
    assert missing.status_code == 404
    assert missing.json()["error"]["param"] == "tenant"
    upload(client, jsonl(QUICKSTART))
    gone = client.get(f"/_sim/ui/api/tenants/{tenant_of(KEY)}/jobs/ft-nope")
    assert gone.status_code == 404
    assert set(gone.json()["error"]) == {"message", "type", "param", "code"}


class _Tab:
    """A browser tab on ``/_sim/ui/events``, spoken to in raw ASGI on the TestClient's event loop:
    TestClient hands a body over only once the app has finished it, and this one finishes only
    when the tab goes away. Waits are guards (a frame that never comes fails, it does not hang)."""

    def __init__(self, client: TestClient, app: FastAPI) -> None:
        assert client.portal is not None
        self._portal = client.portal
        self._gone = self._portal.call(anyio.Event)
        self._requested = False
        self.start: queue.Queue[dict[str, Any]] = queue.Queue()
        self.frames: queue.Queue[bytes] = queue.Queue()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/_sim/ui/events",
            "raw_path": b"/_sim/ui/events",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"accept", b"text/event-stream")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": dict(client.app_state),
        }
        self._done = self._portal.start_task_soon(app, scope, self._receive, self._send)

    async def _receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.start.put(message)
        elif message.get("body"):
            self.frames.put(message["body"])

    def headers(self) -> dict[str, str]:
        start = self.start.get(timeout=30)
        assert start["status"] == 200
        return {k.decode().lower(): v.decode() for k, v in start["headers"]}

    def snapshot(self) -> Any:
        frame = self.frames.get(timeout=30)
        event, data = frame.removesuffix(b"\n\n").split(b"\n")
        assert (event, data[:6]) == (b"event: snapshot", b"data: ")
        return json.loads(data[6:])

    def close(self) -> None:
        """Leave as a closed tab does; returns once the app has finished the response."""
        self._portal.call(self._gone.set)
        self._done.result(timeout=30)


def test_the_event_stream_pushes_each_change_until_the_tab_goes_away(
    client: TestClient, app: FastAPI
) -> None:
    upload(client, jsonl(QUICKSTART))
    tab = _Tab(client, app)
    headers = tab.headers()
    assert headers["content-type"].startswith("text/event-stream")
    assert (headers["cache-control"], headers["x-accel-buffering"]) == ("no-store", "no")
    assert tab.frames.get(timeout=30) == b"retry: 500\n\n"
    assert tab.snapshot() == _get(client, "/snapshot")

    advance(client, 10)
    moved = tab.snapshot()  # pushed on the same connection: no reconnect, no poll
    assert moved["now"] == "2026-01-01T00:00:10.000000Z"
    assert moved == _get(client, "/snapshot")

    tab.close()
    assert tab.frames.empty()  # nothing changed between the push and the tab leaving


def test_browsers_get_the_dashboard_and_clients_keep_their_json(client: TestClient) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    sent = client.get("/", headers={"accept": browser}, follow_redirects=False)
    assert (sent.status_code, sent.headers["location"]) == (307, "/_sim/ui")
    for accept in ("application/json", "*/*"):
        answer = client.get("/", headers={"accept": accept})
        assert answer.json()["dashboard"] == "/_sim/ui"
        assert answer.json()["api"] == "/v1"

    page = client.get("/_sim/ui")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/_sim/ui/static/app.js"' in page.text
    script = client.get("/_sim/ui/static/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in script.text
    assert client.get("/_sim/ui/static/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/_sim/ui/static/secrets.txt").status_code == 404


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,*/*;q=0.8", True),
        ("TEXT/HTML", True),
        ("application/json", False),
        ("*/*", False),
        ("", False),
        ("text/html;q=0, application/json", False),
        ("text/html;q=0.5", True),
        ("text/html;q=bogus", False),
    ],
)
def test_only_an_accept_that_asks_for_html_means_a_browser(accept: str, html: bool) -> None:
    assert wants_html(accept) is html


def test_a_job_that_does_not_load_leaves_every_tenants_dashboard_working(
    client: TestClient, settings: Settings, tenant_of: Callable[[str], str]
) -> None:
    mine = upload(client, jsonl(QUICKSTART))
    good = create_job(client, mine["id"])["id"]
    bad = create_job(client, mine["id"])["id"]
    other = upload(client, jsonl(QUICKSTART), key=OTHER_KEY)
    create_job(client, other["id"], key=OTHER_KEY)
    # Straight into the store: what an older build wrote for a NaN learning rate.
    db = sqlite3.connect(settings.data_dir / "together-sim.sqlite3")
    (doc,) = db.execute("SELECT doc FROM jobs WHERE id = ?", (bad,)).fetchone()
    with db:
        db.execute(
            "UPDATE jobs SET doc = ? WHERE id = ?",
            (json.dumps({**json.loads(doc), "learning_rate": None}), bad),
        )
    db.close()

    tenants = {t["id"]: t["jobs"] for t in _get(client, "/tenants")["data"]}
    assert tenants == {tenant_of(KEY): 1, tenant_of(OTHER_KEY): 1}
    assert [j["id"] for j in _get(client, f"/tenants/{tenant_of(KEY)}")["jobs"]] == [good]
    snapshot = _get(client, "/snapshot", tenant=tenant_of(KEY), job=bad)
    assert (snapshot["job"]["id"], [j["id"] for j in snapshot["jobs"]]) == (good, [good])
    assert _get(client, "/snapshot", tenant=tenant_of(OTHER_KEY))["jobs"] != []
    detail = client.get(f"/_sim/ui/api/tenants/{tenant_of(KEY)}/jobs/{bad}")
    assert detail.status_code == 409, detail.text
    assert detail.json()["error"]["code"] == "record_unreadable"
