"""SDK 3.1.1 (the Stainless "v2" line), unchanged and in-process, against a live simulator.

Each test follows the seed workflows (``/work/shared/seeds``): check, upload, create, monitor,
events, checkpoints, download, chat, cancel, delete. The client is given the server ROOT as its
``base_url``: 3.x writes every path as ``/v1/...`` itself.

Times on the manual clock are the real service's pace (speed 1): 5 s pending, 25 s queued, 15 s
model download, 5 s data download, 3 s per step, 45 s compressing, 60 s uploading, 5 s to cancel.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard
from together import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    Together,
)
from together.lib.utils import check_file

pytestmark = pytest.mark.e2e

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
DPO_MODEL = "meta-llama/Llama-3.2-3B-Instruct"
T0 = "2026-01-01T00:00:00.000000Z"  # where the manual clock starts

# The quickstart file (2 samples, 27 tokens) packs into one step per epoch.
QUICKSTART_EVENTS = [
    "job_pending",
    "job_start",
    "model_download_complete",
    "training_data_download_complete",
    "training_start",
    "epoch_complete",
    "epoch_complete",
    "epoch_complete",
    "training_complete",
    "model_uploading",
    "model_compressing",
    "model_compression_complete",
    "model_upload_complete",
    "job_complete",
]


@pytest.fixture
def client(instant_server: Any, api_key: str) -> Iterator[Together]:
    with Together(api_key=api_key, base_url=instant_server.root) as together:
        yield together


@pytest.fixture
def manual_client(manual_server: Any, api_key: str) -> Iterator[Together]:
    with Together(api_key=api_key, base_url=manual_server.root) as together:
        yield together


def _upload(client: Together, path: Path) -> str:
    report = check_file(path)
    assert report["is_check_passed"] is True
    uploaded = client.files.upload(path, purpose="fine-tune", check=True)
    assert uploaded.processing_status == "COMPLETED"
    return uploaded.id


def _seed_lora_job(client: Together, training_file: str, **overrides: Any) -> Any:
    """``client.fine_tuning.create`` exactly as seeds/000 writes the LoRA quickstart."""
    args: dict[str, Any] = {
        "training_file": training_file,
        "model": MODEL,
        "train_on_inputs": "auto",
        "n_epochs": 3,
        "n_checkpoints": 1,
        "lora": True,
        "warmup_ratio": 0,
        "learning_rate": 1e-5,
        "suffix": "test1_8b",
    }
    return client.fine_tuning.create(**{**args, **overrides})


def _untar_zst(blob: bytes) -> dict[str, bytes]:
    assert blob[:4] == b"\x28\xb5\x2f\xfd"  # the zstandard frame magic
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _safetensors_header(blob: bytes) -> dict[str, Any]:
    """The JSON header of a safetensors file: 8-byte little-endian length, then the JSON."""
    (length,) = struct.unpack("<Q", blob[:8])
    header: dict[str, Any] = json.loads(blob[8 : 8 + length])
    offsets = [t["data_offsets"] for name, t in header.items() if name != "__metadata__"]
    assert max(end for _, end in offsets) == len(blob) - 8 - length  # the data is all there
    return header


# -- the quickstart workflow ----------------------------------------------------------------------


def test_the_quickstart_lora_job_moves_through_every_status_as_the_clock_advances(
    manual_client, manual_server, quickstart_file
):
    training_file = _upload(manual_client, quickstart_file)
    upload = manual_server.exchanges
    assert [(e.line, e.status) for e in upload] == [
        ("POST /v1/files", 302),
        (f"PUT /_uploads/{training_file}", 200),
        (f"POST /v1/files/{training_file}/preprocess", 200),
    ]
    assert upload[0].headers["content-type"].startswith("multipart/form-data")
    assert "authorization" not in upload[1].headers  # the presigned PUT carries no key

    job = _seed_lora_job(manual_client, training_file)

    assert job.id.startswith("ft-")
    assert job.status == "pending"
    assert job.model == MODEL
    assert job.training_file == training_file
    assert job.validation_file == ""
    assert job.suffix == "test1_8b"
    assert job.n_epochs == 3
    assert job.n_checkpoints == 1
    assert job.learning_rate == 1e-5
    assert job.warmup_ratio == 0.0
    assert job.batch_size == 8
    assert job.total_steps == 3
    assert job.train_on_inputs == "auto"
    assert job.training_method.model_dump() == {"method": "sft", "train_on_inputs": "auto"}
    assert job.training_type.model_dump() == {
        "type": "Lora",
        "lora_r": 64,
        "lora_alpha": 128,
        "lora_dropout": 0.0,
        "lora_trainable_modules": "all-linear",
    }
    assert job.output_name.startswith("sim-user/Meta-Llama-3.1-8B-Instruct-Reference-test1_8b-")
    assert job.progress.model_dump() == {"estimate_available": False, "seconds_remaining": 164.0}

    seen = []
    # pending 0-5 s, queued 5-30, running 30-59 (steps at 53, 56, 59), compressing 59-104,
    # uploading 104-164, completed at 164.
    for seconds in (4, 1, 25, 26, 3, 45, 59, 1):
        manual_server.advance(seconds)
        now = manual_client.fine_tuning.retrieve(job.id)
        seen.append((now.status, now.steps_completed))
        assert now.x_model_output_name == job.output_name
    assert seen == [
        ("pending", 0),
        ("queued", 0),
        ("running", 0),
        ("running", 2),
        ("compressing", 3),
        ("uploading", 3),
        ("uploading", 3),
        ("completed", 3),
    ]

    done = manual_client.fine_tuning.retrieve(job.id)
    assert done.epochs_completed == 3
    assert done.progress.model_dump() == {"estimate_available": False, "seconds_remaining": 0.0}
    assert [job.id] == [j.id for j in manual_client.fine_tuning.list().data]


def test_events_of_the_quickstart_job_arrive_in_lifecycle_order_at_their_times(
    manual_client, manual_server, quickstart_file
):
    job = _seed_lora_job(manual_client, _upload(manual_client, quickstart_file))
    manual_server.advance(164)

    events = manual_client.fine_tuning.list_events(job.id).data

    assert [e.type for e in events] == QUICKSTART_EVENTS
    assert [e.created_at for e in events] == [
        T0,
        "2026-01-01T00:00:30.000000Z",
        "2026-01-01T00:00:45.000000Z",
        "2026-01-01T00:00:50.000000Z",
        "2026-01-01T00:00:50.000000Z",
        "2026-01-01T00:00:53.000000Z",
        "2026-01-01T00:00:56.000000Z",
        "2026-01-01T00:00:59.000000Z",
        "2026-01-01T00:00:59.000000Z",
        "2026-01-01T00:00:59.000000Z",
        "2026-01-01T00:00:59.000000Z",
        "2026-01-01T00:01:44.000000Z",
        "2026-01-01T00:02:44.000000Z",
        "2026-01-01T00:02:44.000000Z",
    ]
    assert [e.step for e in events if e.type == "epoch_complete"] == [1, 2, 3]
    assert events[0].message == "Fine tune request created"
    assert events[-1].message == "Job finished at 2026-01-01T00:02:44Z"
    assert events[-1].model_path.endswith("/" + job.output_name)
    assert {e.level for e in events} == {"info"}


def test_a_completed_lora_job_lists_its_final_merged_model_and_adapter(client, quickstart_file):
    job = _seed_lora_job(client, _upload(client, quickstart_file))
    assert client.fine_tuning.retrieve(job.id).status == "completed"

    checkpoints = client.fine_tuning.list_checkpoints(job.id).data

    assert [(c.checkpoint_type, c.step, c.checkpoint) for c in checkpoints] == [
        ("Final Merged", 3, "model"),
        ("Final Adapter", 3, "adapter"),
    ]
    prefix = f"s3://together-sim/finetune/{job.id}/{job.output_name}"
    assert [c.path for c in checkpoints] == [prefix, prefix + "/adapter"]


def test_the_adapter_download_is_a_tar_zst_of_a_peft_adapter(client, quickstart_file):
    job = _seed_lora_job(client, _upload(client, quickstart_file))
    assert client.fine_tuning.retrieve(job.id).status == "completed"

    response = client.fine_tuning.content(ft_id=job.id, checkpoint="adapter")
    blob = response.read()

    assert response.headers["content-type"] == "application/octet-stream"
    assert int(response.headers["content-length"]) == len(blob)
    members = _untar_zst(blob)
    assert sorted(members) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    config = json.loads(members["adapter_config.json"])
    assert (config["peft_type"], config["r"], config["lora_alpha"]) == ("LORA", 64, 128)
    assert config["base_model_name_or_path"] == MODEL
    assert sorted(config["target_modules"]) == [
        "down_proj",
        "gate_proj",
        "k_proj",
        "o_proj",
        "q_proj",
        "up_proj",
        "v_proj",
    ]
    header = _safetensors_header(members["adapter_model.safetensors"])
    tensors = {name: t for name, t in header.items() if name != "__metadata__"}
    assert len(tensors) == 2 * 7 * 2  # layers x target modules x (lora_A, lora_B)
    q_a = tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
    q_b = tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    assert (q_a["dtype"], q_a["shape"]) == ("F32", [64, 64])  # [r, in]
    assert (q_b["dtype"], q_b["shape"]) == ("F32", [64, 64])  # [out, r]
    down_a = tensors["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"]
    assert down_a["shape"] == [64, 172]


def test_chat_answers_on_the_output_name_plainly_and_as_a_stream(client, quickstart_file):
    job = _seed_lora_job(client, _upload(client, quickstart_file))
    assert client.fine_tuning.retrieve(job.id).status == "completed"
    messages = [{"role": "user", "content": "Hello!"}]

    reply = client.chat.completions.create(model=job.output_name, messages=messages)
    chunks = list(
        client.chat.completions.create(model=job.output_name, messages=messages, stream=True)
    )

    assert reply.object == "chat.completion"
    assert reply.model == job.output_name
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == reply.choices[0].message.content
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "stop"]
    assert chunks[-1].usage.model_dump() == reply.usage.model_dump()


def test_a_running_job_cancelled_is_cancel_requested_then_cancelled(
    manual_client, manual_server, quickstart_file
):
    job = _seed_lora_job(manual_client, _upload(manual_client, quickstart_file))
    manual_server.advance(54)  # running, one step done
    assert manual_client.fine_tuning.retrieve(job.id).status == "running"

    cancelled = manual_client.fine_tuning.cancel(job.id)
    assert cancelled.status == "cancel_requested"
    manual_server.advance(4)
    assert manual_client.fine_tuning.retrieve(job.id).status == "cancel_requested"
    manual_server.advance(1)
    final = manual_client.fine_tuning.retrieve(job.id)

    assert final.status == "cancelled"
    assert final.steps_completed == 1
    types = [e.type for e in manual_client.fine_tuning.list_events(job.id).data]
    assert types[-3:] == ["epoch_complete", "cancel_requested", "job_stopped"]
    manual_server.advance(1000)  # nothing of the cut plan happens later
    assert manual_client.fine_tuning.retrieve(job.id).status == "cancelled"


def test_a_deleted_job_is_gone(client, quickstart_file):
    job = _seed_lora_job(client, _upload(client, quickstart_file))

    deleted = client.fine_tuning.delete(job.id)

    assert deleted.message == f"Fine-tune job {job.id} deleted"
    with pytest.raises(NotFoundError):
        client.fine_tuning.retrieve(job.id)
    assert client.fine_tuning.list().data == []


# -- the other job kinds --------------------------------------------------------------------------


def test_a_validation_file_with_n_evals_runs_that_many_evaluations(client, quickstart_file):
    training_file = _upload(client, quickstart_file)
    validation_file = _upload(client, quickstart_file)

    job = _seed_lora_job(client, training_file, validation_file=validation_file, n_evals=2)
    done = client.fine_tuning.retrieve(job.id)

    assert (job.validation_file, job.n_evals) == (validation_file, 2)
    assert (done.status, done.evals_completed) == ("completed", 2)
    events = client.fine_tuning.list_events(job.id).data
    assert [e.type for e in events][:6] == [
        "job_pending",
        "job_start",
        "model_download_complete",
        "training_data_download_complete",
        "validation_data_download_complete",
        "training_start",
    ]
    assert [e.step for e in events if e.type == "eval_complete"] == [2, 3]
    assert job.token_count == 81 and events[0].token_count == 81  # evals cost no train tokens


def test_dpo_continues_from_an_sft_job_on_a_preference_file(
    client, quickstart_file, preference_file
):
    sft = client.fine_tuning.create(
        training_file=_upload(client, quickstart_file), model=DPO_MODEL, lora=True
    )
    assert client.fine_tuning.retrieve(sft.id).status == "completed"
    preference_file_id = _upload(client, preference_file)

    # seeds/001 also passes model= here, which SDK 3.1.1 refuses ("model or a checkpoint, not
    # both"); from_checkpoint alone is the call that runs.
    dpo = client.fine_tuning.create(
        training_file=preference_file_id,
        from_checkpoint=sft.id,
        training_method="dpo",
        dpo_beta=0.2,
    )

    assert dpo.from_checkpoint == sft.id
    assert dpo.model == DPO_MODEL
    assert dpo.training_method.model_dump() == {
        "method": "dpo",
        "dpo_beta": 0.2,
        "dpo_normalize_logratios_by_length": False,
        "dpo_reference_free": False,
        "rpo_alpha": 0.0,
        "simpo_gamma": 0.0,
    }
    assert dpo.training_type.type == "Lora"
    assert client.fine_tuning.retrieve(dpo.id).status == "completed"


def test_dpo_from_the_base_model_as_seeds_write_it(client, preference_file):
    job = client.fine_tuning.create(
        training_file=_upload(client, preference_file),
        model=DPO_MODEL,
        training_method="dpo",
        dpo_beta=0.2,
        lora=True,
    )

    assert (job.training_method.method, job.training_method.dpo_beta) == ("dpo", 0.2)
    assert client.fine_tuning.retrieve(job.id).status == "completed"


def test_training_continues_from_a_job_and_from_an_intermediate_checkpoint(client, quickstart_file):
    training_file = _upload(client, quickstart_file)
    first = _seed_lora_job(client, training_file, n_checkpoints=3)
    assert first.total_steps == 3
    assert client.fine_tuning.retrieve(first.id).status == "completed"
    steps = sorted(
        c.step
        for c in client.fine_tuning.list_checkpoints(first.id).data
        if c.checkpoint_type == "Intermediate"
    )
    assert steps == [1, 2]
    # An intermediate checkpoint downloads by step; step 0 means the final model (SDK 3.1.1).
    at_step = _untar_zst(client.fine_tuning.content(ft_id=first.id, checkpoint_step=1).read())
    final = _untar_zst(
        client.fine_tuning.content(ft_id=first.id, checkpoint="adapter", checkpoint_step=0).read()
    )
    assert json.loads(at_step["adapter_config.json"])["together_sim"]["step"] == 1
    assert json.loads(final["adapter_config.json"])["together_sim"]["step"] is None

    from_job = client.fine_tuning.create(training_file=training_file, from_checkpoint=first.id)
    from_step = client.fine_tuning.create(
        training_file=training_file, from_checkpoint=f"{first.id}:{steps[0]}"
    )
    from_name = client.fine_tuning.create(
        training_file=training_file, from_checkpoint=first.output_name
    )

    for job, origin in (
        (from_job, first.id),
        (from_step, f"{first.id}:1"),
        (from_name, first.output_name),
    ):
        assert job.from_checkpoint == origin
        assert job.model == MODEL
        assert job.training_type.model_dump() == first.training_type.model_dump()
        assert client.fine_tuning.retrieve(job.id).status == "completed"


def test_a_full_fine_tune_downloads_the_whole_model(client, quickstart_file):
    job = client.fine_tuning.create(
        training_file=_upload(client, quickstart_file),
        model=MODEL,
        train_on_inputs="auto",
        n_epochs=3,
        n_checkpoints=1,
        warmup_ratio=0,
        lora=False,
        learning_rate=1e-5,
        suffix="test1_8b_full_finetune",
    )
    assert job.training_type.model_dump() == {"type": "Full"}
    assert client.fine_tuning.retrieve(job.id).status == "completed"
    checkpoints = client.fine_tuning.list_checkpoints(job.id).data
    assert [(c.checkpoint_type, c.step, c.checkpoint) for c in checkpoints] == [
        ("Final", 3, "model")
    ]

    members = _untar_zst(
        client.fine_tuning.content(ft_id=job.id, checkpoint="model_output_path").read()
    )

    assert sorted(members) == [
        "README.md",
        "config.json",
        "generation_config.json",
        "model.safetensors",
    ]
    assert json.loads(members["config.json"])["architectures"] == ["LlamaForCausalLM"]
    header = _safetensors_header(members["model.safetensors"])
    assert header["model.embed_tokens.weight"]["shape"] == [512, 64]
    assert header["model.layers.1.mlp.down_proj.weight"]["shape"] == [64, 172]


# -- bad input ------------------------------------------------------------------------------------


def test_a_file_3_1_1_passes_is_valid_on_the_server_and_trains(client, tmp_path):
    """3.1.1's check_file leaves the semantic checks to the server; the server applies 3.1.1's
    rules by default, so what the client calls a Success is one."""
    lenient = tmp_path / "lenient.jsonl"
    lenient.write_text(
        '{"messages": [{"role": "human", "content": "hi"}, '
        '{"role": "assistant", "content": "a"}]}\n'
        '{"messages": [{"role": "user", "content": "no answer"}]}\n'
        "\n",
        encoding="utf-8",
    )
    assert check_file(lenient)["is_check_passed"] is True  # 3.1.1 only checks for JSON objects

    uploaded = client.files.upload(lenient, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(training_file=uploaded.id, model=MODEL, lora=True)

    record = client.files.retrieve(uploaded.id)
    assert (record.processing_status, record.validation_report.valid) == ("COMPLETED", True)
    assert client.fine_tuning.retrieve(job.id).status == "completed"


def test_a_line_that_is_no_json_object_is_flagged_on_the_file_and_refused_by_create(
    client, tmp_path
):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}]}\n'
        '["not", "an", "object"]\n',
        encoding="utf-8",
    )
    assert check_file(bad)["is_check_passed"] is False  # so it goes up unchecked

    uploaded = client.files.upload(bad, purpose="fine-tune", check=False)
    record = client.files.retrieve(uploaded.id)
    with pytest.raises(BadRequestError) as refused:
        client.fine_tuning.create(training_file=uploaded.id, model=MODEL, lora=True)

    reason = (
        "Error parsing file. Invalid format on line 2 of the input file. Each line must be a JSON "
        "object. Dataset requirements are described at "
        "https://docs.together.ai/docs/fine-tuning-data-preparation. "
        "Full validation runs on the server after upload."
    )
    assert reason == check_file(bad)["message"]  # the client's words, from the server
    assert record.processing_status == "INVALID_FORMAT"
    assert (record.validation_report.valid, record.validation_report.line_number) == (False, 2)
    assert record.validation_report.error == reason
    assert refused.value.status_code == 400
    assert refused.value.body == {
        "error": {
            "message": f"File {uploaded.id} failed validation (line 2): {reason}",
            "type": "invalid_request_error",
            "param": "training_file",
            "code": None,
        }
    }
    assert client.fine_tuning.list().data == []


def test_an_unknown_training_file_fails_before_any_job_is_posted(client, instant_server):
    with pytest.raises(NotFoundError) as missing:
        client.fine_tuning.create(training_file="file-does-not-exist", model=MODEL, lora=True)

    assert missing.value.status_code == 404
    assert missing.value.body == {
        "error": {
            "message": "File file-does-not-exist not found",
            "type": "invalid_request_error",
            "param": "training_file",
            "code": "not_found",
        }
    }
    assert [(e.line, e.status) for e in instant_server.exchanges] == [
        ("GET /v1/fine-tunes/models/limits", 200),
        ("POST /v1/fine-tunes/estimate-price", 404),
    ]


def test_a_wrong_key_is_refused_with_401(keyed_server):
    with Together(api_key="good", base_url=keyed_server.root) as good:
        assert good.fine_tuning.list().data == []

    with (
        Together(api_key="bad", base_url=keyed_server.root) as bad,
        pytest.raises(AuthenticationError) as refused,
    ):
        bad.fine_tuning.list()

    assert refused.value.status_code == 401
    assert refused.value.body == {
        "error": {
            "message": "Invalid API key provided. You can find your API key at "
            "https://api.together.xyz/settings/api-keys.",
            "type": "invalid_api_key",
            "param": None,
            "code": "invalid_api_key",
        }
    }


def test_cancel_after_completion_is_rejected(client, quickstart_file):
    job = _seed_lora_job(client, _upload(client, quickstart_file))
    assert client.fine_tuning.retrieve(job.id).status == "completed"

    with pytest.raises(BadRequestError) as refused:
        client.fine_tuning.cancel(job.id)

    assert refused.value.body == {
        "error": {
            "message": f"job {job.id} is completed: it cannot become cancel_requested",
            "type": "invalid_request_error",
            "param": "id",
            "code": None,
        }
    }
    assert client.fine_tuning.retrieve(job.id).status == "completed"


def test_on_the_instant_clock_a_job_cancelled_before_any_read_is_cancelled(client, quickstart_file):
    job = _seed_lora_job(client, _upload(client, quickstart_file))

    answer = client.fine_tuning.cancel(job.id)
    final = client.fine_tuning.retrieve(job.id)
    events = client.fine_tuning.list_events(job.id).data

    assert (answer.status, final.status) == ("cancel_requested", "cancelled")
    assert [e.type for e in events] == ["job_pending", "cancel_requested", "job_stopped"]
    assert final.steps_completed == 0  # stopped before training began
    assert client.fine_tuning.list_checkpoints(job.id).data == []


def test_on_the_instant_clock_polling_until_done_ends_completed(client, quickstart_file):
    job = _seed_lora_job(client, _upload(client, quickstart_file))

    polled = [client.fine_tuning.retrieve(job.id).status]
    while polled[-1] not in ("completed", "cancelled", "error", "user_error"):
        polled.append(client.fine_tuning.retrieve(job.id).status)

    assert polled == ["completed"]


def test_a_nonexistent_job_is_not_found(client):
    missing_id = "ft-00000000-0000-4000-8000-000000000000"

    with pytest.raises(NotFoundError) as missing:
        client.fine_tuning.retrieve(missing_id)

    assert missing.value.body == {
        "error": {
            "message": f"Fine-tune job {missing_id} not found",
            "type": "invalid_request_error",
            "param": "id",
            "code": "not_found",
        }
    }
