"""A user's own model whose tokenizer is not ChatML (Llama 3's shape, and no pad token): the
trainer masks with the model's own chat template, trains, and chat renders the same template."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
from tokenizers import models as tk_models
from transformers import PreTrainedTokenizerFast

from mock_server.training import chat, data, models
from mock_server.training.chat_format import TemplateFormat, format_for
from mock_server.training.config import TrainConfig
from mock_server.training.lora import train
from tests.training.rows import chat_rows

pytestmark = pytest.mark.train

SPECIALS = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
    "\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
QUESTION = [{"role": "user", "content": "What is the capital of Peru?"}]


def llama3_like_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    tk = Tokenizer(tk_models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(
        texts,
        trainer=trainers.BpeTrainer(
            vocab_size=600,
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tok = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tk,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        additional_special_tokens=SPECIALS[1:3],
    )
    tok.chat_template = LLAMA3_TEMPLATE
    return tok


@pytest.fixture(scope="module")
def own_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = chat_rows(64)
    tokenizer = llama3_like_tokenizer([m["content"] for r in rows for m in r["messages"]])
    folder = tmp_path_factory.mktemp("own") / "llama3-like"
    models.save_base(models.build_model("micro", tokenizer), tokenizer, folder)
    return folder


def test_the_targets_are_the_assistant_replies_with_their_end_of_turn(own_model: Path) -> None:
    _, tokenizer = models.load_base(own_model)
    assert tokenizer.pad_token == "<|eot_id|>"  # it had none: batches pad with EOS
    assert isinstance(format_for(tokenizer), TemplateFormat)
    row = chat_rows(2)[1]
    (example,) = data.build_examples([row], tokenizer, train_on_inputs=False, max_length=256)
    assert tokenizer.decode(list(example.input_ids)) == tokenizer.apply_chat_template(
        row["messages"], tokenize=False
    )
    trained = [i for i, t in zip(example.input_ids, example.targets, strict=True) if t]
    assert tokenizer.decode(trained) == row["messages"][-1]["content"] + "<|eot_id|>"


def test_it_trains_and_chats_in_its_own_template(own_model: Path, tmp_path: Path) -> None:
    config = TrainConfig(model=str(own_model), learning_rate=3e-3, max_steps=8, packing=False)
    result = train(config, chat_rows(32), out_dir=tmp_path)
    assert mean(result.losses[-2:]) < mean(result.losses[:2]) - 0.2
    assert result.base_dir == own_model

    answer = chat.generate(own_model, result.adapter_dir, QUESTION, max_new_tokens=16)
    _, tokenizer = models.load_base(own_model)
    prompt = tokenizer.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    assert answer.prompt_tokens == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert answer.text != chat.generate(own_model, None, QUESTION, max_new_tokens=16).text
