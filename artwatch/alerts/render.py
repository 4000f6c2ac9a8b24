"""The words of an alert email: subject, plain text and HTML for a ``Delivery``.

Everything that came from a post (text, author names, URLs, evidence) is untrusted: the HTML
escapes every interpolated value, and links arrive already filtered by ``LinkGuard`` (http(s)
to a public host, or ``None``). A single-hit alert, a flood summary and a daily digest share
one layout: a short heading, then one card per hit with the artwork and the found image side
by side. Only the first ``MAX_IMAGE_CARDS`` cards carry images, so a digest stays small.
The words are in the artist's ``language`` (``artwatch.i18n``, the web app's catalogues);
dates stay ISO and UTC in every language, and operator notices stay English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from gettext import NullTranslations
from html import escape
from typing import Any

from artwatch import i18n
from artwatch.alerts.delivery import Delivery, Entry

MAX_IMAGE_CARDS = 20
MAX_TEXT_CHARS = 600

Cids = tuple[str | None, str | None]  # (artwork image, found image) content ids


def language(delivery: Delivery) -> str:
    """The artist's language code, English when unset or one we do not speak."""
    return i18n.language(delivery.artist.get("language"))


def catalogue(delivery: Delivery) -> NullTranslations:
    return i18n.translations(language(delivery))


def when(value: datetime | str | None, tr: NullTranslations = i18n.ENGLISH) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value) if value else tr.gettext("unknown time")


def one_line(value: Any, limit: int = 120) -> str:
    """A header-safe single line: control characters and newlines become spaces."""
    return re.sub(r"[\x00-\x1f\x7f\s]+", " ", str(value or "")).strip()[:limit]


def kind_word(kind: Any, tr: NullTranslations = i18n.ENGLISH) -> str:
    """The match kind as a word of the language; in English the stored value itself."""
    words = {
        "exact": tr.pgettext("match kind", "exact"),
        "near": tr.pgettext("match kind", "near"),
        "partial": tr.pgettext("match kind", "partial"),
        "derivative": tr.pgettext("match kind", "derivative"),
    }
    return words.get(kind) or one_line(kind)


def artwork_name(entry: Entry, tr: NullTranslations = i18n.ENGLISH) -> str:
    if entry.artwork is None:
        return tr.gettext("an artwork you removed")
    name = entry.artwork.get("filename") or entry.artwork.get("source")
    return one_line(name or tr.gettext("artwork"))


def evidence(hit: Mapping[str, Any], tr: NullTranslations = i18n.ENGLISH) -> str:
    reasons = [one_line(reason) for reason in hit.get("ai_evidence") or []]
    if hit.get("ai_labeled") and not reasons:
        reasons = [tr.gettext("labelled as AI by the platform or the author")]
    return "; ".join(reasons) or tr.gettext("posted under an AI-art tag")


def post_text(hit: Mapping[str, Any]) -> str:
    text = str(hit.get("text") or "").strip()
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "…"


def subject(delivery: Delivery) -> str:
    if delivery.notice is not None:
        return one_line(delivery.notice["subject"], 200)
    tr, first = catalogue(delivery), delivery.entries[0]
    count = len(delivery.entries)
    if delivery.type == "digest":
        return tr.ngettext(
            "ArtWatch daily digest: %(num)d new match",
            "ArtWatch daily digest: %(num)d new matches",
            count,
        ) % {"num": count}
    if delivery.type == "flood":
        return tr.gettext("ArtWatch: %(artwork)s found in %(num)d more posts within an hour") % {
            "artwork": artwork_name(first, tr),
            "num": count,
        }
    hit = first.hit
    return tr.gettext("ArtWatch: %(artwork)s found on %(platform)s (%(kind)s match)") % {
        "artwork": artwork_name(first, tr),
        "platform": one_line(hit.get("platform")),
        "kind": kind_word(hit.get("kind"), tr),
    }


