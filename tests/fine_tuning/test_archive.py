"""The download archives: real tar.zst files of real safetensors, deterministic per spec."""

from __future__ import annotations

import json
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import load_file

from mock_server.fine_tuning.archive import ArtifactSpec, archive_name, build_archive
from mock_server.fine_tuning.stand_in import (
    ALL_LINEAR_MODULES,
    STAND_IN,
    base_tensor,
    resolve_target_modules,
)

BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
LORA_PREFIX = "base_model.model."


def make_spec(**overrides: object) -> ArtifactSpec:
    fields: dict[str, object] = {
        "kind": "adapter",
        "base_model": BASE,
        "job_id": "ft-0123abcd-4567",
        "step": None,
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
        "seed": 42,
    }
    fields.update(overrides)
    return ArtifactSpec(**fields)  # type: ignore[arg-type]


def build(tmp_path: Path, spec: ArtifactSpec) -> Path:
    dest = tmp_path / archive_name(spec)
    size = build_archive(spec, dest)
    assert size == dest.stat().st_size
    return dest


def open_archive(path: Path) -> dict[str, bytes]:
    with (
        path.open("rb") as fh,
        zstandard.ZstdDecompressor().stream_reader(fh) as zr,
        tarfile.open(fileobj=zr, mode="r|") as tf,
    ):
        out: dict[str, bytes] = {}
        for member in tf:
            assert member.isfile()
            extracted = tf.extractfile(member)
            assert extracted is not None
            out[member.name] = extracted.read()
        return out


def member_names(path: Path) -> list[str]:
    with (
        path.open("rb") as fh,
        zstandard.ZstdDecompressor().stream_reader(fh) as zr,
        tarfile.open(fileobj=zr, mode="r|") as tf,
    ):
        return [m.name for m in tf]


def tensors(tmp_path: Path, files: dict[str, bytes], name: str) -> dict[str, np.ndarray]:
    path = tmp_path / f"extracted-{name}"
    path.write_bytes(files[name])
    return load_file(str(path))


def test_the_adapter_archive_holds_readme_config_and_safetensors_in_sorted_order(
    tmp_path: Path,
) -> None:
    path = build(tmp_path, make_spec())
    assert member_names(path) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]


@pytest.mark.parametrize("kind", ["merged", "full"])
def test_merged_and_full_archives_hold_config_generation_config_and_model(
    tmp_path: Path, kind: str
) -> None:
    path = build(tmp_path, make_spec(kind=kind))
    assert member_names(path) == [
        "README.md",
        "config.json",
        "generation_config.json",
        "model.safetensors",
    ]


def test_the_archive_is_a_zstd_frame_with_deterministic_tar_headers(tmp_path: Path) -> None:
    path = build(tmp_path, make_spec())
    assert path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    with (
        path.open("rb") as fh,
        zstandard.ZstdDecompressor().stream_reader(fh) as zr,
        tarfile.open(fileobj=zr, mode="r|") as tf,
    ):
        for m in tf:
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (
                1_700_000_000,
                0,
                0,
                "",
                "",
                0o644,
            )
            assert "/" not in m.name


def test_adapter_tensors_are_named_as_peft_saves_them_with_lora_shapes(tmp_path: Path) -> None:
    spec = make_spec(lora_r=16, lora_alpha=32)
    files = open_archive(build(tmp_path, spec))
    loaded = tensors(tmp_path, files, "adapter_model.safetensors")
    expected: dict[str, tuple[int, int]] = {}
    for i in range(STAND_IN.num_hidden_layers):
        for m in ALL_LINEAR_MODULES:
            block = "self_attn" if m in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            out_f, in_f = STAND_IN.linear_shape(m)
            prefix = f"{LORA_PREFIX}model.layers.{i}.{block}.{m}"
            expected[f"{prefix}.lora_A.weight"] = (16, in_f)
            expected[f"{prefix}.lora_B.weight"] = (out_f, 16)
    assert {k: v.shape for k, v in loaded.items()} == expected
    assert all(v.dtype == np.float32 for v in loaded.values())
    assert loaded[f"{LORA_PREFIX}model.layers.0.self_attn.k_proj.lora_B.weight"].shape == (32, 16)
    assert loaded[f"{LORA_PREFIX}model.layers.1.mlp.down_proj.lora_A.weight"].shape == (16, 172)


