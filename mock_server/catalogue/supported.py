"""The platform's supported models as the v2 catalogue (``/v2/supported-models``) describes them,
the one config each is certified with, and the inference instance types
(``/v2/public/inference-instance-types``) those configs run on.

The chat models are the fine-tunable ones of ``fine_tuning.py`` (the simulator serves chat on
them, trains them and deploys them), offered on the serverless, dedicated and fine-tuning
products; the embedding, rerank and image models of ``serverless.py`` are serverless only, with
no deployment profile. Every chat model has one certified config: the smallest instance type of
``hardware.py`` with room for it (H100s first), in bf16, serving LoRA adapters dynamically, so
SDK 3.1.1's CLI picks it without asking (``tg endpoints deploy`` needs exactly one config, and a
fine-tune's adapter one with ``adapter_mode`` ``fixed`` or ``dynamic``).

Sources (facts carried over, not code): the August 2026 spec's ``DE.SupportedModel``,
``DE.ModelConfig`` and ``DE.InferenceInstanceType``; SDK 3.1.1's CLI for the selector keys it
reads (``accelerator_type``, ``accelerator_count``, ``adapter_mode``) and the instance-type
names it matches them against (``1xnvidia-h100-80gb``); the model cards for architectures.
Architectures by family, families, display names, benchmarks and the catalogue's dates are
``# estimated``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mock_server.catalogue import fine_tuning, hardware, serverless
from mock_server.catalogue.hardware import Hardware

__all__ = [
    "CATALOGUE_SINCE",
    "INSTANCE_TYPES",
    "PUBLIC_ORGANIZATION",
    "PUBLIC_PROJECT",
    "SUPPORTED",
    "InstanceType",
    "Supported",
    "accelerator",
    "get",
    "instance_name",
]

# The project and organization that own the public catalogue's models and configs: their
# resource names read ``projects/proj-together/models/ml_...``.
PUBLIC_PROJECT: Final = "proj-together"
PUBLIC_ORGANIZATION: Final = "org-together"
CATALOGUE_SINCE: Final = "2025-01-01T00:00:00.000000Z"  # estimated: when the entries were made

# Hugging Face architecture of each model family, by the name's prefix.  # estimated
_ARCHITECTURES: Final = (
    ("meta-llama/Llama-4", "Llama4ForConditionalGeneration"),
    ("meta-llama/", "LlamaForCausalLM"),
    ("deepseek-ai/DeepSeek-R1-Distill-Llama", "LlamaForCausalLM"),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen", "Qwen2ForCausalLM"),
    ("Qwen/Qwen2.5", "Qwen2ForCausalLM"),
    ("Qwen/Qwen3-30B-A3B", "Qwen3MoeForCausalLM"),
    ("Qwen/Qwen3", "Qwen3ForCausalLM"),
    ("google/gemma-3-1b", "Gemma3ForCausalLM"),
    ("google/gemma-3", "Gemma3ForConditionalGeneration"),
    ("mistralai/Mixtral", "MixtralForCausalLM"),
    ("mistralai/", "MistralForCausalLM"),
    ("openai/gpt-oss", "GptOssForCausalLM"),
)
# The cards the simulator prefers when several fit, cheapest first among equals.
_PREFERRED_GPUS: Final = ("nvidia_h100_80gb_sxm", "nvidia_h200_140gb_sxm", "nvidia_b200_180gb_sxm")


@dataclass(frozen=True, slots=True)
class Supported:
    """One catalogue entry. ``hardware`` is None for a model with no deployment profile."""

    name: str
    display_type: str  # chat, embedding, rerank, image
    capability: str  # CAPABILITY_...
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    products: tuple[str, ...]
    features: tuple[str, ...]
    context_length: int | None
    param_count: int | None
    architecture: str | None
    hardware: Hardware | None

    @property
    def publisher(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def display_name(self) -> str:
        return self.name.rsplit("/", 1)[-1].replace("-", " ")

    @property
    def adapter_mode(self) -> str:
        """``dynamic`` where the simulator serves LoRA adapters on it (the fine-tunable models)."""
        return "dynamic" if "PRODUCT_FINE_TUNING" in self.products else "disabled"


@dataclass(frozen=True, slots=True)
class InstanceType:
    hardware: Hardware
    regions: tuple[str, ...]


def accelerator(card: Hardware) -> str:
    """The accelerator's name as SDK 3.1.1's selectors spell it (``nvidia-h100-80gb``); the one
    PCIe A100 is told apart from the SXM one by its link."""
    suffix = "-pcie" if card.stem == "nvidia_a100_80gb_pcie" else ""
    return f"nvidia-{card.gpu_type}{suffix}"


def instance_name(card: Hardware) -> str:
    """``1xnvidia-h100-80gb``: the deployable name SDK 3.1.1's CLI builds from a config's
    ``accelerator_count`` and ``accelerator_type`` selectors and looks up among instance types."""
    return f"{card.gpu_count}x{accelerator(card)}"


def _architecture(name: str) -> str | None:
    return next((arch for prefix, arch in _ARCHITECTURES if name.startswith(prefix)), None)


def _fitting(param_count: int) -> Hardware:
    for stem in _PREFERRED_GPUS:
        for card in hardware.HARDWARE:
            if card.stem == stem and hardware.compatible(card, param_count):
                return card
    raise ValueError(f"no instance type holds {param_count} parameters")


def _chat(entry: fine_tuning.ModelEntry) -> Supported:
    features = []
    if entry.supports_tools:
        features.append("FEATURE_TOOL_CALLING")
    if entry.supports_reasoning:
        features.append("FEATURE_REASONING")
    inputs = ("MODALITY_TEXT", "MODALITY_IMAGE") if entry.supports_vision else ("MODALITY_TEXT",)
    return Supported(
        name=entry.name,
        display_type="chat",
        capability="CAPABILITY_CHAT",
        input_modalities=inputs,
        output_modalities=("MODALITY_TEXT",),
        products=("PRODUCT_SERVERLESS", "PRODUCT_DEDICATED", "PRODUCT_FINE_TUNING"),
        features=tuple(features),
        context_length=entry.context_length,
        param_count=entry.param_count,
        architecture=_architecture(entry.name),
        hardware=_fitting(entry.param_count),
    )


def _serverless(
    name: str, display_type: str, capability: str, context: int | None, output: str
) -> Supported:
    return Supported(
        name=name,
        display_type=display_type,
        capability=capability,
        input_modalities=("MODALITY_TEXT",),
        output_modalities=(output,),
        products=("PRODUCT_SERVERLESS",),
        features=(),
        context_length=context,
        param_count=None,
        architecture=None,
        hardware=None,
    )


def _entries() -> tuple[Supported, ...]:
    chat = []
    for name in fine_tuning.supported():
        entry = fine_tuning.get(name)
        assert entry is not None
        chat.append(_chat(entry))
    embed = [
        _serverless(m.name, "embedding", "CAPABILITY_EMBEDDING", m.context_length, "MODALITY_TEXT")
        for m in serverless.EMBEDDING_MODELS
    ]
    rerank = [
        _serverless(m.name, "rerank", "CAPABILITY_RERANKING", m.context_length, "MODALITY_TEXT")
        for m in serverless.RERANK_MODELS
    ]
    images = [
        _serverless(m.name, "image", "CAPABILITY_IMAGE_GENERATION", None, "MODALITY_IMAGE")
        for m in serverless.IMAGE_MODELS
    ]
    return (*chat, *embed, *rerank, *images)


SUPPORTED: Final[tuple[Supported, ...]] = _entries()
_BY_NAME: Final = {s.name: s for s in SUPPORTED}

# Regions an instance type is offered in: the availability zones' regions.
_REGIONS: Final = tuple(dict.fromkeys(zone[:-1] for zone in hardware.AVAILABILITY_ZONES))
INSTANCE_TYPES: Final = tuple(InstanceType(card, _REGIONS) for card in hardware.HARDWARE)


def get(name: str) -> Supported | None:
    return _BY_NAME.get(name)
