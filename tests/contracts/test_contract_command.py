"""``together-sim contract``: what it refuses, what it leaves out, what it reports, and that a
broken server fails it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from contracts.loading import RunOptions, load_contract, target_spec
from contracts.runner import run_contract
from contracts.selection import select
from contracts.target import RealServiceRefused, Target, in_process_target, url_target
from mock_server.cli import main
from mock_server.testing.in_process import simulator_settings
from mock_server.testing.live import serve_in_thread
from openapi import SpecVersion, selected_version

REAL_KEY = {"TOGETHER_API_KEY": "sk-real"}


@pytest.mark.parametrize("url", ["https://api.together.xyz", "https://api.together.ai/v1"])
def test_the_real_service_needs_an_opt_in_and_a_key(url: str) -> None:
    with pytest.raises(RealServiceRefused, match="--real-service-ok"):
        url_target(url, env=REAL_KEY)
    with pytest.raises(RealServiceRefused, match="TOGETHER_API_KEY"):
        url_target(url, real_service_ok=True, env={})
    opted_in = url_target(url, env={**REAL_KEY, "TOGETHER_SIM_CONTRACT_REAL_OK": "1"})
    # The key sent there is the environment's, never a --api-key meant for a simulator.
    assert (opted_in.real, opted_in.api_key) == (True, "sk-real")
    assert (
        url_target(url, api_key="sk-sim", real_service_ok=True, env=REAL_KEY).api_key == "sk-real"
    )


def test_the_command_refuses_the_real_service_before_sending_anything(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOGETHER_SIM_CONTRACT_REAL_OK", raising=False)
    assert main(["contract", "--base-url", "https://api.together.xyz"]) == 2
    assert "the real Together service" in capsys.readouterr().err


def test_operations_that_cost_money_stay_out_against_the_real_service_unless_named() -> None:
    labels = ["GET /files", "POST /fine-tunes", "POST /chat/completions", "GET /realtime"]
    real = select(labels, real=True)
    assert real.selected == ("GET /files",)
    assert real.skipped["POST /fine-tunes"].startswith("costs money on the real service")
    assert "WebSocket" in real.skipped["GET /realtime"]  # for every target
    assert select(labels, real=False).selected == (
        "GET /files",
        "POST /fine-tunes",
        "POST /chat/completions",
    )
    named = select(labels, include=["GET /files", "POST /chat/*"], real=True)
    assert named.selected == ("GET /files", "POST /chat/completions")


def test_every_server_of_the_spec_is_moved_onto_the_target() -> None:
    spec = target_spec(url_target("http://127.0.0.1:9/v1"))
    # The API's, and in the August spec the inference host's (api-inference.together.ai/v2).
    assert [server["url"] for server in spec["servers"]] == [
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v2",
    ][: len(spec["servers"])]
    # The videos (and the August spec's project API) name https://api.together.ai/v2 for
    # themselves, SDK 3.1.1's whoami the API's root: a run must not leak there.
    assert spec["paths"]["/videos"]["post"]["servers"] == [{"url": "http://127.0.0.1:9/v2"}]
    if selected_version() is SpecVersion.august:
        endpoints = spec["paths"]["/projects/{projectId}/endpoints"]["post"]
        assert endpoints["servers"] == [{"url": "http://127.0.0.1:9/v2"}]
        assert spec["paths"]["/v3/whoami"]["get"]["servers"] == [{"url": "http://127.0.0.1:9"}]


def test_the_command_checks_a_running_simulator_and_writes_its_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = simulator_settings(tmp_path / "data", api_keys=["sk-contract"])
    with serve_in_thread(settings, api_key="sk-contract") as live:
        status = main(
            ["contract", "--base-url", live.base_url, "--api-key", "sk-contract"]
            + ["--max-examples", "2", "--phases", "examples,fuzzing", "--include", "GET /files*"]
            + ["--include", "GET /models", "--report", str(tmp_path / "report")]
        )
    out = capsys.readouterr().out
    assert status == 0, out
    coverage = json.loads((tmp_path / "report" / "coverage.json").read_text())
    assert sorted(coverage["operations"]) == [
        "GET /files",
        "GET /files/{id}",
        "GET /files/{id}/content",
        "GET /models",
    ]
    # The listing answers; an id that names no file answers 404.
    assert "200" in coverage["operations"]["GET /files"]["seen"]
    assert "404" in coverage["operations"]["GET /files/{id}"]["seen"]
    result = json.loads((tmp_path / "report" / "result.json").read_text())
    assert (result["ok"], result["operations"]) == (True, 4)
    assert result["wall_time_s"] > 0 and "wall time" in out


def _breaks_the_model_list(app: FastAPI) -> FastAPI:
    @app.middleware("http")
    async def server_error(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path == "/v1/models":
            return JSONResponse({"error": {"message": "boom"}}, status_code=500)
        response: Response = await call_next(request)
        return response

    return app


def test_a_server_that_breaks_the_contract_fails_the_run() -> None:
    good = in_process_target(mode="examples")
    broken = Target(
        good.base_url, good.api_key, stateless=True, app=_breaks_the_model_list(good.app)
    )
    options = RunOptions(max_examples=2, phases=("examples",), include=("GET /models",))
    result = run_contract(load_contract(broken, options))
    assert not result.ok
    assert {(f.check, f.operation) for f in result.failures} >= {
        ("not_a_server_error", "GET /models")
    }
    failure = next(f for f in result.failures if f.check == "not_a_server_error")
    assert failure.answer.startswith("500") and "curl" in failure.reproduce
