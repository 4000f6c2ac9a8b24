"""Any RSS 2.0 or Atom feed: the URLs of the ``feeds`` argument or config, plus per-tag feeds.

Feeds come from ``-a feeds=URL,URL`` or the config's ``feeds``; a ``tags`` argument adds the
per-tag feed that Mastodon and its forks publish, ``{base_url}/tags/{tag}.rss``. Atom feeds
that page (RFC 5005 ``<link rel="next">``) are followed up to ``max_pages``. Images come from
``media:content``/``media:group``, image enclosures and, when a feed has neither, the
``<img>`` tags of the entry's HTML; always the largest rendition offered (the widest
``media:content`` of a ``media:group``, the widest ``srcset`` candidate of an ``<img>``),
because thumbnails match worse. The entry's date is the walk marker. Parsing goes through
Scrapy's selectors (lxml without entity expansion), never a DTD-resolving parser.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import scrapy
from parsel import Selector
from scrapy.http import Response
from w3lib.html import remove_tags, replace_entities

from crawler.spiders.base import BadResponse, Page, PlatformSpider, Post, Walk, iso_utc, to_utc


class RssSpider(PlatformSpider):
    name = "rss"
    default_base_url = "https://mastodon.social"
    ids_per_instance = True  # entry ids are each feed host's own: post keys include the host

    def walk_targets(self):
        for feed in self.feeds:
            parts = urlsplit(feed)
            yield f"{parts.scheme}://{parts.netloc}", feed
        for base_url in self.base_urls:
            for tag in self.tags:
                yield base_url, tag

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        if cursor:
            return scrapy.Request(cursor)
        if "://" in walk.query:
            return scrapy.Request(walk.query)
        return scrapy.Request(f"{walk.base_url}/tags/{quote(walk.query)}.rss")

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        return feed_page(response)

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post:
        return feed_post(entry, response)


def feed_page(response: Response) -> Page:
    """The entries of an RSS or Atom feed, and the URL of its next page if it pages."""
    body = response.body.lstrip()
    if not body:
        raise BadResponse("empty_body")
    selector = Selector(text=response.text, type="xml")
    selector.remove_namespaces()
    root = selector.xpath("/*")
    name = root.xpath("name()").get("")
    if name not in ("rss", "feed", "RDF"):
        raise BadResponse("not_a_feed", f"root element <{name or '?'}>")
    entries = root.xpath("//item | /feed/entry")
    # Atom pages with RFC 5005 links; some RSS feeds (DeviantArt) put an atom:link in channel.
    next_page = root.xpath("/feed/link[@rel='next']/@href | /rss/channel/link[@rel='next']/@href")
    next_page = next_page.get()
    return Page(list(entries), urljoin(response.url, next_page) if next_page else None)


def feed_post(entry: Selector, response: Response) -> Post:
    """One ``<item>`` or ``<entry>`` as a Post; fields a feed lacks stay empty."""
    link = entry.xpath("link[not(@rel) or @rel='alternate']/@href").get() or entry.xpath(
        "link/text()"
    ).get("")
    link = urljoin(response.url, link.strip())
    html = entry.xpath("description/text() | content/text() | encoded/text()").getall()
    created = _date(
        entry.xpath("pubDate/text() | published/text() | updated/text() | date/text()").get()
    )
    images, has_video = _media(entry, " ".join(html))
    title = entry.xpath("title/text()").get("").strip()
    text = replace_entities(remove_tags(" ".join(html))).strip()
    return Post(
        post_id=(entry.xpath("guid/text() | id/text()").get() or link).strip(),
        url=link,
        created_at=created,
        marker=iso_utc(created) if created else "",
        author_name=_author(entry),
        text=f"{title}\n{text}".strip() if title and title not in text else text,
        tags=_tags(entry),
        image_urls=images,
        skip_reason="video_only" if has_video and not images else None,
    )


def _tags(entry: Selector) -> list[str]:
    tags = entry.xpath("category/text() | category/@term").getall()
    for keywords in entry.xpath(".//keywords/text()").getall():
        tags += [keyword.strip() for keyword in keywords.split(",")]
    return tags


def _author(entry: Selector) -> str:
    # Atom's <author> holds a <name>; RSS's holds the text itself (often an email address).
    named = entry.xpath("creator/text() | author/name/text() | credit[@role='author']/text()")
    named = named.get()
    return (named or entry.xpath("author/text()").get("")).strip()


def _media(entry: Selector, html: str) -> tuple[list[str], bool]:
    # The contents of one media:group are renditions of one picture: keep the widest.
    best: dict[Any, tuple[int, str]] = {}
    has_video = False
    for node in entry.xpath(".//content[@url] | enclosure[@url] | link[@rel='enclosure']"):
        kind = (node.attrib.get("medium") or node.attrib.get("type") or "image").lower()
        if kind.startswith("image"):
            parent = node.root.getparent()
            key = parent if parent is not None and parent.tag == "group" else node.root
            width = _int(node.attrib.get("width"))
            if key not in best or width > best[key][0]:
                best[key] = (width, node.attrib.get("url") or node.attrib["href"])
        elif kind.startswith("video"):
            has_video = True
    images = [url for _, url in best.values()]
    if not images and not has_video and html:
        images = [_largest_src(img) for img in Selector(text=html).xpath("//img[@src]")]
    return images, has_video


def _largest_src(img: Selector) -> str:
    """The widest candidate of an ``<img>``'s ``srcset`` (``w`` or ``x`` descriptors), else
    its ``src``."""
    best, url = 0.0, img.attrib["src"]
    for candidate in (img.attrib.get("srcset") or "").split(","):
        parts = candidate.split()
        if not parts:
            continue
        size = parts[1] if len(parts) > 1 else "1x"
        try:
            value = float(size[:-1]) * (1 if size.endswith("w") else 10_000)
        except ValueError:
            continue
        if value > best:
            best, url = value, parts[0]
    return url


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _date(value: str | None):
    if not value:
        return None
    value = value.strip()
    try:
        return to_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return to_utc(value)
