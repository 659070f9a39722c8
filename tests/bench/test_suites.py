"""``python -m bench suites`` reaches ``together-sim contract`` through the command's own
parser and runner: a renamed function there must break this, not the bench on the day it runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

import contracts.cli
from bench import suites
from bench.servers import Running, Target, prism_target, steady_target, versioned_paths


def test_the_contract_row_runs_the_command_with_its_defaults_and_reads_its_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[argparse.Namespace] = []

    def run(args: argparse.Namespace) -> int:
        seen.append(args)
        result = {
            "wall_time_s": 1.5,
            "cases": 10,
            "phase_cases": {"examples": 10},
            "operations": 3,
            "ok": True,
        }
        (Path(args.report) / "result.json").write_text(json.dumps(result))
        return 0

    monkeypatch.setattr(contracts.cli, "run", run)
    row = suites._contract_row()
    assert len(seen) == 1
    assert seen[0].base_url is None and seen[0].mode == "stateful"  # the in-process simulator
    assert row["exit_status"] == 0 and row["cases"] == 10 and row["ok"] is True


def _running(target: Target) -> Running:
    return Running(target, None, 4010, Path("/nowhere"), 0.0)  # type: ignore[arg-type]


def test_3x_suites_get_every_servers_root_and_2x_the_servers_prefix(tmp_path: Path) -> None:
    """SDK 3.x sends ``/v1/...`` and ``/v2/...`` itself: its base URL is the root everywhere;
    2.x's ends in the prefix the server serves the API under. together-sim is probed where it
    serves the API, ``/v1/fine-tunes``, whichever suite (the 3.1.1 row once probed
    ``/fine-tunes``, which together-sim does not serve, and never started)."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"servers": [{"url": "https://x/v1"}], "paths": {}}))
    by_sdk = {suite.sdk: suite for suite in suites.SUITES}
    for sdk, sim_url, mock_url in (
        ("2.12.0", "http://127.0.0.1:4010/v1", "http://127.0.0.1:4010"),
        ("3.1.1", "http://127.0.0.1:4010", "http://127.0.0.1:4010"),
    ):
        suite = by_sdk[sdk]
        sim = suites._sim_examples_target(suite)
        assert sim.prefix + sim.probe == "/v1/fine-tunes"
        mocked, prefix = suites.mock_spec(suite, spec, tmp_path)
        steady = steady_target("npm", mocked, prefix=prefix)
        prism = prism_target(Path("prism"), mocked, prefix=prefix)
        assert suite.base_url(_running(sim)) == sim_url
        assert suite.base_url(_running(steady)) == suite.base_url(_running(prism)) == mock_url
        assert str(mocked) in steady.argv(4010, tmp_path) and str(mocked) in prism.argv(
            4010, tmp_path
        )


def test_the_versioned_spec_puts_each_operation_under_its_servers_paths(tmp_path: Path) -> None:
    """Steady and Prism mount spec paths as written (neither has a base-path option), so for
    3.x they get a copy whose paths carry their servers' ``/v1`` or ``/v2``."""
    v1, v2 = {"url": "https://api.example/v1"}, {"url": "https://inference.example/v2"}
    published = {
        "openapi": "3.1.0",
        "servers": [v1, v2],
        "paths": {
            "/fine-tunes": {
                "parameters": [{"name": "x", "in": "query"}],
                "get": {"operationId": "list"},
                "post": {"operationId": "create"},
            },
            "/projects/{projectId}/models": {"get": {"operationId": "models", "servers": [v2]}},
            "/videos": {"servers": [v2], "get": {"operationId": "videos"}},
            "/split": {"get": {"operationId": "a", "servers": [v1]}, "post": {"servers": [v2]}},
        },
    }
    spec = tmp_path / "published.json"
    spec.write_text(json.dumps(published))
    suite = next(s for s in suites.SUITES if s.versioned)
    mocked, prefix = suites.mock_spec(suite, spec, tmp_path / "")
    document = json.loads(mocked.read_text())
    paths = document["paths"]
    assert (prefix, document["servers"]) == ("/v1", [{"url": "/"}])
    assert sorted(paths) == [
        "/v1/fine-tunes",
        "/v1/split",
        "/v2/fine-tunes",
        "/v2/projects/{projectId}/models",
        "/v2/split",
        "/v2/videos",
    ]
    assert paths["/v1/fine-tunes"] == published["paths"]["/fine-tunes"]  # parameters kept
    assert paths["/v2/projects/{projectId}/models"] == {"get": {"operationId": "models"}}
    assert (list(paths["/v1/split"]), list(paths["/v2/split"])) == (["get"], ["post"])
    assert json.loads(spec.read_text()) == published  # the published spec is left as it is
    unversioned = next(s for s in suites.SUITES if not s.versioned)
    assert suites.mock_spec(unversioned, spec, tmp_path) == (spec, "")


def test_the_august_spec_versioned_has_the_paths_sdk_3_sends() -> None:
    from openapi.locate import SpecError, find_spec_path

    try:
        spec = find_spec_path(version="august", allow_download=False)
    except SpecError as exc:
        pytest.skip(str(exc))
    paths = versioned_paths(json.loads(spec.read_text()))
    assert {"/v1/fine-tunes", "/v1/chat/completions", "/v2/projects/{projectId}/models"} <= set(
        paths
    )
    methods = {"get", "put", "post", "delete", "patch"}
    operations = sum(len(methods & set(item)) for item in paths.values())
    assert operations == 130 * 2 + 67  # each operation under each of its servers' paths
