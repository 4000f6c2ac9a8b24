"""The evidence pack: one zip a platform or a lawyer can read without ArtWatch.

``/hits/<id>/evidence.zip`` (and ``/evidence.zip?ids=..`` for a selection, one folder per
hit) holds the pictures as stored (the artwork's and the found picture's thumbnails, the post
screenshot when one was rendered), ``report.html`` (self-contained: pictures inline, the
matched region outlined), ``report.pdf`` (that report printed by Chromium, see
``artwatch.web.pdf``; without a Chromium the pack goes without it and ``evidence.json`` says
why), ``evidence.json`` (every field of the hit, and the sha256 of every
other file of the pack), ``SHA256SUMS`` and a takedown notice draft in English and Simplified
Chinese naming the platform's own complaint channel. ``image_sha256`` is the hash of the found
picture's original bytes as downloaded during the crawl (the original itself is not kept, only
its thumbnail). The routes are plain functions, so FastAPI runs them (and the browser
they start) in its worker threads, off the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from artwatch.output import json_value
from artwatch.web import actions, pdf, render
from artwatch.web.actions import N_
from artwatch.web.pages import Artist, signed_in, store
from pipelines.store.writes import utcnow

router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])

# Where each platform takes copyright complaints: (what to use, its address when it has a
# stable one). The names are catalogue messages, so each notice names them in its language.
COMPLAINT_CHANNELS: dict[str, tuple[str, str]] = {
    "mastodon": (
        N_(
            "the instance's moderators: the post's Report button, or the contact address on "
            "the instance's /about page"
        ),
        "",
    ),
    "bluesky": (N_("Bluesky's copyright form"), "https://bsky.social/about/support/copyright"),
    "reddit": (N_("Reddit's intellectual property report form"), "https://www.reddit.com/report"),
    "pixiv": (N_("pixiv's Report function on the work page (infringement)"), ""),
    "deviantart": (
        N_("DeviantArt's copyright policy and DMCA notice"),
        "https://www.deviantart.com/about/policy/copyright/",
    ),
    "civitai": (N_("Civitai's Report button on the image (intellectual property)"), ""),
    "xiaohongshu": (
        N_("Xiaohongshu's infringement complaint (in the app: the note, Report, Infringement)"),
        "",
    ),
    "weibo": (
        N_("Weibo's community management centre (infringement complaint)"),
        "https://service.account.weibo.com/",
    ),
    "lofter": (N_("LOFTER's in-app Report (infringement)"), ""),
}
OTHER_CHANNEL = (N_("the site's operator (its contact or abuse address)"), "")


def channel(platform: str | None) -> tuple[str, str]:
    return COMPLAINT_CHANNELS.get(platform or "", OTHER_CHANNEL)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_files(
    request: Request,
    artist: Mapping[str, Any],
    hit: Mapping[str, Any],
    print_pdf: Callable[[str], bytes],
) -> dict:
    """The pack of one hit as {file name: bytes}, in the order they are written."""
    artwork = actions.own_artwork(store(request), artist, str(hit.get("artwork_id"))) or {}
    pictures = {
        "artwork.jpg": artwork.get("thumbnail"),
        "found.jpg": hit.get("thumbnail"),
        "screenshot.png": hit.get("screenshot"),
    }
    files = {name: bytes(data) for name, data in pictures.items() if data}
    context = {
        "hit": hit,
        "hit_id": str(hit["_id"]),
        "artwork": artwork,
        "artist": artist,
        "region": actions.region(hit),
        "reasons": actions.ai_reasons(hit),
        "channel": channel(hit.get("platform")),
        "exported_at": utcnow(),
    }
    for code in ("en", "zh_Hans"):
        text = render.environment(code).get_template("takedown.txt").render(**context)
        files[f"takedown-{code.replace('_', '-')}.txt"] = text.encode()
    inline = {
        name: "data:image/{};base64,{}".format(
            "png" if name.endswith(".png") else "jpeg", base64.b64encode(data).decode()
        )
        for name, data in files.items()
        if name.endswith((".jpg", ".png"))
    }
    hashes = {name: sha256(data) for name, data in files.items()}
    report = render.environment(render.language(request)).get_template("report.html")
    html = report.render(inline=inline, hashes=hashes, **context)
    files["report.html"] = html.encode()
    hashes["report.html"] = sha256(files["report.html"])
    try:
        files["report.pdf"] = print_pdf(html)
        hashes["report.pdf"] = sha256(files["report.pdf"])
        missing = {}
    except pdf.PdfUnavailable as error:
        missing = {"report_pdf_missing": str(error)}
    document = {
        "exported_at": context["exported_at"],
        "hit_id": str(hit["_id"]),
        "hit": {k: v for k, v in hit.items() if not isinstance(v, bytes)},
        "image_sha256": hit.get("image_id"),
        "artwork": {
            k: artwork.get(k)
            for k in ("_id", "filename", "sha256", "source", "width", "height", "created_at")
        },
        "complaint_channel": {"name": context["channel"][0], "url": context["channel"][1] or None},
        "files": hashes,
        **missing,
    }
    body = json.dumps(document, default=json_value, indent=2, ensure_ascii=False).encode()
    files["evidence.json"] = body
    hashes["evidence.json"] = sha256(body)
    files["SHA256SUMS"] = "".join(f"{h}  {n}\n" for n, h in hashes.items()).encode()
    return files


def zip_response(entries: dict[str, bytes], filename: str) -> Response:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(buffer.getvalue(), media_type="application/zip", headers=headers)


@router.get("/hits/{hit_id}/evidence.zip")
def evidence_pack(request: Request, artist: Artist, hit_id: str) -> Response:
    hit = actions.own_hit(store(request), artist, hit_id)
    if hit is None:
        raise HTTPException(404)
    with pdf.printer(request.app.state.config.chromium) as print_pdf:
        files = pack_files(request, artist, hit, print_pdf)
    return zip_response(files, f"artwatch-evidence-{hit_id}.zip")


@router.get("/evidence.zip")
def evidence_packs(
    request: Request, artist: Artist, ids: Annotated[list[str], Query(max_length=100)]
) -> Response:
    hits = [actions.own_hit(store(request), artist, hit_id) for hit_id in dict.fromkeys(ids)]
    if not hits or any(hit is None for hit in hits):
        raise HTTPException(404)  # one foreign id and the whole selection is not found
    with pdf.printer(request.app.state.config.chromium) as print_pdf:
        entries = {
            f"{hit['_id']}/{name}": data
            for hit in hits
            for name, data in pack_files(request, artist, hit, print_pdf).items()
        }
    return zip_response(entries, "artwatch-evidence.zip")
