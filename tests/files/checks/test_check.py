"""The dataset check: every rule of the SDK's ``check_file``, the measurements, and streaming."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.core.tokens import count_tokens
from mock_server.files.checks import reader
from mock_server.files.checks import report as check_report
from mock_server.files.checks.check import check_dataset
from mock_server.files.checks.reader import MAX_LINE_BYTES
from mock_server.files.checks.report import CheckReport
from mock_server.files.checks.rules import MAX_BASE64_IMAGE_LENGTH, DatasetFormat

USER = {"role": "user", "content": "Hi there"}
ASSISTANT = {"role": "assistant", "content": "Hello, how can I help?"}
SYSTEM = {"role": "system", "content": "Be brief."}
PNG = "data:image/png;base64,iVBORw0KGgo="
IMAGE = {"type": "image_url", "image_url": {"url": PNG}}
TEXT = {"type": "text", "text": "What is this?"}
OUT = [{"role": "assistant", "content": "Yes."}]
MALFORMED = "The dataset is malformed, "


def chat(*messages: object) -> dict[str, object]:
    return {"messages": list(messages)}


def pref(messages: object, preferred: object = OUT, non_preferred: object = OUT) -> object:
    return {
        "input": {"messages": messages},
        "preferred_output": preferred,
        "non_preferred_output": non_preferred,
    }


def image(url: object) -> dict[str, object]:
    return {"type": "image_url", "image_url": {"url": url}}


def write_jsonl(folder: Path, *lines: object, name: str = "train.jsonl") -> Path:
    """Objects become JSON lines, strings are written as they are."""
    path = folder / name
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def check(
    path: Path, purpose: str = "fine-tune", max_line_bytes: int = MAX_LINE_BYTES
) -> CheckReport:
    """The 1.5.35 rules, every one of which the tests below hold to the SDK's words; the 3.1.1
    rules (the default) are at the end."""
    return check_dataset(
        path,
        purpose=purpose,
        filename=path.name,
        max_line_bytes=max_line_bytes,
        rules="1.5.35",
    )


def bad_line(n: int) -> str:
    return f"Invalid format on line {n} of the input file. "


ROLE_TURNS = (
    "Invalid role turns on line 1 of the input file. After the optional system message, "
    "conversation roles must alternate between user/assistant/user/assistant."
)
J2 = (
    "Error parsing file. Invalid format on line 2 of the input file. Datasets must follow text, "
    "conversational, or instruction format. For moreinformation, see "
    "https://docs.together.ai/docs/fine-tuning-data-preparation"
)

# (lines, exact message, line number, error source); the ids are the rule rows of the doc.
RULES = [
    pytest.param(
        ["{nope"], "Error parsing json payload. Unexpected format on line 1.", 1, "load_json",
        id="J1 invalid json",
    ),
    pytest.param([{"text": "a"}, [1, 2]], J2, 2, "line_type", id="J2 not an object"),
    pytest.param(
        [{"prompt": "p"}],
        "Error parsing file. Could not detect a format for the line 1 with the columns:\n"
        "dict_keys(['prompt'])",
        1, "format", id="J3 no format",
    ),
    pytest.param(
        [{"text": "a", "id": 7}], 'Found extra column "id" in the line 1.', 1, "format",
        id="J4 extra column",
    ),
    pytest.param(
        [{"text": "a", "messages": []}], 'Found extra column "messages" in the line 1.', 1,
        "format", id="J4 two formats report the second as extra",
    ),
    pytest.param(
        [chat(USER, ASSISTANT), {"text": "a"}],
        "All samples in the dataset must have the same dataset format. Got "
        "DatasetFormat.CONVERSATION for the first line and DatasetFormat.GENERAL for the line 2.",
        2, "format", id="J6 format changes",
    ),
    pytest.param(
        [{"text": "a"}, pref([USER])],
        "All samples in the dataset must have the same dataset format. Got DatasetFormat.GENERAL"
        " for the first line and DatasetFormat.PREFERENCE_OPENAI for the line 2.",
        2, "format", id="J6 preference is named as the SDK names it",
    ),
    pytest.param(
        [{"messages": "hi"}],
        bad_line(1) + "The `messages` column must be a list. Found <class 'str'>", 1,
        "key_value", id="M1",
    ),
    pytest.param(
        [{"messages": []}], bad_line(1) + "The `messages` column must not be empty.", 1,
        "key_value", id="M2",
    ),
    pytest.param(
        [chat(USER, 3)],
        bad_line(1) + "The `messages` column must be a list of dicts. Found <class 'int'>", 1,
        "key_value", id="M3",
    ),
    pytest.param(
        [chat({"content": "x"})], "Missing required column `role` in message on line 1.", 1,
        "key_value", id="M4 role",
    ),
    pytest.param(
        [chat({"role": 5, "content": 1}, {"role": "user"})],
        "Missing required column `content` in message on line 1.", 1, "key_value",
        id="M4 shape is checked for every message before roles",
    ),
    pytest.param(
        [chat(USER | {"weight": 1.0}, ASSISTANT)], "Weight must be an integer on line 1.", 1,
        "key_value", id="M5 float",
    ),
    pytest.param(
        [chat(USER | {"weight": "0"}, ASSISTANT)], "Weight must be an integer on line 1.", 1,
        "key_value", id="M5 string",
    ),
    pytest.param(
        [chat(USER, ASSISTANT | {"weight": 2})], "Weight must be either 0 or 1 on line 1.", 1,
        "key_value", id="M6",
    ),
    pytest.param(
        [chat({"role": 1, "content": "x"})],
        "Invalid role `1` in conversation on line 1. Role must be a string. Found <class 'int'>",
        1, "key_value", id="M7",
    ),
    pytest.param(
        [chat(USER, {"role": "tool", "content": "x"})],
        "Invalid role `tool` in conversation on line 1. Possible roles: system, user, assistant",
        1, "key_value", id="M8",
    ),
    pytest.param([chat(USER, USER, ASSISTANT)], ROLE_TURNS, 1, "key_value", id="M9"),
    pytest.param(
        [chat(USER, ASSISTANT | {"content": None})],
        "Invalid content type on line 1 of the input file. Expected string or multimodal list "
        "of dicts, found <class 'NoneType'>",
        1, "key_value", id="M10",
    ),
    pytest.param(
        [chat(USER | {"content": ["x"]}, ASSISTANT)],
        MALFORMED + "the `content` field must be a list of dicts.", 1, "key_value", id="M11",
    ),
    pytest.param(
        [{"text": [{"text": "x"}]}],
        MALFORMED + "the `content` field must be a list of dicts with a `type` field.", 1,
        "key_value", id="M12",
    ),
    pytest.param(
        [{"text": [{"type": "text", "text": 1}]}],
        MALFORMED + "the `text` field must be present in the `content` item field and be a "
        "string. Got '1' instead.",
        1, "key_value", id="M13",
    ),
    pytest.param(
        [{"prompt": "p", "completion": [IMAGE]}],
        MALFORMED + "only user messages can contain images.", 1, "key_value",
        id="M14 image in the completion",
    ),
    pytest.param(
        [chat(USER | {"content": [TEXT]}, ASSISTANT | {"content": [IMAGE]})],
        MALFORMED + "only user messages can contain images.", 1, "key_value",
        id="M14 image in an assistant message",
    ),
    pytest.param(
        [{"text": [{"type": "image_url"}]}],
        MALFORMED + "the `image_url` field must be present in the `content` field and be a "
        "dictionary. Got None instead.",
        1, "key_value", id="M15",
    ),
    pytest.param(
        [{"text": [image("")]}],
        MALFORMED + "the `url` field must be present in the `image_url` field and be a string. "
        "Got '' instead.",
        1, "key_value", id="M16",
    ),
    pytest.param(
        [{"text": [image("http://x/" + "y" * 200)]}],
        MALFORMED + "the `url` field must be either a JPEG, PNG or WEBP base64-encoded image in "
        "'data:image/<format>;base64,<base64_encoded_image>' format. Got 'http://x/"
        + "y" * 91 + "...' instead.",
        1, None, id="M17 has no error source",
    ),
    pytest.param(
        [{"text": [image(PNG[:22] + "A" * MAX_BASE64_IMAGE_LENGTH)]}],
        MALFORMED + "the `url` field must contain base64-encoded image that is less than 10MB, "
        f"found ~{(22 + MAX_BASE64_IMAGE_LENGTH) * 3 // 4} bytes.",
        1, "key_value", id="M18",
    ),
    pytest.param(
        [{"text": [{"type": "audio"}]}],
        MALFORMED + "the `type` field must be either 'text' or 'image_url'. Got 'audio'.", 1,
        "key_value", id="M19",
    ),
    pytest.param(
        [{"text": [IMAGE] * 11}],
        MALFORMED + "the `content` field must contain at most 10 images, found 11.", 1,
        "key_value", id="M20",
    ),
    pytest.param(
        [chat(USER | {"content": [IMAGE], "weight": 1}, ASSISTANT | {"content": [TEXT]})],
        "Messages with images cannot have non-zero weights.", 1, "key_value", id="M21",
    ),
    pytest.param(
        [chat(USER | {"content": [TEXT]}, ASSISTANT)],
        "Messages in the conversation must be either all in multimodal or all in text-only "
        "format.",
        1, "key_value", id="M22",
    ),
    pytest.param(
        [
            chat(
                USER | {"content": [IMAGE] * 6},
                ASSISTANT | {"content": []},
                USER | {"content": [IMAGE] * 5},
                ASSISTANT | {"content": [TEXT]},
            )
        ],
        MALFORMED + "the `messages` must contain at most 10 images. Found 11 images.", 1,
        "key_value", id="M23",
    ),
    pytest.param(
        [{"text": "ok"}, {"text": "ok"}, chat(SYSTEM, USER)],
        bad_line(3)
        + "At least one message with the assistant role must be present in the example.",
        3, "key_value", id="M24",
    ),
    pytest.param(
        [{"text": 5}],
        "Invalid content type on line 1 of the input file. Expected string or multimodal list "
        "of dicts, found <class 'int'>",
        1, "key_value", id="T1",
    ),
    pytest.param(
        [{"input": "x", "preferred_output": OUT, "non_preferred_output": OUT}],
        MALFORMED + "the `input` field must be a dictionary.", 1, "key_value", id="P1",
    ),
    pytest.param(
        [{"input": {}, "preferred_output": OUT, "non_preferred_output": OUT}],
        MALFORMED + "the `input` dictionary must contain a `messages` field.", 1, "key_value",
        id="P2",
    ),
    pytest.param(
        [pref([])], bad_line(1) + "The `messages` column must not be empty.", 1, "key_value",
        id="P3",
    ),
    pytest.param(
        [pref([USER, ASSISTANT])],
        "The last message in the input conversation must not be from the assistant on line 1.",
        1, "key_value", id="P4",
    ),
    pytest.param(
        [pref([USER], "x")],
        MALFORMED + "the `preferred_output` field must be a list on line 1.", 1, "key_value",
        id="P6",
    ),
    pytest.param(
        [pref([USER], OUT, OUT * 2)],
        MALFORMED + "the `non_preferred_output` list must contain exactly one message on line 1.",
        1, "key_value", id="P7",
    ),
    pytest.param(
        [pref([USER], ["x"])],
        MALFORMED + "the first element of `preferred_output` must be a dictionary on line 1.", 1,
        "key_value", id="P8",
    ),
    pytest.param(
        [pref([USER], [{"content": "x"}])],
        MALFORMED + "the first element of `preferred_output` must have a 'role' field on line 1.",
        1, "key_value", id="P9 role",
    ),
    pytest.param(
        [pref([USER], OUT, [USER])],
        MALFORMED
        + "the first element of `non_preferred_output` must have the 'assistant' role on line 1.",
        1, "key_value", id="P9 assistant",
    ),
    pytest.param(
        [pref([USER], [{"role": "assistant"}])],
        MALFORMED
        + "the first element of `preferred_output` must have a 'content' field on line 1.",
        1, "key_value", id="P9 content",
    ),
    pytest.param(
        [pref([USER], [{"role": "assistant", "content": [IMAGE]}])],
        MALFORMED + "only user messages can contain images.", 1, "key_value", id="P10",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("lines", "message", "line_number", "source"), RULES)
def test_each_rule_reports_the_sdk_message_line_and_source(
    tmp_path: Path, lines: list[object], message: str, line_number: int, source: str | None
) -> None:
    # M18's line (a 14 MB image) is over the default line limit, which would speak first.
    report = check(write_jsonl(tmp_path, *lines), max_line_bytes=32 * 2**20)
    assert not report.is_check_passed
    assert report.message == message
    assert report.error == message
    assert report.line_number == line_number
    assert report.error_source == source


def test_blank_line_is_a_json_error_naming_the_line(tmp_path: Path) -> None:
    report = check(write_jsonl(tmp_path, {"text": "a"}, {"text": "b"}, ""))
    assert report.message == "Error parsing json payload. Unexpected format on line 3."
    assert (report.line_number, report.error_source) == (3, "load_json")
    assert "line_number" not in report.sdk_report()  # the SDK gives no line for bad JSON


def test_the_first_error_stops_the_scan(tmp_path: Path) -> None:
    report = check(write_jsonl(tmp_path, {"text": "a"}, {"text": 1}, "{nope"))
    assert report.line_number == 2
    assert report.num_samples == 1


def test_ordering_allows_assistant_first_and_system_then_assistant(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, chat(ASSISTANT, USER, ASSISTANT), chat(SYSTEM, ASSISTANT))
    assert check(path).is_check_passed


def test_weight_true_counts_as_an_integer_one(tmp_path: Path) -> None:
    assert check(write_jsonl(tmp_path, chat(USER, ASSISTANT | {"weight": True}))).is_check_passed
    report = check(
        write_jsonl(tmp_path, chat(USER | {"content": [IMAGE], "weight": True}, ASSISTANT))
    )
    assert report.message == "Messages with images cannot have non-zero weights."


def test_extra_keys_inside_a_message_are_allowed(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, chat(USER | {"name": "bob", "foo": 1}, ASSISTANT))
    assert check(path).is_check_passed


def test_missing_file_fails_with_checks_passed_but_says_why(tmp_path: Path) -> None:
    report = check_dataset(tmp_path / "nope", filename="train.jsonl", rules="1.5.35")
    assert (report.is_check_passed, report.message, report.error_source) == (
        False,
        "Checks passed",
        "found",
    )
    assert report.error is not None and "train.jsonl" in report.error
    assert report.sdk_report()["found"] is False


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"")
    report = check(path)
    assert (report.message, report.error_source, report.file_size) == (
        "File is empty",
        "file_size",
        0,
    )
    assert report.sdk_report()["file_size"] == 0


def test_unknown_extension_fails_and_the_reason_goes_to_filetype(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, {"text": "a"}, name="train.txt")
    report = check(path)
    reason = (
        "Unknown extension of file train.txt. "
        "Only files with extensions .jsonl and .parquet are supported."
    )
    assert (report.is_check_passed, report.message, report.error) == (
        False,
        "Checks passed",
        reason,
    )
    assert report.sdk_report()["filetype"] == reason


def test_the_uploaded_name_decides_the_rules_not_the_stored_path(tmp_path: Path) -> None:
    stored = write_jsonl(tmp_path, {"text": "a"}, name="file-123")
    assert check_dataset(stored, filename="train.jsonl").is_check_passed
    assert check_dataset(stored).error_source == "filetype"


def test_csv_is_refused_for_fine_tuning(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("a,b\n1,2\n")
    report = check(path)
    assert report.message == (
        "CSV files are not supported for FilePurpose.FineTune. "
        "Only JSONL and Parquet files are supported."
    )
    assert report.error_source == "purpose"


def test_invalid_utf8_reports_the_position_the_sdk_reports(tmp_path: Path) -> None:
    # The SDK decodes 8192-byte chunks, so byte 10000 is at position 1808 of the second chunk.
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"text": "' + b"a" * 9990 + b'\xff"}\n')
    report = check(path)
    assert report.message == (
        "File is not UTF-8 encoded. Error raised: 'utf-8' codec can't decode byte 0xff in "
        "position 1808: invalid start byte."
    )
    assert (report.error_source, report.line_number) == ("utf8", None)


def test_an_encoding_error_outranks_an_earlier_content_error(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"text": 1}\n{"text": "\xc3\x28"}\n')
    assert check(path).error_source == "utf8"


def test_oversize_file_fails_after_its_content_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_report, "MAX_FILE_SIZE_BYTES", 10)
    report = check(write_jsonl(tmp_path, {"text": "a"}, {"text": "b"}))
    assert report.message == (
        "Maximum supported file size is 50.1 GB. Found file with size of 0.0 GB."
    )
    assert (report.error_source, report.num_samples) == ("file_size", 2)
    sdk = report.sdk_report()
    assert (sdk["file_size"], sdk["load_json"], sdk["num_samples"]) == (None, True, 2)


def test_oversize_file_with_a_content_error_reports_the_content_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_report, "MAX_FILE_SIZE_BYTES", 10)
    report = check(write_jsonl(tmp_path, {"text": 1}))
    assert report.error_source == "key_value"
    assert report.message.startswith("Invalid content type on line 1")


@pytest.mark.parametrize(
    ("lines", "fmt"),
    [
        ([{"text": "one two"}, {"text": [TEXT, IMAGE]}], DatasetFormat.GENERAL),
        ([chat(SYSTEM, USER, ASSISTANT, USER, ASSISTANT)], DatasetFormat.CONVERSATION),
        ([chat(USER | {"content": [TEXT, IMAGE], "weight": 0}, ASSISTANT | {"content": [TEXT]})],
         DatasetFormat.CONVERSATION),
        ([{"prompt": [TEXT, IMAGE], "completion": "c"}], DatasetFormat.INSTRUCTION),
        ([pref([SYSTEM])], DatasetFormat.PREFERENCE),
        ([pref([USER, ASSISTANT, USER], OUT, [{"role": "assistant", "content": [TEXT]}])],
         DatasetFormat.PREFERENCE),
    ],
)  # fmt: skip
def test_each_format_passes_and_is_detected(
    tmp_path: Path, lines: list[object], fmt: DatasetFormat
) -> None:
    report = check(write_jsonl(tmp_path, *lines))
    assert (report.is_check_passed, report.message, report.error) == (True, "Checks passed", None)
    assert (report.dataset_format, report.num_samples, report.filetype) == (
        fmt,
        len(lines),
        "jsonl",
    )
    assert report.token_count > 0
    sdk = report.sdk_report()
    assert sdk["load_json"] is True and sdk["num_samples"] == len(lines)


def test_dataset_format_values_are_plain_strings() -> None:
    assert [str(f) for f in DatasetFormat] == [
        "general",
        "conversation",
        "instruction",
        "preference",
    ]


def test_token_count_is_the_sum_over_all_text_of_the_file(tmp_path: Path) -> None:
    texts = ["Be brief.", "What's 2+2?", "It is 4.", "Preferred answer", "Rejected answer"]
    conversation = chat(
        {"role": "system", "content": texts[0]},
        {"role": "user", "content": texts[1]},
        {"role": "assistant", "content": texts[2]},
    )
    report = check(write_jsonl(tmp_path, conversation))
    assert report.token_count == sum(count_tokens(t) for t in texts[:3])

    preference = pref(
        [{"role": "user", "content": [{"type": "text", "text": texts[1]}, IMAGE]}],
        [{"role": "assistant", "content": texts[3]}],
        [{"role": "assistant", "content": texts[4]}],
    )
    report = check(write_jsonl(tmp_path, preference, name="pref.jsonl"))
    # The image payload is not text and adds nothing.
    assert report.token_count == sum(count_tokens(t) for t in (texts[1], texts[3], texts[4]))


def test_token_count_grows_with_the_file(tmp_path: Path) -> None:
    one = check(write_jsonl(tmp_path, {"prompt": "a b c", "completion": "d e"}, name="1.jsonl"))
    three = check(write_jsonl(tmp_path, *[{"prompt": "a b c", "completion": "d e"}] * 3))
    assert one.token_count == 5
    assert three.token_count == 3 * one.token_count


def test_has_weights_reports_any_message_weight(tmp_path: Path) -> None:
    unweighted = check(write_jsonl(tmp_path, chat(USER, ASSISTANT), name="u.jsonl"))
    weighted = check(
        write_jsonl(tmp_path, chat(USER, ASSISTANT), chat(USER, ASSISTANT | {"weight": 0}))
    )
    in_preference = check(write_jsonl(tmp_path, pref([USER | {"weight": 1}]), name="p.jsonl"))
    assert (unweighted.has_weights, weighted.has_weights, in_preference.has_weights) == (
        False,
        True,
        True,
    )


def test_eval_jsonl_needs_only_json_objects(tmp_path: Path) -> None:
    report = check(write_jsonl(tmp_path, {"question": "q one", "answer": [1, "two"]}), "eval")
    assert report.is_check_passed
    assert (report.dataset_format, report.token_count) == (None, 3)
    assert check(write_jsonl(tmp_path, {"q": 1}, [1]), "eval").message == J2


@pytest.mark.parametrize(
    ("content", "message", "line_number"),
    [
        (b"\n\n", "CSV file is empty or has no header.", None),
        (b"q,a\n", "Processing eval.csv resulted in only 0 samples. Our minimum is 1 samples. ",
         None),
        (b"q,a\n1,2\n1,2,3\n", "CSV file is malformed or the number of columns found on line 2 is "
         "inconsistent with the header", 2),
        (b"q,a\n1\n", "CSV file is malformed or the number of columns found on line 1 is "
         "inconsistent with the header", 1),
        (b'q,a\n1,"' + b"x" * 200_000 + b'"\n', None, None),  # over csv's field size limit
    ],
)  # fmt: skip
def test_csv_eval_rules(
    tmp_path: Path, content: bytes, message: str | None, line_number: int | None
) -> None:
    path = tmp_path / "eval.csv"
    path.write_bytes(content)
    report = check(path, "eval")
    if message is None:  # csv.Error would crash the SDK; we report its parse-error message
        assert not report.is_check_passed and report.error_source == "load_csv"
        return
    assert (report.message, report.line_number) == (message, line_number)


def test_csv_eval_passes_with_quoted_multiline_fields(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_bytes(b'question,answer\n"two\nlines",yes\nthree,four\n')
    report = check(path, "eval")
    assert (report.is_check_passed, report.num_samples, report.filetype) == (True, 2, "csv")
    assert report.token_count == sum(map(count_tokens, ["two\nlines", "yes", "three", "four"]))
    assert report.sdk_report()["load_csv"] is True


# Parquet ------------------------------------------------------------------------------------


def write_parquet(path: Path, columns: Mapping[str, Sequence[object]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path, row_group_size=2)
    return path


def test_parquet_with_input_ids_only_passes_and_counts_tokens(tmp_path: Path) -> None:
    ids = [[1, 2, 3], [4, 5], [6], [7, 8, 9, 10], [11]]
    report = check(write_parquet(tmp_path / "train.parquet", {"input_ids": ids}))
    assert (report.is_check_passed, report.num_samples, report.token_count) == (True, 5, 11)
    assert report.sdk_report() == {
        "is_check_passed": True, "message": "Checks passed", "found": True,
        "file_size": report.file_size, "utf8": None, "line_type": None, "text_field": None,
        "key_value": None, "has_min_samples": None, "num_samples": 5, "load_json": None,
        "load_csv": None, "filetype": "parquet",
    }  # fmt: skip


def test_parquet_with_all_three_columns_passes(tmp_path: Path) -> None:
    columns: dict[str, list[object]] = {
        "input_ids": [[1, 2], [3, 4]],
        "attention_mask": [[1, 1], [1, 0]],
        "labels": [[-100, 2], [3, -100]],
    }
    report = check(write_parquet(tmp_path / "train.parquet", columns))
    assert (report.is_check_passed, report.token_count, report.dataset_format) == (True, 4, None)


@pytest.mark.parametrize(
    ("columns", "error"),
    [
        ({"labels": [[1]]}, "Parquet file train.parquet does not contain the `input_ids` column."),
        ({"input_ids": [[1]], "text": ["a"]}, "Parquet file train.parquet contains an unexpected "
         "column text. Only columns ['input_ids', 'attention_mask', 'labels'] are supported."),
    ],
)  # fmt: skip
def test_parquet_column_rules_keep_checks_passed_as_the_message(
    tmp_path: Path, columns: dict[str, list[object]], error: str
) -> None:
    report = check(write_parquet(tmp_path / "train.parquet", columns))
    assert (report.is_check_passed, report.message, report.error) == (False, "Checks passed", error)
    assert report.sdk_report()["load_parquet"] == error


def test_corrupt_parquet_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    report = check(path)
    assert (report.is_check_passed, report.message, report.error_source) == (
        False,
        "Checks passed",
        "load_parquet",
    )
    assert report.error is not None
    assert report.error.startswith(
        "An exception has occurred when loading the Parquet file train.parquet. Please check the "
        "file for corruption. Exception trace:\n"
    )


def test_parquet_with_no_rows_has_too_few_samples(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"input_ids": pa.array([], pa.list_(pa.int64()))}), path)
    report = check(path)
    assert report.message == (
        "Processing train.parquet resulted in only 0 samples. Our minimum is 1 samples. "
    )
    assert report.sdk_report()["has_min_samples"] is False


def test_parquet_is_refused_for_eval(tmp_path: Path) -> None:
    report = check(write_parquet(tmp_path / "eval.parquet", {"input_ids": [[1]]}), "eval")
    assert report.message == (
        "Parquet files are not supported for FilePurpose.Eval. Only JSONL and CSV files are "
        "supported."
    )


# Streaming ----------------------------------------------------------------------------------


def test_a_file_of_200k_lines_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"prompt": "Count to three", "completion": "1 2 3"}) + "\n"
    path.write_text(line * 200_000)
    report = check(path)
    assert (report.is_check_passed, report.num_samples) == (True, 200_000)
    assert report.token_count == 200_000 * (count_tokens("Count to three") + count_tokens("1 2 3"))


def test_checking_holds_a_block_of_lines_in_memory_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"text": "x" + " y" * 1_250}) + "\n"
    path.write_text(line * 8_000)  # ~20 MB, read a megabyte at a time
    check(path)  # the lookup tables and decoders, built once, are not the file's
    tracemalloc.start()
    try:
        report = check(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.is_check_passed
    # A chunk of lines (a 1 MiB block) and, while their tokens are counted, their strings joined,
    # coded and scratch of the same size: a few blocks' worth, whatever the file's size.
    assert peak < 8_000_000


def test_a_line_spanning_many_chunks_is_one_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, {"text": "é" * 50_000}, {"text": "b"})
    report = check(path)
    assert (report.is_check_passed, report.num_samples) == (True, 2)


text_pieces = st.sampled_from(["a", "{", "\n", "\r", "\r\n", "é", "€", "😀", "\xff", "\xe2\x82"])


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(text_pieces, max_size=40),
    chunk_size=st.integers(min_value=1, max_value=9),
)
def test_line_reader_matches_text_mode_iteration(pieces: list[str], chunk_size: int) -> None:
    # Pieces are written as raw bytes (latin-1 maps "\xff" to the byte 0xff, "é" is UTF-8 here).
    data = b"".join(
        p.encode("latin-1") if p in ("\xff", "\xe2\x82") else p.encode() for p in pieces
    )

    def text_mode() -> list[str] | str:
        wrapper = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)), encoding="utf-8")
        wrapper._CHUNK_SIZE = chunk_size  # type: ignore[attr-defined]
        try:
            return list(wrapper)
        except UnicodeDecodeError as exc:
            return str(exc)

    def ours() -> list[str] | str:
        saved = reader._CHUNK_SIZE
        reader._CHUNK_SIZE = chunk_size
        try:
            return list(reader.iter_lines(io.BytesIO(data)))
        except UnicodeDecodeError as exc:
            return str(exc)
        finally:
            reader._CHUNK_SIZE = saved

    assert ours() == text_mode()


# -- the 3.1.1 rules, the default -----------------------------------------------------------------


def test_by_default_a_conversation_with_no_assistant_turn_or_a_human_role_passes(
    tmp_path: Path,
) -> None:
    path = write_jsonl(
        tmp_path, chat(SYSTEM, USER), chat({"role": "human", "content": "Hi"}, ASSISTANT)
    )

    newest = check_dataset(path, filename=path.name)
    oldest = check_dataset(path, filename=path.name, rules="1.5.35")

    assert (newest.is_check_passed, newest.dataset_format, newest.num_samples) == (
        True,
        DatasetFormat.CONVERSATION,
        2,
    )
    assert newest.token_count > 0
    assert (oldest.is_check_passed, oldest.line_number) == (False, 1)
    assert oldest.message == (
        "Invalid format on line 1 of the input file. "
        "At least one message with the assistant role must be present in the example."
    )


def test_by_default_blank_lines_are_skipped_and_mixed_formats_have_no_format(
    tmp_path: Path,
) -> None:
    path = write_jsonl(tmp_path, chat(USER, ASSISTANT), "", "   ", {"text": "plain"})

    report = check_dataset(path, filename=path.name)

    assert (report.is_check_passed, report.num_samples, report.dataset_format) == (True, 2, None)


def test_by_default_a_line_that_is_no_json_object_fails_in_3_1_1s_words(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, {"text": "a"}, "", "[1, 2]")

    report = check_dataset(path, filename=path.name)

    assert (report.is_check_passed, report.line_number, report.error_source) == (
        False,
        3,
        "line_type",
    )
    assert report.message == (
        "Error parsing file. Invalid format on line 3 of the input file. Each line must be a "
        "JSON object. Dataset requirements are described at "
        "https://docs.together.ai/docs/fine-tuning-data-preparation. "
        "Full validation runs on the server after upload."
    )


def test_by_default_an_oversize_file_is_not_read_and_csv_is_named_among_the_extensions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = write_jsonl(tmp_path, {"text": "a"}, name="train.txt")
    unknown = check_dataset(odd, filename="a.txt")
    monkeypatch.setattr(check_report, "MAX_FILE_SIZE_BYTES", 10)
    big = write_jsonl(tmp_path, "not even json")
    oversize = check_dataset(big, filename=big.name)

    assert (oversize.error_source, oversize.message.startswith("Maximum supported")) == (
        "file_size",
        True,
    )
    assert oversize.sdk_report()["file_size"] == big.stat().st_size
    assert (
        unknown.message
        == unknown.error
        == (
            "Unknown extension of file a.txt. "
            "Only files with extensions .jsonl, .parquet, and .csv are supported."
        )
    )
