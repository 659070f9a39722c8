"""Differential test: our dataset check against the real SDKs' ``check_file``, both of them.

Every case is written to disk, then each SDK checks them all in one subprocess (together 1.5.35
in ``.venv-v1``; together 3.1.1, the suite's own) and its report dicts are compared with
``CheckReport.sdk_report()`` of our check under that SDK's rules (``rules="1.5.35"``, and the
default ``"3.1.1"``). The subprocess runs in the cases' folder with relative paths, so the SDK's
messages name files exactly as ours do.

The check reads a file in 1 MiB blocks and vouches for the usual lines in bulk from the second
line on (``shapes.py``), so the cases of ``FAST_PATH_CASES`` put what that path must get right
after a first good line, and across a block's edge. One divergence is on purpose and not tested
here: a line longer than ``--max-line-bytes`` (7 MiB by default) is refused, where the SDK, which
has no limit, reads it whole (``tests/files/checks/test_fast_path.py`` covers the limit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mock_server.files.checks.check import check_dataset

V1_PYTHON = Path(__file__).resolve().parents[3] / ".venv-v1" / "bin" / "python"

# Each reads [[path, purpose], ...] from stdin and prints the SDK's reports as a JSON list: 1.5.35
# takes the purpose as its enum, 3.1.1 as the string its CLI passes.
SDKS: dict[str, tuple[Path, str]] = {
    "1.5.35": (
        V1_PYTHON,
        """
import json, sys
from together.types import FilePurpose
from together.utils.files import check_file
cases = json.load(sys.stdin)
print(json.dumps([check_file(path, FilePurpose(purpose)) for path, purpose in cases]))
""",
    ),
    "3.1.1": (
        Path(sys.executable),
        """
