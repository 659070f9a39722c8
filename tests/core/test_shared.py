"""``Coherence``: a change made through one replica's store is seen as a move by another's, which
reloads its copies once; a change that fails moves nothing. Two SQLite stores on one data dir
stand for two replicas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_server.core.shared import SHARED_VERSION, Coherence
from mock_server.store import SqliteStore


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteStore, SqliteStore]]:
    first, second = SqliteStore(tmp_path), SqliteStore(tmp_path)
    yield first, second
    first.close()
    second.close()


def test_a_change_through_one_replica_is_a_move_for_the_other(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    here, there = Coherence(first), Coherence(second)
    seen: list[str | None] = []
    there.on_change(lambda: seen.append(second.get_meta("clock_offset")))
    assert not there.moved()
    with here.change():
        first.set_meta("clock_offset", "60.0")
    assert not here.moved()  # the replica that changed it reloaded as it committed
    assert there.moved()
    there.reload()
    assert (seen, there.moved()) == (["60.0"], False)


def test_a_change_that_fails_moves_nothing(stores: tuple[SqliteStore, SqliteStore]) -> None:
    first, second = stores
    here, there = Coherence(first), Coherence(second)
    with pytest.raises(ValueError, match="refused"), here.change():
        first.set_meta("clock_offset", "60.0")
        raise ValueError("refused")
    assert (first.get_meta(SHARED_VERSION), first.get_meta("clock_offset")) == (None, None)
    assert not there.moved()
