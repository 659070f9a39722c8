"""The stateful families through the real SDK 3.1.1, against a live simulator on the instant clock
(a create answers the first state, the next read the last): the resources whose 3.1.1 methods
send the spec's paths and bodies.

- ``client.evals`` (``/v1/evaluation``), ``client.videos`` (``/v2/videos``, the spec's server for
  them), ``client.clusters`` and ``client.clusters.storage`` (``/v1/compute/...``), and
  ``client.beta.jig`` with its ``secrets``, ``volumes`` and ``queue`` (``/v1/deployments``,
  ``/v1/queue``) match the spec.
- ``client.post_training`` sends the spec's RL paths; its session create names a
  ``model_resources_id`` where the spec asks for ``base_model`` (given here in ``extra_body``),
  and its ``sample`` sends ``model_inputs`` where the spec has ``prompts`` (not used here).
- 3.1.1 has no code interpreter, no ``/v1/jobs`` and uploads models to the project-scoped v2 API,
  so those families are covered by the API tests only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from together import NotFoundError, Together

from tests.e2e.conftest import write_jsonl

pytestmark = pytest.mark.e2e

IMAGE = "registry.together.xyz/proj_abc/my-image:latest"
JUDGE = {"model": "Qwen/Qwen3.5-9B", "system_template": "Judge it", "model_source": "serverless"}


@pytest.fixture
def client(instant_server: Any, api_key: str) -> Iterator[Together]:
    with Together(api_key=api_key, base_url=instant_server.root, max_retries=0) as together:
        yield together


def test_sdk_3_runs_an_evaluation_to_its_results(client: Together, tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(4)]
    data = client.files.upload(
        write_jsonl(tmp_path / "eval.jsonl", rows), purpose="eval", check=False
    )
    parameters: Any = {
        "judge": JUDGE,
        "labels": ["good", "bad"],
        "pass_labels": ["good"],
        "input_data_file_path": data.id,
    }
    created = client.evals.create(type="classify", parameters=parameters)
    assert created.status == "pending"
    assert created.workflow_id is not None
    status = client.evals.status(created.workflow_id)
    assert status.status == "completed"
    assert status.results is not None
    job = client.evals.retrieve(created.workflow_id)
    assert [u.status for u in job.status_updates or []][-1] == "completed"
    assert [e.workflow_id for e in client.evals.list()] == [created.workflow_id]


def test_sdk_3_makes_a_video_and_downloads_it(client: Together) -> None:
    created = client.videos.create(model="google/veo-3.0", prompt="a cat on a skateboard")
    assert created.status == "in_progress"
    video = client.videos.retrieve(created.id)
    assert video.status == "completed"
    assert video.outputs is not None
    served = httpx.get(video.outputs.video_url)
    assert (served.status_code, served.headers["content-type"]) == (200, "video/mp4")


def test_sdk_3_deploys_on_jig_with_a_secret_and_a_volume(client: Together) -> None:
    jig = client.beta.jig
    jig.secrets.create(name="HF_TOKEN", value="hf_x")
    jig.volumes.create(
        name="weights", type="readOnly", content={"type": "files", "source_prefix": ""}
    )
    deployed = jig.deploy(
        name="my-app",
        gpu_type="h100-80gb",
        image=IMAGE,
        port=8080,
        environment_variables=[{"name": "HF_TOKEN", "value_from_secret": "HF_TOKEN"}],
        volumes=[{"name": "weights", "mount_path": "/data"}],
    )
    assert deployed.status == "Updating"
    assert jig.retrieve("my-app").status == "Ready"
    logs = jig.retrieve_logs("my-app")
    assert logs.lines is not None and logs.lines[-1].endswith("Ready")
    assert jig.update("my-app", min_replicas=2).status == "Scaling"
    assert [d.name for d in jig.list().data or []] == ["my-app"]
    assert jig.volumes.retrieve("weights").mounted_by == [deployed.id]
    jig.destroy("my-app")
    with pytest.raises(NotFoundError):
        jig.retrieve("my-app")
    assert [s.name for s in jig.secrets.list().data or []] == ["HF_TOKEN"]


def test_sdk_3_queues_jobs_and_reads_their_status_and_metrics(client: Together) -> None:
    queue = client.beta.jig.queue
    submitted = queue.submit(model="my-app", payload={"prompt": "a cat"}, priority=1)
    status = queue.retrieve(model="my-app", request_id=submitted.request_id)
    assert status.status == "done"
    metrics = queue.metrics(model="my-app")
    assert (metrics.messages_running, metrics.messages_waiting, metrics.total_jobs) == (0, 0, 0)


def test_sdk_3_creates_resizes_and_deletes_a_gpu_cluster(client: Together) -> None:
    regions = client.clusters.list_regions().regions
    assert "us-central-8" in [r.name for r in regions]
    volume = client.clusters.storage.create(region="us-central-8", size_tib=1, volume_name="data")
    cluster = client.clusters.create(
        cluster_name="my-gpu-cluster",
        region="us-central-8",
        gpu_type="H100_SXM",
        num_gpus=8,
        cuda_version="12.6",
        nvidia_driver_version="560",
        billing_type="ON_DEMAND",
        volume_id=volume.volume_id,
    )
    assert cluster.status == "WaitingForControlPlaneNodes"
    ready = client.clusters.retrieve(cluster.cluster_id)
    assert (ready.status, len(ready.gpu_worker_nodes)) == ("Ready", 1)
    assert client.clusters.storage.retrieve(volume.volume_id).status == "bound"
    client.clusters.update(cluster.cluster_id, num_gpus=16)
    assert len(client.clusters.retrieve(cluster.cluster_id).gpu_worker_nodes) == 2
    client.clusters.delete(cluster.cluster_id)
    assert client.clusters.list().clusters == []
    client.clusters.storage.delete(volume.volume_id)


def test_sdk_3_drives_an_rl_session_and_downloads_a_checkpoint(client: Together) -> None:
    sessions, operations = client.post_training.sessions, client.post_training.operations
    session = sessions.create(
        model_resources_id="unused",
        extra_body={"base_model": "meta-llama/Meta-Llama-3-8B-Instruct"},
    )
    sample: Any = {
        "model_input": {"chunks": [{"encoded_text": {"tokens": [1, 2]}}]},
        "loss_inputs": {"target_tokens": {"data": [2, 3]}},
    }
    backward = operations.forward_backward(
        session.id, loss={"type": "LOSS_TYPE_CROSS_ENTROPY"}, samples=[sample], idempotency_key="1"
    )
    step = operations.optim_step(session.id, idempotency_key="2")
    saved = operations.create_inference_checkpoint(session.id, idempotency_key="3")
    done = operations.retrieve_forward_backward(backward.id, session_id=session.id)
    assert done.status == "TRAINING_OPERATION_STATUS_COMPLETED"
    assert done.output is not None and done.output.loss > 0
    assert operations.retrieve_optim_step(step.id, session_id=session.id).output is not None
    checkpoint = operations.retrieve_inference_checkpoint(saved.id, session_id=session.id)
    assert checkpoint.status == "TRAINING_OPERATION_STATUS_COMPLETED"
    [inference] = sessions.retrieve(session.id).inference_checkpoints or []
    files = client.post_training.checkpoints.download(
        inference.id, variant="CHECKPOINT_VARIANT_MERGED"
    )
    names = [f.filename for f in files.data]
    assert names == ["model.safetensors", "config.json"]
    assert httpx.get(files.data[1].url).json()["rl_step"] == 1
    assert sessions.stop(session.id).status == "TRAINING_SESSION_STATUS_STOPPING"
