"""Languages for the web app: the request's language, from the ``lang`` cookie or
``Accept-Language``.

The catalogues themselves load in ``artwatch.i18n``, shared with the alert emails. A new
language is one more ``locale/<code>/LC_MESSAGES/messages.po`` (extract the strings with
``pybabel extract -F artwatch/web/babel.cfg -k N_ -o messages.pot .``) and one entry in
``artwatch.i18n.LANGUAGES``. The language is the ``lang`` cookie when the person chose one,
else the best match of ``Accept-Language``, else English.
"""

from __future__ import annotations

from artwatch.i18n import DEFAULT, LANGUAGES, LOCALE_DIR, html_lang, translations

__all__ = [
    "COOKIE", "DEFAULT", "LANGUAGES", "LOCALE_DIR", "from_tag", "html_lang", "negotiate",
    "translations",
]  # fmt: skip

COOKIE = "lang"


def from_tag(tag: str) -> str | None:
    """The language we have for a BCP 47 tag: every Chinese variant reads Simplified."""
    tag = tag.strip().lower().replace("_", "-")
    if tag.startswith("zh"):
        return "zh_Hans"
    if tag.startswith("en"):
        return "en"
    return None


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The language for a request: the chosen one if we have it, else Accept-Language's best."""
    if chosen in LANGUAGES:
        return chosen
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag))
    for quality, _, tag in sorted(ranked):
        if quality < 0 and (code := from_tag(tag)):
            return code
    return DEFAULT
