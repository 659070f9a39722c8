"""The ``together`` SDK 3.x with generated arguments against the simulator, judged by the spec.

One in-process simulator (instant clock) serves the whole module; each SDK call's requests and
answers are recorded under the client and held to the spec by ``contracts.client_fuzz``: valid
requests accepted or refused for a business reason, invalid ones refused as 400 naming the
field, every answer in its documented schema, and the SDK never failing on a valid answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from contracts.client_fuzz import RecordingTransport, call_sdk, judge, judge_call
from contracts.fuzz_arguments import (
    JOB_CALLS,
    chat_arguments,
    fine_tune_arguments,
    training_rows,
    unknown_job_ids,
)
from contracts.spec_oracle import SpecOracle, spec_oracle
from mock_server.testing.in_process import Simulator, simulator_settings

pytest.importorskip("together")

from together import Together

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ROWS = [
    [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}] for i in "abc"
]
CHAT = "\n".join(json.dumps({"messages": row}) for row in ROWS)


@dataclass
class Fuzzed:
    """The module's simulator, the SDK on it, what it records, and ids the tests reuse."""

    sim: Simulator
    client: Together
    recorder: RecordingTransport
    oracle: SpecOracle
    training_file: str
    job: str
    model_output: str
    tmp: Path


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    tmp = tmp_path_factory.mktemp("client-fuzz")
    settings = simulator_settings(tmp / "data", clock="instant")
    with (
        Simulator(settings) as sim,
        httpx.Client(transport=RecordingTransport(sim.transport)) as http,
    ):
        recorder = http._transport
        assert isinstance(recorder, RecordingTransport)
        client = sim.client(http_client=http)
        data = tmp / "train.jsonl"
        data.write_text(CHAT + "\n")
        training_file = client.files.upload(data, purpose="fine-tune").id
        job = client.fine_tuning.create(training_file=training_file, model=MODEL, lora=True)
        done = client.fine_tuning.retrieve(job.id)
        assert done.status == "completed" and done.x_model_output_name
        recorder.take()
        yield Fuzzed(
            sim,
            client,
            recorder,
            spec_oracle(),
            training_file,
            job.id,
            done.x_model_output_name,
            tmp,
        )


def _sdk_create_arguments(drawn: dict[str, Any], fuzzed: Fuzzed) -> dict[str, Any]:
    arguments = dict(drawn)
    if arguments.pop("with_validation", False):
        arguments["validation_file"] = fuzzed.training_file
    return {"training_file": fuzzed.training_file, "model": MODEL, **arguments}


@FUZZ
@given(drawn=fine_tune_arguments())
def test_generated_fine_tunes_are_judged_as_the_spec_says(
    fuzzed: Fuzzed, drawn: dict[str, Any]
) -> None:
    arguments = _sdk_create_arguments(drawn, fuzzed)
    outcome = call_sdk(fuzzed.recorder, lambda: fuzzed.client.fine_tuning.create(**arguments))
    assert judge_call(fuzzed.oracle, outcome, "post /fine-tunes") == []
    if outcome.error is None:
        job = outcome.result
        # What was accepted is what is stored: the job reads back as created.
        read = call_sdk(fuzzed.recorder, lambda: fuzzed.client.fine_tuning.retrieve(job.id))
        assert judge_call(fuzzed.oracle, read, "get /fine-tunes/{id}") == []
        assert read.result.id == job.id and read.result.training_file == fuzzed.training_file


def test_the_generated_fine_tunes_are_sometimes_accepted_and_sometimes_refused(
    fuzzed: Fuzzed,
) -> None:
    """The fuzzing above is not vacuous: the same strategy yields both kinds of request."""
    seen: set[str] = set()

    @FUZZ
    @given(drawn=fine_tune_arguments())
    def sample(drawn: dict[str, Any]) -> None:
        arguments = _sdk_create_arguments(drawn, fuzzed)
        outcome = call_sdk(fuzzed.recorder, lambda: fuzzed.client.fine_tuning.create(**arguments))
        seen.add("accepted" if outcome.error is None else type(outcome.error).__name__)

    sample()
    assert "accepted" in seen and len(seen) > 1, seen


@FUZZ
@given(
    known=st.booleans(),
    unknown=unknown_job_ids(),
    action=st.sampled_from(list(JOB_CALLS)),
)
def test_reads_and_cancels_of_known_and_unknown_jobs(
    fuzzed: Fuzzed, known: bool, unknown: str, action: str
) -> None:
    job_id = fuzzed.job if known else unknown
    call = getattr(fuzzed.client.fine_tuning, action)
    outcome = call_sdk(fuzzed.recorder, lambda: call(job_id))
    target = JOB_CALLS[action]
    assert judge_call(fuzzed.oracle, outcome, target) == []
    status = outcome.exchanges[-1].status
    if not known:
        assert status == 404
    elif action == "cancel":
        assert status == 400  # the job is completed: too late to cancel, said in the error body
    else:
        assert status == 200


