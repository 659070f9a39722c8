"""Valid creates swapped into generated cases, so that the stateful phase walks the links from
them: values asked of the target at run time, never assumed."""

from __future__ import annotations

from contracts.loading import RunOptions, load_contract
from contracts.runner import run_contract
from contracts.target import in_process_target, url_target
from contracts.valid_inputs import ValidInputs

FINE_TUNE_FLOW = (
    "POST /fine-tunes",
    "GET /fine-tunes/{id}",
    "GET /fine-tunes/{id}/events",
    "POST /fine-tunes/{id}/cancel",
    "DELETE /fine-tunes/{id}",
)


def test_the_stateful_phase_follows_jobs_it_created() -> None:
    options = RunOptions(max_examples=10, phases=("stateful",), include=FINE_TUNE_FLOW, seed=0)
    contract = load_contract(in_process_target(), options)
    result = run_contract(contract)

    assert result.ok, "\n".join(f.describe() for f in [*result.failures, *result.errors])
    seen = {row.label: row.seen for row in result.coverage.rows}
    # Jobs were created with a catalogue model and a dataset uploaded for the run ...
    assert contract.valid_inputs is not None and contract.valid_inputs.swapped["POST /fine-tunes"]
    assert 200 in seen["POST /fine-tunes"]
    # ... and the links from them were walked: read, deleted, and gone after the delete.
    assert 200 in seen["GET /fine-tunes/{id}"]
    assert 200 in seen["DELETE /fine-tunes/{id}"]
    assert 404 in seen["GET /fine-tunes/{id}"]


BATCH_FLOW = (
    "GET /files",
    "POST /files/upload",
    "POST /batches",
    "GET /batches/{id}",
    "POST /batches/{id}/cancel",
)


def test_a_batch_flow_starts_from_the_file_list_and_an_upload() -> None:
    """schemathesis never starts a scenario at an upload or a batch create (it reads file_name
    and input_file_id as references to resources nothing creates): the overlay links the file
    list into the upload and the upload into the batch, and the batch is then read."""
    options = RunOptions(max_examples=10, phases=("stateful",), include=BATCH_FLOW, seed=0)
    contract = load_contract(in_process_target(), options)
    result = run_contract(contract)

    assert result.ok, "\n".join(f.describe() for f in [*result.failures, *result.errors])
    seen = {row.label: row.seen for row in result.coverage.rows}
    assert 200 in seen["POST /files/upload"]
    assert 201 in seen["POST /batches"]
    assert 200 in seen["GET /batches/{id}"]


def test_a_target_that_cannot_say_leaves_the_cases_as_generated() -> None:
    valid = ValidInputs(url_target("http://127.0.0.1:9"), frozenset({"POST /fine-tunes"}))
    assert valid.facts("POST /fine-tunes") is None
    assert valid.summary()[-1].startswith("valid inputs not found: POST /fine-tunes")
