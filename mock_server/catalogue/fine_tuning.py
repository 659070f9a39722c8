"""The base models the simulated service fine-tunes, with the limits Together publishes for them.

Every route that names a model asks this module: ``GET /fine-tunes/models/supported`` lists
:func:`supported`, ``GET /fine-tunes/models/limits`` answers :func:`limits_payload`,
``POST /fine-tunes`` resolves ``batch_size`` with :func:`resolve_batch_size` and
``POST /fine-tunes/estimate-price`` multiplies tokens by the entry's price. Both clients call the
limits endpoint *before* they send a job and validate the request against the answer
(``lora_training.default_rank`` becomes ``lora_r`` in SDK 3.x, ``max_rank`` in 1.5.x; the batch
size, ``max_seq_length`` and ``train_vision`` are checked client-side), so the figures here decide
what a real client will and will not let a user submit.

Sources (figures were carried over, not code):

* "Supported Models: A list of all the models available for fine-tuning",
  https://docs.together.ai/docs/fine-tuning-models (the 2025 tables "LoRA Fine-tuning",
  "LoRA Long-context Fine-tuning" and "Full Fine-tuning": context lengths for SFT and DPO, max
  batch sizes for SFT and DPO, min batch size), and its note "For batch sizes of 1, Gradient
  accumulation 8 is used".
* "Supported models: Every base model available for fine-tuning, with context length and batch
  size limits", https://docs.together.ai/docs/fine-tuning/supported-models (the 2026 page: the
  "Max LoRA rank" and "Grad accum" columns, and the Llama 4 Scout VLM row).
* "LoRA supported modules", https://docs.together.ai/docs/fine-tuning-lora-supported-modules, and
  the create-job reference: default target modules, one list for the Mixtral family and one for
  every other model.
* Fine-tuning prices per 1M tokens by size bracket ("Up to 16B", "16.1-69B", "70-100B") and
  training kind (SFT or DPO, LoRA or full), from https://www.together.ai/pricing as referenced by
  "Pricing", https://docs.together.ai/docs/fine-tuning-pricing.
* ``GET /fine-tunes/models/limits``: schema ``FineTuneModelLimits`` in the pinned OpenAPI spec,
  and the types the clients parse it into (``together.types.FinetuneModelLimits`` in SDK 3.1.1,
  ``together.types.finetune.FinetuneTrainingLimits`` in 1.5.35).
* Parameter counts are the Hugging Face safetensors totals of the public checkpoints.
* ``supports_tools`` / ``supports_reasoning`` / ``supports_vision`` follow the model cards.

Figures that no public source gives are marked ``# estimated`` where they are set: the epoch,
eval, checkpoint and learning-rate caps, the ``max_seq_length`` floor, ``merge_output_lora``,
and the LoRA modules of the two MoE models without a published list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

__all__ = [
    "MODELS",
    "PRICE_TIERS",
    "FullLimits",
    "LoraLimits",
    "ModelEntry",
    "PriceTier",
    "get",
    "limits_payload",
    "price_tier_for",
    "resolve_batch_size",
    "supported",
    "supported_detailed",
]

# -- Shared limits ---------------------------------------------------------------------------------

# "all-linear" selects every module in the list; the order is the one Together's table prints.
DEFAULT_TARGET_MODULES: Final = (
    "k_proj",
    "up_proj",
    "o_proj",
    "q_proj",
    "down_proj",
    "v_proj",
    "gate_proj",
)
MIXTRAL_TARGET_MODULES: Final = ("k_proj", "w2", "w1", "gate", "w3", "o_proj", "q_proj", "v_proj")
# Together lists attention-only modules for Llama 4 Maverick; Scout and gpt-oss are MoE models
# with fused expert weights and no published list, so they get the same.  # estimated
ATTENTION_TARGET_MODULES: Final = ("k_proj", "o_proj", "q_proj", "v_proj")

DEFAULT_MAX_RANK: Final = 64  # the 2026 table: 64 for every model here (16 only for giant MoEs)
MAX_NUM_EPOCHS: Final = 20  # estimated
MAX_NUM_EVALS: Final = 100  # estimated
MAX_NUM_CHECKPOINTS: Final = 20  # estimated
MIN_LEARNING_RATE: Final = 1e-8  # estimated
MAX_LEARNING_RATE: Final = 1.0  # estimated
MIN_MAX_SEQ_LENGTH: Final = 1  # estimated: no published floor for max_seq_length
MERGE_OUTPUT_LORA: Final = True  # estimated: LoRA jobs offer "merged" and "adapter" downloads


@dataclass(frozen=True, slots=True)
class LoraLimits:
    """``lora_training`` of the limits reply."""

    max_rank: int
    default_rank: int
    max_batch_size: int
    max_batch_size_dpo: int
    min_batch_size: int
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES

    def __post_init__(self) -> None:
        _check_batch_sizes(self.min_batch_size, self.max_batch_size, self.max_batch_size_dpo)
        if not 1 <= self.default_rank <= self.max_rank:
            raise ValueError(f"default_rank {self.default_rank} outside 1..{self.max_rank}")
        if not self.target_modules:
            raise ValueError("target_modules is empty")


@dataclass(frozen=True, slots=True)
class FullLimits:
    """``full_training`` of the limits reply."""

    max_batch_size: int
    max_batch_size_dpo: int
    min_batch_size: int

    def __post_init__(self) -> None:
        _check_batch_sizes(self.min_batch_size, self.max_batch_size, self.max_batch_size_dpo)


def _check_batch_sizes(min_bs: int, max_bs: int, max_bs_dpo: int) -> None:
    if not 1 <= min_bs <= min(max_bs, max_bs_dpo):
        raise ValueError(f"min_batch_size {min_bs} exceeds a maximum ({max_bs}, {max_bs_dpo})")


# -- Prices ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceTier:
    """USD per 1M processed tokens (training epochs plus evaluation passes)."""

    name: str
    sft_lora: float
    sft_full: float | None
    dpo_lora: float
    dpo_full: float | None


PRICE_TIERS: Final = (
    PriceTier("Up to 16B", sft_lora=0.48, sft_full=0.54, dpo_lora=1.20, dpo_full=1.35),
    PriceTier("16.1-69B", sft_lora=1.50, sft_full=1.65, dpo_lora=3.75, dpo_full=4.12),
    PriceTier("70-100B", sft_lora=2.90, sft_full=3.20, dpo_lora=7.25, dpo_full=8.00),
)
# Models above the brackets are priced one by one ("specialized pricing"); LoRA only.
LLAMA_4_SCOUT_PRICES: Final = PriceTier(
    "Llama 4 Scout", sft_lora=3.00, sft_full=None, dpo_lora=7.50, dpo_full=None
)


def price_tier_for(param_count: int) -> PriceTier:
    """The size bracket of a model (BYOM models are priced by their own size too)."""
    if param_count <= 16_000_000_000:
        return PRICE_TIERS[0]
    if param_count < 70_000_000_000:
        return PRICE_TIERS[1]
    return PRICE_TIERS[2]


# -- Entries ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One fine-tunable base model. ``lora``/``full`` are ``None`` where that kind is refused."""

    name: str
    param_count: int
    context_length: int  # the checkpoint's own window (max_position_embeddings)
    max_seq_length_sft: int  # Together's "Context Length (SFT)": what a packed row holds
    max_seq_length_dpo: int
    lora: LoraLimits | None
    full: FullLimits | None
    price_per_million_tokens_lora: float | None  # SFT; DPO below
    price_per_million_tokens_full: float | None
    price_per_million_tokens_lora_dpo: float | None
    price_per_million_tokens_full_dpo: float | None
    supports_vision: bool = False
    supports_tools: bool = False
    supports_reasoning: bool = False
    min_max_seq_length: int = MIN_MAX_SEQ_LENGTH
    max_num_epochs: int = MAX_NUM_EPOCHS
    max_num_evals: int = MAX_NUM_EVALS
    max_num_checkpoints: int = MAX_NUM_CHECKPOINTS
    min_learning_rate: float = MIN_LEARNING_RATE
    max_learning_rate: float = MAX_LEARNING_RATE
    merge_output_lora: bool = MERGE_OUTPUT_LORA
    default_gradient_accumulation_steps: int = 1

    def __post_init__(self) -> None:
        if self.lora is None and self.full is None:
            raise ValueError(f"{self.name}: neither LoRA nor full training")
        lora_pair = (self.lora, self.price_per_million_tokens_lora)
        full_pair = (self.full, self.price_per_million_tokens_full)
        for kind, (limits, price) in (("LoRA", lora_pair), ("full", full_pair)):
            if (limits is None) != (price is None):
                raise ValueError(f"{self.name}: {kind} limits and a {kind} price go together")
        if not 0 < self.min_max_seq_length <= min(self.max_seq_length_sft, self.max_seq_length_dpo):
            raise ValueError(f"{self.name}: min_max_seq_length above a maximum")
        if not 0 < self.min_learning_rate < self.max_learning_rate:
            raise ValueError(f"{self.name}: learning-rate range is empty")

    @property
    def supports_full_training(self) -> bool:
        return self.full is not None

    def price_per_million_tokens(self, *, lora: bool, dpo: bool) -> float | None:
        """USD per 1M tokens for one kind of job, ``None`` when the model refuses that kind."""
        return {
            (True, False): self.price_per_million_tokens_lora,
            (True, True): self.price_per_million_tokens_lora_dpo,
            (False, False): self.price_per_million_tokens_full,
            (False, True): self.price_per_million_tokens_full_dpo,
        }[lora, dpo]