@FUZZ
@given(data=st.data(), broken=st.booleans(), check=st.booleans())
def test_uploads_of_generated_jsonl(
    fuzzed: Fuzzed, data: st.DataObject, broken: bool, check: bool
) -> None:
    path = fuzzed.tmp / "upload.jsonl"
    path.write_bytes(data.draw(training_rows(broken=broken)))
    outcome = call_sdk(
        fuzzed.recorder, lambda: fuzzed.client.files.upload(path, purpose="fine-tune", check=check)
    )
    assert [p for e in outcome.exchanges for p in judge(fuzzed.oracle, e)] == []
    if broken and check:
        # 3.1.1 checks locally that each line is a JSON object, and sends nothing otherwise.
        assert outcome.exchanges == [] and outcome.error is not None
        return
    assert outcome.error is None, outcome.error
    assert [(e.method, e.status) for e in outcome.exchanges] == [
        ("POST", 302),
        ("PUT", 200),
        ("POST", 200),
    ]
    assert (outcome.result.processing_status == "INVALID_FORMAT") is broken


@FUZZ
@given(drawn=chat_arguments(), known=st.booleans())
def test_generated_chat_completions(fuzzed: Fuzzed, drawn: dict[str, Any], known: bool) -> None:
    model = fuzzed.model_output if known else "sim/no-such-model"
    outcome = call_sdk(
        fuzzed.recorder, lambda: fuzzed.client.chat.completions.create(model=model, **drawn)
    )
    assert judge_call(fuzzed.oracle, outcome, "chat-completions") == []
    if not known:  # refused for the model, unless another field was already wrong
        last = outcome.exchanges[-1]
        assert last.status == 404 or (last.status == 400 and last.error()["param"] != "model")


def test_the_recorder_catches_an_answer_that_breaks_the_spec(fuzzed: Fuzzed) -> None:
    """The judge is not lenient: a job whose ``status`` is outside the spec's enum is flagged,
    and so is a 200 to a request the spec calls invalid."""

    def bad_job(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "ft-1", "status": "exploded"}, request=request)

    recorder = RecordingTransport(httpx.MockTransport(bad_job))
    client = fuzzed.sim.client(http_client=httpx.Client(transport=recorder))
    outcome = call_sdk(recorder, lambda: client.fine_tuning.retrieve("ft-1"))
    assert any(
        "breaks the schema" in p for p in judge_call(fuzzed.oracle, outcome, "get /fine-tunes/{id}")
    )
    wizard: Any = [{"role": "wizard", "content": "x"}]  # no such role in the spec
    refused = call_sdk(recorder, lambda: client.chat.completions.create(model="m", messages=wizard))
    problems = judge_call(fuzzed.oracle, refused, "chat-completions")
    assert any("invalid per the spec" in p for p in problems), problems


def test_the_judge_does_not_lean_on_the_servers_own_validator(
    fuzzed: Fuzzed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The judge's oracle is not the code under test: with the simulator's schema validator made
    to accept everything, the simulator serves a request the spec forbids, and the judge still
    says so; a planted off-spec answer is still caught as well."""
    import mock_server.spec.validate as server_validation

    accept_all = Draft202012Validator({})
    monkeypatch.setattr(server_validation, "schema_validator", lambda *_, **__: accept_all)
    wizard: Any = [{"role": "wizard", "content": "x"}]
    outcome = call_sdk(
        fuzzed.recorder,
        lambda: fuzzed.client.chat.completions.create(model=fuzzed.model_output, messages=wizard),
    )
    assert outcome.exchanges[-1].status == 200  # the relaxed server let it through
    problems = judge_call(fuzzed.oracle, outcome, "chat-completions")
    assert any("invalid per the spec" in p for p in problems), problems

    def bad_job(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "ft-1", "status": "exploded"}, request=request)

    recorder = RecordingTransport(httpx.MockTransport(bad_job))
    client = fuzzed.sim.client(http_client=httpx.Client(transport=recorder))
    planted = call_sdk(recorder, lambda: client.fine_tuning.retrieve("ft-1"))
    found = judge_call(fuzzed.oracle, planted, "get /fine-tunes/{id}")
    assert any("breaks the schema" in p for p in found), found
