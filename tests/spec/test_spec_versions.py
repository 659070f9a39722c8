"""Which spec a server answers from: the August 2026 spec by default, the April one selected with
``--spec-version april`` (or ``TOGETHER_SIM_SPEC_VERSION``), and a file named outright with
``--spec`` winning over both."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.cli_flags import given_settings, settings_flags
from mock_server.settings import Settings
from openapi import ENV_SPEC, ENV_SPEC_VERSION, SpecVersion, find_spec_path
from tests.steps import auth


def _served_paths(settings: Settings) -> int:
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            return len(client.get("/openapi.json").json()["paths"])
    finally:
        app.state.services.store.close()


def test_the_august_spec_is_served_by_default_and_the_april_one_when_selected(
    tmp_path: Path,
) -> None:
    august = Settings(data_dir=tmp_path / "a")
    april = Settings(data_dir=tmp_path / "b", spec_version=SpecVersion.april)
    assert august.spec_version is SpecVersion.august
    # The paths of each, with the overlay's: SDK 3.1.1's 15 operations (15 paths of their own)
    # only on the August one.
    assert (_served_paths(august), _served_paths(april)) == (140 + 15, 74)


def test_an_april_server_has_no_august_operation(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, spec_version=SpecVersion.april))
    with TestClient(app) as client:
        add_ons = client.get("/v1/compute/clusters/c-1/addons", headers=auth())
        shaping = client.get("/v1/shaping", headers=auth())
    app.state.services.store.close()
    assert (add_ons.status_code, shaping.status_code) == (404, 404)


def test_the_flag_and_the_variable_select_the_version_and_a_spec_path_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve = argparse.ArgumentParser()
    settings_flags(serve)  # the flags `serve` gets, one per setting
    args = serve.parse_args(["--spec-version", "april"])
    assert Settings(**given_settings(args)).spec_version is SpecVersion.april
    monkeypatch.setenv(ENV_SPEC_VERSION, "april")
    assert Settings().spec_version is SpecVersion.april
    august_file = find_spec_path(version=SpecVersion.august, allow_download=False, env={})
    monkeypatch.setenv(ENV_SPEC, str(august_file))  # a path named outright wins
    assert Settings(data_dir=tmp_path).spec_path() == august_file
