"""The index of the spec's operations (``mock_server.spec.index``) and how it reads schemas."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.spec.index import OperationIndex, build_index, operation_index
from mock_server.spec.schemas import sdk_schema
from mock_server.spec.validate import is_valid
from openapi import load_pin, operations

SDK3_ONLY = 15  # the operations SDK 3.1.1 calls that no spec has (the overlay's)


def test_every_operation_of_the_pinned_spec_is_indexed_under_its_server(
    index: OperationIndex,
) -> None:
    # The August spec's 197, and the 15 of SDK 3.1.1 the overlay adds (one is /v3/whoami, on the
    # API's root beside the spec's /v1/whoami).
    assert len(index.operations) == load_pin().operations + SDK3_ONLY == 212
    assert {op.route for op in index.operations if op.path.endswith("whoami")} == {
        "/v1/whoami",
        "/v3/whoami",
    }
    # The videos and the project-scoped API name their own server, https://api.together.ai/v2;
    # the rest the spec's /v1.
    on_v2 = {op.path for op in index.operations if op.route == "/v2" + op.path}
    assert {"/videos", "/videos/{id}", "/projects/{projectId}/endpoints"} <= on_v2
    assert "/fine-tunes" not in on_v2 and "/whoami" not in on_v2
    assert all(
        op.route == "/v1" + op.path
        for op in index.operations
        if op.path not in on_v2 and op.path != "/v3/whoami"
    )
    # ... and under /v1 as well, where SDK 2.x (base URL .../v1) sends them.
    for route in ("/v2/videos", "/v1/videos"):
        found = index.match("POST", route)
        assert found is not None and found[0].path == "/videos"
    assert len({(op.method, op.path) for op in index.operations}) == 212
    assert all(op.secured for op in index.operations)


def test_an_index_is_built_once_per_spec(index: OperationIndex) -> None:
    assert operation_index() is index


@pytest.mark.parametrize(
    ("method", "path", "spec_path", "params"),
    [
        ("GET", "/v1/deployments/secrets", "/deployments/secrets", {}),
        ("GET", "/v1/deployments/web-1", "/deployments/{id}", {"id": "web-1"}),
        ("GET", "/v1/deployments/storage/volumes", "/deployments/storage/volumes", {}),
        (
            "GET",
            "/v1/deployments/storage/w.bin",
            "/deployments/storage/{filename}",
            {"filename": "w.bin"},
        ),
        ("POST", "/v1/fine-tunes/ft-1/cancel", "/fine-tunes/{id}/cancel", {"id": "ft-1"}),
        ("GET", "/v1/fine-tunes/models/limits", "/fine-tunes/models/limits", {}),
        (
            "GET",
            "/v1/rl/training-sessions/s-1/operations/sample/op-2",
            "/rl/training-sessions/{session_id}/operations/sample/{operation_id}",
            {"session_id": "s-1", "operation_id": "op-2"},
        ),
    ],
)
def test_a_request_finds_its_operation_fixed_segments_first(
    index: OperationIndex, method: str, path: str, spec_path: str, params: dict[str, str]
) -> None:
    found = index.match(method, path)
    assert found is not None
    assert (found[0].path, found[1]) == (spec_path, params)


def test_unknown_paths_and_methods_find_nothing(index: OperationIndex) -> None:
    assert index.match("GET", "/v1/nothing-here") is None
    assert index.match("PUT", "/v1/fine-tunes") is None
    assert index.methods_for("/v1/fine-tunes") == ["GET", "POST"]
    assert index.methods_for("/v1/deployments/web-1") == ["DELETE", "GET", "PATCH"]


def test_a_concrete_path_is_never_read_as_a_templated_one(index: OperationIndex) -> None:
    # /deployments/secrets takes GET and POST; its DELETE is not /deployments/{id} of "secrets".
    assert index.match("DELETE", "/v1/deployments/secrets") is None
    assert index.methods_for("/v1/deployments/secrets") == ["GET", "POST"]
    assert index.methods_for("/v1/files/upload") == ["POST"]


def test_the_success_reply_is_the_first_documented_2xx_then_3xx(index: OperationIndex) -> None:
    assert index.by_key("POST", "/batches").success.status == "201"
    assert index.by_key("DELETE", "/endpoints/{endpointId}").success.status == "204"
    assert index.by_key("GET", "/deployments/storage/{filename}").success.status == "307"
    assert index.by_key("POST", "/fine-tunes/estimate-price").success.status == "200"


def test_the_index_agrees_with_the_specs_own_operation_list(index: OperationIndex) -> None:
    from openapi.overlay import overlaid_spec

    listed = {(op.method, op.path, op.secured) for op in operations(overlaid_spec())}
    assert {(op.method, op.path, op.secured) for op in index.operations} == listed


# --- reading schemas as the SDKs do ----------------------------------------------------------

SPEC: dict[str, Any] = {
    "components": {
        "schemas": {
            "Lora": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"const": "Lora"}},
            },
            "Full": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"const": "Full"}},
            },
        }
    }
}


def test_nullable_admits_null_beside_the_type_the_enum_or_the_ref() -> None:
    text = sdk_schema({"type": "string", "nullable": True}, SPEC)
    level = sdk_schema({"type": "string", "enum": ["info"], "nullable": True}, SPEC)
    ref = sdk_schema({"$ref": "#/components/schemas/Lora", "nullable": True}, SPEC)
    assert is_valid(None, text) and is_valid("x", text) and not is_valid(1, text)
    assert is_valid(None, level) and not is_valid("debug", level)
    assert is_valid(None, ref) and is_valid({"type": "Lora"}, ref) and not is_valid({}, ref)


def test_one_of_is_a_union_a_value_may_match_twice() -> None:
    model = sdk_schema({"oneOf": [{"type": "string", "enum": ["llama"]}, {"type": "string"}]}, SPEC)
    assert is_valid("llama", model)  # both variants match: a strict oneOf would refuse it
    assert is_valid("anything", model)
    assert not is_valid(3, model)


def test_a_type_beside_a_union_gives_way_to_the_variants() -> None:
    training_type = sdk_schema(
        {
            "type": "object",
            "nullable": True,
            "anyOf": [{"$ref": "#/components/schemas/Full"}, {"$ref": "#/components/schemas/Lora"}],
        },
        SPEC,
    )
    assert "type" not in training_type
    assert is_valid({"type": "Full"}, training_type)
    assert is_valid(None, training_type)
    assert not is_valid({"type": "Half"}, training_type)


def test_refs_are_resolved_once_and_shared() -> None:
    index = build_index(
        {
            **SPEC,
            "servers": [{"url": "https://api.example.com/v2"}],
            "paths": {
                "/a": {
                    "post": {
                        "requestBody": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Lora"}
                                }
                            }
                        },
                        "responses": {
                            "200": {
                                "content": {
                                    "application/json": {
                                        "schema": {"$ref": "#/components/schemas/Lora"}
                                    }
                                }
                            },
                            "201": {
                                "content": {
                                    "application/json": {
                                        "schema": {"$ref": "#/components/schemas/Lora"}
                                    }
                                }
                            },
                        },
                    }
                }
            },
        }
    )
    (op,) = index.operations
    assert op.route == "/v2/a" and not op.secured
    assert op.body is not None
    answer = op.success.content["application/json"]
    assert answer is op.replies["201"].content["application/json"]
    assert op.body.content["application/json"] == answer  # one resolution per direction
    assert "$ref" not in op.body.content["application/json"]


def test_a_read_only_property_is_not_required_of_a_request_nor_a_write_only_one_of_an_answer() -> (
    None
):
    spec = {
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["id", "mode", "secret"],
                    "properties": {
                        "id": {"type": "string", "readOnly": True},
                        "mode": {"type": "string"},
                        "secret": {"type": "string", "writeOnly": True},
                    },
                }
            }
        },
        "servers": [{"url": "https://api.example.com/v1"}],
        "paths": {
            "/things": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        }
                    },
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Thing"}
                                }
                            }
                        }
                    },
                }
            }
        },
    }
    (op,) = build_index(spec).operations
    assert op.body is not None
    assert op.body.content["application/json"]["required"] == ["mode", "secret"]
    assert op.success.content["application/json"]["required"] == ["id", "mode"]


def test_a_spec_that_does_not_resolve_is_refused_whole_when_asked() -> None:
    # Schemas are resolved on first use; resolve_all is the startup check for an unpinned spec.
    from openapi.locate import SpecError

    spec = {
        "openapi": "3.1.0",
        "servers": [{"url": "https://api.together.ai/v1"}],
        "paths": {
            "/things": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Missing"}
                                }
                            },
                        }
                    }
                }
            }
        },
    }
    index = build_index(spec)  # nothing resolved yet
    with pytest.raises(SpecError, match="GET /things: the spec does not resolve"):
        index.resolve_all()
