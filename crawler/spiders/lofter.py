"""Lofter: the newest posts of a tag through the web app's own DWR call, images at original size.

``POST {base}/dwr/call/plaincall/TagBean.search.dwr`` with the tag, the ranking ``new`` and an
offset returns 20 posts a page, the call public clients (RSSHub's lofter/tag route) make with
a logged-in ``LOFTER_COOKIE``. DWR answers JavaScript, not JSON: ``var s1={};s1.post=s2;…
dwr.engine._remoteHandleCallback(…, s0);``. ``read_dwr`` reads that narrow dialect (literals,
variables, field and index assignments) without evaluating anything. Pictures come from the
post's ``photoLinks`` (a JSON string): ``raw`` or ``orign``, with the ``imageView`` thumbnail
query removed, which is the original file. A DWR exception (the answer without a session)
ends the crawl with ``finish_reason lofter_login_wall``. Polite by default, robots.txt obeyed.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from w3lib.html import remove_tags, replace_entities

from crawler.spiders.base import BadResponse, Page, PlatformSpider, Post, Walk

PAGE_SIZE = 20
AI_WORDS = ("ai绘画", "ai生成", "aigc", "ai绘图", "ai插画", "ai创作")
TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_$][\w$.]*)"
    r"|(?P<punct>[\[\]{}(),;=:]))"
)
ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
CONSTANTS = {"true": True, "false": False, "null": None, "undefined": None}


class LofterSpider(PlatformSpider):
    """Walks a tag's newest posts; see the module docstring."""

    name = "lofter"
    default_base_url = "https://www.lofter.com"
    credential_names = ("LOFTER_COOKIE",)
    custom_settings = {"DOWNLOAD_DELAY": 5.0, "CONCURRENT_REQUESTS_PER_DOMAIN": 1}

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        form = {
            "callCount": "1",
            "scriptSessionId": "${scriptSessionId}187",
            "httpSessionId": "",
            "c0-scriptName": "TagBean",
            "c0-methodName": "search",
            "c0-id": "0",
            "c0-param0": f"string:{walk.query}",
            "c0-param1": "number:0",
            "c0-param2": "string:",
            "c0-param3": "string:new",
            "c0-param4": "boolean:false",
            "c0-param5": "number:0",
            "c0-param6": f"number:{PAGE_SIZE}",
            "c0-param7": f"number:{cursor or 0}",
            "c0-param8": "number:0",
            "batchId": "1",
        }
        headers = {
            "Content-Type": "text/plain",
            "Referer": f"{walk.base_url}/tag/{walk.query}/new",
        }
        cookie = self.credential("LOFTER_COOKIE")
        if cookie:
            headers["Cookie"] = cookie
        return scrapy.Request(
            f"{walk.base_url}/dwr/call/plaincall/TagBean.search.dwr",
            method="POST",
            body=urlencode(form),
            headers=headers,
            # The session goes as given, to this host only; no cookie jar merges into it.
            meta={"dont_merge_cookies": True, "offset": int(cursor or 0)},
        )

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        kind, value = read_dwr(response.text)
        if kind == "exception":
            self.count("login_wall")
            self.logger.error(
                "lofter refused the call (%s): set LOFTER_COOKIE from a logged-in browser",
                (value or {}).get("message") if isinstance(value, dict) else value,
            )
            raise CloseSpider("lofter_login_wall")
        if not isinstance(value, list):
            raise BadResponse("unexpected_shape", "the DWR reply holds no list of posts")
        offset = response.meta.get("offset", 0)
        more = len(value) >= PAGE_SIZE
        return Page(value, str(offset + PAGE_SIZE) if more else None)

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post:
        post = entry["post"]
        blog = post.get("blogInfo") or {}
        photos = json.loads(post.get("photoLinks") or "[]")
        images = [_original(link.get("raw") or link["orign"]) for link in photos]
        text = _text(post.get("title") or "", post.get("digest") or "")
        tags = list(post.get("tagList") or ())
        lowered = " ".join([text, *tags]).lower()
        return Post(
            post_id=str(post["id"]),
            url=post.get("blogPageUrl") or "",
            created_at=post["publishTime"] / 1000,
            marker=str(int(post["publishTime"])),
            author_id=str(blog.get("blogName") or post.get("blogId") or ""),
            author_name=blog.get("blogNickName") or "",
            text=text,
            tags=tags,
            image_urls=images,
            ai_evidence=[f"text:{word}" for word in AI_WORDS if word in lowered],
            extra={"blog_id": post.get("blogId")},
            skip_reason="video_only" if _has_video(post) and not images else None,
        )


