"""An import-linter contract type: no import cycle between any two modules of a package.

import-linter's own ``acyclic_siblings`` works on packages, one level at a time, which forbids a
service folder's routes from importing ``deps.py`` while ``deps.py`` names the service: a
package-level loop that is the composition root's job. What must never happen is a loop between
modules, where importing one half runs the other half first. This contract finds those over the
whole graph import-linter builds (function-level and ``TYPE_CHECKING`` imports included, so a
lazy import cannot hide a loop) and names each loop's imports.
"""

from __future__ import annotations

from typing import Any

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain.helpers import module_expressions_to_modules

__all__ = ["AcyclicModulesContract", "module_cycles"]


def module_cycles(adjacency: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(adjacency):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(adjacency[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(adjacency.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return sorted(cycles)


class AcyclicModulesContract(Contract):
    """Options: ``packages``, the packages whose modules (with all descendants) must not import
    each other in a loop."""

    type_name = "acyclic_modules"

    packages = fields.SetField(subfield=fields.ModuleExpressionField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        roots = module_expressions_to_modules(graph, self.packages)  # type: ignore[arg-type]
        modules: set[str] = set()
        for root in roots:
            modules |= {root.name} | graph.find_descendants(root.name)
        adjacency = {
            m: {n for n in graph.find_modules_directly_imported_by(m) if n in modules}
            for m in modules
        }
        cycles = module_cycles(adjacency)
        loops: list[dict[str, Any]] = []
        for cycle in cycles:
            members = set(cycle)
            edges = [
                (m, n, graph.get_import_details(importer=m, imported=n))
                for m in cycle
                for n in sorted(adjacency[m] & members)
            ]
            loops.append({"modules": cycle, "edges": edges})
        return ContractCheck(kept=not cycles, metadata={"loops": loops})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for loop in check.metadata["loops"]:
            output.print_error(f"Import loop between {', '.join(loop['modules'])}:")
            for importer, imported, details in loop["edges"]:
                lines = ", ".join(str(d["line_number"]) for d in details) or "?"
                output.print_error(f"- {importer} -> {imported} (line {lines})")
            output.new_line()
