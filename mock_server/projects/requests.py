"""The request bodies of project-scoped endpoints and deployments, as the spec spells them
(camelCase, which SDK 3.1.1 sends), and the parts the records share with them (autoscaling, a
traffic split entry, visibility). The records themselves are ``models.py``'s."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from mock_server.core.lazy_model import LazyModel

__all__ = [
    "Autoscaling",
    "Camel",
    "CreateDeploymentRequest",
    "CreateEndpointRequest",
    "TrafficSplitEntry",
    "UpdateDeploymentRequest",
    "UpdateEndpointRequest",
    "Visibility",
]

Visibility = Literal["VISIBILITY_PRIVATE", "VISIBILITY_INTERNAL"]


class Camel(LazyModel):
    """The spec's request bodies spell fields in camelCase; SDK 3.1.1 sends them so."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Autoscaling(Camel):
    min_replicas: int | None = Field(default=None, ge=0, le=2**31 - 1)
    max_replicas: int | None = Field(default=None, ge=0, le=2**31 - 1)
    scale_down_window: str | None = None
    scale_up_window: str | None = None
    scale_to_zero_window: str | None = None
    scaling_metrics: list[dict[str, Any]] | None = None


class TrafficSplitEntry(Camel):
    deployment_id: str
    weight: float


class CreateEndpointRequest(Camel):
    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py
    name: str
    visibility: Visibility = "VISIBILITY_PRIVATE"


class UpdateEndpointRequest(Camel):
    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py
    name: str | None = None
    etag: str | None = None
    traffic_split: list[TrafficSplitEntry] | None = None
    visibility: Visibility | None = None


class CreateDeploymentRequest(Camel):
    """The spec's ``DE.CreateDeploymentRequest``, with what SDK 3.1.1 sends beside it
    (``inactiveTimeout``, ``maxConcurrentRequestsPerReplica``)."""

    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py

    name: str
    autoscaling: Autoscaling
    model: str | None = None
    model_id: str | None = None
    model_revision_id: str | None = None
    config: str | None = None
    config_id: str | None = None
    enable_lora: bool = False
    placement: dict[str, Any] | None = None
    inactive_timeout: int | None = None
    max_concurrent_requests_per_replica: str | None = None


class UpdateDeploymentRequest(Camel):
    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py
    name: str | None = None
    autoscaling: Autoscaling | None = None
    etag: str | None = None
    inactive_timeout: int | None = None
    max_concurrent_requests_per_replica: str | None = None
