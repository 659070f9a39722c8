"""Files: the three-step upload the SDKs use, the >5 GiB multipart flow, the spec's one-shot
``/files/upload``, and list/retrieve/content/delete.

The SDKs' upload is ``POST /v1/files`` (form fields only) answered with exactly a 302 to an
absolute URL, then a ``PUT`` of the raw bytes there (no auth header: the URL carries a token),
then ``POST /v1/files/{id}/preprocess``. Bodies stream to disk in chunks and become a file only
when complete, so a dropped upload leaves nothing visible. One request at a time writes an
upload, or a part of one (``Uploads.writing``): a second PUT to the same URL meanwhile is a 409.

Nothing here touches the store or the disk on the event loop: the plain handlers run in a worker
thread (``off_loop``), and those that stream a body do their claims, store calls and checks in
one (``run_in_threadpool``, ``off_loop_context``), so polls are answered while a big file is
received or checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from mock_server.core.errors import InvalidRequest
from mock_server.core.lazy_model import LazyModel
from mock_server.core.limits import check_file_size, form_limits
from mock_server.core.offload import off_loop, off_loop_context
from mock_server.deps import FilesDep, TenantDep
from mock_server.files.models import FileRecord, UploadSession, render_file
from mock_server.files.service import FileService
from mock_server.files.uploads import WHOLE_BODY, receive
from mock_server.spec.routing import SpecRoute

__all__ = ["router", "upload_router"]

router = APIRouter(prefix="/v1", tags=["Files"], route_class=SpecRoute)
upload_router = APIRouter(tags=["Uploads"])  # the presigned targets, outside /v1 and auth


async def _upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1 << 20):
        yield chunk


async def _taken(
    files: FileService, session: UploadSession, chunks: AsyncIterator[bytes]
) -> FileRecord:
    """A form's file received into the upload's part and made a file, under the part's claim."""
    async with off_loop_context(files.uploads.writing(session)) as part:
        sha, _, size = await receive(chunks, part)
        return await run_in_threadpool(files.uploads.finish, session, part, sha, size)


def _field(form: Any, *names: str) -> str | None:
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _required(form: Any, name: str, *aliases: str) -> str:
    value = _field(form, name, *aliases)
    if value is None:
        raise InvalidRequest(f"Missing required field {name}", param=name)
    return value


@router.post("/files", status_code=302, response_model=None)
async def create_file(
    request: Request, files: FilesDep, tenant: TenantDep
) -> RedirectResponse | JSONResponse:
    # ``async with`` closes the form's spooled files, which would otherwise leak.
    async with request.form(**form_limits(request.scope)) as form:
        upload = form.get("file")
        filename = _field(form, "file_name", "filename") or (
            upload.filename if isinstance(upload, UploadFile) else None
        )
        if not filename:
            raise InvalidRequest("Missing required field file_name", param="file_name")
        if isinstance(upload, UploadFile):
            check_file_size(request.scope, upload.size)
        session = await run_in_threadpool(
            files.uploads.start,
            tenant,
            filename=filename,
            purpose=_field(form, "purpose") or "fine-tune",
            file_type=_field(form, "file_type"),
            checksum=_field(form, "checksum"),
        )
        if isinstance(upload, UploadFile):  # a client that sent the bytes along: take them now
            record = await _taken(files, session, _upload_chunks(upload))
            record = await run_in_threadpool(files.preprocess, tenant, record.id)
            return JSONResponse(render_file(record))
        url = request.url_for("put_upload", file_id=session.file_id).include_query_params(
            token=session.token
        )
        return RedirectResponse(
            str(url), status_code=302, headers={"X-Together-File-Id": session.file_id}
        )


@upload_router.put("/_uploads/{file_id}", name="put_upload")
async def put_upload(file_id: str, token: str, request: Request, files: FilesDep) -> dict[str, Any]:
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) <= WHOLE_BODY:
        # Small: claimed first (a second PUT meanwhile is the 409), read whole, stored in one hop.
        async with off_loop_context(files.uploads.writing_by_token(file_id, token)) as claimed:
            body = await request.body()
            record, sha = await run_in_threadpool(
                files.uploads.put_whole, *claimed, body, int(announced)
            )
        return {"id": record.id, "bytes": record.bytes, "sha256": sha}
    session = await run_in_threadpool(files.uploads.session, file_id, token)
    async with off_loop_context(files.uploads.writing(session)) as part:
        sha, _, size = await receive(request.stream(), part)
        announced = request.headers.get("content-length")
        if announced is not None and announced.isdigit() and int(announced) != size:
            await run_in_threadpool(part.unlink, missing_ok=True)
            raise InvalidRequest(f"Expected {announced} bytes, received {size}", param="file")
        record = await run_in_threadpool(files.uploads.finish, session, part, sha, size)
    return {"id": record.id, "bytes": record.bytes, "sha256": sha}


@router.post("/files/{id}/preprocess")
@off_loop
def preprocess_file(id: str, files: FilesDep, tenant: TenantDep) -> dict[str, Any]:
    return render_file(files.preprocess(tenant, id))


