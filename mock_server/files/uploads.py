"""Uploads on their way to becoming files: the one-shot upload behind ``POST /files`` (a 302
to a presigned URL, then a ``PUT`` of the bytes) and the multipart one for files above 5 GiB.

An upload is a session in the store until its bytes are all in and their checksum holds; only
then does it become a ``FileRecord`` that ``GET /files`` lists, so a broken upload leaves nothing
half-visible behind.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from mock_server.core.clock import Clock
from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.ids import IdSource
from mock_server.files.models import FilePurpose, FileRecord, FileType, UploadSession
from mock_server.store import BlobStore, Store

__all__ = ["Uploads"]

CHUNK = 1 << 20


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
        self.blobs.commit_part(session.file_id, part)
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
        with self.store.transaction():
            self.store.put_file(record)
            self.store.delete_upload(session.file_id)
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
        target = self.blobs.part_path(session.file_id, 0)
        digest = hashlib.sha256()
        size = 0
        with target.open("wb") as out:
            for number in range(1, session.num_parts + 1):
                part = self.blobs.part_path(session.file_id, number)
                if not part.exists():
                    raise InvalidRequest(f"Part {number} was never uploaded", param="parts")
                part_md5 = hashlib.md5(usedforsecurity=False)
                with part.open("rb") as src:
                    while chunk := src.read(CHUNK):
                        part_md5.update(chunk)
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                if etags[number].strip('"') != part_md5.hexdigest():
                    raise InvalidRequest(
                        f"ETag of part {number} does not match the bytes received", param="parts"
                    )
        if session.file_size is not None and size != session.file_size:
            target.unlink(missing_ok=True)
            raise InvalidRequest(
                f"Received {size} bytes, but the upload announced {session.file_size}",
                param="file_size",
            )
        record = self.finish(session, target, digest.hexdigest(), size)
        self.abort_multipart(session)
        return record

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
