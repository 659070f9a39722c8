"""Fixtures every folder of tests may use.

``pytester`` is for the tests that run a user's suite against the together_sim plugin (it has to
be named here: pytest takes ``pytest_plugins`` only from the top-level conftest). The app
fixtures give one app per test: a fresh data dir under ``tmp_path``, a ``ManualClock`` that moves
only when a test advances it, and the real service's pace (speed 1), so the times in the tests
are the timeline's own numbers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.settings import ClockMode, Settings
from mock_server.testing.postgres import Cluster, PostgresMissing, throwaway_cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the session (``mock_server/testing/postgres.py``); each
    test makes its own database in it. Without PostgreSQL's binaries (``make install`` gets
    Debian's package with apt-get, as root) the tests that need it skip and say why; on CI,
    where they must run, they fail instead."""
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except PostgresMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(str(missing))
        pytest.skip(str(missing))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", clock=ClockMode.manual, speed=1.0, api_keys=[], admin_key=None
    )


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Iterator[FastAPI]:
    app = create_app(settings, clock=clock)
    yield app
    app.state.services.store.close()


@pytest.fixture
def tenant_of(app: FastAPI) -> Callable[[str], str]:
    """The app's tenant id of a key: an HMAC under its data dir's secret, so only the app (or
    its data dir) can say it."""
    tenant_of: Callable[[str], str] = app.state.tenancy.tenant_of
    return tenant_of


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


pytest_plugins = ["pytester"]