BatchSizes = tuple[int, int, int]  # (max SFT, max DPO, min), the order of Together's columns


def _model(
    name: str,
    *,
    params: int,
    context: int,
    sft: int,
    dpo: int,
    lora: BatchSizes | None,
    full: BatchSizes | None,
    modules: tuple[str, ...] = DEFAULT_TARGET_MODULES,
    prices: PriceTier | None = None,
    tools: bool = False,
    reasoning: bool = False,
    vision: bool = False,
) -> ModelEntry:
    """One row of Together's tables, with the shared limits filled in."""
    tier = prices or price_tier_for(params)
    lora_limits = None
    if lora is not None:
        lora_limits = LoraLimits(
            max_rank=DEFAULT_MAX_RANK,
            default_rank=DEFAULT_MAX_RANK,  # observed: 3.x sends lora_r 64, lora_alpha 128
            max_batch_size=lora[0],
            max_batch_size_dpo=lora[1],
            min_batch_size=lora[2],
            target_modules=modules,
        )
    full_limits = None if full is None else FullLimits(*full)
    smallest_max = min(b[0] for b in (lora, full) if b is not None)
    return ModelEntry(
        name=name,
        param_count=params,
        context_length=context,
        max_seq_length_sft=sft,
        max_seq_length_dpo=dpo,
        lora=lora_limits,
        full=full_limits,
        price_per_million_tokens_lora=tier.sft_lora if lora else None,
        price_per_million_tokens_full=tier.sft_full if full else None,
        price_per_million_tokens_lora_dpo=tier.dpo_lora if lora else None,
        price_per_million_tokens_full_dpo=tier.dpo_full if full else None,
        supports_vision=vision,
        supports_tools=tools,
        supports_reasoning=reasoning,
        # "For batch sizes of 1, Gradient accumulation 8 is used".
        default_gradient_accumulation_steps=8 if smallest_max == 1 else 1,
    )


