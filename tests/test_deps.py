"""The services a fine-tuning client never calls are built on the first request that needs one
(``deps.Later``), once, whoever asks first."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.deps import Later, LaterServices, Services
from tests.steps import auth


def test_a_fine_tuning_client_never_builds_them(app: FastAPI) -> None:
    services: Services = app.state.services
    with TestClient(app) as client:
        assert client.get("/v1/fine-tunes", headers=auth()).status_code == 200
        assert client.get("/v1/files", headers=auth()).status_code == 200
        assert not services.later.built
        listed = client.get("/v1/endpoints", headers=auth())
        assert listed.status_code == 200, listed.text
        assert services.later.built
        assert services.endpoints is services.later.get().endpoints


def test_they_are_built_once_when_many_ask_at_once() -> None:
    builds: list[int] = []
    gate = threading.Event()

    def build() -> LaterServices:
        builds.append(1)
        gate.wait(5)  # the others ask while this build is under way
        return LaterServices(object(), object(), object(), object())  # type: ignore[arg-type]

    later = Later(build)
    got: list[LaterServices] = []
    askers = [threading.Thread(target=lambda: got.append(later.get())) for _ in range(6)]
    for asker in askers:
        asker.start()
    gate.set()
    for asker in askers:
        asker.join()
    assert builds == [1]
    assert len(got) == 6 and all(g is got[0] for g in got)


def test_importing_the_app_imports_none_of_their_modules() -> None:
    code = """
        import sys
        import mock_server.app
        later = ("mock_server.endpoints.service", "mock_server.projects.service",
                 "mock_server.families.engine", "mock_server.batches.service")
        print(",".join(m for m in later if m in sys.modules))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == ""
