"""The JSON API: the review queue, the portfolio and the settings, as at ``/openapi.json``.

It uses the page's session cookie (sign in with a login link first); every unsafe method
also needs the session's CSRF token in ``X-CSRF-Token`` (``GET /api/session`` gives it).
Another artist's ids answer 404, exactly like ids that do not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, UploadFile
from pydantic import BaseModel, Field

from artwatch.web import actions, auth

Status = Literal["new", "confirmed", "dismissed"]
Kind = Literal["exact", "near", "partial", "derivative"]
UNAUTHORIZED = {401: {"description": "Not signed in"}}
NOT_FOUND = {404: {"description": "No such hit or artwork of yours"}}


def api_artist(request: Request) -> dict[str, Any]:
    artist = auth.current_artist(request)
    if artist is None:
        raise HTTPException(401, "sign in with a login link first")
    return artist


def api_csrf(request: Request, x_csrf_token: Annotated[str | None, Header()] = None) -> None:
    auth.check_csrf(request, x_csrf_token)


Artist = Annotated[dict[str, Any], Depends(api_artist)]
router = APIRouter(prefix="/api", tags=["api"], responses=UNAUTHORIZED)
unsafe = [Depends(api_csrf)]


class Region(BaseModel):
    x: float
    y: float
    width: float
    height: float


class Hit(BaseModel):
    id: str
    artwork_id: str | None
    kind: str | None
    score: float | None
    status: str | None
    platform: str | None
    post_url: str | None
    image_url: str | None
    author_id: str | None
    author_name: str | None
    post_created_at: datetime | None
    found_at: datetime | None
    ai_evidence: list[str]
    text: str
    distances: dict[str, float]
    region: Region | None
    found_thumbnail: str
    artwork_thumbnail: str
    evidence_pack: str


class HitsPage(BaseModel):
    hits: list[Hit]
    total: int
    page: int
    pages: int


class StatusChange(BaseModel):
    status: Status


class BulkStatusChange(BaseModel):
    ids: list[Annotated[str, Field(max_length=64)]] = Field(max_length=500)
    status: Status


class Changed(BaseModel):
    changed: int


class Artwork(BaseModel):
    id: str
    filename: str | None
    width: int | None
    height: int | None
    created_at: datetime | None
    state: Literal["enrolled", "refresh"]
    thumbnail: str


class UploadResult(BaseModel):
    filename: str
    outcome: Literal["enrolled", "duplicate", "refused"]
    why: str | None
    artwork_id: str | None


class Backscan(BaseModel):
    running: bool
    finished: bool
    done: int
    total: int
    found: int = 0


class Settings(BaseModel):
    email: str = Field(max_length=300)
    alert_mode: Literal["instant", "daily"]
    min_kind: Literal["exact", "near", "partial"] | None
    alert_derivatives: bool
    webhook_url: str | None = Field(default=None, max_length=2000)


class Session(BaseModel):
    artist_id: str
    name: str
    csrf_token: str


def hit_out(hit: dict[str, Any]) -> Hit:
    hit_id = str(hit["_id"])
    distances = hit.get("distances") or {}
    return Hit(
        id=hit_id,
        artwork_id=hit.get("artwork_id"),
        kind=hit.get("kind"),
        score=hit.get("score"),
        status=hit.get("status"),
        platform=hit.get("platform"),
        post_url=hit.get("post_url"),
        image_url=hit.get("image_url"),
        author_id=hit.get("author_id"),
        author_name=hit.get("author_name"),
        post_created_at=hit.get("post_created_at"),
        found_at=hit.get("found_at"),
        ai_evidence=[str(e) for e in hit.get("ai_evidence") or ()],
        text=hit.get("text") or "",
        distances={k: float(v) for k, v in distances.items() if isinstance(v, int | float)},
        region=actions.region(hit),
        found_thumbnail=f"/hits/{hit_id}/found.jpg",
        artwork_thumbnail=f"/hits/{hit_id}/artwork.jpg",
        evidence_pack=f"/hits/{hit_id}/evidence.zip",
    )


def found(request: Request, artist: dict, hit_id: str) -> dict[str, Any]:
    hit = actions.own_hit(request.app.state.store, artist, hit_id)
    if hit is None:
        raise HTTPException(404, "no such hit")
    return hit


@router.get("/session")
def session(request: Request, artist: Artist) -> Session:
    """Who is signed in, and the CSRF token for unsafe requests."""
    return Session(
        artist_id=str(artist["_id"]), name=artist["name"], csrf_token=auth.csrf_token(request)
    )


@router.get("/hits")
def list_hits(
    request: Request,
    artist: Artist,
    status: Status | None = None,
    kind: Kind | None = None,
    platform: Annotated[str | None, Query(max_length=40)] = None,
    since: date | None = None,
    until: date | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HitsPage:
    """The review queue, newest first; ``since``/``until`` bound the day it was found."""
    filters = actions.Filters(status, kind, platform or None, since, until)
    hits, total, pages = actions.hits_page(request.app.state.store, artist, filters, page)
    return HitsPage(hits=[hit_out(h) for h in hits], total=total, page=page, pages=pages)


@router.get("/hits/{hit_id}", responses=NOT_FOUND)
def get_hit(request: Request, artist: Artist, hit_id: str) -> Hit:
    return hit_out(found(request, artist, hit_id))


@router.post("/hits/{hit_id}/status", dependencies=unsafe, responses=NOT_FOUND)
def set_status(request: Request, artist: Artist, hit_id: str, change: StatusChange) -> Hit:
    """Confirm, dismiss, or put back to new (undo)."""
    found(request, artist, hit_id)
    request.app.state.store.set_hit_status(hit_id, str(artist["_id"]), change.status)
    return hit_out(found(request, artist, hit_id))


@router.post("/hits/status", dependencies=unsafe)
def set_statuses(request: Request, artist: Artist, change: BulkStatusChange) -> Changed:
    """Several hits at once; ids that are not the artist's are ignored."""
    store = request.app.state.store
    return Changed(changed=store.set_hits_status(change.ids, str(artist["_id"]), change.status))


