"""What ``serve --workers N`` hands its workers: the parent's settings as ``TOGETHER_SIM_*``
variables, from which each worker's ``Settings()`` is the parent's again, every kind of field
(lists, secrets, enums, paths, unset ones) included; and the once-only startup work it does
before they start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from mock_server.serve_workers import export, prepare
from mock_server.settings import ClockMode, Settings
from mock_server.store import LocalBlobStore, SqliteStore
from mock_server.store.migrations import LATEST


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TOGETHER_SIM_{name.upper()}", raising=False)


def test_a_worker_reads_back_the_settings_the_parent_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = Settings(
        data_dir=tmp_path, port=9001, api_keys=["a", "b"], admin_key=SecretStr("boss"),
        clock=ClockMode.manual, speed=1.5, seed=7, keep_views=False, trainer="real",
        worker_threads=2, progress=False, check_rules="1.5.35", max_header_bytes=2000,
        request_timeout=2.5, workers=3, database_url=SecretStr("postgresql://sim@db/sim"),
    )  # fmt: skip
    environ: dict[str, str] = {"TOGETHER_SIM_SEED": "stale", "TOGETHER_SIM_FAULTS": "gone.yaml"}
    export(parent, environ)
    assert environ["TOGETHER_SIM_API_KEYS"] == "a,b"
    assert "TOGETHER_SIM_FAULTS" not in environ  # unset in the parent: the default in the child
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    child = Settings()
    assert child == parent
    assert (child.shared, child.limits) == (True, parent.limits)


def test_one_worker_is_not_shared_and_several_are() -> None:
    assert (Settings().shared, Settings(workers=2).shared) == (False, True)


def test_the_parent_migrates_the_data_dir_and_drops_orphaned_parts_once(tmp_path: Path) -> None:
    orphan = LocalBlobStore(tmp_path).part_path("file-gone", 1)
    orphan.write_bytes(b"a part of an upload whose session is gone")
    prepare(Settings(data_dir=tmp_path, workers=2))
    assert not orphan.exists()
    store = SqliteStore(tmp_path)
    assert store.get_meta("schema_version") == str(LATEST)
    store.close()
