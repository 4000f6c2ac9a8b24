"""One suite for the store contract, run over both faces of the store (``Store`` with pymongo's
``MongoClient``, ``AsyncStore`` with its ``AsyncMongoClient``) against the real nx-27017 server.

The async face is driven through ``Blocking``, which runs each coroutine to its end on one
event loop, so every test body reads the same for both. ``raw`` is a plain pymongo database
on the same per-test database, to check what was stored."""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.errors import DuplicateKeyError

from artwatch.embedded import free_port
from pipelines.engine.index import Match
from pipelines.errors import ArtWatchError, StoreUnavailable
from pipelines.store.aio import AsyncStore
from pipelines.store.hits import hit_document
from pipelines.store.sync import Store
from pipelines.store.writes import utcnow

FACES = ("sync", "async")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Blocking:
    """An ``AsyncStore`` whose methods block: each coroutine runs on ``loop`` to its end, and a
    cursor it hands back is read into a list."""

    def __init__(self, store: AsyncStore):
        self.store = store
        self.loop = asyncio.new_event_loop()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if not callable(method):
            return method

        def blocking(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if inspect.isawaitable(result):
                result = self.loop.run_until_complete(result)
            if isinstance(result, AsyncCursor):
                result = self.loop.run_until_complete(result.to_list())
            return result

        return blocking

    def open(self) -> Blocking:
        self.loop.run_until_complete(self.store.open())
        return self

    def close(self) -> None:
        self.loop.run_until_complete(self.store.close())
        self.loop.close()


def make_store(face: str, uri: str, db_name: str, timeout: float = 10.0) -> Any:
    """An unopened store of that face; both answer the same calls."""
    if face == "sync":
        return Store(uri, db_name, timeout_ms=int(timeout * 1000))
    return Blocking(AsyncStore(uri, db_name, timeout))


@pytest.fixture(params=FACES)
def face(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def any_store(face: str, mongo_uri: str, db_name: str) -> Iterator[Any]:
    store = make_store(face, mongo_uri, db_name).open()
    yield store
    store.close()


@pytest.fixture
def raw(any_store: Any, mongo_uri: str, db_name: str) -> Iterator[Any]:
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True)
    yield client[db_name]
    client.close()


def _artist(store: Any, webhook: str | None = None) -> dict:
    artist_id = store.add_artist("Ana", "ana@example.org", webhook, "s3cret" if webhook else None)
    return store.artist(artist_id)


def _post(post_id: str = "1") -> dict:
    return {
        "_id": f"mastodon:{post_id}",
        "platform": "mastodon",
        "post_id": post_id,
        "url": f"https://example.social/@bot/{post_id}",
        "images": [{"url": f"https://cdn.example/{post_id}.jpg", "sha256": "a" * 64}],
    }


def _hit(artist: dict, post_id: str = "1", artwork_id: Any = None, **fields: Any) -> dict:
    artwork = {"_id": artwork_id or ObjectId(), "artist_id": str(artist["_id"])}
    match = Match("ignored", "near", 0.9, {"pdq": 12})
    image = {"_id": "a" * 64, "thumbnail": b"\xff\xd8"}
    return {
        **hit_document(str(artist["_id"]), artwork, match, _post(post_id), image, NOW),
        **fields,
    }


# uniqueness and idempotent writes ---------------------------------------------------------------


def test_open_creates_the_unique_indexes(any_store, raw):
    key = {"artwork_id": "w1", "image_id": "i1", "post_id": "mastodon:1"}
    raw.hits.insert_one(dict(key))
    with pytest.raises(DuplicateKeyError):
        raw.hits.insert_one(dict(key))
    raw.alerts.insert_one({"hit_id": "h", "channel": "email"})
    with pytest.raises(DuplicateKeyError):
        raw.alerts.insert_one({"hit_id": "h", "channel": "email"})


def test_record_hit_stores_once_and_enqueues_one_alert_per_channel(any_store, raw):
    artist = _artist(any_store, webhook="https://hooks.example/artwatch")
    hit = _hit(artist)
    first_id, created = any_store.record_hit(hit, artist)
    again_id, created_again = any_store.record_hit({**hit, "score": 0.1}, artist)
    assert (created, created_again) == (True, False) and first_id == again_id
    [stored] = raw.hits.find()
    assert stored["score"] == 0.9 and stored["found_at"] == NOW and stored["status"] == "new"
    alerts = list(raw.alerts.find({"hit_id": first_id}))
    assert sorted(a["channel"] for a in alerts) == ["email", "webhook"]
    assert all(a["next_attempt_at"].tzinfo is not None for a in alerts)


def test_alerts_are_repaired_when_a_crash_left_a_hit_without_them(any_store, raw):
    artist = _artist(any_store)
    hit = _hit(artist)
    hit_id, _ = any_store.record_hit(hit, artist)
    raw.alerts.delete_many({})  # as if the process died between the two writes
    assert any_store.record_hit(hit, artist) == (hit_id, False)
    assert raw.alerts.count_documents({"hit_id": hit_id}) == 1


def test_enqueue_twice_is_one_alert_per_channel_and_never_resets(any_store, raw):
    artist = _artist(any_store, webhook="https://hooks.example/x")
    hit = {"artwork_id": "a1", "kind": "near"}
    any_store.enqueue_alerts("h1", hit, artist)
    raw.alerts.update_one({"hit_id": "h1", "channel": "email"}, {"$set": {"status": "sent"}})
    any_store.enqueue_alerts("h1", hit, artist)  # the re-crawl after a crash
    alerts = {a["channel"]: a for a in raw.alerts.find({"hit_id": "h1"})}
    assert sorted(alerts) == ["email", "webhook"] and raw.alerts.count_documents({}) == 2
    assert alerts["email"]["status"] == "sent" and alerts["webhook"]["status"] == "pending"
    assert alerts["webhook"]["type"] == "hit" and alerts["webhook"]["attempts"] == 0


def test_a_dismissed_hit_suppresses_the_same_image_in_other_posts_for_that_artwork(any_store, raw):
    artist = _artist(any_store)
    artwork_id = ObjectId()
    hit_id, _ = any_store.record_hit(_hit(artist, "1", artwork_id), artist)
    assert any_store.set_hit_status(hit_id, str(artist["_id"]), "dismissed")
    assert any_store.record_hit(_hit(artist, "2", artwork_id), artist) == (None, False)
    other_artwork, created = any_store.record_hit(_hit(artist, "2"), artist)
    assert created and other_artwork is not None
    assert raw.hits.count_documents({}) == 2


def test_upsert_hit_alone_keeps_the_first_fields_and_enqueues_nothing(any_store, raw):
    artist = _artist(any_store)
    hit = _hit(artist)
    first = any_store.upsert_hit(hit)
    assert any_store.upsert_hit({**hit, "score": 0.2}) == (first[0], False) and first[1]
    assert raw.hits.find_one()["score"] == 0.9 and raw.alerts.count_documents({}) == 0


def _record_many(face: str, uri: str, db_name: str, barrier: Any) -> None:
    store = make_store(face, uri, db_name).open()
    artist = {"_id": ObjectId("0" * 24), "email": "ana@example.org"}
    barrier.wait()
    for n in range(40):
        store.record_hit(_hit(artist, "p", ObjectId(f"{n:024x}")), artist)
    store.close()


def test_two_processes_recording_the_same_hits_leave_one_document_each(face, raw, mongo_uri):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_record_many, args=(face, mongo_uri, raw.name, barrier))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert raw.hits.count_documents({}) == 40
    assert len(raw.hits.distinct("artwork_id")) == 40
    assert raw.alerts.count_documents({}) == 40


