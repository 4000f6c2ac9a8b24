"""The item every spider yields, whose fields are a public contract (DESIGN.md, Spiders), and
the ``CursorItem`` that closes a walk (defined with the stages that consume it)."""

import base64

import scrapy

from pipelines.stages.items import CursorItem

__all__ = ["CursorItem", "PostItem"]


def _base64(value: bytes | None) -> str | None:
    """Feed exports (``-O out.jsonl``) cannot hold bytes: the PNG goes out as base64 text."""
    return base64.b64encode(value).decode("ascii") if value else None


class PostItem(scrapy.Item):
    platform = scrapy.Field()  # spider name: mastodon, bluesky, ...
    post_id = scrapy.Field()  # the platform's own id, unique within the platform
    url = scrapy.Field()  # the post's public web page
    author_id = scrapy.Field()
    author_name = scrapy.Field()
    created_at = scrapy.Field()  # ISO 8601, UTC
    text = scrapy.Field()
    tags = scrapy.Field()  # lower case, no '#'
    image_urls = scrapy.Field()  # absolute, best resolution available; never empty
    ai_labeled = scrapy.Field()  # the platform or the author marked it as AI
    ai_evidence = scrapy.Field()  # list of short reasons, e.g. "tag:aiart", "platform:civitai"
    query = scrapy.Field()  # the tag (or feed, subreddit) that found it
    instance = scrapy.Field()  # the host crawled, e.g. mastodon.social
    extra = scrapy.Field()  # platform-specific evidence: prompt, model resources, ...
    # PNG of the post page, for spiders that render with a browser; base64 in feed exports.
    screenshot = scrapy.Field(serializer=_base64)
    cursor_key = scrapy.Field()  # "<platform>:<instance>:<query>": the walk that found it
