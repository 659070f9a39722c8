"""The 3.1.1 CLI (``together``, cyclopts), unchanged, as a subprocess against a live simulator.

It is found next to ``sys.executable`` and run in an environment built from nothing (see the
``clean_env`` fixture), so no stored credentials, telemetry, version check or AI-agent detection
changes what it does. ``TOGETHER_BASE_URL`` is the server ROOT, as for the 3.x SDK. The CLI
calls ``GET /v3/whoami`` before each command. ``--json`` is passed wherever the CLI has it;
``fine-tuning create`` prints text whatever it is given, so the job id is read from that text.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard
from together import Together

pytestmark = pytest.mark.e2e

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
CLI = Path(sys.executable).with_name("together")


@pytest.fixture
def tg(manual_server, api_key, clean_env, tmp_path):
    env = {**clean_env, "TOGETHER_BASE_URL": manual_server.root, "TOGETHER_API_KEY": api_key}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(CLI), *args],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode == 0) is ok, (done.returncode, done.stdout, done.stderr)
        return done

    return run


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def test_the_cli_checks_uploads_trains_monitors_downloads_and_deletes(
    tg, manual_server, quickstart_file, tmp_path
):
    report = _json(tg("files", "check", str(quickstart_file), "--json"))
    assert (report["is_check_passed"], report["num_samples"]) == (True, 2)

    uploaded = _json(tg("files", "upload", str(quickstart_file), "--json"))
    assert (uploaded["filename"], uploaded["processing_status"]) == (
        "training_data.jsonl",
        "COMPLETED",
    )

    created = tg(
        "fine-tuning", "create",
        "--training-file", uploaded["id"],
        "--model", MODEL,
        "--train-on-inputs", "auto",
        "--lora",
        "--n-epochs", "3",
        "--n-checkpoints", "1",
        "--warmup-ratio", "0",
        "--learning-rate", "1e-5",
        "--suffix", "test1_8b",
        "-y",
    )  # fmt: skip
    job_id = re.search(r"ft-[0-9a-f-]+", created.stdout).group(0)  # type: ignore[union-attr]
    manual_server.advance(164)

    job = _json(tg("fine-tuning", "retrieve", job_id, "--json"))
    assert (job["id"], job["status"], job["n_epochs"], job["suffix"]) == (
        job_id,
        "completed",
        3,
        "test1_8b",
    )
    # The CLI turns --lora with the default learning rate 1e-5 into 1e-3 before sending it.
    assert job["learning_rate"] == 0.001
    assert job["training_type"] == {
        "type": "Lora",
        "lora_r": 64,
        "lora_alpha": 128,
        "lora_dropout": 0.0,
        "lora_trainable_modules": "all-linear",
    }

    events = _json(tg("fine-tuning", "list-events", job_id, "--json"))
    assert [e["type"] for e in events][:2] == ["job_pending", "job_start"]
    assert [e["type"] for e in events][-2:] == ["model_upload_complete", "job_complete"]
    assert len(events) == 14

    checkpoints = _json(tg("fine-tuning", "list-checkpoints", job_id, "--json"))
    assert [(c["checkpoint_type"], c["step"]) for c in checkpoints] == [
        ("Final Merged", 3),
        ("Final Adapter", 3),
    ]

    target = tmp_path / "model.tar.zst"
    before = len(manual_server.exchanges)
    saved = _json(tg("fine-tuning", "download", job_id, "-o", str(target), "--json"))
    assert saved == {
        "object": "local",
        "id": job_id,
        "filename": str(target),
        "size": target.stat().st_size,
    }
    downloads = [e for e in manual_server.exchanges[before:] if e.path == "/v1/finetune/download"]
    assert [(e.query, e.headers.get("range"), e.status) for e in downloads] == [
        (f"ft_id={job_id}&checkpoint=merged", "bytes=0-1", 206),  # the size probe
        (f"ft_id={job_id}&checkpoint=merged", None, 200),
    ]
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(target.read_bytes())).read()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        assert sorted(tar.getnames()) == [
            "README.md",
            "config.json",
            "generation_config.json",
            "model.safetensors",
        ]

    deleted = _json(tg("fine-tuning", "delete", job_id, "--force", "--json"))
    assert deleted["message"] == f"Fine-tune job {job_id} deleted"
    file_id, job_path = uploaded["id"], f"/v1/fine-tunes/{job_id}"
    assert [e.line for e in manual_server.exchanges] == [
        "GET /v3/whoami",  # files check: the account lookup, even for a local command
        "GET /v3/whoami",
        "POST /v1/files",
        f"PUT /_uploads/{file_id}",
        f"POST /v1/files/{file_id}/preprocess",
        "GET /v3/whoami",
        "GET /v1/fine-tunes/models/limits",  # create asks limits and price twice
        "POST /v1/fine-tunes/estimate-price",
        "GET /v1/fine-tunes/models/limits",
        "POST /v1/fine-tunes/estimate-price",
        "POST /v1/fine-tunes",
        "GET /v3/whoami",
        f"GET {job_path}",
        "GET /v3/whoami",
        f"GET {job_path}/events",
        "GET /v3/whoami",
        f"GET {job_path}/checkpoints",
        "GET /v3/whoami",
        f"GET {job_path}",
        "GET /v1/finetune/download",
        "GET /v1/finetune/download",
        "GET /v3/whoami",
        f"DELETE {job_path}",
    ]


def test_the_cli_cancels_a_running_job(tg, manual_server, api_key, quickstart_file):
    with Together(api_key=api_key, base_url=manual_server.root) as client:
        training_file = client.files.upload(quickstart_file, purpose="fine-tune").id
        job = client.fine_tuning.create(training_file=training_file, model=MODEL, lora=True)
        manual_server.advance(31)

        answer = _json(tg("fine-tuning", "cancel", job.id, "--json"))
        manual_server.advance(5)

        assert (answer["id"], answer["status"]) == (job.id, "cancel_requested")
        assert client.fine_tuning.retrieve(job.id).status == "cancelled"


def test_the_cli_check_fails_on_a_line_that_is_not_json(tg, tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\nnot json at all\n', encoding="utf-8")

    done = tg("files", "check", str(broken), "--json", ok=False)

    report = _json(done)
    assert (report["is_check_passed"], report["load_json"]) == (False, False)
    assert report["message"] == "Error parsing json payload. Unexpected format on line 2."


def test_the_cli_text_retrieve_plots_the_training_metrics(
    tg, manual_server, api_key, quickstart_file
):
    with Together(api_key=api_key, base_url=manual_server.root) as client:
        training_file = client.files.upload(quickstart_file, purpose="fine-tune").id
        job = client.fine_tuning.create(training_file=training_file, model=MODEL, lora=True)
    manual_server.advance(164)

    shown = tg("fine-tuning", "retrieve", job.id).stdout

    assert re.search(rf"^Job Id: +{job.id} *$", shown, re.MULTILINE)
    assert "Training metrics:" in shown
    assert "train/loss" in shown
    # The loss plot is sized to the terminal (COLUMNS=200) with ``resolution``, a parameter the
    # pinned spec does not list.
    metrics = [e for e in manual_server.exchanges if e.path.endswith("/metrics")]
    assert [(e.query, e.status) for e in metrics] == [("resolution=152", 200)]


def test_the_cli_lists_a_job_at_its_estimated_price_in_dollars(
    tg, manual_server, api_key, priced_file
):
    with Together(api_key=api_key, base_url=manual_server.root) as client:
        training_file = client.files.upload(priced_file, purpose="fine-tune").id
        estimate = client.fine_tuning.estimate_price(
            training_file=training_file, model=MODEL, n_epochs=3
        )
        job = client.fine_tuning.create(
            training_file=training_file, model=MODEL, lora=True, n_epochs=3
        )

    listed = tg("fine-tuning", "list").stdout

    dollars = estimate.estimated_total_price
    assert dollars is not None and dollars >= 0.01
    row = next(line for line in listed.splitlines() if job.id in line)
    assert f"${dollars:,.2f}" in row
    assert "$0.00" not in row