def test_artwork_is_unique_per_artist_and_sha256(any_store, raw):
    first, created = any_store.add_artwork("a1", "ab" * 32, {"filename": "x.png"})
    again, created_again = any_store.add_artwork("a1", "ab" * 32, {"filename": "copy.png"})
    other, created_other = any_store.add_artwork("a2", "ab" * 32, {"filename": "x.png"})
    assert (created, created_again, created_other) == (True, False, True)
    assert first == again != other
    assert raw.artworks.count_documents({}) == 2
    assert any_store.artwork(first)["filename"] == "x.png"
    assert any_store.has_artwork("a1", "ab" * 32) and not any_store.has_artwork("a3", "ab" * 32)


def test_post_upsert_updates_fields_but_keeps_first_seen(any_store, raw):
    post = {"platform": "mastodon", "post_id": "9", "text": "one", "images": [{"sha256": "c"}],
            "instance": "mastodon.social"}  # fmt: skip
    key = "mastodon:mastodon.social:9"
    post_id = any_store.upsert_post(post)
    first_seen = raw.posts.find_one({"_id": post_id})["first_seen_at"]
    assert any_store.upsert_post({**post, "text": "edited"}) == key
    stored = raw.posts.find_one({"_id": key})
    assert stored["text"] == "edited" and stored["first_seen_at"] == first_seen
    assert not any_store.is_processed(key)
    any_store.mark_processed(key)
    assert any_store.is_processed(key) and not any_store.is_processed("mastodon:x.example:9")
    assert [p["_id"] for p in any_store.posts_with_image("c")] == [key]


