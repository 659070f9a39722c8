"""Who a key is, pure: the project and organization every tenant's key belongs to.

Together's API keys are project keys (SDK 3.x's ``/v2/projects/{projectId}/...`` and its
``/v3/whoami``), and the simulator's tenants are keys: so each tenant is exactly one project in
one organization of its own, derived from the tenant id alone (``core/tenancy.py``:
``proj-<tenant>``, ``org-<tenant>``, and ``key-<tenant>`` for the key). Nothing is stored, so
the same key names the same project across restarts, in every family that is project-scoped
(endpoints here, project models), and ``/v1/whoami``, ``/v3/whoami`` and ``/v1/projects`` always
agree. The project's slug and the names are the server's ``--account`` (``sim-user``), the
namespace fine-tune outputs are already named in (``<account>/<model>-<suffix>-<hex>``), so an
output's name is ``<project_slug>/...`` as the 3.x CLI expects of a project's own model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from mock_server.core.tenancy import organization_id, project_id

__all__ = ["Identity", "identity_of", "model_id_of"]


@dataclass(frozen=True)
class Identity:
    api_key_id: str
    project_id: str
    project_slug: str
    project_name: str
    organization_id: str
    organization_name: str

    def whoami_v1(self) -> dict[str, Any]:
        """The spec's ``WhoamiResponse`` (``GET /v1/whoami``): flat fields."""
        return {
            "api_key_id": self.api_key_id,
            "project_id": self.project_id,
            "project_name": self.project_name,
            "project_slug": self.project_slug,
            "organization_id": self.organization_id,
            "organization_name": self.organization_name,
        }

    def whoami_v3(self) -> dict[str, Any]:
        """SDK 3.1.1's ``WhoamiProjectAPIKey`` (``GET /v3/whoami``): the same facts, nested and
        tagged with the credential's ``type``; a key is always a project key here."""
        return {
            "type": "project_api_key",
            "api_key": {"id": self.api_key_id},
            "organization": {"id": self.organization_id, "name": self.organization_name},
            "project": {
                "id": self.project_id,
                "name": self.project_name,
                "slug": self.project_slug,
            },
        }

    def project(self) -> dict[str, Any]:
        """SDK 3.1.1's ``Project``, the one entry of ``GET /v1/projects``."""
        return {
            "id": self.project_id,
            "name": self.project_name,
            "slug": self.project_slug,
            "organization_id": self.organization_id,
            "organization_name": self.organization_name,
        }


def identity_of(tenant: str, account: str) -> Identity:
    return Identity(
        api_key_id=f"key-{tenant}",
        project_id=project_id(tenant),
        project_slug=account,
        project_name=account,
        organization_id=organization_id(tenant),
        organization_name=account,
    )


def model_id_of(name: str) -> str:
    """A model's registry id (``ml_...``, as SDK 3.1.1 spells them) from its name: a catalogue
    model's or a fine-tune output's, the same on every server, so a deployment's
    ``projects/{projectId}/models/{modelId}`` can be written without looking the id up first."""
    return "ml_" + hashlib.sha256(name.encode()).hexdigest()[:24]
