"""The HTML pages: sign-in, the review queue, a hit, the portfolio, settings, pictures."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from artwatch.web import actions, auth, i18n, render
from artwatch.web.app import SignInRequired

router = APIRouter(include_in_schema=False)
See = 303  # See Other: after a form, the browser GETs the next page


def signed_in(request: Request) -> dict[str, Any]:
    artist = auth.current_artist(request)
    if artist is None:
        raise SignInRequired()
    request.state.artist = artist
    return artist


Artist = Annotated[dict[str, Any], Depends(signed_in)]
Csrf = Annotated[str, Form()]


def store(request: Request):
    return request.app.state.store


def secret_box(request: Request):
    return request.app.state.config.secret_box


def back(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=See)


def local(path: str | None, default: str = "/hits") -> str:
    """``path`` if it is a path on this site (never ``//host`` or a scheme), else ``default``."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default


@router.get("/")
def home() -> Response:
    return back("/hits")


@router.get("/login")
def login_page(request: Request, token: str = "") -> Response:
    # A button, not an immediate sign-in: mail scanners that open links must not spend them.
    return render.page(request, "login.html", token=token[:100], status=200 if token else 401)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form()] = "") -> Response:
    if not auth.same_origin(request):
        raise HTTPException(403)
    artist = auth.sign_in(request, store(request), token[:100])
    if artist is None:
        return render.page(request, "login.html", token="", invalid=True, status=403)
    return back("/hits")


@router.post("/logout")
def logout(request: Request, artist: Artist, csrf: Csrf) -> Response:
    auth.check_csrf(request, csrf)
    store(request).end_sessions(str(artist["_id"]))
    request.session.clear()
    return back("/login")


