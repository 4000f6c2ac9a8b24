"""Derivatives (re-drawn works) are listed for review and alerted only when the artist asks."""

from __future__ import annotations

from tests.alerts_support import add_artist, add_artwork, add_hit, dispatcher


def test_derivatives_are_not_alerted_by_default(store, smtp):
    inbox, port = smtp
    artist = add_artist(store)
    artwork = add_artwork(store, artist)
    add_hit(store, artist, artwork, 1, kind="derivative")
    add_hit(store, artist, artwork, 2, kind="partial")
    assert dispatcher(store, port).run_pass() == {"sent": 1, "skipped": 1}
    skipped = store.db.alerts.find_one({"status": "skipped"})
    assert "kind derivative" in skipped["last_error"]
    assert len(inbox.messages) == 1


def test_an_artist_who_asks_for_derivatives_is_alerted(store, smtp):
    inbox, port = smtp
    artist = add_artist(store, min_kind="near", alert_derivatives=True)
    artwork = add_artwork(store, artist)
    add_hit(store, artist, artwork, 1, kind="derivative")
    add_hit(store, artist, artwork, 2, kind="partial")  # still below min_kind
    assert dispatcher(store, port).run_pass() == {"sent": 1, "skipped": 1}
    assert len(inbox.messages) == 1
