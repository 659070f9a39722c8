"""``together-sim``'s own parsing: ``serve``'s flags are the fields of ``Settings`` (so a new
setting is a flag with no second edit, and every documented flag still means what it meant), and
the commands that do not need them never import pydantic or ``contracts``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

import mock_server.settings
from mock_server.cli import _parser
from mock_server.cli_flags import given_settings
from mock_server.settings import ClockMode, ServeMode, Settings


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TOGETHER_SIM_{name.upper()}", raising=False)


def _serve(*argv: str) -> Settings:
    return Settings(**given_settings(_parser().parse_args(["serve", *argv])))


def _serve_help() -> str:
    (sub,) = (a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return " ".join(sub.choices["serve"].format_help().split())


def test_every_setting_is_a_flag_whose_help_is_its_description() -> None:
    shown = _serve_help()
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} needs a description: it is its flag's help"
        assert " ".join(field.description.split()) in shown, name
        assert f"env TOGETHER_SIM_{name.upper()}" in shown, name


def test_the_documented_flags_set_what_they_always_set(tmp_path: Path) -> None:
    settings = _serve(
        "--mode", "examples", "--host", "0.0.0.0", "--port", "9000",
        "--data-dir", str(tmp_path), "--api-key", "a", "--api-key", "b",
        "--clock", "manual", "--speed", "1.5", "--seed", "7", "--account", "me",
        "--no-keep-views", "--spec", "spec.yaml", "--trainer", "real",
        "--real-model", "small", "--model-map", "map.yaml", "--worker-threads", "2",
        "--progress", "--faults", "day.yaml", "--workers", "3",
    )  # fmt: skip
    assert settings == Settings(
        mode=ServeMode.examples, host="0.0.0.0", port=9000, data_dir=tmp_path,
        api_keys=["a", "b"], clock=ClockMode.manual, speed=1.5, seed=7, account="me",
        keep_views=False, spec=Path("spec.yaml"), trainer="real", real_model="small",
        model_map=Path("map.yaml"), worker_threads=2, progress=True, faults=Path("day.yaml"),
        workers=3,
    )  # fmt: skip


def test_a_flag_left_out_leaves_the_setting_to_its_variable_and_a_flag_given_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOGETHER_SIM_KEEP_VIEWS", "false")
    monkeypatch.setenv("TOGETHER_SIM_CLOCK", "manual")
    monkeypatch.setenv("TOGETHER_SIM_API_KEYS", "x, y")
    from_env = _serve()
    assert (from_env.keep_views, from_env.clock, from_env.api_keys) == (
        False,
        ClockMode.manual,
        ["x", "y"],
    )
    given = _serve("--keep-views", "--clock", "instant", "--api-key", "z")
    assert (given.keep_views, given.clock, given.api_keys) == (True, ClockMode.instant, ["z"])
    assert (_serve().port, _serve().progress) == (8000, None)  # neither: the defaults


@pytest.mark.parametrize(
    ("flag", "value", "choices"),
    [
        ("--clock", "sometimes", "instant, realtime, manual"),
        ("--mode", "mock", "stateful, examples"),
        ("--real-model", "huge", "micro, small, smollm2"),
        ("--port", "eighty", None),
    ],
)
def test_enums_and_literals_are_choices_and_numbers_are_checked(
    flag: str, value: str, choices: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(["serve", flag, value])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert flag in error
    if choices is not None:
        assert f"choose from {', '.join(repr(c) for c in choices.split(', '))}" in error


def test_replay_flags_stay_apart_from_the_settings() -> None:
    args = _parser().parse_args(["serve", "--replay", "cassette", "--access-log"])
    assert (args.replay, args.access_log, args.log_level) == ("cassette", True, "warning")
    assert (args.host, args.port) == (None, None)  # serve_replay's own defaults apply
    assert given_settings(args) == {}


def test_a_new_setting_is_a_flag_without_a_second_edit(monkeypatch: pytest.MonkeyPatch) -> None:
    class Grown(Settings):
        retries: int = Field(default=3, description="how often to try")
        audit_log: Path | None = Field(default=None, description="where to write it")
        strict: bool = Field(default=False, description="refuse what is not documented")

    monkeypatch.setattr(mock_server.settings, "Settings", Grown)
    args = _parser().parse_args(
        ["serve", "--retries", "5", "--audit-log", "audit.jsonl", "--strict"]
    )
    grown = Grown(**given_settings(args))
    assert (grown.retries, grown.audit_log, grown.strict) == (5, Path("audit.jsonl"), True)
    assert "--no-strict" in _serve_help()


def _loaded_after(*argv: str) -> list[str]:
    """The top packages of interest in ``sys.modules`` after ``together-sim ARGV`` in a fresh
    interpreter (a ``--help`` exits, as the command would)."""
    code = (
        "import json, sys\n"
        "from mock_server.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "tops = {m.split('.')[0] for m in sys.modules}\n"
        "print(json.dumps(sorted(tops & {'contracts', 'pydantic'})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded: list[str] = json.loads(out.splitlines()[-1])
    return loaded


def test_the_cli_imports_contracts_only_for_the_contract_command() -> None:
    assert _loaded_after("--help") == []
    assert _loaded_after("advance", "--help") == []  # no serve flags built: no pydantic either
    assert _loaded_after("serve", "--help") == ["pydantic"]
    assert "contracts" in _loaded_after("contract", "--help")  # and the command still works


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one process", "workers"])
def test_serve_without_a_readable_spec_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: list[str]
) -> None:
    from mock_server.cli import main

    missing = tmp_path / "nowhere.yaml"
    code = main(["serve", "--spec", str(missing), "--data-dir", str(tmp_path / "data"), *workers])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("together-sim: the spec named by --spec / TOGETHER_SIM_SPEC")
    assert str(missing) in err and "Traceback" not in err


def test_serve_on_a_full_disk_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import mock_server.app
    from mock_server.cli import main

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mock_server.app, "create_app", full)
    code = main(["serve", "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"together-sim: {tmp_path / 'data'}: no space left on device\n"


def test_serve_on_a_database_another_process_holds_locked_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from mock_server.cli import main
    from mock_server.store import SqliteStore

    SqliteStore(tmp_path / "data").close()
    other = sqlite3.connect(tmp_path / "data" / "together-sim.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # an sqlite3 shell left in a transaction
    try:
        code = main(["serve", "--data-dir", str(tmp_path / "data")])
    finally:
        other.close()
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"together-sim: {tmp_path / 'data'}: the database is locked by another process\n"


def test_serve_workers_on_a_data_dir_of_a_newer_version_stops_with_one_line_before_any_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent migrates the data dir before it starts a worker (serve_workers.prepare), so a
    data dir it cannot use is its one line, not a failed start in each worker."""
    import sqlite3

    import uvicorn

    from mock_server.cli import main
    from mock_server.store import SqliteStore
    from mock_server.store.migrations import LATEST

    SqliteStore(tmp_path / "data").close()
    db = sqlite3.connect(tmp_path / "data" / "together-sim.sqlite3", isolation_level=None)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(LATEST + 1),))
    db.close()
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(a))
    code = main(["serve", "--data-dir", str(tmp_path / "data"), "--workers", "2"])
    err = capsys.readouterr().err
    assert (code, started) == (1, [])
    assert err.startswith("together-sim: ") and err.count("\n") == 1
    assert f"schema version {LATEST + 1}, newer than this together-sim knows" in err


def test_collection_is_back_on_after_every_command_but_a_running_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # main turns the garbage collector off while it parses (serve's flags import pydantic);
    # anything but a serve that goes on to run must get it back.
    import gc

    from mock_server.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--no-such-flag"])
    assert gc.isenabled()
    with pytest.raises(SystemExit):
        main(["faults", "--help"])
    assert gc.isenabled()
    assert main(["serve", "--spec", str(tmp_path / "none.yaml"), "--data-dir", str(tmp_path)]) == 1
    assert gc.isenabled()
    capsys.readouterr()


def test_serve_with_a_spec_that_does_not_resolve_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from mock_server.cli import main

    missing = {"$ref": "#/components/schemas/Missing"}
    reply = {"description": "ok", "content": {"application/json": {"schema": missing}}}
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://api.together.ai/v1"}],
        "paths": {"/things": {"get": {"responses": {"200": reply}}}},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    code = main(["serve", "--spec", str(tmp_path / "spec.json"), "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("together-sim: GET /things: the spec does not resolve")
    assert err.count("\n") == 1 and "Traceback" not in err