def test_processed_before_finds_a_post_stored_under_its_legacy_key(any_store, raw):
    """``platform:post_id`` keys of older releases: done on that instance, not on another."""
    legacy = {"_id": "mastodon:7", "platform": "mastodon", "post_id": "7", "instance": "a.example"}
    any_store.upsert_post(legacy)
    assert not any_store.processed_before("mastodon:7")  # stored, not finished
    any_store.mark_processed("mastodon:7")
    assert any_store.processed_before("mastodon:7")
    assert any_store.processed_before("mastodon:7", "a.example")
    assert not any_store.processed_before("mastodon:7", "b.example")
    assert not any_store.processed_before("mastodon:8")


def test_an_image_is_stored_once_and_read_back_with_its_fingerprint(any_store, raw):
    any_store.insert_image("d" * 64, {"fingerprint": {"version": 1}, "thumbnail": b"\x00\xff"})
    any_store.insert_image("d" * 64, {"fingerprint": {"version": 9}})
    found = any_store.images(["d" * 64, "e" * 64])
    assert list(found) == ["d" * 64] and found["d" * 64]["thumbnail"] == b"\x00\xff"
    assert found["d" * 64]["fingerprint"] == {"version": 1}
    any_store.refresh_fingerprint("d" * 64, {"version": 2})
    [image] = any_store.all_images()
    assert image["fingerprint"] == {"version": 2} and raw.images.count_documents({}) == 1


# reading what was stored ------------------------------------------------------------------------


def test_an_artist_sees_and_reviews_only_their_hits(any_store):
    ana = _artist(any_store)
    bo = any_store.artist(any_store.add_artist("Bo", "bo@example.org"))
    ana_hit, _ = any_store.record_hit(_hit(ana), ana)
    any_store.record_hit(_hit(bo), bo)
    assert [hit["artist_id"] for hit in any_store.hits(artist_id=str(ana["_id"]))] == [
        str(ana["_id"])
    ]
    assert "thumbnail" not in any_store.hits()[0]
    assert any_store.set_hit_status(ana_hit, str(bo["_id"]), "dismissed") is False
    assert any_store.hit(ana_hit, str(bo["_id"])) is None
    assert any_store.set_hit_status(ana_hit, str(ana["_id"]), "dismissed") is True
    [dismissed] = any_store.hits(artist_id=str(ana["_id"]), status="dismissed")
    assert str(dismissed["_id"]) == ana_hit == str(any_store.hit(ana_hit)["_id"])
    assert list(any_store.hits_by_id([ana_hit, "not-an-id"])) == [ana_hit]
    with pytest.raises(ArtWatchError, match="not one of"):
        any_store.set_hit_status(ana_hit, str(ana["_id"]), "deleted")
    with pytest.raises(ArtWatchError, match="not a valid id"):
        any_store.hit("not-an-id")


def test_artists_are_found_by_id_and_updated(any_store):
    ana = _artist(any_store)
    ana_id = str(ana["_id"])
    assert [a["name"] for a in any_store.artists()] == ["Ana"]
    assert list(any_store.artists_by_id([ana_id, "nope"])) == [ana_id]
    assert any_store.update_artist(ana_id, {"min_kind": "exact"})
    assert any_store.artist(ana_id)["min_kind"] == "exact"
    assert any_store.update_artist(str(ObjectId()), {"min_kind": None}) is False
    assert any_store.artist(str(ObjectId())) is None


