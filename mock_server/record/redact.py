"""What a cassette must never hold, and how it is kept out.

Two nets. By name: a header, query parameter or JSON key that names a credential (``authorization``,
``cookie``, ``x-api-key``, ``hf_api_token``, ``wandb_api_key``, ``X-Amz-Signature`` …) keeps its
place in the cassette with the value ``REDACTED``, so a reader sees it was sent. By value: every
secret seen that way is remembered for the session and scrubbed from any text written later
(a response that echoes the key, an SSE chunk, a saved body), so a key that turns up under an
innocent name is caught too. Names are judged by their last word, so ``hf_api_token`` is a secret
and ``token_count`` or ``max_tokens`` are not.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "Redactor", "is_secret_name"]

REDACTED = "REDACTED"

# The last word of a name that holds a credential.
_SECRET_LAST_WORDS = frozenset(
    {
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "passwd",
        "password",
        "secret",
        "signature",
        "sig",
        "token",
    }
)
# ``…_key`` is a secret only after these words: ``api_key``, ``wandb_api_key``, ``private_key``;
# an ``idempotency_key`` or an S3 object ``key`` is not.
_KEY_QUALIFIERS = frozenset({"api", "access", "auth", "private", "secret", "session", "signing"})
_WHOLE_NAMES = frozenset({"apikey", "set-cookie", "x-amz-security-token", "x-goog-credential"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# Shorter strings are not credentials, and scrubbing them would mangle ordinary text.
_MIN_SECRET_LENGTH = 6


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD_SPLIT.split(name) if w]


def is_secret_name(name: str) -> bool:
    """Whether a header, query parameter or JSON key names a credential."""
    lowered = name.lower()
    if lowered in _WHOLE_NAMES:
        return True
    words = _words(name)
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_LAST_WORDS or last == "apikey":
        return True
    return last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS


class Redactor:
    """Redacts by name and scrubs remembered secret values, for one recording session.

    ``learn_*`` methods run on each request before anything of its exchange is written, so a key
    is known before the response that might echo it. Shared between concurrent requests, hence
    the lock.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    @property
    def secrets(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._secrets)

    def learn(self, value: str) -> None:
        secret = value.strip()
        scheme, _, rest = secret.partition(" ")
        if rest and scheme.lower() in ("bearer", "basic", "token"):
            secret = rest.strip()  # ``Bearer KEY``: the key alone is the secret
        if len(secret) >= _MIN_SECRET_LENGTH:
            with self._lock:
                self._secrets.add(secret)

    def learn_headers(self, headers: Iterable[tuple[str, str]]) -> None:
        for name, value in headers:
            if name.lower() in ("cookie", "set-cookie"):
                for pair in value.split(";"):
                    self.learn(pair.partition("=")[2])
            elif is_secret_name(name):
                self.learn(value)

    def learn_json(self, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if is_secret_name(str(key)) and isinstance(item, str | int | float):
                    self.learn(str(item))
                else:
                    self.learn_json(item)
        elif isinstance(value, list):
            for item in value:
                self.learn_json(item)

    def scrub(self, text: str) -> str:
        """``text`` with every remembered secret replaced by ``REDACTED``."""
        for secret in sorted(self.secrets, key=len, reverse=True):  # longest first
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def contains_secret(self, data: bytes) -> bool:
        return any(secret.encode() in data for secret in self.secrets)

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Headers as a cassette holds them: lower-case names, secrets redacted, repeats joined."""
        kept: dict[str, str] = {}
        for name, value in headers:
            name = name.lower()
            if is_secret_name(name):
                scheme, _, rest = value.partition(" ")
                value = f"{scheme} {REDACTED}" if rest and name == "authorization" else REDACTED
            elif name == "location":
                value = self.url(value)
            else:
                value = self.scrub(value)
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
        return kept

    def query(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, REDACTED if is_secret_name(k) else self.scrub(v)) for k, v in pairs]

    def url(self, url: str) -> str:
        """A URL with secret query parameters (presigned signatures, tokens) redacted."""
        parts = urlsplit(url)
        if not parts.query:
            return self.scrub(url)
        query = urlencode(self.query(parse_qsl(parts.query, keep_blank_values=True)), safe="/:")
        return self.scrub(urlunsplit(parts._replace(query=query)))

    def json(self, value: Any) -> Any:
        """A copy of a JSON value with secret keys' values redacted and secrets scrubbed."""
        if isinstance(value, Mapping):
            return {
                key: (
                    REDACTED
                    if is_secret_name(str(key))
                    and isinstance(item, str | int | float)
                    and item != ""
                    else self.json(item)
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, str):
            return self.scrub(value)
        return value
