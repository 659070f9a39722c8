"""Uploads on their way to becoming files: the one-shot upload behind ``POST /files`` (a 302
to a presigned URL, then a ``PUT`` of the bytes) and the multipart one for files above 5 GiB.

An upload is a session in the store until its bytes are all in and their checksum holds; only
then does it become a ``FileRecord`` that ``GET /files`` lists, so a broken upload leaves nothing
half-visible behind. Each part has one writer at a time (``Uploads.writing``): a second request
for it is a 409 rather than a second stream into the same file, and a full disk is a 507 that
leaves the upload as it was, to be sent again.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from anyio import to_thread

from mock_server.core.clock import Clock
from mock_server.core.errors import (
    Conflict,
    InsufficientStorage,
    InvalidRequest,
    NotFound,
    is_disk_full,
)
from mock_server.core.ids import IdSource
from mock_server.files.models import FilePurpose, FileRecord, FileType, UploadSession
from mock_server.store import BlobStore, Store
from mock_server.store.blobs import PartInUse

__all__ = ["WHOLE_BODY", "Uploads", "receive"]

CHUNK = 1 << 20
# A one-shot body up to this size is read whole on the loop and stored in one worker-thread hop
# (``Uploads.put_whole``); a larger one streams through ``receive`` a chunk (and a hop) at a time.
WHOLE_BODY = 1 << 20


async def receive(chunks: AsyncIterator[bytes], part: Path) -> tuple[str, str, int]:
    """Stream a body into ``part`` (under ``Uploads.writing``); return its sha256, md5 and size.
    Hashing and writing go to a worker thread a megabyte at a time, so a big upload never holds
    up the event loop; a body that does not arrive whole (a dropped client, a full disk) leaves
    no part behind."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = 0
    out = await to_thread.run_sync(_open_part, part)
    try:
        pending: list[bytes] = []
        held = 0
        async for chunk in chunks:
            pending.append(chunk)
            held += len(chunk)
            if held >= CHUNK:
                await to_thread.run_sync(_absorb, out, b"".join(pending), sha, md5)
                size, pending, held = size + held, [], 0
        if held:
            await to_thread.run_sync(_absorb, out, b"".join(pending), sha, md5)
            size += held
        await to_thread.run_sync(out.close)  # flushes the last bytes, where a full disk may show
    except BaseException:
        with suppress(OSError):
            out.close()
        part.unlink(missing_ok=True)
        raise
    return sha.hexdigest(), md5.hexdigest(), size


def _open_part(part: Path) -> BinaryIO:
    part.parent.mkdir(parents=True, exist_ok=True)
    return part.open("wb")


def _absorb(out: BinaryIO, data: bytes, *digests: Any) -> None:
    for digest in digests:
        digest.update(data)
    _write(out, data)


def _write(out: BinaryIO, data: bytes) -> None:
    """Every upload byte reaches the disk here: the one place a test fills the disk."""
    out.write(data)


