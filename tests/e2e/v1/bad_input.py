"""Bad input with SDK 1.5.35, run by ``test_sdk_v1_line`` under ``.venv-v1/bin/python`` against a
server that accepts only the key ``good``.

Usage: ``bad_input.py TRAINING_JSONL`` with ``TOGETHER_BASE_URL`` (ROOT/v1) in the environment.
Prints one JSON object mapping each mistake to the exception the SDK raised: class name, HTTP
status and message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from together import Together

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def raised(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        call()
    except Exception as exc:
        return {
            "class": type(exc).__name__,
            "http_status": getattr(exc, "http_status", None),
            "message": str(getattr(exc, "_message", exc)),
        }
    return {"class": None}


def main(training: str) -> dict[str, Any]:
    good, bad = Together(api_key="good"), Together(api_key="bad")
    return {
        "wrong_key_list": raised(lambda: bad.fine_tuning.list()),
        "wrong_key_upload": raised(lambda: bad.files.upload(training, purpose="fine-tune")),
        "unknown_file": raised(
            lambda: good.fine_tuning.create(
                training_file="file-does-not-exist", model=MODEL, lora=True
            )
        ),
        "unknown_job": raised(lambda: good.fine_tuning.retrieve("ft-does-not-exist")),
        "jobs_left": len(good.fine_tuning.list().data or []),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
