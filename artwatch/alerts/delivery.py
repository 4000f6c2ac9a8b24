"""What a channel sends: a ``Delivery`` (one alert with its hits and artworks) and the
``Channel`` interface every channel module implements.

A delivery is loaded from the store when its alert is claimed, never cached in the alert, so
a retry sends what the store holds then. Links found in posts (``post_url``, ``image_url``)
pass through ``LinkGuard`` on the way in: a link to a private, loopback or link-local host is
withheld (``None``) unless ``ARTWATCH_ALLOW_PRIVATE_HOSTS`` allows it, so an alert can never
make the artist's mail client or webhook receiver fetch something on an internal network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from pipelines.errors import AlertError, PrivateAddressError
from pipelines.netguard import check_url
from pipelines.store.sync import Store

KIND_ORDER = ("partial", "near", "exact")  # weakest first


class ChannelUnavailable(AlertError):
    """The channel as a whole is down (SMTP unreachable): retry later, skip it this pass."""


@dataclass(frozen=True)
class Entry:
    """One hit of a delivery, with the artwork it matched (None if it was removed)."""

    hit: Mapping[str, Any]
    artwork: Mapping[str, Any] | None

    @property
    def hit_id(self) -> str:
        return str(self.hit["_id"])


@dataclass(frozen=True)
class Delivery:
    """An alert ready to send: ``type`` is ``hit`` (one entry), ``flood`` or ``digest``."""

    alert_id: str
    type: str
    channel: str
    artist: Mapping[str, Any]
    entries: Sequence[Entry]
    period: tuple[datetime, datetime] | None = None
    public_url: str | None = None
    # type "health": a notice to the operator (``artwatch.health``) with ``subject``, ``text``
    # and ``data``, sent through the same channels; ``artist`` is then the operator.
    notice: Mapping[str, Any] | None = None

    def dashboard_url(self, entry: Entry) -> str | None:
        if not self.public_url:
            return None
        return f"{self.public_url.rstrip('/')}/hits/{entry.hit_id}"


class Channel(Protocol):
    """A way to reach an artist; ``send`` raises AlertError (``permanent`` or not).

    Registered by dotted path (``artwatch.alerts.channels``): ``artist_field`` is the artist
    document field that must be set for the artist to get alerts on this channel, and
    ``from_settings(settings)`` returns a channel or None when it is off.
    """

    name: str
    artist_field: ClassVar[str]

    def send(self, delivery: Delivery) -> None: ...


class LinkGuard:
    """Keeps a URL only when it is http(s) and its host resolves to a public address."""

    def __init__(self, allow: Sequence[str] = ()):
        self.allow = tuple(allow)
        self._verdicts: dict[tuple[str, str, int | None], bool] = {}

    def __call__(self, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "", parts.port)
        if key not in self._verdicts:
            self._verdicts[key] = self._public(url)
        return url if self._verdicts[key] else None

    def _public(self, url: str) -> bool:
        try:
            check_url(url, self.allow)
        except (PrivateAddressError, ValueError):
            return False
        return True


def load_delivery(
    store: Store,
    alert: Mapping[str, Any],
    guard: Callable[[str | None], str | None],
    public_url: str | None = None,
) -> Delivery:
    """Read the artist, hits and artworks of a claimed alert.

    Hits that were deleted or dismissed since the alert was written are left out, so
    ``entries`` may be empty; a missing artist raises a permanent AlertError.
    """
    artist = store.artists_by_id([alert["artist_id"]]).get(alert["artist_id"])
    if artist is None:
        raise AlertError(f"artist {alert['artist_id']} no longer exists", permanent=True)
    hit_ids = store.alert_hit_ids(alert)
    hits = store.hits_by_id(hit_ids)
    artworks = store.artworks_by_id({hit["artwork_id"] for hit in hits.values()})
    entries = [
        Entry(_safe_links(hits[hit_id], guard), artworks.get(hits[hit_id]["artwork_id"]))
        for hit_id in hit_ids
        if hit_id in hits and hits[hit_id].get("status") != "dismissed"
    ]
    period = None
    if alert.get("period_start") is not None:
        period = (alert["period_start"], alert["period_end"])
    return Delivery(
        alert_id=str(alert["_id"]),
        type=alert["type"],
        channel=alert["channel"],
        artist=artist,
        entries=entries,
        period=period,
        public_url=public_url,
    )


def _safe_links(hit: Mapping[str, Any], guard: Callable[[str | None], str | None]) -> dict:
    return {**hit, "post_url": guard(hit.get("post_url")), "image_url": guard(hit.get("image_url"))}
