"""A deployment's walk (``mock_server.projects.walk``), read off a clock the tests step: the
provisioning to READY, a stop by zero replicas from every state, a start after a stop, SCALING
when the floor moves, the idle stop of ``inactiveTimeout``, and the etag each write moves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from mock_server.core.errors import Conflict, InvalidRequest
from mock_server.projects.models import (
    Deployment,
    DeploymentState,
    etag_of,
    resolve_autoscaling,
    scaled_durations,
)
from mock_server.projects.requests import (
    Autoscaling,
    CreateDeploymentRequest,
    UpdateDeploymentRequest,
)
from mock_server.projects.walk import (
    new_deployment,
    ready_replicas,
    record_request,
    state_at,
    update_deployment,
)
from tests.builders import T0

S = DeploymentState
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_deployment(
    *, speed: float = 1.0, min_replicas: int = 1, max_replicas: int = 1, **fields: Any
) -> Deployment:
    """A deployment created at ``T0`` at the service's pace divided by ``speed``."""
    req = CreateDeploymentRequest(
        name="v1",
        autoscaling=Autoscaling(min_replicas=min_replicas, max_replicas=max_replicas),
        **fields,
    )
    return new_deployment(
        req,
        id_="dep_1",
        project_id="proj-1",
        endpoint_id="ep_1",
        model="projects/proj-together/models/ml_1/revisions/rev_1",
        model_id="ml_1",
        model_revision_id="rev_1",
        serves=MODEL,
        config="projects/proj-together/configs/cr_1",
        config_id="cr_1",
        hardware="1xnvidia-h100-80gb",
        tenant="t",
        now=T0,
        durations=scaled_durations(speed),
    )


def _scale(deployment: Deployment, at: float, low: int, high: int) -> Deployment:
    req = UpdateDeploymentRequest(autoscaling=Autoscaling(min_replicas=low, max_replicas=high))
    return update_deployment(deployment, req, {"autoscaling"}, qualifier="p/e", now=_at(at))


def test_a_new_deployment_provisions_for_a_minute_then_is_ready() -> None:
    deployment = make_deployment()
    assert [state_at(deployment, _at(s)) for s in (0, 59.9, 60, 3600)] == [
        S.PROVISIONING,
        S.PROVISIONING,
        S.READY,
        S.READY,
    ]
    assert [ready_replicas(deployment, _at(s)) for s in (0, 60)] == [0, 1]


def test_the_instant_clock_shows_provisioning_to_the_create_and_ready_after() -> None:
    deployment = make_deployment(speed=float("inf"))
    assert state_at(deployment, T0) is S.PROVISIONING
    assert state_at(deployment, _at(0.000001)) is S.READY


def test_a_deployment_created_with_no_replicas_is_stopped() -> None:
    deployment = make_deployment(min_replicas=0, max_replicas=0)
    assert state_at(deployment, T0) is S.STOPPED
    assert ready_replicas(deployment, T0) == 0


@pytest.mark.parametrize("stop_at", [0, 30, 60, 600])
def test_zero_replicas_stops_from_any_state_in_fifteen_seconds(stop_at: float) -> None:
    stopped = _scale(make_deployment(), stop_at, 0, 0)
    assert state_at(stopped, _at(stop_at)) is S.STOPPING
    assert state_at(stopped, _at(stop_at + 15)) is S.STOPPED
    assert ready_replicas(stopped, _at(stop_at + 15)) == 0


def test_replicas_again_after_a_stop_provision_anew() -> None:
    stopped = _scale(make_deployment(), 100, 0, 0)
    started = _scale(stopped, 200, 2, 2)
    assert state_at(started, _at(200)) is S.PROVISIONING
    assert state_at(started, _at(260)) is S.READY
    assert ready_replicas(started, _at(260)) == 2


def test_a_new_floor_scales_a_ready_deployment_which_keeps_serving() -> None:
    scaled = _scale(make_deployment(), 100, 3, 3)
    assert state_at(scaled, _at(100)) is S.SCALING
    assert ready_replicas(scaled, _at(100)) == 3  # SCALING still answers
    assert state_at(scaled, _at(130)) is S.READY


