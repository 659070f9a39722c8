"""Fault rules, pure: what a rule says (which requests, when, what) and what it answers.

A rule is data, parsed strictly (``extra="forbid"``): a misspelt key in a scenario file is an
error at load time, not a rule that silently never fires. Which of the installed rules a request
meets is ``matching.py``'s.

What the clients do with the answers (clients-wire.md §1): 3.x retries 408, 409, 429 and 5xx
twice and 1.5.x retries 429 and 5xx five times; both obey ``retry-after-ms``, then
``retry-after``, when 0 < value <= 60 s, and 1.5.x only in lower case (Starlette and the
middleware send every header name lower-case).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, Self, cast

from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_validator

from mock_server.core.clock import CENTURY
from mock_server.core.errors import error_body
from mock_server.core.lazy_model import LazyModel

__all__ = [
    "FaultRule",
    "Latency",
    "PathPattern",
    "SlowStream",
    "compile_path_regex",
    "operation_pattern",
    "status_answer",
]

FaultStatus = Literal[408, 409, 429, 500, 502, 503, 504]

# The body's ``type`` per status: the strings errors.py and the app's handlers already send.
_TYPES = {408: "server_error", 409: "invalid_request_error", 429: "rate_limit_exceeded"}
_REASONS = {
    408: "Request timed out",
    409: "Conflict",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
_PARAM = re.compile(r"\{[^/{}]+\}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# How far from when it is added a rule's time may lie: farther than any schedule means anything,
# near enough that adding it to the clock stays a valid datetime.
HORIZON = CENTURY
# Matching runs on every request: a pattern or glob is short, or it is a mistake.
PATTERN_MAX = 1000

Pattern = Annotated[str, Field(max_length=PATTERN_MAX)]


class PathPattern(Protocol):
    def fullmatch(self, string: str) -> object | None: ...


def compile_path_regex(pattern: str) -> PathPattern:
    """A ``path_regex`` compiled with RE2, not ``re``: RE2 matches in time linear in the path
    whatever the pattern, so a rule anyone who reaches ``/_sim`` can add cannot stall every
    request (``/v1/(a+)+`` takes ``re`` exponential time on a long path of a's). What RE2 cannot
    match that way (backreferences, lookarounds) is refused when the rule is given."""
    import re2  # type: ignore[import-untyped]  # here: only a rule with a path_regex needs it

    options = re2.Options()
    options.log_errors = False  # the reason goes back to the caller, not to stderr
    try:
        return cast(PathPattern, re2.compile(pattern, options))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"not a pattern RE2 can match in linear time: {reason}") from None


class Latency(LazyModel):
    """Seconds added before the answer: ``0.5``, ``{uniform: [0.1, 0.8]}`` or
    ``{normal: [mean, sd]}`` (a draw below zero is zero)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    fixed: float | None = Field(default=None, ge=0, le=600)
    uniform: tuple[float, float] | None = None
    normal: tuple[float, float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_number(cls, value: Any) -> Any:
        return {"fixed": value} if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        given = [v for v in (self.fixed, self.uniform, self.normal) if v is not None]
        if len(given) != 1:
            raise ValueError("latency takes exactly one of fixed, uniform, normal")
        if self.uniform is not None and not 0 <= self.uniform[0] <= self.uniform[1] <= 600:
            raise ValueError("uniform latency needs 0 <= low <= high <= 600")
        if self.normal is not None and (self.normal[1] < 0 or not 0 <= self.normal[0] <= 600):
            raise ValueError("normal latency needs 0 <= mean <= 600 and sd >= 0")
        return self

    def draw(self, rng: random.Random) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.uniform is not None:
            return rng.uniform(*self.uniform)
        assert self.normal is not None
        return min(600.0, max(0.0, rng.gauss(*self.normal)))


class SlowStream(LazyModel):
    """The real answer, delivered in pieces with ``interval`` seconds between them: one server-sent
    event per piece for ``text/event-stream``, else ``chunk_bytes`` bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    interval: float = Field(ge=0, le=60)
    chunk_bytes: int = Field(default=1024, ge=1)


class FaultRule(LazyModel):
    """One fault: which requests (``operation``/``path``/``path_regex``, ``method``, ``tenant``),
    when (``probability``, ``times``, ``every``, ``skip``, ``after``/``before``) and what (a
    ``status``, ``latency``, ``reset``, ``truncate`` or ``slow_stream``; latency combines)."""

    # No infinities or NaNs anywhere: a rule is checked on every request, and one whose numbers
    # cannot be added to a time or rounded would fail each request it meets.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=200)
    # -- which requests (none given: every request outside /_sim)
    operation: Pattern | None = None  # "POST /v1/fine-tunes/{id}/cancel", as the spec writes it
    path: Pattern | None = None  # a glob: "/v1/fine-tunes/*"
    path_regex: Pattern | None = None  # RE2 syntax (see compile_path_regex)
    method: str | None = None
    tenant: str | None = None  # the tenant id
    # Turned into ``tenant`` when the rule is installed (``bound``), which knows the server's
    # tenant ids, and dropped: never listed, never shown.
    api_key: str | None = Field(default=None, exclude=True, repr=False)
    # -- when
    probability: float = Field(default=1.0, ge=0, le=1)
    times: int | None = Field(default=None, ge=1)  # fire this many times, then expire
    every: int | None = Field(default=None, ge=1)  # every k-th matching call
    skip: int = Field(default=0, ge=0)  # let the first n matching calls through
    # On the sim clock: seconds after the rule was added, or a time.
    after: float | AwareDatetime | None = None
    before: float | AwareDatetime | None = None
    # -- what
    status: FaultStatus | None = None
    message: str | None = None
    retry_after: float | None = Field(default=None, gt=0)
    retry_after_ms: int | None = Field(default=None, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    latency: Latency | None = None
    reset: bool = False  # close the connection without an answer
    truncate: float | None = Field(default=None, ge=0, lt=1)  # the share of the body sent
    slow_stream: SlowStream | None = None

    @field_validator("path_regex")
    @classmethod
    def _linear_time(cls, value: str | None) -> str | None:
        if value is not None:
            compile_path_regex(value)
        return value

    @field_validator("after", "before")
    @classmethod
    def _within_horizon(cls, value: float | datetime | None) -> float | datetime | None:
        if isinstance(value, float) and abs(value) > HORIZON:
            raise ValueError(f"at most a century ({HORIZON:.0f} s) from when the rule is added")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        terminal = [
            name
            for name, on in (
                ("status", self.status is not None),
                ("reset", self.reset),
                ("truncate", self.truncate is not None),
                ("slow_stream", self.slow_stream is not None),
            )
            if on
        ]
        if len(terminal) > 1:
            raise ValueError(f"a rule does one of status, reset, truncate, slow_stream: {terminal}")
        if not terminal and self.latency is None:
            raise ValueError("a rule needs a fault: status, latency, reset, truncate, slow_stream")
        if sum(x is not None for x in (self.operation, self.path, self.path_regex)) > 1:
            raise ValueError("match with one of operation, path, path_regex")
        if self.api_key is not None and self.tenant is not None:
            raise ValueError("give api_key or tenant, not both")
        if self.operation is not None:
            operation_pattern(self.operation)
        if (self.retry_after or self.retry_after_ms or self.headers) and self.status is None:
            raise ValueError("retry_after, retry_after_ms and headers go with a status")
        for name, value in self.headers.items():
            if not _HEADER_NAME.fullmatch(name) or not _latin1_line(value):
                raise ValueError(f"header {name!r}: {value!r} cannot be sent as an HTTP header")
        return self

    def bound(self, tenant_of: Callable[[str], str]) -> FaultRule:
        """The rule as installed: its ``api_key`` turned into the tenant it names (under the
        server's secret, which only the server knows), and forgotten."""
        if self.api_key is None:
            return self
        return self.model_copy(update={"tenant": tenant_of(self.api_key), "api_key": None})

    @property
    def terminal(self) -> str | None:
        if self.status is not None:
            return "status"
        if self.reset:
            return "reset"
        if self.truncate is not None:
            return "truncate"
        return "slow_stream" if self.slow_stream is not None else None


def _latin1_line(value: str) -> bool:
    return value.isprintable() and all(ord(c) < 256 for c in value)


def operation_pattern(text: str) -> tuple[str | None, re.Pattern[str]]:
    """``"POST /v1/files/{id}/preprocess"`` → ("POST", a pattern where ``{id}`` is one segment)."""
    method, _, path = text.strip().rpartition(" ")
    if not path.startswith("/"):
        raise ValueError(f"operation {text!r} is not 'METHOD /path' (or '/path')")
    pieces = _PARAM.split(path)
    return (method.upper() or None), re.compile("[^/]+".join(re.escape(p) for p in pieces))


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def status_answer(rule: FaultRule) -> tuple[int, list[tuple[str, str]], dict[str, Any]]:
    """The status, headers and Together error body a status rule answers with. A 429 carries
    the ``x-ratelimit-limit/-remaining/-reset`` headers Together documents for rate limits
    (reset: seconds until the window refills); ``headers`` adds to or overrides any of them."""
    assert rule.status is not None
    status = rule.status
    headers: dict[str, str] = {}
    if rule.retry_after is not None:
        headers["retry-after"] = _seconds(rule.retry_after)
    if rule.retry_after_ms is not None:
        headers["retry-after-ms"] = str(rule.retry_after_ms)
    if status == 429:
        wait = rule.retry_after or (rule.retry_after_ms or 1000) / 1000
        headers |= {
            "x-ratelimit-limit": "60",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(max(1, math.ceil(wait))),
        }
    headers |= {k.lower(): v for k, v in rule.headers.items()}
    headers["x-together-sim-fault"] = rule.id or ""
    message = rule.message or f"{_REASONS[status]} (injected by together-sim fault {rule.id})"
    body = error_body(message, _TYPES.get(status, "server_error"))
    return status, list(headers.items()), body
