"""Every family's operations (``OPERATIONS``, mounted by ``routes.py``), and ``DOWNLOADS``: the
kinds of signed URL the families hand out, and what serves each."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mock_server.families import (
    code_interpreter,
    evaluations,
    fine_tune_data,
    model_uploads,
    queue,
    regions,
    secrets,
    videos,
)
from mock_server.families.base import Operation
from mock_server.families.clusters import clusters, shared_volumes
from mock_server.families.deployments import deployments
from mock_server.families.deployments import volumes as deployment_volumes
from mock_server.families.engine import Resources
from mock_server.families.project_models import OPERATIONS as PROJECT_MODELS
from mock_server.families.rl import checkpoints as rl_checkpoints
from mock_server.families.rl import operations as rl_operations
from mock_server.families.rl import sessions as rl_sessions
from mock_server.files.downloads import Download

__all__ = ["DOWNLOADS", "OPERATIONS"]

OPERATIONS: list[Operation] = [
    *secrets.OPERATIONS,
    *deployment_volumes.OPERATIONS,
    *deployments.OPERATIONS,
    *regions.OPERATIONS,
    *clusters.OPERATIONS,
    *shared_volumes.OPERATIONS,
    *evaluations.OPERATIONS,
    *model_uploads.OPERATIONS,
    *queue.OPERATIONS,
    *rl_sessions.OPERATIONS,
    *rl_operations.OPERATIONS,
    *rl_checkpoints.OPERATIONS,
    *code_interpreter.OPERATIONS,
    *videos.OPERATIONS,
    *PROJECT_MODELS,
    *fine_tune_data.OPERATIONS,
]

DOWNLOADS: Mapping[str, Callable[[Resources, str, str, str], Download]] = {
    **deployment_volumes.DOWNLOADS,
    **rl_checkpoints.DOWNLOADS,
    **videos.DOWNLOADS,
    **fine_tune_data.DOWNLOADS,
}
