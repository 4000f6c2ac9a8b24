"""The APScheduler 3 jobs of ``artwatch run``: one per enabled source, alert dispatch, digest.

Jobs live in APScheduler's ``MongoDBJobStore``, collection ``scheduler_jobs`` of the ArtWatch
database (``artwatch status`` reads next run times from it). ``sync_jobs`` keeps a stored job
whose trigger is unchanged, so its next run time survives a restart. Stored jobs carry only a
function reference and a source name; the live objects they need are installed with
``install(runtime)`` before the scheduler starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.mongodb import MongoDBJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import utc_timestamp_to_datetime

from artwatch.crawls import Crawl, CrawlRunner
from artwatch.output import print_table
from artwatch.settings import Schedule, Source, Sources
from pipelines.store.sync import Store

log = logging.getLogger("artwatch.scheduler")

JOBS_COLLECTION = "scheduler_jobs"
JOBSTORE = "default"
CRAWL_JOB_PREFIX = "source:"
DISPATCH_JOB_ID = "alerts:dispatch"
DIGEST_JOB_ID = "alerts:digest"
# A job whose time passed while ArtWatch was down (or busy) still runs if it is this late at
# most; older misses are skipped and coalesce=True folds several into one run.
MISFIRE_GRACE_SECONDS = 15 * 60


@dataclass
class Runtime:
    """The live objects stored jobs use; the service installs one before starting."""

    store: Store
    runner: CrawlRunner
    sources: Sources
    dispatch: Callable[[], Any]


_runtime: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


def _current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("artwatch.scheduler.install() was not called before the scheduler ran")
    return _runtime


def crawl_source(source_name: str) -> None:
    """Job: one crawl of the named source (skipped with a warning if it left the config)."""
    runtime = _current()
    source = next((s for s in runtime.sources.sources if s.name == source_name), None)
    if source is None or not source.enabled:
        log.warning("source %s is no longer configured; its job is skipped", source_name)
        return
    runtime.runner.run(crawl_for(source))


def dispatch_alerts() -> None:
    """Job: one pass of the alert dispatcher."""
    _current().dispatch()


def send_digests() -> None:
    """Job: a dispatcher pass on the digest hour. A pass releases the digests that are due
    (``artwatch.alerts``), so this one makes them leave on the hour whatever the interval."""
    _current().dispatch()


def crawl_for(source: Source) -> Crawl:
    return Crawl(source.name, source.spider, dict(source.args), source.timeout_minutes * 60)


def trigger_for(schedule: Schedule) -> BaseTrigger:
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron)
    return IntervalTrigger(seconds=schedule.interval_minutes * 60)


class Scheduler(BackgroundScheduler):
    """APScheduler's background scheduler whose ``shutdown()`` lets go of the job store first.

    ``shutdown()`` would close the store's MongoDB client (the job store shares it), and its
    last wake-up of the scheduler thread would read the job store and submit the jobs that
    fell due while paused to the closed executor. Removed (not shut down) beforehand with the
    public ``remove_jobstore``, the job store is neither read nor closed: those jobs stay due
    in MongoDB and run, coalesced, after a restart. No event serves instead: the shutdown
    event comes after the job stores were shut down.
    """

    def shutdown(self, wait: bool = True) -> None:
        if self.running:
            self.remove_jobstore(JOBSTORE, shutdown=False)
        super().shutdown(wait)


def build_scheduler(store: Store, workers: int) -> Scheduler:
    """A scheduler over the job store; ``workers`` threads run jobs (a crawl job only waits
    on its process, so one thread per source is cheap)."""
    # The job store is APScheduler's own interface and takes a pymongo client: it shares the
    # store's, the one place outside pipelines/store/ that holds the client.
    jobstore = MongoDBJobStore(
        database=store.db_name, collection=JOBS_COLLECTION, client=store.client
    )
    return Scheduler(
        jobstores={JOBSTORE: jobstore},
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )


def wanted_jobs(sources: Sources) -> dict[str, tuple[str, BaseTrigger, tuple]]:
    """Job id -> (function reference, trigger, args) for everything ``artwatch run`` does."""
    jobs: dict[str, tuple[str, BaseTrigger, tuple]] = {
        f"{CRAWL_JOB_PREFIX}{source.name}": (
            f"{__name__}:crawl_source",
            trigger_for(source.schedule),
            (source.name,),
        )
        for source in sources.sources
        if source.enabled
    }
    alerts = sources.alerts
    jobs[DISPATCH_JOB_ID] = (
        f"{__name__}:dispatch_alerts",
        IntervalTrigger(seconds=alerts.dispatch_interval_seconds),
        (),
    )
    jobs[DIGEST_JOB_ID] = (
        f"{__name__}:send_digests",
        CronTrigger(hour=alerts.digest_hour, minute=0),
        (),
    )
    return jobs


def sync_jobs(scheduler: BackgroundScheduler, sources: Sources) -> dict[str, str]:
    """Make the stored jobs match the config; returns job id -> kept|added|replaced|removed.

    Call on a started (paused) scheduler: only then are the stored jobs visible.
    """
    changes: dict[str, str] = {}
    wanted = wanted_jobs(sources)
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            scheduler.remove_job(job.id)
            changes[job.id] = "removed"
    for job_id, (func, trigger, args) in wanted.items():
        stored = scheduler.get_job(job_id)
        if stored is not None and str(stored.trigger) == str(trigger) and stored.args == args:
            changes[job_id] = "kept"
            continue
        scheduler.add_job(func, trigger, args=args, id=job_id, name=job_id, replace_existing=True)
        changes[job_id] = "replaced" if stored is not None else "added"
    return changes


def next_run_times(store: Store) -> dict[str, datetime | None]:
    """Job id -> next run time (UTC) as stored, without starting a scheduler."""
    return {
        document["_id"]: utc_timestamp_to_datetime(document.get("next_run_time"))
        for document in store.scheduled_jobs(JOBS_COLLECTION)
    }


def sources_status(store: Store, sources: Sources) -> list[dict[str, Any]]:
    """Each configured source with its schedule, last run and stored next run time."""
    upcoming = next_run_times(store)
    rows = []
    for source in sources.sources:
        schedule = source.schedule
        last = last_run(store, source.name)
        rows.append(
            {
                "source": source.name,
                "spider": source.spider,
                "enabled": source.enabled,
                "schedule": schedule.cron or f"every {schedule.interval_minutes:g} min",
                "next_run": upcoming.get(f"{CRAWL_JOB_PREFIX}{source.name}"),
                "last_run": last,
            }
        )
    return rows


def last_run(store: Store, source: str) -> dict[str, Any] | None:
    """The newest run of a source: status, finish reason, counts, errors, log."""
    run = store.last_run(source)
    if run is None:
        return None
    counts = dict(run.get("counts") or {})
    return {
        "id": str(run["_id"]),
        "status": run.get("status"),
        "finish_reason": run.get("finish_reason"),
        "exit_code": run.get("exit_code"),
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
        "counts": counts,
        "errors": counts.pop("errors", None),
        "log_path": run.get("log_path"),
    }


def print_sources(rows: list[dict[str, Any]]) -> None:
    """The Sources table of ``artwatch status``: one row per source, last and next run."""
    table = []
    for row in rows:
        last = row["last_run"] or {}
        reason = last.get("finish_reason")
        reason = f" ({reason})" if reason and reason != last.get("status") else ""
        table.append(
            {
                "source": f"{row['source']} ({row['spider']})",
                "schedule": row["schedule"] if row["enabled"] else "disabled",
                "last run": f"{last['status']}{reason}" if last else None,
                "finished": last.get("finished_at"),
                "counts": " ".join(f"{k}={v}" for k, v in last.get("counts", {}).items()),
                "errors": last.get("errors"),
                "next run": row["next_run"],
            }
        )
    columns = ["source", "schedule", "last run", "finished", "counts", "errors", "next run"]
    print_table("Sources", table, columns)
