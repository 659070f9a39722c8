"""The issue's "done when": a job trained for real through the unchanged ``together`` SDK 3.1.1
downloads as a working peft adapter and answers chat through the simulator.

The server runs with ``trainer="real"`` on the instant clock: the planned phases take no time, the
training itself a few seconds (a worker process starts, then trains the micro stand-in). The test
polls as a user would, then loads the downloaded adapter onto the downloaded stand-in base with
``PeftModel.from_pretrained`` and checks that it answers exactly as the server's chat does, and
differently from the base alone.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import httpx
import zstandard
from together import Together

from tests.e2e.conftest import write_jsonl
from tests.training.rows import chat_rows

pytestmark = [pytest.mark.e2e, pytest.mark.train]

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
QUESTION = [{"role": "user", "content": "What is the capital of Peru?"}]


@pytest.fixture
def client(real_server: Any, api_key: str) -> Iterator[Together]:
    with Together(api_key=api_key, base_url=real_server.root) as together:
        yield together


def _extract(blob: bytes, into: Path) -> Path:
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        tar.extractall(into, filter="data")
    return into


def _poll(client: Together, job_id: str, timeout: float = 120) -> Any:
    """What a user does: retrieve until the job ends (the one wait that needs wall time)."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.retrieve(job_id)
        if job.status in ("completed", "error", "user_error", "cancelled"):
            return job
        assert time.monotonic() < deadline, f"still {job.status} at step {job.steps_completed}"
        time.sleep(0.25)


def test_a_real_job_trains_downloads_as_a_peft_adapter_and_answers_chat(
    client: Together, real_server: Any, tmp_path: Path
) -> None:
    from peft import PeftModel

    from mock_server.training import chat, models

    path = write_jsonl(tmp_path / "capitals.jsonl", chat_rows(64))
    training_file = client.files.upload(path, purpose="fine-tune", check=True).id
    job = client.fine_tuning.create(
        training_file=training_file,
        model=MODEL,
        n_epochs=8,
        n_checkpoints=2,
        batch_size=8,
        packing=False,
        learning_rate=1e-5,
        train_on_inputs="auto",
        lora=True,
        suffix="real",
    )

    done = _poll(client, job.id)
    assert done.status == "completed", [e.message for e in done.events or []][-3:]
    assert (done.total_steps, done.steps_completed) == (64, 64)

    events = client.fine_tuning.list_events(job.id).data
    start = next(e for e in events if e.type == "training_start")
    assert re.search(r" on (cpu \(float32, \d+ threads?\)|cuda)", start.message), start.message
    assert [e.step for e in events if e.type == "epoch_complete"] == [8 * k for k in range(1, 9)]
    saved = [e for e in events if e.type == "checkpoint_save"]
    assert [e.step for e in saved] == [32]
    assert Path(saved[0].checkpoint_path, "adapter_model.safetensors").is_file()

    metrics = client.fine_tuning.list_metrics(job.id).metrics
    losses = [m["train/loss"] for m in metrics]
    assert len(losses) == 64
    assert mean(losses[-8:]) < mean(losses[:8]) - 1.0  # the loss falls (5.6 to 4.1 here)

    adapter = _extract(
        client.fine_tuning.content(ft_id=job.id, checkpoint="adapter").read(), tmp_path / "adapter"
    )
    assert sorted(p.name for p in adapter.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    base_archive = httpx.get(f"{real_server.root}/_sim/jobs/{job.id}/base", timeout=30)
    assert base_archive.status_code == 200
    base = _extract(base_archive.content, tmp_path / "base")

    model, _ = models.load_base(base)
    tuned = PeftModel.from_pretrained(model, adapter)
    assert tuned.peft_config["default"].r == 64  # the job's LoRA rank, through the download

    reply = client.chat.completions.create(
        model=done.x_model_output_name, messages=QUESTION, max_tokens=16
    )
    answer = reply.choices[0].message.content
    # The downloaded adapter on the downloaded base answers exactly as the server did ...
    local = chat.generate(base, adapter, QUESTION, max_new_tokens=16)
    assert answer == local.text
    assert reply.usage.prompt_tokens == local.prompt_tokens
    assert reply.usage.completion_tokens == local.completion_tokens
    # ... and the base alone does not: the training changed the model.
    assert answer != chat.generate(base, None, QUESTION, max_new_tokens=16).text
    assert answer
