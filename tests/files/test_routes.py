"""``/v1/files``: the three-step upload both SDK lines make, the >5 GiB multipart flow, the spec's
one-shot ``/files/upload``, and list, retrieve, content, delete."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.files import service as file_service
from mock_server.files.checks.check import check_dataset
from mock_server.settings import Settings
from tests.steps import BASE_MODEL, QUICKSTART, advance, auth, jsonl, upload

TRAIN = jsonl(QUICKSTART)
FILE_ID = re.compile(r"^file-[0-9a-f-]{36}$")


def _announce(client: TestClient, **fields: str) -> tuple[str, str]:
    form = {"purpose": "fine-tune", "file_name": "training_data.jsonl", "file_type": "jsonl"}
    form.update(fields)
    announced = client.post(
        "/v1/files",
        headers=auth(),
        files={k: (None, v) for k, v in form.items()},
        follow_redirects=False,
    )
    assert announced.status_code == 302, announced.text
    return announced.headers["x-together-file-id"], announced.headers["location"]


def _listed(client: TestClient) -> list[str]:
    listing = client.get("/v1/files", headers=auth())
    assert listing.status_code == 200
    return [f["id"] for f in listing.json()["data"]]


# -- the three-step upload ------------------------------------------------------------------------


def test_announcing_a_file_redirects_with_302_to_an_absolute_url(client: TestClient) -> None:
    announced = client.post(
        "/v1/files",
        headers=auth(),
        files={
            "purpose": (None, "fine-tune"),
            "file_name": (None, "training_data.jsonl"),
            "file_type": (None, "jsonl"),
            "checksum": (None, hashlib.sha256(TRAIN).hexdigest()),
        },
        follow_redirects=False,
    )
    assert announced.status_code == 302
    file_id = announced.headers["x-together-file-id"]
    assert FILE_ID.match(file_id)
    assert announced.headers["location"].startswith(f"http://testserver/_uploads/{file_id}?token=")


def test_the_put_takes_raw_bytes_without_auth_and_answers_200(client: TestClient) -> None:
    file_id, location = _announce(client)
    put = client.put(location, content=TRAIN)
    assert put.status_code == 200
    assert put.json() == {
        "id": file_id,
        "bytes": len(TRAIN),
        "sha256": hashlib.sha256(TRAIN).hexdigest(),
    }


def test_preprocess_returns_a_file_response_both_sdk_lines_accept(client: TestClient) -> None:
    file_id, location = _announce(client)
    client.put(location, content=TRAIN)
    processed = client.post(f"/v1/files/{file_id}/preprocess", headers=auth())
    assert processed.status_code == 200
    body = processed.json()
    report = body.pop("validation_report")
    assert body == {
        "id": file_id,
        "object": "file",
        "created_at": 1767225600,
        "filename": "training_data.jsonl",
        "bytes": len(TRAIN),
        "purpose": "fine-tune",
        "FileType": "jsonl",
        "type": "jsonl",
        "Processed": True,
        "processing_status": "COMPLETED",
        "line_count": 2,
    }
    # A passed check has no `error` at all: the August spec types it a string.
    assert "error" not in report and "error_type" not in report
    assert (report["valid"], report["dataset_format"], report["nlines"]) == (
        True,
        "conversation",
        2,
    )
    assert report["check"]["is_check_passed"] is True


def test_the_v1_sdk_announces_with_an_urlencoded_form(client: TestClient) -> None:
    announced = client.post(
        "/v1/files",
        headers=auth(),
        data={"purpose": "fine-tune", "file_name": "train.jsonl", "file_type": "jsonl"},
        follow_redirects=False,
    )
    assert announced.status_code == 302
    put = client.put(announced.headers["location"], content=TRAIN)
    assert put.status_code == 200
    file_id = announced.headers["x-together-file-id"]
    assert client.get(f"/v1/files/{file_id}", headers=auth()).json()["filename"] == "train.jsonl"


def test_a_bad_line_is_named_in_the_validation_report(client: TestClient) -> None:
    bad = TRAIN + b'{"messages": [oops\n'
    body = upload(client, bad)
    assert body["processing_status"] == "INVALID_FORMAT"
    report = body["validation_report"]
    assert report["valid"] is False
    assert report["line_number"] == 3
    assert report["error"] == "Error parsing json payload. Unexpected format on line 3."
    assert (report["error_type"], report["error_source"]) == ("INVALID_FORMAT", "load_json")


def test_under_the_1_5_35_rules_an_extra_column_is_reported_with_the_sdks_words(
    settings: Settings, clock: ManualClock
) -> None:
    app = create_app(settings.model_copy(update={"check_rules": "1.5.35"}), clock=clock)
    with TestClient(app) as client:
        report = upload(client, TRAIN + b'{"text": "x", "foo": 1}\n')["validation_report"]
    app.state.services.store.close()

    assert report["error"] == 'Found extra column "foo" in the line 3.'
    assert report["line_number"] == 3


def test_by_default_lines_3_1_1_passes_are_accepted_and_a_job_trains_on_them(
    client: TestClient,
) -> None:
    human = b'{"messages": [{"role": "human", "content": "Hi"}]}\n'
    no_assistant = b'{"messages": [{"role": "user", "content": "Hi"}]}\n'
    body = upload(client, human + no_assistant)

    created = client.post(
        "/v1/fine-tunes",
        headers=auth(),
        json={"training_file": body["id"], "model": BASE_MODEL},
    )

    assert (body["processing_status"], body["validation_report"]["valid"]) == ("COMPLETED", True)
    assert body["validation_report"]["dataset_format"] == "conversation"
    assert created.status_code == 200, created.text


def test_preprocessing_twice_gives_the_same_answer(client: TestClient) -> None:
    first = upload(client, TRAIN)
    again = client.post(f"/v1/files/{first['id']}/preprocess", headers=auth())
    assert again.json() == first


def test_a_file_deleted_while_it_is_being_checked_stays_deleted(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Preprocess runs in a worker thread, so a delete can land while the check reads the file:
    the check's verdict must not bring the record back (without its bytes)."""
    file_id, location = _announce(client)
    client.put(location, content=TRAIN)

    def deleted_meanwhile(path: Path, **given: Any) -> Any:
        report = check_dataset(path, **given)
        assert client.delete(f"/v1/files/{file_id}", headers=auth()).status_code == 200
        return report

    monkeypatch.setattr(file_service, "check_dataset", deleted_meanwhile)
    late = client.post(f"/v1/files/{file_id}/preprocess", headers=auth())
    assert late.status_code == 404
    assert _listed(client) == []


