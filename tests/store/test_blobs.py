"""Each blob store behaviour on both stores, the local data dir and S3 (moto's server on
loopback, a bucket per test): whole-or-nothing writes, uploads' parts from streaming in to
committed, joined or discarded, one writer per part, what a crash leaves behind, real jobs'
folders, and ids that would step out of the data dir. Then what only the local store has: the
layout data dirs already have, and claims whose liveness is an flock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_server.store import LocalBlobStore
from mock_server.store.blobs import PartInUse
from mock_server.store.s3_blobs import S3BlobStore
from mock_server.testing.s3 import LocalS3, local_s3

FILE = "file-00000000-0000-4000-8000-0000000000f1"

Blobs = LocalBlobStore | S3BlobStore


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Blobs]:
    if request.param == "local":
        chosen: Blobs = LocalBlobStore(tmp_path)
    else:
        s3: LocalS3 = request.getfixturevalue("s3")
        chosen = S3BlobStore(s3.new_bucket(), "sim/", tmp_path, endpoint_url=s3.endpoint_url)
    yield chosen
    chosen.close()


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path)


def receive(blobs: Blobs, file_id: str, part: int, data: bytes) -> None:
    """What a PUT of one part does: stream it in under the part's claim."""
    with blobs.claim_part(file_id, part) as path:
        path.write_bytes(data)


def received(blobs: Blobs, file_id: str, part: int) -> bytes:
    with blobs.open_part(file_id, part) as stream:
        return stream.read()


def test_a_data_dir_laid_out_before_the_local_blob_store_reads_unchanged(tmp_path: Path) -> None:
    (tmp_path / "blobs").mkdir()
    (tmp_path / "parts").mkdir()
    (tmp_path / "blobs" / FILE).write_bytes(b"body\n")
    (tmp_path / "parts" / f"{FILE}.2.part").write_bytes(b"part two")
    (tmp_path / "training" / "ft-1" / "adapter").mkdir(parents=True)
    blobs = LocalBlobStore(tmp_path)
    assert blobs.read_bytes(FILE) == b"body\n"
    assert blobs.part_path(FILE, 2).read_bytes() == b"part two"
    assert (blobs.training_dir("ft-1") / "adapter").is_dir()


def test_a_blob_round_trips_by_bytes_by_stream_and_by_path(blobs: Blobs) -> None:
    assert not blobs.exists(FILE)
    blobs.write_bytes(FILE, b'{"a": 1}\n')
    assert blobs.exists(FILE)
    assert blobs.read_bytes(FILE) == b'{"a": 1}\n'
    with blobs.open_read(FILE) as stream:
        assert stream.read(4) == b'{"a"'
    assert blobs.path(FILE).read_bytes() == b'{"a": 1}\n'


def test_a_second_write_replaces_the_blob_and_leaves_no_temporary_behind(blobs: Blobs) -> None:
    blobs.write_bytes(FILE, b"first")
    assert blobs.path(FILE).read_bytes() == b"first"
    blobs.write_bytes(FILE, b"second")
    assert blobs.read_bytes(FILE) == b"second"
    assert blobs.path(FILE).read_bytes() == b"second"  # not a copy of the first kept locally
    assert list(blobs.part_path(FILE).parent.iterdir()) == []


