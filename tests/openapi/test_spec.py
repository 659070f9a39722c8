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
    ENV_SPEC_VERSION,
    Operation,
    SpecError,
    SpecIntegrityError,
    SpecNotFound,
    SpecVersion,
    clear_cache,
    default_spec_version,
    find_spec_path,
    load_pin,
    load_spec,
    operations,
    pins,
    selected_version,
    spec_for_server,
    verify,
)
from openapi.__main__ import main
from openapi.locate import sha256_file
from openapi.spec import normalise

APRIL = SpecVersion.april
SHARED_RELATIVE = Path("shared") / "openapi" / "together-openapi.yaml"  # the April file
OPERATIONS = {SpecVersion.april: 99, SpecVersion.august: 197}

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
def real_spec_path(version: SpecVersion) -> Path:
    return pinned_path(version)


@pytest.fixture(scope="module")
def april_bytes() -> bytes:
    """The April file's bytes: the pinned version that can be downloaded."""
    return pinned_path(APRIL).read_bytes()


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


def test_the_pin_names_the_upstream_commit_and_the_shape_of_the_april_spec() -> None:
    pin = load_pin(APRIL)
    assert pin.url == (
        "https://raw.githubusercontent.com/togethercomputer/openapi/090263a/openapi.yaml"
    )
    assert "090263a" in pin.source
    assert (pin.filename, len(pin.sha256), pin.operations) == ("together-openapi.yaml", 64, 99)
    assert pin.api_version == "2.0.0"


def test_the_august_spec_is_the_default_and_has_no_download_url() -> None:
    pin = load_pin(SpecVersion.august)
    assert default_spec_version() is SpecVersion.august
    assert load_pin(selected_version(env={})) == pin
    assert pin.url is None
    assert "together-typescript" in pin.source and "5d7f323" in pin.source
    assert (pin.filename, pin.operations) == ("together-openapi-next.json", 197)
    assert pin.sha256 == "f58a41dc7499bdd6ac3f5bdf5993a2bdbaae7ac8f008bf4890ce8f722e5ed680"


def test_the_env_var_selects_a_version_and_a_wrong_name_lists_the_versions() -> None:
    assert load_pin(selected_version(env={ENV_SPEC_VERSION: "April"})).operations == 99
    assert selected_version(env={}) is SpecVersion.august
    assert selected_version("april", env={ENV_SPEC_VERSION: "august"}) is APRIL
    with pytest.raises(SpecError, match="unknown spec version 'may': one of april, august"):
        selected_version(env={ENV_SPEC_VERSION: "may"})


def test_no_spec_itself_is_copied_into_the_repository() -> None:
    repo_root = locate_module.REPO_ROOT
    pinned = {pin.sha256 for pin in pins().values()}
    for path in (repo_root / "openapi").iterdir():
        if path.is_file():
            assert sha256_file(path) not in pinned, path


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


def test_the_env_var_naming_the_other_pinned_version_is_taken_without_a_warning(
    tmp_path: Path, april_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    chosen = tmp_path / "april.yaml"
    chosen.write_bytes(april_bytes)
    with caplog.at_level(logging.WARNING, logger="openapi.locate"):
        found = find_spec_path(env={ENV_SPEC: str(chosen)}, cache_dir=tmp_path / "cache")
    assert (found, caplog.text) == (chosen, "")


def test_a_missing_august_spec_is_one_line_saying_it_has_no_download(
    isolated: dict[str, Any],
) -> None:
    with pytest.raises(SpecNotFound) as info:
        find_spec_path(**isolated, client=client_for(refuse_network))
    message = str(info.value)
    assert "\n" not in message
    assert "together-openapi-next.json" in message and "no download URL" in message
    assert str((isolated["repo_root"].parent / "shared" / "openapi").resolve()) in message
    assert ENV_SPEC in message and ENV_SPEC_VERSION in message
    assert cache_entries(isolated["cache_dir"]) == []


def test_a_missing_env_var_path_raises_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(SpecNotFound, match=ENV_SPEC) as info:
        find_spec_path(env={ENV_SPEC: str(missing)}, cache_dir=tmp_path / "cache")
    assert str(missing) in str(info.value)


def test_the_shared_copy_beside_the_repository_is_found(
    isolated: dict[str, Any],
    version: SpecVersion,
    real_spec_bytes: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = isolated["repo_root"].parent / "shared" / "openapi" / load_pin(version).filename
    shared.parent.mkdir(parents=True)
    shared.write_bytes(real_spec_bytes)
    with caplog.at_level(logging.WARNING, logger="openapi.locate"):
        found = find_spec_path(**isolated, version=version, client=client_for(refuse_network))
    assert found == shared.resolve()
    assert caplog.text == ""


def test_the_shared_copy_beside_the_working_directory_is_found(
    isolated: dict[str, Any],
) -> None:
    shared = write_small_spec(isolated["cwd"].parent / SHARED_RELATIVE)
    found = find_spec_path(**isolated, version=APRIL, client=client_for(refuse_network))
    assert found == shared.resolve()


def test_the_real_shared_copy_is_the_pinned_spec(
    real_spec_path: Path, version: SpecVersion
) -> None:
    assert verify(real_spec_path, pin=load_pin(version)) == load_pin(version).sha256


def test_a_download_is_verified_and_cached(isolated: dict[str, Any], april_bytes: bytes) -> None:
    requested: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200, content=april_bytes)

    found = find_spec_path(**isolated, version=APRIL, client=client_for(serve))
    assert requested == [load_pin(APRIL).url]
    assert found.parent == isolated["cache_dir"]
    assert found.read_bytes() == april_bytes
    assert cache_entries(isolated["cache_dir"]) == [found.name]

    again = find_spec_path(**isolated, version=APRIL, client=client_for(refuse_network))
    assert again == found
    assert len(requested) == 1


def test_a_download_with_the_wrong_bytes_is_refused_and_not_kept(
    isolated: dict[str, Any],
) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"openapi: 3.1.0\npaths: {}\n")

    with pytest.raises(SpecIntegrityError, match="not kept"):
        find_spec_path(**isolated, version=APRIL, client=client_for(serve))
    assert cache_entries(isolated["cache_dir"]) == []


