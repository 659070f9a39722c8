"""The spec's gaps as an Overlay 1.0 document (``openapi/overlay.yaml``, ``openapi.overlay``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from openapi import ENV_SPEC, SpecVersion, find_spec_path, load_pin, load_spec
from openapi.__main__ import main
from openapi.locate import SpecNotFound, sha256_file
from openapi.overlay import (
    OVERLAY_PATH,
    Overlay,
    OverlayError,
    apply_overlay,
    load_overlay,
    overlaid_spec,
    select,
    version_of_spec,
)
from openapi.spec import HTTP_METHODS

DOC: dict[str, Any] = {
    "paths": {
        "/a": {
            "parameters": [],
            "get": {"responses": {"200": {"description": "ok"}}},
            "post": {"responses": {"200": {}, "401": {"description": "no"}}},
        },
        "/b/{id}": {"delete": {"responses": {"default": {}}}},
    },
    "components": {"schemas": {"Status": {"type": "string", "enum": ["pending", "done"]}}},
}


def pinned_path(version: SpecVersion) -> Path:
    try:
        path = find_spec_path(version=version, allow_download=False, env={})
    except SpecNotFound as exc:
        pytest.skip(f"the pinned {version} spec is not available here: {exc}")
    if sha256_file(path) != load_pin(version).sha256:
        pytest.skip(f"{path} is not the pinned {version} spec")
    return path


@pytest.fixture(scope="module", params=list(SpecVersion), ids=str)
def version(request: pytest.FixtureRequest) -> SpecVersion:
    return SpecVersion(request.param)


@pytest.fixture(scope="module")
def pinned_spec(version: SpecVersion) -> dict[str, Any]:
    return load_spec(pinned_path(version))


def overlay_of(*actions: dict[str, Any], tmp_path: Path) -> Overlay:
    import yaml

    path = tmp_path / "overlay.yaml"
    path.write_text(
        yaml.safe_dump(
            {"overlay": "1.0.0", "info": {"title": "t", "version": "1"}, "actions": list(actions)}
        )
    )
    return load_overlay(path)


def keys(locations: list[tuple[Any, Any]]) -> list[Any]:
    return [key for _, key in locations]


# --- targets ---------------------------------------------------------------------------------


def test_names_quoted_names_and_wildcards_select_nodes() -> None:
    assert keys(select(DOC, "$.components.schemas.Status.enum")) == ["enum"]
    assert keys(select(DOC, "$.paths['/b/{id}'].delete")) == ["delete"]
    assert keys(select(DOC, '$.paths["/a"].*')) == ["parameters", "get", "post"]
    assert keys(select(DOC, "$.paths[*]")) == ["/a", "/b/{id}"]
    assert select(DOC, "$") == [(None, None)]
    assert select(DOC, "$.paths.missing.get") == []


def test_a_union_of_names_selects_each_one_present_in_the_order_given() -> None:
    union = "$.paths['/b/{id}', \"/a\", '/missing'].*"
    assert keys(select(DOC, union)) == ["delete", "parameters", "get", "post"]


def test_an_index_selects_one_item_of_an_array() -> None:
    doc = {"parameters": [{"name": "status"}, {"name": "limit"}]}
    assert select(doc, "$.parameters[1].name") == [(doc["parameters"][1], "name")]
    assert select(doc, "$.parameters[2]") == []


def test_a_filter_keeps_the_children_whose_tests_hold() -> None:
    lacking_401 = "$.paths.*[?@.responses && !@.responses['401']]"
    assert keys(select(DOC, lacking_401)) == ["get", "delete"]
    both = "$.paths.*[?@.responses && !@.responses['401'] && !@.responses.default].responses"
    selected = select(DOC, both)
    assert len(selected) == 1 and selected[0][0] is DOC["paths"]["/a"]["get"]


def test_the_rest_of_rfc_9535_selects_too() -> None:
    """Descendants, slices, comparisons and functions: targets are not limited to the forms the
    project's overlay happens to use."""
    doc = {"parameters": [{"name": "status"}, {"name": "limit"}, {"name": "after"}]}
    assert keys(select(DOC, "$..responses")) == ["responses"] * 3
    assert keys(select(doc, "$.parameters[0:2]")) == [0, 1]
    assert keys(select(doc, "$.parameters[-1]")) == [2]  # normalized to its index
    assert keys(select(doc, "$.parameters[?@.name == 'limit']")) == [1]
    assert keys(select(DOC, "$.paths[?length(@) > 1]")) == ["/a"]


@pytest.mark.parametrize(
    "target",
    ["paths.a", "$.paths[", "$.paths[?@.x == ]", "$.paths[?nope(@)]", "$.paths[?length(@)]"],
)
def test_a_target_that_is_not_rfc_9535_is_refused_with_the_target_named(target: str) -> None:
    with pytest.raises(OverlayError, match=re.escape(f"target {target!r}")):
        select(DOC, target)


def test_an_unreadable_target_is_refused_when_the_overlay_loads(tmp_path: Path) -> None:
    with pytest.raises(OverlayError, match="target"):
        overlay_of({"target": "$.paths[", "remove": True}, tmp_path=tmp_path)


# --- actions ---------------------------------------------------------------------------------


def test_an_update_appends_to_an_array_target_once(tmp_path: Path) -> None:
    overlay = overlay_of(
        {"target": "$.components.schemas.Status.enum", "update": "user_error"},
        {"target": "$.components.schemas.Status.enum", "update": "done"},
        tmp_path=tmp_path,
    )
    patched, reports = apply_overlay(DOC, overlay)
    assert patched["components"]["schemas"]["Status"]["enum"] == ["pending", "done", "user_error"]
    assert [(r.selected, r.changed, r.stale) for r in reports] == [(1, 1, False), (1, 0, True)]
    assert DOC["components"]["schemas"]["Status"]["enum"] == ["pending", "done"]  # untouched


