"""The batch service: ``models.py`` (pure) tied to the files, the models and the store.

A batch is a record of the ``Resources`` service (``families/engine.py``) whose status comes from
the walk planned at creation (``core/lifecycle.py``). Its results are written once, by the first
read that finds it ended: each answered request goes through the code the live routes use
(``inference/models.py`` for chat and text completions, ``audio/transcriptions.py`` for
audio), on the model the line names (a catalogue model, a completed fine-tune's output, a STARTED
endpoint), and lands in an output file, or in an error file with Together's error body when it
fails (an unknown model, a body the endpoint refuses). Both are ordinary files (purpose
``batch-generated``): ``GET /files/{id}/content`` downloads them. Requests on a model trained with
``--trainer real`` get the synthetic answer here; the real model answers only live requests.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mock_server.audio.transcriptions import Task, TranscriptionRequest, transcription_body
from mock_server.batches import models as batches
from mock_server.batches.models import BatchRequest, BatchStatus
from mock_server.core.errors import (
    InvalidRequest,
    InvalidTransition,
    NotFound,
    TogetherError,
    error_body,
)
from mock_server.core.ids import IdSource
from mock_server.core.lifecycle import Progress, ends_at
from mock_server.core.timefmt import iso
from mock_server.families.engine import Family, Record, Resources
from mock_server.files.models import FilePurpose, FileRecord, generated_jsonl
from mock_server.inference.models import (
    ChatRequest,
    CompletionRequest,
    chat_body,
    complete,
    prompt_text,
    text_body,
)

__all__ = ["BATCHES", "cancel", "create", "get", "list_batches"]


def _new_id(ids: IdSource) -> str:
    return ids.uuid()  # the spec's BatchJob.id is a bare uuid


def _view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    """What depends on the moment: the share answered, and the end once it came."""
    plan = Progress.from_json(record.private["plan"])
    requests = int(record.private["requests"])
    status = body["status"]
    assert record.progress is not None
    if status == BatchStatus.FAILED:
        done = 0  # its input was gone: nothing was answered
    elif status == BatchStatus.CANCELLED:
        done = batches.processed_at(plan, requests, record.progress.since)  # the cancel's moment
    else:
        done = batches.processed_at(plan, requests, resources.now())
    body["progress"] = round(100.0 * done / requests, 2)
    if status == BatchStatus.COMPLETED:
        body["completed_at"] = iso(ends_at(plan))
    return body


BATCHES = Family(
    kind="batch",
    schema="GET /batches/{id}",
    new_id=_new_id,
    lifecycle=batches.LIFECYCLE,
    view=_view,
)


def _input(resources: Resources, tenant: str, file_id: str) -> tuple[FileRecord, bytes]:
    try:
        record = resources.files.file(tenant, file_id)
    except NotFound as exc:
        raise NotFound(
            "file", file_id, message=f"File {file_id} not found", param="input_file_id"
        ) from exc
    if record.purpose is not FilePurpose.batch_api:
        raise InvalidRequest(
            f"File {file_id} was uploaded with purpose {record.purpose.value}; a batch reads a "
            "file uploaded with purpose batch-api",
            param="input_file_id",
        )
    return record, resources.blobs.read_bytes(file_id)


def create(resources: Resources, tenant: str, request: dict[str, Any]) -> dict[str, Any]:
    """``POST /batches``: the input file checked line by line (a 400 naming the first bad line),
    then a batch on its way; the answer is ``BatchJobWithWarning``."""
    endpoint = str(request["endpoint"])
    warning = batches.check_create(endpoint, request.get("completion_window"))
    file, data = _input(resources, tenant, str(request["input_file_id"]))
    parsed = batches.parse_input(data, endpoint)
    named = request.get("model_id") or parsed[0].body.get("model")
    now = resources.now()
    plan = batches.plan(len(parsed), now, resources.speed)
    fields: dict[str, Any] = {
        "user_id": f"user_{tenant}",
        "file_size_bytes": file.bytes,
        "job_deadline": iso(batches.job_deadline(now)),
        "progress": 0.0,
    }
    if isinstance(named, str):
        fields["model_id"] = named
    record = resources.create(
        BATCHES,
        tenant,
        request=request,
        fields=fields,
        private={"requests": len(parsed), "plan": plan.to_json()},
        progress=plan,
    )
    created = {"job": resources.render(BATCHES, record)}
    return created if warning is None else {**created, "warning": warning}


def get(resources: Resources, tenant: str, batch_id: str) -> dict[str, Any]:
    record = resources.get(BATCHES, tenant, batch_id, param="id")
    return resources.render(BATCHES, _settled(resources, record))


def list_batches(resources: Resources, tenant: str) -> list[dict[str, Any]]:
    """Newest first."""
    records = reversed(resources.list(BATCHES, tenant))
    return [resources.render(BATCHES, _settled(resources, r)) for r in records]


def cancel(resources: Resources, tenant: str, batch_id: str) -> dict[str, Any]:
    """What was answered before the cancel is kept, in the output file, as the service does."""
    try:
        with resources.changing():
            record = resources.get(BATCHES, tenant, batch_id, param="id")
            record = resources.move(BATCHES, record, "cancel")
    except InvalidTransition:
        status = resources.status(record)
        raise InvalidRequest(
            f"Batch {batch_id} is {status}: only a VALIDATING or IN_PROGRESS batch can be "
            "cancelled",
            param="id",
        ) from None
    return resources.render(BATCHES, _settled(resources, record))


# -- results ---------------------------------------------------------------------------------------


def _settled(resources: Resources, record: Record) -> Record:
    """The record with its results written, if it has ended and they were not yet."""
    if record.private.get("settled") or resources.status(record) not in batches.TERMINAL:
        return record
    with resources.store.transaction():
        record = resources.get(BATCHES, record.tenant, record.id, param="id")
        if record.private.get("settled"):
            return record
        return _write_results(resources, record)


def _write_results(resources: Resources, record: Record) -> Record:
    assert record.progress is not None
    plan = Progress.from_json(record.private["plan"])
    requests = int(record.private["requests"])
    ended = record.progress.since if resources.status(record) == "CANCELLED" else ends_at(plan)
    done = batches.processed_at(plan, requests, ended)
    body = record.body
    try:
        data = resources.blobs.read_bytes(body["input_file_id"])
    except FileNotFoundError:
        failed = resources.move(BATCHES, record, "fail")
        error = f"The input file {body['input_file_id']} was deleted before the batch ran"
        return resources.update(BATCHES, failed, fields={"error": error}, private={"settled": True})
    answered = batches.parse_input(data, body["endpoint"])[:done]
    times = [batches.answered_at(plan, requests, i) for i in range(done)]
    answer = _Answerer(resources, record.tenant, body["endpoint"], body.get("model_id"))
    output, errors = batches.result_lines(record.id, answered, times, answer)
    fields = {}
    if output:
        fields["output_file_id"] = _write_file(resources, record, "output", output, ended)
    if errors:
        fields["error_file_id"] = _write_file(resources, record, "errors", errors, ended)
    return resources.update(BATCHES, record, fields=fields, private={"settled": True})


def _write_file(
    resources: Resources, record: Record, name: str, lines: list[str], moment: datetime
) -> str:
    file_id = resources.ids.file_id()
    stored, data = generated_jsonl(
        file_id=file_id,
        tenant=record.tenant,
        filename=f"batch_{record.id}_{name}.jsonl",
        lines=lines,
        created_at=moment,
        purpose=FilePurpose.batch_generated,
    )
    resources.blobs.write_bytes(file_id, data)
    resources.store.put_file(stored)
    return file_id


class _Answerer:
    """One request of a batch, answered as its endpoint answers it live: (status, body)."""

    def __init__(
        self, resources: Resources, tenant: str, endpoint: str, model_id: str | None
    ) -> None:
        self.inference = resources.inference
        self.tenant = tenant
        self.endpoint = endpoint
        self.model_id = model_id

    def __call__(self, request: BatchRequest, created: int) -> tuple[int, dict[str, Any]]:
        body = dict(request.body)
        if "model" not in body and self.model_id:
            body["model"] = self.model_id
        try:
            return 200, self._answer(body, created)
        except TogetherError as exc:
            return exc.status, exc.body()
        except ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(p) for p in first["loc"]) or None
            return 400, error_body(f"{param}: {first['msg']}", "invalid_request_error", param)

    def _answer(self, body: dict[str, Any], created: int) -> dict[str, Any]:
        if self.endpoint in batches.AUDIO_ENDPOINTS:
            task: Task = "translate" if self.endpoint.endswith("translations") else "transcribe"
            url = body.get("file")
            request = TranscriptionRequest.model_validate(body)
            return transcription_body(
                request, audio=None, url=url if isinstance(url, str) else None, task=task
            )
        if self.endpoint == "/v1/chat/completions":
            chat = ChatRequest.model_validate(body)
            served = self.inference.serving(self.tenant, chat.model)
            prompt = prompt_text(chat.messages)
            result = complete(
                served.answers_as,
                prompt,
                max_tokens=chat.max_tokens,
                seed=chat.seed,
                stop=chat.stops,
            )
            return chat_body(served.model, prompt, chat.seed, created, result)
        text = CompletionRequest.model_validate(body)
        served = self.inference.serving(self.tenant, text.model)
        result = complete(
            served.answers_as,
            text.prompt,
            max_tokens=text.max_tokens,
            seed=text.seed,
            stop=text.stops,
        )
        return text_body(served.model, text.prompt, text.seed, created, result)


def checked_input_file(record: FileRecord, path: Path) -> FileRecord:
    """A ``batch-api`` upload checked as batch input (Together's line format), not as a
    training set: ``processing_status`` and a ``validation_report`` naming the first bad line."""
    requests: list[BatchRequest] = []
    error: str | None = None
    line: int | None = None
    try:
        requests = batches.parse_input(path.read_bytes(), None)
    except InvalidRequest as exc:
        error, line = exc.message, getattr(exc, "line", None)
    return record.model_copy(
        update={
            "processed": True,
            "processing_status": "INVALID_FORMAT" if error else "COMPLETED",
            "num_samples": len(requests),
            "validation_report": {
                "valid": error is None,
                "error": error,
                "line_number": line,
                "message": error or f"{len(requests)} batch requests",
                "num_samples": len(requests),
            },
        }
    )