# Rows: lora/full = (max batch SFT, max batch DPO, min batch); full=None = LoRA only.
# fmt: off
MODELS: Final[tuple[ModelEntry, ...]] = (
    # Meta
    _model(
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        params=8_030_261_248, context=131_072, sft=131_072, dpo=65_536,
        lora=(8, 8, 8), full=(8, 8, 8), tools=True,
    ),
    _model(
        "meta-llama/Meta-Llama-3.1-8B-Reference",
        params=8_030_261_248, context=131_072, sft=131_072, dpo=65_536,
        lora=(8, 8, 8), full=(8, 8, 8),
    ),
    _model(  # long-context LoRA: 32K-131K contexts are LoRA-only
        "meta-llama/Meta-Llama-3.1-8B-131k-Instruct-Reference",
        params=8_030_261_248, context=131_072, sft=131_072, dpo=131_072,
        lora=(4, 4, 1), full=None, tools=True,
    ),
    _model(
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
        params=70_553_706_496, context=131_072, sft=24_576, dpo=12_288,
        lora=(8, 8, 8), full=(32, 32, 32), tools=True,
    ),
    _model(
        "meta-llama/Llama-3.3-70B-Instruct-Reference",
        params=70_553_706_496, context=131_072, sft=24_576, dpo=8_192,
        lora=(8, 8, 8), full=(32, 32, 32), tools=True,
    ),
    _model(
        "meta-llama/Llama-3.2-3B-Instruct",
        params=3_212_749_824, context=131_072, sft=131_072, dpo=65_536,
        lora=(8, 8, 8), full=(8, 8, 8), tools=True,
    ),
    _model(
        "meta-llama/Llama-3.2-1B-Instruct",
        params=1_235_814_400, context=131_072, sft=131_072, dpo=131_072,
        lora=(8, 8, 8), full=(8, 8, 8), tools=True,
    ),
    _model(
        "meta-llama/Meta-Llama-3-8B-Instruct",
        params=8_030_261_248, context=8_192, sft=8_192, dpo=8_192,
        lora=(64, 64, 8), full=(64, 64, 8),
    ),
    _model(  # the 2026 table; image+text data, train_vision allowed
        "meta-llama/Llama-4-Scout-17B-16E-Instruct-VLM",
        params=108_641_793_536, context=10_485_760, sft=32_768, dpo=32_768,  # "10M" window
        lora=(8, 8, 8), full=None, modules=ATTENTION_TARGET_MODULES,  # estimated modules
        prices=LLAMA_4_SCOUT_PRICES, tools=True, vision=True,
    ),
    # Qwen 2.5 (LoRA only: absent from the full fine-tuning table)
    _model(
        "Qwen/Qwen2.5-72B-Instruct",
        params=72_706_203_648, context=32_768, sft=32_768, dpo=12_288,
        lora=(8, 8, 8), full=None, tools=True,
    ),
    _model(
        "Qwen/Qwen2.5-14B-Instruct",
        params=14_770_033_664, context=32_768, sft=32_768, dpo=32_768,
        lora=(8, 8, 8), full=None, tools=True,
    ),
    _model(
        "Qwen/Qwen2.5-7B-Instruct",
        params=7_615_616_512, context=32_768, sft=32_768, dpo=32_768,
        lora=(16, 16, 8), full=None, tools=True,
    ),
    _model(
        "Qwen/Qwen2.5-3B-Instruct",
        params=3_085_938_688, context=32_768, sft=32_768, dpo=32_768,
        lora=(32, 32, 8), full=None, tools=True,
    ),
    _model(
        "Qwen/Qwen2.5-1.5B-Instruct",
        params=1_543_714_304, context=32_768, sft=32_768, dpo=32_768,
        lora=(32, 32, 8), full=None, tools=True,
    ),
    # Qwen 3 (hybrid thinking models); Together lists a DPO context above the SFT one
    _model(
        "Qwen/Qwen3-0.6B",
        params=751_632_384, context=40_960, sft=32_768, dpo=40_960,
        lora=(64, 64, 8), full=(64, 64, 8), tools=True, reasoning=True,
    ),
    _model(
        "Qwen/Qwen3-1.7B",
        params=2_031_739_904, context=40_960, sft=32_768, dpo=40_960,
        lora=(32, 32, 8), full=(32, 32, 8), tools=True, reasoning=True,
    ),
    _model(
        "Qwen/Qwen3-4B",
        params=4_022_468_096, context=40_960, sft=32_768, dpo=40_960,
        lora=(16, 16, 8), full=(16, 16, 8), tools=True, reasoning=True,
    ),
    _model(
        "Qwen/Qwen3-8B",
        params=8_190_735_360, context=40_960, sft=32_768, dpo=40_960,
        lora=(8, 8, 8), full=(8, 8, 8), tools=True, reasoning=True,
    ),
    _model(
        "Qwen/Qwen3-14B",
        params=14_768_307_200, context=40_960, sft=32_768, dpo=40_960,
        lora=(8, 8, 8), full=(8, 8, 8), tools=True, reasoning=True,
    ),
    _model(
        "Qwen/Qwen3-32B",
        params=32_762_123_264, context=40_960, sft=24_576, dpo=24_576,
        lora=(8, 8, 8), full=(16, 16, 16), tools=True, reasoning=True,
    ),
    _model(
        "Qwen/Qwen3-30B-A3B",
        params=30_532_122_624, context=40_960, sft=8_192, dpo=32_768,
        lora=(16, 16, 8), full=(8, 8, 8), tools=True, reasoning=True,
    ),
    # DeepSeek R1 distills
    _model(
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        params=70_553_706_496, context=131_072, sft=24_576, dpo=12_288,
        lora=(8, 8, 8), full=(32, 32, 32), reasoning=True,
    ),
    _model(
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
        params=14_770_033_664, context=131_072, sft=65_536, dpo=49_152,
        lora=(8, 8, 8), full=(8, 8, 8), reasoning=True,
    ),
    _model(
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
        params=1_777_088_000, context=131_072, sft=131_072, dpo=131_072,
        lora=(8, 8, 8), full=(8, 8, 8), reasoning=True,
    ),
    # Google Gemma 3 (text fine-tuning; the -VLM ids carry the image tower)
    _model(
        "google/gemma-3-27b-it",
        params=27_432_406_640, context=131_072, sft=49_152, dpo=24_576,
        lora=(8, 8, 8), full=(16, 16, 16),
    ),
    _model(
        "google/gemma-3-12b-it",
        params=12_187_325_040, context=131_072, sft=16_384, dpo=49_152,
        lora=(8, 8, 8), full=(8, 8, 8),
    ),
    _model(
        "google/gemma-3-4b-it",
        params=4_300_079_472, context=131_072, sft=131_072, dpo=65_536,
        lora=(8, 8, 8), full=(8, 8, 8),
    ),
    _model(
        "google/gemma-3-1b-it",
        params=999_885_952, context=32_768, sft=32_768, dpo=32_768,
        lora=(32, 32, 8), full=(64, 64, 8),
    ),
    # Mistral
    _model(
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        params=46_702_792_704, context=32_768, sft=32_768, dpo=32_768,
        lora=(8, 8, 8), full=(16, 16, 16), modules=MIXTRAL_TARGET_MODULES, tools=True,
    ),
    _model(
        "mistralai/Mistral-7B-Instruct-v0.2",
        params=7_241_732_096, context=32_768, sft=32_768, dpo=32_768,
        lora=(16, 16, 8), full=(16, 16, 8),
    ),
    # OpenAI
    _model(
        "openai/gpt-oss-20b",
        params=20_914_757_184, context=131_072, sft=16_384, dpo=8_192,
        lora=(8, 8, 8), full=None, modules=ATTENTION_TARGET_MODULES,
        tools=True, reasoning=True,
    ),
)
# fmt: on