@dataclass
class Uploads:
    store: Store
    blobs: BlobStore
    clock: Clock
    ids: IdSource

    def start(
        self,
        tenant: str,
        *,
        filename: str,
        purpose: str,
        file_type: str | None,
        checksum: str | None,
    ) -> UploadSession:
        session = UploadSession(
            file_id=self.ids.file_id(),
            tenant=tenant,
            token=secrets.token_urlsafe(16),
            filename=filename,
            purpose=_purpose(purpose),
            file_type=_file_type(file_type, filename),
            checksum=checksum or None,
            created_at=self.clock.now(),
        )
        self.store.put_upload(session)
        return session

    def session(self, file_id: str, token: str) -> UploadSession:
        session = self.store.get_upload(file_id)
        if not secrets.compare_digest(session.token, token):
            raise NotFound("upload", file_id, message=f"No upload in progress for {file_id}")
        return session

    @contextmanager
    def writing(
        self, session: UploadSession, part: int = 0, *, busy: str | None = None
    ) -> Iterator[Path]:
        """Part ``part`` of the upload (its path), for this request alone while the block runs.

        Another request writing it already is a 409 (``busy``, or words naming the upload): the
        first one goes on undisturbed. The session is looked up again once the part is ours, so
        a request that waited behind one that finished or aborted the upload gets the 404 a
        late request gets, rather than writing over a file that is already complete. A full
        disk, in the block or taking the claim, is a 507; the session stays, so the upload can
        be sent again once there is room."""
        file_id = session.file_id
        if busy is None:
            busy = (
                f"Upload {file_id} is already receiving its bytes from another request: "
                "send one PUT at a time, and retry once it has finished"
                if part == 0
                else f"Part {part} of upload {file_id} is already being received by another "
                "request: send one PUT per part at a time, and retry once it has finished"
            )
        try:
            with self._claim(file_id, part, busy) as path:
                self.store.get_upload(file_id)
                yield path
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            raise InsufficientStorage(
                f"No space left on device: the simulator's disk is full, so upload {file_id} was "
                "not stored. Free space under its data dir and send it again."
            ) from exc

    @contextmanager
    def _claim(self, file_id: str, part: int, busy: str) -> Iterator[Path]:
        with ExitStack() as held:  # only taking the claim is a 409, not what the block raises
            try:
                path = held.enter_context(self.blobs.claim_part(file_id, part))
            except PartInUse as exc:
                raise Conflict(busy) from exc
            yield path

    @contextmanager
    def writing_by_token(self, file_id: str, token: str) -> Iterator[tuple[UploadSession, Path]]:
        """``session`` then ``writing``, in one call: what a small one-shot body needs before
        its bytes are read (a worker-thread hop less than looking the session up apart)."""
        session = self.session(file_id, token)
        with self.writing(session) as part:
            yield session, part

    def put_whole(
        self, session: UploadSession, part: Path, body: bytes, announced: int | None
    ) -> tuple[FileRecord, str]:
        """A one-shot body received whole (at most ``WHOLE_BODY``) into its claimed ``part``,
        then ``finish``: one worker-thread hop where streaming takes one per chunk, its open
        and its close (under load, a request's latency is mostly those hops' queueing, not
        their work). Returns the file and the body's sha256."""
        if announced is not None and announced != len(body):
            raise InvalidRequest(f"Expected {announced} bytes, received {len(body)}", param="file")
        out = _open_part(part)
        try:
            _write(out, body)
            out.close()  # flushes: where a full disk may show
        except BaseException:
            with suppress(OSError):
                out.close()
            part.unlink(missing_ok=True)
            raise
        sha = hashlib.sha256(body).hexdigest()
        return self.finish(session, part, sha, len(body)), sha

    def finish(self, session: UploadSession, part: Path, sha256: str, size: int) -> FileRecord:
        """Make a fully received upload visible, or discard it if its checksum is wrong."""
        if session.checksum and session.checksum.lower() != sha256:
            part.unlink(missing_ok=True)
            raise InvalidRequest(
                f"Checksum mismatch for {session.filename}: the client announced "
                f"{session.checksum}, the bytes received hash to {sha256}",
                param="checksum",
            )
        if size == 0:
            part.unlink(missing_ok=True)
            raise InvalidRequest("File is empty", param="file")
        record = FileRecord(
            id=session.file_id,
            tenant=session.tenant,
            filename=session.filename,
            bytes=size,
            created_at=self.clock.now(),
            purpose=session.purpose,
            file_type=session.file_type,
            sha256=sha256,
        )
        self.blobs.commit_part(session.file_id, part)
        try:
            with self.store.transaction():
                self.store.put_file(record)
                self.store.delete_upload(session.file_id)
        except BaseException:
            self.blobs.delete(session.file_id)  # bytes no record lists would stay for good
            raise
        return record

    def initiate_multipart(
        self,
        tenant: str,
        *,
        filename: str,
        purpose: str,
        file_type: str | None,
        checksum: str | None,
        file_size: int,
        num_parts: int,
    ) -> UploadSession:
        if num_parts < 1 or num_parts > 10_000:
            raise InvalidRequest(
                f"num_parts must be between 1 and 10000 (got {num_parts})", param="num_parts"
            )
        session = self.start(
            tenant, filename=filename, purpose=purpose, file_type=file_type, checksum=checksum
        )
        session = session.model_copy(
            update={
                "upload_id": f"upload-{self.ids.uuid()}",
                "num_parts": num_parts,
                "file_size": file_size,
            }
        )
        self.store.put_upload(session)
        return session

    def multipart_session(self, tenant: str, upload_id: str, file_id: str) -> UploadSession:
        session = self.store.get_upload(file_id)
        if session.tenant != tenant or session.upload_id != upload_id:
            raise NotFound(
                "upload", upload_id, message=f"Upload {upload_id} not found", param="upload_id"
            )
        return session

    def complete_multipart(self, session: UploadSession, etags: dict[int, str]) -> FileRecord:
        missing = [n for n in range(1, session.num_parts + 1) if n not in etags]
        if missing:
            raise InvalidRequest(
                f"Parts {missing} were not listed in the completion request", param="parts"
            )
        busy = (
            f"Upload {session.upload_id} is already being completed by another request: "
            "retry once it has finished"
        )
        with self.writing(session, 0, busy=busy) as target:
            try:
                sha256, size = self._join(session, etags, target)
                if session.file_size is not None and size != session.file_size:
                    raise InvalidRequest(
                        f"Received {size} bytes, but the upload announced {session.file_size}",
                        param="file_size",
                    )
                record = self.finish(session, target, sha256, size)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            self.abort_multipart(session)
        return record

    def _join(self, session: UploadSession, etags: dict[int, str], target: Path) -> tuple[str, int]:
        """Join the parts into ``target``; each is claimed while it is read, so a part that is
        still arriving is a 409 rather than half of it joined."""
        digest = hashlib.sha256()
        size = 0
        with target.open("wb") as out:
            for number in range(1, session.num_parts + 1):
                busy = (
                    f"Part {number} of upload {session.upload_id} is still being received: "
                    "complete the upload once its PUT has finished"
                )
                with self._claim(session.file_id, number, busy):
                    try:  # from the store: the part may have reached another replica
                        src = self.blobs.open_part(session.file_id, number)
                    except FileNotFoundError:
                        raise InvalidRequest(
                            f"Part {number} was never uploaded", param="parts"
                        ) from None
                    part_md5 = hashlib.md5(usedforsecurity=False)
                    with src:
                        while chunk := src.read(CHUNK):
                            part_md5.update(chunk)
                            digest.update(chunk)
                            _write(out, chunk)
                            size += len(chunk)
                if etags[number].strip('"') != part_md5.hexdigest():
                    raise InvalidRequest(
                        f"ETag of part {number} does not match the bytes received", param="parts"
                    )
        return digest.hexdigest(), size

    def abort_multipart(self, session: UploadSession) -> None:
        self.blobs.discard_parts(session.file_id)
        self.store.delete_upload(session.file_id)


def _purpose(value: str) -> FilePurpose:
    try:
        return FilePurpose(value)
    except ValueError as exc:
        allowed = ", ".join(p.value for p in FilePurpose)
        raise InvalidRequest(
            f"Invalid purpose {value!r}: must be one of {allowed}", param="purpose"
        ) from exc


def _file_type(value: str | None, filename: str) -> FileType:
    if not value:
        suffix = Path(filename).suffix.lstrip(".").lower()
        value = suffix if suffix in {t.value for t in FileType} else "jsonl"
    try:
        return FileType(value)
    except ValueError as exc:
        raise InvalidRequest(
            f"Invalid file_type {value!r}: must be one of jsonl, parquet, csv", param="file_type"
        ) from exc
