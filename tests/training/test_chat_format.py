"""Chat formats: which spans of a conversation are loss targets, for ChatML and for a model's own
chat template masked by rendering prefixes. Pure Python: a template here is a Python function,
as ``tokenizer.apply_chat_template(tokenize=False)`` would be."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.training import data
from mock_server.training.chat_format import CHATML, Segment, TemplateFormat, format_for

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Bye!"},
]


def llama3_like(messages: list[dict[str, Any]], generation: bool) -> str:
    """Llama 3's shape: a BOS, a header per turn, <|eot_id|> after each."""
    text = "<|begin_of_text|>" + "".join(
        f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>"
        for m in messages
    )
    return text + ("<|start_header_id|>assistant<|end_header_id|>\n\n" if generation else "")


LLAMA3 = TemplateFormat(llama3_like, eos="<|end_of_text|>", model="llama3-like")


def targets_of(segments: list[Segment]) -> list[str]:
    return [s.text for s in segments if s.target]


def test_a_templates_assistant_replies_are_the_targets_and_their_headers_are_not() -> None:
    segments = LLAMA3.conversation(CONVERSATION, [False, False, True, False, True])
    header = "<|start_header_id|>assistant<|end_header_id|>\n\n"
    assert segments == [
        Segment(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>",
            False,
        ),
        Segment("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", False),
        Segment(header, False),
        Segment("Hello!<|eot_id|>", True),
        Segment("<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>", False),
        Segment(header, False),
        Segment("Bye!<|eot_id|>", True),
    ]
    assert "".join(s.text for s in segments) == llama3_like(CONVERSATION, False)


def test_training_on_inputs_with_a_template_makes_every_turn_a_target() -> None:
    segments = LLAMA3.conversation(CONVERSATION[:3], [True, True, True])
    assert targets_of(segments) == [
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>",
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        "Hello!<|eot_id|>",
    ]


def test_a_templates_prompt_and_reply_join_into_the_whole_conversation() -> None:
    prompt = LLAMA3.prompt(CONVERSATION[:2])
    assert prompt == llama3_like(CONVERSATION[:2], True)
    assert prompt + LLAMA3.reply(CONVERSATION[:2], "Hello!") == llama3_like(CONVERSATION[:3], False)


def test_chatml_renders_what_the_tiny_models_always_trained_on() -> None:
    segments = CHATML.conversation(CONVERSATION[1:3], [False, True])
    assert "".join(s.text for s in segments) == (
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
    )
    assert targets_of(segments) == ["Hello!<|im_end|>"]
    assert data.render_prompt(CONVERSATION[1:2]) == "<|im_start|>user\nHi<|im_end|>\n" + (
        "<|im_start|>assistant\n"
    )


def test_a_template_that_rewrites_earlier_turns_is_refused_rather_than_mismasked() -> None:
    def last_turn_only(messages: list[dict[str, Any]], generation: bool) -> str:
        return "".join(f"[{m['role']}] {m['content']}\n" for m in messages[-1:])

    bad = TemplateFormat(last_turn_only, eos="</s>", model="acme/odd")
    with pytest.raises(ValueError, match="acme/odd does not render conversations incrementally"):
        bad.conversation(CONVERSATION[:3], [False, False, True])


def test_a_base_without_template_trains_text_rows_but_refuses_conversations() -> None:
    plain = TemplateFormat(None, eos="</s>", model="acme/plain")
    assert data.render({"text": "Once upon a time"}, train_on_inputs=True, chat=plain) == [
        Segment("Once upon a time</s>", True)
    ]
    with pytest.raises(ValueError, match="acme/plain has no chat template and no ChatML tokens"):
        data.render({"messages": CONVERSATION[1:3]}, train_on_inputs=False, chat=plain)


class _Tokenizer:
    def __init__(self, vocab: list[str], template: str | None) -> None:
        self.vocab, self.chat_template = vocab, template
        self.eos_token, self.name_or_path = "</s>", "acme/tok"

    def get_vocab(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.vocab)}

    def apply_chat_template(self, messages: Any, **kwargs: Any) -> str:
        return llama3_like(messages, kwargs["add_generation_prompt"])


def test_a_chatml_vocabulary_picks_chatml_and_any_other_the_models_template() -> None:
    assert format_for(_Tokenizer(["<|im_start|>", "<|im_end|>", "a"], "...")) is CHATML
    own = format_for(_Tokenizer(["<s>", "</s>", "a"], "{{ messages }}"))
    assert isinstance(own, TemplateFormat) and own.eos == "</s>"
    assert own.prompt(CONVERSATION[1:2]) == llama3_like(CONVERSATION[1:2], True)
