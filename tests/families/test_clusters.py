"""GPU clusters over HTTP on the manual clock at the service's pace: regions, a cluster with a
shared volume walking to Ready as its nodes come up, a resize, deletion freeing the volume, and
the checks on a request. Every answer is checked against the spec."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.spec_calls import Api

CLUSTER = {
    "region": "us-central-8",
    "gpu_type": "H100_SXM",
    "num_gpus": 16,
    "cluster_name": "my-gpu-cluster",
    "cuda_version": "12.6",
    "nvidia_driver_version": "560",
    "billing_type": "ON_DEMAND",
}


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def _create(api: Api, **fields: Any) -> dict[str, Any]:
    cluster: dict[str, Any] = api.call("POST /compute/clusters", json={**CLUSTER, **fields})
    return cluster


def test_regions_list_the_gpus_and_driver_pairs_a_cluster_may_ask_for(api: Api) -> None:
    regions = {r["name"]: r for r in api.call("GET /compute/regions")["regions"]}
    assert "H100_SXM" in regions["us-central-8"]["supported_instance_types"]
    pair = {"cuda_version": "12.6", "nvidia_driver_version": "560"}
    catalog = {"id": "CUDA_12_6_560", "os": "ubuntu-22.04"}
    assert pair | catalog in regions["us-west-2"]["driver_versions"]


def test_a_cluster_names_its_driver_pair_by_catalog_id_or_by_versions(api: Api) -> None:
    by_versions = {k: v for k, v in CLUSTER.items() if not k.endswith("_version")}
    named = {**by_versions, "nvidia_version_id": "CUDA_12_4_550"}
    cluster = api.call("POST /compute/clusters", json=named)
    assert (cluster["cuda_version"], cluster["nvidia_driver_version"]) == ("12.4", "550")
    assert [p["phase"] for p in cluster["phase_transitions"]] == [
        "CLUSTER_PHASE_WAITING_FOR_CONTROL_PLANE_NODES"
    ]
    assert cluster["add_ons"] == [] and cluster["num_reserved_gpus"] == 0
    assert {n["phase_transitions"][0]["phase"] for n in cluster["gpu_worker_nodes"]} == {
        "NODE_PHASE_BOOTING"
    }
    unknown = api.error(
        "POST /compute/clusters", 400, json={**by_versions, "nvidia_version_id": "CUDA_9_0_1"}
    )
    assert unknown["param"] == "nvidia_version_id"
    both = {**CLUSTER, "nvidia_version_id": "CUDA_12_4_550"}  # 12.6 / 560 is another entry
    assert api.error("POST /compute/clusters", 400, json=both)["param"] == "nvidia_version_id"


def test_a_cluster_with_a_new_shared_volume_walks_to_ready_as_its_nodes_come_up(api: Api) -> None:
    volume = {"volume_name": "data", "size_tib": 2, "region": "us-central-8"}
    cluster = _create(api, shared_volume=volume)
    assert cluster["status"] == "WaitingForControlPlaneNodes"
    assert [n["status"] for n in cluster["gpu_worker_nodes"]] == ["Provisioning"] * 2
    assert cluster["kube_config"] == ""
    walk = [
        (60, "WaitingForDataPlaneNodes"),
        (120, "WaitingForSharedVolume"),
        (30, "InstallingDrivers"),
        (60, "RunningAcceptanceTests"),
        (60, "Ready"),
    ]
    for seconds, status in walk:
        api.advance(seconds)
        assert (
            api.call("GET /compute/clusters/{cluster_id}", cluster_id=cluster["cluster_id"])[
                "status"
            ]
            == status
        )
    ready = api.call("GET /compute/clusters/{cluster_id}", cluster_id=cluster["cluster_id"])
    assert {n["status"] for n in ready["gpu_worker_nodes"] + ready["control_plane_nodes"]} == {
        "Ready"
    }
    assert ready["kube_config"].startswith("# together-sim: a simulated kubeconfig")
    assert [(v["volume_name"], v["status"]) for v in ready["volumes"]] == [("data", "bound")]
    listed = api.call("GET /compute/clusters/storage/volumes")["volumes"]
    assert [(v["volume_name"], v["status"]) for v in listed] == [("data", "bound")]


def test_a_resize_brings_up_the_new_workers_and_a_delete_frees_the_volume(api: Api) -> None:
    volume = api.call(
        "POST /compute/clusters/storage/volumes",
        json={"volume_name": "v", "size_tib": 1, "region": "us-central-8"},
    )
    assert volume["status"] == "provisioning"
    cluster = _create(api, volume_id=volume["volume_id"])
    api.advance(400)
    resized = api.call(
        "PUT /compute/clusters/{cluster_id}",
        cluster_id=cluster["cluster_id"],
        json={"num_gpus": 24},
    )
    assert resized["status"] == "WaitingForDataPlaneNodes"
    assert [n["status"] for n in resized["gpu_worker_nodes"]] == ["Ready", "Ready", "Provisioning"]
    api.advance(180)
    assert (
        api.call("GET /compute/clusters/{cluster_id}", cluster_id=cluster["cluster_id"])["status"]
        == "Ready"
    )
    # In use: a conflict with the volume's state, not a bad request.
    error = api.error(
        "DELETE /compute/clusters/storage/volumes/{volume_id}", 409, volume_id=volume["volume_id"]
    )
    assert error["param"] == "volume_id"
    deleted = api.call("DELETE /compute/clusters/{cluster_id}", cluster_id=cluster["cluster_id"])
    assert deleted == {"cluster_id": cluster["cluster_id"]}
    assert api.call("GET /compute/clusters") == {"clusters": []}
    assert (
        api.error("GET /compute/clusters/{cluster_id}", 404, cluster_id=cluster["cluster_id"])[
            "param"
        ]
        == "cluster_id"
    )
    grown = api.call(
        "PUT /compute/clusters/storage/volumes",
        json={"volume_id": volume["volume_id"], "size_tib": 4},
    )
    assert (grown["size_tib"], grown["status"]) == (4, "available")
    assert api.call(
        "DELETE /compute/clusters/storage/volumes/{volume_id}", volume_id=volume["volume_id"]
    ) == {"success": True}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"region": "mars-1"}, "region"),
        ({"gpu_type": "L40_PCIE"}, "gpu_type"),
        ({"num_gpus": 12}, "num_gpus"),
        ({"cuda_version": "11.8"}, "nvidia_driver_version"),
        ({"billing_type": "RESERVED"}, "duration_days"),
        ({"billing_type": "SCHEDULED_CAPACITY"}, "reservation_start_time"),
        ({"cluster_type": "SLURM"}, "slurm_shm_size_gib"),
        ({"auto_scaled": True}, "auto_scale_max_gpus"),
        (
            {"shared_volume": {"volume_name": "v", "size_tib": 1, "region": "us-west-2"}},
            "shared_volume.region",
        ),
    ],
)
def test_a_cluster_request_with_a_wrong_field_is_refused_naming_it(
    api: Api, fields: dict[str, Any], param: str
) -> None:
    assert api.error("POST /compute/clusters", 400, json={**CLUSTER, **fields})["param"] == param


def test_a_shared_volume_only_grows(api: Api) -> None:
    volume = api.call(
        "POST /compute/clusters/storage/volumes",
        json={"volume_name": "v", "size_tib": 3, "region": "us-west-2"},
    )
    error = api.error(
        "PUT /compute/clusters/storage/volumes",
        400,
        json={"volume_id": volume["volume_id"], "size_tib": 1},
    )
    assert error["param"] == "size_tib"
    missing = api.error(
        "PUT /compute/clusters/storage/volumes", 404, json={"volume_id": "sv-x", "size_tib": 1}
    )
    assert missing["param"] == "volume_id"
    # The August spec requires volume_id (the April one did not, and named no volume: a 404).
    unnamed = api.error("PUT /compute/clusters/storage/volumes", 400, json={"size_tib": 4})
    assert unnamed["param"] == "volume_id"


def test_a_cluster_uses_an_existing_free_volume_of_its_region(api: Api) -> None:
    assert (
        api.error("POST /compute/clusters", 404, json={**CLUSTER, "volume_id": "sv-x"})["param"]
        == "volume_id"
    )
    west = {"volume_name": "w", "size_tib": 1, "region": "us-west-2"}
    elsewhere = api.call("POST /compute/clusters/storage/volumes", json=west)["volume_id"]
    refused = api.error("POST /compute/clusters", 400, json={**CLUSTER, "volume_id": elsewhere})
    assert refused["message"] == f"Shared volume {elsewhere} is in us-west-2, not us-central-8"
    central = {**west, "region": "us-central-8"}
    volume = api.call("POST /compute/clusters/storage/volumes", json=central)["volume_id"]
    _create(api, volume_id=volume)
    busy = api.error("POST /compute/clusters", 400, json={**CLUSTER, "volume_id": volume})
    assert busy["param"] == "volume_id"
