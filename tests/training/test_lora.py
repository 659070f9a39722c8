"""The real training loop on the "micro" model, on the CPU: the loss falls, the adapter reloads and
changes what the model says, the schedule is the server's, runs are reproducible and resumable,
cancellation is prompt, a run can start from another's adapter, and DPO widens the preference
margin."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import torch
from peft import PeftModel

from mock_server.training import batch, chat, data, dpo, models
from mock_server.training.config import TrainConfig
from mock_server.training.lora import train
from mock_server.training.reports import StepReport, TrainResult
from tests.training.rows import chat_rows, preference_rows

pytestmark = pytest.mark.train

QUESTION = [{"role": "user", "content": "What is the capital of Peru?"}]

SFT = TrainConfig(
    base_model_name="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    learning_rate=3e-3,
    n_epochs=2,
    batch_size=8,
    packing=False,
    warmup_ratio=0.1,
    min_lr_ratio=0.1,
    n_evals=3,
    n_checkpoints=3,
    save_merged=True,
)


class Run:
    def __init__(self, result: TrainResult, steps: list[StepReport], events: list[Any]) -> None:
        self.result, self.steps, self.events = result, steps, events


@pytest.fixture(scope="module")
def sft(tmp_path_factory: pytest.TempPathFactory) -> Run:
    steps: list[StepReport] = []
    events: list[Any] = []
    result = train(
        SFT,
        chat_rows(240),
        chat_rows(24, seed=1),
        out_dir=tmp_path_factory.mktemp("sft"),
        on_step=steps.append,
        on_eval=events.append,
        on_checkpoint=events.append,
    )
    return Run(result, steps, events)


def test_the_loss_falls_on_a_tiny_job(sft: Run) -> None:
    losses = sft.result.losses
    assert len(losses) == sft.result.total_steps == 60  # 240 rows / 8 = 30 steps, two epochs
    assert mean(losses[-10:]) < mean(losses[:10]) - 1.0
    evals = dict(sft.result.eval_losses)
    assert list(evals) == [20, 40, 60]
    assert evals[60] < evals[20] < losses[0]


def test_step_reports_count_steps_tokens_and_epochs(sft: Run) -> None:
    assert [r.step for r in sft.steps] == list(range(1, 61))
    assert {r.total_steps for r in sft.steps} == {60}
    assert sft.steps[29].epoch == 1.0 and sft.steps[-1].epoch == 2.0
    assert all(r.tokens > 0 and r.tokens_per_s > 0 and r.grad_norm > 0 for r in sft.steps)
    assert sum(r.tokens for r in sft.steps) == sft.result.token_count


def test_the_learning_rate_of_every_step_is_the_servers_schedule(sft: Run) -> None:
    schedule = SFT.schedule(60)
    assert schedule.warmup_steps == 6
    assert [r.lr for r in sft.steps] == [schedule.lr_at(s - 1) for s in range(1, 61)]


def test_evaluations_and_checkpoints_are_spread_and_reported(sft: Run) -> None:
    kinds = [(type(e).__name__, e.step) for e in sft.events]
    assert kinds == [
        ("EvalReport", 20),
        ("CheckpointReport", 20),
        ("EvalReport", 40),
        ("CheckpointReport", 40),
        ("EvalReport", 60),
    ]
    for c in sft.result.checkpoints:
        names = {p.name for p in c.path.iterdir()}
        assert {"adapter_model.safetensors", "adapter_config.json", "trainer_state.pt"} <= names


def test_the_final_adapter_loads_offline_as_is_and_as_its_readme_says(
    sft: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    adapter = sft.result.adapter_dir
    assert adapter is not None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no model hub: the base must be found locally
    monkeypatch.chdir(tmp_path)  # from anywhere, not only beside the job's folder
    ids = torch.tensor([[1, 2, 3, 4]])

    as_is = AutoPeftModelForCausalLM.from_pretrained(str(adapter))
    card = (adapter / "README.md").read_text()
    assert 'AutoPeftModelForCausalLM.from_pretrained("PATH/TO/THIS/FOLDER")' in card
    elsewhere = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(sft.result.base_dir)), str(adapter)
    )
    assert 'model = PeftModel.from_pretrained(base, "PATH/TO/THIS/FOLDER")' in card

    with torch.no_grad():
        assert torch.equal(as_is(ids).logits, elsewhere(ids).logits)


def test_the_final_adapter_is_a_peft_adapter_for_the_named_base(sft: Run) -> None:
    adapter = sft.result.adapter_dir
    assert adapter is not None
    assert {"adapter_model.safetensors", "adapter_config.json"} <= {
        p.name for p in adapter.iterdir()
    }
    config = json.loads((adapter / "adapter_config.json").read_text())
    base_dir = str(sft.result.base_dir.resolve())
    assert config["base_model_name_or_path"] == base_dir  # the stand-in, where it lies
    card = (adapter / "README.md").read_text()
    assert f"base_model: {base_dir}" in card
    assert f"for\n`{SFT.base_model_name}`" in card  # the Together model it stands in for
    assert (config["r"], config["lora_alpha"]) == (8, 16)
    assert sorted(config["target_modules"]) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


def test_the_reloaded_adapter_matches_the_trained_model_and_changes_the_answer(sft: Run) -> None:
    base_dir, adapter, merged = sft.result.base_dir, sft.result.adapter_dir, sft.result.merged_dir
    assert adapter is not None and merged is not None
    # merged_dir holds the in-memory trained model (merge_and_unload); the adapter reloads from disk
    base, tok = models.load_base(base_dir)
    reloaded = PeftModel.from_pretrained(base, adapter).eval()
    trained, _ = models.load_base(merged)
    ids = tok(data.render_prompt(QUESTION), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**ids).logits, trained(**ids).logits)

    answer = chat.generate(base_dir, adapter, QUESTION, max_new_tokens=24)
    assert answer == chat.generate(merged, None, QUESTION, max_new_tokens=24)
    chat.load_chat_model.cache_clear()
    assert answer == chat.generate(base_dir, adapter, QUESTION, max_new_tokens=24)
    assert answer.text != chat.generate(base_dir, None, QUESTION, max_new_tokens=24).text
    assert answer.text.startswith("The capital of")
    assert answer.prompt_tokens == ids["input_ids"].shape[1]


def test_packed_rows_score_each_example_as_if_it_were_alone(sft: Run) -> None:
    model, tok = models.load_base(sft.result.base_dir)
    examples = data.build_examples(chat_rows(12), tok, max_length=128)
    packed = data.pack(examples, 128)
    pad = int(tok.pad_token_id)

    def logps(rows: list[data.TrainRow]) -> torch.Tensor:
        b = batch.collate(rows, pad)
        with torch.no_grad():
            logps, _ = dpo.sequence_logps(batch.forward(model, b), b["labels"])
        return logps

    alone = torch.cat([logps(data.unpacked([e])) for e in examples])
    assert len(packed) < len(examples)
    torch.testing.assert_close(logps(data.unpacked(examples)), alone)  # padding changes nothing
    sizes = [r.position_ids.count(0) for r in packed]
    torch.testing.assert_close(
        logps(packed), torch.stack([s.sum() for s in torch.split(alone, sizes)])
    )


# -- reproducibility, cancellation, resume ---------------------------------------------------------

SHORT = TrainConfig(
    max_steps=12,
    batch_size=4,
    max_seq_length=64,
    lora_dropout=0.1,  # so that the restored RNG state matters
    n_checkpoints=2,
    warmup_ratio=0.2,
    lr_scheduler_type="linear",
    random_seed=3,
)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train(SHORT, chat_rows(48), out_dir=tmp_path_factory.mktemp("whole"))


def test_the_same_seed_gives_identical_losses(uninterrupted: TrainResult, tmp_path: Path) -> None:
    again = train(SHORT, chat_rows(48), out_dir=tmp_path)
    assert again.losses == uninterrupted.losses
    other = train(
        TrainConfig(**{**SHORT.__dict__, "random_seed": 4}), chat_rows(48), out_dir=tmp_path / "b"
    )
    assert other.losses != uninterrupted.losses


def test_should_stop_ends_the_run_before_the_next_step_and_resume_reproduces_the_curve(
    uninterrupted: TrainResult, tmp_path: Path
) -> None:
    seen: list[StepReport] = []
    stopped = train(
        SHORT,
        chat_rows(48),
        out_dir=tmp_path,
        on_step=seen.append,
        should_stop=lambda: len(seen) >= 8,
    )
    assert stopped.stopped and stopped.steps_completed == 8 and [r.step for r in seen][-1] == 8
    assert stopped.adapter_dir is None and not (tmp_path / "adapter").exists()
    assert [c.step for c in stopped.checkpoints] == [6]

    resumed_steps: list[StepReport] = []
    resumed = train(
        SHORT,
        chat_rows(48),
        out_dir=tmp_path,
        on_step=resumed_steps.append,
        resume_from=stopped.checkpoints[0].path,
    )
    assert [r.step for r in resumed_steps] == list(range(7, 13))
    assert resumed.losses == uninterrupted.losses  # exact: weights, Adam, schedule and RNG restored
    assert stopped.losses[:8] == uninterrupted.losses[:8]
    assert resumed.adapter_dir is not None


def test_full_fine_tuning_saves_a_whole_model(tmp_path: Path) -> None:
    cfg = TrainConfig(full=True, max_steps=6, batch_size=4, learning_rate=1e-3)
    result = train(cfg, chat_rows(24), out_dir=tmp_path)
    assert result.adapter_dir is None and result.model_dir is not None
    assert result.trainable_param_count == result.param_count
    assert result.losses[-1] < result.losses[0]
    assert chat.generate(result.model_dir, None, QUESTION, max_new_tokens=4).completion_tokens > 0


def test_a_run_from_a_saved_adapter_starts_where_that_run_ended(sft: Run, tmp_path: Path) -> None:
    """Together's from_checkpoint: LoRA continues the saved adapter (its rank, not the one asked
    for), a full fine-tune starts from the merged weights, and DPO measures against that start."""
    assert sft.result.adapter_dir is not None

    def run(name: str, cfg: TrainConfig, rows: list[Any], adapter: Path | None) -> TrainResult:
        shutil.copytree(sft.result.base_dir, tmp_path / name / "base")
        return train(cfg, rows, out_dir=tmp_path / name, init_adapter=adapter)

    one: dict[str, Any] = {"max_steps": 1, "batch_size": 8, "packing": False}
    fresh = run("fresh", TrainConfig(**one), chat_rows(48), None)
    lora = run("lora", TrainConfig(lora_r=4, **one), chat_rows(48), sft.result.adapter_dir)
    full = run("full", TrainConfig(full=True, **one), chat_rows(48), sft.result.adapter_dir)
    assert lora.losses[0] < fresh.losses[0] - 1.0  # the same first batch
    assert full.losses[0] == pytest.approx(lora.losses[0], abs=1e-4)
    assert lora.adapter_dir is not None
    assert json.loads((lora.adapter_dir / "adapter_config.json").read_text())["r"] == 8
    preference = TrainConfig(training_method="dpo", max_steps=1, batch_size=8)
    dpo_run = run("dpo", preference, preference_rows(8), sft.result.adapter_dir)
    assert dpo_run.losses[0] == pytest.approx(math.log(2), abs=1e-6)


# -- DPO -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [{}, {"rpo_alpha": 1.0}, {"simpo_gamma": 0.5, "dpo_beta": 2.0}],
    ids=["sigmoid", "rpo", "simpo"],
)
def test_dpo_widens_the_preferred_vs_rejected_margin(tmp_path: Path, extra: dict[str, Any]) -> None:
    cfg = TrainConfig(
        training_method="dpo", max_steps=20, batch_size=8, learning_rate=5e-3, **extra
    )
    rows = preference_rows(32)
    steps: list[StepReport] = []
    result = train(cfg, rows, out_dir=tmp_path, on_step=steps.append)
    if not extra:  # a fresh adapter is the reference itself: the first loss is log 2
        assert steps[0].loss == pytest.approx(math.log(2), abs=1e-6)
    assert set(steps[-1].metrics) == {
        "rewards/chosen",
        "rewards/rejected",
        "rewards/accuracies",
        "rewards/margins",
    }

    assert result.adapter_dir is not None
    base, tok = models.load_base(result.base_dir)
    model = PeftModel.from_pretrained(base, result.adapter_dir).eval()
    pairs = data.build_preference_examples(rows, tok, max_length=cfg.max_seq_length)
    trained = dpo.log_prob_margins(model, pairs, int(tok.pad_token_id))
    with model.disable_adapter():
        before = dpo.log_prob_margins(model, pairs, int(tok.pad_token_id))
    assert mean(trained) > mean(before) + 5.0
    assert all(t > b for t, b in zip(trained, before, strict=True))


def test_importing_the_package_does_not_import_torch() -> None:
    code = (
        "import sys, mock_server.training, mock_server.training.data\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "mock_server.training.TrainConfig\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