def test_a_checksum_mismatch_is_rejected_and_the_file_never_appears(client: TestClient) -> None:
    file_id, location = _announce(client, checksum="0" * 64)
    put = client.put(location, content=TRAIN)
    assert put.status_code == 400
    error = put.json()["error"]
    assert error["param"] == "checksum"
    assert error["message"] == (
        "Checksum mismatch for training_data.jsonl: the client announced "
        f"{'0' * 64}, the bytes received hash to {hashlib.sha256(TRAIN).hexdigest()}"
    )
    assert _listed(client) == []
    assert client.get(f"/v1/files/{file_id}", headers=auth()).status_code == 404


def test_an_announced_file_is_invisible_until_its_bytes_arrive(client: TestClient) -> None:
    file_id, location = _announce(client)
    assert _listed(client) == []
    assert client.get(f"/v1/files/{file_id}", headers=auth()).status_code == 404
    assert client.post(f"/v1/files/{file_id}/preprocess", headers=auth()).status_code == 404
    client.put(location, content=TRAIN)
    assert _listed(client) == [file_id]


def test_an_empty_put_is_rejected(client: TestClient) -> None:
    file_id, location = _announce(client)
    put = client.put(location, content=b"")
    assert put.status_code == 400
    assert put.json()["error"]["message"] == "File is empty"
    assert _listed(client) == []


