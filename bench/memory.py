"""Resident set size of a process and of all its descendants, read from ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["descendants", "rss_kib", "tree_rss_kib"]

_PROC = Path("/proc")


def rss_kib(pid: int) -> int:
    """``VmRSS`` of one process in KiB; 0 once it has gone (or for a zombie)."""
    try:
        text = (_PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        try:
            stat = (_PROC / entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
        fields = stat.rpartition(")")[2].split()
        parents[int(entry)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, ...), not ``pid`` itself."""
    parents = _parents()
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def tree_rss_kib(pid: int) -> int:
    """RSS of ``pid`` plus its descendants (threads share the process's RSS; they are not
    counted again). Shared pages between processes are counted once per process, as ``ps``
    does."""
    return rss_kib(pid) + sum(rss_kib(child) for child in descendants(pid))
