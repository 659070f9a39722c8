"""The tests' throwaway PostgreSQL cluster: where it finds the binaries, what it says when they
are missing, and that it runs as an unprivileged user and leaves nothing behind."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import pytest

from mock_server.testing import postgres
from mock_server.testing.postgres import PostgresMissing, find_postgres, throwaway_cluster


def _fake_bin(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in ("initdb", "pg_ctl", "postgres"):
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder


def test_off_path_the_newest_of_debians_versions_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres, "DEBIAN_VERSIONS", tmp_path)
    _fake_bin(tmp_path / "9.6" / "bin")
    newest = _fake_bin(tmp_path / "15" / "bin")
    (tmp_path / "16" / "bin").mkdir(parents=True)  # a version whose server is not installed

    assert find_postgres() == newest


def test_with_no_binaries_it_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres, "DEBIAN_VERSIONS", tmp_path)

    with pytest.raises(PostgresMissing, match="`make install` installs Debian's postgresql"):
        find_postgres()


def test_the_cluster_runs_as_the_postgres_user_under_root_and_is_gone_afterwards(
    postgres_cluster: postgres.Cluster,  # for its skip (on CI, failure) without PostgreSQL
) -> None:
    import psycopg

    with throwaway_cluster() as cluster:
        url = cluster.create_database("probe")
        with psycopg.connect(url) as db:
            [(data_dir,)] = db.execute("SHOW data_directory").fetchall()
        owner = Path(data_dir).stat().st_uid
        if os.geteuid() == 0:
            assert owner == pwd.getpwnam("postgres").pw_uid
        else:
            assert owner == os.geteuid()
        root = cluster.root
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
