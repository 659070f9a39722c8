"""SDK 3.x's model registry: a project's models (fine-tune outputs, uploads and registered models)
and their remote uploads, the configs they deploy with, the supported-model catalogue and the
inference instance types. ``model`` declares what the modules share (the records, the project of
a call, derived ids, paging); ``catalogue`` renders the public catalogue, ``held`` gathers the
project's models, ``models`` answers the operations on them, ``configs`` and ``uploads`` build on
the catalogue and ``held``."""

from __future__ import annotations

from mock_server.families.base import Operation
from mock_server.families.project_models import catalogue, configs, models, uploads

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = [
    *catalogue.OPERATIONS,
    *configs.OPERATIONS,
    *models.OPERATIONS,
    *uploads.OPERATIONS,
]
