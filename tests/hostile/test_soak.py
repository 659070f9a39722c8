"""A bounded soak: 50 CI jobs at once against a real ``together-sim serve`` for about 30 s, the
mixed workload of ``bench/load.py`` (upload, create, 5 polls, 2 event lists, list jobs, over and
over, each client its own key), its generator in a process of its own.

What must hold is what CI needs from the simulator under load: no request fails, and nothing a
client was told it has is missing afterwards. How fast it answered is the bench's business
(``python -m bench load``), never an assertion here.
"""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest

from bench.load import Workload, run_generators
from tests.hostile.conftest import SimServerFactory

pytestmark = pytest.mark.e2e

CLIENTS, SECONDS = 50, 30.0


def test_fifty_clients_for_thirty_seconds_get_no_error_and_lose_nothing(
    sim_server: SimServerFactory,
) -> None:
    server = sim_server("--clock", "realtime", "--speed", "3")  # serve's own clock and pace
    workload = Workload(clients=CLIENTS, duration_s=SECONDS, warmup_s=0.0, keep_ids=True)

    load = run_generators(server.base_url, workload, key_prefix="soak")

    assert load["errors"] == 0, load["error_samples"]
    made = load["created"]
    assert {m["key"] for m in made} == {f"soak-{i:04d}" for i in range(CLIENTS)}  # all got going
    jobs_of: dict[str, set[str]] = defaultdict(set)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for m in made:
            auth = {"Authorization": f"Bearer {m['key']}"}
            file = http.get(f"/v1/files/{m['file']}", headers=auth)
            assert file.status_code == 200, file.text
            assert file.json()["processing_status"] == "COMPLETED"
            if "job" in m:
                job = http.get(f"/v1/fine-tunes/{m['job']}", headers=auth)
                assert job.status_code == 200, job.text
                assert job.json()["training_file"] == m["file"]
                jobs_of[m["key"]].add(m["job"])
        for key, jobs in jobs_of.items():  # and each tenant's list is exactly its own jobs
            listed = http.get("/v1/fine-tunes", headers={"Authorization": f"Bearer {key}"})
            assert {j["id"] for j in listed.json()["data"]} == jobs
