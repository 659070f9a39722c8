"""The dataset check's fast path against its exact one, and the line limit.

The fast path (``reader.iter_chunks``, ``shapes.FastLines``, ``bulk_tokens``) must give the very
report the exact checks give: the reader the lines of text mode, the bulk count the tokenizer's
count of the decoded strings, the shapes a verdict only on lines the rules accept. Each is
compared here with what it stands in for, on random input. ``test_check_vs_sdk.py`` compares
the whole with the SDK.
"""

from __future__ import annotations

import io
import json
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.core.tokens import count_tokens
from mock_server.files.checks import bulk_tokens, reader, shapes
from mock_server.files.checks.check import check_dataset
from mock_server.files.checks.reader import MAX_LINE_BYTES
from mock_server.files.checks.report import CheckReport

USER = {"role": "user", "content": "Hi there"}
ASSISTANT = {"role": "assistant", "content": "Hello, how can I help?"}
TEXT = {"type": "text", "text": "What is this?"}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
GOOD = json.dumps({"messages": [USER, ASSISTANT]}) + "\n"


def check(path: Path, purpose: str = "fine-tune", **limits: int) -> CheckReport:
    """The 1.5.35 rules, whose every refusal the fast path must leave to the exact checks."""
    return check_dataset(path, purpose=purpose, filename=path.name, rules="1.5.35", **limits)


def warm_up(folder: Path) -> None:
    """One check of a small file, so that what a first check imports and builds once (msgspec,
    numpy, lookup tables) is not counted as a check's memory."""
    path = folder / "warm.jsonl"
    path.write_text(GOOD + json.dumps({"messages": [USER | {"content": "é😀"}, ASSISTANT]}) + "\n")
    assert check(path).is_check_passed


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Blocks of 64 bytes, so that a few lines cross a block's edge."""
    monkeypatch.setattr(reader, "_BLOCK_SIZE", 64)
    yield


# The reader ---------------------------------------------------------------------------------

text_pieces = st.sampled_from(["a", "{", "\n", "\r", "\r\n", "é", "€", "😀", " "])
bad_pieces = st.sampled_from(["a", "\n", "\r", "é", "😀", "\xff", "\xe2\x82", "\xed\xa0\x80"])


def as_bytes(pieces: list[str]) -> bytes:
    """Pieces as raw bytes: the invalid ones are byte strings spelled as latin-1."""
    bad = ("\xff", "\xe2\x82", "\xed\xa0\x80")
    return b"".join(p.encode("latin-1") if p in bad else p.encode() for p in pieces)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(text_pieces, max_size=40), block_size=st.integers(1, 9))
def test_the_block_reader_gives_the_lines_of_text_mode(pieces: list[str], block_size: int) -> None:
    data = as_bytes(pieces)
    wrapper = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    expected = [line.removesuffix("\n") for line in wrapper]
    saved = reader._BLOCK_SIZE
    reader._BLOCK_SIZE = block_size
    try:
        lines, firsts = [], []
        for chunk in reader.iter_chunks(io.BytesIO(data)):  # a chunk is good until the next
            firsts.append((chunk.first, len(lines)))
            lines += [bytes(line).decode() for line in chunk.lines()]
    finally:
        reader._BLOCK_SIZE = saved
    assert lines == expected
    assert all(first == lines_before for first, lines_before in firsts)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(bad_pieces, max_size=40), chunk_size=st.integers(1, 9))
def test_the_utf8_error_is_the_one_text_mode_raises(pieces: list[str], chunk_size: int) -> None:
    data = as_bytes(pieces)
    wrapper = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)), encoding="utf-8")
    wrapper._CHUNK_SIZE = chunk_size  # type: ignore[attr-defined]
    try:
        list(wrapper)
        expected = None
    except UnicodeDecodeError as exc:
        expected = str(exc)
    saved = reader._CHUNK_SIZE
    reader._CHUNK_SIZE = chunk_size
    try:
        error = reader.utf8_error(io.BytesIO(data))
    finally:
        reader._CHUNK_SIZE = saved
    assert (str(error) if error else None) == expected


# The bulk token count -----------------------------------------------------------------------

# Letters and digits of several scripts, spaces of several kinds, punctuation, emoji, and what
# JSON escapes: quotes, backslashes, control characters.
chars = st.sampled_from(list('abcXYZ0189 _.,-\n\t\x0b\x1céßЖ中٣²\u00a0\u2028“”—😀🇫𝔘"\\/\b\x00\x7f'))
texts = st.lists(st.text(chars, max_size=300), max_size=8)


def raw(text: str, ascii_only: bool) -> bytes:
    """The JSON of a string, as a file holds it: with its non-ASCII characters escaped or not."""
    return json.dumps(text, ensure_ascii=ascii_only).encode()


def bulk_count(strings: list[bytes], dense: bool) -> int:
    """The bulk count, made to take the way for text dense in escapes and non-ASCII characters
    (decoding it) or the one for sparse (looking at each where it is), whatever the text."""
    saved = bulk_tokens._dense
    bulk_tokens._dense = lambda joined: dense  # type: ignore[assignment]
    try:
        return bulk_tokens.TokenCounter().count(strings)
    finally:
        bulk_tokens._dense = saved


