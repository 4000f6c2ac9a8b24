"""Languages: English (the message ids) and Simplified Chinese, from gettext catalogues.

Catalogues are the ``.po`` files under ``locale/``, read with Babel and compiled in memory at
start-up, so a fresh clone needs no build step and there is no stale ``.mo`` to forget. A new
language is one more ``locale/<code>/LC_MESSAGES/messages.po`` (extract the strings with
``pybabel extract -F artwatch/web/babel.cfg -k N_ -o messages.pot .``) and one entry in
``LANGUAGES``. The language is the ``lang`` cookie when the person chose one, else the best
match of ``Accept-Language``, else English.
"""

from __future__ import annotations

import functools
import io
from gettext import NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
# Code -> the language's own name, shown in the switcher.
LANGUAGES = {"en": "English", "zh_Hans": "简体中文"}
DEFAULT = "en"
COOKIE = "lang"


@functools.cache
def translations(code: str) -> NullTranslations:
    """The catalogue of ``code``; English is the message ids themselves."""
    po = LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"
    if code == DEFAULT or not po.exists():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


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


def html_lang(code: str) -> str:
    """The value of ``<html lang>``."""
    return code.replace("_", "-")
