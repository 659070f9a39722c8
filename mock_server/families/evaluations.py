"""Evaluations (``/evaluation``): a judge model classifies, scores or compares the rows of an
uploaded file.

No model is called. An evaluation walks ``pending`` (5 s at the service's pace), ``queued`` (10 s)
and ``running`` (60 s) to ``completed``, with a ``status_updates`` entry for each. Its results are
deterministic per evaluation and sized by the input file: a label per row drawn from ``labels``
(``label_counts``, ``pass_percentage`` of ``pass_labels``), a score per row within ``[min_score,
max_score]`` (mean, standard deviation, share at or above ``pass_threshold``), or a winner per row
(``A_wins``, ``B_wins``, ``Ties``). ``result_file_id`` is a real file of the tenant's (purpose
``eval-output``) with one JSON line per input row and its simulated verdict, written when the
evaluation is first read completed.

Checks, as 400s naming the field: ``parameters`` complete for the ``type`` (the spec's union lets
a classify request carry score parameters), ``pass_labels`` among ``labels``, ``min_score <
max_score`` with the threshold between, both models for a comparison, an input file of the
tenant's.
"""

from __future__ import annotations

import json
import random
import statistics
from datetime import datetime
from typing import Any

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.ids import stable_int
from mock_server.core.lifecycle import Lifecycle, walked
from mock_server.core.timefmt import iso
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Family, Record, Resources
from mock_server.files.models import FilePurpose, FileRecord, generated_jsonl
from mock_server.spec.validate import first_error

__all__ = ["EVALUATIONS", "OPERATIONS"]

_TYPES = ("classify", "score", "compare")  # the order of the spec's parameters union
_MESSAGES = {
    "pending": "Job is pending evaluation",
    "queued": "Job is queued",
    "running": "Job is running",
    "completed": "Job is completed",
}


def _view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    assert record.progress is not None
    history = walked(record.progress, resources.now())
    body["status_updates"] = [
        {"status": state, "message": _MESSAGES[state], "timestamp": iso(moment)}
        for state, moment in history
    ]
    body["updated_at"] = iso(history[-1][1])
    body["results"] = None
    if body["status"] == "completed":
        body["results"] = _results(resources, record, history[-1][1])
    return body


EVALUATIONS = Family(
    kind="evaluation",
    schema="GET /evaluation/{id}",
    new_id=lambda ids: f"eval-{ids.hex(8)}",
    id_field="workflow_id",
    lifecycle=Lifecycle(
        steps=(("pending", 5.0), ("queued", 10.0), ("running", 60.0)), rest="completed"
    ),
    view=_view,
)


def _verdicts(record: Record) -> list[Any]:
    """One simulated verdict per input row, the same on every read."""
    params = record.body["parameters"]
    rng = random.Random(stable_int("evaluation", record.id))
    rows = range(record.private["rows"])
    kind = record.body["type"]
    if kind == "classify":
        return [rng.choice(params["labels"]) for _ in rows]
    if kind == "score":
        low, high = float(params["min_score"]), float(params["max_score"])
        return [round(rng.uniform(low, high), 2) for _ in rows]
    return [rng.choice(("A", "B", "Tie")) for _ in rows]


def _results(resources: Resources, record: Record, done_at: datetime) -> dict[str, Any]:
    verdicts, params = _verdicts(record), record.body["parameters"]
    n = len(verdicts) or 1
    file_id = _result_file(resources, record, verdicts, done_at)
    common = {"generation_fail_count": 0, "judge_fail_count": 0, "result_file_id": file_id}
    kind = record.body["type"]
    if kind == "classify":
        counts = {label: verdicts.count(label) for label in params["labels"]}
        passing = sum(counts[label] for label in params["pass_labels"] if label in counts)
        return {
            **common,
            "invalid_label_count": 0,
            "pass_percentage": round(100 * passing / n, 2),
            "label_counts": json.dumps(counts),
        }
    if kind == "score":
        scores = [float(v) for v in verdicts] or [0.0]
        passing = sum(s >= float(params["pass_threshold"]) for s in scores)
        return {
            **common,
            "aggregated_scores": {
                "mean_score": round(statistics.fmean(scores), 4),
                "std_score": round(statistics.pstdev(scores), 4),
                "pass_percentage": round(100 * passing / n, 2),
            },
            "invalid_score_count": 0,
            "failed_samples": 0,
        }
    return {
        **common,
        "num_samples": len(verdicts),
        "A_wins": verdicts.count("A"),
        "B_wins": verdicts.count("B"),
        "Ties": verdicts.count("Tie"),
    }


