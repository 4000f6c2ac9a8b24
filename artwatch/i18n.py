"""The gettext catalogues of the languages ArtWatch speaks, for the web app and the alerts.

English is the message ids themselves; every other language is a ``.po`` file under
``artwatch/web/locale/<code>/LC_MESSAGES/``, read with Babel and compiled in memory on first
use, so a fresh clone needs no build step and there is no stale ``.mo`` to forget. This module
imports nothing of the web app, so the alert path can load a catalogue without FastAPI.
"""

from __future__ import annotations

import functools
import io
from gettext import NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "web" / "locale"
# Code -> the language's own name, shown in the switcher.
LANGUAGES = {"en": "English", "zh_Hans": "简体中文"}
DEFAULT = "en"
ENGLISH = NullTranslations()  # the message ids as they are


@functools.cache
def translations(code: str | None) -> NullTranslations:
    """The catalogue of ``code``; English (and any language we lack) is the message ids."""
    if code not in LANGUAGES or code == DEFAULT:
        return ENGLISH
    po = LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return ENGLISH
    with po.open("rb") as source:
        catalog = read_po(source, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def language(code: str | None) -> str:
    """A stored language code if we speak it, else English."""
    return code if code in LANGUAGES else DEFAULT


def html_lang(code: str) -> str:
    """The value of ``<html lang>``."""
    return code.replace("_", "-")
