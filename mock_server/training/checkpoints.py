"""Checkpoints a run can be resumed from or started from, and the weights a download serves.

A checkpoint folder holds the adapter as peft writes it (``adapter_model.safetensors`` and
``adapter_config.json``; the whole model for full fine-tuning) and ``trainer_state.pt``: the
trainable tensors, AdamW's moments, the scheduler's position, the torch RNG state and the losses so
far. Restoring all of it, and recomputing the batch order from the seed, makes a resumed run repeat
the uninterrupted run's losses exactly (``load_state``). Another run that starts from the folder
(Together's ``from_checkpoint``) takes only the weights (``continued_adapter``, ``merged``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel

__all__ = [
    "adapter_card",
    "continued_adapter",
    "load_state",
    "merged",
    "save_state",
    "save_weights",
]

Module = torch.nn.Module


def save_weights(
    model: Module,
    path: Path,
    base_model_name: str,
    *,
    base_description: str = "",
    job_id: str = "",
) -> None:
    """The adapter as peft writes it (or the full model): what a download serves.

    The adapter's ``adapter_config.json`` names its base by the absolute directory the base was
    loaded from, where it stays on this machine while the job exists (a stand-in in the job's
    folder, a converted SmolLM2, a Hugging Face cache snapshot, your own directory): so
    ``AutoPeftModelForCausalLM.from_pretrained(folder)`` loads it as is, offline. The Together
    model it stands in for (``base_model_name``) is no base anyone can load here (the 8B model's
    weights were never downloaded), so it is named only in the README, with how to load the
    adapter elsewhere (``adapter_card``)."""
    model.save_pretrained(path)  # type: ignore[operator]
    config = path / "adapter_config.json"
    if not config.exists():  # a full model: it loads by itself
        return
    fields = json.loads(config.read_text())
    local = str(fields.get("base_model_name_or_path") or "")
    if local and Path(local).is_dir():
        local = str(Path(local).resolve())
        fields["base_model_name_or_path"] = local
        config.write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n")
    (path / "README.md").write_text(
        adapter_card(
            base_dir=local,
            stands_in_for=base_model_name,
            base_description=base_description,
            job_id=job_id,
        )
    )


def adapter_card(*, base_dir: str, stands_in_for: str, base_description: str, job_id: str) -> str:
    """The adapter's README (in place of peft's empty model card): what it was trained on, and
    exactly how to load it, here and elsewhere."""
    job = job_id or "<job id>"
    what = base_description or f"the base in {base_dir}"
    return f"""---
base_model: {base_dir}
library_name: peft
---

# A LoRA adapter trained by together-sim

Trained for real (`together-sim serve --trainer real`) by job `{job}`, for
`{stands_in_for or "its model"}`, on {what}. The base is a stand-in: the
Together model's own weights were never downloaded, so this adapter fits the stand-in only.

Its base, as `adapter_config.json` names it: `{base_dir}` (on the machine that runs the
simulator, for as long as the job exists).

## Load it as is (on the simulator's machine)

```python
from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer

model = AutoPeftModelForCausalLM.from_pretrained("PATH/TO/THIS/FOLDER")
tokenizer = AutoTokenizer.from_pretrained("{base_dir}")
```

## Load it elsewhere

Fetch the base from the simulator first (`GET /_sim/jobs/{job}/base`: config, weights and
tokenizer as a flat tar.zst), then put this adapter on it:

```sh
curl -o base.tar.zst http://127.0.0.1:8000/_sim/jobs/{job}/base
mkdir base && tar --zstd -xf base.tar.zst -C base
```

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

base = AutoModelForCausalLM.from_pretrained("base")
model = PeftModel.from_pretrained(base, "PATH/TO/THIS/FOLDER")
tokenizer = AutoTokenizer.from_pretrained("base")
```
"""


def save_state(
    path: Path,
    model: Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    total: int,
    losses: Iterable[float],
) -> None:
    """Everything a resume needs: the trainable tensors, optimizer and scheduler state, the RNG
    state and the losses so far (next to the weights that ``save_weights`` wrote)."""
    state = {
        "step": step,
        "total_steps": total,
        "trainable": {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "losses": list(losses),
    }
    torch.save(state, path / "trainer_state.pt")


def load_state(
    path: Path,
    model: Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    total: int,
) -> tuple[int, list[float]]:
    state = torch.load(path / "trainer_state.pt", weights_only=True)
    if state["total_steps"] != total:
        raise ValueError(f"checkpoint is from a {state['total_steps']}-step run, not {total}")
    unexpected = model.load_state_dict(state["trainable"], strict=False).unexpected_keys
    if unexpected:
        raise ValueError(f"checkpoint does not fit this model: {unexpected[:3]}")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"]:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), [float(x) for x in state["losses"]]


def continued_adapter(base: Module, path: Path, dropout: float) -> Module:
    """``base`` with the saved adapter at ``path``, trainable. The saved config defines the
    adapter's shape (rank, alpha, target modules); the dropout is the new run's. The config names
    the local base again, as ``save_weights`` needs for the next save."""
    config = LoraConfig.from_pretrained(str(path))
    config.lora_dropout = dropout
    config.base_model_name_or_path = str(getattr(base, "name_or_path", "") or "") or None
    return PeftModel.from_pretrained(base, path, config=config, is_trainable=True)


def merged(base: Module, path: Path) -> Module:
    """``base`` with the saved adapter at ``path`` merged in, every weight trainable."""
    adapted = PeftModel.from_pretrained(base, path)
    return adapted.merge_and_unload().requires_grad_(True)  # type: ignore[no-any-return]
