"""The seed workflow with SDK 1.5.35, run by ``test_sdk_v1_line`` under ``.venv-v1/bin/python``.

Usage: ``workflow.py TRAINING_JSONL DOWNLOAD_PATH``, with ``TOGETHER_API_KEY`` and
``TOGETHER_BASE_URL`` (the server's ROOT/v1) in the environment. Against an instant-clock server
the job is completed by the first read. Prints one JSON object: what each call returned, dumped
through the SDK's own (strict) models, so a field the SDK rejects fails here with its traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from together import Together

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def main(training: str, download_to: str) -> dict[str, Any]:
    client = Together()
    uploaded = client.files.upload(training, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(
        training_file=uploaded.id,
        model=MODEL,
        train_on_inputs="auto",
        n_epochs=3,
        n_checkpoints=1,
        lora=True,
        warmup_ratio=0,
        learning_rate=1e-5,
        suffix="test1_8b",
    )
    retrieved = client.fine_tuning.retrieve(job.id)
    events = client.fine_tuning.list_events(job.id).data or []
    checkpoints = client.fine_tuning.list_checkpoints(job.id)
    downloaded = client.fine_tuning.download(job.id, output=download_to)
    chat = client.chat.completions.create(
        model=retrieved.output_name, messages=[{"role": "user", "content": "Hello!"}]
    )
    listed = client.fine_tuning.list().data or []
    deleted = client.fine_tuning.delete(job.id)
    return {
        "upload": uploaded.model_dump(mode="json"),
        "create": job.model_dump(mode="json"),
        "retrieve": retrieved.model_dump(mode="json"),
        "events": [e.model_dump(mode="json") for e in events],
        "checkpoints": [c.model_dump(mode="json") for c in checkpoints],
        "download": downloaded.model_dump(mode="json"),
        "chat": chat.model_dump(mode="json"),
        "list": [j.id for j in listed],
        "delete": deleted.model_dump(mode="json"),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
