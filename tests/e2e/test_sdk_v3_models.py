"""SDK 3.1.1's model registry and dataset views, unchanged, against a live simulator on the instant
clock (a create answers the first state, the next read the last), and its CLI as a subprocess.

The project comes from ``client.whoami()``, as a 3.x user finds it (the CLI looks it up itself):
``client.models`` is project-scoped. A fine-tune's output is one of the project's models, with its
base's LoRA config; a registered model gets its files from a remote upload; the catalogue,
instance types, the preview of an uploaded file, the tokenized dataset and the queue's clear are
what ``client.models``, ``client.endpoints.hardware``, ``client.fine_tuning`` and
``client.beta.jig.queue`` send.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from together import NotFoundError, Together
from together.types import WhoamiProjectAPIKey

from tests.e2e.conftest import QUICKSTART, write_jsonl

pytestmark = pytest.mark.e2e

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@pytest.fixture
def client(instant_server: Any, api_key: str) -> Iterator[Together]:
    with Together(api_key=api_key, base_url=instant_server.root, max_retries=0) as anonymous:
        identity = anonymous.whoami()
    assert isinstance(identity, WhoamiProjectAPIKey)
    project = identity.project.id
    with Together(
        api_key=api_key, base_url=instant_server.root, max_retries=0, project_id=project
    ) as together:
        yield together


@pytest.fixture
def training_file(client: Together, tmp_path: Path) -> str:
    path = write_jsonl(tmp_path / "training_data.jsonl", QUICKSTART * 4)
    return client.files.upload(path, purpose="fine-tune", check=True).id


def test_sdk_3_lists_a_fine_tunes_output_with_its_files_and_lora_config(
    client: Together, training_file: str
) -> None:
    job = client.fine_tuning.create(training_file=training_file, model=MODEL, lora=True)
    assert client.fine_tuning.retrieve(job.id).status == "completed"
    [output] = list(client.models.list())
    assert (output.name, output.weights.type) == (job.output_name, "WEIGHTS_TYPE_ADAPTER")
    [base] = [m for m in client.models.list_supported(search=MODEL) if m.name == MODEL]
    assert output.base_model_id == base.id
    files = client.models.list_files(output.id)
    assert [f.path for f in files.data] == ["adapter_config.json", "adapter_model.safetensors"]
    assert [r.revision_id for r in client.models.list_revisions(output.id).data] == [
        files.revision_id
    ]
    [config] = client.models.configs.list(reference_model_id=output.id).data
    selectors = {s.key: s.value for s in config.selectors}
    assert selectors["adapter_mode"] == "dynamic"
    instance = f"{selectors['accelerator_count']}x{selectors['accelerator_type']}"
    assert instance in [t.name for t in client.endpoints.hardware.list().data]
    assert client.models.configs.retrieve(config.id, project_id=config.project_id).id == config.id


def test_sdk_3_registers_a_model_and_imports_its_files(client: Together) -> None:
    [base] = client.models.list_supported(product="PRODUCT_FINE_TUNING", limit=1).data
    model = client.models.create(name="my-adapter", type="adapter", base_model_id=base.id)
    upload = client.models.remote_uploads.create(
        model_id=model.id, remote_url="https://huggingface.co/me/my-adapter", token="hf_x"
    )
    assert upload.status == "REMOTE_UPLOAD_STATUS_PENDING"
    assert client.models.remote_uploads.retrieve(upload.id).status == (
        "REMOTE_UPLOAD_STATUS_SUCCEEDED"
    )
    events = client.models.remote_uploads.events(upload.id)
    assert [e.type for e in events.data][-1] == "revision.created"
    assert len(client.models.list_revisions(model.id).data) == 1
    changed = client.models.update(model.id, description="mine", update_mask="description")
    assert (changed.name, changed.description) == ("sim-user/my-adapter", "mine")
    client.models.update(model.id, visibility="VISIBILITY_INTERNAL", update_mask="visibility")
    shared = client.models.list_org_scoped(model.organization_id)
    assert [m.id for m in shared] == [model.id]
    client.models.delete(model.id)
    with pytest.raises(NotFoundError):
        client.models.retrieve(model.id)


def test_sdk_3_previews_a_file_and_downloads_a_jobs_tokenized_dataset(
    client: Together, training_file: str
) -> None:
    preview = client.fine_tuning.preview(model=MODEL, training_file=training_file, top_k=2)
    assert (preview.dataset_format, len(preview.rows)) == ("conversation", 2)
    assert preview.rows[0].num_trained_tokens < preview.rows[0].num_tokens
    job = client.fine_tuning.create(training_file=training_file, model=MODEL, lora=True)
    client.fine_tuning.retrieve(job.id)
    dataset = client.fine_tuning.retrieve_tokenized_dataset(job.id)
    served = httpx.get(dataset.url)
    assert (served.status_code, len(served.content)) == (200, dataset.size)


def test_sdk_3_clears_the_jobs_waiting_in_a_models_queue(manual_server: Any, api_key: str) -> None:
    with Together(api_key=api_key, base_url=manual_server.root, max_retries=0) as together:
        queue = together.beta.jig.queue
        jobs = [queue.submit(model="my-deployment", payload={"n": i}) for i in range(3)]
        assert queue.clear(model="my-deployment").canceled_count == 2  # the first one runs
        states = [
            queue.retrieve(request_id=job.request_id, model="my-deployment").status for job in jobs
        ]
    assert states == ["running", "canceled", "canceled"]


def test_the_3x_cli_lists_models_and_previews_a_file(tg: Any, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "training_data.jsonl", QUICKSTART)
    uploaded = tg("files", "upload", str(data))
    preview = tg("fine-tuning", "preview", "-t", uploaded["id"], "-M", MODEL, "--top-k", "1")
    assert (preview["model"], len(preview["rows"])) == (MODEL, 1)
    public = tg("models", "public", "--search", "Qwen3-8B")
    assert [m["name"] for m in public["data"]] == ["Qwen/Qwen3-8B"]
    assert tg("models", "ls")["data"] == []
