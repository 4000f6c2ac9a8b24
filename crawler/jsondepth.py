"""JSON that nests too deeply for Python's parser costs only the values that nest so deep.

``json.loads`` recurses once per level and raises ``RecursionError`` on a hostile page that
opens thousands of brackets inside one entry, which would lose every entry of that page.
``loads`` then cuts each container nested deeper than ``MAX_DEPTH`` out of the text, in one
pass that does not recurse, and puts ``TOO_DEEP`` in its place; ``contains_too_deep`` lets
the spider base drop exactly the entries that held one. No platform nests listings anywhere
near ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
TOO_DEEP = "\x00artwatch:too_deep"
_STRUCTURE = re.compile(r'[][{}"]')
_STRING_END = re.compile(r'["\\]')


def loads(document: str | bytes) -> Any:
    """``json.loads``, with containers past ``MAX_DEPTH`` replaced by ``TOO_DEEP``."""
    try:
        return json.loads(document)
    except RecursionError:
        if isinstance(document, bytes):
            document = document.decode(json.detect_encoding(document), "replace")
        return json.loads(prune(document))


def prune(text: str) -> str:
    """The JSON text with every container deeper than ``MAX_DEPTH`` replaced by a string."""
    out: list[str] = []
    depth = 0
    kept = 0  # text[:kept] is decided
    cut_from: int | None = None  # where the container being cut out began
    position = 0
    while match := _STRUCTURE.search(text, position):
        char, position = match.group(), match.end()
        if char == '"':
            position = _string_end(text, position)
        elif char in "[{":
            depth += 1
            if depth == MAX_DEPTH + 1:
                out.append(text[kept : match.start()])
                cut_from = match.start()
        elif depth:  # a closing bracket
            depth -= 1
            if depth == MAX_DEPTH and cut_from is not None:
                out.append(json.dumps(TOO_DEEP))
                kept, cut_from = position, None
    if cut_from is None:
        out.append(text[kept:])
    return "".join(out)


def _string_end(text: str, position: int) -> int:
    while match := _STRING_END.search(text, position):
        if match.group() == '"':
            return match.end()
        position = match.end() + 1  # skip the escaped character
    return len(text)


def contains_too_deep(value: Any) -> bool:
    """Whether ``TOO_DEEP`` is anywhere inside ``value`` (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item == TOO_DEEP:
            return True
    return False
