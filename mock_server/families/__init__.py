"""The stateful resource families beyond fine-tuning, files and dedicated endpoints: one module
per family, each a table of the spec operations it serves (``Operation``s over the ``Resources``
service in ``mock_server/families/engine.py``), mounted by ``routes/resources.py`` before the
generic
layer. ``DOWNLOADS`` maps the kinds of signed URL the families hand out to what serves them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mock_server.families import (
    clusters,
    code_interpreter,
    deployment_volumes,
    deployments,
    evaluations,
    model_uploads,
    queue,
    regions,
    rl_checkpoints,
    rl_operations,
    rl_sessions,
    secrets,
    shared_volumes,
    videos,
)
from mock_server.families.base import Operation
from mock_server.families.engine import Resources
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
]

DOWNLOADS: Mapping[str, Callable[[Resources, str, str, str], Download]] = {
    **deployment_volumes.DOWNLOADS,
    **rl_checkpoints.DOWNLOADS,
    **videos.DOWNLOADS,
}
