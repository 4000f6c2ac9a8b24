"""Signed webhooks against a real HTTP receiver on 127.0.0.1 that checks each signature."""

from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime, timedelta

from artwatch.alerts.delivery import LinkGuard, load_delivery
from artwatch.alerts.webhook import sign, verify
from pipelines.store.outbox import LEASE
from tests.alerts_support import LOCAL, add_artist, add_artwork, add_hit, dispatcher

pytest_plugins = ["tests.alerts_servers"]


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    body = b'{"a": 1}'
    header = sign("secret", 1700000000, body)
    # Computed independently: printf '1700000000.{"a": 1}' | openssl dgst -sha256 -hmac secret
    assert header == (
        "t=1700000000,v1=942c6f7e34ef5c448cbbbf79276da392036d59f0bd9fb74ba14eb8e83e2bb6cd"
    )
    at = 1700000000 + 10
    assert verify("secret", header, body, now=at)
    assert not verify("other", header, body, now=at)
    assert not verify("secret", header, body + b" ", now=at)
    assert not verify("secret", "garbage", body, now=at)


def test_verify_refuses_a_signature_older_or_newer_than_the_tolerance():
    body = b'{"a": 1}'
    header = sign("secret", 1700000000, body)
    assert verify("secret", header, body, now=1700000000 + 300)
    assert not verify("secret", header, body, now=1700000000 + 301)  # replayed 5 min later
    assert not verify("secret", header, body, now=1700000000 - 301)  # from the future
    assert verify("secret", header, body, tolerance=3600, now=1700000000 + 301)
    assert not verify("secret", header, body)  # by the real clock, 2023 is long past
    fresh = sign("secret", int(time.time()), body)
    assert verify("secret", fresh, body)


def test_each_delivery_arrives_once_signed_with_the_hit(store, receiver):
    artist = add_artist(store, webhook=receiver.url)
    artwork = add_artwork(store, artist)
    hits = [add_hit(store, artist, artwork, number) for number in (1, 2, 3)]

    assert dispatcher(store).run_pass() == {"sent": 3}
    assert dispatcher(store).run_pass() == {}

    assert len(receiver.deliveries) == 3
    assert all(delivery["valid"] for delivery in receiver.deliveries)
    alerts = {str(a["_id"]): a for a in store.db.alerts.find({"channel": "webhook"})}
    assert sorted(receiver.ids) == sorted(alerts)
    body = receiver.deliveries[0]["json"]
    assert body["delivery"] == receiver.ids[0]
    assert body["type"] == "hit"
    hit = body["hits"][0]
    assert hit["hit_id"] == alerts[body["delivery"]]["hit_id"] and hit["hit_id"] in hits
    assert hit["kind"] == "near" and hit["platform"] == "mastodon"
    assert hit["ai_evidence"] == ["tag:aiart", "label:<i>ai</i>"]
    assert hit["artwork"]["filename"] == "sunset.png"
    assert base64.b64decode(hit["thumbnails"]["found"])[:2] == b"\xff\xd8"
    assert base64.b64decode(hit["thumbnails"]["artwork"])[:2] == b"\xff\xd8"
    assert hit["found_at"].endswith("Z")
    assert receiver.deliveries[0]["path"] == "/hooks/artwatch"


def test_500_twice_then_200_arrives_after_retries_once(store, receiver):
    receiver.statuses = [500, 500, 200]
    artist = add_artist(store, webhook=receiver.url)
    add_hit(store, artist, add_artwork(store, artist))
    run = dispatcher(store)
    now = datetime.now(UTC)

    assert run.run_pass(now) == {"retry": 1}
    alert = store.db.alerts.find_one({"channel": "webhook"})
    assert alert["status"] == "pending" and "HTTP 500" in alert["last_error"]
    first_delay = alert["next_attempt_at"] - now
    assert timedelta(seconds=30) <= first_delay <= timedelta(seconds=60)
    assert run.run_pass(now + timedelta(seconds=20)) == {}  # not due yet: no request

    assert run.run_pass(alert["next_attempt_at"]) == {"retry": 1}
    alert = store.db.alerts.find_one({"channel": "webhook"})
    assert alert["next_attempt_at"] - now > first_delay  # the backoff grew

    assert run.run_pass(alert["next_attempt_at"]) == {"sent": 1}
    assert [d["id"] for d in receiver.deliveries] == [str(alert["_id"])] * 3
    assert all(d["valid"] for d in receiver.deliveries)
    assert store.db.alerts.find_one({"channel": "webhook"})["status"] == "sent"
    assert run.run_pass(now + timedelta(days=1)) == {}