def test_a_tampered_cached_download_is_refused(isolated: dict[str, Any]) -> None:
    cache_dir: Path = isolated["cache_dir"]
    cache_dir.mkdir()
    (cache_dir / f"together-openapi-{load_pin(APRIL).sha256}.yaml").write_text(SMALL_SPEC)
    with pytest.raises(SpecIntegrityError, match="differs from the pinned"):
        find_spec_path(**isolated, version=APRIL, client=client_for(refuse_network))


def test_without_network_the_error_lists_every_place_tried(isolated: dict[str, Any]) -> None:
    with pytest.raises(SpecNotFound) as info:
        find_spec_path(**isolated, version=APRIL, client=client_for(refuse_network))
    message = str(info.value)
    assert f"${ENV_SPEC}: not set" in message
    assert str((isolated["repo_root"].parent / SHARED_RELATIVE).resolve()) in message
    assert str((isolated["cwd"].parent / SHARED_RELATIVE).resolve()) in message
    assert str(isolated["cache_dir"]) in message
    assert str(load_pin(APRIL).url) in message
    assert "network is unreachable" in message
    assert cache_entries(isolated["cache_dir"]) == []


def test_an_http_error_status_is_reported_as_not_found(isolated: dict[str, Any]) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, content=b"404: Not Found")

    with pytest.raises(SpecNotFound, match="404"):
        find_spec_path(**isolated, version=APRIL, client=client_for(serve))
    assert cache_entries(isolated["cache_dir"]) == []


def test_downloading_can_be_turned_off(isolated: dict[str, Any]) -> None:
    with pytest.raises(SpecNotFound, match="not allowed"):
        find_spec_path(**isolated, version=APRIL, allow_download=False)


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


def test_each_pinned_spec_has_its_pinned_operations(
    real_spec: dict[str, Any], version: SpecVersion
) -> None:
    ops = operations(real_spec)
    assert len(ops) == load_pin(version).operations == OPERATIONS[version]
    assert len({(op.method, op.path) for op in ops}) == OPERATIONS[version]
    assert all(op.responses for op in ops)
    assert all(isinstance(op, Operation) for op in ops)


def test_every_operation_of_the_pinned_spec_needs_credentials(real_spec: dict[str, Any]) -> None:
    assert all(op.secured for op in operations(real_spec))


def test_the_august_spec_is_a_strict_superset_of_the_april_one() -> None:
    april, august = (
        {(op.method, op.path) for op in operations(load_spec(pinned_path(version)))}
        for version in SpecVersion
    )
    assert april < august
    assert len(august - april) == 98


def test_spec_for_server_points_servers_at_the_simulator(real_spec: dict[str, Any]) -> None:
    served = spec_for_server("http://127.0.0.1:8000/", real_spec)
    assert served["servers"] == [{"url": "http://127.0.0.1:8000/v1"}]
    assert real_spec["servers"][0] == {"url": "https://api.together.ai/v1"} | (
        {"description": "Default environment for APIs"} if len(real_spec["servers"]) > 1 else {}
    )
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
    version: SpecVersion,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(ENV_SPEC, str(real_spec_path))
    monkeypatch.setenv("TOGETHER_SIM_CACHE", str(tmp_path / "cache"))
    assert main(["check", "--no-download", "--spec-version", version]) == 0
    out = capsys.readouterr().out
    assert f"[{version}]" in out
    assert str(real_spec_path) in out
    assert load_pin(version).sha256 in out
    assert "pin:        match" in out
    count = OPERATIONS[version]
    assert f"operations: {count} (pinned {count})" in out


def test_the_check_command_checks_every_pinned_version_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for version in SpecVersion:
        pinned_path(version)
    monkeypatch.delenv(ENV_SPEC, raising=False)
    monkeypatch.setenv("TOGETHER_SIM_CACHE", str(tmp_path / "cache"))
    assert main(["check", "--no-download"]) == 0
    out = capsys.readouterr().out
    assert "[april]" in out and "operations: 99 (pinned 99)" in out
    assert "[august]" in out and "operations: 197 (pinned 197)" in out
    assert "STALE" not in out


def test_the_check_command_fails_when_nothing_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_SPEC, str(tmp_path / "absent.yaml"))
    assert main(["check", "--no-download"]) == 2
    assert "absent.yaml" in capsys.readouterr().err