@router.post("/files/upload")
async def upload_file(request: Request, files: FilesDep, tenant: TenantDep) -> dict[str, Any]:
    # ``async with`` closes the form's spooled files, which would otherwise leak.
    async with request.form(**form_limits(request.scope)) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("Missing required field file (the file's content)", param="file")
        check_file_size(request.scope, upload.size)
        session = await run_in_threadpool(
            files.uploads.start,
            tenant,
            filename=_required(form, "file_name"),
            purpose=_required(form, "purpose"),
            file_type=_field(form, "file_type"),
            checksum=_field(form, "checksum"),
        )
        record = await _taken(files, session, _upload_chunks(upload))
        return render_file(await run_in_threadpool(files.preprocess, tenant, record.id))


# -- multipart ------------------------------------------------------------------------------------


class InitiateRequest(LazyModel):
    model_config = ConfigDict(defer_build=False, extra="allow")
    file_name: str
    file_size: int
    num_parts: int
    purpose: str = "fine-tune"
    file_type: str | None = None
    checksum: str | None = None


class PartRef(LazyModel):
    model_config = ConfigDict(extra="allow")
    part_number: int | None = None
    PartNumber: int | None = None
    etag: str | None = None
    ETag: str | None = None


class CompleteRequest(LazyModel):
    model_config = ConfigDict(defer_build=False, extra="allow")
    upload_id: str
    file_id: str
    parts: list[PartRef] = []


class AbortRequest(LazyModel):
    model_config = ConfigDict(defer_build=False, extra="allow")
    upload_id: str
    file_id: str


@router.post("/files/multipart/initiate")
@off_loop
def initiate_multipart(
    body: InitiateRequest, request: Request, files: FilesDep, tenant: TenantDep
) -> dict[str, Any]:
    if body.file_size < 0:
        raise InvalidRequest(
            f"file_size must be at least 0 (got {body.file_size})", param="file_size"
        )
    check_file_size(request.scope, body.file_size, param="file_size")
    session = files.uploads.initiate_multipart(
        tenant,
        filename=body.file_name,
        purpose=body.purpose,
        file_type=body.file_type,
        checksum=body.checksum,
        file_size=body.file_size,
        num_parts=body.num_parts,
    )
    parts = []
    for number in range(1, session.num_parts + 1):
        url = str(
            request.url_for(
                "put_part", file_id=session.file_id, number=str(number)
            ).include_query_params(token=session.token)
        )
        parts.append(
            {
                "PartNumber": number,
                "part_number": number,
                "URL": url,
                "UploadURL": url,
                "Headers": {},
            }
        )
    return {"upload_id": session.upload_id, "file_id": session.file_id, "parts": parts}


@upload_router.put("/_uploads/{file_id}/parts/{number}", name="put_part")
async def put_part(
    file_id: str, number: int, token: str, request: Request, files: FilesDep
) -> JSONResponse:
    session = await run_in_threadpool(files.uploads.session, file_id, token)
    if not 1 <= number <= session.num_parts:
        raise InvalidRequest(
            f"Part number {number} is outside 1..{session.num_parts}", param="part_number"
        )
    async with off_loop_context(files.uploads.writing(session, number)) as part:
        _, md5, size = await receive(request.stream(), part)
    return JSONResponse({"part_number": number, "size": size}, headers={"ETag": f'"{md5}"'})


@router.post("/files/multipart/complete")
@off_loop
def complete_multipart(body: CompleteRequest, files: FilesDep, tenant: TenantDep) -> dict[str, Any]:
    session = files.uploads.multipart_session(tenant, body.upload_id, body.file_id)
    etags: dict[int, str] = {}
    for part in body.parts:
        number, etag = part.part_number or part.PartNumber, part.etag or part.ETag
        if number is None or etag is None:
            raise InvalidRequest("Each part needs part_number and etag", param="parts")
        etags[number] = etag
    return {"file": render_file(files.uploads.complete_multipart(session, etags))}


@router.post("/files/multipart/abort")
@off_loop
def abort_multipart(body: AbortRequest, files: FilesDep, tenant: TenantDep) -> dict[str, Any]:
    uploads = files.uploads
    uploads.abort_multipart(uploads.multipart_session(tenant, body.upload_id, body.file_id))
    return {"upload_id": body.upload_id, "file_id": body.file_id, "aborted": True}


# -- the rest -------------------------------------------------------------------------------------


@router.get("/files")
@off_loop
def list_files(files: FilesDep, tenant: TenantDep) -> dict[str, Any]:
    return {"object": "list", "data": [render_file(f) for f in files.files(tenant)]}


@router.get("/files/{id}")
@off_loop
def retrieve_file(id: str, files: FilesDep, tenant: TenantDep) -> dict[str, Any]:
    return render_file(files.file(tenant, id))


@router.get("/files/{id}/content", response_model=None)
@off_loop
def file_content(id: str, files: FilesDep, tenant: TenantDep) -> FileResponse:
    record = files.file(tenant, id)
    return FileResponse(
        files.blobs.path(record.id),
        filename=record.filename,
        media_type="application/octet-stream",
    )


@router.delete("/files/{id}")
@off_loop
def delete_file(id: str, files: FilesDep, tenant: TenantDep) -> dict[str, Any]:
    record = files.delete_file(tenant, id)
    return {"id": record.id, "object": "file", "deleted": True}
