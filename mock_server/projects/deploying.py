"""What a deployment may serve, and on what: a catalogue model, or the output of one of the
tenant's completed fine-tunes, named by its resource path
(``projects/{projectId}/models/{modelId}[/revisions/{revisionId}]``, ``modelId`` being
``identity.model_id_of(name)`` or the job's id) or, as the deprecated ``modelId`` allows, by the
name itself; its revision; and the config (hardware) it runs with.

A deployment points only at records that exist: its config is one the configs family serves
and its revision the one the models family lists for the model. The ids are made by the same
functions (``catalogue/model_ids.py``, which both this service and the families may import:
the projects service sits below the families and may not call up into them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.catalogue import supported
from mock_server.catalogue.model_ids import (
    catalogue_revision_id,
    config_id_of,
    fine_tune_revision_id,
)
from mock_server.catalogue.supported import PUBLIC_PROJECT
from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.projects.identity import Identity, model_id_of
from mock_server.projects.records import Records

__all__ = ["MODEL_PATH", "Deployable", "Deploying"]

MODEL_PATH = re.compile(r"^projects/([^/]+)/models/([^/]+)(?:/revisions/([^/]+))?$")
_CONFIG_PATH = re.compile(r"^projects/([^/]+)/configs/([^/]+)$")
# The configs family's configs by id: one per catalogue model with certified hardware.
_CONFIGS = {config_id_of(s.name): s for s in supported.SUPPORTED if s.hardware is not None}


@dataclass(frozen=True)
class Deployable:
    name: str  # what answers: a catalogue model or a fine-tune output
    base: str  # the catalogue model it is (or was fine-tuned from)
    params: int
    project: str
    model_id: str
    revision: str  # its one revision, as the models family lists it


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
                entry.name,
                entry.name,
                entry.param_count,
                PUBLIC_PROJECT,
                model_id_of(name),
                catalogue_revision_id(name),
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
            job.model_output_name,
            job.model,
            params,
            me.project_id,
            model_id_of(name),
            fine_tune_revision_id(job.id),
        )

    @staticmethod
    def _revision(model: Deployable, from_path: str | None, sent: str | None) -> str:
        """The revision a deployment runs: the model's one (the default), or the one the
        ``model`` path or ``modelRevisionId`` names, which must be it."""
        for wanted, param in ((from_path, "model"), (sent, "modelRevisionId")):
            if wanted is not None and wanted != model.revision:
                raise NotFound(
                    "revision",
                    wanted,
                    message=f"Revision {wanted} of model {model.name} not found (its revision "
                    f"is {model.revision})",
                    param=param,
                )
        return model.revision

    @staticmethod
    def _hardware(config: str | None, model: Deployable, me: Identity) -> tuple[str, str, str]:
        """The config path, its id and the instance type it runs on. A config is one of the
        configs family's (``GET /v2/projects/{projectId}/configs``): the public catalogue's,
        one per deployable model, named by its id or its path under the public project or the
        key's own (the 3.x CLI qualifies a bare id with ``--project``). Another project's, or
        an id no config has, is a 404 naming ``config``; one certified for another model than
        the deployment's base a 400. No config is the base's own."""
        entry = supported.get(model.base)
        if config is None:
            if entry is None or entry.hardware is None:
                raise InvalidRequest(
                    f"{model.name} has no certified config: name one", param="config"
                )
            chosen, config_id = entry.hardware, config_id_of(entry.name)
        else:
            found = _CONFIG_PATH.match(config)
            project, config_id = (found.group(1), found.group(2)) if found else (None, config)
            certified = _CONFIGS.get(config_id)
            if project not in (None, PUBLIC_PROJECT, me.project_id) or certified is None:
                raise NotFound(
                    "config", config, message=f"Config {config} not found", param="config"
                )
            if certified.name != model.base:
                raise InvalidRequest(
                    f"Config {config} is certified for {certified.name}, not for {model.name} "
                    f"(based on {model.base}): list its configs with "
                    f"GET /v2/projects/{me.project_id}/configs?referenceModelId={model.model_id}",
                    param="config",
                )
            assert certified.hardware is not None  # _CONFIGS holds the deployable ones
            chosen = certified.hardware
        # shown as the instance type's name (``1xnvidia-h100-80gb``), which the 3.x CLI prints
        path = f"projects/{PUBLIC_PROJECT}/configs/{config_id}"
        return path, config_id, supported.instance_name(chosen)
