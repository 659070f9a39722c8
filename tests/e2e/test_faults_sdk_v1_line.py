"""SDK 1.5.35, unchanged (in ``.venv-v1``, as a subprocess: see test_sdk_v1_line), through
injected faults on a live server. It retries 429, 5xx and connection errors five times (6
attempts), waits what a lower-case ``retry-after-ms`` / ``retry-after`` asks when 0 < value <=
60 s, else backs off 1, 2, 4, 8, 8 s (x 0.75-1 jitter); past its budget a 429 raises
``RateLimitError`` and a 503 ``ServiceUnavailableError`` (clients-wire.md §1).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
V1_BIN = REPO / ".venv-v1" / "bin"
SCRIPT = Path(__file__).with_name("v1") / "faults.py"
NO_SUCH_JOB = "ft-00000000-0000-4000-8000-000000000000"
OWN_BACKOFF = 0.75  # the shortest first retry 1.5.x waits on its own: 1 s x 0.75 jitter

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (V1_BIN / "python").exists(),
        reason=f"SDK 1.5.35 is not installed in {V1_BIN.parent} (`make install` creates it)",
    ),
]


def _v1(server: Any, api_key: str, env: dict[str, str], cwd: Path, *args: str) -> Any:
    done = subprocess.run(
        [str(V1_BIN / "python"), str(SCRIPT), *args],
        env={**env, "TOGETHER_BASE_URL": server.v1, "TOGETHER_API_KEY": api_key},
        cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout)


def _journal(server: Any, rule: str | None = None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = server.sim("GET", "/journal")["data"]
    return [e for e in entries if rule is None or e["rule"] == rule]


def test_the_workflow_gets_through_429s_and_503s_waiting_as_retry_after_asks(
    instant_server, api_key, clean_env, quickstart_file, tmp_path
):
    instant_server.sim("POST", "/faults", [
        {"id": "upload", "operation": "POST /v1/files", "status": 429, "retry_after": 0.3,
         "times": 2},
        {"id": "create", "operation": "POST /v1/fine-tunes", "status": 503,
         "retry_after_ms": 300, "times": 2},
        {"id": "retrieve", "operation": "GET /v1/fine-tunes/{id}", "status": 429,
         "retry_after": 0.3, "times": 2},
        {"id": "events", "operation": "GET /v1/fine-tunes/{id}/events", "status": 503,
         "retry_after": 0.3, "times": 2},
    ])  # fmt: skip

    out = _v1(instant_server, api_key, clean_env, tmp_path, "workflow", str(quickstart_file))

    assert (out["upload"]["processing_status"], out["retrieve"]["status"]) == (
        "COMPLETED",
        "completed",
    )
    assert out["events"][-1]["type"] == "JOB_COMPLETE"
    for rule in ("upload", "create", "retrieve", "events"):
        first, second = _journal(instant_server, rule)
        assert (first["retry_count"], second["retry_count"]) == (None, None)  # 1.5.x sends none
        assert 0.3 <= second["wall_time"] - first["wall_time"] < OWN_BACKOFF, rule


@pytest.mark.parametrize(
    ("status", "raised"), [(429, "RateLimitError"), (503, "ServiceUnavailableError")]
)
def test_a_fault_past_the_retry_budget_raises_the_documented_exception(
    instant_server, api_key, clean_env, tmp_path, status, raised
):
    instant_server.sim(
        "POST", "/faults", {"path": "/v1/fine-tunes/*", "status": status, "retry_after": 0.05}
    )
    out = _v1(instant_server, api_key, clean_env, tmp_path, "retrieve", NO_SUCH_JOB)
    assert out == {"raised": raised, "http_status": status}
    assert len(_journal(instant_server)) == 6


def test_a_reset_connection_and_a_truncated_body_are_retried(
    instant_server, api_key, clean_env, quickstart_file, tmp_path
):
    instant_server.sim("POST", "/faults", [
        {"id": "reset", "operation": "GET /v1/fine-tunes/{id}", "reset": True, "times": 1},
        {"id": "cut", "operation": "GET /v1/fine-tunes/{id}/events", "truncate": 0.5,
         "times": 1},
    ])  # fmt: skip
    out = _v1(instant_server, api_key, clean_env, tmp_path, "workflow", str(quickstart_file))
    assert (out["retrieve"]["status"], out["events"][-1]["type"]) == ("completed", "JOB_COMPLETE")
    assert [e["fault"] for e in _journal(instant_server)] == ["reset", "truncate"]
    job = out["create"]["id"]
    polls = [(e.line, e.status) for e in instant_server.exchanges if e.method == "GET"]
    assert polls[-4:] == [
        (f"GET /v1/fine-tunes/{job}", 0),
        (f"GET /v1/fine-tunes/{job}", 200),
        (f"GET /v1/fine-tunes/{job}/events", 200),
        (f"GET /v1/fine-tunes/{job}/events", 200),
    ]


def test_the_sdk_uploads_through_the_rate_limited_upload_scenario(
    instant_server, api_key, clean_env, quickstart_file, tmp_path
):
    import yaml

    scenario = yaml.safe_load((REPO / "scenarios" / "rate-limited-upload.yaml").read_text())
    instant_server.sim("POST", "/scenario", scenario)
    out = _v1(instant_server, api_key, clean_env, tmp_path, "workflow", str(quickstart_file))
    assert out["upload"]["processing_status"] == "COMPLETED"
    assert [e["rule"] for e in _journal(instant_server)] == [
        "upload-429",
        "upload-429",
        "preprocess-503",
    ]
