"""``python -m mock_server.training.chat_worker``: chat and completions on real jobs' outputs.

A long-lived process that the server starts on the first request for a real job's output name
(``mock_server.real_training.chat``), so that the server itself never imports torch. It reads one
JSON request per line on stdin and answers each with one JSON line on stdout: the generated text and
token counts from the job's own tokenizer. Loaded models stay cached (``chat.load_chat_model``).
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

from mock_server.training.worker import report_stream

__all__ = ["main"]


def answer(request: dict[str, Any]) -> dict[str, Any]:
    from mock_server.training import chat

    args = {
        "model_dir": request["model_dir"],
        "adapter_dir": request.get("adapter_dir"),
        "max_new_tokens": int(request.get("max_tokens") or 128),
        "seed": int(request.get("seed") or 0),
        "stop": list(request.get("stop") or []),
    }
    if request.get("messages") is not None:
        result = chat.generate(messages=request["messages"], **args)
    else:
        result = chat.complete(text=str(request.get("prompt", "")), **args)
    return {
        "text": result.text,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "finish_reason": result.finish_reason,
    }


def main() -> int:
    out = report_stream()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = answer(json.loads(line))
        except Exception as exc:
            traceback.print_exc()
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
