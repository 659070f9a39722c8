"""The preview of an uploaded training file and a job's tokenized dataset over HTTP, on the manual
clock at the service's pace: what is previewed is the real file (its tokens as the file check
counted them) after the checks a create makes, and the archive is there once training starts."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest
import zstandard
from fastapi.testclient import TestClient

from tests.spec_calls import Api
from tests.steps import BASE_MODEL, KEY, QUICKSTART, advance, auth, create_job, jsonl, upload

PREVIEW = "POST /fine-tunes/preview"
TOKENIZED = "GET /fine-tunes/{id}/download-tokenized-dataset"
ROWS = QUICKSTART * 4  # 8 conversations


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def _preview(api: Api, training_file: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = api.call(
        PREVIEW, json={"model": BASE_MODEL, "training_file": training_file, **fields}
    )
    return body


def test_the_preview_tokenizes_the_first_rows_of_the_uploaded_file(
    client: TestClient, api: Api
) -> None:
    uploaded = upload(client, jsonl(ROWS))
    preview = _preview(api, uploaded["id"], top_k=3)
    assert (preview["model"], preview["dataset_format"], preview["train_on_inputs"]) == (
        BASE_MODEL,
        "conversation",
        False,
    )
    assert preview["max_seq_length"] == 131_072
    assert len(preview["rows"]) == 3
    first = preview["rows"][0]
    assert first["tokens"][:5] == [
        "<|begin_of_text|>",
        "<|start_header_id|>",
        "system",
        "<|end_header_id|>",
        "\n\n",
    ]
    trained = [
        t for t, label in zip(first["tokens"], first["labels"], strict=True) if label != -100
    ]
    assert "".join(trained) == "AI is artificial intelligence.<|eot_id|>"
    everything = _preview(api, uploaded["id"], top_k=3, train_on_inputs=True)["rows"][0]
    assert everything["num_trained_tokens"] == everything["num_tokens"] - 1


def test_the_previews_tokens_add_up_to_the_files_token_count(client: TestClient, api: Api) -> None:
    uploaded = upload(client, jsonl(ROWS))
    rows = _preview(api, uploaded["id"], top_k=50)["rows"]
    assert len(rows) == len(ROWS)
    template = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "\n\n"}
    template |= {"<|eot_id|>", "system", "user", "assistant"}
    content = sum(sum(1 for t in row["tokens"] if t not in template) for row in rows)
    assert content == uploaded["validation_report"]["token_count"]


def test_the_preview_makes_the_checks_a_create_makes(client: TestClient, api: Api) -> None:
    unknown = api.error(PREVIEW, 404, json={"model": BASE_MODEL, "training_file": "file-x"})
    assert unknown["param"] == "training_file"
    good = upload(client, jsonl(ROWS))["id"]
    model = api.error(PREVIEW, 404, json={"model": "acme/nothing", "training_file": good})
    assert model["param"] == "model"
    broken = upload(client, b'{"messages": []}\nnot json\n')["id"]
    invalid = client.post(
        "/v1/fine-tunes/preview",
        headers=auth(KEY),
        json={"model": BASE_MODEL, "training_file": broken},
    )
    # The spec's 400 for the preview is a flat body with a message: Together's fields, flat.
    assert invalid.status_code == 400
    assert invalid.json()["param"] == "training_file"
    assert "line 2" in invalid.json()["message"]
    preference = {
        "input": {"messages": [{"role": "user", "content": "Explain AI"}]},
        "preferred_output": [{"role": "assistant", "content": "AI is a field"}],
        "non_preferred_output": [{"role": "assistant", "content": "No"}],
    }
    dpo = upload(client, jsonl([preference]))["id"]
    refused = client.post(
        "/v1/fine-tunes/preview",
        headers=auth(KEY),
        json={"model": BASE_MODEL, "training_file": dpo},
    )
    assert (refused.status_code, refused.json()["param"]) == (400, "training_file")
    top_k = client.post(
        "/v1/fine-tunes/preview",
        headers=auth(KEY),
        json={"model": BASE_MODEL, "training_file": good, "top_k": 51},
    )
    assert (top_k.status_code, top_k.json()["param"]) == (400, "top_k")


def _archive(content: bytes) -> dict[str, bytes]:
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(content)).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = {m.name: tar.extractfile(m) for m in tar.getmembers()}
        return {name: f.read() for name, f in members.items() if f is not None}


def test_the_tokenized_dataset_is_downloadable_once_training_starts(
    client: TestClient, api: Api
) -> None:
    training = upload(client, jsonl(ROWS))["id"]
    validation = upload(client, jsonl(QUICKSTART))["id"]
    job = create_job(client, training, validation_file=validation, n_evals=1)
    early = api.error(TOKENIZED, 404, id=job["id"])
    assert (early["param"], "pending" in early["message"]) == ("id", True)
    advance(client, 10**6)
    found = api.call(TOKENIZED, id=job["id"])
    assert found["filename"] == f"{job['id']}-tokenized-dataset.tar.zst"
    served = client.get(found["url"].removeprefix("http://testserver"))  # signed: no key
    assert (served.status_code, len(served.content)) == (200, found["size"])
    members = _archive(served.content)
    assert sorted(members) == ["metadata.json", "train.jsonl", "validation.jsonl"]
    train = [json.loads(line) for line in members["train.jsonl"].splitlines()]
    assert len(train) == len(ROWS)
    preview = _preview(api, training, top_k=1)["rows"][0]
    assert (train[0]["input_ids"], train[0]["labels"]) == (preview["input_ids"], preview["labels"])
    metadata = json.loads(members["metadata.json"])
    assert metadata["examples"] == {"train.jsonl": len(ROWS), "validation.jsonl": len(QUICKSTART)}
    assert api.error(TOKENIZED, 404, id="ft-unknown")["param"] == "id"


def test_a_file_the_newest_rules_pass_is_previewed_as_it_is(client: TestClient, api: Api) -> None:
    # SDK 3.1.1's check_file passes a `human` turn and no assistant: nothing in it is trained.
    loose = upload(client, jsonl([{"messages": [{"role": "human", "content": "hi there"}]}]))
    assert loose["processing_status"] == "COMPLETED"
    [only] = _preview(api, loose["id"])["rows"]
    assert (only["num_trained_tokens"], only["trained_spans"]) == (0, [])
    # ... and a line of no format at all, which the preview cannot tokenize: a 400 naming it.
    formless = upload(client, jsonl([QUICKSTART[0], {"question": "?"}]))
    refused = client.post(
        "/v1/fine-tunes/preview",
        headers=auth(KEY),
        json={"model": BASE_MODEL, "training_file": formless["id"]},
    )
    assert (refused.status_code, refused.json()["param"]) == (400, "training_file")
    assert "Line 2" in refused.json()["message"]


def test_the_tokenized_dataset_skips_the_lines_of_no_format(client: TestClient, api: Api) -> None:
    training = upload(client, jsonl([*ROWS, {"question": "?"}]))["id"]
    job = create_job(client, training)
    advance(client, 10**6)
    found = api.call(TOKENIZED, id=job["id"])
    members = _archive(client.get(found["url"].removeprefix("http://testserver")).content)
    metadata = json.loads(members["metadata.json"])
    assert metadata["examples"] == {"train.jsonl": len(ROWS)}
    assert metadata["skipped_lines"] == {"train.jsonl": [len(ROWS) + 1]}
