"""Bodies tapped on their way through the proxy: what stays in memory, what goes to disk, and
how each kind is written in a cassette."""

from __future__ import annotations

import asyncio
import hashlib
import json

from mock_server.record.bodies import Tap, parse_sse, render_sse, request_body, response_body
from mock_server.record.redact import Redactor

KEY = "tgp_v1_0123456789abcdef0123456789abcdef"


def test_sse_parses_json_data_and_renders_back_the_same_events():
    wire = (
        'data: {"id": "c1", "choices": [{"delta": {"content": "Hi"}}]}\n\n'
        ": keep-alive\n\n"
        "event: done\ndata: [DONE]\n\n"
    )

    events = parse_sse(wire)

    assert events == [
        {"data": {"id": "c1", "choices": [{"delta": {"content": "Hi"}}]}},
        {"event": "done", "data": "[DONE]"},
    ]
    assert parse_sse(render_sse(events).decode()) == events


def test_a_download_streams_to_disk_and_is_never_held_in_memory(tmp_path):
    tap = Tap(redactor=Redactor(), file=tmp_path / "0009-response.bin", memory_limit=0)
    chunks = [bytes([i]) * 65536 for i in range(8)]
    for chunk in chunks:
        tap.feed(chunk)

    tapped = tap.close(as_file=True)

    assert tapped.data is None
    assert tapped.file is not None and tapped.file.read_bytes() == b"".join(chunks)
    assert tapped.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()
    body = response_body("application/octet-stream", tapped, Redactor(), tmp_path)
    assert body == {
        "kind": "binary",
        "content_type": "application/octet-stream",
        "sha256": tapped.sha256,
        "size": 8 * 65536,
        "path": "0009-response.bin",
    }


def test_an_upload_over_the_limit_is_kept_as_its_hash_and_size_only(tmp_path):
    tap = Tap(redactor=Redactor(), file=tmp_path / "0002-request.bin", file_limit=10)
    tap.feed(b"0123456789ABCDEF")

    tapped = tap.close(as_file=True)

    assert tapped.file is None and not (tmp_path / "0002-request.bin").exists()
    assert tapped.note == "not kept: larger than 10 bytes"


def test_a_body_holding_a_remembered_credential_is_not_kept(tmp_path):
    redactor = Redactor()
    redactor.learn(f"Bearer {KEY}")
    tap = Tap(redactor=redactor, file=tmp_path / "0004-response.bin", memory_limit=0)
    tap.feed(b"header " + KEY[:10].encode())
    tap.feed(KEY[10:].encode() + b" trailer")  # split across chunks

    tapped = tap.close(as_file=True)

    assert tapped.file is None and not (tmp_path / "0004-response.bin").exists()
    assert tapped.note == "not kept: it contains a credential"


def test_json_is_parsed_and_its_secrets_redacted(tmp_path):
    tap = Tap(redactor=Redactor())
    tap.feed(json.dumps({"model": "m", "wandb_api_key": "wandb-123456"}).encode())

    body = response_body("application/json", tap.close(as_file=False), Redactor(), tmp_path)

    assert body == {"kind": "json", "json": {"model": "m", "wandb_api_key": "REDACTED"}}


def test_a_multipart_upload_becomes_its_fields_and_a_kept_file(tmp_path):
    data = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="train.jsonl"\r\n'
        b"Content-Type: application/jsonl\r\n\r\n"
        b'{"text": "hi"}\n\r\n'
        b"--XyZ--\r\n"
    )
    (tmp_path / "bodies").mkdir()
    tap = Tap(redactor=Redactor())
    tap.feed(data)

    body = asyncio.run(
        request_body(
            "multipart/form-data; boundary=XyZ",
            tap.close(as_file=False),
            Redactor(),
            tmp_path,
            stem=tmp_path / "bodies" / "0001-request.bin",
        )
    )

    content = b'{"text": "hi"}\n'
    assert body == {
        "kind": "multipart",
        "fields": {"purpose": "fine-tune"},
        "files": {
            "file": {
                "filename": "train.jsonl",
                "kind": "binary",
                "content_type": "application/jsonl",
                "sha256": hashlib.sha256(content).hexdigest(),
                "size": len(content),
                "path": "bodies/0001-request-file.bin",
            }
        },
    }
    assert (tmp_path / "bodies" / "0001-request-file.bin").read_bytes() == content