_BY_NAME: Final[Mapping[str, ModelEntry]] = MappingProxyType({m.name: m for m in MODELS})
_BY_FOLDED: Final[Mapping[str, ModelEntry]] = MappingProxyType(
    {m.name.casefold(): m for m in MODELS}
)


def get(name: str) -> ModelEntry | None:
    """The entry named ``name``: an exact match first, then one that differs only in case."""
    return _BY_NAME.get(name) or _BY_FOLDED.get(name.casefold())


def supported() -> list[str]:
    """The names ``GET /fine-tunes/models/supported`` lists, in catalogue order."""
    return [m.name for m in MODELS]


def supported_detailed() -> list[dict[str, str]]:
    """The August spec's ``detailed_models``: each name with the model it fine-tunes, which for
    Together's ``-Reference`` copies is the model they copy."""
    return [{"name": m.name, "parent_model": m.name.removesuffix("-Reference")} for m in MODELS]


def limits_payload(entry: ModelEntry, *, model_name: str) -> dict[str, Any]:
    """The body of ``GET /fine-tunes/models/limits`` for ``entry``.

    ``model_name`` is echoed as asked: with ``from_checkpoint`` the clients ask about a job id or
    an output name, which the caller resolved to ``entry``. The body carries every field the spec
    requires, every field SDK 3.1.1 declares and every field 1.5.35 requires. A model that cannot
    be fully fine-tuned has no ``full_training`` key: the spec types it as a (non-nullable)
    object, and both clients read the missing key as ``None`` and refuse ``lora=False``.
    """
    body: dict[str, Any] = {
        "model_name": model_name,
        "max_num_epochs": entry.max_num_epochs,
        "max_num_evals": entry.max_num_evals,
        "max_num_checkpoints": entry.max_num_checkpoints,
        "max_learning_rate": entry.max_learning_rate,
        "min_learning_rate": entry.min_learning_rate,
        "min_max_seq_length": entry.min_max_seq_length,
        "max_seq_length_sft": entry.max_seq_length_sft,
        "max_seq_length_dpo": entry.max_seq_length_dpo,
        "default_gradient_accumulation_steps": entry.default_gradient_accumulation_steps,
        "supports_full_training": entry.supports_full_training,
        "supports_vision": entry.supports_vision,
        "supports_tools": entry.supports_tools,
        "supports_reasoning": entry.supports_reasoning,
        "merge_output_lora": entry.merge_output_lora,
    }
    if entry.lora is not None:
        body["lora_training"] = {
            "max_rank": entry.lora.max_rank,
            "default_rank": entry.lora.default_rank,
            "max_batch_size": entry.lora.max_batch_size,
            "max_batch_size_dpo": entry.lora.max_batch_size_dpo,
            "min_batch_size": entry.lora.min_batch_size,
            "target_modules": list(entry.lora.target_modules),
        }
    if entry.full is not None:
        body["full_training"] = {
            "max_batch_size": entry.full.max_batch_size,
            "max_batch_size_dpo": entry.full.max_batch_size_dpo,
            "min_batch_size": entry.full.min_batch_size,
        }
    return body


def resolve_batch_size(
    entry: ModelEntry, requested: int | Literal["max"], *, lora: bool, dpo: bool
) -> int:
    """The batch size a job runs with: ``"max"`` becomes the limit, an int is checked against it.

    The checks, their order and their messages (typo included) are the SDK's own, so a request
    that slips past a client (raw HTTP, an old CLI) fails the same way on the server.
    """
    limits: LoraLimits | FullLimits | None = entry.lora if lora else entry.full
    if limits is None:
        kind = "LoRA adapters are" if lora else "Full training is"
        raise ValueError(f"{kind} not supported for the selected model ({entry.name}).")
    maximum = limits.max_batch_size_dpo if dpo else limits.max_batch_size
    if requested == "max":
        return maximum
    if isinstance(requested, bool) or not isinstance(requested, int):
        raise ValueError(f"batch_size must be an integer or 'max' (got {requested!r})")
    if requested > maximum:
        raise ValueError(
            f"Requested batch size of {requested} is higher that the maximum allowed value"
            f" of {maximum}."
        )
    if requested < limits.min_batch_size:
        raise ValueError(
            f"Requested batch size of {requested} is lower that the minimum allowed value"
            f" of {limits.min_batch_size}."
        )
    return requested