def test_the_portfolio_as_the_crawl_and_the_cli_read_it(any_store):
    assert any_store.portfolio_marker() == (0, None)
    first, _ = any_store.add_artwork("a1", "1" * 64, {"fingerprint": {"v": 1}, "thumbnail": b"t"})
    second, _ = any_store.add_artwork("a2", "2" * 64, {"fingerprint": {"v": 1}, "filename": "s"})
    any_store.add_artworks([{"artist_id": "a2", "sha256": "3" * 64, "fingerprint": {}}])
    count, newest = any_store.portfolio_marker()
    ids = any_store.artwork_ids()
    [third] = ids - {first, second}
    assert count == 3 and newest in ids
    [only] = any_store.artwork_fingerprints([second])
    assert (only["filename"], only["artist_id"], "thumbnail" in only) == ("s", "a2", False)
    assert len(list(any_store.artwork_fingerprints())) == 3
    assert [str(a["_id"]) for a in any_store.artworks("a2")] == [second, third]
    assert "thumbnail" not in any_store.artworks()[0]
    assert any_store.artworks_by_id([first])[first]["thumbnail"] == b"t"
    assert any_store.count_artworks("a2") == 2
    any_store.update_artwork(first, {"fingerprint": {"v": 2}})
    assert any_store.artwork(first, "a1")["fingerprint"] == {"v": 2}
    assert any_store.artwork(first, "a2") is None


def test_alert_listing_and_counts(any_store):
    artist = _artist(any_store, webhook="https://hooks.example/x")
    hit_id, _ = any_store.record_hit(_hit(artist), artist)
    assert [a["channel"] for a in any_store.alerts()] == ["webhook", "email"]  # newest first
    assert len(any_store.alerts("pending", limit=1)) == 1 and any_store.alerts("sent") == []
    assert any_store.count_alerts("email", "pending") == 1
    assert any_store.alert_hit_ids(any_store.alerts()[0]) == [hit_id]
    assert any_store.count_by("alerts", "status") == {"pending": 2}
    assert any_store.collection_counts(["hits", "posts"]) == {"hits": 1, "posts": 0}


def test_flood_counts_distinct_posts_of_an_artwork_in_a_window(any_store):
    artist = _artist(any_store)
    artwork_id = ObjectId()
    for post_id, minutes in (("1", 0), ("2", 10), ("2", 10), ("3", 90)):
        found = NOW + timedelta(minutes=minutes)
        any_store.record_hit(_hit(artist, post_id, artwork_id, found_at=found), artist)
    window = (NOW, NOW + timedelta(hours=1))
    assert any_store.count_hit_posts(str(artwork_id), *window) == 2


def test_cursors_and_runs_round_trip(any_store):
    assert any_store.cursors("mastodon") == {}
    any_store.save_cursor("mastodon", "mastodon.social:aiart", "111")
    any_store.save_cursor("mastodon", "mastodon.social:aiart", "222")
    any_store.save_cursor("bluesky", "aiart", "x")
    assert any_store.cursors("mastodon") == {"mastodon.social:aiart": "222"}
    run_id = any_store.start_run("m", "mastodon", {"tags": "aiart"}, pid=7)
    any_store.update_run(run_id, {"runner": {"host": "here", "pid": 1}})
    assert [str(r["_id"]) for r in any_store.running_runs("here")] == [run_id]
    any_store.finish_run(run_id, {"status": "finished", "stats": {"item_scraped_count": 3}})
    [run] = any_store.last_runs()
    assert run["status"] == "finished" and run["finished_at"] >= run["started_at"]
    assert run["pid"] == 7 and run["args"] == {"tags": "aiart"}
    assert any_store.run(run_id)["source"] == any_store.last_run("m")["source"] == "m"
    assert "stats" not in any_store.runs_by_source()[0] and any_store.last_run("x") is None
    assert any_store.running_runs("here") == []
    any_store.clear(["runs", "cursors"])
    assert any_store.last_runs() == [] and any_store.cursors("mastodon") == {}


# opening -----------------------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_store_whose_server_is_down_fails_fast_naming_the_setting(face):
    store = make_store(face, f"mongodb://127.0.0.1:{free_port()}/", "x", timeout=0.5)
    with pytest.raises(StoreUnavailable, match="MONGODB_URI"):
        store.open()
    store.close()


@pytest.mark.timeout(20)
def test_store_messages_never_show_the_password(face):
    store = make_store(face, f"mongodb://ana:s3cret@127.0.0.1:{free_port()}/", "x", timeout=0.3)
    with pytest.raises(StoreUnavailable) as raised:
        store.open()
    store.close()
    assert "s3cret" not in str(raised.value) and "ana:***@" in str(raised.value)


