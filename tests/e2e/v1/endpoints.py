"""The dedicated-endpoint seed workflow with SDK 1.5.35, run by ``test_endpoints_sdk`` under
``.venv-v1/bin/python``: fine-tune, look up the hardware, deploy the output on an endpoint, chat
with it by its name, stop it, chat again (refused), delete it.

Usage: ``endpoints.py TRAINING_JSONL``, with ``TOGETHER_API_KEY`` and ``TOGETHER_BASE_URL`` (the
server's ROOT/v1) in the environment, against an instant-clock server: the job is completed by
its first read and the endpoint STARTED by its first read after the create, STOPPED by the first
after the stop. Prints one JSON object of what each call returned, dumped through the SDK's own
(strict) models, so a field the SDK rejects fails here with its traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from together import Together
from together.error import TogetherException

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
HELLO = [{"role": "user", "content": "Hello!"}]


def _error(call: Any) -> dict[str, Any]:
    try:
        call()
    except TogetherException as exc:
        return {"class": type(exc).__name__, "http_status": exc.http_status, "message": str(exc)}
    raise AssertionError("the call was expected to fail")


def main(training: str) -> dict[str, Any]:
    client = Together()
    uploaded = client.files.upload(training, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(
        training_file=uploaded.id, model=MODEL, lora=True, n_epochs=1, suffix="endpoint"
    )
    output = client.fine_tuning.retrieve(job.id).output_name
    assert output is not None
    hardware = client.endpoints.list_hardware(model=output)
    zones = client.endpoints.list_avzones()
    created = client.endpoints.create(
        display_name="My Fine-tuned Model",
        model=output,
        hardware="4x_nvidia_h100_80gb_sxm",
        min_replicas=1,
        max_replicas=1,
        disable_prompt_cache=False,
        availability_zone=zones[0],
    )
    started = client.endpoints.get(created.id)
    chat = client.chat.completions.create(model=started.name, messages=HELLO)
    direct = client.chat.completions.create(model=output, messages=HELLO)
    rescaled = client.endpoints.update(created.id, max_replicas=3)  # the SDK reads min first
    stopping = client.endpoints.update(created.id, state="STOPPED")
    stopped = client.endpoints.get(created.id)
    refused = _error(lambda: client.chat.completions.create(model=started.name, messages=HELLO))
    listed = client.endpoints.list(type="dedicated")
    client.endpoints.delete(created.id)
    return {
        "output_name": output,
        "hardware": [h.model_dump(mode="json") for h in hardware],
        "zones": zones,
        "create": created.model_dump(mode="json"),
        "started": started.model_dump(mode="json"),
        "chat": chat.model_dump(mode="json"),
        "direct": direct.model_dump(mode="json"),
        "rescaled": rescaled.model_dump(mode="json"),
        "stopping": stopping.state,
        "stopped": stopped.state,
        "refused": refused,
        "list": [e.model_dump(mode="json") for e in listed],
        "after_delete": _error(lambda: client.endpoints.get(created.id)),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
