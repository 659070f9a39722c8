"""The module-loop contract finds loops, lazy ones included, and passes a loop-free package."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

from tests.architecture.acyclic import AcyclicModulesContract, module_cycles


def test_module_cycles_finds_each_loop_once_and_nothing_else() -> None:
    adjacency = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},  # a -> b -> c -> a
        "d": {"e"},
        "e": {"d"},  # d <-> e
        "f": {"a"},  # leads into a loop, is not in one
    }
    assert module_cycles(adjacency) == [["a", "b", "c"], ["d", "e"]]
    assert module_cycles({"x": {"y"}, "y": set()}) == []


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "loopy"
    root.mkdir()
    (root / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    yield root
    sys.path.remove(str(tmp_path))


def _check(package: Path) -> AcyclicModulesContract:
    contract = AcyclicModulesContract(
        name="loops", session_options={}, contract_options={"packages": [package.name]}
    )
    return contract


def test_a_lazy_import_that_closes_a_loop_breaks_the_contract(package: Path) -> None:
    (package / "service.py").write_text("from loopy.models import Job\n")
    (package / "models.py").write_text(
        "class Job: ...\n\ndef later() -> None:\n    from loopy.service import x  # noqa\n"
    )
    graph = grimp.build_graph(package.name, cache_dir=None)
    check = _check(package).check(graph, verbose=False)
    assert not check.kept
    [loop] = check.metadata["loops"]
    assert loop["modules"] == ["loopy.models", "loopy.service"]


def test_a_package_without_loops_keeps_the_contract(package: Path) -> None:
    (package / "service.py").write_text("from loopy.models import Job\n")
    (package / "models.py").write_text("class Job: ...\n")
    graph = grimp.build_graph(package.name, cache_dir=None)
    assert _check(package).check(graph, verbose=False).kept