def test_a_put_with_the_wrong_token_is_not_found(client: TestClient) -> None:
    file_id, _ = _announce(client)
    put = client.put(f"/_uploads/{file_id}?token=wrong", content=TRAIN)
    assert put.status_code == 404
    assert put.json()["error"]["message"] == f"No upload in progress for {file_id}"


def test_a_wrong_purpose_is_rejected_naming_purpose(client: TestClient) -> None:
    announced = client.post(
        "/v1/files",
        headers=auth(),
        data={"purpose": "training", "file_name": "train.jsonl"},
        follow_redirects=False,
    )
    assert announced.status_code == 400
    error = announced.json()["error"]
    assert error["param"] == "purpose"
    assert error["message"] == (
        "Invalid purpose 'training': must be one of fine-tune, eval, eval-sample, eval-output, "
        "eval-summary, batch-generated, batch-api"
    )


def test_a_missing_file_name_is_rejected(client: TestClient) -> None:
    announced = client.post("/v1/files", headers=auth(), data={"purpose": "fine-tune"})
    assert announced.status_code == 400
    assert announced.json()["error"]["param"] == "file_name"


# -- the spec's one-shot upload -------------------------------------------------------------------


def test_the_specs_one_shot_upload_stores_and_validates_the_file(client: TestClient) -> None:
    uploaded = client.post(
        "/v1/files/upload",
        headers=auth(),
        files={"file": ("training_data.jsonl", TRAIN)},
        data={"file_name": "training_data.jsonl", "purpose": "fine-tune"},
    )
    assert uploaded.status_code == 200
    body = uploaded.json()
    assert (body["filename"], body["bytes"], body["processing_status"]) == (
        "training_data.jsonl",
        len(TRAIN),
        "COMPLETED",
    )
    assert _listed(client) == [body["id"]]


def test_the_one_shot_upload_needs_the_file_part(client: TestClient) -> None:
    uploaded = client.post(
        "/v1/files/upload",
        headers=auth(),
        # multipart, as the spec documents the body, with no file part
        files={"file_name": (None, "training_data.jsonl"), "purpose": (None, "fine-tune")},
    )
    assert uploaded.status_code == 400
    assert uploaded.json()["error"]["param"] == "file"


# -- multipart ------------------------------------------------------------------------------------


def test_a_multipart_upload_goes_initiate_parts_complete(client: TestClient) -> None:
    halves = [TRAIN[:50], TRAIN[50:]]
    initiated = client.post(
        "/v1/files/multipart/initiate",
        headers=auth(),
        json={
            "file_name": "big.jsonl",
            "file_size": len(TRAIN),
            "num_parts": 2,
            "purpose": "fine-tune",
            "file_type": "jsonl",
        },
    )
    assert initiated.status_code == 200
    body = initiated.json()
    assert [(p["PartNumber"], p["part_number"]) for p in body["parts"]] == [(1, 1), (2, 2)]
    etags = []
    for part, data in zip(body["parts"], halves, strict=True):
        assert part["URL"] == part["UploadURL"]
        put = client.put(part["URL"], content=data)
        assert put.status_code == 200
        assert put.headers["etag"] == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
        etags.append({"part_number": part["PartNumber"], "etag": put.headers["etag"]})
    assert _listed(client) == []
    completed = client.post(
        "/v1/files/multipart/complete",
        headers=auth(),
        json={"upload_id": body["upload_id"], "file_id": body["file_id"], "parts": etags},
    )
    assert completed.status_code == 200
    file = completed.json()["file"]
    assert (file["id"], file["bytes"], file["filename"]) == (
        body["file_id"],
        len(TRAIN),
        "big.jsonl",
    )
    content = client.get(f"/v1/files/{body['file_id']}/content", headers=auth())
    assert content.content == TRAIN


def test_a_multipart_completion_with_a_wrong_etag_is_rejected(client: TestClient) -> None:
    initiated = client.post(
        "/v1/files/multipart/initiate",
        headers=auth(),
        json={"file_name": "big.jsonl", "file_size": len(TRAIN), "num_parts": 1},
    ).json()
    client.put(initiated["parts"][0]["URL"], content=TRAIN)
    completed = client.post(
        "/v1/files/multipart/complete",
        headers=auth(),
        json={
            "upload_id": initiated["upload_id"],
            "file_id": initiated["file_id"],
            "parts": [{"PartNumber": 1, "ETag": '"00"'}],
        },
    )
    assert completed.status_code == 400
    assert completed.json()["error"]["message"] == (
        "ETag of part 1 does not match the bytes received"
    )
    assert _listed(client) == []


