"""The stores under test. The tests of the ``Store`` protocol take ``store`` (or ``backend``, to
open the same database again, as a restart or a second replica would) and run once on each
store: SQLite in the test's temp dir, and PostgreSQL in a database of the test's own, made in
the session's throwaway cluster (``postgres_cluster``, tests/conftest.py) and dropped after it.

``backend.execute`` writes or reads straight in the database, beside the store, as a hand edit
or an older build would: its SQL is written with ``?`` placeholders, SQLite's, and is passed to
PostgreSQL with psycopg's ``%s`` in their place."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.settings import ClockMode, Settings
from mock_server.store import SqliteStore, Store

BACKENDS = ["sqlite", "postgres"]


@dataclass
class Backend:
    name: str
    data_dir: Path
    url: str | None  # PostgreSQL's; None for SQLite
    _open: Callable[..., Store]
    _execute: Callable[..., list[tuple[Any, ...]]]
    opened: list[Store] = field(default_factory=list)

    def open(self, **options: Any) -> Store:
        """A store on this test's database (``options``: the store's own, e.g. ``steps``)."""
        store = self._open(**options)
        self.opened.append(store)
        return store

    def execute(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return self._execute(sql, *args)


def _sqlite_execute(path: Path) -> Callable[..., list[tuple[Any, ...]]]:
    def execute(sql: str, *args: Any) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(path)
        try:
            with db:
                return db.execute(sql, args).fetchall()
        finally:
            db.close()

    return execute


def _postgres_execute(url: str) -> Callable[..., list[tuple[Any, ...]]]:
    def execute(sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(url, autocommit=True) as db, db.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s").encode(), args)
            return cursor.fetchall() if cursor.description else []

    return execute


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    data_dir = tmp_path
    if request.param == "sqlite":
        chosen = Backend(
            "sqlite",
            data_dir,
            None,
            lambda **options: SqliteStore(data_dir, **options),
            _sqlite_execute(data_dir / "together-sim.sqlite3"),
        )
    else:
        from mock_server.store.postgres import PostgresStore

        cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database()
        chosen = Backend(
            "postgres",
            data_dir,
            url,
            lambda **options: PostgresStore(url, data_dir, **options),
            _postgres_execute(url),
        )
    try:
        yield chosen
    finally:
        for store in chosen.opened:
            store.close()
        if chosen.url is not None:
            cluster.drop_database(chosen.url.rsplit("/", 1)[1])


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


Replicas = Callable[..., list[TestClient]]


@pytest.fixture
def replicas(backend: Backend) -> Iterator[Replicas]:
    """``replicas(n, **settings)``: n replicas of one service on the test's database, each with
    the settings a ``serve --workers 2`` gives them (``Settings.shared``)."""
    with ExitStack() as stack:

        def start(n: int = 2, **options: Any) -> list[TestClient]:
            settings = Settings(
                data_dir=backend.data_dir,
                clock=ClockMode.manual,
                speed=1.0,
                api_keys=[],
                admin_key=None,
                workers=2,
                **options,
            )
            assert settings.shared
            return [
                stack.enter_context(TestClient(create_app(settings, store=backend.open())))
                for _ in range(n)
            ]

        yield start
