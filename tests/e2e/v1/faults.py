"""SDK 1.5.35 calls for ``test_faults_sdk_v1_line``, run under ``.venv-v1/bin/python`` against a
server with injected faults.

Usage: ``faults.py workflow TRAINING_JSONL`` (upload, create, retrieve, list events) or
``faults.py retrieve JOB_ID``, with ``TOGETHER_API_KEY`` and ``TOGETHER_BASE_URL`` (ROOT/v1) in
the environment. Prints one JSON object; an exception the SDK raises is printed as its class name
and ``http_status`` rather than a traceback, since which one it is is what the tests assert.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from together import Together

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def workflow(training: str) -> dict[str, Any]:
    client = Together()
    uploaded = client.files.upload(training, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(training_file=uploaded.id, model=MODEL, lora=True)
    retrieved = client.fine_tuning.retrieve(job.id)
    events = client.fine_tuning.list_events(job.id).data or []
    return {
        "upload": uploaded.model_dump(mode="json"),
        "create": job.model_dump(mode="json"),
        "retrieve": retrieved.model_dump(mode="json"),
        "events": [e.model_dump(mode="json") for e in events],
    }


def retrieve(job_id: str) -> dict[str, Any]:
    try:
        return {"job": Together().fine_tuning.retrieve(job_id).model_dump(mode="json")}
    except Exception as exc:  # the SDK's own exception class is what is asserted
        return {"raised": type(exc).__name__, "http_status": getattr(exc, "http_status", None)}


if __name__ == "__main__":
    command, argument = sys.argv[1], sys.argv[2]
    print(json.dumps(workflow(argument) if command == "workflow" else retrieve(argument)))
