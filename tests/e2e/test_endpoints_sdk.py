"""The dedicated-endpoint seed workflow (seeds/001, "Use Fine-Tuned Model": fine-tune, deploy
``job.output_name`` on a dedicated endpoint, chat with it by the endpoint's name, stop it, delete
it) through the real clients, against a live simulator; and SDK 1.5.35's ``together endpoints``
CLI, whose ``--gpu``/``--gpu-count`` become the hardware ids the simulator lists.

The spec's ``/v1/endpoints`` operations are what SDK 1.5.x and 2.x send (``client.endpoints.create
(model=, hardware=, min_replicas=, max_replicas=)``). SDK 3.1.1's ``client.endpoints`` is another
API, project-scoped under ``/v2/projects/{project_id}/endpoints`` with deployments and traffic
splits (``test_sdk_v3_endpoints.py``); here 3.1.1 reaches the v1 operations through its generic
``client.post/get/patch/delete``, which send the same headers, retries and error handling.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from together import BadRequestError, NotFoundError, Together

from tests.spec_schemas import assert_matches_spec

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
V1_PYTHON = REPO / ".venv-v1" / "bin" / "python"
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
HELLO: Any = [{"role": "user", "content": "Hello!"}]


@pytest.fixture
def client(instant_server: Any, api_key: str) -> Iterator[Together]:
    with Together(api_key=api_key, base_url=instant_server.root) as together:
        yield together


def _fine_tune(client: Together, path: Path) -> str:
    training_file = client.files.upload(path, purpose="fine-tune", check=True).id
    job = client.fine_tuning.create(
        training_file=training_file, model=MODEL, lora=True, n_epochs=1, suffix="endpoint"
    )
    assert client.fine_tuning.retrieve(job.id).status == "completed"  # the instant clock
    assert job.output_name is not None
    return job.output_name


def _text(client: Together, model: str) -> str | None:
    answer = client.chat.completions.create(model=model, messages=HELLO)
    return answer.choices[0].message.content  # type: ignore[union-attr]


def test_sdk_3_deploys_a_fine_tune_on_an_endpoint_chats_stops_and_deletes_it(
    client: Together, instant_server: Any, quickstart_file: Path
) -> None:
    output = _fine_tune(client, quickstart_file)
    endpoint: Any = client.post(
        "/v1/endpoints",
        cast_to=object,
        body={
            "display_name": "My Fine-tuned Model",
            "model": output,
            "hardware": "4x_nvidia_h100_80gb_sxm",
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        },
    )
    assert_matches_spec(endpoint, "POST", "/endpoints")
    assert (endpoint["model"], endpoint["state"]) == (output, "PENDING")

    url = f"/v1/endpoints/{endpoint['id']}"
    started: Any = client.get(url, cast_to=object)
    assert_matches_spec(started, "GET", "/endpoints/{endpointId}")
    assert started["state"] == "STARTED"
    assert _text(client, endpoint["name"]) == _text(client, output)

    stopping: Any = client.patch(url, cast_to=object, body={"state": "STOPPED"})
    assert stopping["state"] == "STOPPING"
    stopped: Any = client.get(url, cast_to=object)
    assert stopped["state"] == "STOPPED"
    with pytest.raises(BadRequestError) as refused:
        _text(client, endpoint["name"])
    assert refused.value.status_code == 400
    assert refused.value.body["error"]["code"] == "dedicated_endpoint_not_running"  # type: ignore[index]

    assert client.delete(url, cast_to=type(None)) is None
    with pytest.raises(NotFoundError):
        client.get(url, cast_to=object)
    assert [(e.line, e.status) for e in instant_server.exchanges[-9:]] == [
        ("POST /v1/endpoints", 200),
        (f"GET {url}", 200),
        ("POST /v1/chat/completions", 200),
        ("POST /v1/chat/completions", 200),
        (f"PATCH {url}", 200),
        (f"GET {url}", 200),
        ("POST /v1/chat/completions", 400),
        (f"DELETE {url}", 204),
        (f"GET {url}", 404),
    ]


@pytest.mark.skipif(
    not V1_PYTHON.exists(),
    reason=f"SDK 1.5.35 is not installed in {V1_PYTHON.parents[1]} (`make install` creates it)",
)
def test_sdk_1_5_runs_the_endpoint_workflow_with_its_own_endpoint_methods(
    instant_server: Any,
    api_key: str,
    clean_env: dict[str, str],
    quickstart_file: Path,
    tmp_path: Path,
) -> None:
    env = {**clean_env, "TOGETHER_BASE_URL": instant_server.v1, "TOGETHER_API_KEY": api_key}
    script = Path(__file__).with_name("v1") / "endpoints.py"
    done = subprocess.run(
        [str(V1_PYTHON), str(script), str(quickstart_file)],
        env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    out = json.loads(done.stdout)

    assert len(out["hardware"]) == 26  # an 8B base fits on any one GPU
    assert {h["availability"]["status"] for h in out["hardware"]} == {"available"}
    assert out["zones"][0] == "us-central-4b"
    created, started = out["create"], out["started"]
    assert (created["model"], created["display_name"], created["state"]) == (
        out["output_name"],
        "My Fine-tuned Model",
        "PENDING",
    )
    assert started["state"] == "STARTED"
    assert out["chat"]["model"] == started["name"]
    assert out["chat"]["choices"] == out["direct"]["choices"]
    assert out["rescaled"]["autoscaling"] == {"min_replicas": 1, "max_replicas": 3}
    assert (out["stopping"], out["stopped"]) == ("STOPPING", "STOPPED")
    assert out["refused"]["class"] == "InvalidRequestError"
    assert out["refused"]["http_status"] == 400
    refusal = f"The dedicated endpoint for {started['name']} is not running"
    assert refusal in out["refused"]["message"]
    assert [(e["id"], e["type"]) for e in out["list"]] == [(created["id"], "dedicated")]
    assert out["after_delete"]["http_status"] == 404
    sent = [e for e in instant_server.exchanges if e.line == "POST /v1/endpoints"]
    assert len(sent) == 1


@pytest.mark.skipif(not V1_PYTHON.exists(), reason="SDK 1.5.35 is not installed in .venv-v1")
def test_the_v1_cli_creates_waits_for_and_deletes_an_endpoint_and_lists_what_fits(
    instant_server: Any, api_key: str, clean_env: dict[str, str], tmp_path: Path
) -> None:
    def together(*args: str) -> subprocess.CompletedProcess[str]:
        command = [
            str(V1_PYTHON.with_name("together")), "--base-url", instant_server.v1,
            "--api-key", api_key, "endpoints", *args,
        ]  # fmt: skip
        return subprocess.run(
            command, env=clean_env, cwd=tmp_path, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    created = together("create", "--model", MODEL, "--gpu", "l40s", "--gpu-count", "1", "--wait")
    assert created.returncode == 0, created.stderr
    endpoint_id = created.stdout.strip()
    assert endpoint_id.startswith("endpoint-")
    assert "Hardware: 1x_nvidia_l40s" in created.stderr
    assert created.stderr.endswith("Waiting for endpoint to be ready...\nEndpoint ready\n")

    too_small = together(
        "create", "--model", "meta-llama/Llama-3.3-70B-Instruct-Reference",
        "--gpu", "h100", "--gpu-count", "1",
    )  # fmt: skip
    assert too_small.returncode == 1
    # the error says "check the hardware API", so the CLI lists the options that fit
    options = too_small.stderr.split("Available hardware options:\n")[1].split()
    assert options[:2] == ["4x_nvidia_a100_80gb_sxm", "8x_nvidia_a100_80gb_sxm"]
    assert "1x_nvidia_h100_80gb_sxm" not in options

    deleted = together("delete", endpoint_id)
    assert (deleted.returncode, deleted.stdout.strip()) == (0, endpoint_id)
    assert [e.line for e in instant_server.exchanges if e.method == "DELETE"] == [
        f"DELETE /v1/endpoints/{endpoint_id}"
    ]
