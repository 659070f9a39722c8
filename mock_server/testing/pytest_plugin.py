"""pytest fixtures for testing your own code against together-sim, registered as the
``together_sim`` plugin (an entry point: installing the package is enough).

- ``together_sim``: a fresh simulator in the test's process. ``together_sim.client()`` is a 3.x
  ``Together`` bound to it; and while the test runs, every httpx request to Together's hosts is
  served by it, so code that builds its own ``Together()`` needs no change.
- ``together_sim_server``: a fresh simulator on 127.0.0.1, for clients that need a socket (the
  1.5.x SDK, the CLIs, other processes).

Both set ``TOGETHER_API_KEY`` to the simulator's key and ``TOGETHER_BASE_URL`` to its URL in the
form the installed ``together`` takes, and take their options from the ``together_sim`` marker.
Nothing heavy is imported until a fixture is used: this module is loaded into every pytest run of
an environment that has the package.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mock_server.settings import Settings
    from mock_server.testing.in_process import Simulator
    from mock_server.testing.live import LiveSimulator

__all__ = ["together_sim", "together_sim_server"]

_INTERCEPT_INI = "together_sim_intercept"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INTERCEPT_INI,
        type="bool",
        default=True,
        help="together_sim serves httpx requests to Together's hosts (default true); "
        "the together_sim(intercept=...) marker overrides it per test",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "together_sim(clock='manual', speed=1.0, seed=None, trainer='synthetic', api_key=..., "
        "intercept=True, ...): options of the together_sim and together_sim_server fixtures",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("together_sim"))):
        options.update(marker.kwargs)  # the marker closest to the test wins
    return options


@pytest.fixture
def together_sim(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Simulator]:
    """A fresh in-process simulator (manual clock unless the marker says otherwise), serving
    Together's hosts for httpx while the test runs; ``TOGETHER_BASE_URL`` names one of them."""
    from mock_server.testing.in_process import API_KEY, Simulator

    options = _options(request)
    intercept = bool(options.pop("intercept", request.config.getini(_INTERCEPT_INI)))
    api_key = str(options.pop("api_key", API_KEY))
    settings = _settings(tmp_path_factory, options)
    with Simulator(settings, api_key=api_key) as sim:
        # The environment's key and base URL (perhaps real ones) must not reach code under test.
        monkeypatch.setenv("TOGETHER_API_KEY", api_key)
        monkeypatch.setenv("TOGETHER_BASE_URL", _sdk_base_url(sim.base_url))
        if intercept:
            with sim.intercept():
                yield sim
        else:
            yield sim


@pytest.fixture
def together_sim_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LiveSimulator]:
    """A fresh simulator on 127.0.0.1 (its own port and data dir), with ``TOGETHER_BASE_URL`` set
    to what the installed ``together`` expects: the root for 3.x, root + ``/v1`` otherwise."""
    from mock_server.testing.in_process import API_KEY
    from mock_server.testing.live import serve_in_thread

    options = _options(request)
    options.pop("intercept", None)  # nothing to intercept: the server has a real URL
    api_key = str(options.pop("api_key", API_KEY))
    settings = _settings(tmp_path_factory, options)
    with serve_in_thread(settings, api_key=api_key) as server:
        monkeypatch.setenv("TOGETHER_API_KEY", api_key)
        monkeypatch.setenv("TOGETHER_BASE_URL", _sdk_base_url(server.base_url))
        yield server


def _settings(tmp_path_factory: pytest.TempPathFactory, options: dict[str, Any]) -> Settings:
    from mock_server.testing.in_process import simulator_settings

    try:
        return simulator_settings(tmp_path_factory.mktemp("together-sim"), **options)
    except TypeError as exc:  # a typo in the marker: say so, not with a traceback into pydantic
        raise pytest.UsageError(f"together_sim marker: {exc}, plus api_key and intercept") from None


def _sdk_base_url(root: str) -> str:
    """The base URL the installed ``together`` takes: the root for 3.x, root + ``/v1`` for 2.x
    and 1.5.x (and when it is absent, for a 1.5.x in another environment handed this one's
    variables)."""
    try:
        major = int(importlib.metadata.version("together").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        major = 0
    return root if major >= 3 else f"{root}/v1"
