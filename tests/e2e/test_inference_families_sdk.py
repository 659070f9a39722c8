"""The other API families through the real ``together`` 3.1.1 SDK against a live simulator:
a batch from upload to downloaded results (and a cancel), embeddings, rerank, images, speech,
transcription and voices, each called the way Together's docs call it."""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from together import Together

pytestmark = pytest.mark.e2e

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@pytest.fixture
def client(manual_server: Any, api_key: str) -> Iterator[Together]:
    with Together(api_key=api_key, base_url=manual_server.root) as together:
        yield together


def _batch_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "batch_input.jsonl"
    rows = [
        {"custom_id": f"request-{i}", "body": {"model": MODEL, "max_tokens": 50,
                                             "messages": [{"role": "user", "content": f"Q{i}"}]}}
        for i in range(count)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_sdk_3_runs_a_batch_from_upload_to_downloaded_results(
    client: Together, manual_server: Any, tmp_path: Path
) -> None:
    upload = client.files.upload(_batch_file(tmp_path, 3), purpose="batch-api", check=False)
    created = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions")
    assert created.job is not None and created.job.id is not None
    assert created.job.status == "VALIDATING"
    manual_server.advance(10 + 3 * 0.5)
    batch = client.batches.retrieve(created.job.id)
    assert (batch.status, batch.progress, batch.x_model_id) == ("COMPLETED", 100.0, MODEL)
    assert [b.id for b in client.batches.list()] == [batch.id]
    assert batch.output_file_id is not None
    lines = client.files.content(batch.output_file_id).read().decode().splitlines()
    assert [json.loads(line)["custom_id"] for line in lines] == [f"request-{i}" for i in range(3)]


def test_sdk_3_cancels_a_running_batch(
    client: Together, manual_server: Any, tmp_path: Path
) -> None:
    upload = client.files.upload(_batch_file(tmp_path, 10), purpose="batch-api", check=False)
    created = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions")
    assert created.job is not None and created.job.id is not None
    manual_server.advance(12)
    cancelled = client.batches.cancel(created.job.id)
    assert (cancelled.status, cancelled.progress) == ("CANCELLED", 40.0)


def test_sdk_3_embeds_reranks_and_draws(client: Together) -> None:
    embedded = client.embeddings.create(model="BAAI/bge-large-en-v1.5", input="New York City")
    assert len(embedded.data[0].embedding) == 1024
    ranked = client.rerank.create(
        model="Salesforce/Llama-Rank-v1",
        query="What animals can I find near Peru?",
        documents=["The llama lives in Peru.", "The panda lives in China."],
        top_n=1,
    )
    assert [r.index for r in ranked.results] == [0]
    image = client.images.generate(
        model="black-forest-labs/FLUX.1-schnell", prompt="cat", steps=4, width=256, height=256
    )
    url = image.data[0].url  # type: ignore[union-attr]
    assert httpx.get(url).content[:2] == b"\xff\xd8"


def test_sdk_3_speaks_transcribes_and_lists_voices(client: Together, tmp_path: Path) -> None:
    speech = client.audio.speech.create(
        model="canopylabs/orpheus-3b-0.1-ft", input="Today is a wonderful day.", voice="tara"
    )
    path = tmp_path / "speech.wav"
    speech.write_to_file(path)
    with wave.open(str(path)) as wav:
        assert wav.getnframes() / wav.getframerate() > 1.0
    with path.open("rb") as audio:
        transcript = client.audio.transcriptions.create(
            file=audio, model="openai/whisper-large-v3", response_format="verbose_json"
        )
    assert transcript.text.startswith("Simulated transcript of")
    voices = client.audio.voices.list()
    assert "tara" in {v.name for m in voices.data for v in m.voices}
