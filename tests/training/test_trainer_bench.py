"""The trainer bench (``python -m bench trainer``) times equal work: TRL's SFTTrainer, set up as
``bench/trl_runner.py`` sets it up, gets exactly our batches, token for token and target for
target, so a ratio of tokens per second is a ratio of speed. No timing here."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")  # the [bench] extra

from bench.trainer_runs import Job
from bench.trl_runner import trl_trainer
from mock_server.training import data, models
from tests.training.rows import chat_rows

pytestmark = pytest.mark.train


def test_trl_trains_on_our_batches_token_for_token(tmp_path: Path) -> None:
    rows = chat_rows(32)
    tokenizer = models.train_tokenizer(data.text_corpus(rows))
    models.save_base(models.build_model("micro", tokenizer), tokenizer, tmp_path / "base")
    job = Job(
        base_dir=str(tmp_path / "base"),
        train_path="",
        eval_path="",
        out_dir=str(tmp_path / "trl"),
        steps=6,  # 6 batches of 8 from 32 rows: the second epoch is shuffled anew
        batch_size=8,
        max_length=128,
        seed=3,
    )
    examples = data.unpacked(
        data.build_examples(rows, tokenizer, train_on_inputs=False, max_length=job.max_length)
    )
    ours = [
        [examples[i] for i in data.batch_indices(len(examples), job.batch_size, job.seed, step)]
        for step in range(job.steps)
    ]

    theirs = list(trl_trainer(job, rows).get_train_dataloader())

    assert len(theirs) == len(ours)
    for our_batch, batch in zip(ours, theirs, strict=True):
        lengths = batch["attention_mask"].sum(1).tolist()
        assert lengths == [len(r.input_ids) for r in our_batch]
        for row, ids, labels, n in zip(
            our_batch, batch["input_ids"], batch["labels"], lengths, strict=True
        ):
            assert tuple(ids[:n].tolist()) == row.input_ids
            assert tuple(label != -100 for label in labels[:n].tolist()) == row.targets
    assert sum(len(r.input_ids) for b in ours for r in b) == sum(
        int(b["attention_mask"].sum()) for b in theirs
    )
