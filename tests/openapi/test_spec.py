"""Finding, pinning, checking and loading Together's OpenAPI spec (``openapi.locate``,
``openapi.spec``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import openapi.locate as locate_module
import openapi.spec as spec_module
from openapi import (
    ENV_SPEC,
    Operation,
    SpecIntegrityError,
    SpecNotFound,
    clear_cache,
    find_spec_path,
    load_pin,
    load_spec,
    operations,
    spec_for_server,
    verify,
)
from openapi.__main__ import main
from openapi.locate import sha256_file
from openapi.spec import normalise

SHARED_RELATIVE = Path("shared") / "openapi" / "together-openapi.yaml"

SMALL_SPEC = """\
openapi: 3.1.0
info: {title: t, version: '1'}
security:
  - bearerAuth: []
paths:
  /things:
    parameters: []
    get:
      operationId: listThings
      tags: [Things]
      responses:
        200: {description: ok}
        '404': {description: missing}
      x-created: 2025-02-04T10:43:55.405Z
"""


@pytest.fixture(autouse=True)
def _fresh_in_process_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="module")
def real_spec_path() -> Path:
    try:
        path = find_spec_path(allow_download=False)
    except SpecNotFound as exc:
        pytest.skip(f"the pinned spec is not available here: {exc}")
    if sha256_file(path) != load_pin().sha256:
        pytest.skip(f"{path} is not the pinned spec")
    return path


@pytest.fixture(scope="module")
def real_spec_bytes(real_spec_path: Path) -> bytes:
    return real_spec_path.read_bytes()


@pytest.fixture(scope="module")
def real_spec(real_spec_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return load_spec(real_spec_path, cache_dir=tmp_path_factory.mktemp("spec-cache"))


@pytest.fixture
def isolated(tmp_path: Path) -> dict[str, Any]:
    """find_spec_path arguments under which no local copy exists."""
    return {
        "env": {},
        "repo_root": tmp_path / "work" / "repo",
        "cwd": tmp_path / "elsewhere" / "cwd",
        "cache_dir": tmp_path / "cache",
    }


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def refuse_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("network is unreachable", request=request)


def cache_entries(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def write_small_spec(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SMALL_SPEC, encoding="utf-8")
    return path


# --- the pin -------------------------------------------------------------------------


def test_the_pin_names_the_upstream_commit_and_the_shape_of_the_spec() -> None:
    pin = load_pin()
    assert pin.url == (
        "https://raw.githubusercontent.com/togethercomputer/openapi/090263a/openapi.yaml"
    )
    assert len(pin.sha256) == 64
    assert pin.operations == 99
    assert pin.api_version == "2.0.0"


def test_the_spec_itself_is_not_copied_into_the_repository() -> None:
    repo_root = locate_module.REPO_ROOT
    pinned = load_pin().sha256
    for path in (repo_root / "openapi").iterdir():
        if path.is_file():
            assert sha256_file(path) != pinned, path


# --- finding -------------------------------------------------------------------------


def test_the_env_var_wins_over_the_shared_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chosen = write_small_spec(tmp_path / "newer.yaml")
    write_small_spec(tmp_path / "work" / SHARED_RELATIVE)
    with caplog.at_level(logging.WARNING, logger="openapi.locate"):
        found = find_spec_path(
            env={ENV_SPEC: str(chosen)},
            repo_root=tmp_path / "work" / "repo",
            cache_dir=tmp_path / "cache",
            client=client_for(refuse_network),
        )
    assert found == chosen
    assert "differs from the pinned" in caplog.text


def test_a_missing_env_var_path_raises_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(SpecNotFound, match=ENV_SPEC) as info:
        find_spec_path(env={ENV_SPEC: str(missing)}, cache_dir=tmp_path / "cache")
    assert str(missing) in str(info.value)


def test_the_shared_copy_beside_the_repository_is_found(
    isolated: dict[str, Any], real_spec_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    shared = isolated["repo_root"].parent / SHARED_RELATIVE
    shared.parent.mkdir(parents=True)
    shared.write_bytes(real_spec_bytes)
    with caplog.at_level(logging.WARNING, logger="openapi.locate"):
        found = find_spec_path(**isolated, client=client_for(refuse_network))
    assert found == shared.resolve()
    assert caplog.text == ""


def test_the_shared_copy_beside_the_working_directory_is_found(
    isolated: dict[str, Any],
) -> None:
    shared = write_small_spec(isolated["cwd"].parent / SHARED_RELATIVE)
    found = find_spec_path(**isolated, client=client_for(refuse_network))
    assert found == shared.resolve()


def test_the_real_shared_copy_is_the_pinned_spec(real_spec_path: Path) -> None:
    assert verify(real_spec_path) == load_pin().sha256


def test_a_download_is_verified_and_cached(
    isolated: dict[str, Any], real_spec_bytes: bytes
) -> None:
    requested: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200, content=real_spec_bytes)

    found = find_spec_path(**isolated, client=client_for(serve))
    assert requested == [load_pin().url]
    assert found.parent == isolated["cache_dir"]
    assert found.read_bytes() == real_spec_bytes
    assert cache_entries(isolated["cache_dir"]) == [found.name]

    again = find_spec_path(**isolated, client=client_for(refuse_network))
    assert again == found
    assert len(requested) == 1


def test_a_download_with_the_wrong_bytes_is_refused_and_not_kept(
    isolated: dict[str, Any],
) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"openapi: 3.1.0\npaths: {}\n")

    with pytest.raises(SpecIntegrityError, match="not kept"):
        find_spec_path(**isolated, client=client_for(serve))
    assert cache_entries(isolated["cache_dir"]) == []


def test_a_tampered_cached_download_is_refused(isolated: dict[str, Any]) -> None:
    cache_dir: Path = isolated["cache_dir"]
    cache_dir.mkdir()
    (cache_dir / f"together-openapi-{load_pin().sha256}.yaml").write_text(SMALL_SPEC)
    with pytest.raises(SpecIntegrityError, match="differs from the pinned"):
        find_spec_path(**isolated, client=client_for(refuse_network))


def test_without_network_the_error_lists_every_place_tried(isolated: dict[str, Any]) -> None:
    with pytest.raises(SpecNotFound) as info:
        find_spec_path(**isolated, client=client_for(refuse_network))
    message = str(info.value)
    assert f"${ENV_SPEC}: not set" in message
    assert str((isolated["repo_root"].parent / SHARED_RELATIVE).resolve()) in message
    assert str((isolated["cwd"].parent / SHARED_RELATIVE).resolve()) in message
    assert str(isolated["cache_dir"]) in message
    assert load_pin().url in message
    assert "network is unreachable" in message
    assert cache_entries(isolated["cache_dir"]) == []


def test_an_http_error_status_is_reported_as_not_found(isolated: dict[str, Any]) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, content=b"404: Not Found")

    with pytest.raises(SpecNotFound, match="404"):
        find_spec_path(**isolated, client=client_for(serve))
    assert cache_entries(isolated["cache_dir"]) == []


def test_downloading_can_be_turned_off(isolated: dict[str, Any]) -> None:
    with pytest.raises(SpecNotFound, match="not allowed"):
        find_spec_path(**isolated, allow_download=False)


# --- loading -------------------------------------------------------------------------


def test_yaml_values_json_cannot_hold_are_normalised() -> None:
    raw = {200: dt.date(2024, 1, 2), True: (1, None), "at": dt.datetime(2024, 1, 2, 3, 4, 5)}
    assert normalise(raw) == {"200": "2024-01-02", "true": [1, None], "at": "2024-01-02T03:04:05"}


def test_response_codes_become_strings_and_timestamps_keep_their_text(tmp_path: Path) -> None:
    spec = load_spec(write_small_spec(tmp_path / "spec.yaml"), cache_dir=tmp_path / "cache")
    get = spec["paths"]["/things"]["get"]
    assert list(get["responses"]) == ["200", "404"]
    assert get["x-created"] == "2025-02-04T10:43:55.405Z"


def test_the_disk_json_cache_is_created_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_small_spec(tmp_path / "spec.yaml")
    cache_dir = tmp_path / "cache"
    first = load_spec(path, cache_dir=cache_dir)
    cached = cache_dir / f"spec-{sha256_file(path)}.json"
    assert cached.is_file()
    assert json.loads(cached.read_bytes()) == first

    clear_cache()

    def no_yaml(data: bytes) -> Any:
        raise AssertionError("YAML was parsed although the JSON cache exists")

    monkeypatch.setattr(spec_module, "_parse_yaml", no_yaml)
    second = load_spec(path, cache_dir=cache_dir)
    assert second == first
    assert second is not first


def test_a_corrupt_json_cache_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_small_spec(tmp_path / "spec.yaml")
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    cached = cache_dir / f"spec-{sha256_file(path)}.json"
    cached.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="openapi.spec"):
        spec = load_spec(path, cache_dir=cache_dir)
    assert "ignoring unreadable spec cache" in caplog.text
    assert json.loads(cached.read_bytes()) == spec


def test_the_in_process_cache_returns_the_same_dict_until_the_file_changes(
    tmp_path: Path,
) -> None:
    path = write_small_spec(tmp_path / "spec.yaml")
    cache_dir = tmp_path / "cache"
    first = load_spec(path, cache_dir=cache_dir)
    assert load_spec(path, cache_dir=cache_dir) is first

    path.write_text(SMALL_SPEC.replace("listThings", "listAllThings"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = load_spec(path, cache_dir=cache_dir)
    assert changed["paths"]["/things"]["get"]["operationId"] == "listAllThings"


def test_the_json_round_trip_equals_the_normalised_yaml_parse(
    real_spec_bytes: bytes, real_spec: dict[str, Any]
) -> None:
    parsed = normalise(spec_module._parse_yaml(real_spec_bytes))
    assert json.loads(json.dumps(parsed)) == parsed
    assert real_spec == parsed
    assert real_spec["info"]["version"] == load_pin().api_version


# --- views ---------------------------------------------------------------------------


def test_the_pinned_spec_has_99_operations(real_spec: dict[str, Any]) -> None:
    ops = operations(real_spec)
    assert len(ops) == load_pin().operations == 99
    assert len({(op.method, op.path) for op in ops}) == 99
    assert all(op.responses for op in ops)
    assert all(isinstance(op, Operation) for op in ops)


def test_every_operation_of_the_pinned_spec_needs_credentials(real_spec: dict[str, Any]) -> None:
    assert all(op.secured for op in operations(real_spec))


def test_spec_for_server_points_servers_at_the_simulator(real_spec: dict[str, Any]) -> None:
    served = spec_for_server("http://127.0.0.1:8000/", real_spec)
    assert served["servers"] == [{"url": "http://127.0.0.1:8000/v1"}]
    assert real_spec["servers"] == [{"url": "https://api.together.ai/v1"}]
    served["paths"].clear()
    assert real_spec["paths"]


def test_operations_are_secured_unless_they_opt_out() -> None:
    spec = {
        "security": [{"bearerAuth": []}],
        "paths": {
            "/a": {
                "parameters": [],
                "get": {"operationId": "a", "tags": ["T"], "responses": {"200": {}}},
                "post": {"security": [], "responses": {"201": {}, "400": {}}},
                "put": {"security": [{}], "responses": {}},
                "delete": {"security": [{"apiKey": []}], "responses": {}},
            }
        },
    }
    ops = {op.method: op for op in operations(spec)}
    assert set(ops) == {"GET", "POST", "PUT", "DELETE"}
    assert ops["GET"] == Operation("GET", "/a", "a", ("T",), True, ("200",))
    assert ops["POST"].secured is False
    assert ops["POST"].operation_id is None
    assert ops["POST"].responses == ("201", "400")
    assert ops["PUT"].secured is False
    assert ops["DELETE"].secured is True
    unsecured_spec = {"paths": spec["paths"]}
    assert not operations(unsecured_spec)[0].secured


# --- command line --------------------------------------------------------------------


def test_the_check_command_reports_path_sha_pin_and_operations(
    real_spec_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(ENV_SPEC, str(real_spec_path))
    monkeypatch.setenv("TOGETHER_SIM_CACHE", str(tmp_path / "cache"))
    assert main(["check", "--no-download"]) == 0
    out = capsys.readouterr().out
    assert str(real_spec_path) in out
    assert load_pin().sha256 in out
    assert "pin:        match" in out
    assert "operations: 99 (pinned 99)" in out


def test_the_check_command_fails_when_nothing_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_SPEC, str(tmp_path / "absent.yaml"))
    assert main(["check", "--no-download"]) == 2
    assert "absent.yaml" in capsys.readouterr().err