def _original(url: str) -> str:
    # "…/img/<id>.png?imageView&thumbnail=1680x0&quality=96": without the query, the original.
    parts = urlsplit(url)
    if parts.query.startswith("imageView"):
        return parts._replace(query="").geturl()
    return url


def _has_video(post: dict[str, Any]) -> bool:
    try:
        embed = json.loads(post.get("embed") or "{}")
    except ValueError:
        return False
    return isinstance(embed, dict) and bool(embed.get("h256Url") or embed.get("video_down_url"))


def _text(title: str, digest_html: str) -> str:
    digest = replace_entities(remove_tags(re.sub(r"<br\s*/?>|</p>", "\n", digest_html))).strip()
    return f"{title}\n{digest}".strip() if title else digest


def read_dwr(script: str) -> tuple[str, Any]:
    """``("callback", value)`` or ``("exception", value)`` of a DWR plaincall reply.

    Only the dialect DWR writes is read: ``var sN=<value>;``, ``sN.field=<value>;``,
    ``sN[i]=<value>;`` and the final ``dwr.engine._remoteHandle…(id, id, <value>);``, values
    being strings, numbers, true/false/null, ``[…]``/``{…}`` literals, ``new Date(n)`` and
    earlier variables. Anything else is a ValueError: a shape error, never code run."""
    tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in TOKEN.finditer(_strip(script))]
    reader = _Reader(tokens)
    return reader.read()


def _strip(script: str) -> str:
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("//")]
    text = "\n".join(lines).strip()
    # DWR 3 prefixes replies with a throw that stops them running as a <script>.
    return re.sub(r"^throw\s+'[^']*';", "", text)


class _Reader:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.at = 0
        self.names: dict[str, Any] = {}

    def next(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ValueError("DWR reply ends early")
        token = self.tokens[self.at]
        self.at += 1
        if expected is not None and token[1] != expected:
            raise ValueError(f"DWR reply: expected {expected!r}, got {token[1]!r}")
        return token

    def peek(self) -> str:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else ""

    def read(self) -> tuple[str, Any]:
        while self.at < len(self.tokens):
            kind, word = self.next()
            if word == ";":
                continue
            if word == "var":
                name = self.next()[1]
                self.next("=")
                self.names[name] = self.value()
            elif word.startswith("dwr.engine._remoteHandle"):
                self.next("(")
                args = [self.value()]
                while self.peek() == ",":
                    self.next()
                    args.append(self.value())
                self.next(")")
                outcome = "exception" if "Exception" in word or "Error" in word else "callback"
                return outcome, args[-1]
            elif kind == "name":
                self.assign(word)
            else:
                raise ValueError(f"DWR reply: unexpected {word!r}")
        raise ValueError("DWR reply without a callback")

    def assign(self, target: str) -> None:
        base, _, field = target.partition(".")
        holder = self.names[base]
        if field:
            self.next("=")
            holder[field] = self.value()
            return
        self.next("[")
        index = int(self.next()[1])
        self.next("]")
        self.next("=")
        while len(holder) <= index:
            holder.append(None)
        holder[index] = self.value()

    def value(self) -> Any:
        kind, word = self.next()
        if kind == "str":
            return ESCAPE.sub(_unescape, word[1:-1])
        if kind == "num":
            return float(word) if "." in word or "e" in word.lower() else int(word)
        if word == "[":
            return self.sequence("]", lambda: self.value())
        if word == "{":
            found: dict[str, Any] = {}
            for key, value in self.sequence("}", self.pair):
                found[key] = value
            return found
        if word == "new":
            self.next("Date")
            self.next("(")
            stamp = self.value()
            self.next(")")
            return stamp
        if word in CONSTANTS:
            return CONSTANTS[word]
        if word in self.names:
            return self.names[word]
        raise ValueError(f"DWR reply: unknown value {word!r}")

    def pair(self) -> tuple[str, Any]:
        kind, key = self.next()
        key = ESCAPE.sub(_unescape, key[1:-1]) if kind == "str" else key
        self.next(":")
        return key, self.value()

    def sequence(self, end: str, item: Any) -> list[Any]:
        found = []
        while self.peek() != end:
            found.append(item())
            if self.peek() == ",":
                self.next()
        self.next(end)
        return found


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] in "ux" and len(code) > 1:
        return chr(int(code[1:], 16))
    return SIMPLE_ESCAPES.get(code, code)
