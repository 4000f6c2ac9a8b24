"""The operator's view (``artwatch admin login-link``): artists, sources' health, the outbox.

The operator signs in like an artist, with a single-use link, but the session names no
artist: every artist route answers as to a stranger. This page shows who is enrolled and how
big their portfolio is, each source's last run, and the alert outbox by state; never a hit.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from artwatch.web import auth, render
from artwatch.web.pages import store
from pipelines.errors import ArtWatchError
from pipelines.store.writes import utcnow

router = APIRouter(include_in_schema=False)


def new_operator_token(store_: Any) -> str:
    token = secrets.token_urlsafe(32)
    store_.set_operator_token(auth.digest(token), utcnow() + auth.LOGIN_TOKEN_TTL)
    return token


def signed_in_operator(request: Request) -> bool:
    session = request.session
    if not session.get("operator"):
        return False
    operator = store(request).operator() or {}
    if operator.get("session_version", 0) != session.get("version"):
        session.clear()
        return False
    return True


@router.get("/admin/login")
def admin_login_page(request: Request, token: str = "") -> Response:
    return render.page(request, "login.html", token=token[:100], action="/admin/login")


@router.post("/admin/login")
def admin_login(request: Request, token: Annotated[str, Form()] = "") -> Response:
    if not auth.same_origin(request):
        raise HTTPException(403)
    operator = store(request).consume_operator_token(auth.digest(token[:100]), utcnow())
    if operator is None:
        return render.page(request, "login.html", token="", invalid=True, status=403)
    request.session.clear()
    request.session.update(
        operator=True, version=operator.get("session_version", 0), csrf=secrets.token_urlsafe(24)
    )
    return RedirectResponse("/admin", status_code=303)


@router.get("/admin")
def admin(request: Request) -> Response:
    if not signed_in_operator(request):
        return RedirectResponse("/admin/login", status_code=303)
    from artwatch.scheduler import sources_status
    from artwatch.settings import load_sources

    db = store(request)
    artists = [
        {
            "name": a["name"],
            "email": a["email"],
            "artworks": db.count_artworks(str(a["_id"])),
            "alert_mode": a.get("alert_mode", "instant"),
            "created_at": a.get("created_at"),
        }
        for a in db.artists()
    ]
    try:
        sources = sources_status(db, load_sources())
    except ArtWatchError:  # a broken sources.yaml must not hide the rest of the page
        sources = []
    return render.page(
        request,
        "admin.html",
        operator=True,
        artists=artists,
        sources=sources,
        outbox=db.count_by("alerts", "status"),
        failed=db.alerts("failed", 20),
    )


@router.post("/admin/logout")
def admin_logout(request: Request, csrf: Annotated[str, Form()]) -> Response:
    if not signed_in_operator(request):
        raise HTTPException(404)
    auth.check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/admin/login", status_code=303)
