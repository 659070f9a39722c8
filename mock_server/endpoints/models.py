"""Dedicated endpoints and their lifecycle, pure.

An endpoint's state is never stored: it is read off the clock by the one lifecycle engine
(``core/lifecycle.py``), as every resource family's status is. The record keeps where the
endpoint is headed (``rest``: STARTED or STOPPED), when it set off (``since``) and the states it
walks through on the way (``walk``), each lasting the duration planned when the endpoint was
created (``durations``); ``progress`` reads that as the engine's ``Progress``, and a move's new
``Progress`` is written back into the same fields, so records stored before the engine took over
read unchanged. Reading an endpoint is ``state_at(endpoint, now)``; asking it to start or stop
is ``request_state(endpoint, desired, now)``, the engine's ``apply``, which returns a new frozen
record. Nothing here reads a clock, touches the store or logs.

    create ─→ PENDING ─→ STARTING ─→ STARTED
                 │           │           │
    stop         └───────────┴───────────┴──→ STOPPING ─→ STOPPED
    start        PENDING ←─────────────────────────┴───────────┘

A STARTED endpoint with an ``inactive_timeout`` (minutes, unscaled: it is the user's own
setting) that gets no request for that long stops by itself, as the service's do: the engine's
idle rest (``Idle``), whose clock ``last_request_at`` resets. ``ERROR`` is the spec's value for a
failed deployment; nothing in the simulator fails one yet.

The request checks that need no lookup (autoscaling, timeouts) are here too; whether the model
and the hardware exist is decided by the caller, who can see the catalogue and the tenant's jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import ConfigDict, Field

from mock_server.core.errors import InvalidRequest
from mock_server.core.lazy_model import LazyModel
from mock_server.core.lifecycle import Idle, Lifecycle, Move, Progress, apply, settle, status_at
from mock_server.core.timefmt import iso

__all__ = [
    "DURATIONS",
    "WALKS",
    "Autoscaling",
    "CreateEndpointRequest",
    "Desired",
    "Endpoint",
    "EndpointState",
    "UpdateEndpointRequest",
    "check_settings",
    "lifecycle",
    "new_endpoint",
    "not_running",
    "progress",
    "record_request",
    "render",
    "render_listed",
    "request_state",
    "scaled_durations",
    "state_at",
    "update",
]


class EndpointState(StrEnum):
    PENDING = "PENDING"
    STARTING = "STARTING"
    STARTED = "STARTED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


Desired = Literal["STARTED", "STOPPED"]

# What a request to start or stop walks through before the endpoint rests in the state asked for,
# from wherever it is: a stop interrupts a start, a start begins again after a stop.
WALKS: Final[Mapping[Desired, tuple[EndpointState, ...]]] = {
    "STARTED": (EndpointState.PENDING, EndpointState.STARTING),
    "STOPPED": (EndpointState.STOPPING,),
}

# Seconds each walking state lasts at the real service's pace (speed 1): a start takes about a
# minute, a stop a quarter of that. The timeline's speed divides them, as it does a job's phases.
DURATIONS: Final[Mapping[EndpointState, float]] = {
    EndpointState.PENDING: 15.0,
    EndpointState.STARTING: 45.0,
    EndpointState.STOPPING: 15.0,
}


def scaled_durations(speed: float) -> dict[EndpointState, float]:
    """``DURATIONS`` at ``speed``; an infinite speed (the instant clock) makes them all zero."""
    return {state: seconds / speed for state, seconds in DURATIONS.items()}


class Autoscaling(LazyModel):
    model_config = ConfigDict(frozen=True)

    # estimated: the service's lower bound is not published; a started endpoint has a replica.
    min_replicas: int = Field(ge=1, le=2**31 - 1)
    max_replicas: int = Field(ge=1, le=2**31 - 1)


class CreateEndpointRequest(LazyModel):
    """The spec's ``CreateEndpointRequest``."""

    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py

    model: str
    hardware: str
    autoscaling: Autoscaling
    display_name: str | None = None
    disable_prompt_cache: bool = False  # deprecated in the spec, and without effect
    disable_speculative_decoding: bool = False
    state: Desired = "STARTED"
    inactive_timeout: int | None = None
    availability_zone: str | None = None


