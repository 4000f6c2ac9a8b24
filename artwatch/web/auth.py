"""Signing in: single-use login links, revocable sessions, and the form token.

A login link carries a random token; only its sha256 and an expiry (``LOGIN_TOKEN_TTL``) are
stored on the artist, and ``Store.consume_login_token`` spends it in the same write that finds
it, so a link works once. The session itself is Starlette's signed cookie (``SessionMiddleware``,
keyed with ``ARTWATCH_SECRET_KEY``) holding the artist id, a CSRF token and the artist's
``session_version`` at sign-in. Every request compares that version with the stored one, and
signing out, asking for a new link and "sign out everywhere" all increment it: a copied or
old cookie stops working at once, on every device of that artist. Forms and the JSON API
carry the session's CSRF token (synchronizer-token pattern: a hidden ``csrf`` field, or the
``X-CSRF-Token`` header), compared in constant time; the cookie is also ``SameSite=Lax``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from pipelines.errors import ArtWatchError
from pipelines.store.sync import Store
from pipelines.store.writes import utcnow

LOGIN_TOKEN_TTL = timedelta(hours=24)
SESSION_COOKIE = "artwatch_session"
SESSION_MAX_AGE = 7 * 24 * 3600


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_login_token(store: Store, artist_id: str) -> str:
    """A fresh single-use login token; the older one and the artist's sessions end."""
    token = secrets.token_urlsafe(32)
    try:
        known = store.set_login_token(artist_id, digest(token), utcnow() + LOGIN_TOKEN_TTL)
    except ArtWatchError:  # not even an id
        known = False
    if not known:
        raise LookupError(artist_id)
    return token


def sign_in(request: Request, store: Store, token: str) -> dict[str, Any] | None:
    """Spend ``token`` and start a session; the artist, or None for a bad or used link."""
    artist = store.consume_login_token(digest(token), utcnow()) if token else None
    if artist is None:
        return None
    request.session.clear()
    request.session.update(
        artist=str(artist["_id"]),
        version=artist.get("session_version", 0),
        csrf=secrets.token_urlsafe(24),
    )
    return artist


def current_artist(request: Request) -> dict[str, Any] | None:
    """The signed-in artist, or None when the session is missing, ended or forged."""
    session = request.session
    if "artist" not in session:
        return None
    try:
        artist = request.app.state.store.artist(session["artist"])
    except ArtWatchError:
        artist = None
    if artist is None or artist.get("session_version", 0) != session.get("version"):
        session.clear()
        return None
    return artist


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site (login CSRF: signing a
    victim into the attacker's account), ``null`` included; no ``Origin`` header at all is a
    non-browser client."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    public = request.app.state.config.public_url  # behind a proxy that rewrites Host
    allowed = {request.headers.get("host"), urlsplit(public).netloc if public else None}
    return urlsplit(origin).netloc in allowed - {None}


def csrf_token(request: Request) -> str:
    return request.session.get("csrf", "")


def check_csrf(request: Request, submitted: str | None) -> None:
    """403 unless ``submitted`` is this session's token."""
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(expected, submitted or ""):
        raise HTTPException(status_code=403, detail="missing or wrong form token")
