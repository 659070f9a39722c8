"""The code under test in these tests: an application's fine-tuning helpers, which build their
own clients from the environment, as real code does. Nothing here knows about the simulator."""

from __future__ import annotations

from pathlib import Path

from together import AsyncTogether, Together

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def start_fine_tune(training_file: Path, suffix: str, n_epochs: int = 1) -> tuple[str, str]:
    """Upload the data and start a LoRA job; the job's id and its output model's name."""
    client = Together()
    upload = client.files.upload(training_file, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(
        training_file=upload.id, model=MODEL, suffix=suffix, n_epochs=n_epochs, lora=True
    )
    assert job.output_name is not None
    return job.id, job.output_name


def status_of(job_id: str) -> str:
    return str(Together().fine_tuning.retrieve(job_id).status)


def event_types(job_id: str) -> list[str]:
    return [str(e.type) for e in Together().fine_tuning.list_events(job_id).data or []]


def ask(model: str, question: str) -> str:
    reply = Together().chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}]
    )
    message = reply.choices[0].message
    assert message is not None
    return str(message.content)


async def ask_async(model: str, question: str) -> str:
    async with AsyncTogether() as client:
        reply = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}]
        )
    message = reply.choices[0].message
    assert message is not None
    return str(message.content)
