"""The dashboard in a real headless Chromium (Debian's, at /usr/bin/chromium, driven by Playwright
by path: no browser is ever downloaded), against a live simulator on the manual clock.

A user creates a job with SDK 3.1.1, opens the simulator's root in a browser, sees the job
running, then, as the clock moves, sees it complete with its loss curve, its events and a fault
that one of its requests met, without reloading the page.

Without /usr/bin/chromium (``make install`` gets it with apt-get, which needs root) the test is
skipped and says so; on CI, where it must run, it fails instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from together import Together

from mock_server.core.tenancy import Tenancy
from mock_server.settings import ClockMode, Settings

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
STEPS = 16  # 64 conversations, batch 8, no packing: 8 steps an epoch, 2 epochs


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} is missing: `make install` installs Debian's chromium with apt-get "
            "(as root); the dashboard's browser test needs it"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, manual_server: Any) -> Iterator[Any]:
    """A tab, closed before the server stops: its live stream lasts as long as the tab, and a
    server in a thread has no signal handler through which sse-starlette would see it stop."""
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield tab
    tab.close()


def _jsonl(path: Path, count: int) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {n}?"},
                {"role": "assistant", "content": f"Answer {n}."},
            ]
        }
        for n in range(count)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_the_dashboard_follows_a_job_from_running_to_its_loss_curve(
    manual_server: Any, page: Any, api_key: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    client = Together(api_key=api_key, base_url=manual_server.root)
    train = client.files.upload(_jsonl(tmp_path / "train.jsonl", 64), purpose="fine-tune")
    valid = client.files.upload(_jsonl(tmp_path / "valid.jsonl", 16), purpose="fine-tune")
    job = client.fine_tuning.create(
        training_file=train.id, validation_file=valid.id, model=MODEL, lora=True, n_epochs=2,
        n_evals=4, batch_size=8, packing=False, suffix="dashboard",
    )  # fmt: skip
    manual_server.advance(60)  # training from 50 s, 3 s a step: running, 3 steps in

    page.goto(manual_server.root + "/")  # a browser at the root is sent to the dashboard
    assert page.url.endswith("/_sim/ui")
    row = page.locator(f'#jobs tr[data-job="{job.id}"]')
    expect(row.locator(".badge")).to_have_text("running")
    expect(row.locator("progress")).to_have_attribute("aria-label", f"3 of {STEPS} steps")
    expect(page.locator("#tenant")).to_have_value(
        Tenancy.in_data_dir(manual_server.settings.data_dir).tenant_of(api_key)
    )
    expect(page.locator("#files tbody tr")).to_have_count(2)
    expect(page.locator("#connection")).to_have_text("live")

    # A fault the SDK meets and retries through, while the page stays open.
    rule = {"id": "flaky-list", "operation": "GET /v1/fine-tunes", "status": 503, "times": 1}
    manual_server.sim("POST", "/faults", rule)
    assert [j.id for j in client.fine_tuning.list().data] == [job.id]
    manual_server.advance(600)

    expect(row.locator(".badge")).to_have_text("completed")
    points = httpx.get(
        f"{manual_server.root}/v1/fine-tunes/{job.id}/metrics",
        headers={"Authorization": f"Bearer {api_key}"},
    ).json()["metrics"]
    final_train = points[-1]["train/loss"]
    final_eval = [p["eval/loss"] for p in points if "eval/loss" in p][-1]
    expect(page.locator("#chart-summary")).to_have_text(
        f"Last values: train/loss {final_train:.4f} at step {STEPS} ({STEPS} points); "
        f"eval/loss {final_eval:.4f} at step {STEPS} (4 evaluations)."
    )
    drawn = page.locator("#train-line")
    assert drawn.get_attribute("d").count("L") + 1 == STEPS
    box = drawn.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 50
    expect(page.locator("#chart .eval-points circle")).to_have_count(4)
    statuses = page.locator("#timeline li").evaluate_all(
        "items => items.map(i => i.dataset.status)"
    )
    assert statuses == ["pending", "queued", "running", "compressing", "uploading", "completed"]

    events = client.fine_tuning.list_events(job.id).data
    expect(page.locator("#events tbody tr")).to_have_count(len(events))
    expect(page.locator("#events tbody tr").first).to_contain_text("job_complete")
    expect(page.locator("#checkpoints tbody tr")).to_have_count(
        len(client.fine_tuning.list_checkpoints(job.id).data)
    )

    journal = page.locator("#journal tbody tr")
    expect(journal).to_have_count(1)
    expect(journal.first).to_contain_text("GET /v1/fine-tunes")
    expect(journal.first).to_contain_text("flaky-list")
    expect(journal.first).to_contain_text("status 503")
    fault = page.locator("#faults tbody tr")
    expect(fault).to_have_count(1)
    expect(fault.locator("td")).to_have_text(
        ["flaky-list", "GET /v1/fine-tunes", "503", "1", "1", "0"]
    )


def test_on_a_keyed_simulator_the_page_signs_in_and_shows_only_its_tenant(
    browser: Any, tmp_path: Path
) -> None:
    """Started with keys, the page asks for one; a tenant's key shows that tenant alone, and the
    live stream (an EventSource, which cannot send a header) runs on the sign-in's cookie."""
    from playwright.sync_api import expect

    from tests.e2e.conftest import serve_in_thread

    settings = Settings(
        data_dir=tmp_path / "sim-data", clock=ClockMode.manual, speed=1.0, seed=1234,
        api_keys=["sk-a", "sk-b"], admin_key="sk-admin", spec=None, trainer="synthetic",
        progress=False,
    )  # fmt: skip
    with serve_in_thread(settings) as server:
        for key, name in (("sk-a", "mine.jsonl"), ("sk-b", "theirs.jsonl")):
            with Together(api_key=key, base_url=server.root) as client:
                client.files.upload(_jsonl(tmp_path / name, 8), purpose="fine-tune")
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            tab.goto(server.root + "/_sim/ui")
            expect(tab.locator("#sign-in")).to_be_visible()
            expect(tab.locator("#connection")).to_have_text("key needed")
            tab.fill("#sign-in-key", "sk-guess")
            tab.click("#sign-in button")
            expect(tab.locator("#sign-in-error")).to_contain_text("Invalid API key")

            tab.fill("#sign-in-key", "sk-a")
            tab.click("#sign-in button")
            expect(tab.locator("#sign-in")).to_be_hidden()
            expect(tab.locator("#connection")).to_have_text("live")
            mine = Tenancy.in_data_dir(settings.data_dir).tenant_of("sk-a")
            expect(tab.locator("#tenant option")).to_have_count(1)
            expect(tab.locator("#tenant")).to_have_value(mine)
            expect(tab.locator("#files tbody tr")).to_have_count(1)
            expect(tab.locator("#files tbody")).to_contain_text("mine.jsonl")
        finally:
            tab.close()
