"""How an example becomes tokens and labels: the contents' tokens are the ones the file check
counts, the template's special tokens surround them, and ``train_on_inputs``, weights and the
format decide what is trained."""

from __future__ import annotations

import json

from mock_server.core.tokens import count_tokens
from mock_server.files.checks.jsonl import JsonlLineChecker
from mock_server.files.checks.rules import DatasetFormat
from mock_server.fine_tuning.preview import (
    IGNORED,
    examples,
    preference_rows,
    row,
    tokens_of,
)

CONVERSATION = {
    "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What is AI?"},
        {"role": "assistant", "content": "AI is artificial intelligence."},
    ]
}


def _trained_text(example: dict[str, object], fmt: DatasetFormat, inputs: bool) -> str:
    return "".join(t.text for t in tokens_of(example, fmt, inputs) if t.trained)


def test_the_contents_tokens_are_the_ones_the_file_check_counts() -> None:
    line = json.dumps(CONVERSATION)
    counted = JsonlLineChecker().check(line, 1).token_count
    preview = row(tokens_of(CONVERSATION, DatasetFormat.CONVERSATION, False), 10_000)
    assert (
        preview.content_tokens
        == counted
        == sum(count_tokens(m["content"]) for m in CONVERSATION["messages"])
    )
    answer = "".join(t.text for t in preview.tokens if t.content and t.trained)
    assert answer == "AI is artificial intelligence."  # the pieces read back as the text


def test_only_the_assistants_answer_and_its_end_are_trained_by_default() -> None:
    trained = _trained_text(CONVERSATION, DatasetFormat.CONVERSATION, False)
    assert trained == "AI is artificial intelligence.<|eot_id|>"
    everything = tokens_of(CONVERSATION, DatasetFormat.CONVERSATION, True)
    assert [t.trained for t in everything] == [False] + [True] * (len(everything) - 1)


def test_a_zero_weight_answer_is_not_trained() -> None:
    example = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Bad answer", "weight": 0},
            {"role": "user", "content": "Again"},
            {"role": "assistant", "content": "Good answer", "weight": 1},
        ]
    }
    trained = _trained_text(example, DatasetFormat.CONVERSATION, False)
    assert trained == "Good answer<|eot_id|>"


def test_instruction_prompts_are_masked_and_plain_text_is_trained_whole() -> None:
    instruction = {"prompt": "Translate: cat", "completion": " chat"}
    assert _trained_text(instruction, DatasetFormat.INSTRUCTION, False) == " chat<|end_of_text|>"
    assert _trained_text(instruction, DatasetFormat.INSTRUCTION, True) == (
        "Translate: cat chat<|end_of_text|>"
    )
    text = {"text": "Once upon a time"}
    assert _trained_text(text, DatasetFormat.GENERAL, False) == "Once upon a time<|end_of_text|>"


def test_a_row_is_cut_to_the_maximum_length_with_its_labels_and_spans() -> None:
    full = row(tokens_of(CONVERSATION, DatasetFormat.CONVERSATION, False), 10_000).to_json()
    cut = row(tokens_of(CONVERSATION, DatasetFormat.CONVERSATION, False), 8).to_json()
    assert (full["truncated"], cut["truncated"], cut["num_tokens"]) == (False, True, 8)
    assert cut["input_ids"] == full["input_ids"][:8]
    labels = full["labels"]
    [[start, end]] = full["trained_spans"]
    assert all(label == IGNORED for label in labels[:start])
    assert labels[start:end] == full["input_ids"][start:end]
    assert full["num_trained_tokens"] == end - start == len(full["input_ids"]) - start


def test_examples_carry_their_line_and_format_and_stop_at_the_limit() -> None:
    lines = [json.dumps({"text": f"line {i}"}) + "\n" for i in range(5)]
    assert [(n, e["text"]) for n, e, _ in examples(lines, 2)] == [(1, "line 0"), (2, "line 1")]
    loose = ["\n", json.dumps({"question": "?"}) + "\n", json.dumps(CONVERSATION) + "\n"]
    assert [(n, fmt) for n, _, fmt in examples(loose)] == [
        (2, None),
        (3, DatasetFormat.CONVERSATION),
    ]


def test_a_line_newer_rules_let_through_is_tokenized_as_it_is() -> None:
    # SDK 3.1.1's check_file passes a `human` role, no assistant turn, a content of no string.
    example = {"messages": [{"role": "human", "content": {"text": "hi"}}, "stray"]}
    tokens = tokens_of(example, DatasetFormat.CONVERSATION, False)
    assert [t.text for t in tokens][2] == "human"
    assert not any(t.trained for t in tokens)


def test_a_preference_example_gives_a_chosen_and_a_rejected_sequence() -> None:
    example = {
        "input": {"messages": [{"role": "user", "content": "Explain AI"}]},
        "preferred_output": [{"role": "assistant", "content": "AI is a broad field"}],
        "non_preferred_output": [{"role": "assistant", "content": "No"}],
    }
    rows = preference_rows(example, 10_000)
    assert set(rows) == {
        "chosen_input_ids",
        "chosen_labels",
        "rejected_input_ids",
        "rejected_labels",
    }
    trained = [label for label in rows["rejected_labels"] if label != IGNORED]
    assert len(trained) == 2  # "No" and its <|eot_id|>