def heading(delivery: Delivery) -> str:
    tr, count = catalogue(delivery), len(delivery.entries)
    if delivery.type == "digest":
        return tr.ngettext(
            "%(num)d post tagged as AI art matched your work since the last digest.",
            "%(num)d posts tagged as AI art matched your work since the last digest.",
            count,
        ) % {"num": count}
    if delivery.type == "flood":
        start, end = delivery.period or (None, None)
        return tr.gettext(
            "One of your artworks matched %(num)d more posts between %(start)s and %(end)s. "
            "To spare your inbox they are listed together here."
        ) % {"num": count, "start": when(start, tr), "end": when(end, tr)}
    return tr.gettext("A post tagged as AI art contains your artwork.")


def footer(delivery: Delivery) -> str:
    return catalogue(delivery).gettext(
        "You receive this because you enrolled your portfolio with ArtWatch."
    )


def _facts(delivery: Delivery, entry: Entry) -> list[tuple[str, str | None, str | None]]:
    """(label, text, link) rows of one card, shared by the text and the HTML part."""
    tr, hit = catalogue(delivery), entry.hit
    _ = tr.gettext
    author = one_line(hit.get("author_name")) or _("unknown")
    if hit.get("author_id"):
        author += f" ({one_line(hit['author_id'])})"
    match = kind_word(hit.get("kind"), tr)
    if (score := hit.get("score")) is not None:
        match = _("%(kind)s (score %(score).2f)") % {"kind": match, "score": score}
    post_url, image_url = hit.get("post_url"), hit.get("image_url")
    withheld = _("(link withheld: not a public address)")
    posted = {"time": when(hit.get("post_created_at"), tr), "author": author}
    return [
        (_("Your artwork"), artwork_name(entry, tr), None),
        (_("Match"), match, None),
        (_("Platform"), one_line(hit.get("platform")), None),
        (_("Post"), post_url or withheld, post_url),
        (_("Image"), image_url or withheld, image_url),
        (_("Posted"), _("%(time)s by %(author)s") % posted, None),
        (_("Found"), when(hit.get("found_at"), tr), None),
        (_("Why it counts as AI"), evidence(hit, tr), None),
        (_("Review"), delivery.dashboard_url(entry), delivery.dashboard_url(entry)),
    ]


def text(delivery: Delivery) -> str:
    if delivery.notice is not None:
        return str(delivery.notice["text"])
    _ = catalogue(delivery).gettext
    lines = [heading(delivery), ""]
    for number, entry in enumerate(delivery.entries, 1):
        lines.append(f"{number}.")
        for label, value, _link in _facts(delivery, entry):
            if value:
                lines.append("   " + _("%(label)s: %(value)s") % {"label": label, "value": value})
        if post_text(entry.hit):
            lines.append("   " + _("Post text:"))
            lines.extend(f"     {line}" for line in post_text(entry.hit).splitlines())
        lines.append("")
    lines.append(footer(delivery))
    return "\n".join(lines)


def html(delivery: Delivery, cids: Sequence[Cids]) -> str:
    if delivery.notice is not None:
        return f"<!DOCTYPE html><html><body><pre>{escape(text(delivery))}</pre></body></html>"
    cards = "".join(
        _html_card(delivery, entry, cids[index] if index < len(cids) else (None, None))
        for index, entry in enumerate(delivery.entries)
    )
    code = language(delivery)
    # English keeps the bare <html> it always had; another language names itself so mail
    # clients pick fitting fonts.
    lang = "" if code == i18n.DEFAULT else f' lang="{i18n.html_lang(code)}"'
    return (
        f'<!DOCTYPE html><html{lang}><body style="font-family:sans-serif;max-width:720px">'
        f"<p>{escape(heading(delivery))}</p>{cards}"
        f'<p style="color:#666">{escape(footer(delivery))}</p></body></html>'
    )


def _html_card(delivery: Delivery, entry: Entry, cids: Cids) -> str:
    _ = catalogue(delivery).gettext
    images = ""
    if any(cids):
        alts = (_("Your artwork"), _("Found in the post"))
        cells = "".join(
            f'<td style="padding:4px;vertical-align:top"><img src="cid:{escape(cid)}" '
            f'alt="{escape(alt)}" style="max-width:320px"><br>{escape(alt)}</td>'
            for cid, alt in zip(cids, alts, strict=True)
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
