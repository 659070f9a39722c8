"""Cancelling a running job with SDK 1.5.35, run by ``test_sdk_v1_line`` under
``.venv-v1/bin/python`` against a manual-clock server.

Usage: ``cancel.py TRAINING_JSONL``, with ``TOGETHER_API_KEY`` and ``TOGETHER_BASE_URL`` (the
server's ROOT/v1) in the environment. The simulator's clock is moved through its ``/_sim/advance``
control, which is no part of the Together API. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import requests
from together import Together

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def advance(seconds: float) -> None:
    root = os.environ["TOGETHER_BASE_URL"].removesuffix("/v1")
    requests.post(f"{root}/_sim/advance", json={"seconds": seconds}, timeout=30).raise_for_status()


def main(training: str) -> dict[str, Any]:
    client = Together()
    uploaded = client.files.upload(training, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(training_file=uploaded.id, model=MODEL, lora=True)
    advance(31)
    running = client.fine_tuning.retrieve(job.id)
    cancelled = client.fine_tuning.cancel(job.id)
    advance(5)
    final = client.fine_tuning.retrieve(job.id)
    try:
        client.fine_tuning.cancel(job.id)
        again = "accepted"
    except Exception as exc:  # the SDK's own exception class is what is asserted
        again = f"{type(exc).__name__}: {getattr(exc, 'http_status', None)}"
    events = client.fine_tuning.list_events(job.id).data or []
    return {
        "running": running.model_dump(mode="json")["status"],
        "cancel": cancelled.model_dump(mode="json")["status"],
        "final": final.model_dump(mode="json")["status"],
        "cancel_again": again,
        "event_types": [e.model_dump(mode="json")["type"] for e in events],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
