"""The hardware catalogue (``mock_server.catalogue.hardware``): ids in Together's pattern, prices,
and which
configurations have the GPU memory a model needs."""

from __future__ import annotations

import pytest

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.catalogue import hardware
from mock_server.core.clock import utc


def _params(model: str) -> int:
    entry = catalogue.get(model)
    assert entry is not None
    return entry.param_count


def test_ids_include_the_docs_examples() -> None:
    ids = {h.id for h in hardware.HARDWARE}
    assert {
        "1x_nvidia_a100_80gb_sxm",
        "2x_nvidia_a100_80gb_sxm",
        "4x_nvidia_h100_80gb_sxm",
        "8x_nvidia_h200_140gb_sxm",
    } <= ids
    assert len(ids) == len(hardware.HARDWARE)
    assert hardware.get("1x_nvidia_h100_80gb") is None


# SDK 1.5.35's `together endpoints create --gpu G --gpu-count N` sends f"{N}x_{stem}" with these
# stems (and the PCIe A100 for one GPU, the SXM one for more).
CLI_STEMS = {
    "b200": "nvidia_b200_180gb_sxm",
    "h200": "nvidia_h200_140gb_sxm",
    "h100": "nvidia_h100_80gb_sxm",
    "l40": "nvidia_l40",
    "l40s": "nvidia_l40s",
    "rtx-6000": "nvidia_rtx_6000_ada",
}


@pytest.mark.parametrize("gpu", sorted(CLI_STEMS))
def test_every_gpu_the_v1_cli_offers_exists_on_one_and_on_two_gpus(gpu: str) -> None:
    assert hardware.get(f"1x_{CLI_STEMS[gpu]}") is not None
    assert hardware.get(f"2x_{CLI_STEMS[gpu]}") is not None


def test_one_a100_is_pcie_for_the_cli_and_sxm_for_the_spec() -> None:
    assert hardware.get("1x_nvidia_a100_80gb_pcie") is not None
    assert hardware.get("1x_nvidia_a100_80gb_sxm") is not None


def test_the_list_hardware_example_is_priced_as_the_reference_says() -> None:
    two_a100 = hardware.get("2x_nvidia_a100_80gb_sxm")
    assert two_a100 is not None
    assert two_a100.cents_per_minute == 5.42


@pytest.mark.parametrize(
    ("model", "hardware_id", "fits"),
    [
        ("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "1x_nvidia_a100_80gb_sxm", True),
        ("meta-llama/Llama-3.3-70B-Instruct-Reference", "1x_nvidia_h200_140gb_sxm", False),
        ("meta-llama/Llama-3.3-70B-Instruct-Reference", "2x_nvidia_h100_80gb_sxm", False),
        ("meta-llama/Llama-3.3-70B-Instruct-Reference", "2x_nvidia_h200_140gb_sxm", True),
        ("meta-llama/Llama-3.3-70B-Instruct-Reference", "4x_nvidia_a100_80gb_sxm", True),
    ],
)
def test_a_configuration_fits_a_model_with_room_for_bf16_weights_and_cache(
    model: str, hardware_id: str, fits: bool
) -> None:
    chosen = hardware.get(hardware_id)
    assert chosen is not None
    assert hardware.compatible(chosen, _params(model)) is fits


def test_availability_is_rendered_only_when_asked_for_a_model() -> None:
    one = hardware.HARDWARE[0]
    assert "availability" not in hardware.render(one, utc(2026, 1, 1), with_availability=False)
    rendered = hardware.render(one, utc(2026, 1, 1), with_availability=True)
    assert rendered["availability"] == {"status": "available"}
    assert rendered["specs"] == {
        "gpu_type": "a100-80gb",
        "gpu_link": "sxm",
        "gpu_memory": 80,
        "gpu_count": 1,
    }
