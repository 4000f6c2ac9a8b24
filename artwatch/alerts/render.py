"""The words of an alert email: subject, plain text and HTML for a ``Delivery``.

Everything that came from a post (text, author names, URLs, evidence) is untrusted: the HTML
escapes every interpolated value, and links arrive already filtered by ``LinkGuard`` (http(s)
to a public host, or ``None``). A single-hit alert, a flood summary and a daily digest share
one layout: a short heading, then one card per hit with the artwork and the found image side
by side. Only the first ``MAX_IMAGE_CARDS`` cards carry images, so a digest stays small.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from artwatch.alerts.delivery import Delivery, Entry

MAX_IMAGE_CARDS = 20
MAX_TEXT_CHARS = 600
WITHHELD = "(link withheld: not a public address)"

Cids = tuple[str | None, str | None]  # (artwork image, found image) content ids


def when(value: datetime | str | None) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value) if value else "unknown time"


def one_line(value: Any, limit: int = 120) -> str:
    """A header-safe single line: control characters and newlines become spaces."""
    return re.sub(r"[\x00-\x1f\x7f\s]+", " ", str(value or "")).strip()[:limit]


def artwork_name(entry: Entry) -> str:
    if entry.artwork is None:
        return "an artwork you removed"
    return one_line(entry.artwork.get("filename") or entry.artwork.get("source") or "artwork")


def evidence(hit: Mapping[str, Any]) -> str:
    reasons = [one_line(reason) for reason in hit.get("ai_evidence") or []]
    if hit.get("ai_labeled") and not reasons:
        reasons = ["labelled as AI by the platform or the author"]
    return "; ".join(reasons) or "posted under an AI-art tag"


def post_text(hit: Mapping[str, Any]) -> str:
    text = str(hit.get("text") or "").strip()
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "…"


def subject(delivery: Delivery) -> str:
    if delivery.notice is not None:
        return one_line(delivery.notice["subject"], 200)
    first = delivery.entries[0]
    count = len(delivery.entries)
    if delivery.type == "digest":
        return f"ArtWatch daily digest: {count} new match{'es' * (count != 1)}"
    if delivery.type == "flood":
        return f"ArtWatch: {artwork_name(first)} found in {count} more posts within an hour"
    hit = first.hit
    return (
        f"ArtWatch: {artwork_name(first)} found on {one_line(hit.get('platform'))} "
        f"({one_line(hit.get('kind'))} match)"
    )


def heading(delivery: Delivery) -> str:
    count = len(delivery.entries)
    if delivery.type == "digest":
        posts = f"{count} post{'s' * (count != 1)}"
        return f"{posts} tagged as AI art matched your work since the last digest."
    if delivery.type == "flood":
        start, end = delivery.period or (None, None)
        return (
            f"One of your artworks matched {count} more posts between {when(start)} and "
            f"{when(end)}. To spare your inbox they are listed together here."
        )
    return "A post tagged as AI art contains your artwork."


def _facts(delivery: Delivery, entry: Entry) -> list[tuple[str, str | None, str | None]]:
    """(label, text, link) rows of one card, shared by the text and the HTML part."""
    hit = entry.hit
    author = one_line(hit.get("author_name")) or "unknown"
    if hit.get("author_id"):
        author += f" ({one_line(hit['author_id'])})"
    score = hit.get("score")
    match = one_line(hit.get("kind")) + (f" (score {score:.2f})" if score is not None else "")
    post_url, image_url = hit.get("post_url"), hit.get("image_url")
    return [
        ("Your artwork", artwork_name(entry), None),
        ("Match", match, None),
        ("Platform", one_line(hit.get("platform")), None),
        ("Post", post_url or WITHHELD, post_url),
        ("Image", image_url or WITHHELD, image_url),
        ("Posted", f"{when(hit.get('post_created_at'))} by {author}", None),
        ("Found", when(hit.get("found_at")), None),
        ("Why it counts as AI", evidence(hit), None),
        ("Review", delivery.dashboard_url(entry), delivery.dashboard_url(entry)),
    ]


def text(delivery: Delivery) -> str:
    if delivery.notice is not None:
        return str(delivery.notice["text"])
    lines = [heading(delivery), ""]
    for number, entry in enumerate(delivery.entries, 1):
        lines.append(f"{number}.")
        for label, value, _ in _facts(delivery, entry):
            if value:
                lines.append(f"   {label}: {value}")
        if post_text(entry.hit):
            lines.append("   Post text:")
            lines.extend(f"     {line}" for line in post_text(entry.hit).splitlines())
        lines.append("")
    lines.append("You receive this because you enrolled your portfolio with ArtWatch.")
    return "\n".join(lines)


def html(delivery: Delivery, cids: Sequence[Cids]) -> str:
    if delivery.notice is not None:
        return f"<!DOCTYPE html><html><body><pre>{escape(text(delivery))}</pre></body></html>"
    cards = "".join(
        _html_card(delivery, entry, cids[index] if index < len(cids) else (None, None))
        for index, entry in enumerate(delivery.entries)
    )
    return (
        '<!DOCTYPE html><html><body style="font-family:sans-serif;max-width:720px">'
        f"<p>{escape(heading(delivery))}</p>{cards}"
        '<p style="color:#666">You receive this because you enrolled your portfolio '
        "with ArtWatch.</p></body></html>"
    )


def _html_card(delivery: Delivery, entry: Entry, cids: Cids) -> str:
    images = ""
    if any(cids):
        cells = "".join(
            f'<td style="padding:4px;vertical-align:top"><img src="cid:{escape(cid)}" '
            f'alt="{escape(alt)}" style="max-width:320px"><br>{escape(alt)}</td>'
            for cid, alt in zip(cids, ("Your artwork", "Found in the post"), strict=True)
            if cid
        )
        images = f'<table role="presentation"><tr>{cells}</tr></table>'
    rows = "".join(
        f'<tr><th style="text-align:left;padding-right:8px">{escape(label)}</th>'
        f"<td>{_html_value(value, link)}</td></tr>"
        for label, value, link in _facts(delivery, entry)
        if value
    )
    quote = ""
    if post_text(entry.hit):
        quote = (
            '<blockquote style="white-space:pre-wrap;border-left:3px solid #ccc;'
            f'padding-left:8px">{escape(post_text(entry.hit))}</blockquote>'
        )
    style = "border-top:1px solid #ddd;padding:8px 0"
    return f'<div style="{style}">{images}<table>{rows}</table>{quote}</div>'


def _html_value(value: str, link: str | None) -> str:
    if link:
        return f'<a href="{escape(link, quote=True)}">{escape(value)}</a>'
    return escape(value)
