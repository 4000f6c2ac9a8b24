"""``artwatch run`` and ``artwatch crawl``: the service loop, its signals and one-off crawls.

``run_service`` opens the database (the embedded server when ``MONGODB_URI`` is unset),
starts the scheduler paused, makes its stored jobs match ``sources.yaml``, resumes it and
sleeps until SIGTERM or SIGINT. Then it pauses the scheduler (no new jobs), gives running
crawls ``ARTWATCH_SHUTDOWN_GRACE_SECONDS`` to finish (a second signal cuts that short), stops
the rest by process group, waits for every job thread to record its run, closes the store
and stops the embedded server: exit status 0 and no process left behind.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler

from artwatch import portfolio
from artwatch import scheduler as jobs
from artwatch.alerts import dispatch
from artwatch.context import open_store
from artwatch.crawls import Crawl, CrawlOutcome, CrawlRunner, parse_args
from artwatch.settings import (
    Settings,
    Sources,
    check_spider,
    load_settings,
    load_sources,
    spider_names,
)
from pipelines.errors import ArtWatchError
from pipelines.store.sync import Store, redact_uri

log = logging.getLogger("artwatch.service")


def configure_logging(settings: Settings) -> None:
    """One line per event on stderr; APScheduler's own per-job chatter only when it warns."""
    logging.basicConfig(
        level=settings.artwatch_log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def refresh_portfolio(store: Store, settings: Settings) -> None:
    """Re-fingerprint artworks made by an older engine version, so crawls can match them."""
    done, failures = portfolio.refresh(store, settings.artwatch_allow_private_hosts)
    if done:
        log.info("re-fingerprinted %d artwork(s) for the current engine version", done)
    for source, why in failures:
        log.warning("artwork %s could not be re-fingerprinted (it is not matched): %s", source, why)


def dispatch_pass(store: Store, settings: Settings, sources: Sources) -> Callable[[], Any]:
    """One alert dispatcher pass over this store, with these settings and policy."""
    return lambda: dispatch(store, settings, policy=sources.alerts)


class StopSignal:
    """SIGTERM/SIGINT handlers: the first asks for a clean stop, the second for a fast one."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.hurry = threading.Event()

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested.is_set():
            self.hurry.set()
        self.requested.set()


def run_service(settings: Settings, sources: Sources, stop: StopSignal) -> None:
    """Run the scheduler until ``stop`` is requested; see the module docstring."""
    enabled = [source for source in sources.sources if source.enabled]
    with open_store(settings) as store:  # marks runs a dead service left running: abandoned
        refresh_portfolio(store, settings)
        runner = CrawlRunner(store, settings)
        alerts = dispatch_pass(store, settings, sources)
        jobs.install(jobs.Runtime(store, runner, sources, alerts))
        scheduler = jobs.build_scheduler(store, workers=len(enabled) + 2)
        scheduler.start(paused=True)
        try:
            changes = jobs.sync_jobs(scheduler, sources)
            scheduler.resume()
            log.info(
                "artwatch run: database %s, %d source(s), jobs %s",
                redact_uri(store.uri), len(enabled),
                ", ".join(f"{job_id} ({change})" for job_id, change in changes.items()),
            )  # fmt: skip
            for job in scheduler.get_jobs():
                log.info("next run of %s: %s", job.id, job.next_run_time)
            stop.requested.wait()
            log.info("stopping: no new jobs; running crawls: %d", len(runner.running))
            scheduler.pause()
            runner.stop_all(settings.artwatch_shutdown_grace_seconds, stop.hurry)
        finally:
            scheduler.shutdown(wait=True)
            jobs.install(None)
    log.info("artwatch run: stopped")


def run_now(scheduler: BaseScheduler, job_ids: list[str], timeout: float) -> dict[str, str]:
    """Make ``job_ids`` due now, let the scheduler run each once, pause it again; returns job
    id -> "ok" or what went wrong (a job that did not run within ``timeout`` is missing)."""
    outcomes: dict[str, str] = {}
    all_done = threading.Event()

    def record(event: JobExecutionEvent) -> None:
        if event.job_id in job_ids:
            outcomes[event.job_id] = "ok" if event.exception is None else repr(event.exception)
            if len(outcomes) == len(job_ids):
                all_done.set()

    scheduler.add_listener(record, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    now = datetime.now(UTC)
    for job_id in job_ids:
        scheduler.modify_job(job_id, next_run_time=now)
    scheduler.resume()
    all_done.wait(timeout)
    scheduler.pause()
    scheduler.remove_listener(record)
    return dict(outcomes)


def run_command() -> None:
    """The service: scheduled crawls and alert dispatch until SIGTERM or Ctrl-C."""
    settings = load_settings()
    configure_logging(settings)
    stop = StopSignal()
    stop.install()
    run_service(settings, load_sources(), stop)


def run_one_crawl(settings: Settings, crawl: Crawl) -> CrawlOutcome:
    """One crawl exactly as a scheduled job runs it (the same ``CrawlRunner.run``)."""
    with open_store(settings) as store:
        return CrawlRunner(store, settings).run(crawl)


def crawl_command(
    # Listing the names loads the spider modules: cheap once scrapy is imported (it is here).
    spider: Annotated[str, typer.Argument(help=f"One of: {', '.join(spider_names())}.")],
    arg: Annotated[
        list[str] | None,
        typer.Option("-a", "--arg", help="A spider argument key=value (repeatable)."),
    ] = None,
    source: Annotated[str, typer.Option(help="Source name recorded in the run.")] = "manual",
    timeout_minutes: Annotated[float, typer.Option(min=0.01, help="Kill it after this.")] = 30,
) -> None:
    """Run one crawl now, exactly as the scheduler runs it; exit 1 if it did not finish."""
    try:
        check_spider(spider)
    except ValueError as error:
        raise ArtWatchError(str(error)) from None
    settings = load_settings()
    configure_logging(settings)
    # SIGTERM unwinds like Ctrl-C: the crawl is ended and recorded, the embedded server stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    crawl = Crawl(source, spider, parse_args(arg or []), timeout_minutes * 60)
    outcome = run_one_crawl(settings, crawl)
    print(f"run {outcome.run_id}: {outcome.status} (exit code {outcome.exit_code})")
    print(f"log: {outcome.log_path}")
    if not outcome.ok:
        raise typer.Exit(1)
