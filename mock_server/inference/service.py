"""Which model answers a completion, for the chat and completion routes and for batch lines.

A name is a catalogue model, a completed fine-tune's output (serverless), a started dedicated
endpoint, which answers as the model it serves, or a project endpoint (or one of its
deployments), which answers as the model of the ready deployment its traffic split picks. A
really trained output answers from its own weights (``real``); everything else from the
synthetic generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.core.errors import NotFound
from mock_server.fine_tuning.models import JobStatus

if TYPE_CHECKING:  # the service is built after them (deps.Services.later): here, names only
    from mock_server.endpoints.service import EndpointService
    from mock_server.fine_tuning.service import FineTuning
    from mock_server.projects.service import ProjectEndpoints
    from mock_server.real_training.chat import RealModel
    from mock_server.real_training.service import RealTraining

__all__ = ["Inference", "Serving"]


@dataclass(frozen=True)
class Serving:
    """What answers a completion: ``model`` is the name the answer carries, ``answers_as`` the
    model whose (synthetic) text it gives, ``real`` that model's weights if it was trained for
    real."""

    model: str
    answers_as: str
    real: RealModel | None


class Inference:
    def __init__(
        self,
        jobs: FineTuning,
        endpoints: EndpointService,
        real_training: RealTraining,
        *,
        projects: ProjectEndpoints | None = None,
    ) -> None:
        self.jobs = jobs
        self.endpoints = endpoints
        self.real_training = real_training
        self.projects = projects  # the project endpoints (SDK 3.x), by their names

    def serving(self, tenant: str, name: str) -> Serving:
        """What answers a completion that names ``name``. Anything else is Together's 404; an
        endpoint that is not STARTED, its 400."""
        try:
            model = self.chat_model(tenant, name)
        except NotFound:
            endpoint = self.endpoints.serving(tenant, name)
            if endpoint is None:
                routed = self.projects.serving(tenant, name) if self.projects else None
                if routed is None:
                    raise
                real = self.real_training.model_of(tenant, routed.model)
                return Serving(routed.name, routed.model, real)
            real = self.real_training.model_of(tenant, endpoint.model)
            return Serving(endpoint.name, endpoint.model, real)
        return Serving(model, model, self.real_training.model_of(tenant, model))

    def chat_model(self, tenant: str, name: str) -> str:
        """The model a completion may run on: a catalogue model, or a completed job's output."""
        if catalogue.get(name) is not None:
            return name
        try:
            job = self.jobs.output_job(tenant, name)
        except NotFound:
            job = None
        if job is not None and job.status is JobStatus.completed:
            return job.model_output_name
        raise NotFound(
            "model",
            name,
            param="model",
            code="model_not_available",
            message=f"Unable to access model {name}. Please visit https://api.together.ai/models "
            "to view the list of supported models.",
        )
