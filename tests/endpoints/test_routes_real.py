"""A dedicated endpoint serving a model trained for real (``--trainer real``): once STARTED, its
name answers with the trained stand-in plus adapter, in the inference worker, exactly as the job's
output name does (greedy generation, the same token counts), not with synthetic text.

The clock is manual, so the planned phases and the endpoint's start take no wall time; training
a couple of steps does (a worker starts in ~4 s), so the test waits on the runner, never a sleep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.fine_tuning.models import TERMINAL
from mock_server.inference.models import complete, prompt_text
from mock_server.settings import ClockMode, Settings
from tests.steps import advance, auth, create_job, jsonl, upload
from tests.training.rows import chat_rows

pytestmark = pytest.mark.train

QUESTION = [{"role": "user", "content": "What is the capital of Peru?"}]
STARTS = 60  # seconds of the manual clock until training is due (5 + 25 + 15 + 5 planned)


def _chat(client: TestClient, model: str) -> dict[str, Any]:
    body = {"model": model, "messages": QUESTION, "max_tokens": 8}
    answered = client.post("/v1/chat/completions", headers=auth(), json=body)
    assert answered.status_code == 200, answered.text
    reply: dict[str, Any] = answered.json()
    return reply


def test_an_endpoint_on_a_real_fine_tune_answers_with_the_trained_model(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        clock=ClockMode.manual,
        speed=1.0,
        api_keys=[],
        trainer="real",
        progress=False,
    )
    app = create_app(settings, clock=ManualClock())
    store, runner = app.state.services.store, app.state.services.real_training.runner()
    with TestClient(app) as client:
        train = upload(client, jsonl(chat_rows(16)))["id"]
        job = create_job(client, train, n_epochs=1, batch_size=8, packing=False)  # 2 steps
        advance(client, STARTS)
        assert runner.wait_for(lambda: store.find_job_anywhere(job["id"]).status in TERMINAL, 90)
        output = store.find_job_anywhere(job["id"]).model_output_name
        assert store.find_job_anywhere(job["id"]).status == "completed"

        created = client.post(
            "/v1/endpoints",
            headers=auth(),
            json={
                "model": output,
                "hardware": "1x_nvidia_h100_80gb_sxm",
                "autoscaling": {"min_replicas": 1, "max_replicas": 1},
            },
        ).json()
        advance(client, 60)
        served = _chat(client, created["name"])
        direct = _chat(client, output)

    assert served["model"] == created["name"]
    assert served["choices"] == direct["choices"]
    assert served["usage"] == direct["usage"]
    synthetic = complete(output, prompt_text(QUESTION), max_tokens=8, seed=None)
    assert served["choices"][0]["message"]["content"] != synthetic.text  # the trained model's
