"""Post keys are ``platform:host:post_id``: the same status id on two Mastodon instances is two
posts, and a post an older release stored as ``platform:post_id`` is not analysed (or alerted)
again. Real crawls of replay servers into the real nx-27017 server."""

from __future__ import annotations

from crawler.spiders.bluesky import BlueskySpider
from crawler.spiders.mastodon import MastodonSpider
from crawler.spiders.rss import RssSpider
from pipelines.stages.posts import key_host
from tests.crawlcase import (
    EDITS,
    TAG,
    CrawlReplayServer,
    MastodonCase,
    crawl_settings,
    jpeg,
    png,
    portfolio_image,
)
from tests.replay import run_spider


def crawl(server, store):
    settings = crawl_settings(store.uri, store.db.name)
    store.db.cursors.delete_many({})  # walk everything again
    return run_spider(
        MastodonSpider, settings=settings, timeout=120, tags=TAG, base_url=server.base
    )


def host(server) -> str:
    return server.base.removeprefix("http://")


def test_the_key_host_is_the_instance_only_where_ids_are_per_instance():
    assert key_host(MastodonSpider, "mastodon.example") == "mastodon.example"
    assert key_host(RssSpider, "blog.example") == "blog.example"
    # One platform, several API hosts (or a replay server): one canonical host.
    assert key_host(BlueskySpider, "public.api.bsky.app") == "bsky.social"
    assert key_host(BlueskySpider, "127.0.0.1:8080") == "bsky.social"


def test_same_status_id_on_two_instances_is_two_posts_and_legacy_keys_are_not_redone(
    store, tmp_path
):
    from artwatch.portfolio import enroll

    artist_id = store.add_artist("Ana", "ana@example.org")
    source = tmp_path / "work.png"
    source.write_bytes(png(portfolio_image(31)))
    [artwork_id] = enroll(store, artist_id, [str(source)]).added
    case = MastodonCase()
    status = case.add_status(
        [case.add_file("copy.jpg", jpeg(EDITS["resize"](portfolio_image(31))))]
    )
    folder = case.write(tmp_path / "case")

    with CrawlReplayServer(folder) as first, CrawlReplayServer(folder) as second:
        crawl(first, store)
        [post] = store.db.posts.find()
        assert post["_id"] == f"mastodon:{host(first)}:{status}"
        assert store.db.hits.count_documents({}) == 1

        # What an older release left: the same post and hit under "mastodon:<id>".
        legacy = f"mastodon:{status}"
        store.db.posts.delete_one({"_id": post["_id"]})
        store.db.posts.insert_one({**post, "_id": legacy})
        store.db.hits.update_many({}, {"$set": {"post_id": legacy}})

        again = crawl(first, store)
        assert again.stats["artwatch/posts/already_processed"] == 1
        assert store.db.hits.count_documents({}) == 1  # no duplicate hit, no second alert
        assert store.db.alerts.count_documents({}) == 1
        assert [p["_id"] for p in store.db.posts.find()] == [legacy]

        # The same status id on another instance is another post, with its own hit.
        other = crawl(second, store)
        assert other.stats.get("artwatch/posts/already_processed", 0) == 0
    keys = sorted(p["_id"] for p in store.db.posts.find())
    assert keys == sorted([legacy, f"mastodon:{host(second)}:{status}"])
    hits = sorted(h["post_id"] for h in store.db.hits.find({"artwork_id": artwork_id}))
    assert hits == keys
