"""The ``together`` SDK 1.5.35 with generated arguments on a live simulator, judged by the spec.

The sibling of ``test_client_fuzz`` for the hand-written 1.5.x line. It lives in ``.venv-v1``
(``make install``), so one driver process there runs every call (``contracts.client_fuzz_v1``)
while hypothesis draws and shrinks here; each call's exchanges come back and are held to the spec
by the same judge as 3.x's, and the SDK's side by 1.5.x's own error classes: a valid answer never
makes it fail, an error status makes it raise the class it maps that status to. One server
(instant clock) and one driver serve the whole module.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.client_fuzz import CallOutcome, judge, judge_call
from contracts.client_fuzz_v1 import (
    V1_EVENT_TYPES,
    RaisedInDriver,
    V1Driver,
    as_the_spec_reads,
    fine_tune_arguments_1x,
    status_error_1x,
)
from contracts.fuzz_arguments import JOB_CALLS, chat_arguments, training_rows, unknown_job_ids
from contracts.spec_oracle import SpecOracle, spec_oracle
from mock_server.testing.in_process import simulator_settings
from mock_server.testing.live import serve_in_thread

V1_PYTHON = Path(__file__).resolve().parents[2] / ".venv-v1" / "bin" / "python"
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not V1_PYTHON.exists(),
        reason=f"SDK 1.5.35 is not installed in {V1_PYTHON.parents[1]} (`make install` creates it)",
    ),
]

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CHAT = "".join(
    json.dumps(
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "a"}]}
    )
    + "\n"
    for q in ("qa", "qb", "qc")
)


@dataclass
class Fuzzed:
    """The module's driver, the spec's operations, and ids the tests reuse."""

    driver: V1Driver
    oracle: SpecOracle
    training_file: str
    job: str
    model_output: str
    tmp: Path

    def judged(self, outcome: CallOutcome, target: str) -> list[str]:
        seen = replace(outcome, exchanges=[as_the_spec_reads(e) for e in outcome.exchanges])
        return judge_call(self.oracle, seen, target, status_error=status_error_1x)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    tmp = tmp_path_factory.mktemp("client-fuzz-v1")
    with serve_in_thread(simulator_settings(tmp / "data", clock="instant")) as sim:
        driver = V1Driver(V1_PYTHON, sim.v1_base_url, sim.api_key, stderr=tmp / "driver.log")
        try:
            data = tmp / "train.jsonl"
            data.write_text(CHAT)
            upload = driver.call("files.upload", file=str(data), purpose="fine-tune", check=True)
            assert upload.error is None, upload.error
            training_file = upload.result["id"]
            job = driver.call("fine_tuning.create", training_file=training_file, model=MODEL)
            assert job.error is None, job.error
            done = driver.call("fine_tuning.retrieve", id=job.result["id"])
            assert done.result["status"] == "completed" and done.result["output_name"]
            yield Fuzzed(
                driver,
                spec_oracle(),
                training_file,
                job.result["id"],
                done.result["output_name"],
                tmp,
            )
        finally:
            driver.close()


def _create_arguments(drawn: dict[str, Any], fuzzed: Fuzzed) -> dict[str, Any]:
    arguments = dict(drawn)
    if arguments.pop("with_validation", False):
        arguments["validation_file"] = fuzzed.training_file
    start = (
        {"model": MODEL} if arguments.pop("start") == "model" else {"from_checkpoint": fuzzed.job}
    )
    return {"training_file": fuzzed.training_file, **start, **arguments}


@FUZZ
@given(drawn=fine_tune_arguments_1x())
def test_generated_fine_tunes_are_judged_as_the_spec_says(
    fuzzed: Fuzzed, drawn: dict[str, Any]
) -> None:
    arguments = _create_arguments(drawn, fuzzed)
    outcome = fuzzed.driver.call("fine_tuning.create", **arguments)
    assert fuzzed.judged(outcome, "post /fine-tunes") == []
    if "from_checkpoint" in arguments:  # 1.5.x prices only jobs started from a model
        assert all(e.path != "/v1/fine-tunes/estimate-price" for e in outcome.exchanges)
    if outcome.error is None:
        # What was accepted is what is stored: the job reads back as created.
        read = fuzzed.driver.call("fine_tuning.retrieve", id=outcome.result["id"])
        assert fuzzed.judged(read, "get /fine-tunes/{id}") == []
        assert read.result["id"] == outcome.result["id"]
        assert read.result["training_file"] == fuzzed.training_file


def test_the_generated_fine_tunes_are_sometimes_accepted_and_sometimes_refused(
    fuzzed: Fuzzed,
) -> None:
    """The fuzzing above is not vacuous: the same strategy yields both kinds of request, and
    some are refused by the server, not only by the SDK's own checks."""
    seen: set[str] = set()

    @FUZZ
    @given(drawn=fine_tune_arguments_1x())
    def sample(drawn: dict[str, Any]) -> None:
        outcome = fuzzed.driver.call("fine_tuning.create", **_create_arguments(drawn, fuzzed))
        if outcome.error is None:
            seen.add("accepted")
        elif isinstance(outcome.error, RaisedInDriver) and outcome.error.http_status:
            seen.add(f"refused {outcome.error.http_status}")
        else:
            seen.add("refused by the SDK")

    sample()
    assert "accepted" in seen and "refused 400" in seen and "refused by the SDK" in seen, seen


