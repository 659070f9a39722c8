"""A real job across a server restart, and a job that starts from another's checkpoint, in the pure
parts: the ``restarted`` report and the redone steps it is followed by (each step's metric point
and events exactly once), packaging again (the worker's ``package`` phase, which needs no torch),
which saved weights ``from_checkpoint`` names, and what the worker is told about them."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from mock_server.fine_tuning.events import Checkpoint, EventType, Metric
from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.fine_tuning.progress import apply_report
from mock_server.fine_tuning.reports import (
    Packaged,
    Report,
    Restarted,
    Saved,
    Trained,
    Uploaded,
)
from mock_server.training.bases import BaseChoice
from mock_server.training.spec import InitFrom, WorkerSpec, checkpoint_weights, spec_for
from mock_server.training.worker import run
from tests.builders import FAR, make_job, real_job_in_training, worker_started, worker_step

S = JobStatus
E = EventType
STARTED = worker_started()


def _run(job: Job, *reports: Report) -> tuple[Job, list[tuple[EventType, str]], list[Metric]]:
    events: list[tuple[EventType, str]] = []
    metrics: list[Metric] = []
    for i, report in enumerate(reports):
        moved = apply_report(job, report, FAR + timedelta(seconds=i))
        job = moved.job
        events += [(e.type, e.message) for e in moved.events]
        metrics += moved.metrics
    return job, events, metrics


def test_a_restart_resumes_after_the_checkpoint_and_each_step_is_reported_once() -> None:
    job = real_job_in_training(validation_file="file-v", n_evals=2, n_checkpoints=2)
    job, before, first = _run(
        job,
        STARTED,
        worker_step(1, 3.0),
        worker_step(2, 2.5, eval_loss=2.7),
        Saved(step=2, path="/d/checkpoints/checkpoint-2"),
        worker_step(3, 2.0),  # the server dies here; the new worker goes on from step 2
    )
    job, after, second = _run(
        job,
        Restarted(step=2),
        STARTED.model_copy(update={"restarted": True}),
        worker_step(3, 2.0),
        worker_step(4, 1.5, eval_loss=1.6),
        Trained(steps_completed=4, token_count=800, seconds=2.0),
    )
    assert [m.step for m in first + second] == [1, 2, 3, 4]
    assert after[0] == (
        E.job_restarted,
        "Training resumed from step 2 after a restart of the simulator (its checkpoint at step 2)",
    )
    assert [t for t, _ in after[1:]] == [
        E.epoch_complete,
        E.eval_complete,
        E.training_complete,
        E.model_uploading,
        E.model_compressing,
    ]
    assert [t for t, _ in before].count(E.training_start) == 1
    assert (job.status, job.steps_completed, job.evals_completed) == (S.compressing, 4, 2)


def test_while_steps_are_redone_the_job_counts_from_the_checkpoint() -> None:
    job, _, _ = _run(
        real_job_in_training(),
        STARTED,
        worker_step(1, 3.0),
        worker_step(2, 2.5),
        worker_step(3, 2.0),
    )
    job, events, metrics = _run(job, Restarted(step=0))
    assert (job.steps_completed, job.epochs_completed, metrics) == (0, 0, [])
    assert events == [
        (
            E.job_restarted,
            "Training restarted from step 0 after a restart of the simulator: no checkpoint had "
            "been saved",
        )
    ]
    job, events, metrics = _run(job, worker_step(1, 3.0), worker_step(2, 2.5))
    assert (job.steps_completed, events, metrics) == (2, [], [])


def test_a_job_packaging_when_the_server_died_packs_again_and_completes() -> None:
    job, _, _ = _run(
        real_job_in_training(),
        STARTED,
        *[worker_step(s, 1.0) for s in range(1, 5)],
        Trained(steps_completed=4, token_count=800, seconds=2.0),
        Packaged(archives={"adapter": "/d/a.tar.zst"}),
    )
    assert job.status is S.uploading
    job, events, _ = _run(
        job,
        Restarted(step=4, packaging=True),
        Packaged(archives={"adapter": "/d/a.tar.zst"}),
        Uploaded(model_path="/d/merged", adapter_path="/d/adapter"),
    )
    assert job.status is S.completed
    assert [t for t, _ in events] == [E.job_restarted, E.model_upload_complete, E.job_complete]
    assert events[0][1] == "Packaging the output model again after a restart of the simulator"


# -- from_checkpoint ------------------------------------------------------------------------------


def _saved(step: int, type_: str, kind: str) -> Checkpoint:
    return Checkpoint.model_validate(
        {"step": step, "created_at": FAR, "checkpoint_type": type_, "path": f"/p/{type_}/{step}",
         "kind": kind}
    )  # fmt: skip


LORA_PARENT = [
    _saved(9, "Intermediate", "adapter"),
    _saved(18, "Final Merged", "model"),
    _saved(18, "Final Adapter", "adapter"),
]


@pytest.mark.parametrize(
    ("step", "path"),
    [(None, "/p/Final Adapter/18"), (9, "/p/Intermediate/9"), (18, "/p/Final Adapter/18")],
)
def test_from_checkpoint_names_the_parents_adapter_at_a_step_or_the_final_one(
    step: int | None, path: str
) -> None:
    found = checkpoint_weights(make_job(), step, LORA_PARENT)
    assert found is not None and found.path == path


def test_a_full_parent_gives_its_model_and_an_unknown_step_gives_nothing() -> None:
    full = make_job(training_type={"type": "Full"})
    saved = [_saved(9, "Intermediate", "model"), _saved(18, "Final", "model")]
    found = checkpoint_weights(full, None, saved)
    assert found is not None and found.path == "/p/Final/18"
    assert checkpoint_weights(make_job(), 10, LORA_PARENT) is None


def _child_spec(init: InitFrom | None, **job: object) -> list[str]:
    child = make_job(trainer="real", from_checkpoint="ft-parent:9", **job)
    spec = spec_for(
        child, out_dir=Path("/d"), training_path=Path("/f"), training_file_type="jsonl",
        validation_path=None, init=init,
    )  # fmt: skip
    assert spec.init_from == init
    return spec.notes[1:]  # after the learning-rate note


def _init(**fields: object) -> InitFrom:
    values: dict[str, object] = {
        "checkpoint": "ft-parent:9",
        "weights": "/p/checkpoints/checkpoint-9",
        "kind": "adapter",
        "base_dir": "/p/base",
        "base": BaseChoice(ref="micro"),
        "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16},
    }
    return InitFrom.model_validate(values | fields)


def test_a_child_that_asks_for_another_rank_is_told_the_checkpoint_defines_the_adapter() -> None:
    notes = _child_spec(_init(), training_type={"type": "Lora", "lora_r": 16, "lora_alpha": 32})
    assert notes == [
        "the adapter of ft-parent:9 (lora_r 8, lora_alpha 16, modules all-linear) trains on: a "
        "checkpoint defines its adapter, so the asked lora_r 16, lora_alpha 32, modules "
        "all-linear are not used"
    ]
    assert _child_spec(_init()) == []  # the same shape: nothing to say


def test_a_full_child_of_a_lora_parent_trains_the_merged_model() -> None:
    notes = _child_spec(_init(), training_type={"type": "Full"})
    assert notes == ["the adapter of ft-parent:9 is merged into its base for full fine-tuning"]


def test_a_parent_from_the_synthetic_timeline_leaves_the_child_on_the_base() -> None:
    assert _child_spec(None) == [
        "from_checkpoint ft-parent:9 was trained by the synthetic timeline, which saves no "
        "weights: training starts from the base"
    ]


def test_the_start_event_names_the_checkpoint_a_child_starts_from() -> None:
    started = STARTED.model_copy(update={"init_from": "ft-parent:9"})
    start = apply_report(real_job_in_training(), started, FAR).events[-1]
    assert start.message.startswith(
        "Training started for model meta-llama/Meta-Llama-3.1-8B-Instruct-Reference from "
        "checkpoint ft-parent:9 on cpu (float32)"
    )


# -- the worker packing again ---------------------------------------------------------------------


def _packing_spec(out: Path, full: bool) -> WorkerSpec:
    return WorkerSpec(
        job_id="ft-1",
        out_dir=str(out),
        training_path="/gone",
        training_file_type="jsonl",
        config={"full": full},
        phase="package",
        restarted=True,
    )


def test_a_worker_started_to_pack_again_serves_the_final_outputs(tmp_path: Path) -> None:
    for folder, name in (("adapter", "adapter_model"), ("merged", "model")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{name}.safetensors").write_bytes(b"weights of " + name.encode())
    reports: list[object] = []
    run(_packing_spec(tmp_path, full=False), reports.append, threading.Event())
    packaged, uploaded = reports
    assert isinstance(packaged, Packaged) and sorted(packaged.archives) == ["adapter", "merged"]
    assert uploaded == Uploaded(
        model_path=str(tmp_path / "merged"), adapter_path=str(tmp_path / "adapter")
    )
    served = sorted(p.name for p in (tmp_path / "archives").iterdir() if p.is_file())
    assert served == ["SHA256SUMS", "adapter.tar.zst", "merged.tar.zst"]


def test_packing_again_without_the_final_outputs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="the final model of the training is gone"):
        run(_packing_spec(tmp_path, full=True), lambda report: None, threading.Event())
