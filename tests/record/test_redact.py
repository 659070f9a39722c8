"""What a cassette must never hold: secrets by name, and remembered secrets wherever they show."""

from __future__ import annotations

import pytest

from mock_server.record.redact import REDACTED, Redactor, is_secret_name

KEY = "tgp_v1_0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("x-api-key", True),
        ("Cookie", True),
        ("hf_api_token", True),
        ("wandb_api_key", True),
        ("wandbApiKey", True),
        ("password", True),
        ("client_secret", True),
        ("X-Amz-Signature", True),
        ("X-Amz-Credential", True),
        ("X-Amz-Security-Token", True),
        ("token", True),
        ("token_count", False),
        ("max_tokens", False),
        ("prompt_tokens", False),
        ("x-ratelimit-remaining-tokens", False),
        ("idempotency_key", False),
        ("key", False),
        ("file_id", False),
    ],
)
def test_names_that_hold_credentials_are_secret_and_counts_of_tokens_are_not(name, secret):
    assert is_secret_name(name) is secret


def test_a_key_learned_from_the_authorization_header_is_scrubbed_wherever_it_is_echoed():
    redactor = Redactor()
    redactor.learn_headers([("Authorization", f"Bearer {KEY}"), ("Accept", "application/json")])

    headers = redactor.headers([("Authorization", f"Bearer {KEY}"), ("X-Echo", f"key={KEY}")])
    body = redactor.json({"whoami": {"key": KEY, "note": f"you sent {KEY}"}, "n": 3})

    assert headers == {"authorization": f"Bearer {REDACTED}", "x-echo": f"key={REDACTED}"}
    assert body == {"whoami": {"key": REDACTED, "note": f"you sent {REDACTED}"}, "n": 3}
    assert redactor.contains_secret(f"...{KEY}...".encode())


def test_secret_json_fields_keep_their_place_and_lose_their_value():
    redactor = Redactor()
    create = {"model": "m", "wandb_api_key": "wandb-secret-1", "hf_api_token": "", "n_epochs": 1}
    redactor.learn_json(create)

    assert redactor.json(create) == {
        "model": "m",
        "wandb_api_key": REDACTED,
        "hf_api_token": "",
        "n_epochs": 1,
    }
    assert redactor.scrub("echo: wandb-secret-1") == f"echo: {REDACTED}"


def test_a_presigned_url_keeps_its_shape_with_its_signature_redacted():
    redactor = Redactor()

    url = redactor.url(
        "https://bucket.s3.amazonaws.com/u/file-1?X-Amz-Credential=AKIA%2F2026&X-Amz-Expires=900"
        "&X-Amz-Signature=deadbeef"
    )

    assert url == (
        "https://bucket.s3.amazonaws.com/u/file-1?X-Amz-Credential=REDACTED&X-Amz-Expires=900"
        "&X-Amz-Signature=REDACTED"
    )


def test_short_strings_are_not_taken_for_secrets():
    redactor = Redactor()
    redactor.learn("Bearer k")

    assert redactor.scrub("k is a letter") == "k is a letter"
