"""Opening the configured store: the embedded server or MONGODB_URI, then ``Store.open``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from artwatch.alerts.channels import channel_fields
from artwatch.embedded import database_uri
from artwatch.settings import Settings, load_settings
from pipelines.store.sync import Store


@contextlib.contextmanager
def open_store(settings: Settings | None = None) -> Iterator[Store]:
    """Yield an opened Store; the embedded server (if started here) stops on exit."""
    settings = settings or load_settings()
    with (
        database_uri(settings.mongodb_uri, settings.artwatch_data_dir) as uri,
        Store(uri, settings.artwatch_db_name) as store,
    ):
        store.alert_channels = channel_fields(settings)  # what the crawl enqueues alerts by
        yield store
