"""Email alerts against a real aiosmtpd server on 127.0.0.1."""

# The Chinese expectations are written with full-width punctuation, as Chinese is.
# ruff: noqa: RUF001

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from artwatch.alerts.digest import next_digest_at
from artwatch.alerts.email import EmailChannel
from artwatch.settings import Settings
from tests.alerts_support import (
    PUBLIC_URL,
    add_artist,
    add_artwork,
    add_hit,
    dispatcher,
    statuses,
)

pytest_plugins = ["tests.alerts_servers"]

EVIL = '<script>alert("x")</script> <img src=x onerror=alert(1)> & more'


def _parts(message):
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    images = [part for part in message.walk() if part.get_content_type() == "image/jpeg"]
    return plain.get_content(), html.get_content(), images


def test_one_message_per_alert_with_both_parts_and_inline_images(store, smtp):
    inbox, port = smtp
    artist = add_artist(store, email="ana@example.org")
    artwork = add_artwork(store, artist)
    first = add_hit(store, artist, artwork, 1, text=EVIL)
    add_hit(store, artist, artwork, 2)

    outcomes = dispatcher(store, port).run_pass()

    assert outcomes == {"sent": 2}
    assert len(inbox.envelopes) == 2
    assert all(recipients == ["ana@example.org"] for recipients, _ in inbox.envelopes)
    message = next(m for m in inbox.messages if m["X-ArtWatch-Delivery"] and "/@bot/1" in str(m))
    assert message["To"].addresses[0].addr_spec == "ana@example.org"
    assert "sunset.png" in message["Subject"] and "near match" in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    plain, html, images = _parts(message)
    assert len(images) == 2
    for image in images:
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html
        assert image.get_payload(decode=True)[:2] == b"\xff\xd8"
    # The post's text and author are shown, escaped: no tag from the post survives.
    assert "<script>" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;bold" in html
    assert EVIL in plain  # the plain part shows the text as it was
    assert "http://127.0.0.1/@bot/1" in html and "mastodon" in plain
    assert "tag:aiart" in plain and "label:&lt;i&gt;ai&lt;/i&gt;" in html
    assert f"{PUBLIC_URL}/hits/{first}" in plain and f'href="{PUBLIC_URL}/hits/{first}"' in html
    assert set(statuses(store).values()) == {"sent"}

    assert dispatcher(store, port).run_pass() == {}  # nothing is sent twice
    assert len(inbox.envelopes) == 2


def test_message_id_is_stable_per_alert(store, smtp):
    inbox, port = smtp
    artist = add_artist(store)
    add_hit(store, artist, add_artwork(store, artist))
    dispatcher(store, port).run_pass()
    alert = store.db.alerts.find_one({"channel": "email"})
    assert inbox.messages[0]["Message-ID"] == f"<alert-{alert['_id']}@artwatch.test>"


def test_links_to_private_hosts_are_withheld_unless_allowed(store, smtp):
    inbox, port = smtp
    artist = add_artist(store)
    add_hit(store, artist, add_artwork(store, artist), host="10.1.2.3")
    dispatcher(store, port, allow=()).run_pass()
    plain, html, _ = _parts(inbox.messages[0])
    assert "10.1.2.3" not in plain and "10.1.2.3" not in html
    assert "link withheld" in plain


def test_smtp_down_keeps_alerts_pending_until_a_later_pass(store, smtp):
    inbox, port = smtp
    artist = add_artist(store)
    artwork = add_artwork(store, artist)
    for number in (1, 2, 3):
        add_hit(store, artist, artwork, number)
    now = datetime.now(UTC)

    down = dispatcher(store, port + 1 if port < 65535 else port - 1)  # nobody listens there
    assert down.run_pass(now) == {"channel_down": 1}  # one try, then the channel is left alone
    assert set(statuses(store).values()) == {"pending"}
    assert all(a["attempts"] == 0 for a in store.db.alerts.find())  # an outage costs nothing
    assert inbox.envelopes == []

    later = now + timedelta(minutes=2)
    assert dispatcher(store, port).run_pass(later) == {"sent": 3}
    assert len(inbox.envelopes) == 3
    assert set(statuses(store).values()) == {"sent"}


