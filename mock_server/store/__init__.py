"""Persistence: records behind ``Store`` (``base.py``), kept in SQLite (``sqlite.py``) with a
schema brought up to date by numbered steps (``migrations.py``); bytes behind ``BlobStore``
(``blobs.py``), kept as files under the data dir, or in S3-compatible object storage
(``s3_blobs.py``, imported only when ``--blob-url`` asks for it)."""

from mock_server.store.base import Store, UnreadableRecord
from mock_server.store.blobs import BlobStore, LocalBlobStore
from mock_server.store.migrations import SchemaError, SchemaTooNew
from mock_server.store.sqlite import SqliteStore

__all__ = [
    "BlobStore",
    "LocalBlobStore",
    "SchemaError",
    "SchemaTooNew",
    "SqliteStore",
    "Store",
    "UnreadableRecord",
]
