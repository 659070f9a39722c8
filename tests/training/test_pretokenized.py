"""Together's pre-tokenized Parquet rows as the trainer reads them: the labels are the loss mask,
padding (``attention_mask`` 0) is dropped, and ids the base has no embedding for are the user's
error, named by row. Pure Python, plus pyarrow to write and read a real file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mock_server.training import pretokenized
from mock_server.training.data import Example
from mock_server.training.worker import read_rows

ROW: dict[str, Any] = {
    "input_ids": [7, 30, 31, 40, 41, 0, 0],
    "attention_mask": [1, 1, 1, 1, 1, 0, 0],
    "labels": [-100, -100, -100, 40, 41, -100, -100],
}


def _examples(rows: list[dict[str, Any]], **fields: Any) -> list[Example]:
    options: dict[str, Any] = {"vocab_size": 64, "token_map": None, "max_length": 16}
    return pretokenized.build_examples(rows, **(options | fields))


def test_labels_are_the_mask_and_padding_is_dropped() -> None:
    [example] = _examples([ROW])
    assert example.input_ids == (7, 30, 31, 40, 41)
    assert example.targets == (False, False, False, True, True)


def test_without_labels_every_token_but_the_first_is_a_target() -> None:
    [example] = _examples([{"input_ids": [5, 6, 7]}])
    assert example.targets == (False, True, True)


def test_rows_are_cut_to_the_sequence_length_and_rows_left_without_a_target_dropped() -> None:
    assert _examples([ROW], max_length=3) == []
    assert [e.input_ids for e in _examples([ROW], max_length=4)] == [(7, 30, 31, 40)]


def test_a_tiny_stand_ins_token_map_numbers_the_datas_ids_in_order() -> None:
    ids = pretokenized.distinct_ids([ROW, {"input_ids": [128000, 7]}])
    assert ids == [7, 30, 31, 40, 41, 128000]  # the padding id 0 never occurs unmasked
    token_map = {data_id: k for k, data_id in enumerate(ids)}
    [example] = _examples([{"input_ids": [128000, 41]}], token_map=token_map)
    assert example.input_ids == (5, 4)


def test_an_id_beyond_the_bases_vocabulary_is_a_user_error_naming_the_row() -> None:
    with pytest.raises(ValueError) as raised:
        _examples([ROW, {"input_ids": [1, 128000]}], vocab_size=49152)
    assert str(raised.value) == (
        "Parquet row 2: token id 128000 is outside the vocabulary of the base model (49152 "
        "tokens): tokenize the data with the base model's tokenizer"
    )
    with pytest.raises(ValueError, match="Parquet row 1: token id 99 is not in the vocabulary"):
        _examples([{"input_ids": [7, 99]}], token_map={7: 0})


def test_labels_that_are_not_the_ids_are_refused() -> None:
    shifted = {"input_ids": [1, 2, 3], "labels": [2, 3, -100]}
    with pytest.raises(ValueError, match="Parquet row 1: label 2 at position 0 is neither -100"):
        _examples([shifted])


def test_the_worker_reads_a_parquet_file_whatever_type_it_was_uploaded_as(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "blob"
    pq.write_table(pa.Table.from_pylist([ROW, ROW]), path)
    assert read_rows(str(path), "jsonl") == [ROW, ROW]
