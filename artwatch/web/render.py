"""Pages from Jinja2 templates, one auto-escaping environment per language.

Each environment has that language's gettext catalogue installed (``jinja2.ext.i18n``,
new-style, so ``_("...")`` is escaped like any other value), and Babel's date and number
formats for the language. Anything that came from a post is only ever a template value:
auto-escaped, and links pass ``safe_url`` (http and https only).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_datetime
from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from artwatch.web import actions, auth, i18n

TEMPLATES = i18n.LOCALE_DIR.parent / "templates"


def language(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(i18n.COOKIE))


def gettext(request: Request):
    """The request's ``gettext``, for messages made in Python."""
    return i18n.translations(language(request)).gettext


def safe_url(url: Any) -> str | None:
    """``url`` when it is an absolute http(s) URL, else None (shown as text, never linked)."""
    if isinstance(url, str) and urlsplit(url).scheme in ("http", "https") and "//" in url:
        return url
    return None


@functools.cache
def environment(code: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(code), newstyle=True)  # type: ignore[attr-defined]
    locale = i18n.html_lang(code).replace("-", "_")
    env.filters["when"] = lambda value: _when(value, locale)
    env.filters["number"] = lambda value: format_decimal(value or 0, "0.00", locale=locale)
    env.filters["safe_url"] = safe_url
    env.globals["ai_reasons"] = actions.ai_reasons
    env.globals.update(languages=i18n.LANGUAGES, lang=code, html_lang=i18n.html_lang(code))
    return env


def _when(value: Any, locale: str) -> str:
    if isinstance(value, datetime):
        return format_datetime(value, "medium", tzinfo="UTC", locale=locale) + " UTC"
    return str(value or "")


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` in the request's language for the signed-in artist (or nobody)."""
    template = environment(language(request)).get_template(name)
    context.setdefault("artist", getattr(request.state, "artist", None))
    context.setdefault("operator", request.session.get("operator", False))
    html = template.render(
        request=request, csrf=auth.csrf_token(request), path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int) -> HTMLResponse:
    return page(request, "error.html", status=status, status_code=status)
