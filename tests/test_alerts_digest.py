"""Artist preferences at dispatch time: daily digest, min_kind, and the flood guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from artwatch.alerts.digest import next_digest_at
from tests.alerts_support import add_artist, add_artwork, add_hit, dispatcher, statuses

pytest_plugins = ["tests.alerts_servers"]


def test_next_digest_is_the_next_local_digest_hour():
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    release = next_digest_at(now, 8)
    assert release > now and release - now <= timedelta(days=1)
    assert release.astimezone().hour == 8 and release.astimezone().minute == 0
    assert next_digest_at(release, 8) == release + timedelta(days=1)


def test_digest_artist_gets_nothing_instantly_and_one_email_at_the_digest_hour(
    store, smtp, receiver
):
    inbox, port = smtp
    artist = add_artist(store, webhook=receiver.url, alert_mode="daily")
    artwork = add_artwork(store, artist)
    for number in (1, 2, 3):
        add_hit(store, artist, artwork, number)
    run = dispatcher(store, port, digest_hour=8)
    now = datetime.now(UTC)
    digest_at = next_digest_at(now, 8)

    assert run.run_pass(now) == {"held": 6}
    assert run.run_pass(digest_at - timedelta(minutes=1)) == {}
    assert inbox.messages == [] and receiver.deliveries == []

    assert run.run_pass(digest_at) == {"sent": 2}  # one digest per channel
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["Subject"] == "ArtWatch daily digest: 3 new matches"
    plain = message.get_body(("plain",)).get_content()
    assert all(f"http://127.0.0.1/@bot/{number}" in plain for number in (1, 2, 3))
    assert len([p for p in message.walk() if p.get_content_type() == "image/jpeg"]) == 6
    assert len(receiver.deliveries) == 1 and receiver.deliveries[0]["valid"]
    body = receiver.deliveries[0]["json"]
    assert body["type"] == "digest" and len(body["hits"]) == 3
    hit_alerts = store.db.alerts.find({"type": "hit"})
    assert {a["status"] for a in hit_alerts} == {"sent"}

    assert run.run_pass(digest_at + timedelta(hours=1)) == {}  # nothing twice
    add_hit(store, artist, artwork, 4)  # after the digest: waits for tomorrow's
    later = digest_at + timedelta(hours=2)
    assert run.run_pass(later) == {"held": 2}
    assert run.run_pass(digest_at + timedelta(days=1)) == {"sent": 2}
    assert inbox.messages[-1]["Subject"] == "ArtWatch daily digest: 1 new match"


def test_switching_to_instant_before_the_digest_does_not_resend(store, smtp):
    inbox, port = smtp
    artist = add_artist(store, alert_mode="daily")
    add_hit(store, artist, add_artwork(store, artist))
    run = dispatcher(store, port)
    now = datetime.now(UTC)
    assert run.run_pass(now) == {"held": 1}
    store.db.artists.update_one({"_id": artist["_id"]}, {"$set": {"alert_mode": "instant"}})
    assert run.run_pass(now + timedelta(minutes=5)) == {}  # held alerts keep their digest
    assert run.run_pass(next_digest_at(now, 8)) == {"sent": 1}
    assert len(inbox.messages) == 1


def test_min_kind_skips_weaker_matches(store, smtp):
    inbox, port = smtp
    artist = add_artist(store, min_kind="near")
    artwork = add_artwork(store, artist)
    add_hit(store, artist, artwork, 1, kind="partial")
    add_hit(store, artist, artwork, 2, kind="exact")
    add_hit(store, artist, artwork, 3, kind="near")
    assert dispatcher(store, port).run_pass() == {"sent": 2, "skipped": 1}
    subjects = sorted(message["Subject"] for message in inbox.messages)
    assert ["exact match" in s or "near match" in s for s in subjects] == [True, True]
    skipped = store.db.alerts.find_one({"status": "skipped"})
    assert "below min_kind near" in skipped["last_error"]


def test_a_dismissed_hit_is_not_alerted(store, smtp):
    inbox, port = smtp
    artist = add_artist(store)
    hit_id = add_hit(store, artist, add_artwork(store, artist))
    assert store.set_hit_status(hit_id, str(artist["_id"]), "dismissed")
    assert dispatcher(store, port).run_pass() == {"skipped": 1}
    assert inbox.messages == []


def test_flood_guard_sends_one_summary_for_the_hits_past_the_threshold(store, smtp, receiver):
    inbox, port = smtp
    artist = add_artist(store, webhook=receiver.url)
    artwork = add_artwork(store, artist)
    other = add_artwork(store, artist, "moon.png")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    for number in range(1, 6):
        add_hit(store, artist, artwork, number, found_at=hour + timedelta(minutes=number))
    add_hit(store, artist, other, 9, found_at=hour + timedelta(minutes=9))
    run = dispatcher(store, port, flood_threshold=3)

    assert run.run_pass(hour + timedelta(minutes=10)) == {"sent": 8, "held": 4}
    assert len(inbox.messages) == 4 and len(receiver.deliveries) == 4

    assert run.run_pass(hour + timedelta(hours=1)) == {"sent": 2}
    assert len(inbox.messages) == 5 and len(receiver.deliveries) == 5
    summary = inbox.messages[-1]
    assert summary["Subject"] == "ArtWatch: sunset.png found in 2 more posts within an hour"
    plain = summary.get_body(("plain",)).get_content()
    assert "http://127.0.0.1/@bot/4" in plain and "http://127.0.0.1/@bot/5" in plain
    assert "http://127.0.0.1/@bot/1" not in plain
    body = receiver.deliveries[-1]["json"]
    assert body["type"] == "flood" and len(body["hits"]) == 2
    assert body["period"]["start"] == hour.isoformat().replace("+00:00", "Z")
    assert set(statuses(store).values()) == {"sent"}
    assert run.run_pass(hour + timedelta(days=1)) == {}


def test_hits_dismissed_before_the_digest_are_left_out(store, smtp):
    inbox, port = smtp
    artist = add_artist(store, alert_mode="daily")
    artwork = add_artwork(store, artist)
    add_hit(store, artist, artwork, 1)
    dropped = add_hit(store, artist, artwork, 2)
    run = dispatcher(store, port)
    now = datetime.now(UTC)
    assert run.run_pass(now) == {"held": 2}
    store.set_hit_status(dropped, str(artist["_id"]), "dismissed")

    assert run.run_pass(next_digest_at(now, 8)) == {"sent": 1}
    plain = inbox.messages[0].get_body(("plain",)).get_content()
    assert "/@bot/1" in plain and "/@bot/2" not in plain
    assert inbox.messages[0]["Subject"] == "ArtWatch daily digest: 1 new match"


def test_a_digest_of_only_dismissed_hits_is_not_sent(store, smtp):
    inbox, port = smtp
    artist = add_artist(store, alert_mode="daily")
    hit_id = add_hit(store, artist, add_artwork(store, artist))
    run = dispatcher(store, port)
    now = datetime.now(UTC)
    run.run_pass(now)
    store.set_hit_status(hit_id, str(artist["_id"]), "dismissed")
    assert run.run_pass(next_digest_at(now, 8)) == {"skipped": 1}
    assert inbox.messages == []
    assert set(statuses(store).values()) == {"skipped"}
