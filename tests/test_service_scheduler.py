"""The scheduler's jobs on the real database: kept across restarts, reconciled with the
config, run by the real scheduler."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from artwatch import scheduler as jobs
from artwatch.settings import Sources
from pipelines.store.sync import Store


def sources(**overrides: dict) -> Sources:
    configured = {
        "mastodon-hourly": {"spider": "mastodon", "schedule": {"interval_minutes": 60}},
        "rss-cron": {"spider": "rss", "schedule": {"cron": "15 */2 * * *"}},
    }
    configured.update(overrides)
    listed = [{"name": name, **source} for name, source in configured.items() if source]
    return Sources.model_validate({"sources": listed})


def start(store: Store, config: Sources) -> tuple[jobs.Scheduler, dict[str, str]]:
    scheduler = jobs.build_scheduler(store, workers=2)
    scheduler.start(paused=True)
    return scheduler, jobs.sync_jobs(scheduler, config)


def test_next_run_times_survive_a_restart(store: Store) -> None:
    scheduler, changes = start(store, sources())
    assert set(changes.values()) == {"added"}
    before = jobs.next_run_times(store)
    scheduler.shutdown()
    assert set(before) == {
        "source:mastodon-hourly",
        "source:rss-cron",
        jobs.DISPATCH_JOB_ID,
        jobs.DIGEST_JOB_ID,
    }
    assert all(when is not None and when > datetime.now(UTC) for when in before.values())

    scheduler, changes = start(store, sources())
    try:
        assert set(changes.values()) == {"kept"}
        assert jobs.next_run_times(store) == before
        assert (
            scheduler.get_job("source:mastodon-hourly").next_run_time
            == before["source:mastodon-hourly"]
        )
    finally:
        scheduler.shutdown()


def test_sync_replaces_changed_schedules_and_removes_dropped_sources(store: Store) -> None:
    scheduler, _ = start(store, sources())
    before = jobs.next_run_times(store)
    scheduler.shutdown()

    disabled = {"spider": "rss", "schedule": {"cron": "15 */2 * * *"}, "enabled": False}
    changed = sources(
        **{"mastodon-hourly": {"spider": "mastodon", "schedule": {"interval_minutes": 5}}},
        **{"rss-cron": disabled},
    )
    scheduler, changes = start(store, changed)
    scheduler.shutdown()
    assert changes["source:mastodon-hourly"] == "replaced"
    assert changes["source:rss-cron"] == "removed"
    after = jobs.next_run_times(store)
    assert "source:rss-cron" not in after
    assert after["source:mastodon-hourly"] < before["source:mastodon-hourly"]


def test_a_due_job_runs_through_the_scheduler(store: Store) -> None:
    ran = threading.Event()
    jobs.install(jobs.Runtime(store, runner=None, sources=sources(), dispatch=ran.set))
    scheduler, _ = start(store, sources())
    try:
        scheduler.modify_job(jobs.DISPATCH_JOB_ID, next_run_time=datetime.now(UTC))
        scheduler.resume()
        assert ran.wait(30), "the dispatch job did not run"
    finally:
        scheduler.shutdown()
        jobs.install(None)
    # After running, the stored next run is a full interval ahead again.
    assert jobs.next_run_times(store)[jobs.DISPATCH_JOB_ID] > datetime.now(UTC)


def test_shutdown_runs_nothing_more_and_leaves_the_store_open(store: Store) -> None:
    ran = threading.Event()
    jobs.install(jobs.Runtime(store, runner=None, sources=sources(), dispatch=ran.set))
    scheduler, _ = start(store, sources())
    try:
        scheduler.modify_job(jobs.DISPATCH_JOB_ID, next_run_time=datetime.now(UTC))
    finally:
        scheduler.shutdown()  # waits for the executor: a submitted job would have run
        jobs.install(None)
    assert not ran.is_set()
    # Due while paused, it stays due in the store (through the store's client, still open).
    assert jobs.next_run_times(store)[jobs.DISPATCH_JOB_ID] <= datetime.now(UTC)
