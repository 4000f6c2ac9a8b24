"""The webhook channel: a signed JSON ``POST`` to the artist's ``webhook_url``.

Headers (DESIGN.md, "Webhooks"): ``X-ArtWatch-Delivery`` (the alert id, stable across
retries) and ``X-ArtWatch-Signature`` (HMAC-SHA256 with the artist's ``webhook_secret``).
The connection goes to the address ``pipelines.netguard.check_url`` checked, so DNS rebinding
cannot reach a private target; redirects are not followed. 2xx is success, 4xx other than 408
and 429 is permanent, anything else is retried.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import http.client
import json
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from artwatch.alerts.delivery import ChannelUnavailable, Delivery, Entry
from artwatch.sealed import SecretBox, is_sealed
from artwatch.settings import Settings
from pipelines.errors import AlertError, ConfigError, PrivateAddressError
from pipelines.netguard import check_url

TIMEOUT_SECONDS = 10.0
RETRYABLE_4XX = (408, 429)
USER_AGENT = "ArtWatch-Webhook/1"
# How old a signature's ``t`` may be (either way, for clock skew) before ``verify`` refuses it:
# a captured request replayed later is then rejected.
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-ArtWatch-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does: recompute the signature, compare in constant time, and refuse a
    ``t`` more than ``tolerance`` seconds away from ``now`` (a replayed request)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields or not fields["t"].isdigit():
        return False
    timestamp = int(fields["t"])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


class WebhookChannel:
    """POSTs deliveries to ``artist.webhook_url``; private targets only if allowed."""

    name = "webhook"
    artist_field = "webhook_url"

    def __init__(
        self,
        allow: Sequence[str] = (),
        timeout: float = TIMEOUT_SECONDS,
        secret_box: SecretBox | None = None,
    ):
        self.allow = tuple(allow)
        self.timeout = timeout
        self.secret_box = secret_box  # None: only plain secrets (tests' hand-made artists)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookChannel:
        box = SecretBox.from_settings(settings)
        return cls(settings.artwatch_allow_private_hosts, secret_box=box)

    @functools.cached_property
    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context()  # loading the CA store is slow: once per channel

    def send(self, delivery: Delivery) -> None:
        url = delivery.artist.get("webhook_url")
        secret = delivery.artist.get("webhook_secret")
        if not url or not secret:
            raise AlertError("the artist has no webhook_url or no webhook_secret", permanent=True)
        secret = self._open(secret)
        body = json.dumps(payload(delivery), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-ArtWatch-Delivery": delivery.alert_id,
            "X-ArtWatch-Signature": sign(secret, int(time.time()), body),
        }
        status = self._post(url, body, headers)
        if 200 <= status < 300:
            return
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        raise AlertError(f"webhook answered HTTP {status}", permanent=permanent)

    def _open(self, stored: str) -> str:
        """The plain secret, decrypted only here, to sign; a wrong key makes every webhook wait."""
        if self.secret_box is not None:
            try:
                return self.secret_box.open(stored)
            except ConfigError as error:
                raise ChannelUnavailable(str(error)) from None
        if is_sealed(stored):
            raise ChannelUnavailable("webhook secrets are encrypted and no key was given")
        return stored

    def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            addresses = [str(address) for address in check_url(url, self.allow)]
        except PrivateAddressError as error:
            raise AlertError(str(error), permanent=True) from None
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = PinnedHTTPS(
                parts.hostname, parts.port, addresses, self.timeout, context=self.tls
            )
        else:
            connection = PinnedHTTP(parts.hostname, parts.port, addresses, self.timeout)
        try:
            connection.request("POST", path, body=body, headers=dict(headers))
            response = connection.getresponse()
            response.read(65536)  # drain a little so the server sees a clean close
            return response.status
        except (OSError, http.client.HTTPException) as error:
            raise AlertError(f"webhook {parts.hostname} unreachable: {error!r}") from None
        finally:
            connection.close()


def connect_any(addresses: Sequence[str], port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first of the checked addresses that answers."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as failure:
            error = failure
    raise error


class PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to pre-checked addresses; ``Host`` stays the URL's host."""

    def __init__(self, host: str, port: int | None, addresses: Sequence[str], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = connect_any(self.addresses, self.port, self.timeout)


class PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to pre-checked addresses, verifying the certificate for the URL's host."""

    def __init__(
        self,
        host: str,
        port: int | None,
        addresses: Sequence[str],
        timeout: float,
        *,
        context: ssl.SSLContext,
    ):
        super().__init__(host, port, timeout=timeout, context=context)
        self.addresses = addresses

    def connect(self) -> None:
        sock = connect_any(self.addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def payload(delivery: Delivery) -> dict[str, Any]:
    """The JSON body; thumbnails ride along as base64 JPEG in single-hit deliveries only."""
    body: dict[str, Any] = {
        "delivery": delivery.alert_id,
        "type": delivery.type,
        "artist_id": str(delivery.artist["_id"]),
        "hits": [_hit(delivery, entry) for entry in delivery.entries],
    }
    if delivery.period:
        body["period"] = {"start": _iso(delivery.period[0]), "end": _iso(delivery.period[1])}
    if delivery.notice is not None:
        body["health"] = dict(delivery.notice["data"])
    return body


def _hit(delivery: Delivery, entry: Entry) -> dict[str, Any]:
    hit, artwork = entry.hit, entry.artwork
    fields = (
        "kind", "score", "distances", "platform", "post_id", "post_url", "image_url",
        "author_id", "author_name", "ai_labeled", "ai_evidence", "text", "status",
    )  # fmt: skip
    document: dict[str, Any] = {"hit_id": entry.hit_id, **{key: hit.get(key) for key in fields}}
    document["post_created_at"] = _iso(hit.get("post_created_at"))
    document["found_at"] = _iso(hit.get("found_at"))
    document["artwork"] = {
        "id": hit.get("artwork_id"),
        "filename": artwork.get("filename") if artwork else None,
        "source": artwork.get("source") if artwork else None,
    }
    document["dashboard_url"] = delivery.dashboard_url(entry)
    if delivery.type == "hit":
        document["thumbnails"] = {
            "artwork": _b64(artwork.get("thumbnail") if artwork else None),
            "found": _b64(hit.get("thumbnail")),
        }
    return document


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data else None
