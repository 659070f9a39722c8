"""The regions GPU clusters and shared volumes live in (``GET /compute/regions``).

The region names are the spec's own examples (``us-central-8``, ``us-west-2``); which GPUs and
which CUDA / NVIDIA driver pairs each offers are estimates, in the spec's shapes (its example
``CUDA_12_6_560`` is CUDA 12.6 with driver 560; that is also each pair's catalog ``id``, which the
August spec's cluster create takes as ``nvidia_version_id``, on the ``os`` image family ``OS``).
Creating a cluster checks its region, GPU type and driver pair against this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mock_server.core.errors import InvalidRequest
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Resources

__all__ = ["OPERATIONS", "OS", "REGIONS", "Region", "check_region", "version_id"]

OS = "ubuntu-22.04"


@dataclass(frozen=True)
class Region:
    gpu_types: tuple[str, ...]
    drivers: tuple[tuple[str, str], ...]  # (cuda_version, nvidia_driver_version)


_DRIVERS = (("12.4", "550"), ("12.6", "560"), ("12.8", "570"))

REGIONS: Final[Mapping[str, Region]] = {
    "us-central-8": Region(("H100_SXM", "H200_SXM", "B200_SXM"), _DRIVERS),
    "us-west-2": Region(("H100_SXM", "H100_SXM_INF", "L40_PCIE", "RTX_6000_PCI"), _DRIVERS[:2]),
}


def version_id(cuda: str, driver: str) -> str:
    """The catalog id of a CUDA / driver pair (``CUDA_12_6_560``)."""
    return f"CUDA_{cuda.replace('.', '_')}_{driver}"


def check_region(name: str, param: str = "region") -> Region:
    region = REGIONS.get(name)
    if region is None:
        raise InvalidRequest(
            f"Unknown region {name}: it is one of {', '.join(REGIONS)} (GET /compute/regions)",
            param=param,
        )
    return region


def list_regions(resources: Resources, call: Call) -> Any:
    return {
        "regions": [
            {
                "name": name,
                "supported_instance_types": list(region.gpu_types),
                "driver_versions": [
                    {
                        "cuda_version": cuda,
                        "nvidia_driver_version": driver,
                        "id": version_id(cuda, driver),
                        "os": OS,
                    }
                    for cuda, driver in region.drivers
                ],
            }
            for name, region in REGIONS.items()
        ]
    }


OPERATIONS = [Operation("GET /compute/regions", list_regions)]
