"""What a deployment may serve, and on what: a catalogue model, or the output of one of the
tenant's completed fine-tunes, named by its resource path
(``projects/{projectId}/models/{modelId}[/revisions/{revisionId}]``, ``modelId`` being
``identity.model_id_of(name)`` or the job's id) or, as the deprecated ``modelId`` allows, by the
name itself; and the config (hardware) it runs with."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.catalogue import hardware, supported
from mock_server.catalogue.supported import PUBLIC_PROJECT
from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.projects.identity import Identity, model_id_of
from mock_server.projects.records import Records

__all__ = ["MODEL_PATH", "Deployable", "Deploying"]

MODEL_PATH = re.compile(r"^projects/([^/]+)/models/([^/]+)(?:/revisions/([^/]+))?$")
_CONFIG_PATH = re.compile(r"^projects/([^/]+)/configs/([^/]+)$")


@dataclass(frozen=True)
class Deployable:
    name: str  # what answers: a catalogue model or a fine-tune output
    base: str  # the catalogue model it is (or was fine-tuned from)
    params: int
    project: str
    model_id: str


def _unavailable(ref: str) -> InvalidRequest:
    return InvalidRequest(
        f"Unable to access model {ref}. Please visit https://api.together.ai/models to view the "
        "list of supported models.",
        param="model",
        code="model_not_available",
    )


class Deploying(Records):
    # -- what may be deployed ---------------------------------------------------------------------

    def _output(self, tenant: str, name: str) -> Job | None:
        try:
            return self.outputs.output_job(tenant, name)
        except NotFound:
            return None

    def _named(self, tenant: str, me: Identity, project: str, model_id: str) -> str | None:
        """The model a ``projects/{project}/models/{model_id}`` path names, if any."""
        if model_id in self._catalogue_ids:
            return self._catalogue_ids[model_id]
        if project != me.project_id:
            return None
        for job in self.store.list_jobs(tenant):
            if model_id in (job.id, model_id_of(job.model_output_name)):
                return job.model_output_name
        return None

    def _deployable(self, tenant: str, me: Identity, ref: str) -> Deployable:
        path = MODEL_PATH.match(ref)
        name = self._named(tenant, me, path.group(1), path.group(2)) if path else ref
        if name is None:
            raise _unavailable(ref)
        entry = catalogue.get(name)
        if entry is not None:
            return Deployable(
                entry.name, entry.name, entry.param_count, PUBLIC_PROJECT, model_id_of(name)
            )
        job = self._output(tenant, name)
        if job is None:
            raise _unavailable(ref)
        if job.status is not JobStatus.completed:
            raise InvalidRequest(
                f"Model {ref} is not ready: its fine-tuning job {job.id} is "
                f"{job.status.value}. Deploy it once the job has completed.",
                param="model",
            )
        base = catalogue.get(job.model)  # a real job's own count is its tiny stand-in's
        params = base.param_count if base else job.param_count
        return Deployable(
            job.model_output_name, job.model, params, me.project_id, model_id_of(name)
        )

    @staticmethod
    def _hardware(config: str | None, model: Deployable) -> tuple[str, str, str]:
        """The config path, its id and the hardware it selects. A config whose id is a hardware
        id (``1x_nvidia_h100_80gb_sxm``) or an instance type's name (``1xnvidia-h100-80gb``) runs
        on that; any other config is taken to be one
        certified for the model (the configs' family lists them), which run on the card the
        catalogue certifies its base with (``catalogue/supported.py``), as does no config."""
        project, config_id = PUBLIC_PROJECT, None
        if config:
            found = _CONFIG_PATH.match(config)
            project, config_id = (found.group(1), found.group(2)) if found else (project, config)
        by_name = {supported.instance_name(h): h for h in hardware.HARDWARE}
        chosen = (hardware.get(config_id) or by_name.get(config_id)) if config_id else None
        if chosen is None:
            entry = supported.get(model.base)
            fitting = [h for h in hardware.HARDWARE if hardware.compatible(h, model.params)]
            chosen = entry.hardware if entry is not None and entry.hardware else None
            chosen = chosen or min(fitting, key=lambda h: (h.total_memory, h.cents_per_minute))
        elif not hardware.compatible(chosen, model.params):
            raise InvalidRequest(
                f"Config {config} runs on {chosen.id}, which cannot serve {model.name}: it "
                f"needs about {hardware.needed_gpu_memory_gb(model.params):.0f} GB of GPU memory",
                param="config",
            )
        config_id = config_id or f"cr_{model_id_of(chosen.id + model.name)[3:]}"
        # shown as the instance type's name (``1xnvidia-h100-80gb``), which the 3.x CLI prints
        return f"projects/{project}/configs/{config_id}", config_id, supported.instance_name(chosen)
