"""Test data for the alert tests: artists, artworks and hits stored through the crawl's own
``record_hit``, and a dispatcher wired to the servers of ``tests.alerts_servers``."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from cryptography.fernet import Fernet
from PIL import Image

from artwatch.alerts.dispatcher import Dispatcher
from artwatch.alerts.email import EmailChannel
from artwatch.alerts.webhook import WebhookChannel
from artwatch.sealed import SecretBox
from artwatch.settings import Alerts

SECRET = "whsec-test-0123456789"
SENDER = "ArtWatch <alerts@artwatch.test>"
PUBLIC_URL = "https://artwatch.example"
LOCAL = ("127.0.0.1",)
# The key of webhook secrets for these tests, and for `artwatch` processes they start
# (ARTWATCH_SECRETS_KEY), which encrypt the plain secrets stored here.
SECRETS_KEY = Fernet.generate_key().decode()


def jpeg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return buffer.getvalue()


# data ----------------------------------------------------------------------------------------


def add_artist(store, *, email="ana@example.org", webhook=None, **preferences) -> dict:
    artist_id = store.add_artist("Ana <Painter>", email, webhook, SECRET if webhook else None)
    if preferences:
        store.update_artist(artist_id, preferences)
    return store.artist(artist_id)


def add_artwork(store, artist: dict, name: str = "sunset.png") -> str:
    sha = f"{name:0<64}"[:64]
    fields = {"filename": name, "source": f"/art/{name}", "thumbnail": jpeg((200, 40, 40))}
    artwork_id, _ = store.add_artwork(
        str(artist["_id"]), sha, {**fields, "width": 64, "height": 48}
    )
    return artwork_id


def add_hit(
    store,
    artist: dict,
    artwork_id: str,
    number: int = 1,
    *,
    kind: str = "near",
    text: str = "new piece #aiart",
    found_at: datetime | None = None,
    host: str = "127.0.0.1",
) -> str:
    """A hit as the crawl pipeline stores it, alerts enqueued; returns the hit id."""
    hit = {
        "artist_id": str(artist["_id"]),
        "artwork_id": artwork_id,
        "image_id": f"{number:064x}",
        "post_id": f"mastodon:{number}",
        "kind": kind,
        "score": 0.91,
        "distances": {"pdq": 18},
        "platform": "mastodon",
        "post_url": f"http://{host}/@bot/{number}",
        "image_url": f"http://{host}/media/{number}.jpg",
        "author_id": "bot@social.example",
        "author_name": "Bot <b>bold</b>",
        "post_created_at": datetime(2026, 4, 30, 9, 30, tzinfo=UTC),
        "found_at": found_at or datetime.now(UTC),
        "ai_labeled": True,
        "ai_evidence": ["tag:aiart", "label:<i>ai</i>"],
        "text": text,
        "thumbnail": jpeg((40, 40, 200)),
        "screenshot": None,
        "status": "new",
    }
    hit_id, _ = store.record_hit(hit, artist)
    return hit_id


def dispatcher(
    store, smtp_port: int | None = None, *, allow=LOCAL, worker: str | None = None, **policy
) -> Dispatcher:
    webhook = WebhookChannel(allow, timeout=5, secret_box=SecretBox(SECRETS_KEY))
    channels: dict = {"webhook": webhook, "email": None}  # None: off
    if smtp_port is not None:
        channels["email"] = EmailChannel(f"smtp://127.0.0.1:{smtp_port}", SENDER, timeout=5)
    return Dispatcher(
        store,
        channels,
        Alerts(**policy),
        allow=allow,
        public_url=PUBLIC_URL,
        worker=worker,
    )


def statuses(store) -> dict[str, str]:
    return {f"{a['hit_id']}/{a['channel']}": a["status"] for a in store.alerts()}
