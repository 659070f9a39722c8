"""Persistence behind one interface: ``Store`` (``base.py``), kept in SQLite (``sqlite.py``)."""

from mock_server.store.base import Store
from mock_server.store.sqlite import SqliteStore

__all__ = ["SqliteStore", "Store"]
