"""The checks on a fine-tune's training method, training type and learning-rate schedule.

Each takes the request (and the model's limits) and returns the object the job keeps, with the
service's defaults filled in, or raises the 400 that names the field, in the SDKs' own words for
the same rule. Each number is held to being finite first: NaN passes every ``<`` and ``>`` test,
and a job that kept a NaN or an infinity could not be stored and read back.
"""

from __future__ import annotations

import math
from typing import Any

from mock_server.catalogue.fine_tuning import ModelEntry
from mock_server.fine_tuning.requests import FineTuneRequest, bad

__all__ = ["check_range", "finite", "lr_scheduler", "training_method", "training_type"]


def finite(name: str, value: Any) -> float:
    """``value`` as a float, or the 400 naming ``name`` when it is not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise bad(f"{name}: must be a finite number", name)
    return number


def check_range(name: str, value: float, low: float, high: float | None, message: str) -> None:
    finite(name, value)
    if value < low or (high is not None and value > high):
        raise bad(message.format(value), name)


def training_method(req: FineTuneRequest) -> dict[str, Any]:
    method = dict(req.training_method or {"method": "sft"})
    kind = method.get("method", "sft")
    if kind not in ("sft", "dpo"):
        raise bad("training_method must be one of sft, dpo", "training_method.method")
    if kind == "sft":
        for key in (
            "dpo_beta",
            "rpo_alpha",
            "simpo_gamma",
            "dpo_normalize_logratios_by_length",
            "dpo_reference_free",
        ):
            if method.get(key) not in (None, False, 0):
                raise bad(f"{key} is only supported for DPO training", f"training_method.{key}")
        toi = method.get("train_on_inputs", req.train_on_inputs)
        toi = "auto" if toi is None else toi
        if toi not in (True, False, "auto"):
            raise bad(
                f"train_on_inputs must be true, false or 'auto' (got {toi!r})",
                "training_method.train_on_inputs",
            )
        return {"method": "sft", "train_on_inputs": toi}
    if req.train_on_inputs is not None or "train_on_inputs" in method:
        raise bad("train_on_inputs is only supported for SFT training", "train_on_inputs")
    beta = method.get("dpo_beta")
    out: dict[str, Any] = {
        "method": "dpo",
        "dpo_beta": finite("training_method.dpo_beta", 0.1 if beta is None else beta),
        "rpo_alpha": finite("training_method.rpo_alpha", method.get("rpo_alpha") or 0.0),
        "simpo_gamma": finite("training_method.simpo_gamma", method.get("simpo_gamma") or 0.0),
        "dpo_normalize_logratios_by_length": bool(method.get("dpo_normalize_logratios_by_length")),
        "dpo_reference_free": bool(method.get("dpo_reference_free")),
    }
    if out["dpo_beta"] <= 0:
        raise bad(
            f"dpo_beta should be positive (got {out['dpo_beta']})", "training_method.dpo_beta"
        )
    for key in ("rpo_alpha", "simpo_gamma"):
        if out[key] < 0:
            raise bad(f"{key} should be non-negative (got {out[key]})", f"training_method.{key}")
    if out["simpo_gamma"] > 0:  # SimPO is reference-free and length-normalised by definition
        out["dpo_reference_free"] = True
        out["dpo_normalize_logratios_by_length"] = True
    return out


def training_type(
    req: FineTuneRequest, entry: ModelEntry, inherited: dict[str, Any] | None
) -> dict[str, Any]:
    given = dict(req.training_type) if req.training_type else None
    if given is None and req.lora is False:
        given = {"type": "Full"}
    if (
        given is None
        and req.lora is None
        and inherited is not None
        and not any(v is not None for v in (req.lora_r, req.lora_alpha, req.lora_dropout))
    ):
        given = dict(inherited)
    if given is None:
        given = {"type": "Lora"}
        for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_trainable_modules"):
            if getattr(req, key) is not None:
                given[key] = getattr(req, key)
    kind = given.get("type")
    if kind == "Full":
        if entry.full is None:
            raise bad(
                f"Full training is not supported for the selected model ({entry.name}).",
                "training_type",
            )
        for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_trainable_modules"):
            if given.get(key) is not None or getattr(req, key) is not None:  # nested or flat
                raise bad(
                    f"You set LoRA parameter `{key}` for a full fine-tuning job. Please change "
                    f"the job type with --lora or remove `{key}` from the arguments",
                    f"training_type.{key}",
                )
        return {"type": "Full"}
    if kind != "Lora":
        raise bad(
            f"training_type.type must be 'Lora' or 'Full' (got {kind!r})", "training_type.type"
        )
    if entry.lora is None:
        raise bad(
            f"LoRA adapters are not supported for the selected model ({entry.name}).",
            "training_type",
        )
    limits = entry.lora
    r = int(given.get("lora_r") or limits.default_rank)
    alpha = given.get("lora_alpha")
    dropout = finite("training_type.lora_dropout", given.get("lora_dropout") or 0.0)
    modules = given.get("lora_trainable_modules") or "all-linear"
    check_range(
        "training_type.lora_r",
        r,
        1,
        limits.max_rank,
        f"LoRA rank must be between 1 and {limits.max_rank} (got {{}})",
    )
    if alpha is None:
        alpha = 2 * r
    if finite("training_type.lora_alpha", alpha) <= 0:
        raise bad(f"lora_alpha should be positive (got {alpha})", "training_type.lora_alpha")
    if not 0 <= dropout < 1:
        raise bad("LoRA dropout must be in [0, 1) range.", "training_type.lora_dropout")
    if modules != "all-linear":
        unknown = [m for m in str(modules).split(",") if m.strip() not in limits.target_modules]
        if unknown:
            raise bad(
                f"Unknown LoRA trainable modules {unknown}; choose from "
                f"{', '.join(limits.target_modules)} or all-linear",
                "training_type.lora_trainable_modules",
            )
    return {
        "type": "Lora",
        "lora_r": r,
        "lora_alpha": int(alpha),
        "lora_dropout": dropout,
        "lora_trainable_modules": modules,
    }


def lr_scheduler(req: FineTuneRequest) -> dict[str, Any]:
    given = req.lr_scheduler or {"lr_scheduler_type": "linear"}
    kind = given.get("lr_scheduler_type", "linear")
    if kind not in ("linear", "cosine"):
        raise bad(
            f"lr_scheduler_type must be linear or cosine (got {kind!r})",
            "lr_scheduler.lr_scheduler_type",
        )
    args = dict(given.get("lr_scheduler_args") or {})
    min_ratio = finite("lr_scheduler.lr_scheduler_args.min_lr_ratio", args.get("min_lr_ratio", 0.0))
    check_range(
        "lr_scheduler.lr_scheduler_args.min_lr_ratio",
        min_ratio,
        0,
        1,
        "Min learning rate ratio should be between 0 and 1 (got {})",
    )
    out: dict[str, Any] = {
        "lr_scheduler_type": kind,
        "lr_scheduler_args": {"min_lr_ratio": min_ratio},
    }
    if kind == "cosine":
        cycles = finite("lr_scheduler.lr_scheduler_args.num_cycles", args.get("num_cycles", 0.5))
        if cycles <= 0:
            raise bad(
                f"Number of cycles should be greater than 0 (got {cycles})",
                "lr_scheduler.lr_scheduler_args.num_cycles",
            )
        out["lr_scheduler_args"]["num_cycles"] = cycles
    return out