def test_a_local_write_that_fails_before_the_rename_leaves_the_old_blob_whole(
    local: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = local
    blobs.write_bytes(FILE, b"old and whole")

    def disk_full(src: str, dst: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        blobs.write_bytes(FILE, b"new")
    monkeypatch.undo()
    assert blobs.read_bytes(FILE) == b"old and whole"
    assert list((blobs.root / "parts").iterdir()) == []


def test_a_missing_blob_reads_as_a_missing_file_and_deletes_quietly(blobs: Blobs) -> None:
    with pytest.raises(FileNotFoundError):
        blobs.read_bytes(FILE)
    assert not blobs.path(FILE).exists()
    blobs.delete(FILE)
    blobs.write_bytes(FILE, b"x")
    assert blobs.path(FILE).is_file()
    blobs.delete(FILE)
    assert not blobs.exists(FILE)
    assert not blobs.path(FILE).exists()
    with pytest.raises(FileNotFoundError):
        blobs.open_read(FILE)


# -- uploads in flight ----------------------------------------------------------------------------


def test_a_received_body_becomes_the_blob_all_at_once(blobs: Blobs) -> None:
    with blobs.claim_part(FILE) as part:  # a one-shot upload's PUT
        part.write_bytes(b"streamed in")
        assert not blobs.exists(FILE)
        blobs.commit_part(FILE, part)
    assert blobs.read_bytes(FILE) == b"streamed in"
    assert blobs.path(FILE).read_bytes() == b"streamed in"
    assert not part.exists()


def test_received_parts_are_read_back_for_the_join_and_a_missing_one_is_missing(
    blobs: Blobs,
) -> None:
    receive(blobs, FILE, 2, b"part two")
    receive(blobs, FILE, 1, b"part one")
    receive(blobs, FILE, 1, b"part one, sent again")  # a retried PUT replaces the part
    with blobs.claim_part(FILE, 1):  # the join claims each part while it reads it
        assert received(blobs, FILE, 1) == b"part one, sent again"
    assert received(blobs, FILE, 2) == b"part two"
    with pytest.raises(FileNotFoundError):
        blobs.open_part(FILE, 3)


def test_a_part_whose_writer_fails_is_not_received(blobs: Blobs) -> None:
    with pytest.raises(ConnectionResetError), blobs.claim_part(FILE, 1) as path:
        path.write_bytes(b"half of a p")
        path.unlink()  # as files/uploads.py's receive does with what it could not finish
        raise ConnectionResetError("the client went away")
    with pytest.raises(FileNotFoundError):
        blobs.open_part(FILE, 1)
    assert not blobs.part_path(FILE, 1).exists()


def test_discarding_an_uploads_parts_spares_other_uploads(blobs: Blobs) -> None:
    other = f"{FILE}0"  # an id that starts with the first one
    for number in range(1, 4):
        receive(blobs, FILE, number, b"mine")
        receive(blobs, other, number, b"theirs")
    blobs.discard_parts(FILE)
    for number in range(1, 4):
        with pytest.raises(FileNotFoundError):
            blobs.open_part(FILE, number)
        assert received(blobs, other, number) == b"theirs"


def test_startup_removes_the_parts_of_uploads_gone_and_spares_live_ones_and_live_writers(
    blobs: Blobs,
) -> None:
    live, gone = "file-live", "file-gone"
    for file_id in (live, gone):
        receive(blobs, file_id, 1, b"whole")
    with blobs.claim_part(gone, 2) as writing:  # a writer still streaming its part in
        writing.write_bytes(b"streaming in")
        assert blobs.remove_orphaned_parts({live}, min_age=0) == 1
        assert received(blobs, live, 1) == b"whole"  # a whole part its completion still needs
        with pytest.raises(FileNotFoundError):
            blobs.open_part(gone, 1)
        with pytest.raises(PartInUse), blobs.claim_part(gone, 2):
            pass
    assert received(blobs, gone, 2) == b"streaming in"
    assert blobs.remove_orphaned_parts({live, gone}, min_age=0) == 0


def test_local_parts_no_upload_will_finish_and_interrupted_writes_are_orphans(
    local: LocalBlobStore,
) -> None:
    blobs = local
    live, dead = "file-live", "file-dead"
    for file_id in (live, dead):
        blobs.part_path(file_id, 0).write_bytes(b"half")
        blobs.part_path(file_id, 1).write_bytes(b"whole")
    interrupted = blobs.root / "parts" / f"{FILE}.k3j2x.tmp"  # write_bytes killed before rename
    interrupted.write_bytes(b"half")
    an_hour_ago = time.time() - 3600
    os.utime(interrupted, (an_hour_ago, an_hour_ago))
    writing = blobs.root / "parts" / f"{FILE}.q9w8e.tmp"  # another process's write, going on
    writing.write_bytes(b"half")
    not_ours = blobs.root / "parts" / "README"
    not_ours.write_text("left by a person")
    # Part 0 is a one-shot body or a multipart join: the next attempt rewrites it from its first
    # byte, so a live upload's part 0 with no writer is as dead as the rest. Its part 1 is a
    # whole part the upload's completion still needs.
    assert blobs.orphaned_parts({live}) == sorted(
        [blobs.part_path(live, 0), blobs.part_path(dead, 0), blobs.part_path(dead, 1), interrupted]
    )
    assert blobs.orphaned_parts({live, dead}) == sorted(
        [blobs.part_path(live, 0), blobs.part_path(dead, 0), interrupted]
    )


# -- one writer per part --------------------------------------------------------------------------


def test_a_part_has_one_writer_at_a_time_and_the_claim_ends_with_its_block(blobs: Blobs) -> None:
    with blobs.claim_part(FILE, 2) as path:
        assert path == blobs.part_path(FILE, 2)
        with pytest.raises(PartInUse) as refused:
            with blobs.claim_part(FILE, 2):
                pytest.fail("a second writer got the part")
        assert (refused.value.file_id, refused.value.part) == (FILE, 2)
        with blobs.claim_part(FILE, 1):  # another part of the same upload: its own writer
            pass
    with pytest.raises(RuntimeError), blobs.claim_part(FILE, 2):  # a writer that fails
        raise RuntimeError("dropped")
    with blobs.claim_part(FILE, 2):  # free again either way
        pass
    assert sorted(p.name for p in blobs.part_path(FILE).parent.iterdir()) == []


def test_a_live_local_writers_part_is_spared_and_a_dead_ones_is_an_orphan_with_its_claim(
    local: LocalBlobStore,
) -> None:
    blobs = local
    with blobs.claim_part(FILE, 0) as writing, blobs.claim_part(FILE, 3) as also_writing:
        writing.write_bytes(b"streaming in")
        also_writing.write_bytes(b"streaming in")
        # Another process's upload, live or not: the claims alone say which.
        assert blobs.orphaned_parts(set()) == []
    # What a writer killed mid-part leaves: its part, and its claim with no one holding it.
    half = blobs.part_path(FILE, 3)
    half.write_bytes(b"half")
    claim = half.with_suffix(".lock")
    claim.touch()
    whole = blobs.part_path(FILE, 1)
    whole.write_bytes(b"whole")
    assert claim.name == f"{FILE}.3.lock"
    # The part first, then its claim; the body left in part 0 has no writer any more either.
    assert blobs.orphaned_parts({FILE}) == [writing, half, claim]
    with pytest.raises(PartInUse), blobs.claim_part(FILE, 3):
        pass  # until the claim is cleaned away, the part stays claimed


_HOLDER = """
import sys
from pathlib import Path
from mock_server.store.blobs import LocalBlobStore

with LocalBlobStore(Path(sys.argv[1])).claim_part(sys.argv[2], 1) as part:
    part.write_bytes(b"half of a part")
    print("claimed", flush=True)
    sys.stdin.read()  # until killed
"""


def test_a_local_writer_killed_with_sigkill_leaves_a_claim_startup_takes_for_dead(
    local: LocalBlobStore,
) -> None:
    blobs = local
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(blobs.root), FILE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == b"claimed\n"
            assert blobs.orphaned_parts(set()) == []  # another process's live write: spared
            with pytest.raises(PartInUse), blobs.claim_part(FILE, 1):
                pass
        finally:
            holder.kill()  # SIGKILL: no finally, no cleanup in the holder
    part = blobs.part_path(FILE, 1)
    assert part.read_bytes() == b"half of a part"
    assert blobs.orphaned_parts({FILE}) == [part, part.with_suffix(".lock")]


# -- real jobs' folders, reset --------------------------------------------------------------------


def test_a_training_folder_is_local_handed_out_uncreated_and_deleted_whole(blobs: Blobs) -> None:
    folder = blobs.training_dir("ft-1")
    assert folder == blobs.root / "training" / "ft-1"
    assert not folder.exists()
    (folder / "checkpoints" / "step-2").mkdir(parents=True)
    (folder / "checkpoints" / "step-2" / "adapter.safetensors").write_bytes(b"\0" * 8)
    blobs.delete_training_dir("ft-1")
    assert not folder.exists()
    blobs.delete_training_dir("ft-1")  # again: nothing there, nothing raised


def test_clearing_drops_every_blob_part_and_folder_and_keeps_the_store_usable(
    blobs: Blobs,
) -> None:
    blobs.write_bytes(FILE, b"x")
    copy = blobs.path(FILE)
    receive(blobs, "file-up", 1, b"y")
    blobs.part_path("file-up", 0).write_bytes(b"half a body")
    blobs.training_dir("ft-1").mkdir(parents=True)
    blobs.clear()
    assert not blobs.exists(FILE)
    assert not copy.exists()
    with pytest.raises(FileNotFoundError):
        blobs.open_part("file-up", 1)
    assert not blobs.part_path("file-up", 0).exists()
    assert not blobs.training_dir("ft-1").exists()
    receive(blobs, "file-up", 1, b"streams in again")
    blobs.write_bytes(FILE, b"written again")
    assert blobs.read_bytes(FILE) == b"written again"


@pytest.mark.parametrize("bad", ["", ".", "..", "../escape", "a/b", "a\\b", "nul\0"])
def test_an_id_that_is_not_one_plain_name_is_refused(blobs: Blobs, bad: str) -> None:
    with pytest.raises(ValueError, match="cannot name a blob"):
        blobs.path(bad)
    with pytest.raises(ValueError):
        blobs.part_path(bad)
    with pytest.raises(ValueError):
        blobs.training_dir(bad)
    with pytest.raises(ValueError):
        blobs.write_bytes(bad, b"x")
