"""The services a fine-tuning client never calls are built on the first request that needs one
(``Services.later``), once, whoever asks first."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.deps import Services
from tests.steps import auth


def test_a_fine_tuning_client_never_builds_them(app: FastAPI) -> None:
    services: Services = app.state.services
    with TestClient(app) as client:
        assert client.get("/v1/fine-tunes", headers=auth()).status_code == 200
        assert client.get("/v1/files", headers=auth()).status_code == 200
        assert not services.later.done
        listed = client.get("/v1/endpoints", headers=auth())
        assert listed.status_code == 200, listed.text
        assert services.later.done
        assert services.endpoints is services.later.get().endpoints


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
