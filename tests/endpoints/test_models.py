"""The dedicated endpoint's lifecycle (``mock_server.endpoints.models``), read off a clock the tests
step: the walk to STARTED and to STOPPED, what a start or a stop does from every state, the idle
stop of ``inactive_timeout``, updates, and the checks on a request."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.core.errors import InvalidRequest
from mock_server.core.lifecycle import Idle, Progress
from mock_server.endpoints.models import (
    Autoscaling,
    CreateEndpointRequest,
    Desired,
    Endpoint,
    EndpointState,
    UpdateEndpointRequest,
    new_endpoint,
    not_running,
    progress,
    record_request,
    render,
    request_state,
    scaled_durations,
    state_at,
    update,
)
from tests.builders import T0

S = EndpointState
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_endpoint(*, speed: float = 1.0, **fields: Any) -> Endpoint:
    """An endpoint created at ``T0`` with the service's pace divided by ``speed``."""
    req = CreateEndpointRequest(
        model=MODEL,
        hardware="1x_nvidia_h100_80gb_sxm",
        autoscaling=Autoscaling(min_replicas=1, max_replicas=1),
        **fields,
    )
    return new_endpoint(
        req,
        id_="endpoint-1",
        name=f"sim-user/{MODEL}-0123abcd",
        model=MODEL,
        owner="sim-user",
        tenant="tenant-a",
        now=T0,
        durations=scaled_durations(speed),
    )


def _states(endpoint: Endpoint, seconds: list[float]) -> list[EndpointState]:
    return [state_at(endpoint, _at(s)) for s in seconds]


# -- the walks ------------------------------------------------------------------------------------


def test_a_new_endpoint_is_pending_then_starting_then_started_within_a_minute() -> None:
    assert _states(make_endpoint(), [0, 14.9, 15, 59.9, 60, 3600]) == [
        S.PENDING,
        S.PENDING,
        S.STARTING,
        S.STARTING,
        S.STARTED,
        S.STARTED,
    ]


def test_the_timeline_speed_divides_the_start() -> None:
    assert _states(make_endpoint(speed=3), [4.9, 5, 19.9, 20]) == [
        S.PENDING,
        S.STARTING,
        S.STARTING,
        S.STARTED,
    ]


def test_on_the_instant_clock_the_create_sees_pending_and_any_later_read_started() -> None:
    endpoint = make_endpoint(speed=math.inf)
    assert _states(endpoint, [0, 0.000001]) == [S.PENDING, S.STARTED]


def test_an_endpoint_created_stopped_never_starts() -> None:
    assert _states(make_endpoint(state="STOPPED"), [0, 60, 3600]) == [S.STOPPED] * 3


def test_a_stop_walks_through_stopping_to_stopped() -> None:
    stopped = request_state(make_endpoint(), "STOPPED", _at(100))
    assert _states(stopped, [99, 100, 114.9, 115, 1000]) == [
        S.STOPPING,  # the record now describes the stop: before it, ask the old record
        S.STOPPING,
        S.STOPPING,
        S.STOPPED,
        S.STOPPED,
    ]


def test_a_stopped_endpoint_starts_again_through_pending_and_starting() -> None:
    stopped = request_state(make_endpoint(), "STOPPED", _at(100))
    restarted = request_state(stopped, "STARTED", _at(200))
    assert _states(restarted, [200, 215, 259.9, 260]) == [
        S.PENDING,
        S.STARTING,
        S.STARTING,
        S.STARTED,
    ]


