"""What a real job's training worker is told, on its first launch and after a server restart.

The runner (``runner.py``) owns the processes; this module reads the store and the job folders to
write their ``WorkerSpec``. Torch-free, like the rest of the server.

* **First launch** (``launch_spec``): the job's hyper-parameters (``training.spec.spec_for``) and,
  for ``from_checkpoint``, the parent's weights at that step (``InitFrom``) when the parent was
  trained for real: its adapter or full model, its recorded base, its base choice.
* **Relaunch** (``relaunch_spec``): the server died while the job's worker ran (the worker stops
  when its stdin closes). The job's own ``spec.json`` is reused, so the run continues on exactly
  the base and settings it started with, whatever the new server's flags: training resumes from
  the last checkpoint the job recorded whose trainer state is on disk (an exact resume), or from
  step 0 when there is none; a job that was compressing or uploading packs its final outputs
  again. The ``Restarted`` report that goes with it says which in the job's events.

Anything that makes a launch impossible (a deleted training file, a parent whose weights are gone)
is a ``CannotLaunch`` naming the reason, which the runner turns into a failed job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError

from mock_server.core.errors import NotFound, TogetherError
from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.fine_tuning.reports import Restarted
from mock_server.training import bases
from mock_server.training.spec import (
    TRAINER_STATE,
    InitFrom,
    WorkerSpec,
    checkpoint_weights,
    spec_for,
)

if TYPE_CHECKING:
    from mock_server.fine_tuning.service import FineTuning
    from mock_server.store import BlobStore, Store
    from mock_server.training.bases import BaseChoice

__all__ = ["SPEC_FILE", "CannotLaunch", "launch_spec", "relaunch_spec"]

SPEC_FILE = "spec.json"


class CannotLaunch(Exception):
    def __init__(self, message: str, kind: Literal["error", "user_error"] = "user_error") -> None:
        super().__init__(message)
        self.kind: Literal["error", "user_error"] = kind


def launch_spec(
    jobs: FineTuning,
    blobs: BlobStore,
    job: Job,
    model: str,
    model_map: Mapping[str, BaseChoice],
) -> WorkerSpec:
    store = jobs.store
    try:
        training = store.get_file(job.tenant, job.training_file)
    except NotFound:
        raise CannotLaunch(
            f"Training file {job.training_file} was deleted before training started"
        ) from None
    return spec_for(
        job,
        out_dir=blobs.training_dir(job.id),
        training_path=blobs.path(job.training_file),
        training_file_type=training.file_type.value,
        validation_path=blobs.path(job.validation_file) if job.validation_file else None,
        model=model,
        model_map=model_map,
        models_dir=store.data_dir / "models",
        init=_init_from(jobs, blobs, job) if job.from_checkpoint else None,
    )


def _init_from(jobs: FineTuning, blobs: BlobStore, job: Job) -> InitFrom | None:
    """The parent's weights at the step ``from_checkpoint`` names; None for a parent trained by
    the synthetic timeline, which saved none."""
    ref = str(job.from_checkpoint)
    try:
        found = jobs.resolve_checkpoint(job.tenant, ref)
    except TogetherError as exc:
        raise CannotLaunch(f"from_checkpoint {ref} can no longer be used: {exc.message}") from None
    parent = found.job
    if parent.trainer != "real":
        return None
    saved = checkpoint_weights(parent, found.step, jobs.store.list_checkpoints(parent.id))
    folder = blobs.training_dir(parent.id)
    try:
        parent_spec = WorkerSpec.model_validate_json((folder / SPEC_FILE).read_text())
    except (OSError, ValidationError):
        parent_spec = None
    if saved is None or parent_spec is None or not Path(saved.path).is_dir():
        raise CannotLaunch(f"from_checkpoint {ref}: the weights of {parent.id} are gone")
    return InitFrom(
        checkpoint=f"{parent.id}:{saved.step}",
        weights=saved.path,
        kind=saved.kind,
        base_dir=str(bases.recorded_base(folder)),
        base=parent_spec.base,
        training_type=parent.training_type,
    )


def relaunch_spec(store: Store, blobs: BlobStore, job: Job) -> tuple[WorkerSpec, Restarted]:
    try:
        spec = WorkerSpec.model_validate_json((blobs.training_dir(job.id) / SPEC_FILE).read_text())
    except (OSError, ValidationError):
        raise CannotLaunch(
            "Training was interrupted by a restart of the simulator, and the job's worker spec "
            "is gone",
            kind="error",
        ) from None
    if job.status in (JobStatus.compressing, JobStatus.uploading):
        restarted = Restarted(step=job.steps_completed, packaging=True)
        return spec.model_copy(update={"phase": "package", "restarted": True}), restarted
    if not Path(spec.training_path).is_file():
        raise CannotLaunch(
            f"Training was interrupted by a restart of the simulator, and training file "
            f"{job.training_file} has been deleted since"
        )
    resumable = [
        c
        for c in store.list_checkpoints(job.id)
        if c.checkpoint_type == "Intermediate" and (Path(c.path) / TRAINER_STATE).is_file()
    ]
    latest = max(resumable, key=lambda c: c.step, default=None)
    update = {"resume_from": latest.path if latest else None, "restarted": True}
    return spec.model_copy(update=update), Restarted(step=latest.step if latest else 0)
