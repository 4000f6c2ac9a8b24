"""The dispatcher: one pass claims due alerts one at a time, routes, sends, records.

A pass first releases held alerts whose digest hour or flood hour is over (turning them into
summary alerts), then claims until nothing due is left. A claimed hit alert is routed by
the artist's preferences at that moment: below ``min_kind`` it is skipped, for a daily
artist it is held for the digest, past the flood threshold it is held for the hour's
summary; otherwise it is sent. Each alert's failure is its own: a permanent error fails it,
any other error backs it off, and a channel that is down as a whole (SMTP unreachable) is
left alone for the rest of the pass while the others go on. ``now`` is a parameter so tests
and the scheduler drive time; nothing here sleeps.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from artwatch.alerts.channels import SETTING, build_channels, channel_classes
from artwatch.alerts.delivery import (
    KIND_ORDER,
    Channel,
    ChannelUnavailable,
    LinkGuard,
    load_delivery,
)
from artwatch.alerts.digest import digest_hold
from artwatch.alerts.flood import flood_hold
from artwatch.settings import Alerts, Settings, load_settings, load_sources
from pipelines.errors import AlertError
from pipelines.store.sync import Store

log = logging.getLogger("artwatch.alerts")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def below_min_kind(kind: str | None, min_kind: str | None, derivatives: bool = False) -> bool:
    """True when a hit of ``kind`` does not alert. A derivative (a re-drawn work) is weaker
    than every copy: listed for review, alerted only when the artist asked for it."""
    if kind == "derivative":
        return not derivatives
    if not min_kind or min_kind not in KIND_ORDER:
        return False
    return kind not in KIND_ORDER or KIND_ORDER.index(kind) < KIND_ORDER.index(min_kind)


class Dispatcher:
    """Drains the outbox of one store through the configured channels.

    ``channels`` maps each channel name to its channel, or to None for one that is off: its
    alerts stay pending. An alert of a channel not named at all waits too, with an error.
    """

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel | None],
        policy: Alerts,
        *,
        allow: Sequence[str] = (),
        public_url: str | None = None,
        worker: str | None = None,
        rng: random.Random | None = None,
    ):
        self.store = store
        self.channels = dict(channels)
        self.policy = policy
        self.allow = tuple(allow)
        self.public_url = public_url
        self.outbox = store.outbox(worker or worker_name())
        self.rng = rng or random.Random()
        self.off_hints: dict[str, str] = {}  # channel -> why it is off, for the warning

    @classmethod
    def from_settings(cls, store: Store, settings: Settings, policy: Alerts) -> Dispatcher:
        allow = settings.artwatch_allow_private_hosts
        dispatcher = cls(
            store,
            build_channels(settings),
            policy,
            allow=allow,
            public_url=settings.artwatch_public_url,
        )
        classes = channel_classes(settings).items()
        dispatcher.off_hints = {name: getattr(c, "off_hint", "") for name, c in classes}
        return dispatcher

    def run_pass(self, now: datetime | None = None) -> Counter:
        """Send everything due at ``now``; returns how many alerts ended each way."""
        now = now or datetime.now(UTC)
        self.outbox.release_due(now)
        off = {name for name, channel in self.channels.items() if channel is None}
        skip = set(off)
        guard = LinkGuard(self.allow)  # one DNS verdict per host and pass
        outcomes: Counter = Counter()
        while (alert := self.outbox.claim(now, skip)) is not None:
            outcome = self._handle(alert, now, guard)
            outcomes[outcome] += 1
            if outcome == "channel_down":
                skip.add(alert["channel"])
        for name in sorted(off):
            self._warn_waiting(name)
        return outcomes

    def _handle(self, alert: dict, now: datetime, guard: LinkGuard) -> str:
        try:
            if alert["type"] == "hit" and (routed := self._route(alert, now)):
                return routed
            delivery = load_delivery(self.store, alert, guard, self.public_url)
            if not delivery.entries:
                self.outbox.skip(alert, now, "every hit was dismissed or deleted meanwhile")
                return "skipped"
            self._channel(alert["channel"]).send(delivery)
        except ChannelUnavailable as error:
            log.warning("alert %s: %s; retrying on a later pass", alert["_id"], error)
            self.outbox.defer(alert, now, str(error))
            return "channel_down"
        except AlertError as error:
            log.warning("alert %s (%s): %s", alert["_id"], alert["channel"], error)
            if error.permanent:
                self.outbox.failed(alert, now, str(error))
                return "failed"
            return self.outbox.retry(alert, now, str(error), self.policy.max_attempts, self.rng)
        except Exception as error:  # bad data or a bug must not stop the other alerts
            log.exception("alert %s could not be sent", alert["_id"])
            message = f"{type(error).__name__}: {error}"
            return self.outbox.retry(alert, now, message, self.policy.max_attempts, self.rng)
        self.outbox.sent(alert, now)
        return "sent"

    def _route(self, alert: Mapping[str, Any], now: datetime) -> str | None:
        """Skip or hold a hit alert by the artist's preferences; None means send it now."""
        hit = self.store.hit(alert["hit_id"])
        artist = self.store.artist(alert["artist_id"])
        if artist is None:
            raise AlertError(f"artist {alert['artist_id']} no longer exists", permanent=True)
        if hit is None or hit.get("status") == "dismissed":
            self.outbox.skip(alert, now, "the hit was dismissed or deleted")
            return "skipped"
        derivatives = bool(artist.get("alert_derivatives"))
        if below_min_kind(hit.get("kind"), artist.get("min_kind"), derivatives):
            reason = f"kind {hit.get('kind')} is below min_kind {artist.get('min_kind')}"
            self.outbox.skip(alert, now, reason)
            return "skipped"
        if artist.get("alert_mode") == "daily":
            hold = digest_hold(alert["artist_id"], now, self.policy.digest_hour)
        else:
            hold = flood_hold(self.store, hit, self.policy.flood_threshold)
        if hold is None:
            return None
        self.outbox.hold(alert, hold)
        return "held"

    def _channel(self, name: str) -> Channel:
        channel = self.channels.get(name)
        if channel is None:  # a channel removed from the setting: keep its alerts
            raise ChannelUnavailable(f"no alert channel {name!r} is configured in {SETTING}")
        return channel

    def _warn_waiting(self, name: str) -> None:
        waiting = self.store.count_alerts(name, "pending")
        if waiting:
            hint = self.off_hints.get(name) or "the channel is off"
            log.warning("%d %s alerts wait in the outbox: %s", waiting, name, hint)


def dispatch(
    store: Store,
    settings: Settings | None = None,
    now: datetime | None = None,
    policy: Alerts | None = None,
) -> Counter:
    """One dispatch pass with the configured channels (the CLI and the scheduler call this)."""
    settings = settings or load_settings()
    policy = policy or load_sources(settings.artwatch_sources).alerts
    return Dispatcher.from_settings(store, settings, policy).run_pass(now)
