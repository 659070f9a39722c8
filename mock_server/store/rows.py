"""Reading stored documents back. A row whose document does not load (written by a build with
other rules, edited by hand, or holding a NaN that JSON cannot) is one bad record, not a broken
store: lists skip it and log it once, and a read of it alone raises ``UnreadableRecord`` naming
it. Kept apart from the SQL so that every table's reads follow the one rule."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from pydantic import ValidationError

from mock_server.store.base import UnreadableRecord

__all__ = ["RowReader", "document"]

log = logging.getLogger("together_sim.store")

T = TypeVar("T")


def _why(exc: Exception) -> str:
    """What is wrong with a document, in one short line."""
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def document(doc: str) -> dict[str, Any]:
    """A resource's document: a JSON object, without the NaN or Infinity Python's json would
    accept (no answer could carry it)."""
    body = json.loads(doc, parse_constant=_refuse_constant)
    if not isinstance(body, dict):
        raise ValueError(f"a {type(body).__name__}, not an object")
    return body


class RowReader:
    """Loads rows' documents for one database (``where`` names it in the log), remembering which
    bad rows it has logged so that a list polled every second warns once, not every time."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._lock = threading.Lock()
        self._reported: set[tuple[str, str]] = set()

    def _report(self, table: str, key: str, exc: Exception) -> None:
        with self._lock:
            if (table, key) in self._reported:
                return
            self._reported.add((table, key))
        log.warning("%s: %s row %s does not load, left out: %s", self._where, table, key, _why(exc))

    def each(
        self, table: str, rows: Iterable[tuple[Any, str]], load: Callable[[str], T]
    ) -> Iterator[T]:
        """The rows' records (``(key, doc)`` each), leaving out and reporting any that does not
        load."""
        for key, doc in rows:
            try:
                yield load(doc)
            except ValueError as exc:  # pydantic's ValidationError and json's errors included
                self._report(table, str(key), exc)

    def one(
        self, kind: str, id_: str, doc: str, load: Callable[[str], T], *, deletable: bool = False
    ) -> T:
        """The one record asked for; ``deletable`` when deleting it works although it does not
        load, so the error can say so."""
        try:
            return load(doc)
        except ValueError as exc:
            raise UnreadableRecord(kind, id_, _why(exc), deletable=deletable) from None
