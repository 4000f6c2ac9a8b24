"""What the pages and the JSON API both do, over the Store's public methods only.

Every read of a hit, an artwork or a picture goes through the signed-in artist's id, so
another artist's id is indistinguishable from one that does not exist (``None`` here, 404 at
the edge). Uploads are checked completely (size, archive, decodable image, enough detail,
not already enrolled) before ``Store.add_artwork``, so a refused file leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from artwatch.alerts.delivery import Delivery
from artwatch.alerts.webhook import WebhookChannel
from artwatch.portfolio import artwork_fields, backscan
from artwatch.sealed import SecretBox
from pipelines.engine.fingerprint import is_current
from pipelines.errors import AlertError, ArtWatchError, ImageRejected
from pipelines.store.operations import HIT_STATUSES
from pipelines.store.sync import Store

KINDS = ("exact", "near", "partial", "derivative")
ALERT_MODES = ("instant", "daily")
PAGE_SIZE = 24


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


# Why an upload was refused, by ``ImageRejected.reason``.
REFUSALS = {
    "empty": N_("The file is empty."),
    "not_an_image": N_(
        "Not a picture we can read (JPEG, PNG, WebP, GIF, BMP, TIFF). SVG, PDF and other "
        "documents are refused."
    ),
    "too_many_pixels": N_("Too many pixels (over 50 megapixels); it may be a decompression bomb."),
    "truncated": N_("The file is cut short."),
    "corrupt": N_("The file is damaged."),
    "too_small": N_("The picture is smaller than 32 pixels on a side."),
    "low_information": N_(
        "The picture is too plain (almost one colour) to be told apart from other pictures."
    ),
}
ZIP_REFUSAL = N_("A zip archive: upload the pictures themselves.")
SIZE_REFUSAL = N_("Larger than %(mb)s MB.")
DUPLICATE = N_("Already in your portfolio.")


def own_hit(store: Store, artist: Mapping[str, Any], hit_id: str) -> dict | None:
    try:
        return store.hit(hit_id, str(artist["_id"]))
    except ArtWatchError:  # a malformed id is simply not found
        return None


def own_artwork(store: Store, artist: Mapping[str, Any], artwork_id: str) -> dict | None:
    try:
        return store.artwork(artwork_id, str(artist["_id"]))
    except ArtWatchError:
        return None


@dataclass
class Filters:
    """The review queue's filters; anything unknown is simply no filter."""

    status: str | None = None
    kind: str | None = None
    platform: str | None = None
    since: date | None = None
    until: date | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        return cls(
            status=_one_of(query.get("status"), HIT_STATUSES),
            kind=_one_of(query.get("kind"), KINDS),
            platform=(query.get("platform") or "").strip()[:40] or None,
            since=_date(query.get("since")),
            until=_date(query.get("until")),
        )

    def query(self) -> dict[str, Any]:
        """For ``Store.hits_page``: dates become UTC datetimes, ``until`` inclusive."""
        return {
            "status": self.status,
            "kind": self.kind,
            "platform": self.platform,
            "since": _midnight(self.since),
            "until": _midnight(self.until + timedelta(days=1)) if self.until else None,
        }

    def params(self) -> dict[str, str]:
        """The filters as query parameters, for links that keep them."""
        values = {k: v for k, v in vars(self).items() if v is not None}
        return {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in values.items()}


def _one_of(value: str | None, allowed: Iterable[str]) -> str | None:
    return value if value in tuple(allowed) else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), UTC)