def _input_rows(resources: Resources, record: Record) -> list[Any]:
    file_id = record.private["input_file"]
    if not resources.blobs.exists(file_id):  # deleted since: the verdicts stand alone
        return []
    text = resources.blobs.read_bytes(file_id).decode(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    rows: list[Any] = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append(line)
    return rows


def _result_file(
    resources: Resources, record: Record, verdicts: list[Any], done_at: datetime
) -> str:
    """The results file, written on the first read that sees the evaluation completed."""
    file_id: str = record.private["result_file"]
    store = resources.store
    with store.transaction():
        try:
            store.get_file(record.tenant, file_id)
            return file_id
        except NotFound:
            pass
        rows = _input_rows(resources, record)
        field = {"classify": "label", "score": "score", "compare": "winner"}[record.body["type"]]
        lines = [
            json.dumps(
                {
                    "row": i,
                    "input": rows[i] if i < len(rows) else None,
                    field: verdict,
                    "simulated": "together-sim: no judge model was called",
                }
            )
            for i, verdict in enumerate(verdicts)
        ]
        stored, data = generated_jsonl(
            file_id=file_id,
            tenant=record.tenant,
            filename=f"{record.id}-results.jsonl",
            lines=lines,
            created_at=done_at,
            purpose=FilePurpose.eval_output,
        )
        resources.blobs.write_bytes(file_id, data)
        store.put_file(stored)
    return file_id


def _checked_parameters(resources: Resources, kind: str, params: dict[str, Any]) -> None:
    request_body = resources.index.by_key("POST", "/evaluation").body
    assert request_body is not None
    variants = request_body.content["application/json"]["properties"]["parameters"]["anyOf"]
    error = first_error(params, variants[_TYPES.index(kind)])
    if error is not None:
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required":
            wanted: Any = error.validator_value
            instance: Any = error.instance
            path.append(next(str(r) for r in wanted if r not in instance))
        param = ".".join(["parameters", *path])
        raise InvalidRequest(f"{param}: {error.message} (for a {kind} evaluation)", param=param)
    if kind == "classify" and not set(params["pass_labels"]) <= set(params["labels"]):
        raise InvalidRequest("pass_labels must be among labels", param="parameters.pass_labels")
    if kind == "score":
        low, high, bar = params["min_score"], params["max_score"], params["pass_threshold"]
        if not low < high:
            raise InvalidRequest("min_score must be below max_score", param="parameters.max_score")
        if not low <= bar <= high:
            raise InvalidRequest(
                "pass_threshold must be within [min_score, max_score]",
                param="parameters.pass_threshold",
            )
    if kind == "compare":
        for name in ("model_a", "model_b"):
            if name not in params:
                raise InvalidRequest(f"A comparison needs {name}", param=f"parameters.{name}")


def create_evaluation(resources: Resources, call: Call) -> Any:
    request = call.json()
    kind, params = request["type"], request["parameters"]
    _checked_parameters(resources, kind, params)
    file_id = params["input_data_file_path"]
    try:
        source: FileRecord = resources.files.file(call.tenant, file_id)
    except NotFound as exc:
        raise NotFound(
            "file",
            file_id,
            message=f"Input file {file_id} not found",
            param="parameters.input_data_file_path",
        ) from exc
    rows = source.num_samples or sum(
        1 for line in resources.blobs.read_bytes(source.id).splitlines() if line.strip()
    )
    record = resources.create(
        EVALUATIONS,
        call.tenant,
        request=request,
        private={
            "input_file": source.id,
            "rows": rows,
            "result_file": resources.ids.file_id(),
        },
    )
    return {"workflow_id": record.id, "status": resources.status(record)}


def _get(resources: Resources, call: Call) -> Record:
    return resources.get(EVALUATIONS, call.tenant, call.path["id"], param="id")


def get_evaluation(resources: Resources, call: Call) -> Any:
    return resources.render(EVALUATIONS, _get(resources, call))


def evaluation_status(resources: Resources, call: Call) -> Any:
    body = resources.render(EVALUATIONS, _get(resources, call))
    return {"status": body["status"], **({"results": body["results"]} if body["results"] else {})}


def list_evaluations(resources: Resources, call: Call) -> Any:
    wanted, limit = call.query.get("status"), call.query.get("limit", 10)
    bodies = [
        resources.render(EVALUATIONS, r) for r in reversed(resources.list(EVALUATIONS, call.tenant))
    ]
    return [b for b in bodies if wanted in (None, b["status"])][: max(limit, 0)]


def model_list(resources: Resources, call: Call) -> Any:
    """Models an evaluation may name: serverless (the catalogue and the tenant's fine-tuned
    outputs), dedicated (the tenant's endpoints), or all of them. ``model_source`` is a free
    string filter in the spec, so a source of no model is an empty list, not a refusal."""
    source = call.query.get("model_source", "all")
    names: list[str] = []
    if source in ("all", "serverless"):
        names += catalogue.supported()
        names += [
            j.model_output_name
            for j in resources.jobs.jobs(call.tenant)
            if j.status.value == "completed"
        ]
    if source in ("all", "dedicated"):
        names += [
            e["name"] for e in resources.endpoints.list_endpoints(call.tenant, type_="dedicated")
        ]
    return {"model_list": names}


OPERATIONS = [
    Operation("POST /evaluation", create_evaluation),
    Operation("GET /evaluation", list_evaluations),
    Operation("GET /evaluation/model-list", model_list),
    Operation("GET /evaluation/{id}", get_evaluation),
    Operation("GET /evaluation/{id}/status", evaluation_status),
]