def test_an_aborted_multipart_upload_leaves_nothing(client: TestClient) -> None:
    initiated = client.post(
        "/v1/files/multipart/initiate",
        headers=auth(),
        json={"file_name": "big.jsonl", "file_size": len(TRAIN), "num_parts": 1},
    ).json()
    client.put(initiated["parts"][0]["URL"], content=TRAIN)
    ids = {"upload_id": initiated["upload_id"], "file_id": initiated["file_id"]}
    aborted = client.post("/v1/files/multipart/abort", headers=auth(), json=ids)
    assert aborted.status_code == 200
    assert aborted.json() == {**ids, "aborted": True}
    completed = client.post(
        "/v1/files/multipart/complete", headers=auth(), json={**ids, "parts": []}
    )
    assert completed.status_code == 404
    assert _listed(client) == []


# -- list, retrieve, content, delete --------------------------------------------------------------


def test_content_returns_the_uploaded_bytes(client: TestClient) -> None:
    file_id = upload(client, TRAIN)["id"]
    content = client.get(f"/v1/files/{file_id}/content", headers=auth())
    assert content.status_code == 200
    assert content.content == TRAIN
    assert content.headers["content-type"] == "application/octet-stream"


def test_list_and_retrieve_show_the_processed_record(client: TestClient) -> None:
    first = upload(client, TRAIN)
    advance(client, 1)  # files are listed oldest first
    second = upload(client, TRAIN, name="validation.jsonl")
    listing = client.get("/v1/files", headers=auth()).json()
    assert listing["object"] == "list"
    assert [f["id"] for f in listing["data"]] == [first["id"], second["id"]]
    assert client.get(f"/v1/files/{first['id']}", headers=auth()).json() == first


def test_delete_answers_what_the_v1_sdk_requires_and_the_file_is_gone(
    client: TestClient,
) -> None:
    file_id = upload(client, TRAIN)["id"]
    deleted = client.delete(f"/v1/files/{file_id}", headers=auth())
    assert deleted.status_code == 200
    assert deleted.json() == {"id": file_id, "object": "file", "deleted": True}
    assert client.get(f"/v1/files/{file_id}", headers=auth()).status_code == 404
    assert client.get(f"/v1/files/{file_id}/content", headers=auth()).status_code == 404
    assert client.delete(f"/v1/files/{file_id}", headers=auth()).status_code == 404


def test_deleting_a_file_deletes_its_bytes(app: FastAPI, client: TestClient) -> None:
    file_id = upload(client, TRAIN)["id"]
    blobs = app.state.services.blobs
    assert blobs.read_bytes(file_id) == TRAIN
    assert client.delete(f"/v1/files/{file_id}", headers=auth()).status_code == 200
    assert not blobs.exists(file_id)


def test_files_belong_to_the_key_that_uploaded_them(client: TestClient) -> None:
    file_id = upload(client, TRAIN)["id"]
    assert client.get(f"/v1/files/{file_id}", headers=auth("other-key")).status_code == 404
    assert client.get("/v1/files", headers=auth("other-key")).json()["data"] == []


def test_a_client_that_posts_the_bytes_to_v1_files_gets_the_file_at_once(
    client: TestClient,
) -> None:
    posted = client.post(
        "/v1/files",
        headers=auth(),
        files={"file": ("training_data.jsonl", TRAIN)},
        data={"purpose": "fine-tune"},
        follow_redirects=False,
    )
    assert posted.status_code == 200
    body = posted.json()
    assert (body["filename"], body["bytes"], body["processing_status"]) == (
        "training_data.jsonl",
        len(TRAIN),
        "COMPLETED",
    )
    assert _listed(client) == [body["id"]]