class UpdateEndpointRequest(LazyModel):
    """The body of ``PATCH /endpoints/{endpointId}``: every field optional. ``inactive_timeout``
    given as null (or 0) turns the timeout off, so whether it was sent is read from
    ``model_fields_set``."""

    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py

    display_name: str | None = None
    state: Desired | None = None
    autoscaling: Autoscaling | None = None
    inactive_timeout: int | None = None


class Endpoint(LazyModel):
    """A dedicated endpoint. Field names are the spec's (``DedicatedEndpoint``); the fields after
    ``# -- simulator state`` never leave the server."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    display_name: str
    model: str
    hardware: str
    owner: str
    autoscaling: Autoscaling
    created_at: datetime
    disable_prompt_cache: bool = False
    disable_speculative_decoding: bool = False
    inactive_timeout: int | None = None
    availability_zone: str | None = None
    # -- simulator state
    tenant: str
    durations: dict[EndpointState, float]  # as planned at creation, whatever the speed later
    since: datetime  # when the current walk began
    walk: tuple[EndpointState, ...] = ()
    rest: EndpointState  # where the walk ends
    last_request_at: datetime | None = None


def check_settings(autoscaling: Autoscaling | None, inactive_timeout: int | None) -> None:
    """The checks pydantic cannot make field by field."""
    if autoscaling is not None and autoscaling.min_replicas > autoscaling.max_replicas:
        raise InvalidRequest(
            f"autoscaling.min_replicas ({autoscaling.min_replicas}) must not exceed "
            f"autoscaling.max_replicas ({autoscaling.max_replicas})",
            param="autoscaling.min_replicas",
        )
    if inactive_timeout is not None and inactive_timeout < 0:
        raise InvalidRequest(
            f"inactive_timeout must be a number of minutes, 0 or more (got {inactive_timeout})",
            param="inactive_timeout",
        )


def new_endpoint(
    req: CreateEndpointRequest,
    *,
    id_: str,
    name: str,
    model: str,
    owner: str,
    tenant: str,
    now: datetime,
    durations: dict[EndpointState, float],
) -> Endpoint:
    """A new endpoint, on its way to STARTED; one created STOPPED has nothing to walk through."""
    check_settings(req.autoscaling, req.inactive_timeout)
    created = lifecycle(durations)
    walk = created.steps if req.state == "STARTED" else ()
    return Endpoint(
        id=id_,
        name=name,
        display_name=req.display_name or name,
        model=model,
        hardware=req.hardware,
        owner=owner,
        autoscaling=req.autoscaling,
        created_at=now,
        disable_prompt_cache=req.disable_prompt_cache,
        disable_speculative_decoding=req.disable_speculative_decoding,
        inactive_timeout=req.inactive_timeout,
        availability_zone=req.availability_zone,
        tenant=tenant,
        durations=durations,
        since=now,
        walk=tuple(EndpointState(state) for state, _ in walk),
        rest=EndpointState(req.state),
    )


def lifecycle(durations: Mapping[EndpointState, float]) -> Lifecycle:
    """The endpoint's lifecycle at the pace it was created with: its ``durations`` are already
    scaled, so the engine is asked at speed 1 and a restart after a change of speed keeps them."""

    def steps(desired: Desired) -> tuple[tuple[str, float], ...]:
        return tuple((state.value, durations[state]) for state in WALKS[desired])

    return Lifecycle(
        steps=steps("STARTED"),
        rest=EndpointState.STARTED.value,
        moves={desired: Move(steps(desired), desired) for desired in WALKS},
    )


def progress(endpoint: Endpoint) -> Progress:
    """The record's walk as the engine's ``Progress``; a STARTED endpoint with a timeout rests
    there only until it has been idle that long, then walks the stop."""
    idle = None
    if endpoint.rest is EndpointState.STARTED and endpoint.inactive_timeout:
        stop = lifecycle(endpoint.durations).moves["STOPPED"]
        idle = Idle(
            seconds=endpoint.inactive_timeout * 60.0,
            walk=stop.steps,
            rest=stop.rest,
            touched=endpoint.last_request_at,
        )
    walk = tuple((state.value, endpoint.durations[state]) for state in endpoint.walk)
    return Progress(since=endpoint.since, walk=walk, rest=endpoint.rest.value, idle=idle)


def _moved(endpoint: Endpoint, before: Progress, after: Progress) -> Endpoint:
    """``after`` written back into the record's own fields (the same record if nothing moved)."""
    if after is before:
        return endpoint
    walk = tuple(EndpointState(state) for state, _ in after.walk)
    return endpoint.model_copy(
        update={"since": after.since, "walk": walk, "rest": EndpointState(after.rest)}
    )