def hits_page(
    store: Store, artist: Mapping[str, Any], filters: Filters, page: int
) -> tuple[list[dict], int, int]:
    """(hits of the page, total, number of pages), newest first."""
    page = max(1, page)
    hits, total = store.hits_page(
        str(artist["_id"]), filters.query(), (page - 1) * PAGE_SIZE, PAGE_SIZE
    )
    return hits, total, max(1, -(-total // PAGE_SIZE))


def region(hit: Mapping[str, Any]) -> dict[str, float] | None:
    """Where on the found picture the artwork is, as fractions of its width and height.

    Read from the hit's ``region`` (``x0, y0, x1, y1``), which a match carries when the
    engine located the artwork inside a larger picture; None when the hit has none.
    """
    box = hit.get("region")
    if not isinstance(box, Mapping):
        return None
    try:
        x0, y0, x1, y1 = (float(box[k]) for k in ("x0", "y0", "x1", "y1"))
    except (KeyError, TypeError, ValueError):
        return None
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        return None
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}


def ai_reasons(hit: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The AI evidence as (message id, value): why the post counts as AI art."""
    labels = {
        "tag": N_("AI tag #%(value)s on the post"),
        "platform": N_("posted on an AI-only platform (%(value)s)"),
        "label": N_("the platform labels it AI (%(value)s)"),
    }
    reasons = []
    for entry in hit.get("ai_evidence") or ():
        prefix, _, value = str(entry).partition(":")
        reasons.append((labels.get(prefix, N_("%(value)s")), value or prefix))
    return reasons


@dataclass
class Upload:
    """What happened to one uploaded file."""

    filename: str
    outcome: str  # enrolled, duplicate, refused
    why: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    artwork_id: str | None = None


def enroll_upload(
    store: Store, artist: Mapping[str, Any], filename: str, data: bytes, maxsize: int
) -> Upload:
    """Check one uploaded file completely, then enroll it; nothing is stored on refusal."""
    name = (filename or "upload").rsplit("/", 1)[-1][:200]
    if len(data) > maxsize:
        return Upload(name, "refused", SIZE_REFUSAL, {"mb": maxsize // (1024 * 1024)})
    if data.startswith(b"PK\x03\x04"):
        return Upload(name, "refused", ZIP_REFUSAL)
    sha256 = hashlib.sha256(data).hexdigest()
    artist_id = str(artist["_id"])
    if store.has_artwork(artist_id, sha256):
        return Upload(name, "duplicate", DUPLICATE)
    try:
        fields = artwork_fields(data, f"upload:{name}")
    except ImageRejected as error:
        return Upload(name, "refused", REFUSALS.get(error.reason, REFUSALS["corrupt"]))
    fields["filename"] = name
    artwork_id, created = store.add_artwork(artist_id, sha256, fields)
    if not created:
        return Upload(name, "duplicate", DUPLICATE)
    return Upload(name, "enrolled", artwork_id=artwork_id)


def artwork_state(artwork: Mapping[str, Any]) -> str:
    return "enrolled" if is_current(artwork.get("fingerprint")) else "refresh"


def start_backscan(state: Any, store: Store, artist_id: str, artwork_ids: list[str]) -> None:
    """Search already crawled images for new artworks in a thread; progress in ``state``."""
    if not artwork_ids:
        return
    total = store.collection_counts(["images"])["images"]
    progress = {"running": True, "finished": False, "done": 0, "total": total, "found": 0}
    state.backscans[artist_id] = progress

    def step() -> None:
        progress["done"] += 1

    def work() -> None:
        try:
            progress["found"] = backscan(store, artwork_ids, step)
        finally:
            progress.update(running=False, finished=True)

    threading.Thread(target=work, name=f"backscan-{artist_id}", daemon=True).start()


def backscan_progress(state: Any, artist_id: str) -> dict[str, Any]:
    idle = {"running": False, "finished": False, "done": 0, "total": 0, "found": 0}
    return dict(state.backscans.get(artist_id) or idle)


def update_settings(
    store: Store, artist: Mapping[str, Any], form: Mapping[str, Any], box: SecretBox
) -> list[str]:
    """Apply the settings form; returns the message ids of what was wrong (nothing changed)."""
    from artwatch.cli import EMAIL  # the CLI's rule for an address

    errors, changes = [], {}
    email = str(form.get("email") or "").strip()
    if not EMAIL.match(email):
        errors.append(N_("That is not an email address."))
    changes["email"] = email
    changes["alert_mode"] = _one_of(form.get("alert_mode"), ALERT_MODES) or "instant"
    changes["min_kind"] = _one_of(form.get("min_kind"), KINDS[:3])
    changes["alert_derivatives"] = bool(form.get("alert_derivatives"))
    webhook = str(form.get("webhook_url") or "").strip()
    if webhook and not _http_url(webhook):
        errors.append(N_("The webhook must be an http:// or https:// address."))
    changes["webhook_url"] = webhook or None
    if webhook and not artist.get("webhook_secret"):
        changes["webhook_secret"] = box.seal(secrets.token_hex(32))
    if not errors:
        store.update_artist(str(artist["_id"]), changes)
    return errors


def _http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and len(url) <= 2000


def rotate_secret(store: Store, artist: Mapping[str, Any], box: SecretBox) -> str:
    """A new webhook secret, stored sealed; the plain one is returned to be shown once."""
    secret = secrets.token_hex(32)
    store.update_artist(str(artist["_id"]), {"webhook_secret": box.seal(secret)})
    return secret


def send_test(
    artist: Mapping[str, Any], allow_private: Iterable[str], box: SecretBox
) -> tuple[bool, str]:
    """POST a signed test delivery to the artist's webhook: (delivered, the receiver's answer)."""
    delivery = Delivery(
        alert_id=f"test-{secrets.token_hex(8)}",
        type="test",
        channel="webhook",
        artist=artist,
        entries=[],
    )
    try:
        WebhookChannel(tuple(allow_private), secret_box=box).send(delivery)
    except AlertError as error:
        return False, str(error)
    return True, "2xx"