import json, sys
from together.lib.utils import check_file
cases = json.load(sys.stdin)
print(json.dumps([check_file(path, purpose) for path, purpose in cases]))
""",
    ),
}

# Parquet is left to the unit tests: the SDK venv has no pyarrow, and the SDK's `load_parquet`
# holds a traceback.
COMPARED_KEYS = (
    "is_check_passed",
    "message",
    "line_number",
    "found",
    "file_size",
    "utf8",
    "line_type",
    "text_field",
    "key_value",
    "format",
    "has_min_samples",
    "num_samples",
    "load_json",
    "load_csv",
    "filetype",
)

USER = {"role": "user", "content": "Hi there"}
ASSISTANT = {"role": "assistant", "content": "Hello, how can I help?"}
SYSTEM = {"role": "system", "content": "Be brief."}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
TEXT = {"type": "text", "text": "What is this?"}


def chat(*messages: object) -> dict[str, object]:
    return {"messages": list(messages)}


def pref(input_messages: object, preferred: object, non_preferred: object) -> dict[str, object]:
    return {
        "input": {"messages": input_messages},
        "preferred_output": preferred,
        "non_preferred_output": non_preferred,
    }


def jsonl(*lines: object) -> bytes:
    """Objects become JSON lines; str and bytes are written as they are."""
    out = []
    for line in lines:
        if isinstance(line, bytes):
            out.append(line)
        elif isinstance(line, str):
            out.append(line.encode())
        else:
            out.append(json.dumps(line).encode())
    return b"\n".join(out) + b"\n"


OK_OUT = [{"role": "assistant", "content": "Yes."}]
BAD_OUT = [{"role": "assistant", "content": "No."}]

# (case id, file name, purpose, content)
CASES: list[tuple[str, str, str, bytes]] = [
    ("conversation ok", "a.jsonl", "fine-tune", jsonl(chat(SYSTEM, USER, ASSISTANT)) * 3),
    ("general ok", "a.jsonl", "fine-tune", jsonl({"text": "plain"}, {"text": [TEXT, IMAGE]})),
    ("instruction ok", "a.jsonl", "fine-tune", jsonl({"prompt": "p", "completion": "c"})),
    ("preference ok", "a.jsonl", "fine-tune", jsonl(pref([USER], OK_OUT, BAD_OUT))),
    ("weights ok", "a.jsonl", "fine-tune", jsonl(chat(USER | {"weight": 0}, ASSISTANT))),
    ("weight true", "a.jsonl", "fine-tune", jsonl(chat(USER, ASSISTANT | {"weight": True}))),
    ("no trailing newline", "a.jsonl", "fine-tune", b'{"text": "a"}\n{"text": "b"}'),
    ("crlf", "a.jsonl", "fine-tune", b'{"text": "a"}\r\n{"text": "b"}\r\n'),
    ("lone cr", "a.jsonl", "fine-tune", b'{"text": "a"}\r{"text": "b"}\r'),
    ("blank line", "a.jsonl", "fine-tune", jsonl({"text": "a"}, "", {"text": "b"})),
    ("trailing blank", "a.jsonl", "fine-tune", jsonl({"text": "a"}) + b"\n"),
    ("bad json", "a.jsonl", "fine-tune", jsonl({"text": "a"}, "{nope")),
    ("bom", "a.jsonl", "fine-tune", b"\xef\xbb\xbf" + jsonl({"text": "a"})),
    ("not object", "a.jsonl", "fine-tune", jsonl([1, 2])),
    ("no format", "a.jsonl", "fine-tune", jsonl({"prompt": "p"})),
    ("extra column", "a.jsonl", "fine-tune", jsonl({"text": "a", "id": 1})),
    ("two formats", "a.jsonl", "fine-tune", jsonl({"messages": [], "text": "a"})),
    ("format switch", "a.jsonl", "fine-tune", jsonl(chat(USER, ASSISTANT), {"text": "a"})),
    ("pref switch", "a.jsonl", "fine-tune", jsonl({"text": "a"}, pref([USER], OK_OUT, BAD_OUT))),
    ("messages str", "a.jsonl", "fine-tune", jsonl({"messages": "hi"})),
    ("messages empty", "a.jsonl", "fine-tune", jsonl({"messages": []})),
    ("message not dict", "a.jsonl", "fine-tune", jsonl(chat(USER, 3))),
    ("no role", "a.jsonl", "fine-tune", jsonl(chat({"content": "x"}))),
    ("no content", "a.jsonl", "fine-tune", jsonl(chat(USER, {"role": "assistant"}))),
    ("weight float", "a.jsonl", "fine-tune", jsonl(chat(USER | {"weight": 1.0}, ASSISTANT))),
    ("weight str", "a.jsonl", "fine-tune", jsonl(chat(USER | {"weight": "0"}, ASSISTANT))),
    ("weight 2", "a.jsonl", "fine-tune", jsonl(chat(USER, ASSISTANT | {"weight": 2}))),
    ("role int", "a.jsonl", "fine-tune", jsonl(chat({"role": 1, "content": "x"}))),
    ("role list", "a.jsonl", "fine-tune", jsonl(chat({"role": ["a"], "content": "x"}))),
    ("role tool", "a.jsonl", "fine-tune", jsonl(chat(USER, {"role": "tool", "content": "x"}))),
    ("same role twice", "a.jsonl", "fine-tune", jsonl(chat(USER, USER, ASSISTANT))),
    ("assistant first", "a.jsonl", "fine-tune", jsonl(chat(ASSISTANT, USER, ASSISTANT))),
    ("content null", "a.jsonl", "fine-tune", jsonl(chat(USER, ASSISTANT | {"content": None}))),
    ("content dict", "a.jsonl", "fine-tune", jsonl(chat(USER | {"content": {}}, ASSISTANT))),
    ("part not dict", "a.jsonl", "fine-tune", jsonl(chat(USER | {"content": ["x"]}))),
    ("part no type", "a.jsonl", "fine-tune", jsonl(chat(USER | {"content": [{"text": "x"}]}))),
    ("text int", "a.jsonl", "fine-tune", jsonl({"text": [{"type": "text", "text": 1}]})),
    ("text missing", "a.jsonl", "fine-tune", jsonl({"text": [{"type": "text"}]})),
    ("image assistant", "a.jsonl", "fine-tune", jsonl({"prompt": "p", "completion": [IMAGE]})),
    (
        "image_url str",
        "a.jsonl",
        "fine-tune",
        jsonl({"text": [{"type": "image_url", "image_url": "u"}]}),
    ),
    (
        "url missing",
        "a.jsonl",
        "fine-tune",
        jsonl({"text": [{"type": "image_url", "image_url": {}}]}),
    ),
    (
        "url empty",
        "a.jsonl",
        "fine-tune",
        jsonl({"text": [{"type": "image_url", "image_url": {"url": ""}}]}),
    ),
    (
        "url http",
        "a.jsonl",
        "fine-tune",
        jsonl({"text": [{"type": "image_url", "image_url": {"url": "http://x/" + "y" * 120}}]}),
    ),
    ("type audio", "a.jsonl", "fine-tune", jsonl({"text": [{"type": "audio"}]})),
    ("type int", "a.jsonl", "fine-tune", jsonl({"text": [{"type": 7}]})),
    ("11 images in content", "a.jsonl", "fine-tune", jsonl({"text": [IMAGE] * 11})),
    (
        "image weight 1",
        "a.jsonl",
        "fine-tune",
        jsonl(chat(USER | {"content": [IMAGE], "weight": 1}, ASSISTANT | {"content": [TEXT]})),
    ),
    (
        "image weight 0",
        "a.jsonl",
        "fine-tune",
        jsonl(chat(USER | {"content": [IMAGE], "weight": 0}, ASSISTANT | {"content": [TEXT]})),
    ),
    (
        "mixed multimodal",
        "a.jsonl",
        "fine-tune",
        jsonl(chat(USER | {"content": [TEXT]}, ASSISTANT)),
    ),
    (
        "11 images in chat",
        "a.jsonl",
        "fine-tune",
        jsonl(
            chat(
                USER | {"content": [IMAGE] * 6},
                ASSISTANT | {"content": []},
                USER | {"content": [IMAGE] * 5},
                ASSISTANT | {"content": [TEXT]},
            )
        ),
    ),
    ("no assistant", "a.jsonl", "fine-tune", jsonl(chat(SYSTEM, USER))),
    # Where the two SDKs part (README, "Dataset checks"): 3.1.1 passes these, 1.5.35 does not.
    ("role human", "a.jsonl", "fine-tune", jsonl(chat({"role": "human", "content": "x"}))),
    ("only blank lines", "a.jsonl", "fine-tune", b"\n  \n\t\n"),
    ("form feeds around a line", "a.jsonl", "fine-tune", b'\x0c{"text": "a"}\x0c\n'),
    ("no-break space before a line", "a.jsonl", "fine-tune", '\u00a0{"text": "a"}\n'.encode()),
    ("no format at all", "a.jsonl", "fine-tune", jsonl({"question": "q"}, {"text": "a"})),
    ("text int value", "a.jsonl", "fine-tune", jsonl({"text": 5})),
    ("completion null", "a.jsonl", "fine-tune", jsonl({"prompt": "p", "completion": None})),
    (
        "pref input str",
        "a.jsonl",
        "fine-tune",
        jsonl({"input": "x", "preferred_output": OK_OUT, "non_preferred_output": BAD_OUT}),
    ),
    (
        "pref input no messages",
        "a.jsonl",
        "fine-tune",
        jsonl({"input": {}, "preferred_output": OK_OUT, "non_preferred_output": BAD_OUT}),
    ),
    ("pref input empty", "a.jsonl", "fine-tune", jsonl(pref([], OK_OUT, BAD_OUT))),
    ("pref system only", "a.jsonl", "fine-tune", jsonl(pref([SYSTEM], OK_OUT, BAD_OUT))),
    (
        "pref last assistant",
        "a.jsonl",
        "fine-tune",
        jsonl(pref([USER, ASSISTANT], OK_OUT, BAD_OUT)),
    ),
    ("pref output str", "a.jsonl", "fine-tune", jsonl(pref([USER], "x", BAD_OUT))),
    ("pref output two", "a.jsonl", "fine-tune", jsonl(pref([USER], OK_OUT, BAD_OUT * 2))),
    ("pref output not dict", "a.jsonl", "fine-tune", jsonl(pref([USER], ["x"], BAD_OUT))),
    (
        "pref output no role",
        "a.jsonl",
        "fine-tune",
        jsonl(pref([USER], [{"content": "x"}], BAD_OUT)),
    ),
    ("pref output user", "a.jsonl", "fine-tune", jsonl(pref([USER], OK_OUT, [USER]))),
    (
        "pref output no content",
        "a.jsonl",
        "fine-tune",
        jsonl(pref([USER], [{"role": "assistant"}], BAD_OUT)),
    ),
    (
        "pref output content int",
        "a.jsonl",
        "fine-tune",
        jsonl(pref([USER], [{"role": "assistant", "content": 1}], BAD_OUT)),
    ),
    ("pref weights", "a.jsonl", "fine-tune", jsonl(pref([USER | {"weight": 1}], OK_OUT, BAD_OUT))),
    (
        "error after 3 lines",
        "a.jsonl",
        "fine-tune",
        jsonl({"text": "a"}, {"text": "b"}, {"text": "c"}, {"text": None}),
    ),
    ("not utf8", "a.jsonl", "fine-tune", b'{"text": "\xff"}\n'),
    ("not utf8 far", "a.jsonl", "fine-tune", jsonl({"text": "a" * 100}) * 100 + b"\xc3\x28\n"),
    ("utf8 beats json error", "a.jsonl", "fine-tune", b"{bad\n" + b"x" * 9000 + b"\xe2\x82\n"),
    ("truncated utf8 at end", "a.jsonl", "fine-tune", jsonl({"text": "a"}) + b"\xe2\x82"),
    ("multibyte across chunk", "a.jsonl", "fine-tune", jsonl({"text": "\u00e9" * 5000})),
    ("empty file", "a.jsonl", "fine-tune", b""),
    ("unknown extension", "a.txt", "fine-tune", jsonl({"text": "a"})),
    ("upper-case extension", "a.JSONL", "fine-tune", jsonl({"text": "a"})),
    ("csv for fine-tune", "a.csv", "fine-tune", b"a,b\n1,2\n"),
    ("eval any object", "a.jsonl", "eval", jsonl({"question": "q", "answer": [1]})),
    ("eval still json", "a.jsonl", "eval", jsonl({"q": 1}, [1])),
    ("csv eval ok", "a.csv", "eval", b'q,a\n"multi\nline",2\n3,4\n'),
    ("csv eval header only", "a.csv", "eval", b"q,a\n"),
    ("csv eval no header", "a.csv", "eval", b"\n\n"),
    ("csv eval extra field", "a.csv", "eval", b"q,a\n1,2\n1,2,3\n"),
    ("csv eval missing field", "a.csv", "eval", b"q,a\n1\n"),
    ("csv eval unterminated quote", "a.csv", "eval", b'q,a\n1,"open\n'),
    ("csv eval not utf8", "a.csv", "eval", b"q,a\n\xff,1\n"),
]

GOOD = jsonl(chat(SYSTEM, USER, ASSISTANT))
BLOCK = 2**20  # reader._BLOCK_SIZE


def across_block_edge(bad: bytes, edge_at: int) -> bytes:
    """Good lines, then ``bad`` placed so that the first block ends just before its byte
    ``edge_at``, then a good line."""
    empty = len(jsonl(chat(SYSTEM, USER, ASSISTANT | {"content": ""})))
    count = (BLOCK - edge_at - empty - 100) // len(GOOD)
    pad = BLOCK - edge_at - count * len(GOOD) - empty
    prefix = GOOD * count + jsonl(chat(SYSTEM, USER, ASSISTANT | {"content": "x" * pad}))
    assert len(prefix) == BLOCK - edge_at
    return prefix + bad + GOOD


def raw_jsonl(line: object) -> bytes:
    return json.dumps(line, ensure_ascii=False).encode() + b"\n"


EMOJI_LINE = raw_jsonl(chat(USER | {"content": "é€😀" * 40}, ASSISTANT))
EMOJI_EDGE = EMOJI_LINE.index("😀".encode()) + 2  # the block ends inside the emoji
TRUNCATED_LINE = jsonl(chat(USER, ASSISTANT)).replace(b"Hello", b"Hel\xe2\x82lo")
TRUNCATED_EDGE = TRUNCATED_LINE.index(b"\xe2") + 1
CRLF_LINE = GOOD.replace(b"\n", b"\r\n")
CR_LINE = GOOD.replace(b"\n", b"\r")
# Good lines and padding up to one byte before the SDK's 8 KiB decoding chunk ends.
AT_CHUNK_EDGE = GOOD * (8192 // len(GOOD)) + b"x" * (8192 % len(GOOD) - 1)


def conversation(*messages: bytes) -> bytes:
    """A conversation line written by hand, for JSON that ``json.dumps`` does not write."""
    return b'{"messages": [' + b", ".join(messages) + b"]}\n"


def user_says(raw_content: bytes, extra: bytes = b"") -> bytes:
    return b'{"role": "user", "content": ' + raw_content + extra + b"}"


REPLY = b'{"role": "assistant", "content": "b"}'
PREF = pref([USER], OK_OUT, BAD_OUT)
ASK = {"prompt": "p", "completion": "c"}


def fast(case_id: str, content: bytes, purpose: str = "fine-tune") -> tuple[str, str, str, bytes]:
    return (f"fast: {case_id}", "a.jsonl", purpose, content)


# The fast path's cases: most after a first good line, which decides the format.
FAST_PATH_CASES: list[tuple[str, str, str, bytes]] = [
    fast("conversations ok", GOOD * 50),
    fast("weights ok", GOOD + jsonl(chat(USER | {"weight": 0}, ASSISTANT | {"weight": 1}))),
    fast("weight true later", GOOD + jsonl(chat(USER, ASSISTANT | {"weight": True}))),
    fast("weight null later", GOOD + jsonl(chat(USER, ASSISTANT | {"weight": None}))),
    fast("weight -0", GOOD + conversation(user_says(b'"a"', b', "weight": -0'), REPLY)),
    fast(
        "weight huge", GOOD + conversation(user_says(b'"a"', b', "weight": 1' + b"0" * 25), REPLY)
    ),
    fast("weight 1e400", GOOD + conversation(user_says(b'"a"', b', "weight": 1e400'), REPLY)),
    fast("weight NaN", GOOD + conversation(user_says(b'"a"', b', "weight": NaN'), REPLY)),
    fast("content NaN", GOOD + conversation(user_says(b"NaN"))),
    fast("role twice later", GOOD + jsonl(chat(USER, USER, ASSISTANT))),
    fast("no assistant later", GOOD + jsonl(chat(SYSTEM, USER))),
    fast("extra key in message", GOOD + jsonl(chat(USER | {"name": "x"}, ASSISTANT))),
    fast(
        "duplicate role key",
        GOOD + conversation(b'{"role": "assistant", ' + user_says(b'"a"')[1:], REPLY),
    ),
    fast("duplicate messages key", GOOD + b'{"messages": [' + REPLY + b'], "messages": []}\n'),
    fast(
        "multimodal later",
        GOOD + jsonl(chat(USER | {"content": [TEXT, IMAGE]}, ASSISTANT | {"content": [TEXT]})),
    ),
    fast("lone surrogate", GOOD + conversation(user_says(b'"\\ud800"'), REPLY)),
    fast("control char", GOOD + conversation(user_says(b'"a\tb"'), REPLY)),
    fast(
        "escapes",
        GOOD + jsonl(chat(USER | {"content": 'a\nb\t"c"\\ \u00e9 \U0001f600'}, ASSISTANT)),
    ),
    fast("deep nesting", GOOD + b'{"messages": ' + b"[" * 500 + b"]" * 500 + b"}\n"),
    fast("not an object", GOOD + b"[1, 2]\n"),
    fast("a string", GOOD + b'"messages"\n'),
    fast("two objects on a line", GOOD + GOOD.rstrip(b"\n") + b" " + GOOD),
    fast("object across lines", GOOD + b'{"messages":\n[]}\n'),
    fast("blank line", GOOD + b"\n" + GOOD),
    fast("spaces line", GOOD + b"  \t\n" + GOOD),
    fast("padded line", GOOD + b"  " + GOOD.rstrip(b"\n") + b"\t\n"),
    fast("crlf", GOOD.replace(b"\n", b"\r\n") * 3),
    fast("lone cr", GOOD.replace(b"\n", b"\r") * 3),
    fast("cr blank", GOOD + b"\r" + GOOD),
    fast("trailing cr at end", GOOD + GOOD.rstrip(b"\n") + b"\n\r"),
    # A chunk of plain lines is decoded in one go as newline-delimited JSON; these must not be.
    fast(
        "value split over lines, ending in a brace",
        GOOD
        + GOOD.rstrip(b"\n")
        + b' {"messages": ['
        + user_says(b'"a"')
        + b"\n"
        + REPLY
        + b"]}\n",
    ),
    fast(
        "value split over lines, ending in a comma",
        GOOD + b'{"messages": [' + user_says(b'"a"') + b",\n" + REPLY + b"]}\n" + GOOD,
    ),
    fast("escaped key", GOOD + conversation(b'{"r\\u006fle": "user", "content": "a"}', REPLY)),
    fast(
        "multimodal among many",
        GOOD * 30
        + jsonl(chat(USER | {"content": [TEXT]}, ASSISTANT | {"content": [TEXT]}))
        + GOOD * 30,
    ),
    fast(
        "multimodal, then a rule broken",
        GOOD * 5
        + jsonl(chat(USER | {"content": [TEXT]}, ASSISTANT))
        + GOOD * 5
        + jsonl(chat(USER)),
    ),
    fast(
        "beyond Latin, and escaped",
        GOOD
        + raw_jsonl(chat(USER | {"content": "数据集" * 50}, ASSISTANT)) * 20
        + jsonl(chat(USER | {"content": "数据集" * 50}, ASSISTANT)) * 20
        + jsonl(chat(ASSISTANT, ASSISTANT)),
    ),
    fast("format switch", GOOD + jsonl({"text": "a"})),
    fast("general", jsonl({"text": "a"}) * 3 + jsonl({"text": "x", "id": 1})),
    fast("general content list", jsonl({"text": "a"}, {"text": [TEXT]}, {"text": 5})),
    fast("instruction", jsonl(ASK) * 3 + jsonl(ASK | {"completion": None})),
    fast("instruction image", jsonl(ASK, ASK | {"prompt": [IMAGE]}, ASK | {"completion": [IMAGE]})),
    fast("preference", jsonl(PREF) * 3),
    fast("preference weights", jsonl(PREF, pref([SYSTEM, USER | {"weight": 1}], OK_OUT, BAD_OUT))),
    fast("preference last assistant", jsonl(PREF, pref([USER, ASSISTANT], OK_OUT, BAD_OUT))),
    fast("preference two outputs", jsonl(PREF, pref([USER], OK_OUT * 2, BAD_OUT))),
    fast(
        "preference output extra", jsonl(PREF, pref([USER], [OK_OUT[0] | {"weight": 1}], BAD_OUT))
    ),
    fast("eval lines", jsonl({"q": "a"}, {"q": [1, {"image_url": "x"}]}, "nope"), "eval"),
    fast(
        "not utf8 after content error",
        GOOD + jsonl(chat(USER)) + GOOD * 20 + b'{"text": "\xc3\x28"}\n',
    ),
    fast("utf8 surrogate bytes", GOOD + conversation(user_says(b'"\xed\xa0\x80"'))),
    fast("utf8 in a role", GOOD + conversation(b'{"role": "us\xffer", "content": "a"}')),
    fast("utf8 in an extra key", GOOD + conversation(user_says(b'"a"', b', "n\xff": 1'), REPLY)),
    (
        "edge: crlf across block",
        "a.jsonl",
        "fine-tune",
        across_block_edge(CRLF_LINE, len(CRLF_LINE) - 1),
    ),
    (
        "edge: lone cr at block end",
        "a.jsonl",
        "fine-tune",
        across_block_edge(CR_LINE, len(CR_LINE)),
    ),
    ("edge: emoji across block", "a.jsonl", "fine-tune", across_block_edge(EMOJI_LINE, EMOJI_EDGE)),
    (
        "edge: bad utf8 across block",
        "a.jsonl",
        "fine-tune",
        across_block_edge(TRUNCATED_LINE, TRUNCATED_EDGE),
    ),
    (
        "edge: bad utf8 at 8 KiB chunk edge",
        "a.jsonl",
        "fine-tune",
        AT_CHUNK_EDGE + b"\xe2\x82\xac\xff\n",
    ),
    ("edge: blank line after block edge", "a.jsonl", "fine-tune", across_block_edge(b"\n", 0)),
    (
        "edge: rule broken past block edge",
        "a.jsonl",
        "fine-tune",
        across_block_edge(jsonl(chat(USER, USER)), 20),
    ),
]
CASES += FAST_PATH_CASES


@pytest.fixture(scope="module", params=list(SDKS))
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Any, Any]]:
    """Each case's (our sdk_report, the SDK's report) under one SDK's rules, computed once."""
    rules = request.param
    python, script = SDKS[rules]
    if not python.exists():
        pytest.skip(f"the together {rules} venv is missing ({python})")
    folder = tmp_path_factory.mktemp("sdk_cases")
    requests = []
    ours = {}
    for i, (case_id, name, purpose, content) in enumerate(CASES):
        case_dir = folder / f"case{i:03d}"
        case_dir.mkdir()
        (case_dir / name).write_bytes(content)
        relative = f"case{i:03d}/{name}"
        requests.append([relative, purpose])
        ours[case_id] = check_dataset(
            case_dir / name, purpose=purpose, filename=relative, rules=rules
        ).sdk_report()
    env = dict(os.environ, TOGETHER_NO_BANNER="1", PYTHONIOENCODING="utf-8")
    done = subprocess.run(
        [str(python), "-c", script],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    return {case_id: (ours[case_id], theirs[i]) for i, (case_id, *_rest) in enumerate(CASES)}


def test_there_are_enough_cases_and_their_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case_id", [case[0] for case in CASES])
def test_our_report_equals_the_sdk_report(
    reports: dict[str, tuple[dict[str, object], dict[str, object]]], case_id: str
) -> None:
    ours, theirs = reports[case_id]
    # Compare every key the SDK set (plus ours), restricted to the keys both can reproduce.
    keys = [key for key in COMPARED_KEYS if key in ours or key in theirs]
    assert {key: ours.get(key, "<absent>") for key in keys} == {
        key: theirs.get(key, "<absent>") for key in keys
    }
    assert set(ours) == set(theirs)
