"""SDK 1.5.35's side of ``test_live_server``, run under ``.venv-v1/bin/python`` (1.5.x and 3.x
share the package name ``together``). It reads ``TOGETHER_API_KEY`` and ``TOGETHER_BASE_URL``
like any application, and prints JSON.

``start TRAINING_JSONL``: upload and create a job. ``finish JOB_ID``: its status, its event types
and a chat answer from its output model.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from together import Together


def _value(member: Any) -> Any:
    """An enum member's value (the SDK's models hold enums), anything else as it is."""
    return getattr(member, "value", member)


def start(training: str) -> dict[str, Any]:
    client = Together()
    upload = client.files.upload(training, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(
        training_file=upload.id, model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", lora=True
    )
    return {"job_id": job.id, "status": _value(job.status)}


def finish(job_id: str) -> dict[str, Any]:
    client = Together()
    job = client.fine_tuning.retrieve(job_id)
    events = client.fine_tuning.list_events(job_id).data or []
    chat = client.chat.completions.create(
        model=job.output_name, messages=[{"role": "user", "content": "Hello!"}]
    )
    return {
        "status": _value(job.status),
        "events": [_value(e.type) for e in events],
        "answer": chat.choices[0].message.content,
    }


if __name__ == "__main__":
    step = {"start": start, "finish": finish}[sys.argv[1]]
    print(json.dumps(step(sys.argv[2]), default=str))
