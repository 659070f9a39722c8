"""The v2 catalogue's data: every fine-tunable model is a deployable chat model on an instance type
with room for it, the serverless-only models have no profile, and instance names are what SDK
3.1.1's CLI builds from a config's selectors."""

from __future__ import annotations

from mock_server.catalogue import fine_tuning, hardware, serverless, supported


def test_every_fine_tunable_model_is_supported_on_hardware_that_holds_it() -> None:
    chat = [s for s in supported.SUPPORTED if "PRODUCT_FINE_TUNING" in s.products]
    assert [s.name for s in chat] == fine_tuning.supported()
    for entry in chat:
        assert entry.hardware is not None and entry.param_count is not None
        assert hardware.compatible(entry.hardware, entry.param_count), entry.name
        assert entry.adapter_mode == "dynamic"


def test_the_cheapest_fitting_h100_count_is_chosen_before_bigger_cards() -> None:
    small = supported.get("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    large = supported.get("meta-llama/Llama-3.3-70B-Instruct-Reference")
    assert small is not None and small.hardware is not None
    assert large is not None and large.hardware is not None
    assert small.hardware.id == "1x_nvidia_h100_80gb_sxm"
    # 70.6 B parameters want ~169 GB: two H100s (160 GB) are too few.
    assert large.hardware.id == "4x_nvidia_h100_80gb_sxm"


def test_serverless_only_models_have_no_deployment_hardware() -> None:
    names = [m.name for m in (*serverless.EMBEDDING_MODELS, *serverless.IMAGE_MODELS)]
    for name in names:
        entry = supported.get(name)
        assert entry is not None
        assert (entry.products, entry.hardware, entry.adapter_mode) == (
            ("PRODUCT_SERVERLESS",),
            None,
            "disabled",
        )


def test_instance_names_follow_the_cli_selector_convention() -> None:
    by_id = {kind.hardware.id: kind.hardware for kind in supported.INSTANCE_TYPES}
    assert supported.instance_name(by_id["1x_nvidia_h100_80gb_sxm"]) == "1xnvidia-h100-80gb"
    assert supported.instance_name(by_id["8x_nvidia_h200_140gb_sxm"]) == "8xnvidia-h200-140gb"
    # The PCIe A100 is told apart from the SXM one: names stay unique.
    names = [supported.instance_name(k.hardware) for k in supported.INSTANCE_TYPES]
    assert len(names) == len(set(names)) == len(hardware.HARDWARE)