def test_a_new_ceiling_alone_moves_nothing() -> None:
    wider = _scale(make_deployment(), 100, 1, 4)
    assert state_at(wider, _at(100)) is S.READY


def test_a_stop_interrupts_provisioning() -> None:
    provisioning = make_deployment()
    assert state_at(provisioning, _at(20)) is S.PROVISIONING
    stopped = _scale(provisioning, 20, 0, 0)
    assert [state_at(stopped, _at(s)) for s in (20, 34.9, 35, 100)] == [
        S.STOPPING,
        S.STOPPING,
        S.STOPPED,
        S.STOPPED,
    ]


def test_an_idle_deployment_stops_after_its_inactive_timeout() -> None:
    deployment = make_deployment(inactive_timeout=30)
    assert state_at(deployment, _at(60 + 30 * 60 - 1)) is S.READY
    assert state_at(deployment, _at(60 + 30 * 60)) is S.STOPPING
    assert state_at(deployment, _at(60 + 30 * 60 + 15)) is S.STOPPED


def test_a_request_resets_the_idle_clock() -> None:
    served = record_request(make_deployment(inactive_timeout=30), _at(1000))
    assert state_at(served, _at(1000 + 30 * 60 - 1)) is S.READY
    assert state_at(served, _at(1000 + 30 * 60)) is S.STOPPING


@pytest.mark.parametrize("minutes", [1, 29, 1441])
def test_an_inactive_timeout_is_off_or_thirty_minutes_to_a_day(minutes: int) -> None:
    with pytest.raises(InvalidRequest) as refused:
        make_deployment(inactive_timeout=minutes)
    assert refused.value.param == "inactiveTimeout"


def test_each_write_moves_the_etag_and_a_stale_one_is_refused() -> None:
    deployment = make_deployment()
    read = etag_of(deployment.id, deployment.version)
    scaled = _scale(deployment, 100, 2, 2)
    assert etag_of(scaled.id, scaled.version) != read
    stale = UpdateDeploymentRequest(etag=read, inactive_timeout=30)
    with pytest.raises(Conflict) as refused:
        update_deployment(scaled, stale, {"inactive_timeout"}, qualifier="p/e", now=_at(200))
    assert refused.value.param == "etag"
    fresh = stale.model_copy(update={"etag": etag_of(scaled.id, scaled.version)})
    updated = update_deployment(scaled, fresh, {"inactive_timeout"}, qualifier="p/e", now=_at(200))
    assert updated.inactive_timeout == 30


def test_traffic_does_not_move_the_etag() -> None:
    deployment = make_deployment()
    assert record_request(deployment, _at(100)).version == deployment.version


@pytest.mark.parametrize(
    ("asked", "current", "bounds"),
    [
        ({}, None, (1, 1)),
        ({"min_replicas": 2}, None, (2, 2)),  # "Defaults to minReplicas"
        ({"max_replicas": 0}, None, (0, 0)),  # created stopped
        ({"max_replicas": 3}, None, (1, 3)),
        ({"max_replicas": 4}, (2, 2), (2, 4)),  # "omitting it on update preserves"
        ({"min_replicas": 5}, (2, 3), (5, 5)),
    ],
)
def test_replica_bounds_resolve_as_the_spec_describes(
    asked: dict[str, int], current: tuple[int, int] | None, bounds: tuple[int, int]
) -> None:
    now = None if current is None else Autoscaling(min_replicas=current[0], max_replicas=current[1])
    resolved = resolve_autoscaling(Autoscaling(**asked), now)
    assert (resolved.min_replicas, resolved.max_replicas) == bounds


def test_a_floor_above_the_ceiling_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequest) as refused:
        resolve_autoscaling(Autoscaling(min_replicas=3, max_replicas=2))
    assert refused.value.param == "autoscaling.minReplicas"
