"""The ``together`` 1.5.x SDK driven with generated arguments, judged by the same spec judge.

1.5.x cannot be imported beside 3.x (both are the package ``together``), so ``V1Driver`` runs
``v1_driver.py`` under the 1.5.x venv's interpreter, once, and sends it one call per generated
example; the driver records every exchange under ``requests``, and they come back here as the
``Exchange`` objects ``client_fuzz.judge`` holds to the spec. Hypothesis stays in this process, so
shrinking works as for 3.x. What differs for 1.5.x is here: its error classes (``status_error_1x``
passed to ``judge_call``), the arguments it takes differently (``fine_tune_arguments_1x``), and
the one place the simulator answers it outside the spec on purpose (``as_the_spec_reads``). Like
the judge, this module imports nothing from ``mock_server``: what 1.5.x expects is read from the
SDK, not from the simulator's idea of it.
"""

from __future__ import annotations

import base64
import json
import queue
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import httpx
from hypothesis import strategies as st

from contracts.client_fuzz import CallOutcome, Exchange
from contracts.fuzz_arguments import fine_tune_arguments, number_around

__all__ = [
    "DRIVER",
    "V1_EVENT_TYPES",
    "RaisedInDriver",
    "V1Driver",
    "as_the_spec_reads",
    "fine_tune_arguments_1x",
    "status_error_1x",
]

DRIVER = Path(__file__).with_name("v1_driver.py")


class RaisedInDriver(Exception):
    """An exception the SDK raised in the driver, as far as a JSON line can carry it."""

    def __init__(self, name: str, mro: list[str], http_status: int | None, message: str) -> None:
        super().__init__(f"{name}({http_status}): {message}")
        self.name = name
        self.mro = mro
        self.http_status = http_status


def _error_class_1x(status: int) -> str:
    """1.5.35's ``APIRequestor``: 503 is ServiceUnavailableError whatever the body, then
    ``handle_error_response``'s table, and APIError for every other status."""
    if status == 503:
        return "ServiceUnavailableError"
    if status == 429:
        return "RateLimitError"
    if status in (400, 403, 404, 415, 422):
        return "InvalidRequestError"
    if status == 401:
        return "AuthenticationError"
    return "APIError"


def status_error_1x(error: BaseException) -> list[str] | None:
    """The ``judge_call`` reading of a 1.5.x failure (see ``client_fuzz.StatusErrorCheck``)."""
    if not isinstance(error, RaisedInDriver) or "TogetherException" not in error.mro:
        return None
    status = error.http_status
    if status is None or 200 <= status < 300:
        return None  # not an error status: a failure on the answer, which judge_call reports
    expected = _error_class_1x(status)
    return [] if expected in error.mro else [f"{error.name} for a {status} ({expected})"]


def _exchange(wire: Mapping[str, Any]) -> Exchange:
    return Exchange(
        method=wire["method"],
        path=wire["path"],
        query=wire["query"],
        headers=httpx.Headers([tuple(pair) for pair in wire["headers"]]),
        body=base64.b64decode(wire["body"]),
        status=wire["status"],
        response_headers=httpx.Headers([tuple(pair) for pair in wire["response_headers"]]),
        content=base64.b64decode(wire["content"]),
    )


# together 1.5.35's ``FinetuneEventType`` (``together/types/finetune.py``), member name to the
# value it reads on the wire: the spec's event type is the member's name in lower case, and the
# value is that name but for ``MODEL_COMPRESSING``. Transcribed from the SDK, never taken from the
# simulator, so that a wrong spelling there is a finding of the judge and not its premise
# (``test_client_fuzz_v1`` checks the table against the installed SDK).
V1_EVENT_TYPES = {
    **{
        name: name
        for name in (
            "JOB_PENDING",
            "JOB_START",
            "JOB_STOPPED",
            "MODEL_DOWNLOADING",
            "MODEL_DOWNLOAD_COMPLETE",
            "TRAINING_DATA_DOWNLOADING",
            "TRAINING_DATA_DOWNLOAD_COMPLETE",
            "VALIDATION_DATA_DOWNLOADING",
            "VALIDATION_DATA_DOWNLOAD_COMPLETE",
            "WANDB_INIT",
            "TRAINING_START",
            "CHECKPOINT_SAVE",
            "BILLING_LIMIT",
            "EPOCH_COMPLETE",
            "EVAL_COMPLETE",
            "TRAINING_COMPLETE",
            "MODEL_COMPRESSION_COMPLETE",
            "MODEL_UPLOADING",
            "MODEL_UPLOAD_COMPLETE",
            "MODEL_UPLOADING_TO_HF",
            "MODEL_UPLOAD_TO_HF_COMPLETE",
            "JOB_COMPLETE",
            "JOB_ERROR",
            "JOB_USER_ERROR",
            "CANCEL_REQUESTED",
            "JOB_RESTARTED",
            "REFUND",
            "WARNING",
        )
    },
    "MODEL_COMPRESSING": "COMPRESSING_MODEL",
}
# The 1.5.x spelling of each event type back to the spec's.
_SPEC_EVENT_TYPE = {value: name.lower() for name, value in V1_EVENT_TYPES.items()}