def test_attempts_run_out_then_failed_and_retriable(store, receiver):
    receiver.statuses = [503, 429, 200]
    artist = add_artist(store, webhook=receiver.url)
    add_hit(store, artist, add_artwork(store, artist))
    run = dispatcher(store, max_attempts=2)
    now = datetime.now(UTC)
    assert run.run_pass(now) == {"retry": 1}
    assert run.run_pass(now + timedelta(hours=1)) == {"failed": 1}
    alert = store.db.alerts.find_one({"channel": "webhook"})
    assert alert["status"] == "failed" and "HTTP 429" in alert["last_error"]

    assert run.outbox.retry_failed(now + timedelta(hours=2)) == 1
    assert run.run_pass(now + timedelta(hours=2)) == {"sent": 1}
    assert len(receiver.deliveries) == 3


def test_4xx_is_permanent_and_does_not_block_email(store, receiver, smtp):
    inbox, port = smtp
    receiver.statuses = [410]
    artist = add_artist(store, webhook=receiver.url)
    add_hit(store, artist, add_artwork(store, artist))
    assert dispatcher(store, port).run_pass() == {"failed": 1, "sent": 1}
    assert len(receiver.deliveries) == 1 and len(inbox.messages) == 1
    failed = store.db.alerts.find_one({"status": "failed"})
    assert failed["channel"] == "webhook" and "HTTP 410" in failed["last_error"]


def test_private_webhook_target_is_refused_unless_allowed(store, receiver):
    artist = add_artist(store, webhook=receiver.url)
    add_hit(store, artist, add_artwork(store, artist))
    assert dispatcher(store, allow=()).run_pass() == {"failed": 1}
    alert = store.db.alerts.find_one({"channel": "webhook"})
    assert "ARTWATCH_ALLOW_PRIVATE_HOSTS" in alert["last_error"]
    assert receiver.deliveries == []

    dispatcher(store).outbox.retry_failed(datetime.now(UTC))
    assert dispatcher(store, allow=("127.0.0.0/8",)).run_pass() == {"sent": 1}
    assert len(receiver.deliveries) == 1


def test_links_in_the_body_to_private_hosts_are_withheld(store, receiver):
    artist = add_artist(store, webhook=receiver.url)
    add_hit(store, artist, add_artwork(store, artist), host="169.254.169.254")
    dispatcher(store).run_pass()
    hit = receiver.deliveries[0]["json"]["hits"][0]
    assert hit["post_url"] is None and hit["image_url"] is None


def test_two_concurrent_dispatchers_never_send_the_same_alert(store, receiver):
    artist = add_artist(store, webhook=receiver.url)
    artwork = add_artwork(store, artist)
    for number in range(1, 31):
        add_hit(store, artist, artwork, number)
    now = datetime.now(UTC)
    runners = [dispatcher(store, worker=f"worker-{n}", flood_threshold=100) for n in (1, 2)]
    results = [None, None]
    start = threading.Barrier(2)

    def drain(index: int) -> None:
        start.wait()
        results[index] = runners[index].run_pass(now)

    threads = [threading.Thread(target=drain, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(receiver.ids) == 30 and len(set(receiver.ids)) == 30
    assert results[0]["sent"] + results[1]["sent"] == 30
    assert store.db.alerts.distinct("status", {"channel": "webhook"}) == ["sent"]
    claimed_by = {a["claimed_by"] for a in store.db.alerts.find({"channel": "webhook"})}
    assert claimed_by <= {"worker-1", "worker-2"}


def test_an_expired_claim_is_sent_again_with_the_same_delivery_id(store, receiver):
    """A dispatcher that dies after sending but before marking ``sent``: at least once."""
    artist = add_artist(store, webhook=receiver.url)
    add_hit(store, artist, add_artwork(store, artist))
    now = datetime.now(UTC)
    dead = dispatcher(store, worker="dead")
    alert = dead.outbox.claim(now, skip_channels={"email"})
    dead.channels["webhook"].send(load_delivery(store, alert, LinkGuard(LOCAL)))
    # ... and the dispatcher dies here, before marking the alert sent.

    assert dispatcher(store).run_pass(now + LEASE / 2) == {}  # the lease still holds
    assert dispatcher(store).run_pass(now + LEASE + timedelta(seconds=1)) == {"sent": 1}
    assert receiver.ids == [str(alert["_id"])] * 2  # one duplicate, same X-ArtWatch-Delivery
    assert dispatcher(store).run_pass(now + timedelta(days=1)) == {}