@settings(max_examples=400, deadline=None)
@given(texts=texts, ascii_only=st.booleans(), dense=st.booleans())
def test_the_bulk_count_of_json_strings_is_the_tokenizers(
    texts: list[str], ascii_only: bool, dense: bool
) -> None:
    counted = bulk_count([raw(text, ascii_only) for text in texts], dense)
    assert counted == sum(map(count_tokens, texts))


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("run", [1, 3, 4, 5, 63, 64, 65, 127, 128, 129, 4096, 70_001])
def test_long_runs_of_letters_count_a_token_per_four(run: int, dense: bool) -> None:
    # Runs starting at each position mod 4, and so at each bit of a 64-bit word, sooner or later.
    texts = ["." * k + "x" * run for k in range(4)]
    texts += ["a " + "b" * run + ".", "é" * run + "😀", "\\u00e9" * run]
    for ascii_only in (True, False):
        counted = bulk_count([raw(text, ascii_only) for text in texts], dense)
        assert counted == sum(map(count_tokens, texts))


utf8 = st.sampled_from(["é", "€", "😀", "中", "a", " "]).map(str.encode)
not_utf8 = st.sampled_from(
    [b"\xff", b"\xc3", b"\xa9", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"]
)


@settings(max_examples=300, deadline=None)
@given(
    texts=texts,
    where=st.integers(0, 10_000),
    bad=st.one_of(not_utf8, utf8),
    dense=st.booleans(),
)
def test_the_bulk_count_refuses_what_is_not_utf8(
    texts: list[str], where: int, bad: bytes, dense: bool
) -> None:
    # Bytes between two characters of a string: escapes stay whole, as msgspec leaves them.
    text = [*texts, "last"][where % (len(texts) + 1)]
    cut = where % (len(text) + 1)
    spliced = raw(text[:cut], False)[:-1] + bad + raw(text[cut:], False)[1:]
    strings = [raw(t, False) for t in texts] + [spliced]
    try:
        spliced.decode()
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            bulk_count(strings, dense)
    else:
        decoded = [*texts, json.loads(spliced)]
        assert bulk_count(strings, dense) == sum(map(count_tokens, decoded))


@pytest.mark.parametrize("dense", [False, True])
def test_the_bulk_count_names_every_value_that_is_not_a_string(dense: bool) -> None:
    strings = [b"[1]", b'"a"', b'{"b": "c"}', b'"d"', b"5", b'"e"']
    with pytest.raises(bulk_tokens.NotStrings) as raised:
        bulk_count(strings, dense)
    assert raised.value.indices == [0, 2, 4]


# The shapes against the rules ---------------------------------------------------------------

MISSING = object()
roles = st.sampled_from(["system", "user", "assistant", "assistant", "user", "tool", 1, None])
contents = st.one_of(
    st.text(chars, max_size=12),
    st.sampled_from(["Hi there", "", 5, None, [TEXT], [IMAGE], [], {}]),
)
weights = st.sampled_from([MISSING, MISSING, 0, 1, True, False, 2, None, 1.0])


def message(role: object, content: object, weight: object, extra: bool) -> dict[str, object]:
    made = {"role": role, "content": content}
    if weight is not MISSING:
        made["weight"] = weight
    if extra:
        made["name"] = "x"
    return made


messages = st.lists(st.builds(message, roles, contents, weights, st.booleans()), max_size=5)
outputs = st.one_of(st.just([{"role": "assistant", "content": "Yes."}]), messages)
values = st.one_of(
    messages.map(lambda m: {"messages": m}),
    contents.map(lambda c: {"text": c}),
    st.tuples(contents, contents).map(lambda pc: {"prompt": pc[0], "completion": pc[1]}),
    st.tuples(messages, outputs, outputs).map(
        lambda t: {
            "input": {"messages": t[0]},
            "preferred_output": t[1],
            "non_preferred_output": t[2],
        }
    ),
    st.sampled_from([[1, 2], "x", 3, {"text": "a", "id": 1}, {}]),
)
odd_lines = st.sampled_from(
    [
        "",
        "  ",
        "{nope",
        '{"text": NaN}',
        '{"text": "a"} {"text": "b"}',
        '{"messages": [{"role": "user", "content": "a", "weight": 100000000000000000000}]}',
        '{"messages": [{"role": "user", "content": "\\ud800"}, {"role": "assistant"}]}',
        '{"messages": [{"role": "assistant", "role": "user", "content": "a"}]}',
    ]
)
lines = st.one_of(
    values.map(json.dumps), values.map(lambda v: json.dumps(v, ensure_ascii=False)), odd_lines
)
first_lines = st.sampled_from(
    [
        GOOD.strip(),
        json.dumps({"text": "plain"}),
        json.dumps({"prompt": "p", "completion": "c"}),
        json.dumps(
            {
                "input": {"messages": [USER]},
                "preferred_output": [{"role": "assistant", "content": "Yes."}],
                "non_preferred_output": [{"role": "assistant", "content": "No."}],
            }
        ),
    ]
)


class _Nothing(shapes.FastLines):
    """A fast path that vouches for no line: every line goes through the exact checks."""

    def vouch(self, chunk: reader.Chunk, start: int) -> shapes.Vouched:
        lines = list(range(start, chunk.count))
        return shapes.Vouched(
            start, chunk.count, lines, 0, self._counter, [], [0] * len(lines), None
        )


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=first_lines,
    rest=st.lists(st.one_of(lines, first_lines, first_lines), max_size=8),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    purpose=st.sampled_from(["fine-tune", "fine-tune", "eval"]),
)
def test_the_fast_path_gives_the_exact_checks_report(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
    rest: list[str],
    newline: str,
    purpose: str,
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes((newline.join([first, *rest]) + newline).encode("utf-8", "surrogatepass"))
    fast = check(path, purpose)
    with monkeypatch.context() as patched:
        patched.setattr(shapes, "FastLines", _Nothing)
        exact = check(path, purpose)
    assert fast == exact


def test_check_dataset_can_run_in_several_threads_at_once(tmp_path: Path) -> None:
    files = []
    for i in range(4):
        path = tmp_path / f"t{i}.jsonl"
        path.write_text(GOOD * 2000 * (i + 1) + ('{"text": 1}\n' if i % 2 else ""))
        files.append(path)
    alone = [check(path) for path in files]
    together: dict[int, CheckReport] = {}
    threads = [
        threading.Thread(target=lambda i=i: together.__setitem__(i, check(files[i])))
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [together[i] for i in range(4)] == alone


# The line limit -----------------------------------------------------------------------------


def too_long(line: int, limit: int, size: str) -> str:
    return (
        f"Line {line} is longer than the limit of {limit} bytes ({size}; together-sim's "
        "--max-line-bytes sets it)."
    )


@pytest.mark.usefixtures("small_blocks")
def test_a_line_over_the_limit_makes_the_file_invalid_naming_the_line_and_the_limit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "train.jsonl"
    long = json.dumps({"messages": [USER | {"content": "x" * 300}, ASSISTANT]}) + "\n"
    path.write_text(GOOD * 2 + long + GOOD)
    report = check(path, max_line_bytes=200)
    assert (report.is_check_passed, report.error_source, report.line_number) == (
        False,
        "line_length",
        3,
    )
    assert report.message == report.error == too_long(3, 200, "200 bytes")
    assert report.num_samples == 2
    sdk = report.sdk_report()
    assert (sdk["load_json"], sdk["line_number"]) == (False, 3)


@pytest.mark.usefixtures("small_blocks")
def test_a_line_of_exactly_the_limit_passes(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(GOOD * 3)
    assert check(path, max_line_bytes=len(GOOD) - 1).is_check_passed
    assert not check(path, max_line_bytes=len(GOOD) - 2).is_check_passed


def test_the_limit_holds_for_a_last_line_without_a_newline_and_for_csv(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(GOOD + '{"text": "' + "y" * 500 + '"}')
    assert check(path, max_line_bytes=400).message == too_long(2, 400, "400 bytes")
    csv_file = tmp_path / "eval.csv"
    csv_file.write_text("q,a\n1,2\n" + "z" * 500 + ",3\n")
    report = check(csv_file, "eval", max_line_bytes=400)
    assert (report.message, report.line_number) == (too_long(3, 400, "400 bytes"), 3)


def test_an_encoding_error_further_on_outranks_a_long_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes((GOOD + "x" * 500 + "\n" + GOOD).encode() + b'{"text": "\xff"}\n')
    report = check(path, max_line_bytes=400)
    assert (report.error_source, report.num_samples) == ("utf8", 0)
    assert report.message.startswith("File is not UTF-8 encoded. Error raised: ")


def test_a_200_mb_line_is_refused_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    with path.open("wb") as out:
        out.write(GOOD.encode() + b'{"text": "')
        for _ in range(200):
            out.write(b"x" * 2**20)
        out.write(b'"}\n' + GOOD.encode())
    warm_up(tmp_path)
    tracemalloc.start()
    try:
        report = check(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.message == too_long(2, MAX_LINE_BYTES, "7 MiB")
    assert peak < MAX_LINE_BYTES + 8 * 2**20  # the limit's worth of the line, and blocks


def test_the_worst_line_under_the_limit_costs_under_50_mb(tmp_path: Path) -> None:
    # One long string of ASCII and an emoji: Python stores it at four bytes a character.
    path = tmp_path / "train.jsonl"
    words = "😀" + "word " * ((MAX_LINE_BYTES - 200) // 5)
    line = json.dumps({"messages": [USER | {"content": words}, ASSISTANT]}, ensure_ascii=False)
    path.write_bytes((GOOD + line + "\n" + GOOD).encode())
    warm_up(tmp_path)
    tracemalloc.start()
    try:
        report = check(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (report.is_check_passed, report.num_samples) == (True, 3)
    user, assistant = count_tokens(str(USER["content"])), count_tokens(str(ASSISTANT["content"]))
    assert report.token_count == 2 * user + 3 * assistant + count_tokens(words)
    assert peak < 50_000_000
