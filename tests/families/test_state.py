"""The families' records live in the store: a restarted server on the same data dir finds them
where the clock left them (a signed URL handed out before still works), each key sees only its
own, and ``/_sim/reset`` forgets them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.settings import ClockMode, Settings
from tests.spec_calls import Api


@contextmanager
def _server(data_dir: Path) -> Iterator[Api]:
    app = create_app(Settings(data_dir=data_dir, clock=ClockMode.manual, speed=1.0))
    try:
        with TestClient(app) as client:
            yield Api(client)
    finally:
        app.state.services.store.close()


def test_records_and_their_lifecycle_survive_a_restart(tmp_path: Path) -> None:
    with _server(tmp_path) as first:
        first.call("POST /deployments/secrets", json={"name": "HF", "value": "x"})
        video = first.call("POST /videos", json={"model": "google/veo-3.0"})
        first.advance(60)
        url = first.call("GET /videos/{id}", id=video["id"])["outputs"]["video_url"]
    with _server(tmp_path) as second:
        assert [s["name"] for s in second.call("GET /deployments/secrets")["data"]] == ["HF"]
        assert second.call("GET /videos/{id}", id=video["id"])["status"] == "completed"
        assert second.client.get(url).status_code == 200


def test_each_key_sees_only_its_own_records(client: TestClient) -> None:
    mine, theirs = Api(client), Api(client, key="other-key")
    secret = mine.call("POST /deployments/secrets", json={"name": "HF", "value": "x"})
    theirs.call("POST /deployments/secrets", json={"name": "HF", "value": "y"})  # no clash
    assert theirs.error("GET /deployments/secrets/{id}", 404, id=secret["id"])["param"] == "id"
    assert [s["id"] for s in mine.call("GET /deployments/secrets")["data"]] == [secret["id"]]


def test_a_reset_forgets_every_record(client: TestClient) -> None:
    api = Api(client)
    secret = api.call("POST /deployments/secrets", json={"name": "HF", "value": "x"})
    session = api.call("POST /rl/training-sessions", json={"model_resources_id": "mr-1"})
    assert client.post("/_sim/reset").status_code == 200
    assert api.error("GET /deployments/secrets/{id}", 404, id=secret["id"])["param"] == "id"
    assert api.call("GET /rl/training-sessions")["data"] == []
    gone = api.error("GET /rl/training-sessions/{session_id}", 404, session_id=session["id"])
    assert gone["param"] == "session_id"
