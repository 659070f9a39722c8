"""What ``GET /finetune/download`` and the base-model control hand out for a job: the archive of
its output or of one checkpoint.

A synthetic job's archive is built on first request from its recipe (``archive.py``: small,
seeded, loadable by peft); a real job's is packed from what its worker saved. Either is kept on
disk, so a second download is a file read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.fine_tuning.models import Job, JobStatus

if TYPE_CHECKING:
    from mock_server.fine_tuning.service import FineTuning
    from mock_server.store import BlobStore, Store

__all__ = ["JobArtifacts"]


@dataclass
class JobArtifacts:
    jobs: FineTuning
    blobs: BlobStore  # real jobs' folders, where their archives are packed

    @property
    def store(self) -> Store:
        return self.jobs.store

    def archive(self, tenant: str, ft_id: str, checkpoint: str | None, step: int | None) -> Path:
        job = self.jobs.job(tenant, ft_id)
        if step == 0:  # SDK 3.1.1: "0 or omitted downloads the final model by default"
            step = None
        if step is not None:
            saved = [c for c in self.store.list_checkpoints(job.id) if c.step == step]
            if not saved:
                raise NotFound(
                    "checkpoint",
                    f"{ft_id}:{step}",
                    param="checkpoint_step",
                    message=f"Job {ft_id} has no checkpoint at step {step}",
                )
            kind: Literal["adapter", "merged", "full"] = "adapter" if job.is_lora else "full"
        else:
            if job.status is not JobStatus.completed:
                raise InvalidRequest(
                    f"Job {ft_id} is {job.status.value}: its model can be downloaded once it is "
                    "completed",
                    param="ft_id",
                )
            if checkpoint is None:
                raise InvalidRequest(
                    "checkpoint is required when checkpoint_step is not set", param="checkpoint"
                )
            if job.is_lora:
                if checkpoint == "model_output_path":
                    checkpoint = "merged"
                kind = "adapter" if checkpoint == "adapter" else "merged"
            else:
                if checkpoint != "model_output_path":
                    raise InvalidRequest(
                        f"Job {ft_id} is a full fine-tune: only checkpoint=model_output_path "
                        "can be downloaded",
                        param="checkpoint",
                    )
                kind = "full"
        if job.trainer == "real":
            return self._real_archive(job, kind, step)
        # Imported here, not at the top: it pulls in numpy, a tenth of the server's startup.
        from mock_server.fine_tuning.archive import ArtifactSpec, archive_name, build_archive

        tt = job.training_type
        spec = ArtifactSpec(
            kind=kind,
            base_model=job.model,
            job_id=job.id,
            step=step,
            lora_r=int(tt.get("lora_r", 8)),
            lora_alpha=int(tt.get("lora_alpha", 16)),
            lora_dropout=float(tt.get("lora_dropout", 0.0)),
            target_modules=str(tt.get("lora_trainable_modules", "all-linear")),
            seed=job.seed,
        )
        path = self.store.data_dir / "artifacts" / archive_name(spec)
        if not path.exists():
            build_archive(spec, path)
        return path

    def base_archive(self, job_id: str) -> Path:
        """The base model of a real job as tar.zst: what its adapter loads onto."""
        from mock_server.training.bases import recorded_base

        job = self.store.find_job_anywhere(job_id)
        base = recorded_base(self.blobs.training_dir(job.id))
        if job.trainer != "real" or not (base / "config.json").exists():
            raise NotFound(
                "base model",
                job_id,
                message=f"Job {job_id} has no stand-in base model (not a real job, or its "
                "training has not started)",
            )
        from mock_server.fine_tuning.packing import pack_dir

        path = self.blobs.training_dir(job.id) / "archives" / "base.tar.zst"
        if not path.exists():
            pack_dir(base, path)
        return path

    def _real_archive(self, job: Job, kind: str, step: int | None) -> Path:
        from mock_server.fine_tuning.packing import pack_dir

        archives = self.blobs.training_dir(job.id) / "archives"
        if step is None:
            path = archives / f"{'model' if kind == 'full' else kind}.tar.zst"
            if not path.exists():
                raise NotFound("artifact", job.id, message=f"The output of {job.id} is gone")
            return path
        saved = [c for c in self.store.list_checkpoints(job.id) if c.step == step]
        wanted = "adapter" if job.is_lora else "model"
        saved.sort(key=lambda c: (c.checkpoint_type != "Intermediate", c.kind != wanted))
        path = archives / f"checkpoint-{step}.tar.zst"
        if not path.exists():
            pack_dir(Path(saved[0].path), path)
        return path
