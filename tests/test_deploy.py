"""``deploy/``: the compose file a team starts its shared deployment from. Docker is not run
here; what can drift without anyone noticing is checked instead: every flag and setting it
passes is one ``together-sim serve`` takes, nginx balances over every replica it declares, and
the image gets the packages the wheel is built from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from mock_server.cli import _parser
from mock_server.settings import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _replicas() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in _compose()["services"].items() if name.startswith("sim-")}


def test_each_replica_runs_a_serve_command_the_cli_accepts() -> None:
    replicas = _replicas()
    assert len(replicas) >= 2
    for name, service in replicas.items():
        args = _parser().parse_args(service["command"])  # exits (SystemExit) on a flag it lacks
        assert args.command == "serve", name
        assert args.workers >= 2, name


def test_each_setting_in_the_environment_is_a_field_of_settings() -> None:
    prefix = Settings.model_config["env_prefix"]
    fields = {name.upper() for name in Settings.model_fields}
    for name, service in _replicas().items():
        ours = [k for k in service["environment"] if k.startswith(prefix)]
        assert {"TOGETHER_SIM_DATABASE_URL", "TOGETHER_SIM_BLOB_URL"} <= set(ours), name
        for key in ours:
            assert key.removeprefix(prefix) in fields, f"{name}: {key} is no setting"
        url = service["environment"]["TOGETHER_SIM_DATABASE_URL"]
        assert url.startswith("postgresql://") and "@postgres:" in url


def test_the_balancer_sends_to_every_replica() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = set(re.findall(r"server (sim-[a-z0-9-]+):8000;", conf))
    assert upstream == set(_replicas())


def test_the_image_holds_every_package_the_wheel_is_built_from() -> None:
    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    kept = {
        line[1:]
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert set(packages) | {"pyproject.toml", "README.md"} <= kept
    extras = pyproject["project"]["optional-dependencies"]
    assert {"postgres", "s3"} <= set(extras)
    assert "[postgres,s3]" in (DEPLOY / "Dockerfile").read_text()
