"""Synthetic completions: deterministic, honestly counted, cut by max_tokens and stop."""

from __future__ import annotations

import pytest

from mock_server.core.tokens import count_tokens
from mock_server.inference.models import complete, prompt_text

HELLO = prompt_text([{"role": "user", "content": "Hello"}])
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def test_the_prompt_is_rendered_as_chatml() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]
    assert prompt_text(messages) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHello<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_content_parts_contribute_their_text_only() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image_url", "image_url": {"url": "data:,"}},
                {"type": "text", "text": "this"},
            ],
        }
    ]
    assert prompt_text(messages) == (
        "<|im_start|>user\nDescribe  this<|im_end|>\n<|im_start|>assistant\n"
    )


def test_the_same_model_prompt_and_seed_give_the_same_answer() -> None:
    first = complete(MODEL, HELLO, max_tokens=None, seed=1)
    assert complete(MODEL, HELLO, max_tokens=None, seed=1) == first
    assert complete(MODEL, HELLO, max_tokens=None, seed=2).text != first.text
    assert complete("sim-user/tuned-abc", HELLO, max_tokens=None, seed=1).text != first.text


def test_usage_counts_the_prompt_and_the_answer_with_the_simulator_tokenizer() -> None:
    result = complete(MODEL, HELLO, max_tokens=None, seed=None)
    assert result.prompt_tokens == count_tokens(HELLO) == 29
    assert result.completion_tokens == count_tokens(result.text)
    assert 12 <= result.completion_tokens <= 48
    assert result.finish_reason == "stop"
    assert result.text.endswith(".")
    assert result.text[0].isupper()


@pytest.mark.parametrize("max_tokens", [2, 5, 11])
def test_max_tokens_caps_the_answer_and_reports_length(max_tokens: int) -> None:
    result = complete(MODEL, HELLO, max_tokens=max_tokens, seed=None)
    assert result.completion_tokens <= max_tokens
    assert result.finish_reason == "length"


@pytest.mark.parametrize("seed", range(20))
def test_a_budget_of_one_token_answers_one_token_cut_mid_sentence(seed: int) -> None:
    result = complete(MODEL, HELLO, max_tokens=1, seed=seed)
    full = complete(MODEL, HELLO, max_tokens=None, seed=seed).text
    assert (result.completion_tokens, count_tokens(result.text)) == (1, 1)
    assert full.startswith(result.text)  # the first token of the answer it would have given
    assert result.finish_reason == "length"


def test_a_budget_of_zero_tokens_answers_nothing() -> None:
    result = complete(MODEL, HELLO, max_tokens=0, seed=None)
    assert (result.text, result.completion_tokens, result.finish_reason) == ("", 0, "length")


def test_a_large_budget_is_not_a_length_stop() -> None:
    assert complete(MODEL, HELLO, max_tokens=4096, seed=None).finish_reason == "stop"


def test_a_stop_sequence_cuts_the_answer_before_it() -> None:
    full = complete(MODEL, HELLO, max_tokens=None, seed=None).text
    marker = full.split()[2]
    cut = complete(MODEL, HELLO, max_tokens=None, seed=None, stop=[marker])
    assert cut.text == full[: full.index(marker)]
    assert cut.completion_tokens == count_tokens(cut.text)


def test_an_empty_stop_sequence_is_ignored() -> None:
    full = complete(MODEL, HELLO, max_tokens=None, seed=None)
    assert complete(MODEL, HELLO, max_tokens=None, seed=None, stop=[""]) == full


def test_chunks_concatenate_back_to_the_text() -> None:
    result = complete(MODEL, HELLO, max_tokens=None, seed=3)
    pieces = list(result.chunks())
    assert "".join(pieces) == result.text
    assert len(pieces) == result.completion_tokens


def test_every_word_cut_to_a_small_budget_stays_within_it() -> None:
    """What the answer's budget check in ``complete`` asserts: a word's first tokens, joined,
    re-tokenize to no more than the budget, for every word of the vocabulary."""
    from mock_server.core.tokens import split_tokens
    from mock_server.inference.models import _WORDS

    for word in _WORDS:
        for limit in range(1, 4):
            cut = "".join(split_tokens(word[:1].upper() + word[1:])[:limit])
            assert count_tokens(cut) <= limit, (word, limit)
    for seed in range(200):
        for budget in (1, 2, 3):
            assert complete(MODEL, HELLO, max_tokens=budget, seed=seed).completion_tokens <= budget
