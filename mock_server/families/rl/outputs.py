"""What RL operations answer, pure: the checks on a forward-backward batch, and each operation's
output, deterministic per operation id. No model runs: a loss that falls with the session's step
(with GRPO's clip and KL metrics), the step an optimizer step reaches, token ids and
log-probabilities for ``num_samples`` completions per prompt (at most 32 tokens each), the model
name an inference checkpoint registers, a checkpoint's id. The April spec's shapes, or the August
spec's (``results`` with policy segments, ``STOP_REASON_*``, checkpoint outputs that name their
checkpoint)."""

from __future__ import annotations

import math
import random
import uuid
from datetime import datetime
from typing import Any

from mock_server.core.errors import InvalidRequest
from mock_server.core.ids import stable_int
from mock_server.core.timefmt import iso

__all__ = ["check_batch", "check_sample", "output"]

_MAX_SAMPLE_TOKENS = 32
# Completions per prompt the simulator draws; more is refused, not cut. The overlay states the
# same bound (RL.SampleBody num_samples), so the spec check refuses first; this one guards memory.
MAX_SAMPLES = 64


def _inputs(request: dict[str, Any]) -> tuple[str, list[Any]]:
    """What to sample from: ``model_inputs`` (the August spec, SDK 3.x) or ``prompts`` (April)."""
    name = "model_inputs" if "model_inputs" in request else "prompts"
    return name, list(request.get(name) or [])


def check_sample(request: dict[str, Any]) -> None:
    name, inputs = _inputs(request)
    if not inputs:
        raise InvalidRequest(f"{name} must not be empty", param=name)
    count = int(request.get("num_samples", 1))
    if not 1 <= count <= MAX_SAMPLES:
        raise InvalidRequest(
            f"num_samples must be from 1 to {MAX_SAMPLES} (got {count})", param="num_samples"
        )
    if int(request.get("sampling_params", {}).get("max_tokens", 1)) < 1:
        raise InvalidRequest("max_tokens must be 1 or more", param="sampling_params.max_tokens")


def check_batch(request: dict[str, Any]) -> None:
    """The 400s for a forward-backward batch that does not hang together."""
    loss = request["loss"]
    grpo = loss["type"] == "LOSS_TYPE_GRPO"
    beta = float(loss.get("grpo_params", {}).get("beta", 0.0))
    if not request["samples"]:
        raise InvalidRequest("samples must not be empty", param="samples")
    for i, sample in enumerate(request["samples"]):
        if "loss_inputs" not in sample:  # SDK 3.x's named tensors: one length for all
            _check_tensors(sample.get("loss_fn_inputs") or {}, f"samples.{i}.loss_fn_inputs")
            continue
        where = f"samples.{i}.loss_inputs"
        inputs = sample["loss_inputs"]
        length = len(inputs["target_tokens"]["data"])
        mask = inputs.get("loss_mask")
        if mask is not None and len(mask["data"]) != length:
            raise InvalidRequest(
                "loss_mask must be as long as target_tokens", param=f"{where}.loss_mask.data"
            )
        if not grpo:
            continue
        if "grpo_inputs" not in inputs:
            raise InvalidRequest("A GRPO loss needs grpo_inputs", param=f"{where}.grpo_inputs")
        if len(inputs["grpo_inputs"]["advantages"]["data"]) != length:
            raise InvalidRequest(
                "advantages must be as long as target_tokens",
                param=f"{where}.grpo_inputs.advantages.data",
            )
        if beta > 0 and "reference_logprobs" not in inputs["grpo_inputs"]:
            raise InvalidRequest(
                "A KL penalty (beta > 0) needs reference_logprobs",
                param=f"{where}.grpo_inputs.reference_logprobs",
            )


def _check_tensors(tensors: dict[str, Any], where: str) -> None:
    lengths = {name: len(tensor.get("data") or ()) for name, tensor in tensors.items()}
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        odd = next(name for name, n in lengths.items() if n != lengths[first])
        raise InvalidRequest(
            f"{odd} must be as long as {first} ({lengths[odd]} != {lengths[first]})",
            param=f"{where}.{odd}.data",
        )


def output(
    kind: str,
    op_id: str,
    step: int,
    base_model: str,
    account: str,
    request: dict[str, Any],
    end: datetime,
    *,
    august: bool = False,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The output of operation ``op_id`` of ``kind``, started at the session's ``step``, and the
    checkpoint it saves (if it saves one), in the August spec's shape when ``august``."""
    rng = random.Random(stable_int("rl", op_id))
    if kind == "forward-backward":
        loss = max(0.05, 2.5 * math.exp(-0.03 * step) + rng.uniform(-0.03, 0.03))
        metrics = {}
        if request["loss"]["type"] == "LOSS_TYPE_GRPO":
            metrics = {
                "loss/clip/high_fraction": round(rng.uniform(0.0, 0.2), 4),
                "loss/clip/low_fraction": round(rng.uniform(0.0, 0.1), 4),
                "loss/kl_ref/mean": round(rng.uniform(0.0, 0.1), 4),
            }
        return {"loss": round(loss, 4), "metrics": metrics}, None
    if kind == "optim-step":
        return {"step": str(step + 1)}, None
    if kind == "sample":
        params = request.get("sampling_params", {})
        wanted = int(params.get("max_tokens", 100))
        length = min(wanted, _MAX_SAMPLE_TOKENS)
        stopped = "length" if length == wanted else "stop"
        rollouts = [
            {
                "sequences": [
                    {
                        "tokens": [rng.randrange(32_000) for _ in range(length)],
                        "logprobs": [round(-rng.uniform(0.01, 3.0), 4) for _ in range(length)],
                        "stop_reason": f"STOP_REASON_{stopped.upper()}" if august else stopped,
                        **({"prompt_cache_hit_tokens": 0} if august else {}),
                    }
                    for _ in range(int(request.get("num_samples", 1)))
                ],
                # every token drawn under the session's current policy version
                **({"policy_segments": [{"version": step, "start_token": 0}]} if august else {}),
            }
            for _ in _inputs(request)[1]
        ]
        return ({"results": rollouts} if august else {"rollouts": rollouts}), None
    checkpoint_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    saved = {"id": checkpoint_id, "step": str(step), "created_at": iso(end)}
    if kind == "training-checkpoint":
        named = {"checkpoint": saved} if august else {}
        return {"checkpoint_id": checkpoint_id, **named}, {"id": checkpoint_id, "step": step}
    short = base_model.rsplit("/", 1)[-1]
    name = f"{account}/{short}-rl-step-{step}-{end:%Y%m%d}"
    named = {"checkpoint": saved} if august else {}
    return {"model_name": name, **named}, {"id": checkpoint_id, "step": step, "model_name": name}