@FUZZ
@given(
    known=st.booleans(),
    unknown=unknown_job_ids(),
    action=st.sampled_from(list(JOB_CALLS)),
)
def test_reads_and_cancels_of_known_and_unknown_jobs(
    fuzzed: Fuzzed, known: bool, unknown: str, action: str
) -> None:
    outcome = fuzzed.driver.call(f"fine_tuning.{action}", id=fuzzed.job if known else unknown)
    target = JOB_CALLS[action]
    assert fuzzed.judged(outcome, target) == []
    status = outcome.exchanges[-1].status
    if not known:
        assert status == 404
    elif action == "cancel":
        assert status == 400  # the job is completed: too late to cancel, said in the error body
    else:
        assert status == 200
        if action == "list_events":  # the upper case 1.5.x's enum needs, judged as lower case
            assert outcome.result["data"][0]["type"] == "JOB_PENDING"


@FUZZ
@given(data=st.data(), broken=st.booleans(), check=st.booleans())
def test_uploads_of_generated_jsonl(
    fuzzed: Fuzzed, data: st.DataObject, broken: bool, check: bool
) -> None:
    path = fuzzed.tmp / "upload.jsonl"
    path.write_bytes(data.draw(training_rows(broken=broken)))
    outcome = fuzzed.driver.call("files.upload", file=str(path), purpose="fine-tune", check=check)
    assert [p for e in outcome.exchanges for p in judge(fuzzed.oracle, e)] == []
    if broken and check:
        # 1.5.x runs its full local format check first, and sends nothing when it fails.
        assert outcome.exchanges == []
        assert isinstance(outcome.error, RaisedInDriver) and outcome.error.name == "FileTypeError"
        return
    assert outcome.error is None, outcome.error
    # The 1.5.x flow: a form-encoded POST answered 302, the presigned PUT, then preprocess.
    assert [(e.method, e.status) for e in outcome.exchanges] == [
        ("POST", 302),
        ("PUT", 200),
        ("POST", 200),
    ]
    assert outcome.exchanges[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert outcome.exchanges[1].body == path.read_bytes()
    assert (outcome.result["processing_status"] == "INVALID_FORMAT") is broken


@FUZZ
@given(drawn=chat_arguments(), known=st.booleans())
def test_generated_chat_completions(fuzzed: Fuzzed, drawn: dict[str, Any], known: bool) -> None:
    model = fuzzed.model_output if known else "sim/no-such-model"
    outcome = fuzzed.driver.call("chat.completions.create", model=model, **drawn)
    assert fuzzed.judged(outcome, "chat-completions") == []
    if outcome.exchanges and not known:  # refused for the model, unless another field was wrong
        last = outcome.exchanges[-1]
        assert last.status == 404 or (last.status == 400 and last.error()["param"] != "model")


# What 1.5.35 raises for each status: ``APIRequestor.handle_error_response``, with 503 taken
# earlier by ``_interpret_response_line``.
@pytest.mark.parametrize(
    ("raised", "status", "mapped_to"),
    [
        ("InvalidRequestError", 404, "InvalidRequestError"),
        ("InvalidRequestError", 422, "InvalidRequestError"),
        ("RateLimitError", 429, "RateLimitError"),
        ("AuthenticationError", 401, "AuthenticationError"),
        ("APIError", 409, "APIError"),
        ("ServiceUnavailableError", 503, "ServiceUnavailableError"),
        ("APIError", 404, "InvalidRequestError"),
        ("InvalidRequestError", 500, "APIError"),
    ],
)
def test_the_judge_knows_which_class_1x_raises_for_each_status(
    raised: str, status: int, mapped_to: str
) -> None:
    error = RaisedInDriver(raised, [raised, "TogetherException", "Exception"], status, "refused")
    wrong = [] if raised == mapped_to else [f"{raised} for a {status} ({mapped_to})"]
    assert status_error_1x(error) == wrong
    # A failure that is no status error (the SDK's pydantic refusing an answer) is reported by
    # judge_call as a failure on the answer.
    assert status_error_1x(RaisedInDriver("ValidationError", ["ValidationError"], None, "")) is None


def test_the_1x_spelling_of_event_types_hides_nothing_else(fuzzed: Fuzzed) -> None:
    """Only the 1.5.x spelling of a spec event type is read back; an unknown type, or one sent
    to another client in upper case, still breaks the schema."""
    read = fuzzed.driver.call("fine_tuning.list_events", id=fuzzed.job)
    (answer,) = read.exchanges
    assert judge(fuzzed.oracle, as_the_spec_reads(answer)) == []
    assert judge(fuzzed.oracle, answer) != []  # the spelling itself is outside the spec
    body = json.loads(answer.content)
    body["data"][0]["type"] = "EXPLODED"
    unknown = replace(answer, content=json.dumps(body).encode())
    assert any("breaks the schema" in p for p in judge(fuzzed.oracle, as_the_spec_reads(unknown)))
    headers = answer.headers.copy()
    headers["user-agent"] = "Together/Python 3.1.1"
    to_3x = replace(answer, headers=headers)
    assert any("breaks the schema" in p for p in judge(fuzzed.oracle, as_the_spec_reads(to_3x)))


def test_the_judges_1x_event_spellings_are_the_sdks_own(tmp_path: Path) -> None:
    """``V1_EVENT_TYPES`` is transcribed from 1.5.35, not taken from the simulator; here it is
    read back from the installed SDK's own enum, and each type it names in lower case is one the
    spec lists (1.5.x knows two the spec does not)."""
    dump = (
        "import json\n"
        "from together.types.finetune import FinetuneEventType\n"
        "print(json.dumps({t.name: t.value for t in FinetuneEventType}))"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TOGETHER_NO_BANNER": "1"}
    done = subprocess.run(
        [str(V1_PYTHON), "-c", dump], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == V1_EVENT_TYPES
    spec_types = set(spec_oracle().at("/components/schemas/FinetuneEventType")["enum"])
    assert {name.lower() for name in V1_EVENT_TYPES} - spec_types == {
        "model_uploading_to_hf",
        "model_upload_to_hf_complete",
    }
