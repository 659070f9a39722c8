"""Server settings: one class, filled from ``serve``'s flags (built from its fields), then
``TOGETHER_SIM_*`` variables.

``TOGETHER_SIM_API_KEYS`` takes a comma-separated list. With no key configured any bearer token is
accepted and each distinct token is its own tenant, which is what CI wants; with keys configured,
every other key gets a 401, which is what a shared dev server wants. Keys configured also close
the ``/_sim`` controls to all but ``TOGETHER_SIM_ADMIN_KEY`` (see ``core/tenancy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mock_server.core.limits import Limits
from mock_server.files.checks.reader import MAX_LINE_BYTES
from openapi.locate import SpecVersion, default_spec_version, find_spec_path

__all__ = ["ClockMode", "Flag", "ServeMode", "Settings"]

_LIMITS = Limits()  # the defaults


class ServeMode(StrEnum):
    stateful = "stateful"  # the simulator: files, jobs and events kept, the rest from the spec
    examples = "examples"  # stateless answers from the spec's examples and schemas, for any id


class ClockMode(StrEnum):
    instant = "instant"  # a job reaches its end on the first read after creation
    realtime = "realtime"  # wall-clock time, the job timeline divided by ``speed``
    manual = "manual"  # time moves only through /_sim/advance


@dataclass(frozen=True)
class Flag:
    """How a setting is spelled on ``together-sim serve`` where its field name does not say it
    (the flags are built from the fields: ``data_dir`` is ``--data-dir``)."""

    name: str | None = None  # in place of ``--<field-name>``
    metavar: str | None = None


class Settings(BaseSettings):
    """Every field is a ``together-sim serve`` flag (``cli.py`` builds them from the fields: the
    name in kebab case, the description as its help) and a ``TOGETHER_SIM_<NAME>`` variable, so a
    new setting needs no second edit to reach the command line."""

    model_config = SettingsConfigDict(env_prefix="TOGETHER_SIM_", extra="ignore")

    mode: ServeMode = Field(
        default=ServeMode.stateful,
        description="the stateful simulator, or stateless answers from the spec's examples",
    )
    host: str = Field(default="127.0.0.1", description="the address to listen on")
    port: int = Field(default=8000, description="the port to listen on")
    data_dir: Path = Field(
        default=Path(".together-sim"),
        description="the SQLite file, uploaded files and built archives",
    )
    # A SecretStr: the URL may hold the database's password, which stays out of reprs and logs.
    database_url: Annotated[SecretStr | None, Flag(metavar="URL")] = Field(
        default=None,
        description="postgresql://user:password@host:port/database: keep the records there, "
        "shared by every replica pointed at it (needs the [postgres] extra); unset: the SQLite "
        "file in --data-dir. The data dir still holds the tenant secret and built archives",
    )
    api_keys: Annotated[list[str], NoDecode, Flag("--api-key", metavar="KEY")] = Field(
        default_factory=list,
        description="an accepted key (repeatable; the variable takes a comma-separated list). "
        "With none, any bearer key works and each key is its own tenant; with keys, others get 401",
    )
    # A SecretStr: it is the key to wipe everything, so it stays out of reprs and logs.
    admin_key: Annotated[SecretStr | None, Flag(metavar="KEY")] = Field(
        default=None,
        description="the key of the /_sim controls (reset, clock, faults, trainer, fail, journal) "
        "and every tenant's dashboard. Once this or --api-key is set, /_sim wants a key: this one "
        "for the controls, a tenant's own key for its own dashboard",
    )
    clock: ClockMode = Field(
        default=ClockMode.realtime,
        description="instant (a job is done by its first read), realtime, or manual (time moves "
        "only through /_sim/advance)",
    )
    # At speed 3 the default timeline takes a small job (a few steps) to completion in about a
    # minute of wall time; speed 1 is the pace of the real service.
    speed: float = Field(
        default=3.0, gt=0, description="divides the job timeline on the realtime clock"
    )
    seed: int | None = Field(default=None, description="seed for ids and synthetic output")
    account: str = Field(
        default="sim-user",
        description="namespace of output model names: <account>/<model>-<suffix>-<hash>",
    )
    # Off only to measure the full read path, as `make bench` does (see FineTuning.job_view).
    keep_views: bool = Field(
        default=True, description="keep rendered job bodies until the job's next change"
    )
    spec: Path | None = Field(
        default=None,
        description="path of an OpenAPI spec to serve, where the pinned one is not found by "
        "default (wins over --spec-version)",
    )
    spec_version: SpecVersion = Field(
        default=default_spec_version(),
        description="which pinned spec to serve: august (2026-08, SDK 3.x's surface) or april "
        "(2026-04, SDK 2.12's)",
    )
    # Per job: see /_sim. "real" needs the [train] extra.
    trainer: Literal["synthetic", "real"] = Field(
        default="synthetic",
        description="who trains new jobs: the synthetic timeline or a real worker process that "
        "trains a tiny stand-in model on the uploaded data",
    )
    real_model: Literal["micro", "small", "smollm2"] = Field(
        default="micro",
        description="the base a real job trains when neither from_hf_model nor the model map "
        "names one: a tiny random Llama (micro, small) or SmolLM2-135M-Instruct (smollm2)",
    )
    # Read by training.bases.load_model_map.
    model_map: Annotated[Path | None, Flag(metavar="FILE")] = Field(
        default=None,
        description="JSON or YAML file mapping Together model names to bases for real training",
    )
    # Several workers, or other work on the machine, run far faster with fewer threads each than
    # with every worker contending for every core.
    worker_threads: Annotated[int | None, Flag(metavar="N")] = Field(
        default=None,
        ge=1,
        description="CPU threads of each training and inference worker; unset: torch's own "
        "choice, every core",
    )
    progress: bool | None = Field(
        default=None,
        description="a progress line per training job on stderr; unset: only when it is a terminal",
    )
    faults: Annotated[Path | None, Flag(metavar="FILE")] = Field(
        default=None,
        description="a scenario file (faults and job behaviours) in force from startup",
    )
    # uvicorn worker processes on one port, sharing the store (cli.py's serve, serving.py).
    workers: Annotated[int, Flag(metavar="N")] = Field(
        default=1,
        ge=1,
        description="server processes answering on the one port, sharing the data dir (or the "
        "database); each also runs its own real-training runner, one job per replica by lease",
    )
    # Bytes in S3-compatible object storage (store/s3_blobs.py), for replicas on several hosts.
    blob_url: Annotated[str | None, Flag(metavar="URL")] = Field(
        default=None,
        pattern=r"^s3://[^/?#]+(/[^?#]*)?$",
        description="s3://bucket/prefix: file bytes in S3-compatible object storage (the "
        "[s3] extra; credentials from boto3's usual chain) rather than under the data dir",
    )
    s3_endpoint_url: Annotated[str | None, Flag(metavar="URL")] = Field(
        default=None,
        description="the S3-compatible server of --blob-url (MinIO, a local moto); unset, "
        "boto3's own AWS_ENDPOINT_URL, else AWS",
    )

    check_rules: Literal["3.1.1", "1.5.35"] = Field(
        default="3.1.1",
        description="whose check_file rules an uploaded dataset is validated by: 3.1.1 (the "
        "newest SDK: each line a JSON object) or 1.5.35 (every format, role and content rule)",
    )

    # -- limits (core/limits.py; the README's "Limits" table) -----------------------------------
    max_line_bytes: Annotated[int, Flag(metavar="BYTES")] = Field(
        default=MAX_LINE_BYTES,
        gt=0,
        description="the longest line of a dataset file; a longer one makes the file "
        "INVALID_FORMAT, naming the line (the check's memory is about 6x this at worst)",
    )
    max_body_bytes: Annotated[int, Flag(metavar="BYTES")] = Field(
        default=_LIMITS.max_body_bytes,
        gt=0,
        description="the largest request body other than an upload's (JSON, form fields); "
        "larger is a 413",
    )
    max_upload_bytes: Annotated[int, Flag(metavar="BYTES")] = Field(
        default=_LIMITS.max_upload_bytes,
        gt=0,
        description="the largest file one upload may carry (a PUT to an upload URL or a part, a "
        "multipart form's file); larger is a 413. Default: the service's 50.1 GB",
    )
    max_header_bytes: Annotated[int, Flag(metavar="BYTES")] = Field(
        default=_LIMITS.max_header_bytes,
        gt=0,
        description="the longest request line and headers, together; longer is a 431",
    )
    max_form_fields: Annotated[int, Flag(metavar="N")] = Field(
        default=_LIMITS.max_form_fields,
        gt=0,
        description="the most non-file fields in one form; more is a 400",
    )
    max_form_files: Annotated[int, Flag(metavar="N")] = Field(
        default=_LIMITS.max_form_files,
        gt=0,
        description="the most file parts in one multipart form; more is a 400",
    )
    max_form_field_bytes: Annotated[int, Flag(metavar="BYTES")] = Field(
        default=_LIMITS.max_form_field_bytes,
        gt=0,
        description="the largest non-file form field; larger is a 400",
    )
    max_json_depth: Annotated[int, Flag(metavar="N")] = Field(
        default=_LIMITS.max_json_depth,
        gt=0,
        le=900,  # the JSON parser's own recursion stops near 1,000: deeper is refused anyway
        description="the deepest nesting of arrays and objects in a JSON body; deeper is a 400",
    )
    request_timeout: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=_LIMITS.request_timeout,
        gt=0,
        description="how long a request's line and headers may take after its first byte; "
        "longer is a 408 and the connection closes",
    )
    body_timeout: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=_LIMITS.body_timeout,
        gt=0,
        description="the longest wait for the next bytes of a request body; longer is a 408 and "
        "the connection closes",
    )
    idle_timeout: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=_LIMITS.idle_timeout,
        gt=0,
        description="how long a connection with no request in it stays open (keep-alive)",
    )
    max_connections: Annotated[int, Flag(metavar="N")] = Field(
        default=_LIMITS.max_connections,
        gt=0,
        description="the most open connections (never more than the file descriptor limit "
        "allows); past it the oldest idle one is closed, or a 503 if none is idle",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("admin_key", mode="before")
    @classmethod
    def _no_empty_key(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def admin_keys(self) -> list[str]:
        return [self.admin_key.get_secret_value()] if self.admin_key is not None else []

    @property
    def limits(self) -> Limits:
        return Limits(**{name: getattr(self, name) for name in Limits.__dataclass_fields__})

    def spec_path(self) -> Path:
        """The spec this server answers from: ``spec`` if set, else the selected version's file
        (never downloaded here: a server start does not wait on the network)."""
        return self.spec or find_spec_path(version=self.spec_version, allow_download=False)

    @property
    def shared(self) -> bool:
        """Whether other processes serve the same records: then nothing that must happen once
        (orphaned parts cleanup, reseeding ids) may run at startup without a lock, the
        real-training runner leases its jobs under an owner id of its own, and the controls'
        state (clock offset, fault rules, behaviours, the tenant secret) lives in the store,
        checked once per request, with kept job bodies checked against the row (core/shared.py).
        """
        return self.workers > 1 or self.database_url is not None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "together-sim.sqlite3"
