"""``together-sim faults|journal|scenario`` against a live server: the commands a person types
to ruin a running simulator's day, and to read back what happened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.cli import main
from mock_server.settings import ClockMode, Settings
from tests.e2e.conftest import serve_in_thread

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture
def sim(instant_server: Any, capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*args: str) -> tuple[int, Any]:
        code = main([args[0], "--url", instant_server.root, *args[1:]])
        return code, json.loads(capsys.readouterr().out)

    return run


def test_a_fault_added_from_the_cli_fires_shows_in_the_journal_and_is_removed(
    instant_server, sim, api_key
):
    root = instant_server.root
    code, added = sim(
        "faults", "add", "--id", "cli-503", "--operation", "GET /v1/files",
        "--status", "503", "--retry-after", "2", "--times", "1",
    )  # fmt: skip
    assert code == 0
    assert added["data"][0] == {
        "id": "cli-503", "operation": "GET /v1/files", "times": 1, "status": 503,
        "retry_after": 2.0, "seen": 0, "fired": 0, "remaining": 1,
    }  # fmt: skip
    answer = httpx.get(f"{root}/v1/files", headers={"Authorization": f"Bearer {api_key}"})
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "2")

    code, journal = sim("journal", "--rule", "cli-503")
    assert [(e["rule"], e["path"], e["detail"]) for e in journal["data"]] == [
        ("cli-503", "/v1/files", {"status": 503, "retry_after": 2.0})
    ]
    code, listed = sim("faults", "list")
    assert [(r["id"], r["fired"]) for r in listed["data"]] == [("cli-503", 1)]
    assert sim("faults", "remove", "cli-503")[1] == {
        "id": "cli-503",
        "deleted": True,
    }
    code, missing = sim("faults", "remove", "cli-503")
    assert (code, missing["error"]["code"]) == (1, "not_found")
    assert sim("journal", "--clear")[1]["data"] == []


def test_a_bad_flag_combination_is_refused_by_the_server_with_its_reason(instant_server, sim):
    code, refused = sim("faults", "add", "--status", "503", "--reset")
    assert code == 1
    assert "a rule does one of status, reset" in refused["error"]["message"]


def test_a_scenario_file_is_put_in_force_from_the_cli(instant_server, sim):
    code, loaded = sim("scenario", str(SCENARIOS / "job-dies-at-step-40.yaml"))
    assert code == 0
    assert [(b["id"], b["suffix"], b["fail"]["at_step"]) for b in loaded["jobs"]] == [
        ("oom-at-40", "nightly*", 40)
    ]
    code, cleared = sim("faults", "clear")
    assert cleared["data"] == []


def test_on_a_keyed_simulator_the_commands_send_the_admin_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOGETHER_SIM_ADMIN_KEY", raising=False)
    settings = Settings(
        data_dir=tmp_path / "sim-data", clock=ClockMode.instant, speed=1.0, seed=1234,
        api_keys=["sk-user"], admin_key="sk-admin", spec=None, trainer="synthetic",
        progress=False,
    )  # fmt: skip

    with serve_in_thread(settings) as server:

        def run(*args: str) -> tuple[int, Any]:
            code = main([args[0], "--url", server.root, *args[1:]])
            return code, json.loads(capsys.readouterr().out)

        code, missing = run("faults", "list")
        assert (code, missing["error"]["type"]) == (1, "invalid_api_key")
        code, tenant = run("faults", "--admin-key", "sk-user", "list")
        assert (code, tenant["error"]["type"]) == (1, "permission_denied")
        code, added = run(
            "faults", "--admin-key", "sk-admin", "add", "--id", "keyed", "--path", "/v1/files",
            "--status", "503", "--api-key", "sk-user",
        )  # fmt: skip
        assert code == 0
        assert "sk-user" not in json.dumps(added)  # the rule names the tenant, not the key
        answer = httpx.get(f"{server.root}/v1/files", headers={"Authorization": "Bearer sk-user"})
        assert answer.status_code == 503

        monkeypatch.setenv("TOGETHER_SIM_ADMIN_KEY", "sk-admin")  # as `serve` reads it
        code, moved = run("advance", "5")
        assert (code, moved["offset_seconds"]) == (0, 5.0)
        code, refused = run("advance", "1e12")
        assert (code, refused["error"]["param"]) == (1, "seconds")
        code, journal = run("journal", "--rule", "keyed")
        assert [e["path"] for e in journal["data"]] == ["/v1/files"]


def test_the_faults_commands_take_url_and_admin_key_after_the_sub_command_like_the_others(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("TOGETHER_SIM_ADMIN_KEY", raising=False)
    monkeypatch.delenv("TOGETHER_SIM_URL", raising=False)
    settings = Settings(
        data_dir=tmp_path / "sim-data", clock=ClockMode.instant, speed=1.0, seed=1234,
        api_keys=["sk-user"], admin_key="sk-admin", spec=None, trainer="synthetic",
        progress=False,
    )  # fmt: skip

    with serve_in_thread(settings) as server:
        where = ["--url", server.root, "--admin-key", "sk-admin"]

        def run(*args: str) -> tuple[int, Any]:
            code = main(list(args))
            return code, json.loads(capsys.readouterr().out)

        code, added = run(
            "faults", "add", "--id", "after", "--path", "/v1/files", "--status", "503", *where
        )
        assert (code, added["data"][0]["id"]) == (0, "after")
        code, listed = run("faults", "list", *where)
        assert (code, [r["id"] for r in listed["data"]]) == (0, ["after"])
        code, before = run("faults", *where, "list")  # the old place still works
        assert (code, before) == (0, listed)
        code, moved = run("advance", "5", *where)  # the other control commands, for comparison
        assert (code, moved["offset_seconds"]) == (0, 5.0)
        code, removed = run("faults", "remove", "after", *where)
        assert (code, removed) == (0, {"id": "after", "deleted": True})
        code, cleared = run("faults", "clear", *where)
        assert (code, cleared["data"]) == (0, [])
