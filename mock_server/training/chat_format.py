"""How a conversation becomes training text, and which spans of it are loss targets.

Pure Python (no torch). Two formats, one interface (:class:`ChatFormat`):

* :data:`CHATML` (``<|im_start|>{role}\\n{content}<|im_end|>\\n``) for every tokenizer whose vocab
  has ``<|im_start|>`` and ``<|im_end|>``: the tiny stand-ins, SmolLM2, Qwen and other ChatML
  models. Its spans are exactly what the ``{% generation %}`` markers of ``models.CHATML_TEMPLATE``
  cover, and that template is given to such tokenizers, so inference sees the text training saw.
* :class:`TemplateFormat` for any other model that ships a chat template (Llama 3, Gemma, …). A
  template is a black box, so the spans come from rendering prefixes (lora-and-semantics §2.4):
  message ``k`` is what ``messages[:k+1]`` adds to ``messages[:k]``, and an assistant message is
  split where the generation prompt of ``messages[:k]`` ends, so its header is never a target. A
  template that does not render conversations incrementally (each rendering a prefix of the next)
  cannot be masked this way and is refused with a message saying so, rather than trained on
  wrong targets.

A tokenizer with neither gets a format that refuses conversations but still trains on ``text`` and
``prompt``/``completion`` rows, which need no template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = [
    "CHATML",
    "EOS",
    "IM_START",
    "PAD",
    "ChatFormat",
    "ChatML",
    "Segment",
    "TemplateFormat",
    "format_for",
]

PAD: Final = "<|pad|>"
IM_START: Final = "<|im_start|>"
EOS: Final = "<|im_end|>"

Message = Mapping[str, Any]  # {"role", "content"} with text content


@dataclass(frozen=True)
class Segment:
    text: str
    target: bool


class ChatFormat(Protocol):
    @property
    def eos(self) -> str:
        """Appended to ``text`` rows and completions: what ends a sample."""
        ...

    def conversation(self, messages: Sequence[Message], targets: Sequence[bool]) -> list[Segment]:
        """The text of ``messages``; an assistant message's reply is a target when asked, its
        header never."""
        ...

    def prompt(self, messages: Sequence[Message]) -> str:
        """The text that asks for the next assistant turn (``add_generation_prompt``)."""
        ...

    def reply(self, messages: Sequence[Message], content: str) -> str:
        """What follows :meth:`prompt` when the assistant answers ``content``, end marker
        included."""
        ...


@dataclass(frozen=True)
class ChatML:
    eos: str = EOS

    def conversation(self, messages: Sequence[Message], targets: Sequence[bool]) -> list[Segment]:
        return [
            segment
            for message, target in zip(messages, targets, strict=True)
            for segment in (
                Segment(f"{IM_START}{message['role']}\n", False),
                Segment(message["content"] + EOS, target),
                Segment("\n", False),
            )
        ]

    def prompt(self, messages: Sequence[Message]) -> str:
        text = "".join(s.text for s in self.conversation(messages, [False] * len(messages)))
        return f"{text}{IM_START}assistant\n"

    def reply(self, messages: Sequence[Message], content: str) -> str:
        return content + EOS


CHATML: Final = ChatML()

# (messages, add_generation_prompt) -> text, as tokenizer.apply_chat_template(tokenize=False)
Render = Callable[[list[dict[str, Any]], bool], str]


@dataclass(frozen=True)
class TemplateFormat:
    render: Render | None  # None: the tokenizer has no chat template
    eos: str
    model: str = "the base model"  # for messages

    def _text(self, messages: Sequence[Message], generation: bool) -> str:
        if self.render is None:
            raise ValueError(
                f"{self.model} has no chat template and no ChatML tokens (<|im_start|>, "
                "<|im_end|>), so conversations cannot be rendered for it: use text or "
                "prompt/completion rows, or a base with a chat template"
            )
        if not messages and not generation:
            return ""
        try:
            return self.render([dict(m) for m in messages], generation)
        except Exception as exc:  # a template's own raise_exception(), or a Jinja error
            raise ValueError(f"the chat template of {self.model} failed: {exc}") from exc

    def _after(self, before: str, text: str) -> str:
        if not text.startswith(before):
            raise ValueError(
                f"the chat template of {self.model} does not render conversations "
                "incrementally (a shorter conversation's text is not a prefix of a longer "
                "one's), so the assistant turns cannot be masked: use a base with a ChatML "
                "vocabulary, or text or prompt/completion rows"
            )
        return text[len(before) :]

    def conversation(self, messages: Sequence[Message], targets: Sequence[bool]) -> list[Segment]:
        segments, before = [], ""
        for k, (message, target) in enumerate(zip(messages, targets, strict=True)):
            text = self._text(messages[: k + 1], False)
            if message["role"] == "assistant":
                header = self._text(messages[:k], True)
                segments.append(Segment(self._after(before, header), False))
                segments.append(Segment(self._after(header, text), target))
            else:
                segments.append(Segment(self._after(before, text), target))
            before = text
        return segments

    def prompt(self, messages: Sequence[Message]) -> str:
        return self._text(messages, True)

    def reply(self, messages: Sequence[Message], content: str) -> str:
        full = [*messages, {"role": "assistant", "content": content}]
        return self._after(self._text(messages, True), self._text(full, False))


def format_for(tokenizer: Any) -> ChatFormat:
    """ChatML when the vocab has its tokens (or the tokenizer cannot say), else the tokenizer's
    own chat template."""
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else None
    if vocab is None or (IM_START in vocab and EOS in vocab):
        return CHATML
    template = getattr(tokenizer, "chat_template", None)
    name = str(getattr(tokenizer, "name_or_path", "") or "the base model")

    def render(messages: list[dict[str, Any]], generation: bool) -> str:
        return str(
            tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation
            )
        )

    eos = getattr(tokenizer, "eos_token", None)
    if not eos:
        raise ValueError(f"{name} has no end-of-sequence token and no ChatML tokens")
    return TemplateFormat(render if template else None, str(eos), name)
