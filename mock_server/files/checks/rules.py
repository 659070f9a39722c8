"""The rules of each JSONL dataset format, as the Together SDK applies them.

``jsonl.py`` parses a line, detects its format and hands it here: conversations (M1…M24), the
contents of general and instruction lines (T1) and preference pairs (P1…P10). The rules, their
order and their message texts follow ``check_file`` in together 1.5.35
(``together/utils/files.py``), because users see those texts from the SDK before they ever reach
a server, and the simulator must not accept or reject a file differently. Under SDK 3.1.1's
rules (``check.py``'s default), which leave these to the server, they only measure a line: what
they raise is caught (``jsonl.JsonlLineChecker``, ``lenient``). The rows of the table in
``lora-and-semantics.md`` §6.7 are named in comments.

Each rule raises :class:`RuleViolation` with the SDK's message, the 1-based line number and the
SDK's ``error_source`` (the report key that the SDK turns False). Alongside, the checks measure
what the server needs later: a token count and whether any message carries a loss ``weight``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mock_server.core.tokens import count_tokens

__all__ = [
    "REQUIRED_COLUMNS",
    "Content",
    "DatasetFormat",
    "RuleViolation",
    "check_content",
    "check_messages",
    "check_preference",
]


class DatasetFormat(StrEnum):
    """A JSONL dataset format.

    Values are the simulator's own names. The SDK calls the preference format
    ``preference_openai`` and prints enum reprs in its messages (``DatasetFormat.CONVERSATION``),
    which :attr:`sdk_repr` reproduces.
    """

    GENERAL = "general"
    CONVERSATION = "conversation"
    INSTRUCTION = "instruction"
    PREFERENCE = "preference"

    @property
    def sdk_repr(self) -> str:
        name = "PREFERENCE_OPENAI" if self is DatasetFormat.PREFERENCE else self.name
        return f"DatasetFormat.{name}"


# Detection order matters: a line's format is the first one whose columns are all present.
REQUIRED_COLUMNS: dict[DatasetFormat, tuple[str, ...]] = {
    DatasetFormat.GENERAL: ("text",),
    DatasetFormat.CONVERSATION: ("messages",),
    DatasetFormat.INSTRUCTION: ("prompt", "completion"),
    DatasetFormat.PREFERENCE: ("input", "preferred_output", "non_preferred_output"),
}
ROLES = ("system", "user", "assistant")
MAX_IMAGES_PER_EXAMPLE = 10
# The SDK's bound: the data-URL header plus the base64 length of a 10 MiB image.
MAX_BASE64_IMAGE_LENGTH = len("data:image/jpeg;base64,") + 4 * (10 * 1024 * 1024) // 3
IMAGE_PREFIXES = tuple(f"data:image/{fmt};base64," for fmt in ("jpeg", "png", "webp"))
MALFORMED = "The dataset is malformed, "


class RuleViolation(Exception):
    """A line broke a rule. ``source`` is the SDK's ``error_source``.

    ``None`` is a real value: the SDK raises the image-URL format error (M17) without one, so its
    report leaves ``key_value`` True. ``"load_json"`` marks unparsable JSON (J1), for which the
    SDK's report carries no ``line_number``.
    """

    def __init__(self, message: str, line_number: int, source: str | None = "key_value") -> None:
        super().__init__(message)
        self.message = message
        self.line_number = line_number
        self.source = source


@dataclass
class Content:
    """What a content (a string, or a list of parts) holds, for the conversation-wide rules."""

    multimodal: bool
    images: int
    tokens: int


def check_messages(messages: object, n: int, *, require_assistant: bool) -> tuple[int, bool]:
    """Rules M1–M24 for a conversation; returns (token count, any weight present)."""
    where = f"Invalid format on line {n} of the input file. "
    if not isinstance(messages, list):  # M1
        raise RuleViolation(
            f"{where}The `messages` column must be a list. Found {type(messages)}", n
        )
    if not messages:  # M2
        raise RuleViolation(f"{where}The `messages` column must not be empty.", n)
    # The SDK checks the shape of every message (M3, M4) before any role, weight or content.
    for message in messages:
        if not isinstance(message, dict):
            raise RuleViolation(
                f"{where}The `messages` column must be a list of dicts. Found {type(message)}", n
            )
        for column in ("role", "content"):
            if column not in message:
                raise RuleViolation(
                    f"Missing required column `{column}` in message on line {n}.", n
                )

    previous_role: str | None = None
    has_assistant = False
    multimodal: bool | None = None
    total_images = 0
    tokens = 0
    has_weights = False
    for message in messages:
        weight = _check_weight(message, n)
        has_weights |= weight is not None
        previous_role = _check_role(message["role"], previous_role, n)
        has_assistant |= previous_role == "assistant"
        content = check_content(message["content"], previous_role, n)
        # M21: `weight != 0` lets True through as 1, like the SDK.
        if content.images > 0 and weight is not None and weight != 0:
            raise RuleViolation("Messages with images cannot have non-zero weights.", n)
        if multimodal is None:
            multimodal = content.multimodal
        elif multimodal != content.multimodal:  # M22
            raise RuleViolation(
                "Messages in the conversation must be either all in multimodal or all in "
                "text-only format.",
                n,
            )
        total_images += content.images
        tokens += content.tokens

    if total_images > MAX_IMAGES_PER_EXAMPLE:  # M23
        raise RuleViolation(
            f"{MALFORMED}the `messages` must contain at most {MAX_IMAGES_PER_EXAMPLE} images. "
            f"Found {total_images} images.",
            n,
        )
    if require_assistant and not has_assistant:  # M24
        raise RuleViolation(
            f"{where}At least one message with the assistant role must be present in the example.",
            n,
        )
    return tokens, has_weights


def _check_weight(message: dict[str, Any], n: int) -> int | None:
    if "weight" not in message:
        return None
    weight = message["weight"]
    # M5: bool is an int subclass, so `true` passes (and counts as 1), as in the SDK.
    if not isinstance(weight, int):
        raise RuleViolation(f"Weight must be an integer on line {n}.", n)
    if weight not in (0, 1):  # M6
        raise RuleViolation(f"Weight must be either 0 or 1 on line {n}.", n)
    return weight


def _check_role(role: object, previous_role: str | None, n: int) -> str:
    if not isinstance(role, str):  # M7
        raise RuleViolation(
            f"Invalid role `{role}` in conversation on line {n}. "
            f"Role must be a string. Found {type(role)}",
            n,
        )
    if role not in ROLES:  # M8
        raise RuleViolation(
            f"Invalid role `{role}` in conversation on line {n}. "
            f"Possible roles: {', '.join(ROLES)}",
            n,
        )
    # M9 is the SDK's only ordering rule: assistant-first or system-then-assistant pass.
    if previous_role is not None and role == previous_role:
        raise RuleViolation(
            f"Invalid role turns on line {n} of the input file. After the optional system "
            "message, conversation roles must alternate between user/assistant/user/assistant.",
            n,
        )
    return role


def check_content(content: object, role: str, n: int) -> Content:
    """Rules M10–M20 and T1: a content is a string or a list of text/image parts."""
    if isinstance(content, str):
        return Content(False, 0, count_tokens(content))
    if not isinstance(content, list):  # M10 / T1
        raise RuleViolation(
            f"Invalid content type on line {n} of the input file. Expected string or multimodal "
            f"list of dicts, found {type(content)}",
            n,
        )
    images = 0
    tokens = 0
    for item in content:
        if not isinstance(item, dict):  # M11
            raise RuleViolation(f"{MALFORMED}the `content` field must be a list of dicts.", n)
        if "type" not in item:  # M12
            raise RuleViolation(
                f"{MALFORMED}the `content` field must be a list of dicts with a `type` field.", n
            )
        if item["type"] == "text":
            text = item.get("text")
            if not isinstance(text, str):  # M13 (the quotes around the repr are the SDK's)
                raise RuleViolation(
                    f"{MALFORMED}the `text` field must be present in the `content` item field "
                    f"and be a string. Got '{text!r}' instead.",
                    n,
                )
            tokens += count_tokens(text)
        elif item["type"] == "image_url":
            _check_image(item, role, n)
            images += 1
        else:  # M19
            raise RuleViolation(
                f"{MALFORMED}the `type` field must be either 'text' or 'image_url'. "
                f"Got {item['type']!r}.",
                n,
            )
    if images > MAX_IMAGES_PER_EXAMPLE:  # M20
        raise RuleViolation(
            f"{MALFORMED}the `content` field must contain at most {MAX_IMAGES_PER_EXAMPLE} "
            f"images, found {images}.",
            n,
        )
    # A list counts as multimodal even without images, so text-only parts cannot be mixed with
    # plain strings in one conversation (M22).
    return Content(True, images, tokens)


def _check_image(item: dict[str, Any], role: str, n: int) -> None:
    if role != "user":  # M14
        raise RuleViolation(f"{MALFORMED}only user messages can contain images.", n)
    image_url = item.get("image_url")
    if not isinstance(image_url, dict):  # M15
        raise RuleViolation(
            f"{MALFORMED}the `image_url` field must be present in the `content` field and be a "
            f"dictionary. Got {image_url!r} instead.",
            n,
        )
    url = image_url.get("url")
    if not url or not isinstance(url, str):  # M16
        raise RuleViolation(
            f"{MALFORMED}the `url` field must be present in the `image_url` field and be a "
            f"string. Got {url!r} instead.",
            n,
        )
    if not url.startswith(IMAGE_PREFIXES):  # M17: the SDK gives it no error_source.
        raise RuleViolation(
            f"{MALFORMED}the `url` field must be either a JPEG, PNG or WEBP base64-encoded image "
            "in 'data:image/<format>;base64,<base64_encoded_image>' format. "
            f"Got '{url[:100]}...' instead.",
            n,
            None,
        )
    if len(url) > MAX_BASE64_IMAGE_LENGTH:  # M18
        raise RuleViolation(
            f"{MALFORMED}the `url` field must contain base64-encoded image that is less than "
            f"10MB, found ~{len(url) * 3 // 4} bytes.",
            n,
        )


def check_preference(obj: dict[str, Any], n: int) -> tuple[int, bool]:
    """Rules P1–P10 for ``preference_openai`` lines; returns (token count, any weight)."""
    prompt = obj["input"]
    if not isinstance(prompt, dict):  # P1
        raise RuleViolation(f"{MALFORMED}the `input` field must be a dictionary.", n)
    if "messages" not in prompt:  # P2
        raise RuleViolation(
            f"{MALFORMED}the `input` dictionary must contain a `messages` field.", n
        )
    # P3: the conversation rules, without requiring an assistant turn.
    tokens, has_weights = check_messages(prompt["messages"], n, require_assistant=False)
    if prompt["messages"][-1]["role"] == "assistant":  # P4
        raise RuleViolation(
            f"The last message in the input conversation must not be from the assistant on "
            f"line {n}.",
            n,
        )
    for key in ("preferred_output", "non_preferred_output"):
        first = f"{MALFORMED}the first element of `{key}`"
        if key not in obj:  # P5 (unreachable: format detection needs both keys)
            raise RuleViolation(
                f"{MALFORMED}the `{key}` field must be present in the input dictionary on "
                f"line {n}.",
                n,
            )
        output = obj[key]
        if not isinstance(output, list):  # P6
            raise RuleViolation(f"{MALFORMED}the `{key}` field must be a list on line {n}.", n)
        if len(output) != 1:  # P7
            raise RuleViolation(
                f"{MALFORMED}the `{key}` list must contain exactly one message on line {n}.", n
            )
        message = output[0]
        if not isinstance(message, dict):  # P8
            raise RuleViolation(f"{first} must be a dictionary on line {n}.", n)
        if "role" not in message:  # P9
            raise RuleViolation(f"{first} must have a 'role' field on line {n}.", n)
        if message["role"] != "assistant":
            raise RuleViolation(f"{first} must have the 'assistant' role on line {n}.", n)
        if "content" not in message:
            raise RuleViolation(f"{first} must have a 'content' field on line {n}.", n)
        tokens += check_content(message["content"], "assistant", n).tokens  # P10
    return tokens, has_weights