# What a request does from each state: (seconds after creation when asked, the endpoint's state
# then, the request, the states 0 s / 15 s / 60 s after the request).
STOP_AT = 100.0  # an endpoint stopped at 100 s is STOPPING until 115 s
REQUESTS = [
    (5, S.PENDING, "STOPPED", [S.STOPPING, S.STOPPED, S.STOPPED]),
    (30, S.STARTING, "STOPPED", [S.STOPPING, S.STOPPED, S.STOPPED]),
    (90, S.STARTED, "STOPPED", [S.STOPPING, S.STOPPED, S.STOPPED]),
    (5, S.PENDING, "STARTED", [S.PENDING, S.STARTING, S.STARTED]),  # unchanged: 20 s, 75 s
    (90, S.STARTED, "STARTED", [S.STARTED, S.STARTED, S.STARTED]),
    (105, S.STOPPING, "STARTED", [S.PENDING, S.STARTING, S.STARTED]),
    (105, S.STOPPING, "STOPPED", [S.STOPPING, S.STOPPED, S.STOPPED]),  # unchanged: the same stop
    (200, S.STOPPED, "STOPPED", [S.STOPPED, S.STOPPED, S.STOPPED]),
    (200, S.STOPPED, "STARTED", [S.PENDING, S.STARTING, S.STARTED]),
]


@pytest.mark.parametrize(("asked_at", "state", "desired", "after"), REQUESTS)
def test_a_request_from_each_state(
    asked_at: float, state: EndpointState, desired: Desired, after: list[EndpointState]
) -> None:
    endpoint = make_endpoint()
    if asked_at > STOP_AT:
        endpoint = request_state(endpoint, "STOPPED", _at(STOP_AT))
    assert state_at(endpoint, _at(asked_at)) is state
    moved = request_state(endpoint, desired, _at(asked_at))
    assert _states(moved, [asked_at, asked_at + 15, asked_at + 60]) == after


def test_asking_for_where_the_endpoint_already_heads_changes_nothing() -> None:
    starting = make_endpoint()
    assert request_state(starting, "STARTED", _at(30)) is starting
    stopping = request_state(starting, "STOPPED", _at(100))
    assert request_state(stopping, "STOPPED", _at(105)) is stopping


Steps = list[tuple[float, Desired]]
ON_THE_WAY: dict[str, tuple[EndpointState, ...]] = {
    "STARTED": (S.PENDING, S.STARTING, S.STARTED),
    "STOPPED": (S.STOPPING, S.STOPPED),
}


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=200), st.sampled_from(["STARTED", "STOPPED"])),
        max_size=8,
    )
)
def test_every_sequence_of_requests_rests_where_the_last_one_asked(steps: Steps) -> None:
    endpoint, now = make_endpoint(), 0.0
    for wait, desired in steps:
        now += wait
        endpoint = request_state(endpoint, desired, _at(now))
        assert state_at(endpoint, _at(now)) in ON_THE_WAY[desired]
    last = steps[-1][1] if steps else "STARTED"
    assert state_at(endpoint, _at(now + 60)) is EndpointState(last)


# -- inactive_timeout -----------------------------------------------------------------------------


def test_a_started_endpoint_with_an_inactive_timeout_stops_after_that_idle_time() -> None:
    endpoint = make_endpoint(inactive_timeout=5)  # minutes: STARTED at 60 s, idle until 360 s
    assert _states(endpoint, [359.9, 360, 374.9, 375]) == [
        S.STARTED,
        S.STOPPING,
        S.STOPPING,
        S.STOPPED,
    ]


def test_a_request_resets_the_idle_clock() -> None:
    used = record_request(make_endpoint(inactive_timeout=5), _at(300))
    assert _states(used, [599.9, 600, 615]) == [S.STARTED, S.STOPPING, S.STOPPED]


def test_an_endpoint_that_stopped_for_idleness_starts_again_when_asked() -> None:
    endpoint = make_endpoint(inactive_timeout=5)
    restarted = request_state(endpoint, "STARTED", _at(1000))
    assert _states(restarted, [1000, 1060]) == [S.PENDING, S.STARTED]
    assert state_at(restarted, _at(1060 + 299)) is S.STARTED  # idle again from 1060 s
    assert state_at(restarted, _at(1060 + 300)) is S.STOPPING


@pytest.mark.parametrize("timeout", [0, None])
def test_a_timeout_of_zero_or_null_turns_the_idle_stop_off(timeout: int | None) -> None:
    endpoint = make_endpoint(inactive_timeout=5)
    patched = update(endpoint, UpdateEndpointRequest(inactive_timeout=timeout), _at(100))
    assert patched.inactive_timeout is None
    assert state_at(patched, _at(10 * 86400)) is S.STARTED


