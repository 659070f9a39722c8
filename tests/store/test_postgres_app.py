"""The whole simulator on PostgreSQL (``--database-url``): SDK 3.1.1 runs the seed workflow
(seeds/000: check and upload, create the LoRA quickstart job, poll it to completed, its events,
checkpoints and adapter download) against ``create_app`` in process, as
``tests/e2e/test_sdk_v2_line.py`` does against SQLite, and every record is in the database: none
in the data dir, and a restart on the same database finds the job where it was."""

from __future__ import annotations

from pathlib import Path

from mock_server.testing.in_process import Simulator, simulator_settings
from mock_server.testing.postgres import Cluster
from tests.e2e.conftest import QUICKSTART, write_jsonl
from tests.e2e.test_sdk_v2_line import QUICKSTART_EVENTS, _seed_lora_job, _untar_zst, _upload


def test_the_sdk_3_seed_workflow_runs_on_postgresql(
    postgres_cluster: Cluster, tmp_path: Path
) -> None:
    import psycopg

    url = postgres_cluster.create_database()
    settings = simulator_settings(tmp_path / "data", database_url=url)
    training = write_jsonl(tmp_path / "training_data.jsonl", QUICKSTART)

    with Simulator(settings) as sim:
        client = sim.client()
        training_file = _upload(client, training)
        job = _seed_lora_job(client, training_file)
        assert job.status == "pending"

        seen = []
        for seconds in (5, 25, 30, 45, 60):  # queued at 5 s, running at 30, compressing at 59...
            sim.advance(seconds)
            seen.append(client.fine_tuning.retrieve(job.id).status)
        assert seen == ["queued", "running", "compressing", "uploading", "completed"]

        events = client.fine_tuning.list_events(job.id).data
        assert [e.type for e in events] == QUICKSTART_EVENTS
        checkpoints = client.fine_tuning.list_checkpoints(job.id).data
        assert [(c.checkpoint_type, c.step) for c in checkpoints] == [
            ("Final Merged", 3),
            ("Final Adapter", 3),
        ]
        adapter = _untar_zst(client.fine_tuning.content(ft_id=job.id, checkpoint="adapter").read())
        assert sorted(adapter) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]

    assert not (tmp_path / "data" / "together-sim.sqlite3").exists()
    with psycopg.connect(url) as db:
        assert db.execute("SELECT status FROM jobs WHERE id = %s", (job.id,)).fetchall() == [
            ("completed",)
        ]
        [(count,)] = db.execute("SELECT count(*) FROM events WHERE job_id = %s", (job.id,))
        assert count == len(QUICKSTART_EVENTS)
        [(file_id,)] = db.execute("SELECT id FROM files").fetchall()
        assert file_id == training_file

    with Simulator(settings) as restarted:  # the same database and data dir (its tenant secret)
        again = restarted.client().fine_tuning.retrieve(job.id)
        assert (again.status, again.x_model_output_name) == ("completed", job.output_name)