def artwork_out(artwork: dict[str, Any]) -> Artwork:
    artwork_id = str(artwork["_id"])
    return Artwork(
        id=artwork_id,
        filename=artwork.get("filename"),
        width=artwork.get("width"),
        height=artwork.get("height"),
        created_at=artwork.get("created_at"),
        state=actions.artwork_state(artwork),  # type: ignore[arg-type]
        thumbnail=f"/portfolio/{artwork_id}/thumbnail.jpg",
    )


@router.get("/artworks")
def list_artworks(request: Request, artist: Artist) -> list[Artwork]:
    return [artwork_out(a) for a in request.app.state.store.artworks(str(artist["_id"]))]


@router.post("/artworks", dependencies=unsafe)
def upload_artworks(
    request: Request, artist: Artist, files: list[UploadFile]
) -> list[UploadResult]:
    """Enroll images (multipart ``files``); each is enrolled, a duplicate, or refused with why."""
    store, config = request.app.state.store, request.app.state.config
    results = [
        actions.enroll_upload(
            store,
            artist,
            f.filename or "",
            f.file.read(config.image_maxsize + 1),
            config.image_maxsize,
        )
        for f in files[:50]
    ]
    added = [r.artwork_id for r in results if r.artwork_id]
    actions.start_backscan(request.app.state, store, str(artist["_id"]), added)
    return [
        UploadResult(
            filename=r.filename,
            outcome=r.outcome,  # type: ignore[arg-type]
            why=(r.why % r.params) if r.why else None,
            artwork_id=r.artwork_id,
        )
        for r in results
    ]


@router.delete("/artworks/{artwork_id}", dependencies=unsafe, responses=NOT_FOUND)
def delete_artwork(request: Request, artist: Artist, artwork_id: str) -> Changed:
    store = request.app.state.store
    if actions.own_artwork(store, artist, artwork_id) is None:
        raise HTTPException(404, "no such artwork")
    return Changed(changed=int(store.remove_artwork(artwork_id, str(artist["_id"]))))


@router.get("/backscan")
def backscan(request: Request, artist: Artist) -> Backscan:
    """Progress of the back-scan started by the latest upload."""
    return Backscan(**actions.backscan_progress(request.app.state, str(artist["_id"])))


def settings_out(artist: dict[str, Any]) -> Settings:
    return Settings(
        email=artist.get("email") or "",
        alert_mode=artist.get("alert_mode") or "instant",
        min_kind=artist.get("min_kind"),
        alert_derivatives=bool(artist.get("alert_derivatives")),
        webhook_url=artist.get("webhook_url"),
    )


@router.get("/settings")
def get_settings(artist: Artist) -> Settings:
    return settings_out(artist)


@router.put("/settings", dependencies=unsafe, responses={400: {"description": "Invalid"}})
def put_settings(request: Request, artist: Artist, settings: Settings) -> Settings:
    form = settings.model_dump()
    form["min_kind"] = form["min_kind"] or ""
    form["webhook_url"] = form["webhook_url"] or ""
    box = request.app.state.config.secret_box
    errors = actions.update_settings(request.app.state.store, artist, form, box)
    if errors:
        raise HTTPException(400, " ".join(errors))
    return settings_out(request.app.state.store.artist(str(artist["_id"])))


class WebhookTest(BaseModel):
    delivered: bool
    answer: str


class Secret(BaseModel):
    webhook_secret: str


@router.post("/settings/webhook-test", dependencies=unsafe)
def webhook_test(request: Request, artist: Artist) -> WebhookTest:
    """POST a signed test delivery to the artist's webhook; the receiver's answer."""
    if not artist.get("webhook_url"):
        raise HTTPException(400, "no webhook URL is set")
    config = request.app.state.config
    delivered, answer = actions.send_test(artist, config.allow_private_hosts, config.secret_box)
    return WebhookTest(delivered=delivered, answer=answer)


@router.post("/settings/rotate-secret", dependencies=unsafe)
def rotate_secret(request: Request, artist: Artist) -> Secret:
    """A new webhook secret, shown this once."""
    box = request.app.state.config.secret_box
    return Secret(webhook_secret=actions.rotate_secret(request.app.state.store, artist, box))


@router.delete("/session", dependencies=unsafe)
def sign_out_everywhere(request: Request, artist: Artist) -> Changed:
    """End every session of the artist, this one included."""
    request.app.state.store.end_sessions(str(artist["_id"]))
    request.session.clear()
    return Changed(changed=1)
