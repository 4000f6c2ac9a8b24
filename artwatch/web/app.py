"""The web app: FastAPI routes, Jinja2 templates, Starlette sessions, served by uvicorn.

``create_app`` wires the parts: ``pages`` (the HTML an artist uses), ``api`` (the same actions
as JSON, described at ``/openapi.json``), ``evidence`` (the evidence pack) and ``operator``.
Around every response: a strict Content-Security-Policy (no inline script or style, no
framing), ``Cache-Control: no-store`` (pages show hits; only ``/static`` may be cached), and a
bound on request bodies checked on ``Content-Length`` before any route, session or form
parser runs. ``server`` is uvicorn with a connection limit, an idle timeout, and a deadline
for each request's head (``HeadDeadline``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from artwatch.sealed import SecretBox
from artwatch.web import render
from artwatch.web.auth import SESSION_COOKIE, SESSION_MAX_AGE
from artwatch.web.pdf import CHROMIUM
from pipelines.store.sync import Store

HERE = Path(__file__).parent
MAX_BODY_BYTES = 64 * 1024  # forms and JSON
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # one portfolio upload request, all files together
UPLOAD_PATHS = ("/portfolio", "/api/artworks")
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own
    # forms, and the sign-in forms check Origin (auth.same_origin).
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
IDLE_SECONDS = 5
MAX_CONNECTIONS = 64


@dataclass
class WebConfig:
    """What the app needs from the settings."""

    secret_key: bytes
    secret_box: SecretBox  # seals webhook secrets (artwatch.sealed)
    public_url: str | None = None
    allow_private_hosts: tuple[str, ...] = ()
    image_maxsize: int = 25 * 1024 * 1024
    chromium: str = CHROMIUM  # prints the evidence report to PDF (artwatch.web.pdf)

    @property
    def https(self) -> bool:
        return bool(self.public_url and self.public_url.startswith("https://"))


class SignInRequired(Exception):
    """A page needs a signed-in artist: answered with a redirect to /login."""


def create_app(store: Store, config: WebConfig) -> FastAPI:
    """The ASGI app for ``store``; ``config.secret_key`` signs session cookies."""
    from artwatch.web import api, evidence, operator, pages

    app = FastAPI(
        title="ArtWatch",
        version="1",
        description="Review hits, manage a portfolio and alert settings. Signed-in session "
        "cookie; unsafe methods need the X-CSRF-Token header.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.config = config
    app.state.backscans = {}
    app.include_router(pages.router)
    app.include_router(evidence.router)
    app.include_router(operator.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.secret_key.hex(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=config.https,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, uploads=UPLOAD_PATHS)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


async def _sign_in(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _wants_json(request):
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    return render.error_page(request, exc.status_code)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _wants_json(request):
        return JSONResponse({"detail": _plain(exc.errors())}, 422)
    return render.error_page(request, 400)


def _plain(errors: Iterable[Any]) -> list[dict[str, Any]]:
    # Validation errors may carry the offending bytes or exceptions: keep what JSON can hold.
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors]


class SecurityHeaders:
    """Adds the CSP and friends to every response, and ``no-store`` outside ``/static``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not static:
                    headers = [h for h in headers if h[0].lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """Refuses a body over the limit from its ``Content-Length``, before anything reads it.

    A request with a body but without ``Content-Length`` (chunked) is refused with 411, so
    the declared length is always the bound: uvicorn never delivers more than it declares.
    """

    def __init__(self, app: ASGIApp, limit: int, uploads: Iterable[str] = ()):
        self.app = app
        self.limit = limit
        self.uploads = tuple(uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        limit = MAX_UPLOAD_BYTES if scope["path"] in self.uploads else self.limit
        if chunked or (length is not None and not length.isdigit()):
            await _plain_response(send, 411, "send a Content-Length (no chunked bodies)")
        elif length is not None and int(length) > limit:
            megabytes = limit / (1024 * 1024)
            await _plain_response(send, 413, f"request body over {megabytes:g} MB")
        else:
            await self.app(scope, receive, send)


async def _plain_response(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HeadDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head.

    uvicorn times out an idle keep-alive connection only after a response; a client that
    connects and sends nothing, or half a header, would hold one of the ``MAX_CONNECTIONS``
    slots for ever. Here every connection must start a request within ``seconds`` of opening
    and of each response, or it is closed.
    """

    seconds: float = 10.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def _arm(self) -> None:
        self.loop.call_later(self.seconds, self._expire, self.cycle)

    def _expire(self, cycle: Any) -> None:
        idle = cycle is None or cycle.response_complete  # not in the middle of a request
        if self.cycle is cycle and idle and not self.transport.is_closing():
            self.timeout_keep_alive_handler()  # no new request since: close


def server(app: FastAPI, host: str, port: int) -> tuple[uvicorn.Server, socket.socket]:
    """A uvicorn server for ``app`` and its bound socket (port 0: any free port)."""
    config = uvicorn.Config(
        app,
        http=HeadDeadline,
        timeout_keep_alive=IDLE_SECONDS,
        limit_concurrency=MAX_CONNECTIONS,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return uvicorn.Server(config), sock
