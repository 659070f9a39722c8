"""The project endpoint's pure parts: names, the traffic split's checks, where a request goes
(``views.pick``: "in proportion to" ``weight * readyReplicas``), the shares an endpoint shows,
the lists' query (``listing.page``), and the identity a key has (``identity``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mock_server.core.errors import Conflict, InvalidRequest
from mock_server.core.tenancy import organization_id, project_id
from mock_server.projects.identity import identity_of, model_id_of
from mock_server.projects.listing import Listed, page
from mock_server.projects.models import (
    ProjectEndpoint,
    bare_name,
    etag_of,
    new_endpoint,
    update_endpoint,
    without_deployment,
)
from mock_server.projects.requests import (
    CreateEndpointRequest,
    TrafficSplitEntry,
    UpdateEndpointRequest,
)
from mock_server.projects.views import pick, traffic_shares
from tests.builders import T0
from tests.projects.test_walk import _at, _scale, make_deployment

READY = _at(60)


def _endpoint(**fields: Any) -> ProjectEndpoint:
    req = CreateEndpointRequest(name="support-bot", **fields)
    return new_endpoint(req, id_="ep_1", project_id="proj-1", slug="acme", tenant="t", now=T0)


def _split(endpoint: ProjectEndpoint, *entries: tuple[str, float]) -> ProjectEndpoint:
    split = [TrafficSplitEntry(deployment_id=d, weight=w) for d, w in entries]
    req = UpdateEndpointRequest(traffic_split=split)
    ids = ["dep_a", "dep_b"]
    return update_endpoint(
        endpoint, req, {"traffic_split"}, slug="acme", deployment_ids=ids, now=T0
    )


@pytest.mark.parametrize(
    ("sent", "bare"), [("support-bot", "support-bot"), ("acme/support-bot", "support-bot")]
)
def test_an_endpoint_name_is_bare_or_qualified_by_the_project_slug(sent: str, bare: str) -> None:
    assert bare_name(sent, "acme", "name") == bare


@pytest.mark.parametrize("sent", ["other/support-bot", "", "-x", "has space", "a/b/c"])
def test_a_name_of_another_project_or_with_odd_characters_is_refused(sent: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        bare_name(sent, "acme", "name")
    assert refused.value.param == "name"


def test_the_split_must_name_the_endpoints_own_deployments_once_with_finite_weights() -> None:
    endpoint = _endpoint()
    cases = [
        ((("dep_zzz", 1.0),), "trafficSplit.0.deploymentId"),
        ((("dep_a", 1.0), ("dep_a", 2.0)), "trafficSplit.1.deploymentId"),
        ((("dep_a", -1.0),), "trafficSplit.0.weight"),
        ((("dep_a", float("inf")),), "trafficSplit.0.weight"),
    ]
    for entries, param in cases:
        with pytest.raises(InvalidRequest) as refused:
            _split(endpoint, *entries)
        assert refused.value.param == param


def test_a_split_update_is_a_new_version_and_a_stale_etag_is_a_conflict() -> None:
    endpoint = _endpoint()
    routed = _split(endpoint, ("dep_a", 1.0))
    assert routed.version == endpoint.version + 1
    stale = UpdateEndpointRequest(etag=etag_of(endpoint.id, endpoint.version), name="renamed")
    with pytest.raises(Conflict):
        update_endpoint(routed, stale, {"name"}, slug="acme", deployment_ids=[], now=T0)


def test_a_deleted_deployment_leaves_the_split() -> None:
    routed = _split(_endpoint(), ("dep_a", 1.0), ("dep_b", 2.0))
    left = without_deployment(routed, "dep_a", T0)
    assert [e.deployment_id for e in left.traffic_split] == ["dep_b"]
    assert without_deployment(left, "dep_zzz", T0) is left


def _two() -> dict[str, Any]:
    a = make_deployment().model_copy(update={"id": "dep_a"})
    b = _scale(make_deployment(), 0, 3, 3).model_copy(update={"id": "dep_b"})
    return {"dep_a": a, "dep_b": b}


def test_requests_go_in_proportion_to_weight_times_ready_replicas() -> None:
    deployments = _two()
    endpoint = _split(_endpoint(), ("dep_a", 2.0), ("dep_b", 1.0))  # capacities 2 and 3
    assert traffic_shares(endpoint, deployments, READY) == {"dep_a": 0.4, "dep_b": 0.6}
    draws = [i / 100 for i in range(100)]
    chosen = [pick(endpoint, deployments, READY, d).id for d in draws]  # type: ignore[union-attr]
    assert (chosen.count("dep_a"), chosen.count("dep_b")) == (40, 60)


def test_the_largest_finite_weights_still_give_finite_shares() -> None:
    deployments = _two()  # one and three ready replicas
    endpoint = _split(_endpoint(), ("dep_a", 1e308), ("dep_b", 1e308))
    shares = traffic_shares(endpoint, deployments, READY)
    assert shares == pytest.approx({"dep_a": 0.25, "dep_b": 0.75})
    assert pick(endpoint, deployments, READY, 0.9).id == "dep_b"  # type: ignore[union-attr]


def test_an_unrouted_or_unready_endpoint_has_nowhere_to_send_a_request() -> None:
    deployments = _two()
    unrouted = _endpoint()
    assert pick(unrouted, deployments, READY, 0.5) is None
    zero = _split(_endpoint(), ("dep_a", 0.0))
    assert pick(zero, deployments, READY, 0.5) is None
    routed = _split(_endpoint(), ("dep_a", 1.0))
    assert pick(routed, deployments, T0, 0.5) is None  # still provisioning
    assert traffic_shares(routed, deployments, T0) == {"dep_a": 0.0, "dep_b": 0.0}


def test_a_key_is_one_project_in_one_organization_named_after_its_tenant() -> None:
    me = identity_of("abc123", "sim-user")
    assert (me.project_id, me.organization_id) == (project_id("abc123"), organization_id("abc123"))
    assert me.whoami_v1() == {
        "api_key_id": me.api_key_id,
        "project_id": me.project_id,
        "project_name": "sim-user",
        "project_slug": "sim-user",
        "organization_id": me.organization_id,
        "organization_name": "sim-user",
    }
    v3 = me.whoami_v3()
    assert (v3["type"], v3["project"]["id"], v3["organization"]["id"]) == (
        "project_api_key",
        me.project_id,
        me.organization_id,
    )
    assert identity_of("other", "sim-user").project_id != me.project_id


def test_a_models_id_is_derived_from_its_name() -> None:
    assert model_id_of("a/b") == model_id_of("a/b") != model_id_of("a/c")
    assert model_id_of("a/b").startswith("ml_") and len(model_id_of("a/b")) == 27


def _listed(n: int) -> list[tuple[Listed, str]]:
    return [
        (
            Listed(f"ep_{i}", f"bot-{i}", T0 + timedelta(hours=i), T0 + timedelta(hours=9 - i)),
            f"ep_{i}",
        )
        for i in range(n)
    ]


def _page(n: int = 5, **query: Any) -> Any:
    given = {"limit": None, "after": None, "order_by": None, "filter_": None, **query}
    return page(_listed(n), **given)


def test_lists_are_newest_first_in_pages_with_a_cursor() -> None:
    first = _page(limit=2)
    assert (first.items, first.next_cursor) == (["ep_4", "ep_3"], "ep_3")
    last = _page(limit=3, after="ep_3")
    assert (last.items, last.next_cursor) == (["ep_2", "ep_1", "ep_0"], None)


@pytest.mark.parametrize(
    ("query", "items"),
    [
        ({"order_by": "created_at asc"}, ["ep_0", "ep_1", "ep_2"]),
        ({"order_by": "updated_at"}, ["ep_0", "ep_1", "ep_2"]),
        ({"filter_": 'name="bot-1"'}, ["ep_1"]),
        ({"filter_": 'name="acme/bot-1"'}, ["ep_1"]),
        ({"filter_": 'name:"t-2"'}, ["ep_2"]),
        ({"filter_": 'name="*-1"'}, ["ep_1"]),
        ({"filter_": 'created_at >= "2026-01-01T01:00:00Z" AND name!="bot-2"'}, ["ep_1"]),
    ],
)
def test_lists_order_and_filter_as_the_spec_describes(
    query: dict[str, Any], items: list[str]
) -> None:
    assert _page(3, **query).items == items


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"filter_": "name = bot"}, "filter"),
        ({"filter_": 'name="a" OR name="b"'}, "filter"),
        ({"filter_": 'created_at > "yesterday"'}, "filter"),
        ({"order_by": "name"}, "orderBy"),
        ({"limit": -1}, "limit"),
        ({"limit": 501}, "limit"),  # "Max 500"
        ({"after": "ep_999"}, "after"),
    ],
)
def test_a_query_the_list_cannot_honour_is_refused_naming_it(
    query: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        _page(**query)
    assert refused.value.param == param


@pytest.mark.parametrize("order_by", ["", " ", "\t"])
def test_a_blank_order_is_the_default_order(order_by: str) -> None:
    assert _page(3, order_by=order_by).items == _page(3).items == ["ep_2", "ep_1", "ep_0"]


def test_a_bad_filter_is_refused_even_on_an_empty_list() -> None:
    with pytest.raises(InvalidRequest) as refused:
        _page(0, filter_="name = bot")
    assert refused.value.param == "filter"


def test_the_largest_page_is_the_specs_500_and_0_is_the_default() -> None:
    assert len(_page(600, limit=500).items) == 500
    assert len(_page(600, limit=0).items) == len(_page(600).items) == 50