def test_embedded_server_keeps_bson_types_through_set(store):
    """artwatch.nxserver's workarounds: $set keeps datetimes and bytes; $addToSet works."""
    store.db.probe.insert_one({"_id": 1, "tags": ["a"]})
    now = utcnow()
    store.db.probe.update_one({"_id": 1}, {"$set": {"at": now, "blob": b"\x00\xff"}})
    store.db.probe.update_one({"_id": 1}, {"$addToSet": {"tags": {"$each": ["a", "b"]}}})
    document = store.db.probe.find_one({"_id": 1})
    assert document["at"] == now.replace(microsecond=now.microsecond // 1000 * 1000)
    assert document["blob"] == b"\x00\xff"
    assert document["tags"] == ["a", "b"]
    assert store.db.probe.count_documents({"at": {"$lte": utcnow()}}) == 1


# the web app's sign-in and review queue -------------------------------------------------------


def test_a_login_token_is_spent_once_and_expires(any_store):
    ana = _artist(any_store)
    ana_id = str(ana["_id"])
    assert any_store.set_login_token(ana_id, "t1", NOW + timedelta(hours=24))
    assert any_store.set_login_token(str(ObjectId()), "t0", NOW) is False
    assert any_store.consume_login_token("t1", NOW + timedelta(hours=25)) is None  # expired
    spent = any_store.consume_login_token("t1", NOW)
    assert str(spent["_id"]) == ana_id and "login_token_sha256" not in spent
    assert any_store.consume_login_token("t1", NOW) is None  # once
    version = spent["session_version"]
    any_store.end_sessions(ana_id)
    assert any_store.artist(ana_id)["session_version"] == version + 1
    any_store.set_operator_token("op", NOW + timedelta(hours=1))
    assert any_store.consume_operator_token("op", NOW)["session_version"] == 1
    assert any_store.consume_operator_token("op", NOW) is None
    assert any_store.operator()["session_version"] == 1


def test_the_review_queue_pages_filters_and_bulk_reviews_one_artists_hits(any_store):
    ana = _artist(any_store)
    bo = any_store.artist(any_store.add_artist("Bo", "bo@example.org"))
    ana_id = str(ana["_id"])
    ids = []
    for n in range(5):
        found = NOW + timedelta(days=n)
        platform = "weibo" if n == 4 else "mastodon"
        ids.append(any_store.upsert_hit(_hit(ana, str(n), found_at=found, platform=platform))[0])
    bo_hit = any_store.upsert_hit(_hit(bo, "9"))[0]
    page, total = any_store.hits_page(ana_id, {}, 0, 2)
    assert total == 5 and [str(h["_id"]) for h in page] == ids[::-1][:2]
    assert "thumbnail" not in page[0]
    page, _ = any_store.hits_page(ana_id, {}, 4, 2)
    assert [str(h["_id"]) for h in page] == [ids[0]]
    window = {"since": NOW + timedelta(days=1), "until": NOW + timedelta(days=3)}
    assert any_store.hits_page(ana_id, window)[1] == 2
    assert any_store.hits_page(ana_id, {"platform": "weibo", "kind": "near"})[1] == 1
    assert any_store.hit_platforms(ana_id) == ["mastodon", "weibo"]
    assert any_store.set_hits_status([*ids[:2], bo_hit, "bad-id"], ana_id, "dismissed") == 2
    assert any_store.hits_page(ana_id, {"status": "dismissed"})[1] == 2
    assert any_store.hit(bo_hit)["status"] == "new"


def test_an_artwork_is_removed_only_by_its_artist(any_store):
    ana = _artist(any_store)
    artwork_id, _ = any_store.add_artwork(str(ana["_id"]), "b" * 64, {"filename": "a.png"})
    assert any_store.remove_artwork(artwork_id, "someone-else") is False
    assert any_store.remove_artwork(artwork_id, str(ana["_id"])) is True
    assert any_store.artwork(artwork_id) is None


def test_source_health_is_one_document_per_source_updated_in_place(any_store, raw):
    assert any_store.source_health("weibo-ai") is None
    any_store.save_source_health("weibo-ai", {"state": "healthy", "broken_runs": 1})
    any_store.save_source_health("weibo-ai", {"state": "unhealthy", "broken_runs": 3})
    any_store.save_source_health("civitai", {"state": "healthy", "broken_runs": 0})
    assert any_store.source_health("weibo-ai")["broken_runs"] == 3
    assert [r["_id"] for r in any_store.sources_health()] == ["civitai", "weibo-ai"]
    assert raw.health.count_documents({}) == 2