def test_an_update_merges_objects_recursively_and_replaces_other_values(tmp_path: Path) -> None:
    overlay = overlay_of(
        {
            "target": "$.paths['/a'].post.responses",
            "update": {"401": {"content": {"application/json": {}}}, "200": {"description": "yes"}},
        },
        tmp_path=tmp_path,
    )
    patched, _ = apply_overlay(DOC, overlay)
    assert patched["paths"]["/a"]["post"]["responses"] == {
        "200": {"description": "yes"},
        "401": {"description": "no", "content": {"application/json": {}}},
    }


def test_remove_deletes_every_selected_node(tmp_path: Path) -> None:
    overlay = overlay_of({"target": "$.paths.*.delete", "remove": True}, tmp_path=tmp_path)
    patched, reports = apply_overlay(DOC, overlay)
    assert patched["paths"]["/b/{id}"] == {}
    assert reports[0].changed == 1


def test_remove_deletes_array_items_whatever_order_a_union_names_them_in(
    tmp_path: Path,
) -> None:
    doc = {"items": ["a", "b", "c", "d"]}
    overlay = overlay_of({"target": "$.items[0, 2, 0]", "remove": True}, tmp_path=tmp_path)
    patched, reports = apply_overlay(doc, overlay)
    assert patched["items"] == ["b", "d"]
    assert (reports[0].selected, reports[0].changed) == (3, 2)  # the repeated 0 goes once


def test_an_action_that_selects_nothing_is_reported_stale(tmp_path: Path) -> None:
    overlay = overlay_of(
        {"target": "$.components.schemas.Gone.enum", "update": "x"}, tmp_path=tmp_path
    )
    _, reports = apply_overlay(DOC, overlay)
    assert (reports[0].selected, reports[0].stale) == (0, True)


def test_an_action_needs_exactly_one_of_update_and_remove(tmp_path: Path) -> None:
    with pytest.raises(OverlayError, match="exactly one"):
        overlay_of({"target": "$.paths"}, tmp_path=tmp_path)


# --- the project's overlay on the pinned spec ------------------------------------------------


def test_every_action_of_the_overlay_still_changes_each_pinned_spec_it_is_meant_for(
    pinned_spec: dict[str, Any], version: SpecVersion
) -> None:
    assert version_of_spec(pinned_spec) is version
    overlay = load_overlay(OVERLAY_PATH)
    _, reports = apply_overlay(pinned_spec, overlay)
    assert [report.action for report in reports] == [
        action for action in overlay.actions if action.applies_to(version)
    ]
    assert reports and all(not report.stale for report in reports), [
        report.action.description for report in reports if report.stale
    ]


def test_an_action_meant_for_one_version_is_left_out_of_the_other(tmp_path: Path) -> None:
    overlay = overlay_of(
        {"target": "$.components.schemas.Status", "update": {"description": "both"}},
        {
            "target": "$.components.schemas.Status",
            "update": {"title": "april only"},
            "x-together-sim-specs": ["april"],
        },
        tmp_path=tmp_path,
    )
    april, april_reports = apply_overlay(DOC, overlay, version=SpecVersion.april)
    august, august_reports = apply_overlay(DOC, overlay, version=SpecVersion.august)
    assert april["components"]["schemas"]["Status"]["title"] == "april only"
    assert "title" not in august["components"]["schemas"]["Status"]
    assert (len(april_reports), len(august_reports)) == (2, 1)
    assert august["components"]["schemas"]["Status"]["description"] == "both"


def test_an_action_naming_an_unknown_version_is_refused(tmp_path: Path) -> None:
    action = {"target": "$.paths", "update": {}, "x-together-sim-specs": ["may"]}
    with pytest.raises(OverlayError, match="x-together-sim-specs names no known version"):
        overlay_of(action, tmp_path=tmp_path)


def test_the_overlaid_spec_knows_the_simulators_statuses_and_event_types(
    pinned_spec: dict[str, Any],
) -> None:
    schemas = overlaid_spec(pinned_spec)["components"]["schemas"]
    assert "user_error" in schemas["FinetuneJobStatus"]["enum"]
    assert {"eval_complete", "job_user_error"} <= set(schemas["FinetuneEventType"]["enum"])
    assert "user_error" not in pinned_spec["components"]["schemas"]["FinetuneJobStatus"]["enum"]


def test_every_operation_documents_400_and_401_after_the_overlay(
    pinned_spec: dict[str, Any],
) -> None:
    for path, item in overlaid_spec(pinned_spec)["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue  # the August spec's path items name their own servers
            codes = set(op["responses"])
            assert "default" in codes or {"400", "401"} <= codes, (method, path, codes)


def test_the_check_command_reports_each_overlay_action(
    version: SpecVersion,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(ENV_SPEC, str(pinned_path(version)))
    monkeypatch.setenv("TOGETHER_SIM_CACHE", str(tmp_path / "cache"))
    assert main(["check", "--no-download", "--spec-version", version]) == 0
    out = capsys.readouterr().out
    meant = [action for action in load_overlay().actions if action.applies_to(version)]
    assert f"overlay:    {len(meant)} actions" in out
    assert "ok: job status user_error (1 selected, 1 changed)" in out
    assert "STALE" not in out
