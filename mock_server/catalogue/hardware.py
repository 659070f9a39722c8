"""The GPU configurations a dedicated endpoint can run on, and the availability zones.

``GET /hardware`` lists :data:`HARDWARE` (``HardwareWithStatus`` in the spec); with ``?model=``
only the configurations with enough GPU memory for that model, each with an ``availability``.
``POST /endpoints`` refuses a hardware id that is not here, or one too small for the model.

Sources (figures carried over, not code):

* Ids are ``<count>x_<stem>``, with the stems SDK 1.5.35's CLI builds from ``--gpu`` /
  ``--gpu-count`` (``endpoints create``: ``nvidia_h100_80gb_sxm``, ``nvidia_a100_80gb_pcie`` for
  one A100 and ``nvidia_a100_80gb_sxm`` for more, ``nvidia_l40s``, ...); the spec's examples
  (``1x_nvidia_a100_80gb_sxm``, ``8x_nvidia_h200_140gb_sxm``) and the fine-tuning docs
  (``4x_nvidia_h100_80gb_sxm``) are among them. Which counts exist per GPU is estimated: 1, 2, 4
  and 8 for SXM cards, 1, 2 and 4 for the 48 GB PCIe cards.
* ``specs`` spell ``gpu_type`` as the spec's example does (``a100-80gb``).
* The A100 SXM price is the "List hardware" reference example (2x A100 80GB: 5.42 cents a
  minute); the other prices are estimated from Together's published hourly GPU rates.
* The memory a model needs is estimated: bf16 weights (2 bytes a parameter) plus a fifth for the
  KV cache and activations.
* Availability zones: ``us-central-4b`` is the docs' example; the others are made up in its style.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from mock_server.core.timefmt import iso

__all__ = [
    "AVAILABILITY_ZONES",
    "HARDWARE",
    "Hardware",
    "compatible",
    "get",
    "needed_gpu_memory_gb",
    "render",
]


@dataclass(frozen=True, slots=True)
class Hardware:
    stem: str  # the id after "<count>x_"
    gpu_type: str
    gpu_link: str
    gpu_memory: int  # GB per GPU
    gpu_count: int
    cents_per_minute_per_gpu: float

    @property
    def id(self) -> str:
        return f"{self.gpu_count}x_{self.stem}"

    @property
    def total_memory(self) -> int:
        return self.gpu_memory * self.gpu_count

    @property
    def cents_per_minute(self) -> float:
        return round(self.cents_per_minute_per_gpu * self.gpu_count, 2)


SXM: Final = (1, 2, 4, 8)
PCIE: Final = (1, 2, 4)

# stem, gpu_type, link, GB per GPU, cents a minute per GPU, counts
_GPUS: Final = (
    ("nvidia_a100_80gb_sxm", "a100-80gb", "sxm", 80, 2.71, SXM),  # the reference's example
    ("nvidia_a100_80gb_pcie", "a100-80gb", "pcie", 80, 2.50, (1,)),  # estimated, as below
    ("nvidia_h100_80gb_sxm", "h100-80gb", "sxm", 80, 5.60, SXM),  # $3.36 an hour
    ("nvidia_h200_140gb_sxm", "h200-140gb", "sxm", 140, 8.32, SXM),  # $4.99 an hour
    ("nvidia_b200_180gb_sxm", "b200-180gb", "sxm", 180, 9.98, SXM),  # $5.99 an hour
    ("nvidia_l40", "l40-48gb", "pcie", 48, 2.50, PCIE),  # $1.50 an hour
    ("nvidia_l40s", "l40s-48gb", "pcie", 48, 3.50, PCIE),  # $2.10 an hour
    ("nvidia_rtx_6000_ada", "rtx-6000-48gb", "pcie", 48, 2.17, PCIE),  # $1.30 an hour
)

HARDWARE: Final[tuple[Hardware, ...]] = tuple(
    Hardware(stem, gpu_type, link, memory, count, price)
    for stem, gpu_type, link, memory, price, counts in _GPUS
    for count in counts
)
_BY_ID: Final = {h.id: h for h in HARDWARE}

AVAILABILITY_ZONES: Final = ("us-central-4b", "us-central-8a", "us-east-2a", "eu-north-1a")


def get(hardware_id: str) -> Hardware | None:
    return _BY_ID.get(hardware_id)


def needed_gpu_memory_gb(param_count: int) -> float:
    return param_count * 2 * 1.2 / 1e9


def compatible(hardware: Hardware, param_count: int) -> bool:
    return hardware.total_memory >= needed_gpu_memory_gb(param_count)


def render(hardware: Hardware, updated_at: datetime, *, with_availability: bool) -> dict[str, Any]:
    """One ``HardwareWithStatus``: ``availability`` only when the list was asked for a model."""
    body: dict[str, Any] = {
        "object": "hardware",
        "id": hardware.id,
        "pricing": {"cents_per_minute": hardware.cents_per_minute},
        "specs": {
            "gpu_type": hardware.gpu_type,
            "gpu_link": hardware.gpu_link,
            "gpu_memory": hardware.gpu_memory,
            "gpu_count": hardware.gpu_count,
        },
        "updated_at": iso(updated_at),
    }
    if with_availability:
        body["availability"] = {"status": "available"}
    return body
