"""Real training behind the unchanged API (``--trainer real``): a worker process trains the tiny
stand-in on the uploaded file, and the job's events, metrics, checkpoints, downloads and chat are
the real run's. A job created ``from_checkpoint`` of it starts from its adapter. Also: cancel
stops the worker within a second, a killed worker ends the job in ``error``, unusable data in
``user_error``, a pre-tokenized Parquet file trains, and the server process never imports torch.

The clock is manual, so the planned phases (queue, start, downloads) take no wall time; the
training itself does (a worker starts in ~4 s and trains 18 steps in ~1 s), so these tests wait
on the runner (``TrainingRunner.wait_for``), never on a sleep.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import zstandard
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.fine_tuning.lr_schedule import Schedule
from mock_server.fine_tuning.models import TERMINAL
from mock_server.settings import ClockMode, Settings
from tests.steps import BASE_MODEL, advance, auth, create_job, jsonl, upload
from tests.training.rows import chat_rows

pytestmark = pytest.mark.train

QUESTION = [{"role": "user", "content": "What is the capital of Peru?"}]
STARTS = 60  # seconds of the manual clock until training is due (5 + 25 + 15 + 5 planned)


def _app(data_dir: Path) -> FastAPI:
    settings = Settings(
        data_dir=data_dir,
        clock=ClockMode.manual,
        speed=1.0,
        api_keys=[],
        trainer="real",
        progress=False,
        worker_threads=1,  # what the start event must show: the setting reached the worker
    )
    return create_app(settings, clock=ManualClock())


def _status(app: FastAPI, job_id: str) -> Any:
    return app.state.services.store.find_job_anywhere(job_id)


def _wait(app: FastAPI, job_id: str, done: Any, timeout: float = 90) -> Any:
    assert app.state.services.real_training.runner().wait_for(
        lambda: done(_status(app, job_id)), timeout
    )
    return _status(app, job_id)


def _untar_zst(blob: bytes) -> dict[str, bytes]:
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@dataclass
class Trained:
    app: FastAPI
    client: TestClient
    job: dict[str, Any]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """One real LoRA job, shared by the read-only tests below: 48 chat rows unpacked in batches of
    8 for 3 epochs (18 steps), two evaluations on a validation file, two checkpoints."""
    app = _app(tmp_path_factory.mktemp("real") / "data")
    with TestClient(app) as client:
        train = upload(client, jsonl(chat_rows(48)))["id"]
        valid = upload(client, jsonl(chat_rows(8, seed=1)), name="validation.jsonl")["id"]
        job = create_job(
            client,
            train,
            validation_file=valid,
            n_evals=2,
            n_checkpoints=2,
            n_epochs=3,
            batch_size=8,
            packing=False,
        )
        advance(client, STARTS)
        _wait(app, job["id"], lambda j: j.status in TERMINAL)
        done = client.get(f"/v1/fine-tunes/{job['id']}", headers=auth()).json()
        yield Trained(app, client, done)


def _get(t: Trained, path: str, **params: Any) -> Any:
    answer = t.client.get(path, headers=auth(), params=params)
    assert answer.status_code == 200, answer.text
    return answer


def test_a_real_job_completes_with_the_real_step_count(trained: Trained) -> None:
    job = trained.job
    assert job["status"] == "completed"
    assert (job["total_steps"], job["steps_completed"], job["epochs_completed"]) == (18, 18, 3)
    assert job["evals_completed"] == 2
    assert job["param_count"] < 2_000_000  # the micro stand-in, not the 8B model
    assert job["progress"] == {"estimate_available": False, "seconds_remaining": 0}


def test_its_events_follow_the_real_run_and_name_the_device(trained: Trained) -> None:
    events = trained.job["events"]
    assert [e["type"] for e in events] == [
        "job_pending",
        "job_start",
        "model_download_complete",
        "training_data_download_complete",
        "validation_data_download_complete",
        "warning",
        "warning",
        "training_start",
        "epoch_complete",
        "eval_complete",
        "checkpoint_save",
        "epoch_complete",
        "epoch_complete",
        "eval_complete",
        "training_complete",
        "model_uploading",
        "model_compressing",
        "model_compression_complete",
        "model_upload_complete",
        "job_complete",
    ]
    start = next(e for e in events if e["type"] == "training_start")
    assert re.fullmatch(
        rf"Training started for model {BASE_MODEL} "
        r"on (cpu \(float32, 1 thread\)|cuda\S* \(bfloat16\)), "
        r"'micro' stand-in: [\d,]+ of [\d,]+ parameters trainable, 18 steps",
        start["message"],
    )
    assert [e["step"] for e in events if e["type"] == "epoch_complete"] == [6, 12, 18]
    assert events[5]["message"].startswith("learning_rate 1e-05 is scaled by 300 to 0.003")
    assert re.fullmatch(
        r"max_seq_length 131072 is capped at (512 on cpu|2048 on cuda\S*)", events[6]["message"]
    )


def test_its_metrics_are_the_real_losses_and_the_schedules_rates(trained: Trained) -> None:
    metrics = _get(trained, f"/v1/fine-tunes/{trained.job['id']}/metrics").json()["metrics"]
    assert [m["train/global_step"] for m in metrics] == [float(s) for s in range(1, 19)]
    losses = [m["train/loss"] for m in metrics]
    assert mean(losses[-3:]) < mean(losses[:3]) - 0.5  # the loss falls
    schedule = Schedule(peak=3e-3, total_steps=18)  # linear, no warmup: the job's own schedule
    rates = [m["train/learning_rate"] for m in metrics]
    assert rates == pytest.approx([schedule.lr_at(s) for s in range(18)])
    assert [m["train/global_step"] for m in metrics if "eval/loss" in m] == [9.0, 18.0]


def test_its_checkpoints_are_real_folders(trained: Trained) -> None:
    listed = _get(trained, f"/v1/fine-tunes/{trained.job['id']}/checkpoints").json()["data"]
    assert [(c["step"], c["checkpoint_type"]) for c in listed] == [
        (18, "Final Merged"),
        (18, "Final Adapter"),
        (9, "Intermediate"),
    ]
    assert (Path(listed[2]["path"]) / "adapter_model.safetensors").is_file()
    assert (Path(listed[1]["path"]) / "adapter_config.json").is_file()


def test_the_adapter_downloads_as_a_peft_adapter(trained: Trained) -> None:
    blob = _get(trained, "/v1/finetune/download", ft_id=trained.job["id"], checkpoint="adapter")
    members = _untar_zst(blob.content)
    assert sorted(members) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    config = json.loads(members["adapter_config.json"])
    stand_in = trained.app.state.services.blobs.training_dir(trained.job["id"]) / "base"
    assert (config["base_model_name_or_path"], config["r"], config["lora_alpha"]) == (
        str(stand_in.resolve()),  # the 'micro' stand-in it trained on, not the 8B model
        64,
        128,
    )
    card = members["README.md"].decode()
    assert f"for\n`{BASE_MODEL}`, on the randomly initialised 'micro' stand-in" in card
    assert f"/_sim/jobs/{trained.job['id']}/base" in card


def test_the_downloaded_adapter_loads_offline_as_is_and_onto_the_served_base(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM

    job_id = trained.job["id"]
    blob = _get(trained, "/v1/finetune/download", ft_id=job_id, checkpoint="adapter")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for name, content in _untar_zst(blob.content).items():
        (adapter / name).write_bytes(content)
    base = tmp_path / "base"  # what the README says to fetch when not on this machine
    base.mkdir()
    served = trained.client.get(f"/_sim/jobs/{job_id}/base")
    for name, content in _untar_zst(served.content).items():
        (base / name).write_bytes(content)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)

    as_is = AutoPeftModelForCausalLM.from_pretrained(str(adapter))
    elsewhere = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("base"), "adapter")

    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        assert torch.equal(as_is(ids).logits, elsewhere(ids).logits)


def test_a_checkpoint_downloads_by_step_without_its_trainer_state(trained: Trained) -> None:
    blob = _get(trained, "/v1/finetune/download", ft_id=trained.job["id"], checkpoint_step=9)
    assert sorted(_untar_zst(blob.content)) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]


def test_the_merged_model_downloads_with_its_tokenizer(trained: Trained) -> None:
    blob = _get(trained, "/v1/finetune/download", ft_id=trained.job["id"], checkpoint="merged")
    members = _untar_zst(blob.content)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(members)


def test_chat_on_the_output_name_generates_with_the_trained_model(trained: Trained) -> None:
    from transformers import AutoTokenizer

    from mock_server.training.data import render_prompt

    body = {"model": trained.job["model_output_name"], "messages": QUESTION, "max_tokens": 12}
    first = trained.client.post("/v1/chat/completions", headers=auth(), json=body).json()
    again = trained.client.post("/v1/chat/completions", headers=auth(), json=body).json()
    assert first["choices"] == again["choices"]  # greedy
    base = Path(trained.app.state.services.store.data_dir) / "training" / trained.job["id"] / "base"
    tokenizer = AutoTokenizer.from_pretrained(base)
    prompt_tokens = len(tokenizer(render_prompt(QUESTION), add_special_tokens=False)["input_ids"])
    assert first["usage"]["prompt_tokens"] == prompt_tokens
    assert 1 <= first["usage"]["completion_tokens"] <= 12
    text = trained.client.post(
        "/v1/completions",
        headers=auth(),
        json={"model": trained.job["model_output_name"], "prompt": "The capital", "max_tokens": 5},
    ).json()
    assert text["usage"]["completion_tokens"] <= 5
    assert text["choices"][0]["finish_reason"] in ("stop", "length")


def test_a_job_from_its_checkpoint_starts_from_the_trained_adapter(trained: Trained) -> None:
    """Together's "continue training": same data, a new job from the parent's final adapter. Its
    first step starts where the parent ended, far below the parent's (a fresh run's) first."""
    parent = trained.job
    child = create_job(
        trained.client,
        parent["training_file"],
        model=None,
        from_checkpoint=parent["id"],
        lora_r=8,  # the parent's adapter has rank 64: the checkpoint decides
        n_epochs=1,
        batch_size=8,
        packing=False,
    )
    advance(trained.client, STARTS)
    done = _wait(trained.app, child["id"], lambda j: j.status in TERMINAL)
    assert done.status == "completed", done.failure_message
    first = [
        _get(trained, f"/v1/fine-tunes/{job_id}/metrics").json()["metrics"][0]["train/loss"]
        for job_id in (parent["id"], child["id"])
    ]
    assert first[1] < first[0] - 0.5
    events = _get(trained, f"/v1/fine-tunes/{child['id']}/events").json()["data"]
    messages = [e["message"] for e in events]
    assert any(
        m.startswith(f"Training started for model {BASE_MODEL} from checkpoint {parent['id']}:18")
        for m in messages
    )
    assert (
        f"the adapter of {parent['id']}:18 (lora_r 64, lora_alpha 128, modules all-linear) "
        "trains on: a checkpoint defines its adapter, so the asked lora_r 8, lora_alpha 16, "
        "modules all-linear are not used"
    ) in messages
    blob = _get(trained, "/v1/finetune/download", ft_id=child["id"], checkpoint="adapter")
    assert json.loads(_untar_zst(blob.content)["adapter_config.json"])["r"] == 64


# -- cancel, crash, bad data: each its own short-lived app ---------------------------------------


@pytest.fixture
def real_app(tmp_path: Path) -> Iterator[tuple[FastAPI, TestClient]]:
    app = _app(tmp_path / "data")
    with TestClient(app) as client:
        yield app, client


def _long_job(client: TestClient, rows: list[dict[str, Any]] | None = None, **fields: Any) -> str:
    """A job of 240 steps (several seconds): long enough to stop in the middle."""
    train = upload(client, jsonl(rows or chat_rows(96)))["id"]
    job = create_job(client, train, n_epochs=20, batch_size=8, packing=False, **fields)
    advance(client, STARTS)
    return str(job["id"])


def test_cancel_stops_the_worker_within_a_second(real_app: tuple[FastAPI, TestClient]) -> None:
    app, client = real_app
    job_id = _long_job(client)
    _wait(app, job_id, lambda j: j.steps_completed >= 2)
    asked = time.monotonic()
    cancelled = client.post(f"/v1/fine-tunes/{job_id}/cancel", headers=auth()).json()
    assert cancelled["status"] == "cancel_requested"
    job = _wait(app, job_id, lambda j: j.status in TERMINAL, timeout=10)
    assert time.monotonic() - asked < 1.0
    assert job.status == "cancelled"
    assert 2 <= job.steps_completed < job.total_steps == 240
    events = client.get(f"/v1/fine-tunes/{job_id}/events", headers=auth()).json()["data"]
    assert [e["type"] for e in events[-2:]] == ["cancel_requested", "job_stopped"]
    assert app.state.services.real_training.runner().wait_for(
        lambda: app.state.services.real_training.runner().worker_pid(job_id) is None, 5
    )


def test_a_killed_worker_ends_the_job_in_error_with_the_reason(
    real_app: tuple[FastAPI, TestClient],
) -> None:
    app, client = real_app
    job_id = _long_job(client)
    _wait(app, job_id, lambda j: j.steps_completed >= 1)
    os.kill(app.state.services.real_training.runner().worker_pid(job_id), signal.SIGKILL)
    job = _wait(app, job_id, lambda j: j.status in TERMINAL, timeout=10)
    assert job.status == "error"
    last = client.get(f"/v1/fine-tunes/{job_id}/events", headers=auth()).json()["data"][-1]
    assert (last["type"], last["level"]) == ("job_error", "error")
    assert last["message"] == "The training worker was killed by signal 9 before the job finished"


def test_data_with_nothing_to_train_on_ends_in_user_error(
    real_app: tuple[FastAPI, TestClient],
) -> None:
    app, client = real_app
    masked = [
        {"messages": [{"role": "user", "content": "Hi"}, {**m, "weight": 0}]}
        for m in (r["messages"][-1] for r in chat_rows(8))
    ]
    # weights make "auto" train on the user turns too; false trains on assistant turns only
    job_id = _long_job(client, masked, train_on_inputs=False)
    job = _wait(app, job_id, lambda j: j.status in TERMINAL)
    assert job.status == "user_error"
    assert job.failure_message == "Training failed: no training example has a token to train on"


def _token_rows(n: int) -> list[dict[str, Any]]:
    """Pre-tokenized rows as a user's Llama-3 tokenizer would give them: a prompt masked out by
    labels -100, an answer that depends on the prompt, and right padding the mask drops."""
    rows = []
    for i in range(n):
        a = i % 10
        answer = [60000 + (a * 7) % 10, 60010 + a, 128009]
        rows.append(
            {
                "input_ids": [128000, 50000 + a, 1234, *answer, 128001, 128001],
                "attention_mask": [1] * 6 + [0] * 2,
                "labels": [-100] * 3 + answer + [-100] * 2,
            }
        )
    return rows


def test_a_pre_tokenized_parquet_file_trains_and_its_loss_falls(
    real_app: tuple[FastAPI, TestClient],
) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    app, client = real_app
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(_token_rows(48)), buffer)
    train = upload(client, buffer.getvalue(), name="tokens.parquet", file_type="parquet")
    assert (train["processing_status"], train["FileType"]) == ("COMPLETED", "parquet")
    job = create_job(client, train["id"], n_epochs=4, batch_size=8)
    advance(client, STARTS)
    done = _wait(app, job["id"], lambda j: j.status in TERMINAL)
    assert (done.status, done.total_steps) == ("completed", 24), done.failure_message
    metrics = client.get(f"/v1/fine-tunes/{job['id']}/metrics", headers=auth()).json()["metrics"]
    losses = [m["train/loss"] for m in metrics]
    assert mean(losses[-3:]) < mean(losses[:3]) - 0.5
    events = client.get(f"/v1/fine-tunes/{job['id']}/events", headers=auth()).json()["data"]
    assert (
        f"the Parquet rows hold token ids of {BASE_MODEL}'s tokenizer, which the 'micro' "
        "stand-in lacks: it gets one embedding per distinct id (33, in id order, listed in "
        "base/token_ids.json); chat on the result cannot be read as text"
    ) in [e["message"] for e in events]


def test_the_server_process_never_imports_torch(tmp_path: Path) -> None:
    """A whole real job, chat included, in a fresh interpreter that then lists what it imported."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from fastapi.testclient import TestClient
        from mock_server.app import create_app
        from mock_server.settings import ClockMode, Settings
        from tests.steps import auth, create_job, jsonl, upload
        from tests.training.rows import chat_rows

        settings = Settings(data_dir={str(tmp_path / "data")!r}, clock=ClockMode.instant,
                            api_keys=[], trainer="real", progress=False)
        app = create_app(settings)
        with TestClient(app) as client:
            job = create_job(client, upload(client, jsonl(chat_rows(16)))["id"], packing=False)
            store = app.state.services.store
            assert app.state.services.real_training.runner().wait_for(
                lambda: store.find_job_anywhere(job["id"]).status == "completed", 90)
            name = store.find_job_anywhere(job["id"]).model_output_name
            body = {{"model": name, "messages": [{{"role": "user", "content": "Hi"}}]}}
            chat = client.post("/v1/chat/completions", headers=auth(), json=body)
            assert chat.status_code == 200, chat.text
        heavy = {{"torch", "transformers", "peft", "tokenizers", "safetensors"}}
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
        """
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
