"""Alerts: the outbox in ``alerts``, a dispatcher that drains it, one module per channel.

An alert document moves through these states (``status``)::

    pending ──claim──> sending ──sent──> sent
       ^                  │ ├──error, attempts left──> pending (next_attempt_at = backoff)
       │                  │ ├──permanent error or attempts used up──> failed ──retry──┐
       │                  │ ├──kind below the artist's min_kind──> skipped            │
       │                  │ └──daily artist, or flood──> held ──due──> grouped        │
       └──lease expired (the dispatcher died)──┘                   (into one summary) │
       └──────────────────────────────────────────────────────────────────────────────┘

Hit alerts are enqueued by the crawl pipeline (``pipelines.store.alerts``); the dispatcher
claims and settles them through ``pipelines.store.outbox``, which also writes the summary
alerts (a daily digest, or a flood summary for one artwork) when their held alerts become
due; those are then claimed and sent like any other. Delivery is at least once: a dispatcher
killed after sending and before marking ``sent`` leaves a claim whose lease expires, and the
alert is sent again with the same id (``X-ArtWatch-Delivery``, ``Message-ID``) so the
receiver can drop the duplicate.
"""

from artwatch.alerts.dispatcher import Dispatcher, dispatch

__all__ = ["Dispatcher", "dispatch"]
