"""Rows to tokens and loss masks: Together's ``train_on_inputs`` and ``weight`` rules, position by
position, plus packing and the batch order."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from mock_server.training import data, models
from tests.training.rows import chat_rows, preference_rows

pytestmark = pytest.mark.train

CONVERSATION: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "Be terse"},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Yo"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Ciao"},
    ]
}
# With a tokenizer trained on the example every word is one token, so positions can be written out:
#  0 <|im_start|>  1 system     2 \n  3 Be  4 ' terse'  5 <|im_end|>  6 \n
#  7 <|im_start|>  8 user       9 \n 10 Hi 11 <|im_end|> 12 \n
# 13 <|im_start|> 14 assistant 15 \n 16 Yo 17 <|im_end|> 18 \n
# 19 <|im_start|> 20 user      21 \n 22 Bye 23 <|im_end|> 24 \n
# 25 <|im_start|> 26 assistant 27 \n 28 Ciao 29 <|im_end|> 30 \n
SYSTEM, USER1, ASSISTANT1, USER2, ASSISTANT2 = [3, 4, 5], [10, 11], [16, 17], [22, 23], [28, 29]


def weighted(*weights: int | None) -> dict[str, Any]:
    messages = [
        dict(m) if w is None else {**m, "weight": w}
        for m, w in zip(CONVERSATION["messages"], weights, strict=True)
    ]
    return {"messages": messages}


@pytest.fixture(scope="module")
def tok() -> Any:
    return models.train_tokenizer(data.text_corpus([CONVERSATION]))


def targets(tok: Any, rows: list[dict[str, Any]], setting: data.TrainOnInputs) -> list[int]:
    """Target positions of the first row; the other rows only take part in resolving "auto"."""
    examples = data.build_examples(rows, tok, train_on_inputs=setting, max_length=512)
    return [i for i, t in enumerate(examples[0].targets) if t]


def test_each_word_of_the_crafted_conversation_is_one_token(tok: Any) -> None:
    ids = tok(data.render_prompt(CONVERSATION["messages"]), add_special_tokens=False)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    assert pieces[13:19] == ["<|im_start|>", "assistant", "\n", "Yo", "<|im_end|>", "\n"]
    assert len(ids) == 31 + 3  # the conversation plus the generation prompt


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (False, ASSISTANT1 + ASSISTANT2),
        ("auto", ASSISTANT1 + ASSISTANT2),
        (True, SYSTEM + USER1 + ASSISTANT1 + USER2 + ASSISTANT2),
    ],
)
def test_train_on_inputs_picks_the_target_messages(
    tok: Any, setting: data.TrainOnInputs, expected: list[int]
) -> None:
    assert targets(tok, [CONVERSATION], setting) == expected


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        # auto becomes true: unweighted messages (the system and the second user turn) are targets
        ("auto", SYSTEM + ASSISTANT1 + USER2),
        (True, SYSTEM + ASSISTANT1 + USER2),
        # explicit false trains on assistant messages only, and weight 0 still masks one
        (False, ASSISTANT1),
    ],
)
def test_weights_mask_their_messages_and_make_auto_true(
    tok: Any, setting: data.TrainOnInputs, expected: list[int]
) -> None:
    assert targets(tok, [weighted(None, 0, 1, None, 0)], setting) == expected


def test_a_weight_anywhere_in_the_dataset_makes_auto_true_for_every_row(tok: Any) -> None:
    rows = [CONVERSATION, weighted(None, None, 1, None, None)]
    assert targets(tok, rows, "auto") == SYSTEM + USER1 + ASSISTANT1 + USER2 + ASSISTANT2


def test_targets_equal_the_chat_templates_generation_mask(tok: Any) -> None:
    example = data.tokenize(data.render(CONVERSATION, train_on_inputs=False), tok, 512)
    hf = tok.apply_chat_template(
        CONVERSATION["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert list(example.input_ids) == list(hf["input_ids"])
    assert list(example.targets) == [bool(m) for m in hf["assistant_masks"]]


def test_instruction_prompts_are_masked_unless_train_on_inputs(tok: Any) -> None:
    row = {"prompt": "Hi", "completion": "Yo"}
    settings: tuple[data.TrainOnInputs, ...] = ("auto", True)
    for setting in settings:
        (example,) = data.build_examples([row], tok, train_on_inputs=setting, max_length=64)
        text = tok.decode([i for i, t in zip(example.input_ids, example.targets, strict=True) if t])
        assert text == "Yo<|im_end|>"  # "Hi" is the first token, which nothing can predict
    (example,) = data.build_examples([row], tok, train_on_inputs=False, max_length=64)
    assert example.targets == (False, True, True)


def test_text_rows_train_on_every_token_but_the_first(tok: Any) -> None:
    (example,) = data.build_examples([{"text": "Hi Yo Bye"}], tok, max_length=64)
    assert example.targets == (False,) + (True,) * (len(example.targets) - 1)
    assert tok.decode(list(example.input_ids)) == "Hi Yo Bye<|im_end|>"


def test_examples_are_truncated_and_fully_masked_ones_dropped(tok: Any) -> None:
    (example,) = data.build_examples([CONVERSATION], tok, train_on_inputs=True, max_length=12)
    assert len(example.input_ids) == 12
    assert data.build_examples([CONVERSATION], tok, train_on_inputs=False, max_length=12) == []


def test_packing_fills_rows_in_order_and_restarts_positions() -> None:
    rows = chat_rows(40)
    tok = models.train_tokenizer(data.text_corpus(rows))
    examples = data.build_examples(rows, tok, max_length=64)
    packed = data.pack(examples, 64)
    assert all(len(r.input_ids) <= 64 for r in packed)
    assert len(packed) < len(examples)
    assert [i for r in packed for i in r.input_ids] == [i for e in examples for i in e.input_ids]
    starts = [p for r in packed for p in r.position_ids].count(0)
    assert starts == len(examples)
    joined = sum((r.targets for r in packed), ())
    assert joined == sum((e.targets for e in examples), ())


def test_batch_order_is_a_per_epoch_permutation_fixed_by_the_seed() -> None:
    first = [data.batch_indices(10, 4, seed=7, step=s) for s in range(3)]
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(i for b in first for i in b) == list(range(10))
    assert first == [data.batch_indices(10, 4, seed=7, step=s) for s in range(3)]
    assert data.batch_indices(10, 4, seed=7, step=3) != first[0]  # epoch 2 is reshuffled
    assert data.batch_indices(10, 4, seed=8, step=0) != first[0]


def test_preference_pairs_keep_the_prompt_end_when_truncated() -> None:
    rows = preference_rows(3)
    tok = models.train_tokenizer(data.text_corpus(rows))
    full = data.build_preference_examples(rows, tok, max_length=128)
    short = data.build_preference_examples(rows, tok, max_length=10)
    for f, s in zip(full, short, strict=True):
        assert s.chosen_ids == f.chosen_ids[:5] and s.rejected_ids == f.rejected_ids[:5]
        assert s.prompt_ids == f.prompt_ids[-5:]
        assert str(tok.decode(list(f.chosen_ids))).endswith(".<|im_end|>")
