"""SDK 1.5.35 (the hand-written "v1" line) and its click CLI, unchanged, against a live simulator.

1.5.x and 3.x are both the package ``together``, so 1.5.35 lives in its own venv (``make
install`` creates ``.venv-v1``) and runs here as a subprocess: the scripts under ``v1/`` make the
calls and print JSON through the SDK's own strict pydantic models, and the tests assert on it.
The base URL is ROOT/v1: the 1.5.x paths are relative.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

REPO = Path(__file__).resolve().parents[2]
V1_BIN = REPO / ".venv-v1" / "bin"
SCRIPTS = Path(__file__).with_name("v1")
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (V1_BIN / "python").exists(),
        reason=f"SDK 1.5.35 is not installed in {V1_BIN.parent} (`make install` creates it)",
    ),
]

QUICKSTART_EVENTS = [
    "JOB_PENDING",
    "JOB_START",
    "MODEL_DOWNLOAD_COMPLETE",
    "TRAINING_DATA_DOWNLOAD_COMPLETE",
    "TRAINING_START",
    "EPOCH_COMPLETE",
    "EPOCH_COMPLETE",
    "EPOCH_COMPLETE",
    "TRAINING_COMPLETE",
    "MODEL_UPLOADING",
    "COMPRESSING_MODEL",
    "MODEL_COMPRESSION_COMPLETE",
    "MODEL_UPLOAD_COMPLETE",
    "JOB_COMPLETE",
]


def _run(
    command: list[str], server: Any, api_key: str | None, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    env = {**env, "TOGETHER_BASE_URL": server.v1}
    if api_key is not None:
        env["TOGETHER_API_KEY"] = api_key
    done = subprocess.run(
        command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done


def _script(
    name: str, *args: str, server: Any, api_key: str | None, env: dict[str, str], cwd: Path
) -> Any:
    command = [str(V1_BIN / "python"), str(SCRIPTS / f"{name}.py"), *args]
    return json.loads(_run(command, server, api_key, env, cwd).stdout)


def test_the_v1_sdk_runs_the_seed_workflow_end_to_end(
    instant_server, api_key, clean_env, quickstart_file, tmp_path
):
    target = tmp_path / "model.tar.zst"

    out = _script(
        "workflow", str(quickstart_file), str(target),
        server=instant_server, api_key=api_key, env=clean_env, cwd=tmp_path,
    )  # fmt: skip

    file_id, job_id = out["upload"]["id"], out["create"]["id"]
    assert (out["upload"]["processing_status"], out["upload"]["type"]) == ("COMPLETED", "jsonl")
    traffic = [(e.line, e.status) for e in instant_server.exchanges]
    assert traffic[:3] == [
        ("POST /v1/files", 302),
        (f"PUT /_uploads/{file_id}", 200),
        (f"POST /v1/files/{file_id}/preprocess", 200),
    ]
    assert instant_server.exchanges[0].headers["content-type"] == (
        "application/x-www-form-urlencoded"
    )

    create = out["create"]
    assert (create["status"], create["batch_size"], create["n_epochs"]) == ("pending", 8, 3)
    assert create["output_name"].startswith(
        "sim-user/Meta-Llama-3.1-8B-Instruct-Reference-test1_8b-"
    )
    assert out["retrieve"]["status"] == "completed"
    assert out["retrieve"]["output_name"] == create["output_name"]
    assert [e["type"] for e in out["events"]] == QUICKSTART_EVENTS
    assert [(c["type"], c["name"]) for c in out["checkpoints"]] == [
        ("Final Merged", job_id),
        ("Final Adapter", job_id),
    ]

    assert out["download"] == {
        "object": "local",
        "id": job_id,
        "checkpoint_step": None,
        "filename": str(target),
        "size": target.stat().st_size,
    }
    downloads = [e for e in instant_server.exchanges if e.path == "/v1/finetune/download"]
    assert [(e.query, e.headers.get("range"), e.status) for e in downloads] == [
        (f"ft_id={job_id}&checkpoint=merged", "bytes=0-1", 206),
        (f"ft_id={job_id}&checkpoint=merged", None, 200),
    ]
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(target.read_bytes())).read()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        assert "model.safetensors" in tar.getnames()

    choice = out["chat"]["choices"][0]
    assert (out["chat"]["object"], out["chat"]["model"]) == (
        "chat.completion",
        create["output_name"],
    )
    assert (choice["message"]["role"], choice["finish_reason"]) == ("assistant", "stop")
    assert out["list"] == [job_id]
    assert out["delete"]["message"] == f"Fine-tune job {job_id} deleted"
    assert ("DELETE /v1/fine-tunes/" + job_id, 200) == traffic[-1]
    assert instant_server.exchanges[-1].query == "force=false"


def test_the_v1_sdk_cancels_a_running_job(
    manual_server, api_key, clean_env, quickstart_file, tmp_path
):
    out = _script(
        "cancel", str(quickstart_file),
        server=manual_server, api_key=api_key, env=clean_env, cwd=tmp_path,
    )  # fmt: skip

    assert out == {
        "running": "running",
        "cancel": "cancel_requested",
        "final": "cancelled",
        "cancel_again": "InvalidRequestError: 400",
        "event_types": ["JOB_PENDING", "JOB_START", "CANCEL_REQUESTED", "JOB_STOPPED"],
    }


def test_the_v1_sdk_raises_its_own_errors_for_bad_input(
    keyed_server, clean_env, quickstart_file, tmp_path
):
    out = _script(
        "bad_input", str(quickstart_file),
        server=keyed_server, api_key=None, env=clean_env, cwd=tmp_path,
    )  # fmt: skip

    assert out["wrong_key_list"]["class"] == "AuthenticationError"
    assert out["wrong_key_list"]["http_status"] == 401
    assert out["wrong_key_upload"]["class"] == "AuthenticationError"
    assert out["unknown_file"]["class"] == "InvalidRequestError"
    assert out["unknown_file"]["http_status"] == 404
    assert "File file-does-not-exist not found" in out["unknown_file"]["message"]
    assert out["unknown_job"]["class"] == "InvalidRequestError"
    assert out["unknown_job"]["http_status"] == 404
    assert out["jobs_left"] == 0
    assert "POST /v1/fine-tunes" not in [e.line for e in keyed_server.exchanges]


@pytest.fixture
def together(instant_server, api_key, clean_env, tmp_path):
    """1.5.35's CLI against ``instant_server``: what it prints."""

    def run(*args: str) -> str:
        command = [
            str(V1_BIN / "together"), "--base-url", instant_server.v1, "--api-key", api_key, *args
        ]  # fmt: skip
        return _run(command, instant_server, None, clean_env, tmp_path).stdout

    return run