@router.post("/language")
def language(
    request: Request, lang: Annotated[str, Form()], next: Annotated[str, Form()] = "/hits"
) -> Response:
    code = lang if lang in i18n.LANGUAGES else i18n.DEFAULT
    response = back(local(next))
    response.set_cookie(i18n.COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    artist = auth.current_artist(request)
    if artist is not None:  # emails and evidence follow the artist's language
        store(request).update_artist(str(artist["_id"]), {"language": code})
    return response


@router.get("/hits")
def hits(request: Request, artist: Artist, page: int = 1) -> Response:
    filters = actions.Filters.parse(request.query_params)
    page = min(max(page, 1), 10_000)
    found, total, pages = actions.hits_page(store(request), artist, filters, page)
    return render.page(
        request,
        "hits.html",
        hits=found,
        total=total,
        page=page,
        pages=pages,
        filters=filters,
        platforms=store(request).hit_platforms(str(artist["_id"])),
        statuses=actions.HIT_STATUSES,
        kinds=actions.KINDS,
        query=urlencode(filters.params()),
        here=str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
    )


@router.post("/hits/status")
def hits_status(
    request: Request,
    artist: Artist,
    csrf: Csrf,
    status: Annotated[str, Form()],
    ids: Annotated[list[str], Form()] = (),  # type: ignore[assignment]
    next: Annotated[str, Form()] = "/hits",
) -> Response:
    auth.check_csrf(request, csrf)
    if status not in actions.HIT_STATUSES:
        raise HTTPException(400)
    store(request).set_hits_status(list(ids)[:500], str(artist["_id"]), status)
    return back(local(next))


def found_hit(request: Request, artist: dict, hit_id: str) -> dict[str, Any]:
    hit = actions.own_hit(store(request), artist, hit_id)
    if hit is None:
        raise HTTPException(404)
    return hit


@router.get("/hits/{hit_id}")
def hit_page(request: Request, artist: Artist, hit_id: str, undo: str = "") -> Response:
    hit = found_hit(request, artist, hit_id)
    artwork = actions.own_artwork(store(request), artist, str(hit.get("artwork_id")))
    return render.page(
        request,
        "hit.html",
        hit=hit,
        hit_id=hit_id,
        artwork=artwork,
        region=actions.region(hit),
        reasons=actions.ai_reasons(hit),
        undo=undo if undo in actions.HIT_STATUSES and undo != hit.get("status") else None,
    )


@router.post("/hits/{hit_id}/status")
def hit_status(
    request: Request, artist: Artist, hit_id: str, csrf: Csrf, status: Annotated[str, Form()]
) -> Response:
    auth.check_csrf(request, csrf)
    hit = found_hit(request, artist, hit_id)
    if status not in actions.HIT_STATUSES:
        raise HTTPException(400)
    store(request).set_hit_status(hit_id, str(artist["_id"]), status)
    return back(f"/hits/{hit_id}?{urlencode({'undo': hit.get('status')})}")


def picture(data: Any, media_type: str) -> Response:
    if not data:
        raise HTTPException(404)
    return Response(bytes(data), media_type=media_type)


@router.get("/hits/{hit_id}/found.jpg")
def found_picture(request: Request, artist: Artist, hit_id: str) -> Response:
    return picture(found_hit(request, artist, hit_id).get("thumbnail"), "image/jpeg")


@router.get("/hits/{hit_id}/screenshot.png")
def screenshot(request: Request, artist: Artist, hit_id: str) -> Response:
    return picture(found_hit(request, artist, hit_id).get("screenshot"), "image/png")


@router.get("/hits/{hit_id}/artwork.jpg")
def hit_artwork(request: Request, artist: Artist, hit_id: str) -> Response:
    hit = found_hit(request, artist, hit_id)
    artwork = actions.own_artwork(store(request), artist, str(hit.get("artwork_id")))
    return picture((artwork or {}).get("thumbnail"), "image/jpeg")


@router.get("/portfolio")
def portfolio(request: Request, artist: Artist) -> Response:
    return portfolio_page(request, artist)


def portfolio_page(request: Request, artist: dict, **context: Any) -> Response:
    artworks = store(request).artworks(str(artist["_id"]))
    for artwork in artworks:
        artwork["state"] = actions.artwork_state(artwork)
    progress = actions.backscan_progress(request.app.state, str(artist["_id"]))
    return render.page(request, "portfolio.html", artworks=artworks, progress=progress, **context)


@router.post("/portfolio")
def upload(request: Request, artist: Artist, csrf: Csrf, files: list[UploadFile]) -> Response:
    auth.check_csrf(request, csrf)
    config = request.app.state.config
    results = []
    for file in files[:50]:
        data = file.file.read(config.image_maxsize + 1)
        results.append(
            actions.enroll_upload(
                store(request), artist, file.filename or "", data, config.image_maxsize
            )
        )
    added = [r.artwork_id for r in results if r.artwork_id]
    actions.start_backscan(request.app.state, store(request), str(artist["_id"]), added)
    status = 200 if added or not results else 400
    response = portfolio_page(request, artist, uploads=results)
    response.status_code = status
    return response


@router.post("/portfolio/{artwork_id}/remove")
def remove_artwork(request: Request, artist: Artist, artwork_id: str, csrf: Csrf) -> Response:
    auth.check_csrf(request, csrf)
    if actions.own_artwork(store(request), artist, artwork_id) is None:
        raise HTTPException(404)
    store(request).remove_artwork(artwork_id, str(artist["_id"]))
    return back("/portfolio")


@router.get("/portfolio/{artwork_id}/thumbnail.jpg")
def artwork_thumbnail(request: Request, artist: Artist, artwork_id: str) -> Response:
    artwork = actions.own_artwork(store(request), artist, artwork_id)
    return picture((artwork or {}).get("thumbnail"), "image/jpeg")


@router.get("/settings")
def settings(request: Request, artist: Artist) -> Response:
    return render.page(request, "settings.html", kinds=actions.KINDS[:3])


@router.post("/settings")
def save_settings(
    request: Request,
    artist: Artist,
    csrf: Csrf,
    email: Annotated[str, Form(max_length=300)] = "",
    alert_mode: Annotated[str, Form()] = "instant",
    min_kind: Annotated[str, Form()] = "",
    alert_derivatives: Annotated[str, Form()] = "",
    webhook_url: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    auth.check_csrf(request, csrf)
    form = {
        "email": email,
        "alert_mode": alert_mode,
        "min_kind": min_kind,
        "alert_derivatives": alert_derivatives,
        "webhook_url": webhook_url,
    }
    errors = actions.update_settings(store(request), artist, form, secret_box(request))
    if errors:
        return render.page(
            request, "settings.html", kinds=actions.KINDS[:3], errors=errors, status=400
        )
    return back("/settings?saved=1")


@router.post("/settings/webhook-test")
def webhook_test(request: Request, artist: Artist, csrf: Csrf) -> Response:
    auth.check_csrf(request, csrf)
    if not artist.get("webhook_url"):
        raise HTTPException(400)
    config = request.app.state.config
    delivered, answer = actions.send_test(artist, config.allow_private_hosts, config.secret_box)
    return render.page(request, "settings.html", kinds=actions.KINDS[:3], test=(delivered, answer))


@router.post("/settings/rotate-secret")
def rotate(request: Request, artist: Artist, csrf: Csrf) -> Response:
    auth.check_csrf(request, csrf)
    secret = actions.rotate_secret(store(request), artist, secret_box(request))
    request.state.artist = store(request).artist(str(artist["_id"]))
    return render.page(request, "settings.html", kinds=actions.KINDS[:3], new_secret=secret)


@router.post("/settings/sign-out-everywhere")
def sign_out_everywhere(request: Request, artist: Artist, csrf: Csrf) -> Response:
    auth.check_csrf(request, csrf)
    store(request).end_sessions(str(artist["_id"]))
    request.session.clear()
    return back("/login")