def test_lora_b_is_not_zero_and_values_are_small_and_finite(tmp_path: Path) -> None:
    files = open_archive(build(tmp_path, make_spec()))
    loaded = tensors(tmp_path, files, "adapter_model.safetensors")
    for name, value in loaded.items():
        assert np.isfinite(value).all()
        assert 0.005 < float(value.std()) < 0.05, name
        if ".lora_B." in name:
            assert np.abs(value).max() > 0


def test_adapter_config_is_a_peft_lora_config_matching_the_spec(tmp_path: Path) -> None:
    spec = make_spec(lora_r=32, lora_alpha=64, lora_dropout=0.1, target_modules="all-linear")
    files = open_archive(build(tmp_path, spec))
    config = json.loads(files["adapter_config.json"])
    assert config["peft_type"] == "LORA"
    assert config["task_type"] == "CAUSAL_LM"
    assert config["r"] == 32
    assert config["lora_alpha"] == 64
    assert config["lora_dropout"] == 0.1
    assert config["target_modules"] == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    assert config["base_model_name_or_path"] == BASE
    assert config["bias"] == "none"
    assert config["fan_in_fan_out"] is False
    assert config["inference_mode"] is True
    assert config["together_sim"]["base_model"] == BASE
    assert config["together_sim"]["synthetic"] is True


def test_an_explicit_target_module_list_limits_the_adapter_tensors(tmp_path: Path) -> None:
    spec = make_spec(target_modules=["v_proj", "q_proj"])
    files = open_archive(build(tmp_path, spec))
    assert json.loads(files["adapter_config.json"])["target_modules"] == ["q_proj", "v_proj"]
    loaded = tensors(tmp_path, files, "adapter_model.safetensors")
    assert len(loaded) == STAND_IN.num_hidden_layers * 2 * 2
    assert {name.split(".")[-3] for name in loaded} == {"q_proj", "v_proj"}


def test_target_modules_accept_all_linear_comma_lists_and_reject_unknown_names() -> None:
    assert resolve_target_modules("all-linear") == ALL_LINEAR_MODULES
    assert resolve_target_modules("v_proj, q_proj") == ("q_proj", "v_proj")
    assert resolve_target_modules(["all-linear"]) == ALL_LINEAR_MODULES
    with pytest.raises(ValueError, match="unknown target modules"):
        make_spec(target_modules=["q_proj", "lm_head"])
    with pytest.raises(ValueError, match="empty"):
        make_spec(target_modules=[])


@pytest.mark.parametrize(
    "overrides",
    [{"lora_r": 0}, {"lora_alpha": 0}, {"step": -1}, {"kind": "bogus"}, {"lora_dropout": 1.5}],
)
def test_invalid_specs_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_spec(**overrides)


def test_a_full_spec_ignores_the_lora_fields() -> None:
    make_spec(kind="full", lora_r=0, lora_alpha=0, target_modules=[])


def test_identical_specs_give_byte_identical_archives(tmp_path: Path) -> None:
    for kind in ("adapter", "merged", "full"):
        spec = make_spec(kind=kind)
        a = tmp_path / "a" / f"{kind}.tar.zst"
        b = tmp_path / "b" / f"{kind}.tar.zst"
        build_archive(spec, a)
        build_archive(make_spec(kind=kind), b)
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("kind", ["adapter", "merged", "full"])
@pytest.mark.parametrize(
    "overrides", [{"seed": 43}, {"step": 10}, {"job_id": "ft-other"}], ids=["seed", "step", "job"]
)
def test_a_different_seed_step_or_job_gives_a_different_archive(
    tmp_path: Path, kind: str, overrides: dict[str, object]
) -> None:
    spec = make_spec(kind=kind)
    other = replace(spec, **overrides)  # type: ignore[arg-type]
    a, b = build(tmp_path, spec), build(tmp_path, other)
    assert a.name != b.name
    assert a.read_bytes() != b.read_bytes()


def test_checkpoint_steps_change_the_adapter_weights(tmp_path: Path) -> None:
    step_a = open_archive(build(tmp_path, make_spec(step=10)))
    step_b = open_archive(build(tmp_path, make_spec(step=20)))
    a = load_safetensors(step_a["adapter_model.safetensors"])
    b = load_safetensors(step_b["adapter_model.safetensors"])
    assert a.keys() == b.keys()
    assert all(not np.array_equal(a[k], b[k]) for k in a)


