"""The MongoDB store against a real nx-27017 server through pymongo."""

from __future__ import annotations

import multiprocessing
from datetime import UTC

import pytest
from pymongo.errors import DuplicateKeyError

from artwatch.embedded import free_port
from pipelines.errors import ArtWatchError, StoreUnavailable
from pipelines.store.sync import Store, utcnow


def test_duplicate_hit_is_refused_by_the_unique_index(store):
    key = {"artwork_id": "w1", "image_id": "i1", "post_id": "mastodon:1"}
    store.db.hits.insert_one(dict(key))
    with pytest.raises(DuplicateKeyError):
        store.db.hits.insert_one(dict(key))


def test_upsert_hit_is_idempotent_and_keeps_the_first_fields(store):
    first, created = store.upsert_hit("w1", "i1", "mastodon:1", {"artist_id": "a", "score": 1.0})
    again, created_again = store.upsert_hit("w1", "i1", "mastodon:1", {"score": 9.0})
    assert (created, created_again) == (True, False)
    assert first == again
    [hit] = store.hits()
    assert hit["score"] == 1.0 and hit["status"] == "new"
    assert hit["found_at"].tzinfo == UTC


def _upsert_many(uri: str, db_name: str, barrier) -> None:
    store = Store(uri, db_name)
    barrier.wait()
    for n in range(40):
        store.upsert_hit(f"w{n}", "i", "p", {"artist_id": "a"})
    store.close()


def test_two_processes_upserting_the_same_hits_leave_one_document_each(store, mongo_uri):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_upsert_many, args=(mongo_uri, store.db.name, barrier))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert store.db.hits.count_documents({}) == 40
    assert len(store.db.hits.distinct("artwork_id")) == 40


def test_artwork_is_unique_per_artist_and_sha256(store):
    first, created = store.add_artwork("a1", "ab" * 32, {"filename": "x.png"})
    again, created_again = store.add_artwork("a1", "ab" * 32, {"filename": "copy.png"})
    other, created_other = store.add_artwork("a2", "ab" * 32, {"filename": "x.png"})
    assert (created, created_again, created_other) == (True, False, True)
    assert first == again != other
    assert store.db.artworks.count_documents({}) == 2
    assert store.db.artworks.find_one({"artist_id": "a1"})["filename"] == "x.png"


def test_post_upsert_updates_fields_but_keeps_first_seen(store):
    post = {"platform": "mastodon", "post_id": "9", "text": "one"}
    post_id = store.upsert_post(post)
    first_seen = store.db.posts.find_one({"_id": post_id})["first_seen_at"]
    store.upsert_post({**post, "text": "edited"})
    stored = store.db.posts.find_one({"_id": "mastodon:9"})
    assert stored["text"] == "edited" and stored["first_seen_at"] == first_seen


def test_an_artist_sees_and_reviews_only_their_hits(store):
    ana = store.add_artist("Ana", "ana@example.org")
    bo = store.add_artist("Bo", "bo@example.org")
    ana_hit, _ = store.upsert_hit("w1", "i1", "p1", {"artist_id": ana})
    store.upsert_hit("w2", "i1", "p1", {"artist_id": bo})
    assert [hit["artist_id"] for hit in store.hits(artist_id=ana)] == [ana]
    assert store.set_hit_status(ana_hit, bo, "dismissed") is False
    assert store.set_hit_status(ana_hit, ana, "dismissed") is True
    assert store.hits(artist_id=ana, status="dismissed")[0]["_id"] == store.hits(ana)[0]["_id"]
    with pytest.raises(ArtWatchError, match="not one of"):
        store.set_hit_status(ana_hit, ana, "deleted")


def test_cursors_and_runs_round_trip(store):
    assert store.cursor("mastodon", "mastodon.social:aiart") is None
    store.save_cursor("mastodon", "mastodon.social:aiart", "111")
    store.save_cursor("mastodon", "mastodon.social:aiart", "222")
    assert store.cursor("mastodon", "mastodon.social:aiart") == "222"
    run_id = store.start_run("m", "mastodon", {"tags": "aiart"})
    store.finish_run(run_id, {"status": "finished", "stats": {"item_scraped_count": 3}})
    [run] = store.last_runs()
    assert run["status"] == "finished" and run["finished_at"] >= run["started_at"]


@pytest.mark.timeout(20)
def test_store_whose_server_is_down_fails_fast_naming_the_setting():
    store = Store(f"mongodb://127.0.0.1:{free_port()}/", timeout_ms=500)
    with pytest.raises(StoreUnavailable, match="MONGODB_URI"):
        store.open()


def test_store_messages_never_show_the_password():
    store = Store(f"mongodb://ana:s3cret@127.0.0.1:{free_port()}/", timeout_ms=300)
    with pytest.raises(StoreUnavailable) as raised:
        store.open()
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
