"""Opening the configured store: the embedded server or MONGODB_URI, then ``Store.open``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from artwatch.alerts.channels import channel_fields
from artwatch.crawls import mark_abandoned
from artwatch.embedded import database_uri
from artwatch.sealed import SecretBox, seal_stored_secrets
from artwatch.settings import Settings, load_settings
from pipelines.store.sync import Store

log = logging.getLogger("artwatch.context")


@contextlib.contextmanager
def open_store(settings: Settings | None = None) -> Iterator[Store]:
    """Yield an opened Store; the embedded server (if started here) stops on exit."""
    settings = settings or load_settings()
    with (
        database_uri(settings.mongodb_uri, settings.artwatch_data_dir) as uri,
        Store(uri, settings.artwatch_db_name) as store,
    ):
        store.alert_channels = channel_fields(settings)  # what the crawl enqueues alerts by
        for run_id in mark_abandoned(store):  # the start of anything marks them
            log.warning("run %s was left running by a runner that died: abandoned", run_id)
        sealed = seal_stored_secrets(store, SecretBox.from_settings(settings))
        if sealed:
            log.info("encrypted %d webhook secret(s) stored in plain text", sealed)
        yield store
