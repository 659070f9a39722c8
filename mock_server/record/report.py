"""The drift report as people read it (``drift.md``) and as tools read it (``drift.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mock_server.record.cassette import load_cassette
from mock_server.record.drift import build_report

__all__ = ["render_markdown", "write_report"]


def _seqs(entry: dict[str, Any]) -> str:
    seqs = entry.get("exchanges") or []
    return f" ({', '.join(f'#{s}' for s in seqs)})" if seqs else ""


def _lines(op: dict[str, Any]) -> list[str]:
    out = [f"### {op['operation']}", ""]
    if op["scope"] == "api" and not op["in_spec"]:
        out.append("- **not in the spec**: the spec has no such operation")
    for e in op["undocumented_statuses"]:
        out.append(f"- **status not in the spec**: {e['status']}{_seqs(e)}")
    for e in op["undocumented_content_types"]:
        out.append(
            f"- **content type not in the spec** for {e['status']}: `{e['content_type']}`{_seqs(e)}"
        )
    for e in op["fields_not_in_spec"]:
        sim = "the simulator has it too" if e.get("simulator_has_it") else "the simulator lacks it"
        out.append(f"- **field not in the spec**: `{e['path']}` ({e['type']}; {sim}){_seqs(e)}")
    for e in op["missing_required"]:
        out.append(f"- **required by the spec, missing**: `{e['path']}`{_seqs(e)}")
    for e in op["type_mismatches"]:
        out.append(
            f"- **type differs from the spec**: `{e['path']}` is {e['actual']}, "
            f"the spec says {e['expected']}{_seqs(e)}"
        )
    for e in op["status_differences"]:
        out.append(
            f"- **the simulator answers another status**: real {e['real']}, "
            f"simulator {e['simulator']}{_seqs(e)}"
        )
    for e in op["fields_simulator_lacks"]:
        out.append(f"- **the simulator lacks**: `{e['path']}` ({e['type']})")
    for e in op["fields_only_simulator_has"]:
        out.append(f"- **only the simulator has**: `{e['path']}` ({e['type']})")
    for e in op["type_differences"]:
        out.append(
            f"- **the simulator's type differs**: `{e['path']}` is {e['real']} for real, "
            f"{e['simulator']} in the simulator"
        )
    for e in op["not_compared"]:
        out.append(f"- not compared with the simulator: {e['reason']}{_seqs(e)}")
    return [*out, ""]


def render_markdown(report: dict[str, Any]) -> str:
    out = [
        "# Drift report",
        "",
        f"- cassette: `{report['cassette']}` ({report['exchanges']} exchanges "
        f"recorded from {report['target']})",
        f"- spec: {report['spec']}",
        f"- simulator: {report['simulator']}",
        "",
    ]
    operations = report["operations"]
    if not operations:
        out += ["No drift: every recorded answer matches the spec and the simulator.", ""]
    else:
        out += [f"## Drift in {len(operations)} operations", ""]
        for op in operations:
            out += _lines(op)
    if report["conforming"]:
        out += ["## Conforming", "", *[f"- {name}" for name in report["conforming"]], ""]
    if report["unreachable"]:
        seqs = ", ".join(f"#{s}" for s in report["unreachable"])
        out += [f"Exchanges with no answer (upstream unreachable): {seqs}", ""]
    return "\n".join(out)


def write_report(cassette_dir: Path) -> dict[str, Any]:
    """Build the report of a cassette and write ``drift.md`` and ``drift.json`` into it."""
    report = build_report(load_cassette(cassette_dir))
    (cassette_dir / "drift.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    (cassette_dir / "drift.md").write_text(render_markdown(report), "utf-8")
    return report
