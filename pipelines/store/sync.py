"""The MongoDB store for the CLI, the service and the dashboard: pymongo's ``MongoClient``
running the operations of ``pipelines.store.operations``.

Writes are idempotent upserts keyed by the natural identity of each record (``posts`` by
``platform:post_id``, ``images`` by sha256, ``hits`` by artwork+image+post), so a crawl that
is killed and run again stores each thing once; uniqueness is enforced by indexes created at
``open()``, never by reading first. Datetimes are tz-aware UTC. The store works the same
against MongoDB and the embedded nx-27017 server; the README lists where those differ.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from pipelines.errors import StoreUnavailable
from pipelines.store.operations import Operation, Operations, run_sync
from pipelines.store.outbox import Outbox

CONNECT_TIMEOUT_MS = 3000


def redact_uri(uri: str) -> str:
    """The URI without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", uri)


class Store(Operations):
    """Open with ``Store(uri).open()``; ``open`` fails fast with StoreUnavailable."""

    def __init__(self, uri: str, db_name: str = "artwatch", timeout_ms: int = CONNECT_TIMEOUT_MS):
        self.uri = uri
        self.client: MongoClient = MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            tz_aware=True,
            tzinfo=UTC,
        )
        self.db = self.client[db_name]

    def _run(self, operation: Operation) -> Any:
        return run_sync(self.db, operation)

    def open(self) -> Store:
        try:
            self.client.admin.command("ping")
            self.ensure_indexes()
        except PyMongoError as error:
            self.client.close()
            raise StoreUnavailable(
                f"cannot reach MongoDB at {redact_uri(self.uri)} (MONGODB_URI): "
                f"{type(error).__name__}"
            ) from error
        return self

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def outbox(self, worker: str) -> Outbox:
        """The alert outbox as one dispatcher (``worker``) claims and settles it."""
        return Outbox(self.db.alerts, worker)