# -- updates and checks ---------------------------------------------------------------------------


def test_an_update_changes_only_the_fields_sent() -> None:
    endpoint = make_endpoint(display_name="Mine", inactive_timeout=30)
    rescaled = update(
        endpoint,
        UpdateEndpointRequest(autoscaling=Autoscaling(min_replicas=2, max_replicas=4)),
        _at(90),
    )
    assert rescaled.autoscaling == Autoscaling(min_replicas=2, max_replicas=4)
    assert (rescaled.display_name, rescaled.inactive_timeout) == ("Mine", 30)
    renamed = update(rescaled, UpdateEndpointRequest(display_name="Ours", state="STOPPED"), _at(90))
    assert renamed.display_name == "Ours"
    assert _states(renamed, [90, 105]) == [S.STOPPING, S.STOPPED]


def test_min_replicas_above_max_replicas_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidRequest) as caught:
        update(
            make_endpoint(),
            UpdateEndpointRequest(autoscaling=Autoscaling(min_replicas=3, max_replicas=2)),
            _at(0),
        )
    assert (caught.value.param, caught.value.message) == (
        "autoscaling.min_replicas",
        "autoscaling.min_replicas (3) must not exceed autoscaling.max_replicas (2)",
    )


def test_a_negative_inactive_timeout_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        make_endpoint(inactive_timeout=-1)
    assert caught.value.param == "inactive_timeout"


def test_an_endpoint_renders_as_the_spec_s_dedicated_endpoint() -> None:
    assert render(make_endpoint(display_name="My Fine-tuned Model"), _at(60)) == {
        "object": "endpoint",
        "id": "endpoint-1",
        "name": f"sim-user/{MODEL}-0123abcd",
        "display_name": "My Fine-tuned Model",
        "model": MODEL,
        "hardware": "1x_nvidia_h100_80gb_sxm",
        "type": "dedicated",
        "owner": "sim-user",
        "state": "STARTED",
        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        "created_at": "2026-01-01T00:00:00.000000Z",
    }


def test_an_endpoint_round_trips_through_json() -> None:
    endpoint = request_state(make_endpoint(inactive_timeout=5), "STOPPED", _at(90))
    assert Endpoint.model_validate_json(endpoint.model_dump_json()) == endpoint


def test_a_record_in_the_stored_format_is_the_lifecycle_engine_s_walk() -> None:
    # The fields as data dirs hold them: the engine reads them, a move writes the same ones.
    stored = make_endpoint(inactive_timeout=5).model_dump(mode="json") | {
        "since": "2026-01-01T00:01:40.000000Z",
        "walk": ["PENDING", "STARTING"],
        "rest": "STARTED",
        "durations": {"PENDING": 15.0, "STARTING": 45.0, "STOPPING": 15.0},
        "last_request_at": "2026-01-01T00:05:00.000000Z",
    }
    endpoint = Endpoint.model_validate(stored)
    assert progress(endpoint) == Progress(
        since=_at(100),
        walk=(("PENDING", 15.0), ("STARTING", 45.0)),
        rest="STARTED",
        idle=Idle(300.0, (("STOPPING", 15.0),), "STOPPED", touched=_at(300)),
    )
    assert _states(endpoint, [160, 599.9, 600]) == [S.STARTED, S.STARTED, S.STOPPING]
    stopped = request_state(endpoint, "STOPPED", _at(200)).model_dump(mode="json")
    assert {k: stopped[k] for k in ("since", "walk", "rest")} == {
        "since": "2026-01-01T00:03:20Z",
        "walk": ["STOPPING"],
        "rest": "STOPPED",
    }


def test_a_stopped_endpoint_refuses_completions_with_the_service_s_code() -> None:
    error = not_running("sim-user/x-1")
    assert (error.status, error.body()) == (
        400,
        {
            "error": {
                "message": "The dedicated endpoint for sim-user/x-1 is not running. Please "
                "visit https://api.together.ai/models to start the endpoint.",
                "type": "invalid_request_error",
                "param": "model",
                "code": "dedicated_endpoint_not_running",
            }
        },
    )
