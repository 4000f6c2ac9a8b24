"""The dashboard: an artist reviews their hits side by side, confirms or dismisses, exports.

Each artist signs in with a login link (``artwatch artist login-link ID``); the link carries a
random token whose sha256 is stored on the artist, and is exchanged at once for a session
cookie (HttpOnly, SameSite=Strict, HMAC-signed with ``ARTWATCH_SECRET_KEY``) so the token does
not linger in the address bar. Every query is scoped to the signed-in artist: another
artist's hit, artwork or image is a 404, the same answer as a hit that does not exist.
Forms carry a per-artist CSRF token. Pages are plain server-rendered HTML; everything that
comes from a post is escaped. Served by a small threaded WSGI server
(``artwatch dashboard``); alert emails link to ``ARTWATCH_PUBLIC_URL/hits/<id>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from html import escape
from http.cookies import SimpleCookie
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from artwatch.output import json_value
from pipelines.errors import ArtWatchError
from pipelines.store.operations import HIT_STATUSES
from pipelines.store.sync import Store
from pipelines.store.writes import utcnow

SESSION_COOKIE = "artwatch_session"
SESSION_SECONDS = 7 * 24 * 3600
MAX_FORM_BYTES = 4096
HTML = "text/html; charset=utf-8"
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def new_login_token(store: Store, artist_id: str) -> str:
    """A fresh login token for the artist; only its sha256 is stored, older tokens stop working."""
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    if not store.update_artist(artist_id, {"login_token_sha256": digest}):
        raise LookupError(artist_id)
    return token


class Response:
    def __init__(self, status: str, body: bytes = b"", content_type: str = HTML):
        self.status = status
        self.body = body
        self.headers = [("Content-Type", content_type)]
        self.headers += [
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'"),
            ("Referrer-Policy", "no-referrer"),
        ]


def redirect(location: str, cookie: str | None = None) -> Response:
    response = Response("303 See Other")
    response.headers.append(("Location", location))
    if cookie is not None:
        response.headers.append(("Set-Cookie", cookie))
    return response


def page(title: str, body: str, status: str = "200 OK") -> Response:
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)} · ArtWatch"
        "</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "img{max-width:320px;border:1px solid #ccc}td,th{padding:4px 8px;text-align:left}"
        ".pair{display:flex;gap:1em}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return Response(status, html.encode())


def not_found() -> Response:
    return page("Not found", "<p>There is nothing here for you.</p>", "404 Not Found")


class Dashboard:
    """The WSGI application; ``store`` is shared by the server's threads."""

    def __init__(self, store: Store, secret_key: bytes):
        self.store = store
        self.key = secret_key
        self.routes: list[tuple[str, re.Pattern, Callable[..., Response]]] = [
            ("GET", re.compile(r"/"), lambda request: redirect("/hits")),
            ("GET", re.compile(r"/login"), self.login),
            ("POST", re.compile(r"/logout"), self.logout),
            ("GET", re.compile(r"/hits"), self.hit_list),
            ("GET", re.compile(r"/hits/(\w+)"), self.hit_page),
            ("POST", re.compile(r"/hits/(\w+)/status"), self.set_status),
            ("GET", re.compile(r"/hits/(\w+)/evidence\.json"), self.evidence),
            ("GET", re.compile(r"/hits/(\w+)/(found|artwork|screenshot)"), self.image),
        ]

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ, self.artist_of(environ))
        response = self.dispatch(request)
        start_response(response.status, response.headers)
        return [response.body]

    def dispatch(self, request: Request) -> Response:
        for method, pattern, handler in self.routes:
            found = pattern.fullmatch(request.path)
            if found and method == request.method:
                if handler not in (self.login,) and request.artist is None:
                    return redirect("/login")
                return handler(request, *found.groups())
        return not_found()

    # sessions -----------------------------------------------------------------------------

    def sign(self, value: str) -> str:
        return hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()

    def session_cookie(self, artist_id: str) -> str:
        expires = int(time.time()) + SESSION_SECONDS
        value = f"{artist_id}.{expires}"
        return (
            f"{SESSION_COOKIE}={value}.{self.sign(value)}; Path=/; HttpOnly; SameSite=Strict; "
            f"Max-Age={SESSION_SECONDS}"
        )

    def artist_of(self, environ: dict) -> dict | None:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", "")).get(SESSION_COOKIE)
        if cookie is None or cookie.value.count(".") != 2:
            return None
        artist_id, expires, signature = cookie.value.split(".")
        valid = hmac.compare_digest(signature, self.sign(f"{artist_id}.{expires}"))
        if not valid or not expires.isdigit() or int(expires) < time.time():
            return None
        return self.store.artist(artist_id)

    def csrf_token(self, artist: dict) -> str:
        return self.sign(f"csrf:{artist['_id']}")

    # handlers ------------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        token = request.query.get("token", "")
        if token:
            digest = hashlib.sha256(token.encode()).hexdigest()
            artist = self.store.artist_by_login_token(digest)
            if artist is not None:
                return redirect("/hits", self.session_cookie(str(artist["_id"])))
        text = "This login link is not valid any more." if token else "Open your login link."
        hint = "Ask for a new one: <code>artwatch artist login-link ARTIST_ID</code>."
        return page("Sign in", f"<p>{text}</p><p>{hint}</p>", "403 Forbidden")

    def logout(self, request: Request) -> Response:
        if not self.csrf_ok(request):
            return page("Forbidden", "<p>Missing form token.</p>", "403 Forbidden")
        return redirect("/login", f"{SESSION_COOKIE}=; Path=/; Max-Age=0")

    def own_hit(self, request: Request, hit_id: str) -> dict | None:
        try:
            return self.store.hit(hit_id, str(request.artist["_id"]))
        except ArtWatchError:  # a malformed id is simply not found
            return None

    def hit_list(self, request: Request) -> Response:
        status = request.query.get("status")
        hits = self.store.hits(
            str(request.artist["_id"]), status if status in HIT_STATUSES else None
        )
        filters = (
            " · ".join(f"<a href='/hits?status={s}'>{s}</a>" for s in HIT_STATUSES)
            + " · <a href='/hits'>all</a>"
        )
        rows = "".join(
            f"<tr><td><a href='/hits/{hit['_id']}'>{escape(str(hit.get('kind')))}</a></td>"
            f"<td>{escape(str(hit.get('status')))}</td><td>{escape(str(hit.get('platform')))}</td>"
            f"<td>{escape(str(hit.get('author_name') or ''))}</td>"
            f"<td>{escape(_when(hit.get('found_at')))}</td></tr>"
            for hit in hits
        )
        table = (
            "<table class='hits'><tr><th>kind</th><th>status</th><th>platform</th>"
            f"<th>author</th><th>found</th></tr>{rows}</table>"
            if hits
            else "<p>No hits.</p>"
        )
        name = escape(request.artist["name"])
        body = f"<p>Signed in as {name}. {filters}</p>{table}{self.logout_form(request)}"
        return page("Your hits", body)

    def hit_page(self, request: Request, hit_id: str) -> Response:
        hit = self.own_hit(request, hit_id)
        if hit is None:
            return not_found()
        evidence = "".join(
            f"<tr><th>{escape(label)}</th><td>{value}</td></tr>"
            for label, value in (
                ("post", _link(hit.get("post_url"))),
                ("image", _link(hit.get("image_url"))),
                ("platform", escape(str(hit.get("platform")))),
                ("author", escape(str(hit.get("author_name") or hit.get("author_id") or ""))),
                ("posted", escape(_when(hit.get("post_created_at")))),
                ("found", escape(_when(hit.get("found_at")))),
                ("match", escape(f"{hit.get('kind')} (score {hit.get('score', 0):.2f})")),
                ("why AI", escape(", ".join(hit.get("ai_evidence") or []) or "not labelled")),
                ("text", escape(hit.get("text") or "")),
                ("status", escape(str(hit.get("status")))),
            )
        )
        screenshot = (
            f"<p><img alt='post screenshot' src='/hits/{hit_id}/screenshot'></p>"
            if hit.get("screenshot")
            else ""
        )
        buttons = "".join(
            f"<button name='status' value='{s}'>{s.capitalize()}</button>"
            for s in ("confirmed", "dismissed", "new")
            if s != hit.get("status")
        )
        body = (
            "<div class='pair'>"
            f"<figure><img alt='your artwork' src='/hits/{hit_id}/artwork'>"
            "<figcaption>Your artwork</figcaption></figure>"
            f"<figure><img alt='found image' src='/hits/{hit_id}/found'>"
            "<figcaption>Found in the post</figcaption></figure></div>"
            f"<table>{evidence}</table>{screenshot}"
            f"<form method='post' action='/hits/{hit_id}/status'>{self.csrf_field(request)}"
            f"{buttons}</form>"
            f"<p><a href='/hits/{hit_id}/evidence.json'>Export evidence (JSON)</a> · "
            "<a href='/hits'>All hits</a></p>"
        )
        return page("Hit", body)

    def set_status(self, request: Request, hit_id: str) -> Response:
        if not self.csrf_ok(request):
            return page("Forbidden", "<p>Missing form token.</p>", "403 Forbidden")
        status = request.form.get("status", "")
        if status not in HIT_STATUSES:
            return page("Bad request", "<p>Unknown status.</p>", "400 Bad Request")
        if self.own_hit(request, hit_id) is None:
            return not_found()
        self.store.set_hit_status(hit_id, str(request.artist["_id"]), status)
        return redirect(f"/hits/{hit_id}")

    def evidence(self, request: Request, hit_id: str) -> Response:
        hit = self.own_hit(request, hit_id)
        if hit is None:
            return not_found()
        artwork = self.store.artwork(hit["artwork_id"], hit["artist_id"]) or {}
        document = {
            "exported_at": utcnow(),
            "hit": {k: v for k, v in hit.items() if not isinstance(v, bytes)},
            "found_image_sha256": hit.get("image_id"),
            "artwork": {k: artwork.get(k) for k in ("_id", "filename", "sha256", "source")},
        }
        body = json.dumps(document, default=json_value, indent=2, ensure_ascii=False).encode()
        response = Response("200 OK", body, "application/json; charset=utf-8")
        response.headers.append(
            ("Content-Disposition", f"attachment; filename=artwatch-hit-{hit_id}.json")
        )
        return response

    def image(self, request: Request, hit_id: str, which: str) -> Response:
        hit = self.own_hit(request, hit_id)
        if hit is None:
            return not_found()
        if which == "artwork":
            artwork = self.store.artwork(hit["artwork_id"], hit["artist_id"])
            data = (artwork or {}).get("thumbnail")
        else:
            data = hit.get("thumbnail" if which == "found" else "screenshot")
        if not data:
            return not_found()
        response = Response(
            "200 OK", bytes(data), "image/png" if which == "screenshot" else "image/jpeg"
        )
        response.headers[0] = ("Content-Type", response.headers[0][1].split(";")[0])
        response.headers.append(("Cache-Control", "private, max-age=3600"))
        return response

    # forms ----------------------------------------------------------------------------------

    def csrf_field(self, request: Request) -> str:
        return f"<input type='hidden' name='csrf' value='{self.csrf_token(request.artist)}'>"

    def csrf_ok(self, request: Request) -> bool:
        return hmac.compare_digest(request.form.get("csrf", ""), self.csrf_token(request.artist))

    def logout_form(self, request: Request) -> str:
        return (
            f"<form method='post' action='/logout'>{self.csrf_field(request)}"
            "<button>Sign out</button></form>"
        )


class Request:
    """The parts of a WSGI request the handlers use."""

    def __init__(self, environ: dict, artist: dict | None):
        self.method = environ["REQUEST_METHOD"]
        self.path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        self.query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.artist = artist
        self.form: dict[str, str] = {}
        if self.method == "POST":
            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_FORM_BYTES)
            body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
            self.form = {k: v[0] for k, v in parse_qs(body).items()}


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "strftime") else str(value or "")


def _link(url: str | None) -> str:
    if not url or not url.startswith(("https://", "http://")):
        return escape(url or "")
    return f"<a rel='noopener noreferrer' href='{escape(url)}'>{escape(url)}</a>"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_dashboard_server(store: Store, secret_key: bytes, host: str, port: int) -> WSGIServer:
    """A threaded HTTP server for the dashboard; call ``serve_forever()`` on it."""
    return make_server(
        host, port, Dashboard(store, secret_key), _ThreadingServer, handler_class=_QuietHandler
    )