def test_merged_weights_are_the_base_plus_the_scaled_adapter_delta(tmp_path: Path) -> None:
    spec = make_spec(lora_r=16, lora_alpha=48, target_modules=["q_proj", "v_proj"])
    adapter = load_safetensors(open_archive(build(tmp_path, spec))["adapter_model.safetensors"])
    merged_spec = replace(spec, kind="merged")
    merged = load_safetensors(open_archive(build(tmp_path, merged_spec))["model.safetensors"])

    name = "model.layers.0.self_attn.q_proj"
    a = adapter[f"{LORA_PREFIX}{name}.lora_A.weight"].astype(np.float64)
    b = adapter[f"{LORA_PREFIX}{name}.lora_B.weight"].astype(np.float64)
    base = base_tensor(BASE, f"{name}.weight").astype(np.float64)
    expected = base + (48 / 16) * (b @ a)
    np.testing.assert_allclose(merged[f"{name}.weight"], expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(merged[f"{name}.weight"], base, atol=1e-4)

    for untouched in ("model.layers.0.self_attn.k_proj.weight", "model.embed_tokens.weight"):
        np.testing.assert_array_equal(merged[untouched], base_tensor(BASE, untouched))
    np.testing.assert_array_equal(merged["model.norm.weight"], np.ones(STAND_IN.hidden_size))


def test_the_base_weights_depend_on_the_base_model_name() -> None:
    name = "model.layers.1.mlp.up_proj.weight"
    other = base_tensor("Qwen/Qwen2.5-7B-Instruct", name)
    assert base_tensor(BASE, name).shape == (STAND_IN.intermediate_size, STAND_IN.hidden_size)
    assert not np.array_equal(base_tensor(BASE, name), other)
    np.testing.assert_array_equal(base_tensor(BASE, name), base_tensor(BASE, name))


@pytest.mark.parametrize("kind", ["merged", "full"])
def test_model_archives_hold_the_full_llama_state_dict_and_no_lora_tensors(
    tmp_path: Path, kind: str
) -> None:
    files = open_archive(build(tmp_path, make_spec(kind=kind)))
    loaded = tensors(tmp_path, files, "model.safetensors")
    si = STAND_IN
    kv = si.num_key_value_heads * si.head_dim
    expected: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (si.vocab_size, si.hidden_size),
        "model.norm.weight": (si.hidden_size,),
        "lm_head.weight": (si.vocab_size, si.hidden_size),
    }
    for i in range(si.num_hidden_layers):
        p = f"model.layers.{i}"
        expected |= {
            f"{p}.self_attn.q_proj.weight": (si.hidden_size, si.hidden_size),
            f"{p}.self_attn.k_proj.weight": (kv, si.hidden_size),
            f"{p}.self_attn.v_proj.weight": (kv, si.hidden_size),
            f"{p}.self_attn.o_proj.weight": (si.hidden_size, si.hidden_size),
            f"{p}.mlp.gate_proj.weight": (si.intermediate_size, si.hidden_size),
            f"{p}.mlp.up_proj.weight": (si.intermediate_size, si.hidden_size),
            f"{p}.mlp.down_proj.weight": (si.hidden_size, si.intermediate_size),
            f"{p}.input_layernorm.weight": (si.hidden_size,),
            f"{p}.post_attention_layernorm.weight": (si.hidden_size,),
        }
    assert {k: v.shape for k, v in loaded.items()} == expected
    assert not any("lora" in k for k in loaded)
    assert all(v.dtype == np.float32 for v in loaded.values())


def test_full_weights_differ_from_the_base_everywhere(tmp_path: Path) -> None:
    files = open_archive(build(tmp_path, make_spec(kind="full")))
    loaded = load_safetensors(files["model.safetensors"])
    for name, value in loaded.items():
        delta = value - base_tensor(BASE, name)
        assert 0 < float(np.abs(delta).max()) < 0.1, name


