"""Real fine-tuning behind the simulated API: the optional ``[train]`` extra.

``data`` (rows to token ids and loss masks, pure Python), ``models`` (the tiny Llama and its
tokenizer), ``config`` (a run's frozen settings), ``lora`` (the training loop, SFT and DPO),
``reports`` (what the loop tells its caller), ``batch`` (tensors and the forward pass),
``dpo`` (the preference loss), ``checkpoints`` (save and resume) and ``chat`` (greedy generation on
a result). Importing this package imports nothing heavy: the names below
load their module, and with it torch, transformers and peft, on first use, so the server can name
them without paying ~4 s and ~400 MB until a real job runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_server.training.chat import Completion, generate
    from mock_server.training.config import TrainConfig
    from mock_server.training.lora import train
    from mock_server.training.reports import (
        CheckpointReport,
        EvalReport,
        StartReport,
        StepReport,
        TrainResult,
    )

__all__ = [
    "CheckpointReport",
    "Completion",
    "EvalReport",
    "StartReport",
    "StepReport",
    "TrainConfig",
    "TrainResult",
    "generate",
    "train",
]

_HOME = {
    "CheckpointReport": "reports",
    "EvalReport": "reports",
    "StartReport": "reports",
    "StepReport": "reports",
    "TrainConfig": "config",
    "TrainResult": "reports",
    "train": "lora",
    "Completion": "chat",
    "generate": "chat",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