def test_the_v1_cli_uploads_creates_retrieves_and_lists_events(together, quickstart_file):
    uploaded = json.loads(together("files", "upload", str(quickstart_file)))
    created = together(
        "fine-tuning", "create", "--training-file", uploaded["id"], "--model", MODEL,
        "--lora", "--n-epochs", "3", "--suffix", "test1_8b", "-y",
    )  # fmt: skip
    match = re.search(r"Successfully submitted a fine-tuning job (ft-[0-9a-f-]+) at ", created)
    assert match is not None, created
    job_id = match.group(1)
    retrieved = together("fine-tuning", "retrieve", job_id)
    events = together("fine-tuning", "list-events", job_id)

    assert uploaded["processing_status"] == "COMPLETED"
    job, end = json.JSONDecoder().raw_decode(retrieved)
    assert (job["id"], job["status"], job["n_epochs"], job["suffix"]) == (
        job_id,
        "completed",
        3,
        "test1_8b",
    )
    assert retrieved[end:].strip() == "Status: completed, Progress: completed"
    # The table prints enum member names: the wire's COMPRESSING_MODEL is MODEL_COMPRESSING.
    names = [t.replace("COMPRESSING_MODEL", "MODEL_COMPRESSING") for t in QUICKSTART_EVENTS]
    assert re.findall(r"FinetuneEventType\.(\w+)", events) == names


def test_the_v1_cli_lists_a_job_at_its_price_in_dollars(
    together, instant_server, api_key, priced_file
):

    uploaded = json.loads(together("files", "upload", str(priced_file)))
    together(
        "fine-tuning", "create", "--training-file", uploaded["id"], "--model", MODEL,
        "--lora", "--n-epochs", "3", "-y",
    )  # fmt: skip
    listed = together("fine-tuning", "list")
    estimate = httpx.post(
        f"{instant_server.v1}/fine-tunes/estimate-price",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"training_file": uploaded["id"], "model": MODEL, "n_epochs": 3},
    ).json()

    # The 1.5.x table prints the dollars unrounded: "$" + str(total_price / 10**9).
    assert re.findall(r"\$([0-9.e-]+)", listed) == [str(estimate["estimated_total_price"])]
    assert estimate["estimated_total_price"] >= 0.01


def test_the_v1_cli_cancels_a_job_it_just_created_on_the_instant_clock(together, quickstart_file):
    uploaded = json.loads(together("files", "upload", str(quickstart_file)))
    created = together(
        "fine-tuning", "create", "--training-file", uploaded["id"], "--model", MODEL,
        "--lora", "-y",
    )  # fmt: skip
    match = re.search(r"Successfully submitted a fine-tuning job (ft-[0-9a-f-]+) at ", created)
    assert match is not None, created
    cancelled = json.loads(together("fine-tuning", "cancel", match.group(1), "--quiet"))
    retrieved = together("fine-tuning", "retrieve", match.group(1))

    assert cancelled["status"] == "cancel_requested"
    assert "\nStatus: cancelled," in retrieved