@pytest.mark.parametrize("kind", ["merged", "full"])
def test_model_config_is_a_llama_config_for_the_stand_in(tmp_path: Path, kind: str) -> None:
    files = open_archive(build(tmp_path, make_spec(kind=kind)))
    config = json.loads(files["config.json"])
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["model_type"] == "llama"
    assert config["hidden_size"] == STAND_IN.hidden_size
    assert config["intermediate_size"] == STAND_IN.intermediate_size
    assert config["num_hidden_layers"] == STAND_IN.num_hidden_layers
    assert config["num_attention_heads"] == STAND_IN.num_attention_heads
    assert config["num_key_value_heads"] == STAND_IN.num_key_value_heads
    assert config["vocab_size"] == STAND_IN.vocab_size
    assert config["tie_word_embeddings"] is False
    assert config["torch_dtype"] == "float32"
    assert {"max_position_embeddings", "rms_norm_eps"} <= config.keys()
    assert config["together_sim"]["base_model"] == BASE
    assert config["together_sim"]["kind"] == kind
    generation = json.loads(files["generation_config.json"])
    assert generation["eos_token_id"] < STAND_IN.vocab_size


def test_the_readme_says_the_checkpoint_is_synthetic(tmp_path: Path) -> None:
    readme = open_archive(build(tmp_path, make_spec()))["README.md"].decode()
    assert "synthetic" in readme.lower()
    assert "together-sim" in readme
    assert BASE in readme


@pytest.mark.parametrize("kind", ["adapter", "merged", "full"])
def test_archives_stay_under_two_megabytes_at_rank_64(tmp_path: Path, kind: str) -> None:
    spec = make_spec(kind=kind, lora_r=64, lora_alpha=128)
    assert build_archive(spec, tmp_path / "x.tar.zst") < 2 * 1024 * 1024


def test_the_safetensors_header_is_padded_to_eight_bytes_with_spaces(tmp_path: Path) -> None:
    raw = open_archive(build(tmp_path, make_spec()))["adapter_model.safetensors"]
    n = int.from_bytes(raw[:8], "little")
    assert n % 8 == 0
    header = json.loads(raw[8 : 8 + n])
    assert header["__metadata__"] == {"format": "pt"}
    assert raw[8 : 8 + n].rstrip(b" ").endswith(b"}")
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    assert 8 + n + max(ends) == len(raw)


def test_build_archive_writes_atomically_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "nested" / "out.tar.zst"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"stale")
    size = build_archive(make_spec(), dest)
    assert size == dest.stat().st_size > 5
    assert [p.name for p in dest.parent.iterdir()] == ["out.tar.zst"]


def test_a_failed_build_removes_its_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mock_server.fine_tuning.archive as artifacts

    def boom(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifacts, "_write_archive", boom)
    with pytest.raises(OSError, match="disk full"):
        build_archive(make_spec(), tmp_path / "out.tar.zst")
    assert list(tmp_path.iterdir()) == []


def test_archive_name_is_stable_file_safe_and_changes_with_every_field() -> None:
    spec = make_spec(job_id="ft-a/b c:7", step=3)
    name = archive_name(spec)
    assert name == archive_name(make_spec(job_id="ft-a/b c:7", step=3))
    assert name.startswith("adapter-ft-a-b-c-7-step3-")
    assert name.endswith(".tar.zst")
    assert "/" not in name and " " not in name
    variants = [
        {"kind": "merged"},
        {"base_model": "other/model"},
        {"job_id": "ft-b"},
        {"step": None},
        {"lora_r": 16},
        {"lora_alpha": 32},
        {"lora_dropout": 0.0},
        {"target_modules": ["q_proj"]},
        {"seed": 7},
    ]
    names = {archive_name(replace(spec, **v)) for v in variants}  # type: ignore[arg-type]
    assert len(names) == len(variants)
    assert name not in names


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    r=st.integers(min_value=1, max_value=48),
    alpha=st.integers(min_value=1, max_value=128),
    modules=st.lists(st.sampled_from(ALL_LINEAR_MODULES), min_size=1, unique=True),
)
def test_any_rank_and_module_choice_gives_a_loadable_adapter(
    tmp_path: Path, r: int, alpha: int, modules: list[str]
) -> None:
    spec = make_spec(lora_r=r, lora_alpha=alpha, target_modules=modules)
    dest = tmp_path / archive_name(spec)
    build_archive(spec, dest)
    files = open_archive(dest)
    loaded = load_safetensors(files["adapter_model.safetensors"])
    assert len(loaded) == 2 * len(modules) * STAND_IN.num_hidden_layers
    for k, v in loaded.items():
        assert v.shape[0 if ".lora_A." in k else 1] == r
    assert json.loads(files["adapter_config.json"])["r"] == r