def test_without_smtp_url_email_alerts_wait_and_webhooks_still_go(store, receiver):
    artist = add_artist(store, webhook=receiver.url)
    add_hit(store, artist, add_artwork(store, artist))
    assert dispatcher(store, None).run_pass() == {"sent": 1}
    assert len(receiver.deliveries) == 1
    assert sorted(statuses(store).values()) == ["pending", "sent"]


def test_an_artist_who_reads_chinese_gets_the_email_in_chinese(store, smtp):
    inbox, port = smtp
    mei = add_artist(store, email="mei@example.org", language="zh_Hans")
    ana = add_artist(store, email="ana@example.org")
    luc = add_artist(store, email="luc@example.org", language="fr")  # not ours: English
    for artist in (mei, ana, luc):
        add_hit(store, artist, add_artwork(store, artist))

    assert dispatcher(store, port).run_pass() == {"sent": 3}
    received = {recipients[0]: message for recipients, message in inbox.envelopes}

    chinese = received["mei@example.org"]
    assert chinese["Subject"] == "ArtWatch：在 mastodon 上发现 sunset.png（近似匹配）"
    raw_subject = dict(chinese.raw_items())["Subject"]
    assert raw_subject.isascii() and "=?utf-8?" in raw_subject.lower()  # RFC 2047 on the wire
    plain, html, images = _parts(chinese)
    plain = "\n".join(plain.splitlines())
    for part in (chinese.get_body(("plain",)), chinese.get_body(("html",))):
        assert part.get_content_charset() == "utf-8"
    assert plain.startswith("一个标记为 AI 艺术的帖子包含你的作品。\n")
    assert "   匹配：近似（得分 0.91）" in plain
    assert "   发布时间：2026-04-30 09:30 UTC，发布者 Bot <b>bold</b> (bot@social.example)" in plain
    assert "   判定为 AI 的依据：tag:aiart; label:<i>ai</i>" in plain  # evidence stays as found
    assert plain.rstrip().endswith("你收到这封邮件，是因为你在 ArtWatch 登记了作品集。")
    assert html.startswith('<!DOCTYPE html><html lang="zh-Hans">')
    assert "<th" in html and "判定为 AI 的依据" in html and 'alt="在帖子中发现"' in html
    assert len(images) == 2
    for english_word in ("Your artwork", "Posted", "Why it counts", "You receive this"):
        assert english_word not in plain and english_word not in html

    for address in ("ana@example.org", "luc@example.org"):
        english = received[address]
        assert english["Subject"] == "ArtWatch: sunset.png found on mastodon (near match)"
        plain, html, _ = _parts(english)
        plain = "\n".join(plain.splitlines())
        assert plain.startswith("A post tagged as AI art contains your artwork.\n")
        assert "   Match: near (score 0.91)\n" in plain
        assert "   Posted: 2026-04-30 09:30 UTC by Bot <b>bold</b> (bot@social.example)" in plain
        assert plain.isascii() and html.startswith("<!DOCTYPE html><html><body")


def test_a_digest_in_chinese(store, smtp):
    inbox, port = smtp
    mei = add_artist(store, email="mei@example.org", language="zh_Hans", alert_mode="daily")
    artwork = add_artwork(store, mei)
    for number in (1, 2):
        add_hit(store, mei, artwork, number)
    now = datetime.now(UTC)
    run = dispatcher(store, port, digest_hour=8)
    assert run.run_pass(now) == {"held": 2}
    assert run.run_pass(next_digest_at(now, 8)) == {"sent": 1}
    message = inbox.messages[0]
    assert message["Subject"] == "ArtWatch 每日摘要：2 个新匹配"
    plain, _, _ = _parts(message)
    assert plain.startswith("自上次摘要以来，有 2 个标记为 AI 艺术的帖子与你的作品匹配。")


def test_smtp_url_is_checked_at_start_up():
    with pytest.raises(ValidationError, match="smtps://"):
        Settings(smtp_url="mail.example:25")
    assert EmailChannel.from_settings(Settings(smtp_url="")) is None
    channel = EmailChannel.from_settings(Settings(smtp_url="smtps://a%40b:pw@mail.example"))
    assert (channel.host, channel.port, channel.username) == ("mail.example", 465, "a@b")