def _settled(endpoint: Endpoint, now: datetime) -> Endpoint:
    """The record with an idle stop that is due by ``now`` written in as the current walk."""
    before = progress(endpoint)
    return _moved(endpoint, before, settle(before, now))


def state_at(endpoint: Endpoint, now: datetime) -> EndpointState:
    """The state at ``now``. The request that began a walk sees its first state even when the
    instant clock makes every state last no time: a create answers PENDING, the next read
    STARTED."""
    return EndpointState(status_at(progress(endpoint), now))


def request_state(endpoint: Endpoint, desired: Desired, now: datetime) -> Endpoint:
    """Start or stop. Asking for where the endpoint already rests or heads changes nothing (a
    second STARTED does not restart a starting endpoint)."""
    before = progress(endpoint)
    after = apply(lifecycle(endpoint.durations), before, desired, now, speed=1.0)
    return _moved(endpoint, before, after)


def update(endpoint: Endpoint, req: UpdateEndpointRequest, now: datetime) -> Endpoint:
    """``PATCH``: the fields that were sent, then the state change if one was asked for."""
    check_settings(req.autoscaling, req.inactive_timeout)
    changes: dict[str, Any] = {}
    if req.display_name is not None:
        changes["display_name"] = req.display_name
    if req.autoscaling is not None:
        changes["autoscaling"] = req.autoscaling
    if "inactive_timeout" in req.model_fields_set:
        # the idle clock counts from the change, not from the last request before it
        changes["inactive_timeout"] = req.inactive_timeout or None
        changes["last_request_at"] = now
    moved = _settled(endpoint, now).model_copy(update=changes)
    return request_state(moved, req.state, now) if req.state is not None else moved


def record_request(endpoint: Endpoint, now: datetime) -> Endpoint:
    """A request served: it resets the idle clock of ``inactive_timeout``."""
    return endpoint.model_copy(update={"last_request_at": now})


def not_running(name: str) -> InvalidRequest:
    """The service's answer to a completion on a dedicated endpoint that is not STARTED."""
    return InvalidRequest(
        f"The dedicated endpoint for {name} is not running. Please visit "
        "https://api.together.ai/models to start the endpoint.",
        param="model",
        code="dedicated_endpoint_not_running",
    )


def render(endpoint: Endpoint, now: datetime) -> dict[str, Any]:
    """The spec's ``DedicatedEndpoint``."""
    return {
        "object": "endpoint",
        "id": endpoint.id,
        "name": endpoint.name,
        "display_name": endpoint.display_name,
        "model": endpoint.model,
        "hardware": endpoint.hardware,
        "type": "dedicated",
        "owner": endpoint.owner,
        "state": state_at(endpoint, now).value,
        "autoscaling": endpoint.autoscaling.model_dump(),
        "created_at": iso(endpoint.created_at),
    }


def render_listed(endpoint: Endpoint, now: datetime) -> dict[str, Any]:
    """The spec's ``ListEndpoint``."""
    return {
        "object": "endpoint",
        "id": endpoint.id,
        "name": endpoint.name,
        "model": endpoint.model,
        "type": "dedicated",
        "owner": endpoint.owner,
        "state": state_at(endpoint, now).value,
        "created_at": iso(endpoint.created_at),
    }