def _spec_event_types(value: Any) -> Any:
    if isinstance(value, list):
        return [_spec_event_types(item) for item in value]
    if not isinstance(value, dict):
        return value
    event = value.get("object") == "fine-tune-event"
    return {
        key: _SPEC_EVENT_TYPE.get(item, item)
        if event and key == "type" and isinstance(item, str)
        else _spec_event_types(item)
        for key, item in value.items()
    }


def as_the_spec_reads(exchange: Exchange) -> Exchange:
    """The exchange of a 1.5.x call with the simulator's one deliberate answer outside the spec
    undone.

    1.5.x validates event types against an upper-case enum of its own (``V1_EVENT_TYPES``), so the
    simulator spells them its way to it, in the events list and in the ``events`` of a job, where
    the spec has lower case. Such an answer is judged with its event types spelt back as the
    spec's: any other departure from the schema, a type that is no 1.5.x spelling of a spec type,
    and an upper-case type sent to another client, are still found (and a lower-case type sent to
    1.5.x, which it cannot read, fails the SDK's call). 1.5.x is told by the User-Agent it sends,
    ``Together/v1 PythonBindings/<version>``."""
    from_1x = "PythonBindings" in exchange.headers.get("user-agent", "")
    media = exchange.response_headers.get("content-type", "").split(";")[0].strip()
    if not from_1x or media != "application/json" or not 200 <= exchange.status < 300:
        return exchange
    try:
        body = _spec_event_types(json.loads(exchange.content))
    except ValueError:
        return exchange  # not JSON after all: the judge says so
    return replace(exchange, content=json.dumps(body).encode())


class V1Driver:
    """The 1.5.x SDK in a process of its own, pointed at ``base_url`` (ROOT/v1) with ``api_key``.

    ``call("fine_tuning.create", training_file=...)`` runs one SDK call there and returns its
    ``CallOutcome``: the returned object dumped to JSON, or the exception as ``RaisedInDriver``,
    with every exchange the SDK made."""

    def __init__(
        self, python: Path, base_url: str, api_key: str, *, stderr: Path, timeout: float = 60
    ) -> None:
        self.timeout = timeout
        self.stderr_path = stderr
        self._stderr = stderr.open("w")
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(stderr.parent),
            "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "TOGETHER_API_KEY": api_key,
            "TOGETHER_BASE_URL": base_url,
            "TOGETHER_NO_BANNER": "1",
        }
        self._process = subprocess.Popen(
            [str(python), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            env=env,
        )
        # A reader thread, so that a hung or dead driver fails the call after ``timeout``
        # instead of blocking the test run.
        self._lines: queue.Queue[str] = queue.Queue()
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(self._process.stdout,), daemon=True
        )
        self._reader.start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output: the driver is gone

    def call(self, call: str, **kwargs: Any) -> CallOutcome:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"call": call, "kwargs": kwargs}) + "\n")
        self._process.stdin.flush()
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            line = ""
        if not line:
            raise RuntimeError(f"the 1.5.x driver gave no answer: {self._stderr_tail()}")
        answer = json.loads(line)
        outcome = CallOutcome(exchanges=[_exchange(e) for e in answer["exchanges"]])
        if "raised" in answer:
            raised = answer["raised"]
            outcome.error = RaisedInDriver(
                raised["name"], raised["mro"], raised["http_status"], raised["message"]
            )
        else:
            outcome.result = answer["returned"]
        return outcome

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=10)  # it ends at the driver's end of output
        assert self._process.stdout is not None
        self._process.stdout.close()
        self._stderr.close()


def fine_tune_arguments_1x() -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for 1.5.x's ``fine_tuning.create`` (training file and model or
    checkpoint left to the test, as for 3.x).

    The arguments the two lines share keep their names (``n_epochs``, ``lora_r``,
    ``train_on_inputs``, the DPO knobs), so ``fine_tune_arguments`` draws them. Drawn here are
    what 1.5.x does differently: ``lora`` left out means LoRA (3.x leaves it to the server), the
    scheduler and regularisation arguments it puts in the body, and ``from_checkpoint`` (the
    marker ``"start": "checkpoint"``), with which 1.5.x skips estimate-price and sends no model.
    """
    extra = st.fixed_dictionaries(
        {"start": st.sampled_from(["model", "checkpoint"])},
        optional={
            "lr_scheduler_type": st.sampled_from(["linear", "cosine"]),
            "min_lr_ratio": number_around(0.0, 1.0),
            "scheduler_num_cycles": number_around(0.1, 2.0),
            "max_grad_norm": number_around(0.0, 10.0),
            "weight_decay": number_around(0.0, 1.0),
        },
    )

    def merged(shared: dict[str, Any], own: dict[str, Any], default_lora: bool) -> dict[str, Any]:
        arguments = {**shared, **own}
        if default_lora:
            del arguments["lora"]
        return arguments

    return st.builds(merged, fine_tune_arguments(), extra, st.booleans())
