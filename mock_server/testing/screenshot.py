"""``python -m mock_server.testing.screenshot``: draws ``docs/dashboard.png``, the README's
picture.

It stages a small day on a fresh simulator (a manual clock, so the picture is the same each run
but for the browser's fonts): an upload that meets an injected 429 and is retried by the 3.x SDK,
a LoRA job with a validation file trained to completion (60 steps, 6 evaluations, so the loss
curve has a shape), a second job left running, and a fault rule still in force. Then headless
Chromium (Debian's, never a downloaded one) opens the dashboard on the finished job.

Needs the ``test`` extra (``together``, ``playwright``) and ``/usr/bin/chromium``
(``make install`` or ``make screenshot`` installs it with apt-get).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from mock_server.testing.in_process import API_KEY, simulator_settings
from mock_server.testing.live import LiveSimulator, serve_in_thread

__all__ = ["CHROMIUM", "main", "stage_demo"]

CHROMIUM = "/usr/bin/chromium"
_TOPICS = ["refunds", "shipping", "passwords", "invoices", "upgrades", "returns", "outages", "APIs"]


def _conversations(count: int, offset: int = 0) -> list[dict[str, Any]]:
    rows = []
    for n in range(offset, offset + count):
        topic = _TOPICS[n % len(_TOPICS)]
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You are a concise support assistant."},
                    {"role": "user", "content": f"Question {n}: how do {topic} work here?"},
                    {"role": "assistant", "content": f"Answer {n}: {topic} are handled in app."},
                ]
            }
        )
    return rows


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def stage_demo(sim: LiveSimulator, work: Path) -> str:
    """The day the picture shows; returns the id of the finished job."""
    client = sim.client(max_retries=2)
    sim.faults.add(operation="POST /v1/files", status=429, retry_after_ms=100, times=1)
    train = client.files.upload(
        _write_jsonl(work / "support-train.jsonl", _conversations(160)),
        purpose="fine-tune",
        check=True,
    )
    valid = client.files.upload(
        _write_jsonl(work / "support-valid.jsonl", _conversations(24, offset=500)),
        purpose="fine-tune",
        check=True,
    )
    model = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    done = client.fine_tuning.create(
        training_file=train.id,
        validation_file=valid.id,
        model=model,
        lora=True,
        n_epochs=3,
        n_evals=6,
        n_checkpoints=3,
        batch_size=8,
        packing=False,
        suffix="support-bot",
        train_on_inputs="auto",
    )
    sim.run_until(done.id, "completed")
    sim.faults.add(
        path="/v1/fine-tunes/*/events", latency={"uniform": [0.05, 0.3]}, probability=0.5
    )
    running = client.fine_tuning.create(
        training_file=train.id,
        model=model,
        lora=True,
        batch_size=8,
        packing=False,
        suffix="nightly",
        train_on_inputs="auto",
    )
    sim.run_until(running.id, "running")
    sim.advance(30)
    return done.id


def shoot(url: str, out: Path, *, width: int = 1440, height: int = 1000) -> None:
    """Open ``url`` in headless Chromium, wait for the chart, save a full-page PNG."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            page.wait_for_selector("#train-line", state="attached")
            page.wait_for_function("document.getElementById('connection').dataset.state === 'live'")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mock_server.testing.screenshot")
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    parser.add_argument("--width", type=int, default=1440)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="together-sim-shot-") as tmp:
        work = Path(tmp)
        settings = simulator_settings(work / "data", seed=7)
        with serve_in_thread(settings) as sim:
            job_id = stage_demo(sim, work)
            url = f"{sim.base_url}/_sim/ui#tenant={sim.tenant_of(API_KEY)}&job={job_id}"
            shoot(url, args.out, width=args.width)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
